//! The Bundle forms: a transaction per patient, a batch for the shared set.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{config, references};

/// Returns `Type|system|value` for each identifier of each resource of a
/// Bundle.
fn identifiers(bundle: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for entry in bundle["entry"].as_array().unwrap() {
        let resource = &entry["resource"];
        for identifier in resource["identifier"].as_array().into_iter().flatten() {
            found.insert(format!(
                "{}|{}|{}",
                resource["resourceType"].as_str().unwrap(),
                identifier["system"].as_str().unwrap(),
                identifier["value"].as_str().unwrap()
            ));
        }
    }
    found
}

#[test]
fn the_shared_batch_posts_each_resource_if_none_exists() {
    let config = config();
    let bundle = hale_synth::shared_batch_bundle(&config);
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "batch");
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len(), hale_synth::shared_resources(&config).len());
    for entry in entries {
        let resource = &entry["resource"];
        assert!(
            resource.get("id").is_none(),
            "a POSTed resource carries no id"
        );
        assert!(entry["fullUrl"].as_str().unwrap().starts_with("urn:uuid:"));
        assert_eq!(entry["request"]["method"], "POST");
        assert_eq!(entry["request"]["url"], resource["resourceType"]);
        let identifier = &resource["identifier"][0];
        let condition = format!(
            "identifier={}|{}",
            identifier["system"].as_str().unwrap(),
            identifier["value"].as_str().unwrap()
        );
        assert_eq!(entry["request"]["ifNoneExist"], condition.as_str());
        // Entries of a batch are independent, so they point at each other by
        // identifier only.
        assert!(references(resource).is_empty(), "{resource}");
    }
}

#[test]
fn logical_references_of_the_shared_batch_resolve_within_it() {
    let bundle = hale_synth::shared_batch_bundle(&config());
    let known = identifiers(&bundle);
    let mut checked = 0;
    for entry in bundle["entry"].as_array().unwrap() {
        let resource = &entry["resource"];
        let targets: Vec<(&str, &Value)> = match resource["resourceType"].as_str().unwrap() {
            "Location" => vec![("Organization", &resource["managingOrganization"])],
            "PractitionerRole" => vec![
                ("Practitioner", &resource["practitioner"]),
                ("Organization", &resource["organization"]),
                ("Location", &resource["location"][0]),
            ],
            _ => vec![],
        };
        for (resource_type, target) in targets {
            let identifier = &target["identifier"];
            let key = format!(
                "{resource_type}|{}|{}",
                identifier["system"].as_str().unwrap(),
                identifier["value"].as_str().unwrap()
            );
            assert!(known.contains(&key), "{key} is not in the batch");
            checked += 1;
        }
    }
    assert!(checked > 50);
}

#[test]
fn patient_transactions_reference_entries_or_shared_identifiers() {
    let config = config();
    let shared = identifiers(&hale_synth::shared_batch_bundle(&config));
    for index in (0..config.patients).step_by(37) {
        let bundle = hale_synth::patient_transaction_bundle(&config, index);
        assert_eq!(bundle["type"], "transaction");
        let entries = bundle["entry"].as_array().unwrap();
        let flat = hale_synth::patient_records(&config, index);
        assert_eq!(entries.len(), flat.len());
        let mut full_urls = BTreeSet::new();
        for (entry, flat) in entries.iter().zip(&flat) {
            let resource = &entry["resource"];
            assert_eq!(resource["resourceType"], flat["resourceType"]);
            assert!(
                resource.get("id").is_none(),
                "a POSTed resource carries no id"
            );
            assert_eq!(entry["request"]["method"], "POST");
            assert_eq!(entry["request"]["url"], resource["resourceType"]);
            let full_url = entry["fullUrl"].as_str().unwrap();
            assert_eq!(
                full_url,
                format!("urn:uuid:{}", flat["id"].as_str().unwrap())
            );
            assert!(full_urls.insert(full_url.to_owned()));
        }
        let mut conditional = 0;
        for entry in entries {
            for (path, reference) in references(&entry["resource"]) {
                if reference.starts_with("urn:uuid:") {
                    assert!(
                        full_urls.contains(&reference),
                        "patient {index}: {path} = {reference} is not an entry"
                    );
                } else {
                    let (resource_type, query) = reference.split_once("?identifier=").unwrap_or_else(|| {
                        panic!("patient {index}: {path} = {reference} is neither urn:uuid nor conditional")
                    });
                    let key = format!("{resource_type}|{query}");
                    assert!(
                        shared.contains(&key),
                        "patient {index}: {reference} matches nothing in the shared batch"
                    );
                    conditional += 1;
                }
            }
        }
        assert!(conditional > 0);
    }
}

#[test]
fn the_bundle_form_keeps_the_element_order_of_the_flat_form() {
    let config = config();
    let bundle = hale_synth::patient_transaction_bundle(&config, 9);
    let flat = hale_synth::patient_records(&config, 9);
    for (entry, flat) in bundle["entry"].as_array().unwrap().iter().zip(&flat) {
        let bundled: Vec<&String> = entry["resource"].as_object().unwrap().keys().collect();
        let expected: Vec<&String> = flat
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "id")
            .collect();
        assert_eq!(bundled, expected);
    }
}
