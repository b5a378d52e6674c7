//! Index extraction over real resources: vendored official R4 examples with their expected entries,
//! every search-parameter expression of the R4 table, every example of the R4 examples package
//! when it is present, and the Synthea test data when it is present (which also reports
//! throughput; run with `--release -- --nocapture` to see a meaningful figure).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hale_fhir::definitions::search_params;
use hale_fhir::table::SearchParamType;
use hale_search::fhirpath::Expression;
use hale_search::index::{IndexEntry, compartment_patients, extract, unsupported_expressions};
use serde_json::Value;

/// The environment variable that points at the R4 examples package (as in `hale-fhir`'s tests).
const EXAMPLES_ENV: &str = "HALE_FHIR_R4_EXAMPLES";

/// The environment variable that points at the Synthea folder of the shared test data.
const SYNTHEA_ENV: &str = "HALE_SYNTHEA_DIR";

/// Expressions of the R4 table outside the supported FHIRPath subset. Parameters with these
/// expressions yield no entries. The list is exact: the test fails when an expression starts or
/// stops being supported, so it cannot go stale.
const KNOWN_UNSUPPORTED_EXPRESSIONS: &[&str] = &[];

fn shared_testdata(env: &str, relative: &str) -> PathBuf {
    match std::env::var_os(env) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/testdata")
            .join(relative),
    }
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Renders one entry on one line, so that expectations read like the data.
fn render(entry: &IndexEntry) -> String {
    let show = |value: &Option<String>| value.as_deref().unwrap_or("-").to_owned();
    match entry {
        IndexEntry::String {
            normalized, exact, ..
        } => format!("{normalized} ({exact})"),
        IndexEntry::Token {
            system,
            value,
            text,
            of_type,
            ..
        } => match of_type {
            Some(of_type) => format!(
                "{}|{} text={} of-type={of_type}",
                show(system),
                show(value),
                show(text)
            ),
            None => format!("{}|{} text={}", show(system), show(value), show(text)),
        },
        IndexEntry::Reference {
            target_type,
            target_id,
            url,
            version,
            ..
        } => match (target_type, target_id) {
            (Some(target_type), Some(target_id)) => format!("{target_type}/{target_id}"),
            _ => format!("url={} version={}", show(url), show(version)),
        },
        IndexEntry::Date { low, high, .. } => format!("{low}..{high}"),
        IndexEntry::Number {
            value, low, high, ..
        } => format!("{value} [{low}, {high}]"),
        IndexEntry::Quantity {
            value,
            low,
            high,
            system,
            unit,
            ..
        } => format!("{value} [{low}, {high}] {}|{}", show(system), show(unit)),
        IndexEntry::Uri { value, .. } => value.clone(),
        IndexEntry::Text { text, .. } => text.clone(),
        IndexEntry::Composite { components, .. } => components
            .iter()
            .map(|component| format!("{}: {}", component.code(), render(component)))
            .collect::<Vec<_>>()
            .join(" $ "),
    }
}

/// Epoch microseconds of midnight UTC at the start of a day, for readable date expectations.
fn day_start(year: i64, month: i64, day: i64) -> i64 {
    hale_search::index::date_range(&format!("{year:04}-{month:02}-{day:02}"))
        .unwrap()
        .0
}

/// What the vendored official examples must give: (file, parameter code, rendered entries).
const EXPECTED: &[(&str, &str, &[&str])] = &[
    (
        "Patient-example.json",
        "family",
        &["chalmers (Chalmers)", "windsor (Windsor)"],
    ),
    (
        "Patient-example.json",
        "given",
        &["peter (Peter)", "james (James)", "jim (Jim)"],
    ),
    (
        "Patient-example.json",
        "identifier",
        &[
            "urn:oid:1.2.36.146.595.217.0.1|12345 text=- of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR",
        ],
    ),
    ("Patient-example.json", "gender", &["-|male text=-"]),
    ("Patient-example.json", "active", &["-|true text=-"]),
    ("Patient-example.json", "deceased", &["-|false text=-"]),
    (
        "Patient-example.json",
        "address-city",
        &["pleasantville (PleasantVille)"],
    ),
    ("Patient-example.json", "address-use", &["-|home text=-"]),
    ("Patient-example.json", "organization", &["Organization/1"]),
    (
        "Patient-example.json",
        "phone",
        &[
            "-|(03) 5555 6473 text=-",
            "-|(03) 3410 5613 text=-",
            "-|(03) 5555 8834 text=-",
        ],
    ),
    ("Patient-example.json", "email", &[]),
    ("Patient-example.json", "_id", &["-|example text=-"]),
    (
        "Observation-example.json",
        "code",
        &[
            "http://loinc.org|29463-7 text=body weight",
            "http://loinc.org|3141-9 text=body weight measured",
            "http://snomed.info/sct|27113001 text=body weight",
            "http://acme.org/devices/clinical-codes|body-weight text=body weight",
        ],
    ),
    (
        "Observation-example.json",
        "value-quantity",
        // 185 [lb_av] also in grams, UCUM's canonical unit, for searches in other mass units.
        &[
            "83914.58845000001 [83687.792265, 84141.38463500001] urn:hale:ucum-canonical|g",
            "185 [184.5, 185.5] http://unitsofmeasure.org|[lb_av]",
        ],
    ),
    ("Observation-example.json", "subject", &["Patient/example"]),
    ("Observation-example.json", "patient", &["Patient/example"]),
    (
        "Observation-example.json",
        "encounter",
        &["Encounter/example"],
    ),
    (
        "Observation-example.json",
        "category",
        &[
            "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs text=vital signs",
        ],
    ),
    (
        "Observation-example.json",
        "code-value-quantity",
        &[
            "code: http://loinc.org|29463-7 text=body weight $ value-quantity: 83914.58845000001 [83687.792265, 84141.38463500001] urn:hale:ucum-canonical|g",
            "code: http://loinc.org|29463-7 text=body weight $ value-quantity: 185 [184.5, 185.5] http://unitsofmeasure.org|[lb_av]",
            "code: http://loinc.org|3141-9 text=body weight measured $ value-quantity: 83914.58845000001 [83687.792265, 84141.38463500001] urn:hale:ucum-canonical|g",
            "code: http://loinc.org|3141-9 text=body weight measured $ value-quantity: 185 [184.5, 185.5] http://unitsofmeasure.org|[lb_av]",
            "code: http://snomed.info/sct|27113001 text=body weight $ value-quantity: 83914.58845000001 [83687.792265, 84141.38463500001] urn:hale:ucum-canonical|g",
            "code: http://snomed.info/sct|27113001 text=body weight $ value-quantity: 185 [184.5, 185.5] http://unitsofmeasure.org|[lb_av]",
            "code: http://acme.org/devices/clinical-codes|body-weight text=body weight $ value-quantity: 83914.58845000001 [83687.792265, 84141.38463500001] urn:hale:ucum-canonical|g",
            "code: http://acme.org/devices/clinical-codes|body-weight text=body weight $ value-quantity: 185 [184.5, 185.5] http://unitsofmeasure.org|[lb_av]",
        ],
    ),
    (
        "Observation-blood-pressure.json",
        "component-code-value-quantity",
        &[
            "component-code: http://loinc.org|8480-6 text=systolic blood pressure $ component-value-quantity: 107 [106.5, 107.5] urn:hale:ucum-canonical|mm[Hg]",
            "component-code: http://loinc.org|8480-6 text=systolic blood pressure $ component-value-quantity: 107 [106.5, 107.5] http://unitsofmeasure.org|mm[Hg]",
            "component-code: http://snomed.info/sct|271649006 text=systolic blood pressure $ component-value-quantity: 107 [106.5, 107.5] urn:hale:ucum-canonical|mm[Hg]",
            "component-code: http://snomed.info/sct|271649006 text=systolic blood pressure $ component-value-quantity: 107 [106.5, 107.5] http://unitsofmeasure.org|mm[Hg]",
            "component-code: http://acme.org/devices/clinical-codes|bp-s text=systolic blood pressure $ component-value-quantity: 107 [106.5, 107.5] urn:hale:ucum-canonical|mm[Hg]",
            "component-code: http://acme.org/devices/clinical-codes|bp-s text=systolic blood pressure $ component-value-quantity: 107 [106.5, 107.5] http://unitsofmeasure.org|mm[Hg]",
            "component-code: http://loinc.org|8462-4 text=diastolic blood pressure $ component-value-quantity: 60 [59.5, 60.5] urn:hale:ucum-canonical|mm[Hg]",
            "component-code: http://loinc.org|8462-4 text=diastolic blood pressure $ component-value-quantity: 60 [59.5, 60.5] http://unitsofmeasure.org|mm[Hg]",
        ],
    ),
    (
        "Observation-blood-pressure.json",
        "code-value-quantity",
        &[],
    ),
    (
        "Observation-blood-pressure.json",
        "component-value-quantity",
        &[
            "107 [106.5, 107.5] urn:hale:ucum-canonical|mm[Hg]",
            "107 [106.5, 107.5] http://unitsofmeasure.org|mm[Hg]",
            "60 [59.5, 60.5] urn:hale:ucum-canonical|mm[Hg]",
            "60 [59.5, 60.5] http://unitsofmeasure.org|mm[Hg]",
        ],
    ),
    (
        "Observation-blood-pressure.json",
        "performer",
        &["Practitioner/example"],
    ),
    // `basedOn` is a logical reference by identifier: a token under the reference's code.
    (
        "Observation-blood-pressure.json",
        "based-on",
        &["https://acme.org/identifiers|1234 text=-"],
    ),
    (
        "Observation-blood-pressure.json",
        "_profile",
        &["http://hl7.org/fhir/StructureDefinition/vitalsigns"],
    ),
    (
        "Encounter-f201.json",
        "class",
        &["http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB text=ambulatory"],
    ),
    (
        "Encounter-f201.json",
        "identifier",
        &["-|Encounter_Roel_20130404 text=-"],
    ),
    ("Encounter-f201.json", "participant", &["Practitioner/f201"]),
    (
        "Encounter-f201.json",
        "practitioner",
        &["Practitioner/f201"],
    ),
    (
        "Encounter-f201.json",
        "service-provider",
        &["Organization/f201"],
    ),
    (
        "Encounter-f201.json",
        "type",
        &["http://snomed.info/sct|11429006 text=consultation"],
    ),
    (
        "Condition-example.json",
        "code",
        &[
            "http://snomed.info/sct|39065001 text=burn of ear",
            "-|- text=burnt ear",
        ],
    ),
    (
        "Condition-example.json",
        "clinical-status",
        &["http://terminology.hl7.org/CodeSystem/condition-clinical|active text=-"],
    ),
    (
        "Condition-example.json",
        "severity",
        &["http://snomed.info/sct|24484000 text=severe"],
    ),
    ("Condition-example.json", "patient", &["Patient/example"]),
    (
        "MedicationRequest-medrx0302.json",
        "identifier",
        &["http://www.bmc.nl/portal/prescriptions|12345689 text=-"],
    ),
    (
        "MedicationRequest-medrx0302.json",
        "intent",
        &["-|order text=-"],
    ),
    (
        "MedicationRequest-medrx0302.json",
        "requester",
        &["Practitioner/f007"],
    ),
    // The medication is a contained resource (`#med0320`), which is not indexed.
    ("MedicationRequest-medrx0302.json", "medication", &[]),
    (
        "Practitioner-example.json",
        "family",
        &["careful (Careful)"],
    ),
    (
        "Practitioner-example.json",
        "name",
        &["careful (Careful)", "adam (Adam)", "dr (Dr)"],
    ),
    (
        "Practitioner-example.json",
        "identifier",
        &["http://www.acme.org/practitioners|23 text=-"],
    ),
    (
        "Organization-hl7.json",
        "name",
        &[
            "health level seven international (Health Level Seven International)",
            "hl7 international (HL7 International)",
        ],
    ),
    (
        "Organization-hl7.json",
        "address-postalcode",
        &["48104 (48104)"],
    ),
    ("Organization-hl7.json", "endpoint", &["Endpoint/example"]),
    (
        "DiagnosticReport-f201.json",
        "code",
        &[
            "http://snomed.info/sct|429858000 text=computed tomography (ct) of head and neck",
            "-|- text=ct of head-neck",
        ],
    ),
    (
        "DiagnosticReport-f201.json",
        "conclusion",
        &["http://snomed.info/sct|188340000 text=malignant tumor of craniopharyngeal duct"],
    ),
    (
        "DiagnosticReport-f201.json",
        "performer",
        &["Organization/f203"],
    ),
    (
        "Claim-100150.json",
        "identifier",
        &["http://happyvalley.com/claim|12345 text=-"],
    ),
    ("Claim-100150.json", "use", &["-|claim text=-"]),
    // Identifiers with a typed coding, and narratives, for `:of-type`, `_text` and `_content`.
    (
        "Patient-pat4.json",
        "identifier",
        &[
            "urn:oid:0.1.2.3.4.5.6.7|123458 text=- of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR",
        ],
    ),
    (
        "Patient-pat4.json",
        "_text",
        &["patient sandy notsowell @ acme healthcare, inc. mr = 123458, deceased"],
    ),
    (
        "Patient-pat4.json",
        "_content",
        &[
            "pat4 generated usual http://terminology.hl7.org/codesystem/v2-0203 mr urn:oid:0.1.2.3.4.5.6.7 \
           123458 official notsowell sandy female 1982-08-02 organization/1 acme healthcare, inc",
        ],
    ),
    (
        "RelatedPerson-newborn-mom.json",
        "identifier",
        &[
            "http://hl7.org/fhir/sid/us-ssn|444222222 text=- of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS",
        ],
    ),
    (
        "RelatedPerson-newborn-mom.json",
        "_text",
        &[
            "generated narrative with details id : newborn-mom identifier : social security number = 444222222 \
           active : true patient : patient/newborn relationship : natural mother (details : \
           {http://terminology.hl7.org/codesystem/v3-rolecode code 'nmth' = 'natural mother', given as 'natural mother'}) \
           name : eve everywoman (official) telecom : ph: 555-555-2003(work) gender : female \
           birthdate : 31/05/1973 address : 2222 home street (home)",
        ],
    ),
    (
        "ServiceRequest-lipid.json",
        "identifier",
        &[
            "urn:oid:1.3.4.5.6.7|2345234234234 text=placer of-type=http://terminology.hl7.org/CodeSystem/v2-0203|PLAC",
        ],
    ),
    ("Claim-100150.json", "patient", &["Patient/1"]),
    ("Claim-100150.json", "insurer", &["Organization/2"]),
    ("Claim-100150.json", "care-team", &["Practitioner/example"]),
];

#[test]
fn vendored_examples_give_the_expected_entries() {
    let mut failures = Vec::new();
    for (file, code, expected) in EXPECTED {
        let resource = fixture(file);
        let resource_type = resource["resourceType"].as_str().unwrap();
        let actual: Vec<String> = extract(resource_type, &resource)
            .iter()
            .filter(|entry| entry.code() == *code)
            .map(render)
            .collect();
        if actual != *expected {
            failures.push(format!(
                "{file} {code}:\n  expected {expected:#?}\n  actual {actual:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn vendored_example_dates() {
    let date = |file: &str, code: &str| -> Vec<(i64, i64)> {
        let resource = fixture(file);
        let resource_type = resource["resourceType"].as_str().unwrap();
        extract(resource_type, &resource)
            .into_iter()
            .filter_map(|entry| match entry {
                IndexEntry::Date {
                    code: found,
                    low,
                    high,
                } if found == code => Some((low, high)),
                _ => None,
            })
            .collect()
    };
    let whole_day = |year, month, day| {
        (
            day_start(year, month, day),
            day_start(year, month, day + 1) - 1,
        )
    };
    assert_eq!(
        date("Patient-example.json", "birthdate"),
        [whole_day(1974, 12, 25)]
    );
    assert_eq!(
        date("Observation-example.json", "date"),
        [whole_day(2016, 3, 28)]
    );
    assert_eq!(
        date("Condition-example.json", "onset-date"),
        [whole_day(2012, 5, 24)]
    );
    assert_eq!(
        date("MedicationRequest-medrx0302.json", "authoredon"),
        [whole_day(2015, 1, 15)]
    );
    // `2012-12-01T12:00:00+01:00` is one second at 11:00 UTC.
    let eleven = day_start(2012, 12, 1) + 11 * 3_600_000_000;
    assert_eq!(
        date("DiagnosticReport-f201.json", "issued"),
        [(eleven, eleven + 999_999)]
    );
}

#[test]
fn vendored_example_compartments() {
    let compartment = |file: &str| {
        let resource = fixture(file);
        compartment_patients(resource["resourceType"].as_str().unwrap(), &resource)
    };
    assert_eq!(compartment("Patient-example.json"), ["example"]);
    assert_eq!(compartment("Observation-example.json"), ["example"]);
    assert_eq!(compartment("Encounter-f201.json"), ["f201"]);
    assert_eq!(compartment("MedicationRequest-medrx0302.json"), ["pat1"]);
    assert_eq!(compartment("Claim-100150.json"), ["1"]);
    assert!(compartment("Organization-hl7.json").is_empty());
    assert!(compartment("Practitioner-example.json").is_empty());
}

#[test]
fn every_r4_expression_is_supported_or_known() {
    let unsupported: Vec<&str> = unsupported_expressions()
        .iter()
        .map(|(expression, _)| *expression)
        .collect();
    assert_eq!(
        unsupported,
        KNOWN_UNSUPPORTED_EXPRESSIONS,
        "{:#?}",
        unsupported_expressions()
    );
}

#[test]
fn every_expression_applies_to_its_own_base() {
    // A parameter whose expression yields nothing for its own base type (a misspelt type prefix,
    // a branch lost in specialization) would silently never match. Plan-Net's are checked too.
    let mut n_checked = 0;
    for def in search_params() {
        if def.expression.is_empty() || def.kind == SearchParamType::Special {
            continue;
        }
        let Ok(expression) = Expression::parse(def.expression) else {
            continue;
        };
        let resource_type = if def.base == "DomainResource" {
            "Patient"
        } else {
            def.base
        };
        assert!(
            !expression.specialize(resource_type).is_empty(),
            "{} {}: {}",
            def.base,
            def.code,
            def.expression
        );
        n_checked += 1;
    }
    assert!(n_checked > 1000, "only {n_checked} parameters checked");
}

/// Reads every `package/*.json` resource of the R4 examples package.
fn official_examples(path: &Path) -> Vec<(String, Value)> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut examples = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("package/")
            || !name.ends_with(".json")
            || name.ends_with("package.json")
        {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        if let Ok(value) = serde_json::from_str::<Value>(&text)
            && value.get("resourceType").is_some_and(Value::is_string)
        {
            examples.push((name, value));
        }
    }
    examples
}

#[test]
fn every_official_example_extracts() {
    let path = shared_testdata(EXAMPLES_ENV, "fhir/fhir/hl7.fhir.r4.examples-4.0.1.tgz");
    if !path.exists() {
        eprintln!("skipped: {} is absent (set {EXAMPLES_ENV})", path.display());
        return;
    }
    let examples = official_examples(&path);
    let mut n_entries = 0;
    let mut n_patient_links = 0;
    let mut n_without_entries = Vec::new();
    for (name, resource) in &examples {
        let resource_type = resource["resourceType"].as_str().unwrap();
        let entries = extract(resource_type, resource);
        if entries.is_empty() {
            n_without_entries.push(name.as_str());
        }
        n_entries += entries.len();
        n_patient_links += compartment_patients(resource_type, resource).len();
    }
    eprintln!(
        "{} examples: {n_entries} index entries, {n_patient_links} patient-compartment links, {} without entries",
        examples.len(),
        n_without_entries.len()
    );
    assert!(
        examples.len() > 4000,
        "only {} examples read",
        examples.len()
    );
    assert!(n_entries > 100_000, "only {n_entries} entries");
    // Every resource with an id has at least `_id`.
    let without_id_entries: Vec<&str> = examples
        .iter()
        .filter(|(_, resource)| resource.get("id").is_some())
        .filter(|(name, _)| n_without_entries.contains(&name.as_str()))
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(without_id_entries.is_empty(), "{without_id_entries:?}");
}

/// The time this thread has spent on a CPU, from `/proc/thread-self/schedstat` (Linux only).
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanoseconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanoseconds / 1e9)
}

/// Reads the resources of a Synthea Bundle (`.json.bz2`), with their `urn:uuid:` references
/// rewritten to `Type/id` as the server does when it processes the transaction.
fn bundle_resources(path: &Path) -> Vec<Value> {
    let mut text = String::new();
    bzip2::read::BzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut bundle: Value = serde_json::from_str(&text).unwrap();
    let Some(Value::Array(entries)) = bundle.get_mut("entry").map(Value::take) else {
        return Vec::new();
    };
    let mut local_references = std::collections::HashMap::new();
    for entry in &entries {
        if let (Some(full_url), Some(resource_type), Some(id)) = (
            entry["fullUrl"].as_str(),
            entry["resource"]["resourceType"].as_str(),
            entry["resource"]["id"].as_str(),
        ) {
            local_references.insert(full_url.to_owned(), format!("{resource_type}/{id}"));
        }
    }
    entries
        .into_iter()
        .filter_map(|mut entry| entry.get_mut("resource").map(Value::take))
        .map(|mut resource| {
            rewrite_references(&mut resource, &local_references);
            resource
        })
        .collect()
}

fn rewrite_references(
    value: &mut Value,
    local_references: &std::collections::HashMap<String, String>,
) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "reference"
                    && let Some(local) = child
                        .as_str()
                        .and_then(|reference| local_references.get(reference))
                {
                    *child = Value::String(local.clone());
                } else {
                    rewrite_references(child, local_references);
                }
            }
        }
        Value::Array(elements) => {
            for element in elements {
                rewrite_references(element, local_references);
            }
        }
        _ => {}
    }
}

#[test]
fn synthea_extracts_and_reports_throughput() {
    let dir = shared_testdata(SYNTHEA_ENV, "synthea-120");
    let Ok(listing) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is absent (set {SYNTHEA_ENV})", dir.display());
        return;
    };
    let mut paths: Vec<PathBuf> = listing
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".json.bz2"))
        .filter(|path| {
            !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("0-")
        })
        .collect();
    paths.sort();
    // One patient keeps the debug-build test quick; `HALE_BENCH_PATIENTS` asks for more.
    let n_patients = std::env::var("HALE_BENCH_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let resources: Vec<Value> = paths
        .iter()
        .take(n_patients)
        .flat_map(|path| bundle_resources(path))
        .collect();
    assert!(!resources.is_empty());

    // The first call builds the parameter plans; it is timed apart from the steady state.
    let started = Instant::now();
    let _ = extract("Observation", &resources[0]);
    let plan_build = started.elapsed();
    // The best of three passes, timed in on-CPU time of this thread where Linux reports it,
    // because this machine is often shared with other builds and wall time then says little.
    let mut n_entries = 0;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = (Instant::now(), thread_cpu_seconds());
        n_entries = 0;
        for resource in &resources {
            let resource_type = resource["resourceType"].as_str().unwrap();
            n_entries += extract(resource_type, resource).len();
            let _ = compartment_patients(resource_type, resource);
        }
        let seconds = match (started.1, thread_cpu_seconds()) {
            (Some(start), Some(end)) => end - start,
            _ => started.0.elapsed().as_secs_f64(),
        };
        best = best.min(seconds);
    }
    eprintln!(
        "synthea: {} resources, {n_entries} entries in {best:.3} s of CPU (plans built in {plan_build:?}): \
         {:.0} resources/s, {:.0} entries/s",
        resources.len(),
        resources.len() as f64 / best,
        n_entries as f64 / best
    );
    assert!(
        n_entries > resources.len() * 5,
        "{n_entries} entries for {} resources",
        resources.len()
    );

    // The Synthea Observations are the bulk of a real load: each one has a code, a subject and an
    // effective date, and so is in its patient's compartment.
    for resource in resources
        .iter()
        .filter(|resource| resource["resourceType"] == "Observation")
    {
        let entries = extract("Observation", resource);
        for code in ["code", "subject", "patient", "date", "status", "category"] {
            assert!(
                entries.iter().any(|entry| entry.code() == code),
                "{code}: {resource}"
            );
        }
        assert_eq!(
            compartment_patients("Observation", resource).len(),
            1,
            "{resource}"
        );
    }
}
