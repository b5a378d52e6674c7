//! OperationOutcome and Bundle writers.
//!
//! Stored resources are kept as the exact bytes Hale serves, so Bundles are written by splicing
//! those bytes into a JSON frame rather than by parsing and re-serialising each resource.

use serde_json::{Value, json};

/// `OperationOutcome.issue.severity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// `fatal`.
    Fatal,
    /// `error`.
    Error,
    /// `warning`.
    Warning,
    /// `information`.
    Information,
}

impl Severity {
    /// The code as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// `OperationOutcome.issue.code`, the subset of the [IssueType value set](https://hl7.org/fhir/R4/valueset-issue-type.html)
/// that Hale reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueType {
    /// `invalid`: content is invalid against the specification or a profile.
    Invalid,
    /// `structure`: a structural issue in the content.
    Structure,
    /// `required`: a required element is missing.
    Required,
    /// `value`: an element or header value is invalid.
    Value,
    /// `not-found`: the reference provided was not found.
    NotFound,
    /// `deleted`: the reference pointed at a deleted resource.
    Deleted,
    /// `conflict`: an edit conflict.
    Conflict,
    /// `duplicate`: an attempt to create a duplicate record.
    Duplicate,
    /// `multiple-matches`: a conditional operation matched more than one resource.
    MultipleMatches,
    /// `not-supported`: the interaction, operation or content type is not supported.
    NotSupported,
    /// `too-costly`: the request would take too many resources.
    TooCostly,
    /// `processing`: processing failed.
    Processing,
    /// `exception`: an unexpected internal error.
    Exception,
    /// `timeout`: an internal timeout occurred.
    Timeout,
    /// `throttled`: the system is too busy.
    Throttled,
    /// `informational`: an informational note.
    Informational,
    /// `security`: a security problem.
    Security,
    /// `forbidden`: the client may not do this to the resource.
    Forbidden,
    /// `login`: the client needs to authenticate.
    Login,
}

impl IssueType {
    /// The code as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::NotFound => "not-found",
            IssueType::Deleted => "deleted",
            IssueType::Conflict => "conflict",
            IssueType::Duplicate => "duplicate",
            IssueType::MultipleMatches => "multiple-matches",
            IssueType::NotSupported => "not-supported",
            IssueType::TooCostly => "too-costly",
            IssueType::Processing => "processing",
            IssueType::Exception => "exception",
            IssueType::Timeout => "timeout",
            IssueType::Throttled => "throttled",
            IssueType::Informational => "informational",
            IssueType::Security => "security",
            IssueType::Forbidden => "forbidden",
            IssueType::Login => "login",
        }
    }
}

/// One issue of an OperationOutcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// Severity.
    pub severity: Severity,
    /// Issue type code.
    pub code: IssueType,
    /// Human-readable text; Hale writes it to both `details.text` (which 1up clients read) and
    /// `diagnostics` (which FHIR tooling reads).
    pub text: String,
    /// FHIRPath locations the issue is about (`Patient.birthDate`).
    pub expression: Vec<String>,
}

impl Issue {
    /// An error issue.
    pub fn error(code: IssueType, text: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Error,
            code,
            text: text.into(),
            expression: Vec::new(),
        }
    }

    /// An information issue.
    pub fn information(code: IssueType, text: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Information,
            code,
            text: text.into(),
            expression: Vec::new(),
        }
    }

    /// Adds a location.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression.push(expression.into());
        self
    }
}

/// Builds an OperationOutcome resource.
///
/// `id` is given by the caller so that tests can fix it; 1up writes short random base36 ids.
pub fn operation_outcome(id: &str, issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|issue| {
            let mut v = json!({
                "severity": issue.severity.as_str(),
                "code": issue.code.as_str(),
                "details": {"text": issue.text},
                "diagnostics": issue.text,
            });
            if !issue.expression.is_empty() {
                v["expression"] = json!(issue.expression);
            }
            v
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "id": id, "issue": issues})
}

/// Writes a Bundle by splicing already-serialised resource bytes into the JSON frame.
///
/// The writer produces compact JSON. Callers add entries in order and finish with
/// [`BundleWriter::finish`]; nothing is parsed.
pub struct BundleWriter {
    buf: Vec<u8>,
    n_entries: usize,
}

/// One entry of a Bundle under construction.
pub struct EntryParts<'a> {
    /// `entry.fullUrl`, if any.
    pub full_url: Option<&'a str>,
    /// The serialised resource, if any.
    pub resource: Option<&'a [u8]>,
    /// `entry.search` as JSON, if any.
    pub search: Option<&'a Value>,
    /// `entry.request` as JSON, if any.
    pub request: Option<&'a Value>,
    /// `entry.response` as JSON, if any.
    pub response: Option<&'a Value>,
}

impl BundleWriter {
    /// Starts a Bundle of the given `type`, with an optional `total` and `link`s, written before the
    /// entries so a client streaming the body sees them first.
    pub fn new(
        id: &str,
        bundle_type: &str,
        timestamp: Option<&str>,
        total: Option<u64>,
        links: &[(&str, String)],
    ) -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(b"{\"resourceType\":\"Bundle\",\"id\":");
        write_json_str(&mut buf, id);
        if let Some(ts) = timestamp {
            buf.extend_from_slice(b",\"meta\":{\"lastUpdated\":");
            write_json_str(&mut buf, ts);
            buf.push(b'}');
        }
        buf.extend_from_slice(b",\"type\":");
        write_json_str(&mut buf, bundle_type);
        if let Some(ts) = timestamp {
            buf.extend_from_slice(b",\"timestamp\":");
            write_json_str(&mut buf, ts);
        }
        if let Some(total) = total {
            buf.extend_from_slice(format!(",\"total\":{total}").as_bytes());
        }
        if !links.is_empty() {
            buf.extend_from_slice(b",\"link\":[");
            for (idx, (relation, url)) in links.iter().enumerate() {
                if idx > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(b"{\"relation\":");
                write_json_str(&mut buf, relation);
                buf.extend_from_slice(b",\"url\":");
                write_json_str(&mut buf, url);
                buf.push(b'}');
            }
            buf.push(b']');
        }
        buf.extend_from_slice(b",\"entry\":[");
        BundleWriter { buf, n_entries: 0 }
    }

    /// Appends one entry.
    pub fn entry(&mut self, parts: EntryParts<'_>) {
        if self.n_entries > 0 {
            self.buf.push(b',');
        }
        self.n_entries += 1;
        self.buf.push(b'{');
        let mut first = true;
        let mut key = |buf: &mut Vec<u8>, name: &str| {
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.push(b'"');
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(b"\":");
        };
        if let Some(url) = parts.full_url {
            key(&mut self.buf, "fullUrl");
            write_json_str(&mut self.buf, url);
        }
        if let Some(resource) = parts.resource {
            key(&mut self.buf, "resource");
            self.buf.extend_from_slice(resource);
        }
        for (name, value) in [
            ("search", parts.search),
            ("request", parts.request),
            ("response", parts.response),
        ] {
            if let Some(value) = value {
                key(&mut self.buf, name);
                // Writing a Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut self.buf, value);
            }
        }
        self.buf.push(b'}');
    }

    /// The number of entries written so far.
    pub fn n_entries(&self) -> usize {
        self.n_entries
    }

    /// Closes the Bundle and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(b"]}");
        self.buf
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_splices_bytes() {
        let mut w = BundleWriter::new(
            "b1",
            "searchset",
            None,
            Some(1),
            &[("self", "http://x/r4/Patient".into())],
        );
        let search = json!({"mode": "match"});
        w.entry(EntryParts {
            full_url: Some("http://x/r4/Patient/1"),
            resource: Some(br#"{"resourceType":"Patient","id":"1"}"#),
            search: Some(&search),
            request: None,
            response: None,
        });
        let v: Value = serde_json::from_slice(&w.finish()).unwrap();
        assert_eq!(v["total"], 1);
        assert_eq!(v["entry"][0]["resource"]["id"], "1");
        assert_eq!(v["entry"][0]["search"]["mode"], "match");
        assert_eq!(v["link"][0]["relation"], "self");
    }

    #[test]
    fn empty_bundle_has_entry_array() {
        let w = BundleWriter::new("b2", "searchset", None, Some(0), &[]);
        let v: Value = serde_json::from_slice(&w.finish()).unwrap();
        assert_eq!(v["entry"], json!([]));
    }

    #[test]
    fn outcome_shape() {
        let oo = operation_outcome(
            "x1",
            &[Issue::error(IssueType::Invalid, "bad").at("Patient.name")],
        );
        assert_eq!(oo["issue"][0]["details"]["text"], "bad");
        assert_eq!(oo["issue"][0]["expression"][0], "Patient.name");
    }
}
