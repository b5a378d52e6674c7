//! Validates official R4 examples: a vendored handful always, and every example in the R4 examples
//! package when that package is present.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use hale_fhir::validate::validate_resource;
use serde_json::Value;

/// Official examples that are invalid against the base definitions, with the reason. The test
/// fails if one of these starts to validate, so the list cannot go stale.
const KNOWN_INVALID: &[(&str, &str)] = &[
    (
        "ImplementationGuide-fhir.json",
        "lacks ImplementationGuide.name and .status, both 1..1",
    ),
    (
        "ig-r4.json",
        "the same ImplementationGuide as ImplementationGuide-fhir.json",
    ),
    (
        "Questionnaire-qs1.json",
        "nested items lack Questionnaire.item.linkId, which is 1..1",
    ),
    (
        "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
        "its id has 67 characters, more than the 64 an id allows",
    ),
    // These extension search parameters were published without SearchParameter.base (1..*); the
    // generator leaves them out of the search parameter table for the same reason.
    (
        "SearchParameter-codesystem-extensions-CodeSystem-author.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-effective.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-end.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-keyword.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-workflow.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-author.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-effective.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-end.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-keyword.json",
        "lacks SearchParameter.base",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-workflow.json",
        "lacks SearchParameter.base",
    ),
];

/// The environment variable that points at the R4 examples package.
const EXAMPLES_ENV: &str = "HALE_FHIR_R4_EXAMPLES";

fn examples_package_path() -> PathBuf {
    match std::env::var_os(EXAMPLES_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/testdata/fhir/fhir/hl7.fhir.r4.examples-4.0.1.tgz"),
    }
}

fn render_issues(resource: &Value) -> Option<String> {
    validate_resource(resource).err().map(|issues| {
        issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    })
}

#[test]
fn vendored_official_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/examples");
    let mut n_examples = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the fixtures directory exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let resource: Value = serde_json::from_str(&text).unwrap();
        n_examples += 1;
        if let Some(issues) = render_issues(&resource) {
            failures.push(format!("{}:\n  {issues}", path.display()));
        }
    }
    assert!(n_examples >= 10, "only {n_examples} vendored examples");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each vendored example fails once an unknown element is added at its root or in its first
/// object-valued element, so the positive test above is not passing vacuously.
#[test]
fn vendored_examples_fail_with_an_unknown_element() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/examples");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let resource_type = original["resourceType"].as_str().unwrap().to_owned();

        let mut at_root = original.clone();
        at_root["unknownElement"] = Value::Bool(true);
        let issues = validate_resource(&at_root).unwrap_err();
        assert_eq!(issues.len(), 1, "{}", path.display());
        assert_eq!(issues[0].path, format!("{resource_type}.unknownElement"));

        let mut nested = original.clone();
        let object_key = original
            .as_object()
            .unwrap()
            .iter()
            .find(|(key, value)| value.is_object() && !key.starts_with('_'))
            .map(|(key, _)| key.clone());
        if let Some(key) = object_key {
            nested[&key]["unknownElement"] = Value::Bool(true);
            let issues = validate_resource(&nested).unwrap_err();
            assert_eq!(
                issues[0].path,
                format!("{resource_type}.{key}.unknownElement")
            );
        }
    }
}

#[test]
fn all_official_examples_validate_except_known_invalid_ones() {
    let path = examples_package_path();
    let Ok(tgz) = std::fs::read(&path) else {
        // The package is test data outside the repository; the vendored examples still run.
        eprintln!(
            "note: skipping the full examples check: no R4 examples package at {} (set {EXAMPLES_ENV})",
            path.display()
        );
        return;
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz.as_slice()));
    let mut n_validated = 0;
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let Some(file_name) = name.strip_prefix("package/") else {
            continue;
        };
        if !file_name.ends_with(".json") || file_name.contains('/') || file_name.starts_with('.') {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let resource: Value = serde_json::from_slice(&bytes).unwrap();
        // `package.json` and friends are package metadata, not resources.
        if resource.get("resourceType").is_none() {
            continue;
        }
        n_validated += 1;
        if let Some(issues) = render_issues(&resource) {
            failures.insert(file_name.to_owned(), issues);
        }
    }
    assert!(n_validated > 5000, "only {n_validated} examples validated");

    let unexpected: Vec<String> = failures
        .iter()
        .filter(|(file_name, _)| !KNOWN_INVALID.iter().any(|(known, _)| known == file_name))
        .map(|(file_name, issues)| format!("{file_name}:\n  {issues}"))
        .collect();
    let now_valid: Vec<&str> = KNOWN_INVALID
        .iter()
        .map(|(known, _)| *known)
        .filter(|known| !failures.contains_key(*known))
        .collect();
    assert!(
        unexpected.is_empty() && now_valid.is_empty(),
        "{} of {n_validated} examples fail unexpectedly:\n{}\n\nknown invalid but now valid: {now_valid:?}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
