//! The JSON shapes 1up clients read (contract Part A §9): system search items and
//! `connect/system/clinical` items.

use serde::Serialize;
use serde_json::Value;

use crate::system::System;

/// A system in `/api/search`, `/api/systems/{zip}` and `/api/all-systems`.
#[derive(Serialize)]
pub struct SearchItem<'a> {
    id: Value,
    name: &'a str,
    address: String,
    #[serde(rename = "fhirVersion")]
    fhir_version: String,
    ehr: &'a str,
    #[serde(rename = "resourceUrl")]
    resource_url: &'a str,
    logo: &'a str,
}

/// A system in `connect/system/clinical`.
#[derive(Serialize)]
pub struct ClinicalItem<'a> {
    id: Value,
    name: &'a str,
    resource_url: &'a str,
    logo: &'a str,
    api_version: String,
    status: &'static str,
    ehr: &'a str,
    locations: Vec<LocationItem<'a>>,
}

#[derive(Serialize)]
struct LocationItem<'a> {
    name: &'a str,
    address: AddressItem<'a>,
}

#[derive(Serialize)]
struct AddressItem<'a> {
    line: &'a [String],
    city: &'a str,
    #[serde(rename = "postalCode")]
    postal_code: &'a str,
    state: &'a str,
}

/// A system's id as 1up clients expect it: a JSON number (their ids are integers) when the
/// Organization's id is one that a JSON number holds exactly, else the id as a string.
pub fn system_id(id: &str) -> Value {
    const MAX_SAFE: u64 = (1 << 53) - 1;
    match id.parse::<u64>() {
        Ok(n) if n <= MAX_SAFE && !(id.len() > 1 && id.starts_with('0')) => Value::from(n),
        _ => Value::from(id),
    }
}

impl<'a> SearchItem<'a> {
    /// The item of `system`, with `default_logo` when it has none.
    pub fn new(system: &'a System, default_logo: &'a str) -> Self {
        SearchItem {
            id: system_id(&system.id),
            name: &system.name,
            address: system
                .places
                .first()
                .map(|p| p.one_line())
                .unwrap_or_default(),
            fhir_version: system.api_version(),
            ehr: system.ehr.as_deref().unwrap_or(""),
            resource_url: &system.resource_url,
            logo: system.logo.as_deref().unwrap_or(default_logo),
        }
    }
}

impl<'a> ClinicalItem<'a> {
    /// The item of `system`, with `default_logo` when it has none.
    pub fn new(system: &'a System, default_logo: &'a str) -> Self {
        ClinicalItem {
            id: system_id(&system.id),
            name: &system.name,
            resource_url: &system.resource_url,
            logo: system.logo.as_deref().unwrap_or(default_logo),
            api_version: system.api_version(),
            status: system.connection_status(),
            ehr: system.ehr.as_deref().unwrap_or(""),
            locations: system
                .places
                .iter()
                .map(|p| LocationItem {
                    name: &p.name,
                    address: AddressItem {
                        line: &p.lines,
                        city: &p.city,
                        postal_code: &p.postal_code,
                        state: &p.state,
                    },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_are_numbers() {
        assert_eq!(system_id("4706"), Value::from(4706));
        assert_eq!(system_id("0"), Value::from(0));
        assert_eq!(system_id("0047"), Value::from("0047"));
        assert_eq!(system_id("acme"), Value::from("acme"));
        assert_eq!(
            system_id("9007199254740993"),
            Value::from("9007199254740993")
        );
    }
}
