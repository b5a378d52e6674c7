//! The content of the resources: required elements, formats, codes, timing
//! and volume.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::{by_type, config, instant, strings_named};

/// Patients of the test population, with their records.
fn population(count: u64) -> Vec<Vec<Value>> {
    let config = config();
    (0..count)
        .map(|index| hale_synth::patient_records(&config, index))
        .collect()
}

/// Asserts that each of `elements` is present and not empty.
#[track_caller]
fn require(resource: &Value, elements: &[&str]) {
    for element in elements {
        let value = resource.get(*element);
        let present = match value {
            None | Some(Value::Null) => false,
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::Object(map)) => !map.is_empty(),
            Some(Value::String(text)) => !text.is_empty(),
            Some(_) => true,
        };
        assert!(
            present,
            "{} lacks {element}: {resource}",
            resource["resourceType"]
        );
    }
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && (1..=12).contains(&text[5..7].parse::<u32>().unwrap())
        && (1..=31).contains(&text[8..10].parse::<u32>().unwrap())
}

fn is_date_time_with_zone(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 25
        && is_date(&text[..10])
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && (bytes[19] == b'+' || bytes[19] == b'-')
        && bytes[22] == b':'
        && [11, 12, 14, 15, 17, 18, 20, 21, 23, 24]
            .iter()
            .all(|&i| bytes[i].is_ascii_digit())
        && text[11..13].parse::<u32>().unwrap() < 24
        && text[14..16].parse::<u32>().unwrap() < 60
}

#[test]
fn patients_average_between_80_and_150_resources() {
    let counts: Vec<usize> = population(300).iter().map(Vec::len).collect();
    let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
    assert!((80.0..=150.0).contains(&mean), "mean {mean}");
    assert!(
        counts.iter().all(|&n| n >= 5),
        "every patient has a visit: {counts:?}"
    );
    assert!(
        counts.iter().any(|&n| n > 2 * mean as usize),
        "some patients have long records"
    );
}

#[test]
fn every_kind_of_resource_and_encounter_class_occurs() {
    let mut types = BTreeSet::new();
    let mut classes = BTreeSet::new();
    for records in population(200) {
        for resource in &records {
            types.insert(resource["resourceType"].as_str().unwrap().to_owned());
            if resource["resourceType"] == "Encounter" {
                classes.insert(resource["class"]["code"].as_str().unwrap().to_owned());
            }
        }
    }
    let expected = [
        "AllergyIntolerance",
        "Claim",
        "Condition",
        "Coverage",
        "DiagnosticReport",
        "Encounter",
        "Immunization",
        "MedicationRequest",
        "Observation",
        "Patient",
        "Procedure",
    ];
    assert_eq!(types, expected.iter().map(|t| t.to_string()).collect());
    assert_eq!(
        classes,
        ["AMB", "EMER", "IMP"]
            .iter()
            .map(|c| c.to_string())
            .collect()
    );
}

#[test]
fn required_elements_are_present() {
    for records in population(60) {
        for resource in &records {
            match resource["resourceType"].as_str().unwrap() {
                "Patient" => {
                    require(
                        resource,
                        &[
                            "identifier",
                            "name",
                            "telecom",
                            "gender",
                            "birthDate",
                            "address",
                            "maritalStatus",
                        ],
                    );
                    require(&resource["name"][0], &["family", "given"]);
                    require(
                        &resource["address"][0],
                        &["line", "city", "state", "postalCode"],
                    );
                    let systems: Vec<&str> = resource["identifier"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i["system"].as_str().unwrap())
                        .collect();
                    assert!(systems.contains(&"http://hl7.org/fhir/sid/us-ssn"));
                    assert!(
                        resource["identifier"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|i| i["type"]["coding"][0]["code"] == "MR")
                    );
                }
                "Encounter" => {
                    require(
                        resource,
                        &[
                            "status",
                            "class",
                            "type",
                            "subject",
                            "participant",
                            "period",
                            "location",
                            "serviceProvider",
                        ],
                    );
                    assert_eq!(
                        resource["class"]["system"],
                        "http://terminology.hl7.org/CodeSystem/v3-ActCode"
                    );
                    assert_eq!(
                        resource["type"][0]["coding"][0]["system"],
                        "http://snomed.info/sct"
                    );
                    assert!(
                        resource["participant"][0]["individual"]["reference"]
                            .as_str()
                            .unwrap()
                            .starts_with("Practitioner/")
                    );
                    assert!(
                        resource["serviceProvider"]["reference"]
                            .as_str()
                            .unwrap()
                            .starts_with("Organization/")
                    );
                }
                "Observation" => {
                    require(
                        resource,
                        &[
                            "status",
                            "category",
                            "code",
                            "subject",
                            "encounter",
                            "effectiveDateTime",
                            "issued",
                        ],
                    );
                    let has_value = resource.get("valueQuantity").is_some()
                        || resource.get("valueCodeableConcept").is_some();
                    let has_components = resource.get("component").is_some();
                    assert!(
                        has_value != has_components,
                        "a value or components: {resource}"
                    );
                    assert_eq!(resource["code"]["coding"][0]["system"], "http://loinc.org");
                }
                "Condition" => {
                    require(
                        resource,
                        &[
                            "clinicalStatus",
                            "verificationStatus",
                            "category",
                            "code",
                            "subject",
                            "onsetDateTime",
                        ],
                    );
                    let abated = resource.get("abatementDateTime").is_some();
                    let status = resource["clinicalStatus"]["coding"][0]["code"]
                        .as_str()
                        .unwrap();
                    assert_eq!(abated, status == "resolved", "con-4: {resource}");
                    assert_eq!(
                        resource["code"]["coding"][0]["system"],
                        "http://snomed.info/sct"
                    );
                }
                "Procedure" => {
                    require(
                        resource,
                        &["status", "code", "subject", "encounter", "performedPeriod"],
                    );
                    assert_eq!(
                        resource["code"]["coding"][0]["system"],
                        "http://snomed.info/sct"
                    );
                }
                "MedicationRequest" => {
                    require(
                        resource,
                        &[
                            "status",
                            "intent",
                            "medicationCodeableConcept",
                            "subject",
                            "authoredOn",
                            "requester",
                        ],
                    );
                    assert_eq!(
                        resource["medicationCodeableConcept"]["coding"][0]["system"],
                        "http://www.nlm.nih.gov/research/umls/rxnorm"
                    );
                }
                "Immunization" => {
                    require(
                        resource,
                        &["status", "vaccineCode", "patient", "occurrenceDateTime"],
                    );
                    assert_eq!(
                        resource["vaccineCode"]["coding"][0]["system"],
                        "http://hl7.org/fhir/sid/cvx"
                    );
                }
                "AllergyIntolerance" => {
                    require(
                        resource,
                        &[
                            "clinicalStatus",
                            "verificationStatus",
                            "code",
                            "patient",
                            "reaction",
                        ],
                    );
                    require(&resource["reaction"][0], &["manifestation"]);
                }
                "DiagnosticReport" => require(
                    resource,
                    &[
                        "status",
                        "category",
                        "code",
                        "subject",
                        "encounter",
                        "result",
                    ],
                ),
                "Claim" => {
                    require(
                        resource,
                        &[
                            "status",
                            "type",
                            "use",
                            "patient",
                            "billablePeriod",
                            "created",
                            "provider",
                            "priority",
                            "insurance",
                            "item",
                            "total",
                        ],
                    );
                    require(
                        &resource["insurance"][0],
                        &["sequence", "focal", "coverage"],
                    );
                    let items = resource["item"].as_array().unwrap();
                    let mut total = 0.0;
                    for (position, item) in items.iter().enumerate() {
                        assert_eq!(item["sequence"], position + 1);
                        require(item, &["productOrService", "net"]);
                        total += item["net"]["value"].as_f64().unwrap();
                    }
                    assert!((total - resource["total"]["value"].as_f64().unwrap()).abs() < 0.01);
                    let diagnoses = resource["diagnosis"].as_array().map_or(0, Vec::len);
                    for sequence in items[0]["diagnosisSequence"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        assert!((1..=diagnoses as u64).contains(&sequence.as_u64().unwrap()));
                    }
                }
                "Coverage" => require(resource, &["status", "beneficiary", "payor", "period"]),
                other => panic!("unexpected {other}"),
            }
        }
    }
}

#[test]
fn dates_are_well_formed_and_date_times_carry_a_zone() {
    let records = population(40);
    for resource in records.iter().flatten() {
        let mut dates = Vec::new();
        for name in ["birthDate", "servicedDate"] {
            strings_named(resource, name, &mut dates);
        }
        assert!(dates.iter().all(|d| is_date(d)), "{dates:?}");
        let mut date_times = Vec::new();
        for name in [
            "effectiveDateTime",
            "issued",
            "onsetDateTime",
            "abatementDateTime",
            "recordedDate",
            "authoredOn",
            "occurrenceDateTime",
            "created",
            "end",
        ] {
            strings_named(resource, name, &mut date_times);
        }
        if resource["resourceType"] != "Coverage" {
            strings_named(resource, "start", &mut date_times);
        }
        for text in date_times {
            assert!(
                is_date_time_with_zone(text),
                "{text} in {}",
                resource["resourceType"]
            );
            assert!(
                text < "2026-01-01T00:00:00",
                "{text} is after the reference date"
            );
        }
    }
}

#[test]
fn events_happen_during_their_encounter_and_after_birth() {
    for records in population(80) {
        let birth = format!(
            "{}T00:00:00+14:00",
            records[0]["birthDate"].as_str().unwrap()
        );
        let birth = instant(&birth);
        let mut periods: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for encounter in by_type(&records)["Encounter"].iter() {
            let start = instant(encounter["period"]["start"].as_str().unwrap());
            let end = instant(encounter["period"]["end"].as_str().unwrap());
            assert!(birth <= start && start < end, "{encounter}");
            periods.insert(
                format!("Encounter/{}", encounter["id"].as_str().unwrap()),
                (start, end),
            );
        }
        for resource in &records {
            let Some(encounter) = resource["encounter"]["reference"].as_str() else {
                continue;
            };
            let (start, end) = periods[encounter];
            let moments: Vec<&str> = match resource["resourceType"].as_str().unwrap() {
                "Observation" | "DiagnosticReport" => {
                    vec![resource["effectiveDateTime"].as_str().unwrap()]
                }
                "Procedure" => vec![
                    resource["performedPeriod"]["start"].as_str().unwrap(),
                    resource["performedPeriod"]["end"].as_str().unwrap(),
                ],
                "Immunization" => vec![resource["occurrenceDateTime"].as_str().unwrap()],
                "MedicationRequest" => vec![resource["authoredOn"].as_str().unwrap()],
                "Condition" | "AllergyIntolerance" => {
                    vec![resource["recordedDate"].as_str().unwrap()]
                }
                _ => vec![],
            };
            for moment in moments {
                let at = instant(moment);
                assert!(
                    (start..=end).contains(&at),
                    "{moment} outside {encounter}: {resource}"
                );
            }
            if let Some(onset) = resource["onsetDateTime"].as_str() {
                assert!(instant(onset) >= birth, "onset before birth: {resource}");
            }
        }
    }
}

#[test]
fn vital_signs_use_their_ucum_units() {
    let units: BTreeMap<&str, &str> = [
        ("8867-4", "/min"),
        ("9279-1", "/min"),
        ("29463-7", "kg"),
        ("8302-2", "cm"),
        ("39156-5", "kg/m2"),
        ("8310-5", "Cel"),
        ("9843-4", "cm"),
        ("59408-5", "%"),
    ]
    .into_iter()
    .collect();
    let mut seen = BTreeSet::new();
    for resource in population(60).iter().flatten() {
        if resource["resourceType"] != "Observation"
            || resource["category"][0]["coding"][0]["code"] != "vital-signs"
        {
            continue;
        }
        let code = resource["code"]["coding"][0]["code"].as_str().unwrap();
        seen.insert(code.to_owned());
        if code == "85354-9" {
            let components = resource["component"].as_array().unwrap();
            let codes: Vec<&str> = components
                .iter()
                .map(|c| c["code"]["coding"][0]["code"].as_str().unwrap())
                .collect();
            assert_eq!(codes, ["8480-6", "8462-4"]);
            let systolic = components[0]["valueQuantity"]["value"].as_f64().unwrap();
            let diastolic = components[1]["valueQuantity"]["value"].as_f64().unwrap();
            assert!(systolic > diastolic && diastolic > 20.0, "{resource}");
            assert!(
                components
                    .iter()
                    .all(|c| c["valueQuantity"]["code"] == "mm[Hg]")
            );
            continue;
        }
        let quantity = &resource["valueQuantity"];
        assert_eq!(quantity["system"], "http://unitsofmeasure.org");
        assert_eq!(quantity["code"], units[code], "{resource}");
        assert!(quantity["value"].as_f64().unwrap() > 0.0);
    }
    for code in [
        "8867-4", "9279-1", "29463-7", "8302-2", "39156-5", "8310-5", "85354-9",
    ] {
        assert!(seen.contains(code), "no {code}");
    }
}

#[test]
fn lab_reports_list_lab_results_of_their_encounter() {
    let mut lab_codes = BTreeSet::new();
    for records in population(120) {
        let observations: BTreeMap<String, &Value> = records
            .iter()
            .filter(|r| r["resourceType"] == "Observation")
            .map(|r| (format!("Observation/{}", r["id"].as_str().unwrap()), r))
            .collect();
        for report in records
            .iter()
            .filter(|r| r["resourceType"] == "DiagnosticReport")
        {
            for result in report["result"].as_array().unwrap() {
                let observation = observations[result["reference"].as_str().unwrap()];
                assert_eq!(
                    observation["category"][0]["coding"][0]["code"],
                    "laboratory"
                );
                assert_eq!(observation["encounter"], report["encounter"]);
                assert_eq!(
                    observation["effectiveDateTime"],
                    report["effectiveDateTime"]
                );
                assert!(observation["referenceRange"][0].is_object());
                lab_codes.insert(
                    observation["code"]["coding"][0]["code"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    for code in ["2339-0", "4548-4", "2160-0", "2093-3", "718-7"] {
        assert!(lab_codes.contains(code), "no {code} among {lab_codes:?}");
    }
}

#[test]
fn code_tables_are_varied() {
    let mut codes: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for resource in population(300).iter().flatten() {
        let (resource_type, code) = match resource["resourceType"].as_str().unwrap() {
            "Condition" => ("Condition", &resource["code"]),
            "Procedure" => ("Procedure", &resource["code"]),
            "MedicationRequest" => ("MedicationRequest", &resource["medicationCodeableConcept"]),
            "Immunization" => ("Immunization", &resource["vaccineCode"]),
            "AllergyIntolerance" => ("AllergyIntolerance", &resource["code"]),
            "Encounter" => ("Encounter", &resource["type"][0]),
            _ => continue,
        };
        codes
            .entry(resource_type)
            .or_default()
            .insert(code["coding"][0]["code"].as_str().unwrap().to_owned());
    }
    let minimum = [
        ("Condition", 30),
        ("Procedure", 20),
        ("MedicationRequest", 30),
        ("Immunization", 15),
        ("AllergyIntolerance", 10),
        ("Encounter", 8),
    ];
    for (resource_type, at_least) in minimum {
        let distinct = codes[resource_type].len();
        assert!(
            distinct >= at_least,
            "{resource_type} has {distinct} distinct codes"
        );
    }
}
