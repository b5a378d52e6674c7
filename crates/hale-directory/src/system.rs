//! What a health system (or payer) is, read from the FHIR resources that describe it.
//!
//! The directory is FHIR: a system is an operator-owned `Organization` that names, in
//! `Organization.endpoint`, an `Endpoint` whose `connectionType` is `hl7-fhir-rest` (its FHIR base
//! URL). Its places are the `Location`s whose `managingOrganization` is the Organization, or, when
//! there are none, the Organization's own `address`es. The encoding follows SMART's User-access
//! Brands where it has a word for a thing, and Hale's own extensions ([`EHR_EXTENSION`],
//! [`OAUTH_CLIENT_ID_EXTENSION`], [`SYSTEM_TYPE_SYSTEM`]) where it has none:
//!
//! | system field | FHIR |
//! |---|---|
//! | name | `Organization.name` |
//! | type | `Organization.type` coded in [`SYSTEM_TYPE_SYSTEM`]; else `pay`/`ins` of the organization-type code system is a payer with patient access, anything else a health system |
//! | logo | `Organization.extension[organization-brand].extension[brandLogo].valueUrl` |
//! | FHIR base URL | `Endpoint.address` |
//! | FHIR version | `Endpoint.extension[endpoint-fhir-version].valueCode`, or the `fhirVersion` parameter of `Endpoint.payloadMimeType` |
//! | EHR vendor | `Endpoint.extension[`[`EHR_EXTENSION`]`].valueString` |
//! | authorize and token URLs | `Endpoint.extension[oauth-uris]` (`authorize`, `token`), as a CapabilityStatement carries them |
//! | status | `Endpoint.status` |

use std::collections::HashMap;

use serde_json::Value;

/// The code system of 1up's system types on `Organization.type`.
pub const SYSTEM_TYPE_SYSTEM: &str = "https://hale.dev/fhir/CodeSystem/system-type";
/// The extension on `Endpoint` that names the EHR vendor behind it (`valueString`).
pub const EHR_EXTENSION: &str = "https://hale.dev/fhir/StructureDefinition/endpoint-ehr";
/// The extension on `Endpoint` with the client id Hale is registered under at that system's
/// authorization server (`valueString`), sent in the authorize redirect.
pub const OAUTH_CLIENT_ID_EXTENSION: &str =
    "https://hale.dev/fhir/StructureDefinition/endpoint-oauth-client-id";
/// SMART's extension with the OAuth URLs (`authorize`, `token` sub-extensions).
pub const OAUTH_URIS_EXTENSION: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";
/// The FHIR version an Endpoint serves (`valueCode`, such as `4.0.1`).
pub const FHIR_VERSION_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/endpoint-fhir-version";
/// The brand of an Organization; its `brandLogo` sub-extension is the logo.
pub const BRAND_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/organization-brand";
/// The code system of `Endpoint.connectionType`.
pub const CONNECTION_TYPE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/endpoint-connection-type";
/// The code system of `Organization.type` in base FHIR.
pub const ORGANIZATION_TYPE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/organization-type";

/// The kinds of system 1up's search filters by (`system_type`, `systemType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SystemType {
    /// A provider: a hospital, clinic or health system.
    HealthSystem,
    /// A payer's endpoint for payer-to-payer exchange.
    Payer2Payer,
    /// A payer's Patient Access API.
    PayerPatientAccess,
}

impl SystemType {
    /// Every type.
    pub const ALL: [SystemType; 3] = [
        SystemType::HealthSystem,
        SystemType::Payer2Payer,
        SystemType::PayerPatientAccess,
    ];

    /// The name 1up uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemType::HealthSystem => "HealthSystem",
            SystemType::Payer2Payer => "Payer2Payer",
            SystemType::PayerPatientAccess => "PayerPatientAccess",
        }
    }

    /// The type named `s`, ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        SystemType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// This type's bit in [`System::types`].
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A place of a system.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Place {
    /// The Location's id, or none for an address of the Organization itself.
    pub location_id: Option<String>,
    /// Its name (the Location's, or the system's for an Organization address).
    pub name: String,
    /// Street lines.
    pub lines: Vec<String>,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
    /// Postal code as written.
    pub postal_code: String,
    /// Latitude and longitude in degrees (`Location.position`).
    pub position: Option<(f64, f64)>,
}

impl Place {
    /// The address as one line: `"55 Fruit St, Boston, MA 02114"`.
    pub fn one_line(&self) -> String {
        let mut parts: Vec<&str> = self
            .lines
            .iter()
            .map(String::as_str)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if !self.city.is_empty() {
            parts.push(&self.city);
        }
        let state_zip = [self.state.as_str(), self.postal_code.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let mut text = parts.join(", ");
        if !state_zip.is_empty() {
            if !text.is_empty() {
                text.push_str(", ");
            }
            text.push_str(&state_zip);
        }
        text
    }

    /// The first five digits of the postal code, if it has them.
    pub fn zip5(&self) -> Option<&str> {
        let zip = self.postal_code.trim();
        (zip.len() >= 5 && zip.as_bytes()[..5].iter().all(u8::is_ascii_digit)).then(|| &zip[..5])
    }
}

/// A health system or payer that apps can connect a patient to.
#[derive(Clone, Debug, PartialEq)]
pub struct System {
    /// The Organization's id.
    pub id: String,
    /// The Endpoint's id.
    pub endpoint_id: String,
    /// `Organization.name`.
    pub name: String,
    /// The [`SystemType`] bits it has.
    pub types: u8,
    /// The FHIR base URL (`Endpoint.address`).
    pub resource_url: String,
    /// The FHIR version it serves, as written (`4.0.1`, `R4`, `3.0.2`…).
    pub fhir_version: Option<String>,
    /// The EHR vendor.
    pub ehr: Option<String>,
    /// The logo's URL.
    pub logo: Option<String>,
    /// `Endpoint.status`.
    pub status: String,
    /// The SMART authorize URL.
    pub authorize_url: Option<String>,
    /// The SMART token URL.
    pub token_url: Option<String>,
    /// The client id Hale is registered under at the system's authorization server.
    pub oauth_client_id: Option<String>,
    /// Its places.
    pub places: Vec<Place>,
}

impl System {
    /// Whether the system is of type `t`.
    pub fn is(&self, t: SystemType) -> bool {
        self.types & t.bit() != 0
    }

    /// The FHIR version as 1up labels it: `FHIR R4 4.0.1`, `FHIR STU3 3.0.2`, `FHIR DSTU2
    /// 1.0.2`, or the text as written for anything else.
    pub fn api_version(&self) -> String {
        let Some(written) = self.fhir_version.as_deref() else {
            return String::new();
        };
        let release = match written.trim().to_ascii_lowercase().as_str() {
            v if v.starts_with("4.0") || v == "r4" => Some(("R4", "4.0.1")),
            v if v.starts_with("3.0") || v == "stu3" => Some(("STU3", "3.0.2")),
            v if v.starts_with("1.0") || v == "dstu2" => Some(("DSTU2", "1.0.2")),
            v if v.starts_with("4.3") || v == "r4b" => Some(("R4B", "4.3.0")),
            v if v.starts_with("5.0") || v == "r5" => Some(("R5", "5.0.0")),
            _ => None,
        };
        match release {
            Some((name, number)) => format!("FHIR {name} {number}"),
            None => written.to_owned(),
        }
    }

    /// 1up's connection status: `connection_working` for an active endpoint.
    pub fn connection_status(&self) -> &'static str {
        match self.status.as_str() {
            "active" => "connection_working",
            "suspended" | "off" | "entered-in-error" => "connection_disabled",
            "error" => "connection_error",
            _ => "connection_unknown",
        }
    }
}

/// Collects the directory's FHIR resources and assembles the systems they describe.
#[derive(Default)]
pub struct DirectoryResources {
    organizations: Vec<Value>,
    endpoints: HashMap<String, Value>,
    locations: Vec<Value>,
}

impl DirectoryResources {
    /// Adds one resource's JSON; other types and unreadable JSON are ignored, since the
    /// directory is built from what the store holds, which was checked when written.
    pub fn add(&mut self, json: &[u8]) {
        let Ok(value) = serde_json::from_slice::<Value>(json) else {
            return;
        };
        match value.get("resourceType").and_then(Value::as_str) {
            Some("Organization") => self.organizations.push(value),
            Some("Endpoint") => {
                if let Some(id) = value.get("id").and_then(Value::as_str) {
                    self.endpoints.insert(id.to_owned(), value);
                }
            }
            Some("Location") => self.locations.push(value),
            _ => {}
        }
    }

    /// The systems: every active Organization with a FHIR REST Endpoint, with its places.
    pub fn systems(self) -> Vec<System> {
        let mut places: HashMap<String, Vec<Place>> = HashMap::new();
        for location in &self.locations {
            if location.get("status").and_then(Value::as_str) == Some("inactive") {
                continue;
            }
            let Some(org) = location
                .pointer("/managingOrganization/reference")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("Organization/"))
            else {
                continue;
            };
            let mut place = address_place(location.get("address"));
            place.location_id = text(location, "id");
            place.name = text(location, "name").unwrap_or_default();
            place.position = location
                .get("position")
                .and_then(|p| Some((p.get("latitude")?.as_f64()?, p.get("longitude")?.as_f64()?)));
            places.entry(org.to_owned()).or_default().push(place);
        }
        let mut systems = Vec::new();
        for org in &self.organizations {
            if org.get("active").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let (Some(id), Some(name)) = (text(org, "id"), text(org, "name")) else {
                continue;
            };
            let Some(endpoint) = array(org, "endpoint")
                .filter_map(|r| r.get("reference").and_then(Value::as_str))
                .filter_map(|r| r.strip_prefix("Endpoint/"))
                .filter_map(|id| self.endpoints.get(id))
                .find(|e| is_fhir_rest(e))
            else {
                continue;
            };
            let mut org_places = places.remove(&id).unwrap_or_default();
            if org_places.is_empty() {
                org_places = array(org, "address")
                    .map(|a| Place {
                        name: name.clone(),
                        ..address_place(Some(a))
                    })
                    .collect();
            }
            let oauth = extension(endpoint, OAUTH_URIS_EXTENSION);
            systems.push(System {
                id,
                endpoint_id: text(endpoint, "id").unwrap_or_default(),
                types: system_types(org),
                resource_url: text(endpoint, "address").unwrap_or_default(),
                fhir_version: extension(endpoint, FHIR_VERSION_EXTENSION)
                    .and_then(|e| e.get("valueCode"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| mime_fhir_version(endpoint)),
                ehr: extension(endpoint, EHR_EXTENSION)
                    .and_then(|e| e.get("valueString"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                logo: extension(org, BRAND_EXTENSION)
                    .and_then(|brand| extension(brand, "brandLogo"))
                    .and_then(|e| e.get("valueUrl"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                status: text(endpoint, "status").unwrap_or_else(|| "active".into()),
                authorize_url: oauth
                    .and_then(|o| extension(o, "authorize"))
                    .and_then(url_value),
                token_url: oauth
                    .and_then(|o| extension(o, "token"))
                    .and_then(url_value),
                oauth_client_id: extension(endpoint, OAUTH_CLIENT_ID_EXTENSION)
                    .and_then(|e| e.get("valueString"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                places: org_places,
                name,
            });
        }
        systems
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn extension<'a>(value: &'a Value, url: &str) -> Option<&'a Value> {
    array(value, "extension").find(|e| e.get("url").and_then(Value::as_str) == Some(url))
}

fn url_value(extension: &Value) -> Option<String> {
    ["valueUri", "valueUrl"]
        .into_iter()
        .find_map(|k| extension.get(k).and_then(Value::as_str))
        .map(str::to_owned)
}

fn codings(value: &Value) -> impl Iterator<Item = (&str, &str)> {
    value
        .get("coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c.get("system").and_then(Value::as_str).unwrap_or(""),
                c.get("code").and_then(Value::as_str)?,
            ))
        })
}

fn is_fhir_rest(endpoint: &Value) -> bool {
    endpoint.get("connectionType").is_some_and(|t| {
        t.get("code").and_then(Value::as_str) == Some("hl7-fhir-rest")
            && t.get("system").and_then(Value::as_str) == Some(CONNECTION_TYPE_SYSTEM)
    }) && text(endpoint, "address").is_some()
}

fn mime_fhir_version(endpoint: &Value) -> Option<String> {
    array(endpoint, "payloadMimeType")
        .filter_map(Value::as_str)
        .flat_map(|m| m.split(';').skip(1))
        .find_map(|p| {
            let (name, value) = p.split_once('=')?;
            (name.trim() == "fhirVersion").then(|| value.trim().to_owned())
        })
}

fn system_types(org: &Value) -> u8 {
    let mut explicit = 0;
    let mut payer = false;
    for concept in array(org, "type") {
        for (system, code) in codings(concept) {
            if system == SYSTEM_TYPE_SYSTEM {
                explicit |= SystemType::parse(code).map_or(0, SystemType::bit);
            } else if system == ORGANIZATION_TYPE_SYSTEM && matches!(code, "pay" | "ins") {
                payer = true;
            }
        }
    }
    match (explicit, payer) {
        (0, true) => SystemType::PayerPatientAccess.bit(),
        (0, false) => SystemType::HealthSystem.bit(),
        (bits, _) => bits,
    }
}

fn address_place(address: Option<&Value>) -> Place {
    let Some(address) = address else {
        return Place::default();
    };
    Place {
        lines: array(address, "line")
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        city: text(address, "city").unwrap_or_default(),
        state: text(address, "state").unwrap_or_default(),
        postal_code: text(address, "postalCode").unwrap_or_default(),
        ..Place::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn add(resources: &mut DirectoryResources, value: Value) {
        resources.add(value.to_string().as_bytes());
    }

    #[test]
    fn an_organization_with_a_fhir_endpoint_is_a_system_with_its_locations() {
        let mut r = DirectoryResources::default();
        add(
            &mut r,
            json!({"resourceType": "Organization", "id": "7", "name": "Mercy Hospital",
                "type": [{"coding": [{"system": SYSTEM_TYPE_SYSTEM, "code": "PayerPatientAccess"},
                                     {"system": SYSTEM_TYPE_SYSTEM, "code": "Payer2Payer"}]}],
                "extension": [{"url": BRAND_EXTENSION, "extension": [{"url": "brandLogo", "valueUrl": "https://x/logo.png"}]}],
                "endpoint": [{"reference": "Endpoint/7"}]}),
        );
        add(
            &mut r,
            json!({"resourceType": "Endpoint", "id": "7", "status": "active",
                "connectionType": {"system": CONNECTION_TYPE_SYSTEM, "code": "hl7-fhir-rest"},
                "payloadMimeType": ["application/fhir+json; fhirVersion=3.0"],
                "extension": [{"url": EHR_EXTENSION, "valueString": "Epic"},
                    {"url": OAUTH_URIS_EXTENSION, "extension": [
                        {"url": "authorize", "valueUri": "https://x/authorize"},
                        {"url": "token", "valueUri": "https://x/token"}]}],
                "address": "https://x/fhir"}),
        );
        add(
            &mut r,
            json!({"resourceType": "Location", "id": "7-1", "name": "Mercy North",
                "managingOrganization": {"reference": "Organization/7"},
                "position": {"latitude": 42.5, "longitude": -71.0},
                "address": {"line": ["1 Main St"], "city": "Salem", "state": "MA", "postalCode": "01970"}}),
        );
        // Not systems: no endpoint, inactive.
        add(
            &mut r,
            json!({"resourceType": "Organization", "id": "8", "name": "No Endpoint"}),
        );
        add(
            &mut r,
            json!({"resourceType": "Organization", "id": "9", "name": "Closed", "active": false,
                "endpoint": [{"reference": "Endpoint/7"}]}),
        );
        let systems = r.systems();
        assert_eq!(systems.len(), 1);
        let s = &systems[0];
        assert_eq!((s.id.as_str(), s.name.as_str()), ("7", "Mercy Hospital"));
        assert!(s.is(SystemType::Payer2Payer) && s.is(SystemType::PayerPatientAccess));
        assert!(!s.is(SystemType::HealthSystem));
        assert_eq!(s.api_version(), "FHIR STU3 3.0.2");
        assert_eq!(s.ehr.as_deref(), Some("Epic"));
        assert_eq!(s.logo.as_deref(), Some("https://x/logo.png"));
        assert_eq!(s.authorize_url.as_deref(), Some("https://x/authorize"));
        assert_eq!(s.token_url.as_deref(), Some("https://x/token"));
        assert_eq!(s.connection_status(), "connection_working");
        assert_eq!(s.places.len(), 1);
        assert_eq!(s.places[0].one_line(), "1 Main St, Salem, MA 01970");
        assert_eq!(s.places[0].position, Some((42.5, -71.0)));
        assert_eq!(s.places[0].zip5(), Some("01970"));
    }

    #[test]
    fn without_locations_the_organization_addresses_are_its_places() {
        let mut r = DirectoryResources::default();
        add(
            &mut r,
            json!({"resourceType": "Organization", "id": "a", "name": "Acme Health",
                "type": [{"coding": [{"system": ORGANIZATION_TYPE_SYSTEM, "code": "pay"}]}],
                "address": [{"line": ["9 Elm"], "city": "Hartford", "state": "CT"}],
                "endpoint": [{"reference": "Endpoint/e"}]}),
        );
        add(
            &mut r,
            json!({"resourceType": "Endpoint", "id": "e", "status": "off",
                "connectionType": {"system": CONNECTION_TYPE_SYSTEM, "code": "hl7-fhir-rest"},
                "address": "https://acme/fhir"}),
        );
        let systems = r.systems();
        assert_eq!(systems[0].types, SystemType::PayerPatientAccess.bit());
        assert_eq!(systems[0].places[0].name, "Acme Health");
        assert_eq!(systems[0].places[0].one_line(), "9 Elm, Hartford, CT");
        assert_eq!(systems[0].connection_status(), "connection_disabled");
        assert_eq!(systems[0].api_version(), "");
    }
}
