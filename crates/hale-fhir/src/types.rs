//! Types for untrusted input that are checked once, where they enter Hale.

use std::fmt;

/// A failure to parse one of the small FHIR types.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeError {
    /// The path segment is not a FHIR version that Hale serves.
    #[error("unknown FHIR version {0:?}")]
    UnknownVersion(String),
    /// The name is not a concrete resource type of the FHIR version.
    #[error("unknown resource type {0:?}")]
    UnknownResourceType(String),
    /// The id does not match `[A-Za-z0-9\-\.]{1,64}`.
    #[error("invalid resource id {0:?}: ids are 1 to 64 characters of A-Z, a-z, 0-9, '-' and '.'")]
    InvalidId(String),
    /// The version id is not a positive integer.
    #[error("invalid version id {0:?}")]
    InvalidVersionId(String),
}

/// The FHIR version of a request and of every stored resource key.
///
/// R4 is the only version served so far; the version is nonetheless part of every key from the
/// start, so that STU3 and DSTU2 arrive without a change of schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FhirVersion {
    /// FHIR R4 (4.0.1), path segment `r4`.
    R4,
}

impl FhirVersion {
    /// Every version Hale serves.
    pub const ALL: &'static [FhirVersion] = &[FhirVersion::R4];

    /// Parses a path segment such as `r4`.
    pub fn from_path_segment(segment: &str) -> Result<Self, TypeError> {
        match segment {
            "r4" => Ok(FhirVersion::R4),
            other => Err(TypeError::UnknownVersion(other.to_owned())),
        }
    }

    /// The lower-case path segment (`r4`), also the storage key.
    pub fn as_str(self) -> &'static str {
        match self {
            FhirVersion::R4 => "r4",
        }
    }

    /// The `fhirVersion` a CapabilityStatement states.
    pub fn release(self) -> &'static str {
        match self {
            FhirVersion::R4 => "4.0.1",
        }
    }
}

impl fmt::Display for FhirVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A concrete resource type of the R4 tables, such as `Patient`.
///
/// It borrows the name from the generated table, so it is `Copy` and compares as a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceType(&'static str);

impl ResourceType {
    /// Parses a name that must be a concrete resource type of `version`.
    pub fn parse(version: FhirVersion, name: &str) -> Result<Self, TypeError> {
        match version {
            FhirVersion::R4 => crate::generated::R4_RESOURCE_TYPES
                .binary_search(&name)
                .map(|idx| ResourceType(crate::generated::R4_RESOURCE_TYPES[idx]))
                .map_err(|_| TypeError::UnknownResourceType(name.to_owned())),
        }
    }

    /// The type name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A logical resource id, `[A-Za-z0-9\-\.]{1,64}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(String);

impl ResourceId {
    /// Checks an id from a URL or a body.
    pub fn parse(id: &str) -> Result<Self, TypeError> {
        if is_valid_id(id) {
            Ok(ResourceId(id.to_owned()))
        } else {
            Err(TypeError::InvalidId(id.to_owned()))
        }
    }

    /// A fresh server-assigned id: 32 lower-case hex digits from a random UUID, the format 1up uses
    /// for its own ids.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let mut s = String::with_capacity(32);
        for b in bytes {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
        }
        ResourceId(s)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `id` is a valid FHIR id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A resource version, `meta.versionId`: a positive integer counted per resource from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId(pub u64);

impl VersionId {
    /// Parses a version id from a URL or an `If-Match` ETag value.
    pub fn parse(s: &str) -> Result<Self, TypeError> {
        match s.parse::<u64>() {
            Ok(n) if n > 0 && !s.starts_with('+') => Ok(VersionId(n)),
            _ => Err(TypeError::InvalidVersionId(s.to_owned())),
        }
    }

    /// Parses an `ETag`/`If-Match` value: `W/"3"` or `"3"`.
    pub fn parse_etag(s: &str) -> Result<Self, TypeError> {
        let trimmed = s.trim();
        let inner = trimmed.strip_prefix("W/").unwrap_or(trimmed);
        let inner = inner
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(inner);
        Self::parse(inner)
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A point in time with microsecond precision, stored as microseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instant(pub i64);

impl Instant {
    /// The FHIR `instant` text with milliseconds and `Z`, as 1up writes `meta.lastUpdated`.
    pub fn to_fhir(self) -> String {
        let dt = self.to_offset_date_time();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }

    /// The `Last-Modified` header text (RFC 7231 IMF-fixdate).
    pub fn to_http_date(self) -> String {
        let dt = self.to_offset_date_time();
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            DAYS[dt.weekday().number_days_from_monday() as usize],
            dt.day(),
            MONTHS[u8::from(dt.month()) as usize - 1],
            dt.year(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )
    }

    /// Parses a FHIR `instant` or a `dateTime`/`date` used as a lower bound (`_since`), reading
    /// values without a zone as UTC.
    pub fn parse_lower_bound(s: &str) -> Option<Self> {
        use time::format_description::well_known::Rfc3339;
        if let Ok(dt) = time::OffsetDateTime::parse(s, &Rfc3339) {
            return Some(Self::from_offset_date_time(dt));
        }
        let padded = match s.len() {
            4 => format!("{s}-01-01T00:00:00Z"),
            7 => format!("{s}-01T00:00:00Z"),
            10 => format!("{s}T00:00:00Z"),
            19 => format!("{s}Z"),
            _ => return None,
        };
        time::OffsetDateTime::parse(&padded, &Rfc3339)
            .ok()
            .map(Self::from_offset_date_time)
    }

    fn from_offset_date_time(dt: time::OffsetDateTime) -> Self {
        Instant((dt.unix_timestamp_nanos() / 1000) as i64)
    }

    fn to_offset_date_time(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("abc-1.2"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert_eq!(ResourceId::from_random([0xab; 16]).as_str().len(), 32);
    }

    #[test]
    fn etags() {
        assert_eq!(VersionId::parse_etag("W/\"3\""), Ok(VersionId(3)));
        assert_eq!(VersionId::parse_etag("\"12\""), Ok(VersionId(12)));
        assert!(VersionId::parse_etag("W/\"x\"").is_err());
        assert!(VersionId::parse("0").is_err());
    }

    #[test]
    fn instants() {
        let t = Instant::parse_lower_bound("2020-03-06T15:32:41.982Z").unwrap();
        assert_eq!(t.to_fhir(), "2020-03-06T15:32:41.982Z");
        assert_eq!(t.to_http_date(), "Fri, 06 Mar 2020 15:32:41 GMT");
        assert_eq!(
            Instant::parse_lower_bound("2020").unwrap().to_fhir(),
            "2020-01-01T00:00:00.000Z"
        );
        assert!(Instant::parse_lower_bound("yesterday").is_none());
    }
}
