//! The simple list of systems that `hale directory import` reads (a JSON array or CSV), and the
//! FHIR resources it becomes.
//!
//! A JSON list is an array of objects:
//!
//! ```json
//! [{"id": "1001", "name": "Mercy Hospital", "type": "HealthSystem",
//!   "fhir_base_url": "https://fhir.mercy.example/r4", "fhir_version": "R4", "ehr": "Epic",
//!   "authorize_url": "https://fhir.mercy.example/oauth2/authorize",
//!   "token_url": "https://fhir.mercy.example/oauth2/token", "oauth_client_id": "hale-at-mercy",
//!   "logo": "https://mercy.example/logo.png", "status": "active",
//!   "locations": [{"name": "Mercy North", "address_line": ["1 Main St"], "city": "Salem",
//!                  "state": "MA", "postal_code": "01970", "latitude": 42.52, "longitude": -70.9}]}]
//! ```
//!
//! Only `name` and `fhir_base_url` are required. A CSV list has a header row with the same
//! names, one location per row (`location_name`, `address_line1`, `address_line2`, `city`,
//! `state`, `postal_code`, `latitude`, `longitude`); rows with the same `id` (or, without ids,
//! the same `fhir_base_url`) are one system with several locations.
//!
//! Each system becomes an `Organization`, an `Endpoint` with the same id, and a `Location`
//! `{id}-{n}` per location, encoded as [`crate::system`] reads them. A system without an `id`
//! keeps the id of the directory's system with the same FHIR base URL, or gets the next free
//! number, so importing a list again updates the systems in place.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::DirectoryError;
use crate::system::{
    BRAND_EXTENSION, CONNECTION_TYPE_SYSTEM, EHR_EXTENSION, FHIR_VERSION_EXTENSION,
    OAUTH_CLIENT_ID_EXTENSION, OAUTH_URIS_EXTENSION, ORGANIZATION_TYPE_SYSTEM, SYSTEM_TYPE_SYSTEM,
    System, SystemType,
};

/// A system as a list gives it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedSystem {
    /// The Organization id to use (digits, for 1up clients).
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: Option<String>,
    /// The name.
    pub name: String,
    /// `HealthSystem` (the default), `Payer2Payer` or `PayerPatientAccess`.
    #[serde(default, rename = "type")]
    pub system_type: Option<String>,
    /// The FHIR base URL.
    pub fhir_base_url: String,
    /// `R4` (the default), `STU3`, `DSTU2`, or a version number such as `4.0.1`.
    #[serde(default)]
    pub fhir_version: Option<String>,
    /// The EHR vendor.
    #[serde(default)]
    pub ehr: Option<String>,
    /// The SMART authorize URL.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// The SMART token URL.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The client id Hale is registered under at the system's authorization server.
    #[serde(default)]
    pub oauth_client_id: Option<String>,
    /// The logo's URL.
    #[serde(default)]
    pub logo: Option<String>,
    /// The Endpoint status: `active` (the default), `suspended`, `error`, `off`, `test`.
    #[serde(default)]
    pub status: Option<String>,
    /// Its locations.
    #[serde(default)]
    pub locations: Vec<ListedLocation>,
}

/// A location as a list gives it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedLocation {
    /// The location's name (the system's when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Street lines: one string or an array.
    #[serde(default, deserialize_with = "lines")]
    pub address_line: Vec<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State.
    #[serde(default)]
    pub state: Option<String>,
    /// Postal code.
    #[serde(default, deserialize_with = "string_or_number")]
    pub postal_code: Option<String>,
    /// Latitude in degrees.
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    #[serde(default)]
    pub longitude: Option<f64>,
}

/// One row of a CSV list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvRow {
    id: Option<String>,
    name: String,
    #[serde(rename = "type")]
    system_type: Option<String>,
    fhir_base_url: String,
    fhir_version: Option<String>,
    ehr: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    oauth_client_id: Option<String>,
    logo: Option<String>,
    status: Option<String>,
    location_name: Option<String>,
    address_line1: Option<String>,
    address_line2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string or a number, not {other}"
            )));
        }
    })
}

fn lines<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lines {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Lines>::deserialize(d)? {
        Some(Lines::One(line)) => vec![line],
        Some(Lines::Many(lines)) => lines,
        None => Vec::new(),
    })
}

/// Reads a JSON list.
pub fn parse_json(text: &str) -> Result<Vec<ListedSystem>, DirectoryError> {
    serde_json::from_str(text)
        .map_err(|e| DirectoryError::List(format!("the JSON list cannot be read: {e}")))
}

/// Reads a CSV list with a header row.
pub fn parse_csv(text: &str) -> Result<Vec<ListedSystem>, DirectoryError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut systems: Vec<ListedSystem> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (n, row) in reader.deserialize::<CsvRow>().enumerate() {
        let row = row.map_err(|e| DirectoryError::List(format!("CSV row {}: {e}", n + 2)))?;
        let key = row.id.clone().unwrap_or_else(|| row.fhir_base_url.clone());
        let has_location = [
            &row.location_name,
            &row.address_line1,
            &row.city,
            &row.postal_code,
        ]
        .iter()
        .any(|f| f.is_some());
        let location = ListedLocation {
            name: row.location_name,
            address_line: [row.address_line1, row.address_line2]
                .into_iter()
                .flatten()
                .collect(),
            city: row.city,
            state: row.state,
            postal_code: row.postal_code,
            latitude: row.latitude,
            longitude: row.longitude,
        };
        let index = *by_key.entry(key).or_insert_with(|| {
            systems.push(ListedSystem {
                id: row.id,
                name: row.name,
                system_type: row.system_type,
                fhir_base_url: row.fhir_base_url,
                fhir_version: row.fhir_version,
                ehr: row.ehr,
                authorize_url: row.authorize_url,
                token_url: row.token_url,
                oauth_client_id: row.oauth_client_id,
                logo: row.logo,
                status: row.status,
                locations: Vec::new(),
            });
            systems.len() - 1
        });
        if has_location {
            systems[index].locations.push(location);
        }
    }
    Ok(systems)
}

/// What importing a list does to the directory.
#[derive(Debug, Default)]
pub struct ImportPlan {
    /// The resources to create or update, Organizations first.
    pub resources: Vec<Value>,
    /// Locations of updated systems that the list no longer names, to delete.
    pub stale_locations: Vec<String>,
    /// Systems the list creates.
    pub created: usize,
    /// Systems already in the directory that it updates.
    pub updated: usize,
}

/// Checks `listed` and turns it into FHIR resources, matching systems without an id to the
/// `existing` directory by FHIR base URL.
pub fn plan_import(
    listed: Vec<ListedSystem>,
    existing: &[System],
) -> Result<ImportPlan, DirectoryError> {
    let by_url: HashMap<&str, &System> = existing
        .iter()
        .map(|s| (s.resource_url.as_str(), s))
        .collect();
    let by_id: HashMap<&str, &System> = existing.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut next_id = existing
        .iter()
        .filter_map(|s| s.id.parse::<u64>().ok())
        .chain(listed.iter().filter_map(|s| s.id.as_deref()?.parse().ok()))
        .max()
        .map_or(1, |n| n + 1);
    let mut plan = ImportPlan::default();
    let mut seen_ids = HashSet::new();
    let mut seen_urls = BTreeMap::new();
    let mut organizations = Vec::new();
    let mut others = Vec::new();
    for (n, system) in listed.into_iter().enumerate() {
        let row = n + 1;
        let fail =
            |why: String| DirectoryError::List(format!("system {row} ({:?}): {why}", system.name));
        check(&system).map_err(fail)?;
        if let Some(first) = seen_urls.insert(system.fhir_base_url.clone(), row) {
            return Err(fail(format!(
                "its fhir_base_url is system {first}'s too; each system has its own"
            )));
        }
        let known = match &system.id {
            Some(id) => by_id.get(id.as_str()).copied(),
            None => by_url.get(system.fhir_base_url.as_str()).copied(),
        };
        let id = match (&system.id, known) {
            (Some(id), _) => id.clone(),
            (None, Some(known)) => known.id.clone(),
            (None, None) => {
                next_id += 1;
                (next_id - 1).to_string()
            }
        };
        if !is_fhir_id(&id) {
            return Err(fail(format!(
                "{id:?} is not a FHIR id (1-64 letters, digits, '-' and '.')"
            )));
        }
        if !seen_ids.insert(id.clone()) {
            return Err(fail(format!("the id {id} is another system's too")));
        }
        let (organization, endpoint, locations) = resources(&system, &id);
        let location_ids: HashSet<&str> = locations
            .iter()
            .filter_map(|l| l.get("id").and_then(Value::as_str))
            .collect();
        match known {
            Some(known) => {
                plan.updated += 1;
                plan.stale_locations.extend(
                    known
                        .places
                        .iter()
                        .filter_map(|p| p.location_id.as_deref())
                        .filter(|l| !location_ids.contains(l))
                        .map(str::to_owned),
                );
            }
            None => plan.created += 1,
        }
        organizations.push(organization);
        others.push(endpoint);
        others.extend(locations);
    }
    plan.resources = organizations;
    plan.resources.extend(others);
    Ok(plan)
}

fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// FHIR versions as lists write them, and the version number they stand for.
fn fhir_version_code(text: Option<&str>) -> Option<&'static str> {
    match text.map(|t| t.trim().to_ascii_uppercase()).as_deref() {
        None | Some("" | "R4" | "4.0.1" | "4.0") => Some("4.0.1"),
        Some("STU3" | "3.0.2" | "3.0.1" | "3.0") => Some("3.0.2"),
        Some("DSTU2" | "1.0.2" | "1.0") => Some("1.0.2"),
        Some("R4B" | "4.3.0") => Some("4.3.0"),
        Some("R5" | "5.0.0") => Some("5.0.0"),
        _ => None,
    }
}

const ENDPOINT_STATUSES: [&str; 6] = [
    "active",
    "suspended",
    "error",
    "off",
    "entered-in-error",
    "test",
];

fn check(system: &ListedSystem) -> Result<(), String> {
    if system.name.trim().is_empty() {
        return Err("name is empty".into());
    }
    for (field, url) in [
        ("fhir_base_url", Some(&system.fhir_base_url)),
        ("authorize_url", system.authorize_url.as_ref()),
        ("token_url", system.token_url.as_ref()),
        ("logo", system.logo.as_ref()),
    ] {
        if let Some(url) = url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(format!("{field} must be an http(s) URL, not {url:?}"));
        }
    }
    if let Some(t) = &system.system_type
        && SystemType::parse(t).is_none()
    {
        return Err(format!(
            "type must be HealthSystem, Payer2Payer or PayerPatientAccess, not {t:?}"
        ));
    }
    if fhir_version_code(system.fhir_version.as_deref()).is_none() {
        return Err(format!(
            "fhir_version must be R4, STU3, DSTU2 (or 4.0.1, 3.0.2, 1.0.2), not {:?}",
            system.fhir_version.as_deref().unwrap_or_default()
        ));
    }
    if let Some(status) = &system.status
        && !ENDPOINT_STATUSES.contains(&status.as_str())
    {
        return Err(format!(
            "status must be one of {}, not {status:?}",
            ENDPOINT_STATUSES.join(", ")
        ));
    }
    for (n, location) in system.locations.iter().enumerate() {
        match (location.latitude, location.longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) => {}
            (None, None) => {}
            _ => {
                return Err(format!(
                    "location {}: latitude (-90 to 90) and longitude (-180 to 180) go together",
                    n + 1
                ));
            }
        }
    }
    Ok(())
}

fn some_text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The Organization, Endpoint and Locations of `system` under `id`.
fn resources(system: &ListedSystem, id: &str) -> (Value, Value, Vec<Value>) {
    let system_type = system
        .system_type
        .as_deref()
        .and_then(SystemType::parse)
        .unwrap_or(SystemType::HealthSystem);
    let base_type = match system_type {
        SystemType::HealthSystem => "prov",
        SystemType::Payer2Payer | SystemType::PayerPatientAccess => "pay",
    };
    let mut organization = json!({
        "resourceType": "Organization",
        "id": id,
        "active": true,
        "type": [{"coding": [
            {"system": SYSTEM_TYPE_SYSTEM, "code": system_type.as_str()},
            {"system": ORGANIZATION_TYPE_SYSTEM, "code": base_type},
        ]}],
        "name": system.name.trim(),
        "endpoint": [{"reference": format!("Endpoint/{id}")}],
    });
    if let Some(logo) = some_text(&system.logo) {
        organization["extension"] = json!([{"url": BRAND_EXTENSION,
            "extension": [{"url": "brandLogo", "valueUrl": logo}]}]);
    }
    let version = fhir_version_code(system.fhir_version.as_deref()).unwrap_or("4.0.1");
    let mut extensions = vec![json!({"url": FHIR_VERSION_EXTENSION, "valueCode": version})];
    if let Some(ehr) = some_text(&system.ehr) {
        extensions.push(json!({"url": EHR_EXTENSION, "valueString": ehr}));
    }
    let oauth: Vec<Value> = [
        ("authorize", &system.authorize_url),
        ("token", &system.token_url),
    ]
    .into_iter()
    .filter_map(|(name, url)| Some(json!({"url": name, "valueUri": some_text(url)?})))
    .collect();
    if !oauth.is_empty() {
        extensions.push(json!({"url": OAUTH_URIS_EXTENSION, "extension": oauth}));
    }
    if let Some(client) = some_text(&system.oauth_client_id) {
        extensions.push(json!({"url": OAUTH_CLIENT_ID_EXTENSION, "valueString": client}));
    }
    let endpoint = json!({
        "resourceType": "Endpoint",
        "id": id,
        "extension": extensions,
        "status": some_text(&system.status).unwrap_or("active"),
        "connectionType": {"system": CONNECTION_TYPE_SYSTEM, "code": "hl7-fhir-rest"},
        "name": system.name.trim(),
        "managingOrganization": {"reference": format!("Organization/{id}")},
        "payloadType": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type",
            "code": "any"}]}],
        "payloadMimeType": ["application/fhir+json"],
        "address": system.fhir_base_url.trim(),
    });
    let locations = system
        .locations
        .iter()
        .enumerate()
        .map(|(n, location)| {
            let mut address = serde_json::Map::new();
            let lines: Vec<&str> = location
                .address_line
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            if !lines.is_empty() {
                address.insert("line".into(), json!(lines));
            }
            for (key, value) in [
                ("city", &location.city),
                ("state", &location.state),
                ("postalCode", &location.postal_code),
            ] {
                if let Some(value) = some_text(value) {
                    address.insert(key.into(), json!(value));
                }
            }
            let mut resource = json!({
                "resourceType": "Location",
                "id": format!("{id}-{}", n + 1),
                "status": "active",
                "name": some_text(&location.name).unwrap_or(system.name.trim()),
                "managingOrganization": {"reference": format!("Organization/{id}")},
            });
            if !address.is_empty() {
                resource["address"] = Value::Object(address);
            }
            if let (Some(latitude), Some(longitude)) = (location.latitude, location.longitude) {
                resource["position"] = json!({"longitude": longitude, "latitude": latitude});
            }
            resource
        })
        .collect();
    (organization, endpoint, locations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::DirectoryResources;

    fn read_back(plan: &ImportPlan) -> Vec<System> {
        let mut resources = DirectoryResources::default();
        for r in &plan.resources {
            resources.add(r.to_string().as_bytes());
        }
        resources.systems()
    }

    #[test]
    fn a_json_list_becomes_systems_that_read_back_the_same() {
        let listed = parse_json(
            r#"[{"id": 1001, "name": "Mercy Hospital", "type": "Payer2Payer",
                 "fhir_base_url": "https://mercy.example/r4", "fhir_version": "STU3", "ehr": "Epic",
                 "authorize_url": "https://mercy.example/authorize", "token_url": "https://mercy.example/token",
                 "oauth_client_id": "hale", "logo": "https://mercy.example/logo.png",
                 "locations": [{"name": "North", "address_line": "1 Main St", "city": "Salem",
                                "state": "MA", "postal_code": "01970", "latitude": 42.5, "longitude": -70.9},
                               {"address_line": ["2 Elm St", "Suite 3"], "city": "Lynn"}]}]"#,
        )
        .unwrap();
        let plan = plan_import(listed, &[]).unwrap();
        assert_eq!((plan.created, plan.updated), (1, 0));
        assert_eq!(plan.resources.len(), 4);
        let systems = read_back(&plan);
        let s = &systems[0];
        assert_eq!(s.id, "1001");
        assert_eq!(s.types, SystemType::Payer2Payer.bit());
        assert_eq!(s.api_version(), "FHIR STU3 3.0.2");
        assert_eq!(s.ehr.as_deref(), Some("Epic"));
        assert_eq!(
            s.authorize_url.as_deref(),
            Some("https://mercy.example/authorize")
        );
        assert_eq!(s.token_url.as_deref(), Some("https://mercy.example/token"));
        assert_eq!(s.oauth_client_id.as_deref(), Some("hale"));
        assert_eq!(s.logo.as_deref(), Some("https://mercy.example/logo.png"));
        assert_eq!(s.places.len(), 2);
        assert_eq!(s.places[0].position, Some((42.5, -70.9)));
        assert_eq!(s.places[1].name, "Mercy Hospital");
        assert_eq!(s.places[1].one_line(), "2 Elm St, Suite 3, Lynn");
    }

    #[test]
    fn csv_rows_of_one_system_are_its_locations() {
        let csv = "name,fhir_base_url,location_name,address_line1,city,state,postal_code\n\
                   Cape Cod Hospital,https://cch.example/fhir,Main,27 Park St,Hyannis,MA,02601\n\
                   Cape Cod Hospital,https://cch.example/fhir,Annex,1 Side St,Hyannis,MA,02601\n\
                   Acme,https://acme.example/fhir,,,,,\n";
        let listed = parse_csv(csv).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].locations.len(), 2);
        assert!(listed[1].locations.is_empty());
        let err = parse_csv("name,fhir_base_url,colour\nA,https://a,red\n").unwrap_err();
        assert!(err.to_string().contains("CSV row 2"), "{err}");
    }

    #[test]
    fn a_second_import_keeps_ids_by_url_and_drops_locations_it_no_longer_names() {
        let first = parse_json(
            r#"[{"name": "A", "fhir_base_url": "https://a/fhir", "locations": [{"city": "X"}, {"city": "Y"}]},
                {"name": "B", "fhir_base_url": "https://b/fhir"}]"#,
        )
        .unwrap();
        let existing = read_back(&plan_import(first, &[]).unwrap());
        let ids: Vec<&str> = existing.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
        let second = parse_json(
            r#"[{"name": "A renamed", "fhir_base_url": "https://a/fhir", "locations": [{"city": "X"}]},
                {"name": "C", "fhir_base_url": "https://c/fhir"}]"#,
        )
        .unwrap();
        let plan = plan_import(second, &existing).unwrap();
        assert_eq!((plan.created, plan.updated), (1, 1));
        assert_eq!(plan.stale_locations, ["1-2"]);
        let ids: Vec<&str> = plan
            .resources
            .iter()
            .filter(|r| r["resourceType"] == "Organization")
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["1", "3"]);
    }

    #[test]
    fn bad_rows_are_refused_with_their_number() {
        let cases = [
            (
                r#"[{"name": "", "fhir_base_url": "https://a"}]"#,
                "name is empty",
            ),
            (
                r#"[{"name": "A", "fhir_base_url": "ftp://a"}]"#,
                "http(s) URL",
            ),
            (
                r#"[{"name": "A", "fhir_base_url": "https://a", "type": "Clinic"}]"#,
                "type must be",
            ),
            (
                r#"[{"name": "A", "fhir_base_url": "https://a", "fhir_version": "R9"}]"#,
                "fhir_version",
            ),
            (
                r#"[{"name": "A", "fhir_base_url": "https://a", "status": "on"}]"#,
                "status must be",
            ),
            (
                r#"[{"name": "A", "fhir_base_url": "https://a", "id": "a b"}]"#,
                "not a FHIR id",
            ),
            (
                r#"[{"name": "A", "fhir_base_url": "https://a", "locations": [{"latitude": 1}]}]"#,
                "go together",
            ),
            (
                r#"[{"name": "A", "fhir_base_url": "https://a"}, {"name": "B", "fhir_base_url": "https://a"}]"#,
                "system 1's too",
            ),
            (
                r#"[{"name": "A", "fhir_base_url": "https://a", "id": "7"}, {"name": "B", "fhir_base_url": "https://b", "id": "7"}]"#,
                "another system's",
            ),
        ];
        for (json, expected) in cases {
            let err = plan_import(parse_json(json).unwrap(), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
        assert!(parse_json(r#"[{"name": "A", "url": "https://a"}]"#).is_err());
    }
}
