//! The query shapes of W4, each with the requests drawn for it from the data, and the checks an
//! answer must pass.
//!
//! A full check parses the Bundle: status `200`, a `searchset` with a `total` that meets what
//! the data says, `min(total, _count)` matches on the first page, every match of the searched
//! type and meeting the search's criteria, includes marked `search.mode = include` and exactly
//! the resources the include path reaches from the page, no outcome entries (a parameter the
//! server ignored), no resource twice. A quick check reads only the Bundle's head: status `200`,
//! `searchset`, and the total.

use std::collections::HashSet;
use std::fmt::Write as _;

use hyper::{StatusCode, Uri};
use serde::Deserialize;
use serde_json::Value;

use super::facts::{self, Facts};
use crate::client::Answer;

/// The page size of every shape: the server's default `_count`, which `_revinclude` also asks
/// for explicitly.
pub const PAGE_SIZE: u64 = 10;

/// The p99 latency target of selective shapes, ms.
pub const SELECTIVE_P99_MS: f64 = 10.0;

/// The `_summary=count` target, matches per second.
pub const COUNT_MATCHES_PER_SEC: f64 = 5_000_000.0;

/// The least ratio of an include page's requests per second to its plain page's ("within 2×").
pub const INCLUDE_RATIO: f64 = 0.5;

/// What a shape is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Its matches are bounded by one patient, one code, one name prefix or one medication, so
    /// its first page and total need few index rows whatever the size of the store; target
    /// p99 ≤ [`SELECTIVE_P99_MS`].
    Selective,
    /// Its matches are a share of a whole type and grow with the store; no target of its own.
    Broad,
    /// `_summary=count`; target [`COUNT_MATCHES_PER_SEC`].
    Count,
    /// A page with `_include` or `_revinclude`, compared with the plain page of the same search,
    /// the shape `plain`; target a ratio of at least [`INCLUDE_RATIO`].
    Include {
        /// The id of the plain shape.
        plain: &'static str,
    },
    /// The plain page an include page is compared with.
    Plain,
}

impl Kind {
    /// The kind's name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Selective => "selective",
            Kind::Broad => "broad",
            Kind::Count => "count",
            Kind::Include { .. } => "include",
            Kind::Plain => "plain",
        }
    }
}

/// What every match of a query must meet.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Nothing beyond its type.
    Any,
    /// `subject` is `Patient/{patient}` and a coding of `code` has `code`.
    PatientCode {
        /// The Patient id.
        patient: String,
        /// The code.
        code: String,
    },
    /// A category coding is `laboratory`, and a dateTime `effective` is on or after 2020.
    LabSince2020,
    /// A word of a name part starts with this, in lowercase.
    NamePrefix(String),
    /// `birthDate` after 1990-01-01.
    BornAfter1990,
    /// A coding of `code` has this code, and `valueQuantity.value` is above 100.
    CodeValueOver100(String),
    /// The resource's JSON, in lowercase, contains this word.
    ContainsWord(String),
    /// `medicationReference` points at a Medication with this code.
    MedicationCode(String),
}

/// What the total of a query must be.
#[derive(Clone, Copy, Debug)]
pub enum Total {
    /// Exactly this.
    Exact(u64),
    /// At least the first, at most the second.
    Between(u64, u64),
    /// At least this.
    AtLeast(u64),
}

impl Total {
    fn holds(self, total: u64) -> bool {
        match self {
            Total::Exact(n) => total == n,
            Total::Between(least, most) => (least..=most).contains(&total),
            Total::AtLeast(n) => total >= n,
        }
    }

    fn describe(self) -> String {
        match self {
            Total::Exact(n) => format!("{n}"),
            Total::Between(least, most) => format!("between {least} and {most}"),
            Total::AtLeast(n) => format!("at least {n}"),
        }
    }
}

/// What the include entries of a page must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Includes {
    /// None.
    None,
    /// `_include=Condition:subject`: exactly the Patients the matches' subjects name.
    SubjectPatients,
    /// `_revinclude=Encounter:subject`: exactly the Encounters whose subject is a match.
    EncountersOfPatients,
}

/// One request of a shape.
#[derive(Clone, Debug)]
pub struct Query {
    /// The request's path and query.
    pub uri: Uri,
    /// What its matches must meet.
    pub rule: Rule,
    /// What its total must be.
    pub total: Total,
}

/// One query shape of the mix.
#[derive(Clone, Debug)]
pub struct Shape {
    /// The result id, `W4-…`.
    pub id: &'static str,
    /// The search as `benchmarks.md` writes it, with its placeholders.
    pub search: &'static str,
    /// The type searched.
    pub resource_type: &'static str,
    /// What it is compared with.
    pub kind: Kind,
    /// Where the placeholders' values come from, for shapes that have them.
    pub drawn_from: Option<&'static str>,
    /// The requests, one chosen at random for each request sent.
    pub queries: Vec<Query>,
    /// What the include entries must be.
    pub includes: Includes,
    /// Whether the request asks for `_summary=count`, so the page has no entries.
    pub count_only: bool,
}

/// Percent-encodes a query value: everything but the unreserved characters of RFC 3986.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn uri(text: String) -> Uri {
    // Every value is percent-encoded, so the text is always a valid URI; the fallback is never
    // taken, and would fail the shape's checks loudly if it were.
    Uri::try_from(text).unwrap_or_else(|_| Uri::from_static("/invalid"))
}

/// The shapes of the mix, in report order, with their requests drawn from `facts`.
pub fn shapes(facts: &Facts) -> Vec<Shape> {
    let single = |path: &str, rule: Rule, total: Total| {
        vec![Query {
            uri: uri(format!("/r4/{path}")),
            rule,
            total,
        }]
    };
    let conditions = facts.count("Condition");
    let patients = facts.count("Patient");
    vec![
        Shape {
            id: "W4-obs-patient-code",
            search: "Observation?patient={id}&code={loinc}",
            resource_type: "Observation",
            kind: Kind::Selective,
            drawn_from: Some("(Patient, LOINC code) pairs of Observations"),
            queries: facts
                .patient_codes
                .iter()
                .map(|(patient, code, n)| Query {
                    uri: uri(format!(
                        "/r4/Observation?patient={}&code={}",
                        encode(patient),
                        encode(code)
                    )),
                    rule: Rule::PatientCode {
                        patient: patient.clone(),
                        code: code.clone(),
                    },
                    total: Total::Exact(*n),
                })
                .collect(),
            includes: Includes::None,
            count_only: false,
        },
        Shape {
            id: "W4-obs-lab-date",
            search: "Observation?category=laboratory&date=ge2020",
            resource_type: "Observation",
            kind: Kind::Broad,
            drawn_from: None,
            queries: single(
                "Observation?category=laboratory&date=ge2020",
                Rule::LabSince2020,
                facts.lab_since_2020.map_or(Total::AtLeast(0), Total::Exact),
            ),
            includes: Includes::None,
            count_only: false,
        },
        Shape {
            id: "W4-patient-name",
            search: "Patient?name={prefix}",
            resource_type: "Patient",
            kind: Kind::Selective,
            drawn_from: Some("the first four letters of Patients' family names"),
            queries: facts
                .name_prefixes
                .iter()
                .map(|prefix| Query {
                    uri: uri(format!("/r4/Patient?name={}", encode(prefix))),
                    rule: Rule::NamePrefix(prefix.to_lowercase()),
                    total: Total::AtLeast(1),
                })
                .collect(),
            includes: Includes::None,
            count_only: false,
        },
        Shape {
            id: "W4-patient-birthdate",
            search: "Patient?birthdate=gt1990-01-01",
            resource_type: "Patient",
            kind: Kind::Broad,
            drawn_from: None,
            queries: single(
                "Patient?birthdate=gt1990-01-01",
                Rule::BornAfter1990,
                Total::Exact(facts.born_after_1990),
            ),
            includes: Includes::None,
            count_only: false,
        },
        Shape {
            id: "W4-obs-count-male",
            search: "Observation?patient.gender=male&_summary=count",
            resource_type: "Observation",
            kind: Kind::Count,
            drawn_from: None,
            queries: single(
                "Observation?patient.gender=male&_summary=count",
                Rule::Any,
                Total::Exact(facts.male_observations),
            ),
            includes: Includes::None,
            count_only: true,
        },
        Shape {
            id: "W4-condition-include",
            search: "Condition?_include=Condition:subject",
            resource_type: "Condition",
            kind: Kind::Include {
                plain: "W4-condition-plain",
            },
            drawn_from: None,
            queries: single(
                "Condition?_include=Condition:subject",
                Rule::Any,
                Total::Exact(conditions),
            ),
            includes: Includes::SubjectPatients,
            count_only: false,
        },
        Shape {
            id: "W4-condition-plain",
            search: "Condition",
            resource_type: "Condition",
            kind: Kind::Plain,
            drawn_from: None,
            queries: single("Condition", Rule::Any, Total::Exact(conditions)),
            includes: Includes::None,
            count_only: false,
        },
        Shape {
            id: "W4-patient-revinclude",
            search: "Patient?_revinclude=Encounter:subject&_count=10",
            resource_type: "Patient",
            kind: Kind::Include {
                plain: "W4-patient-plain",
            },
            drawn_from: None,
            queries: single(
                "Patient?_revinclude=Encounter:subject&_count=10",
                Rule::Any,
                Total::Exact(patients),
            ),
            includes: Includes::EncountersOfPatients,
            count_only: false,
        },
        Shape {
            id: "W4-patient-plain",
            search: "Patient?_count=10",
            resource_type: "Patient",
            kind: Kind::Plain,
            drawn_from: None,
            queries: single("Patient?_count=10", Rule::Any, Total::Exact(patients)),
            includes: Includes::None,
            count_only: false,
        },
        Shape {
            id: "W4-obs-code-value-quantity",
            search: "Observation?code-value-quantity={loinc}$gt100",
            resource_type: "Observation",
            kind: Kind::Selective,
            drawn_from: Some("LOINC codes of Observations with a valueQuantity above 100"),
            queries: facts
                .quantity_codes
                .iter()
                .map(|(code, n)| Query {
                    uri: uri(format!(
                        "/r4/Observation?code-value-quantity={}",
                        encode(&format!("{code}$gt100"))
                    )),
                    rule: Rule::CodeValueOver100(code.clone()),
                    total: Total::Exact(*n),
                })
                .collect(),
            includes: Includes::None,
            count_only: false,
        },
        Shape {
            id: "W4-condition-content",
            search: "Condition?_content={word}",
            resource_type: "Condition",
            kind: Kind::Broad,
            drawn_from: Some("words of five letters or more in Conditions' code displays"),
            queries: facts
                .words
                .iter()
                .map(|(word, least, most)| Query {
                    uri: uri(format!("/r4/Condition?_content={}", encode(word))),
                    rule: Rule::ContainsWord(word.clone()),
                    total: Total::Between(*least, *most),
                })
                .collect(),
            includes: Includes::None,
            count_only: false,
        },
        Shape {
            id: "W4-medreq-medication-code",
            search: "MedicationRequest?medication.code={rxnorm}",
            resource_type: "MedicationRequest",
            kind: Kind::Selective,
            drawn_from: Some("codes of Medications that MedicationRequests reference"),
            queries: facts
                .rxnorm_codes
                .iter()
                .map(|(code, n)| Query {
                    uri: uri(format!(
                        "/r4/MedicationRequest?medication.code={}",
                        encode(code)
                    )),
                    rule: Rule::MedicationCode(code.clone()),
                    total: Total::Exact(*n),
                })
                .collect(),
            includes: Includes::None,
            count_only: false,
        },
    ]
}

/// What a page held, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Page {
    /// Its `total`.
    pub total: u64,
    /// Its matches.
    pub matches: u64,
    /// Its include entries.
    pub included: u64,
    /// Its body's size.
    pub bytes: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBundle {
    resource_type: String,
    #[serde(rename = "type")]
    bundle_type: Option<String>,
    total: Option<u64>,
    #[serde(default)]
    entry: Vec<SearchEntry>,
}

#[derive(Deserialize)]
struct SearchEntry {
    resource: Option<Value>,
    search: Option<SearchMode>,
}

#[derive(Deserialize)]
struct SearchMode {
    mode: Option<String>,
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn has_code(resource: &Value, code: &str) -> bool {
    resource
        .get("code")
        .map(|concept| array(concept, "coding").any(|c| text(c, "/code") == Some(code)))
        .unwrap_or(false)
}

fn referenced(resource: &Value, element: &str, resource_type: &str) -> Option<String> {
    text(resource, &format!("/{element}/reference"))
        .and_then(|r| facts::reference_id(r, resource_type))
        .map(str::to_owned)
}

impl Rule {
    /// Whether `resource` meets the rule.
    fn holds(&self, resource: &Value, facts: &Facts) -> bool {
        match self {
            Rule::Any => true,
            Rule::PatientCode { patient, code } => {
                referenced(resource, "subject", "Patient").as_deref() == Some(patient.as_str())
                    && has_code(resource, code)
            }
            Rule::LabSince2020 => {
                let laboratory = array(resource, "category")
                    .flat_map(|c| array(c, "coding"))
                    .any(|c| text(c, "/code") == Some("laboratory"));
                let dated = match text(resource, "/effectiveDateTime") {
                    Some(date) => facts::on_or_after_2020(date) == Some(true),
                    // Another form of `effective` is beyond the pass's rules; the total says
                    // whether such matches are right.
                    None => {
                        resource.get("effectivePeriod").is_some()
                            || resource.get("effectiveInstant").is_some()
                            || resource.get("effectiveTiming").is_some()
                    }
                };
                laboratory && dated
            }
            Rule::NamePrefix(prefix) => array(resource, "name").any(|name| {
                let parts = ["family", "text"]
                    .iter()
                    .filter_map(|key| name.get(*key).and_then(Value::as_str))
                    .chain(
                        ["given", "prefix", "suffix"]
                            .iter()
                            .flat_map(|key| array(name, key))
                            .filter_map(Value::as_str),
                    );
                parts
                    .into_iter()
                    .any(|part| facts::words(part).any(|w| w.starts_with(prefix.as_str())))
            }),
            Rule::BornAfter1990 => text(resource, "/birthDate").is_some_and(facts::born_after_1990),
            Rule::CodeValueOver100(code) => {
                has_code(resource, code)
                    && resource
                        .pointer("/valueQuantity/value")
                        .and_then(Value::as_f64)
                        .is_some_and(|v| v > 100.0)
            }
            Rule::ContainsWord(word) => resource.to_string().to_lowercase().contains(word.as_str()),
            Rule::MedicationCode(code) => referenced(resource, "medicationReference", "Medication")
                .and_then(|id| facts.medication_codes.get(&id))
                .is_some_and(|codes| codes.iter().any(|c| c == code)),
        }
    }
}

pub(crate) fn prefix_text(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

/// Parses the number after `"total":` in the head of a Bundle, where Hale writes it.
pub(crate) fn head_total(head: &[u8]) -> Option<u64> {
    let key = b"\"total\":";
    let at = head.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = head[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// The quick check: status, `searchset`, and the total, from the head of the body alone, so that
/// the load generator leaves the CPU to the server.
pub fn quick_check(query: &Query, answer: &Answer) -> Option<String> {
    check_head(
        &query.uri,
        answer,
        |total| query.total.holds(total),
        || query.total.describe(),
    )
}

/// The check of a searchset Bundle's head behind every quick check (W4's searches, W5's
/// `$everything`): status 200, `"type":"searchset"` and a `total` that `holds`, which `expected`
/// describes for the failure's text.
pub(crate) fn check_head(
    uri: &impl std::fmt::Display,
    answer: &Answer,
    holds: impl Fn(u64) -> bool,
    expected: impl Fn() -> String,
) -> Option<String> {
    if answer.status != StatusCode::OK {
        return Some(format!(
            "{uri}: {} {}",
            answer.status,
            prefix_text(&answer.body)
        ));
    }
    let head = &answer.body[..answer.body.len().min(512)];
    let searchset = b"\"type\":\"searchset\"";
    if !head.windows(searchset.len()).any(|w| w == searchset) {
        return Some(format!(
            "{uri}: not a searchset Bundle: {}",
            prefix_text(head)
        ));
    }
    match head_total(head) {
        Some(total) if holds(total) => None,
        Some(total) => Some(format!("{uri}: total {total}, expected {}", expected())),
        None => Some(format!("{uri}: no total in the Bundle's head")),
    }
}

/// The full check of an answer to `query` of `shape`; on success, what the page held.
pub fn full_check(
    shape: &Shape,
    query: &Query,
    facts: &Facts,
    answer: &Answer,
) -> Result<Page, String> {
    let fail = |what: String| format!("{}: {what}", query.uri);
    if answer.status != StatusCode::OK {
        return Err(fail(format!(
            "{} {}",
            answer.status,
            prefix_text(&answer.body)
        )));
    }
    let bundle: SearchBundle = serde_json::from_slice(&answer.body)
        .map_err(|e| fail(format!("not a Bundle: {e}: {}", prefix_text(&answer.body))))?;
    if bundle.resource_type != "Bundle" || bundle.bundle_type.as_deref() != Some("searchset") {
        return Err(fail(format!(
            "a {} of type {:?}, not a searchset Bundle",
            bundle.resource_type, bundle.bundle_type
        )));
    }
    let total = bundle.total.ok_or_else(|| fail("no total".into()))?;
    if !query.total.holds(total) {
        return Err(fail(format!(
            "total {total}, expected {}",
            query.total.describe()
        )));
    }
    let mut matches = Vec::new();
    let mut included = Vec::new();
    let mut seen = HashSet::new();
    for entry in bundle.entry {
        let mode = entry.search.and_then(|s| s.mode);
        let resource = entry.resource.unwrap_or(Value::Null);
        let key = (
            text(&resource, "/resourceType").unwrap_or("").to_owned(),
            text(&resource, "/id").unwrap_or("").to_owned(),
        );
        match mode.as_deref() {
            Some("match") | Some("include") => {
                if !seen.insert(key.clone()) {
                    return Err(fail(format!("{}/{} is on the page twice", key.0, key.1)));
                }
            }
            Some("outcome") => {
                return Err(fail(format!("the page carries an outcome: {resource}")));
            }
            other => return Err(fail(format!("an entry with search.mode {other:?}"))),
        }
        if mode.as_deref() == Some("match") {
            matches.push((key, resource));
        } else {
            included.push((key, resource));
        }
    }
    let expected_matches = if shape.count_only {
        0
    } else {
        total.min(PAGE_SIZE)
    };
    if matches.len() as u64 != expected_matches {
        return Err(fail(format!(
            "{} matches on the first page of {total}, expected {expected_matches}",
            matches.len()
        )));
    }
    for ((resource_type, id), resource) in &matches {
        if resource_type != shape.resource_type {
            return Err(fail(format!("a match is a {resource_type}")));
        }
        if !query.rule.holds(resource, facts) {
            return Err(fail(format!(
                "{resource_type}/{id} does not meet the search ({:?})",
                query.rule
            )));
        }
    }
    match shape.includes {
        Includes::None => {
            if let Some(((t, id), _)) = included.first() {
                return Err(fail(format!("{t}/{id} is included, but nothing was asked")));
            }
        }
        Includes::SubjectPatients => {
            let wanted: HashSet<String> = matches
                .iter()
                .filter_map(|(_, r)| referenced(r, "subject", "Patient"))
                .collect();
            let got: HashSet<String> = included
                .iter()
                .filter(|((t, _), _)| t == "Patient")
                .map(|((_, id), _)| id.clone())
                .collect();
            if got.len() != included.len() || got != wanted {
                return Err(fail(format!(
                    "included {} resources ({} Patients); the matches' subjects are {} Patients",
                    included.len(),
                    got.len(),
                    wanted.len()
                )));
            }
        }
        Includes::EncountersOfPatients => {
            let page: HashSet<&str> = matches.iter().map(|((_, id), _)| id.as_str()).collect();
            for ((t, id), resource) in &included {
                let subject = referenced(resource, "subject", "Patient");
                if t != "Encounter" || !subject.is_some_and(|p| page.contains(p.as_str())) {
                    return Err(fail(format!(
                        "{t}/{id} is included but is no Encounter of a Patient on the page"
                    )));
                }
            }
            let wanted: u64 = page
                .iter()
                .map(|p| facts.encounters_by_patient.get(*p).copied().unwrap_or(0))
                .sum();
            if included.len() as u64 != wanted {
                return Err(fail(format!(
                    "{} Encounters included; the page's Patients have {wanted}",
                    included.len()
                )));
            }
        }
    }
    Ok(Page {
        total,
        matches: matches.len() as u64,
        included: included.len() as u64,
        bytes: answer.body.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    fn answer(body: Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: Bytes::from(body.to_string()),
        }
    }

    fn observation(id: &str, patient: &str, code: &str) -> Value {
        json!({"resourceType": "Observation", "id": id, "subject": {"reference": format!("Patient/{patient}")},
               "code": {"coding": [{"system": "http://loinc.org", "code": code}]}})
    }

    fn patient_code_shape(total: u64) -> (Shape, Query) {
        let facts = Facts {
            patient_codes: vec![("p1".into(), "8302-2".into(), total)],
            ..Facts::default()
        };
        let shape = shapes(&facts).remove(0);
        let query = shape.queries[0].clone();
        (shape, query)
    }

    #[test]
    fn a_right_page_passes_and_a_wrong_one_fails() {
        let (shape, query) = patient_code_shape(2);
        assert_eq!(
            query.uri.to_string(),
            "/r4/Observation?patient=p1&code=8302-2"
        );
        let facts = Facts::default();
        let good = answer(
            json!({"resourceType": "Bundle", "type": "searchset", "total": 2, "entry": [
                {"resource": observation("o1", "p1", "8302-2"), "search": {"mode": "match"}},
                {"resource": observation("o2", "p1", "8302-2"), "search": {"mode": "match"}},
            ]}),
        );
        let page = full_check(&shape, &query, &facts, &good).map_err(|e| e.to_string());
        assert_eq!(page.map(|p| (p.total, p.matches)), Ok((2, 2)));
        assert_eq!(quick_check(&query, &good), None);

        let wrong_patient = answer(
            json!({"resourceType": "Bundle", "type": "searchset", "total": 2, "entry": [
                {"resource": observation("o1", "p1", "8302-2"), "search": {"mode": "match"}},
                {"resource": observation("o2", "p2", "8302-2"), "search": {"mode": "match"}},
            ]}),
        );
        let problem = full_check(&shape, &query, &facts, &wrong_patient).err();
        assert!(problem.is_some_and(|p| p.contains("Observation/o2 does not meet")));

        let short_page = answer(
            json!({"resourceType": "Bundle", "type": "searchset", "total": 2, "entry": [
                {"resource": observation("o1", "p1", "8302-2"), "search": {"mode": "match"}},
            ]}),
        );
        assert!(full_check(&shape, &query, &facts, &short_page).is_err());

        let wrong_total =
            answer(json!({"resourceType": "Bundle", "type": "searchset", "total": 3}));
        assert!(full_check(&shape, &query, &facts, &wrong_total).is_err());
        assert!(quick_check(&query, &wrong_total).is_some_and(|p| p.contains("total 3")));
    }

    #[test]
    fn revincludes_must_be_exactly_the_pages_encounters() {
        let facts = Facts {
            by_type: [("Patient".to_owned(), 1)].into_iter().collect(),
            encounters_by_patient: [("p1".to_owned(), 1)].into_iter().collect(),
            ..Facts::default()
        };
        let shape = shapes(&facts)
            .into_iter()
            .find(|s| s.id == "W4-patient-revinclude")
            .unwrap_or_else(|| panic!("no revinclude shape"));
        let query = shape.queries[0].clone();
        let patient = json!({"resourceType": "Patient", "id": "p1"});
        let encounter = |id: &str, p: &str| json!({"resourceType": "Encounter", "id": id, "subject": {"reference": format!("Patient/{p}")}});
        let good = answer(
            json!({"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [
                {"resource": patient, "search": {"mode": "match"}},
                {"resource": encounter("e1", "p1"), "search": {"mode": "include"}},
            ]}),
        );
        assert!(full_check(&shape, &query, &facts, &good).is_ok());
        let stranger = answer(
            json!({"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [
                {"resource": patient, "search": {"mode": "match"}},
                {"resource": encounter("e1", "p1"), "search": {"mode": "include"}},
                {"resource": encounter("e2", "p9"), "search": {"mode": "include"}},
            ]}),
        );
        assert!(full_check(&shape, &query, &facts, &stranger).is_err());
        let missing = answer(
            json!({"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [
                {"resource": patient, "search": {"mode": "match"}},
            ]}),
        );
        assert!(full_check(&shape, &query, &facts, &missing).is_err());
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("8302-2$gt100"), "8302-2%24gt100");
        assert_eq!(encode("a|b c"), "a%7Cb%20c");
        assert_eq!(
            head_total(br#"{"type":"searchset","total":1234,"link":[]"#),
            Some(1234)
        );
    }
}
