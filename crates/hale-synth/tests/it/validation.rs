//! Every generated resource is valid R4, as `hale-fhir` checks it on write.

use crate::support::config;

fn assert_valid(resource: &serde_json::Value) {
    if let Err(issues) = hale_fhir::validate::validate_resource(resource) {
        let issues: Vec<String> = issues.iter().map(ToString::to_string).collect();
        panic!(
            "{} is invalid: {issues:#?}\n{resource}",
            resource["resourceType"]
        );
    }
}

#[test]
fn shared_resources_validate() {
    let config = config();
    hale_synth::shared_resources(&config)
        .iter()
        .for_each(assert_valid);
}

#[test]
fn patient_records_validate() {
    let config = config();
    for index in 0..60 {
        hale_synth::patient_records(&config, index)
            .iter()
            .for_each(assert_valid);
    }
}

#[test]
fn bundles_validate() {
    let config = config();
    assert_valid(&hale_synth::shared_batch_bundle(&config));
    for index in [0, 5, 123] {
        assert_valid(&hale_synth::patient_transaction_bundle(&config, index));
    }
}
