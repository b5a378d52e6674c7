//! `_summary` and `_elements` on vendored official R4 examples.

use std::path::Path;

use hale_fhir::summary::{Summary, select_elements, summarize};
use serde_json::{Map, Value, json};

fn example(name: &str) -> Map<String, Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(object) => object,
        _ => panic!("{name} is not an object"),
    }
}

fn keys(resource: &Map<String, Value>) -> Vec<&str> {
    resource.keys().map(String::as_str).collect()
}

fn subsetted() -> Value {
    json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"})
}

#[test]
fn summary_true_keeps_the_summary_elements_of_a_patient() {
    let mut patient = example("Patient-example.json");
    summarize(&mut patient, Summary::True);
    assert_eq!(
        keys(&patient),
        [
            "resourceType",
            "id",
            "identifier",
            "active",
            "name",
            "telecom",
            "gender",
            "birthDate",
            "_birthDate",
            "deceasedBoolean",
            "address",
            "managingOrganization",
            "meta"
        ]
    );
    assert_eq!(patient["meta"]["tag"], json!([subsetted()]));
}

/// `category` is not a summary element in R4, while the choice `value[x]` is, under its JSON name.
#[test]
fn summary_true_recognises_choice_elements() {
    let mut observation = example("Observation-example.json");
    summarize(&mut observation, Summary::True);
    assert_eq!(
        keys(&observation),
        [
            "resourceType",
            "id",
            "status",
            "code",
            "subject",
            "encounter",
            "effectiveDateTime",
            "valueQuantity",
            "meta"
        ]
    );
}

#[test]
fn summary_text_keeps_the_narrative_and_the_mandatory_elements() {
    let mut observation = example("Observation-example.json");
    summarize(&mut observation, Summary::Text);
    assert_eq!(
        keys(&observation),
        ["resourceType", "id", "text", "status", "code", "meta"]
    );
    assert_eq!(observation["meta"]["tag"], json!([subsetted()]));
}

#[test]
fn summary_data_removes_only_the_narrative() {
    let original = example("Observation-blood-pressure.json");
    let mut observation = original.clone();
    summarize(&mut observation, Summary::Data);
    assert!(!observation.contains_key("text"));
    assert_eq!(observation.len(), original.len() - 1);
    // The example has a meta with a profile already; the tag joins it.
    assert_eq!(observation["meta"]["tag"], json!([subsetted()]));
    assert_eq!(observation["meta"]["profile"], original["meta"]["profile"]);
}

#[test]
fn summary_false_and_count_change_nothing() {
    for mode in [Summary::False, Summary::Count] {
        let original = example("Observation-example.json");
        let mut observation = original.clone();
        summarize(&mut observation, mode);
        assert_eq!(observation, original);
    }
}

#[test]
fn elements_keep_the_listed_and_mandatory_ones() {
    let mut observation = example("Observation-blood-pressure.json");
    select_elements(
        &mut observation,
        &[
            "value".to_owned(),
            "subject".to_owned(),
            "component".to_owned(),
        ],
    );
    assert_eq!(
        keys(&observation),
        [
            "resourceType",
            "id",
            "meta",
            "status",
            "code",
            "subject",
            "component"
        ]
    );
    assert_eq!(observation["meta"]["tag"], json!([subsetted()]));

    let mut patient = example("Patient-example.json");
    select_elements(&mut patient, &["birthDate".to_owned()]);
    assert_eq!(
        keys(&patient),
        ["resourceType", "id", "birthDate", "_birthDate", "meta"]
    );

    let mut observation = example("Observation-example.json");
    select_elements(&mut observation, &["value".to_owned()]);
    assert_eq!(
        keys(&observation),
        [
            "resourceType",
            "id",
            "status",
            "code",
            "valueQuantity",
            "meta"
        ]
    );
}
