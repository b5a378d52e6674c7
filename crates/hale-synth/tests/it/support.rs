//! Helpers shared by the test modules.

use std::collections::BTreeMap;

use hale_synth::SynthConfig;
use serde_json::Value;

/// The configuration most tests use: enough patients that the shared pool has
/// more than its base sites.
pub fn config() -> SynthConfig {
    SynthConfig::new(600, 20_260_101)
}

/// Returns every `reference` string under `value`, with the JSON path that
/// leads to it.
pub fn references(value: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    collect_references(value, String::new(), &mut found);
    found
}

fn collect_references(value: &Value, path: String, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = format!("{path}.{key}");
                if key == "reference" {
                    found.push((
                        child_path,
                        child.as_str().expect("references are strings").to_owned(),
                    ));
                } else {
                    collect_references(child, child_path, found);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_references(item, format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// Returns every string value under `value` whose key is `name`.
pub fn strings_named<'a>(value: &'a Value, name: &str, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match child {
                    Value::String(text) if key == name => found.push(text),
                    _ => strings_named(child, name, found),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| strings_named(item, name, found)),
        _ => {}
    }
}

/// Returns the resources grouped by type.
pub fn by_type(resources: &[Value]) -> BTreeMap<&str, Vec<&Value>> {
    let mut groups: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for resource in resources {
        groups
            .entry(resource["resourceType"].as_str().expect("typed"))
            .or_default()
            .push(resource);
    }
    groups
}

/// Parses a FHIR `dateTime` with seconds and offset (`2024-07-04T14:30:00-04:00`)
/// into seconds since 1970-01-01T00:00:00Z.
pub fn instant(text: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| -> i64 { text[range].parse().expect("digits") };
    assert_eq!(text.len(), 25, "{text} is not YYYY-MM-DDThh:mm:ss+hh:mm");
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    // Days from civil, Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let local = days * 86_400 + number(11..13) * 3_600 + number(14..16) * 60 + number(17..19);
    let offset = (number(20..22) * 60 + number(23..25)) * 60;
    if &text[19..20] == "-" {
        local + offset
    } else {
        local - offset
    }
}
