//! Every reference of the flat form resolves, and ids are unique and valid.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{config, references};

fn keys(resources: &[Value]) -> BTreeSet<String> {
    resources
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_flat_reference_resolves_within_the_patient_or_the_shared_set() {
    let config = config();
    let shared = hale_synth::shared_resources(&config);
    let shared_keys = keys(&shared);
    for resource in &shared {
        for (path, reference) in references(resource) {
            assert!(
                shared_keys.contains(&reference),
                "shared {path} = {reference} does not resolve"
            );
        }
    }
    for index in (0..config.patients).step_by(7) {
        let records = hale_synth::patient_records(&config, index);
        let own = keys(&records);
        for resource in &records {
            for (path, reference) in references(resource) {
                assert!(
                    own.contains(&reference) || shared_keys.contains(&reference),
                    "patient {index}: {}{path} = {reference} does not resolve",
                    resource["resourceType"]
                );
            }
        }
    }
}

#[test]
fn the_last_patient_only_references_the_shared_set_of_its_configuration() {
    // The pool of care sites grows with the population; the last patient must
    // not reach past it.
    for patients in [1, 250, 251, 1_000] {
        let config = hale_synth::SynthConfig::new(patients, 11);
        let shared_keys = keys(&hale_synth::shared_resources(&config));
        let records = hale_synth::patient_records(&config, patients - 1);
        let own = keys(&records);
        for resource in &records {
            for (_, reference) in references(resource) {
                assert!(
                    own.contains(&reference) || shared_keys.contains(&reference),
                    "{patients}: {reference}"
                );
            }
        }
    }
}

#[test]
fn ids_are_unique_valid_fhir_ids_across_fifty_patients() {
    let config = config();
    let mut resources = hale_synth::shared_resources(&config);
    for index in 0..50 {
        resources.extend(hale_synth::patient_records(&config, index));
    }
    let mut seen = BTreeSet::new();
    for resource in &resources {
        let id = resource["id"].as_str().expect("every resource has an id");
        assert!(
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{id} is not a lowercase FHIR id"
        );
        assert!(hale_fhir::validate::validate_id(id));
        assert!(seen.insert(id.to_owned()), "{id} is used twice");
    }
}

#[test]
fn every_patient_resource_points_at_its_patient() {
    let config = config();
    for index in [0, 42] {
        let records = hale_synth::patient_records(&config, index);
        let patient = format!("Patient/{}", records[0]["id"].as_str().unwrap());
        for resource in &records[1..] {
            let subject = ["subject", "patient", "beneficiary"]
                .iter()
                .find_map(|name| resource.get(*name))
                .unwrap_or_else(|| panic!("{} has no subject", resource["resourceType"]));
            assert_eq!(subject["reference"], patient.as_str());
        }
    }
}

#[test]
fn business_identifiers_are_unique() {
    let config = config();
    let mut seen = BTreeSet::new();
    for index in 0..200 {
        let patient = &hale_synth::patient_records(&config, index)[0];
        for identifier in patient["identifier"].as_array().unwrap() {
            let key = format!(
                "{}|{}",
                identifier["system"].as_str().unwrap(),
                identifier["value"].as_str().unwrap()
            );
            assert!(seen.insert(key.clone()), "{key} is given twice");
        }
    }
    let shared = hale_synth::shared_resources(&config);
    for resource in &shared {
        for identifier in resource["identifier"]
            .as_array()
            .expect("shared resources have identifiers")
        {
            let key = format!(
                "{}:{}|{}",
                resource["resourceType"],
                identifier["system"].as_str().unwrap(),
                identifier["value"].as_str().unwrap()
            );
            assert!(seen.insert(key.clone()), "{key} is given twice");
        }
    }
}
