//! Targeted search checks: each parameter type with its modifiers and prefixes, chains, `_has`,
//! alternatives, compartments, sorting, paging, counts, includes and system search. Every check
//! runs under Alice's scope, next to resources of Bob's that match just as well, and asserts that
//! none of Bob's is ever found, counted or reached.

use std::sync::Arc;

use bytes::Bytes;
use hale_fhir::Instant;
use hale_search::index::IndexEntry;
use hale_search::normalize::normalize_string;
use hale_search::query::{
    Criterion, DateBound, Include, NumberBound, OfType, ParamTest, Prefix, QuantityBound,
    ReferenceValue, SearchQuery, SortKey, SortKind, StringMatch, Test, TokenValue, UriMatch,
};

use super::property::{ALICE, BOB};
use super::{R4, put, version};
use crate::{Method, Owner, PageRequest, ResourceKey, ResourceStore, Scope};

const DAY: i64 = 86_400_000_000;

fn alice() -> Scope {
    Scope::user(ALICE)
}

async fn add(
    s: &dyn ResourceStore,
    owner: Option<Owner>,
    resource_type: &'static str,
    id: &str,
    index: Vec<IndexEntry>,
) {
    add_in(s, owner, resource_type, id, index, &[]).await;
}

/// Adds a resource that is in the compartments of `compartments`.
pub(super) async fn add_in(
    s: &dyn ResourceStore,
    owner: Option<Owner>,
    resource_type: &'static str,
    id: &str,
    index: Vec<IndexEntry>,
    compartments: &[&str],
) {
    let mut v = version(resource_type, id, 1, Instant(0), index);
    v.owner = owner;
    v.compartments = compartments.iter().map(|c| (*c).to_owned()).collect();
    put(s, v).await;
}

/// Adds a resource for Alice and a twin with the same entries for Bob (id prefixed `bob-`).
async fn add_pair(
    s: &dyn ResourceStore,
    resource_type: &'static str,
    id: &str,
    index: Vec<IndexEntry>,
) {
    add(s, Some(ALICE), resource_type, id, index.clone()).await;
    add(s, Some(BOB), resource_type, &format!("bob-{id}"), index).await;
}

/// Every match of `q` under `scope`, through `search` page by page (two per page), checked
/// against `count` and `find`.
pub(super) async fn ids(s: &dyn ResourceStore, scope: &Scope, q: &SearchQuery) -> Vec<String> {
    let mut found = Vec::new();
    let mut page = PageRequest {
        limit: 2,
        ..PageRequest::default()
    };
    loop {
        let result = s.search(scope, R4, q, &page).await.unwrap();
        page.horizon = Some(result.horizon);
        found.extend(result.hits.iter().map(|h| h.resource.id.clone()));
        if result.hits.len() < 2 {
            break;
        }
        page.after = result.hits.last().map(|h| h.position.clone());
    }
    let count = s.count(scope, R4, q, None).await.unwrap();
    assert_eq!(count as usize, found.len(), "count of {q:?}");
    let by_find: Vec<String> = s
        .find(scope, R4, q, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(by_find, found, "find of {q:?}");
    found
}

/// Alice sees exactly `expected`; everyone (`Scope::All`) also sees Bob's twins of them.
async fn expect_pairs(s: &dyn ResourceStore, q: SearchQuery, expected: &[&str]) {
    let mine = ids(s, &alice(), &q).await;
    assert_eq!(mine, expected, "Alice's matches of {q:?}");
    let mut all = ids(s, &Scope::All, &q).await;
    all.sort();
    let mut with_twins: Vec<String> = expected
        .iter()
        .flat_map(|id| [id.to_string(), format!("bob-{id}")])
        .collect();
    with_twins.sort();
    assert_eq!(all, with_twins, "everyone's matches of {q:?}");
}

fn string(exact: &str) -> IndexEntry {
    IndexEntry::String {
        code: "name",
        normalized: normalize_string(exact),
        exact: exact.into(),
    }
}

fn token(
    code: &'static str,
    system: Option<&str>,
    value: Option<&str>,
    text: Option<&str>,
    of_type: Option<&str>,
) -> IndexEntry {
    IndexEntry::Token {
        code,
        system: system.map(Into::into),
        value: value.map(Into::into),
        text: text.map(normalize_string),
        of_type: of_type.map(Into::into),
    }
}

pub(super) fn reference(code: &'static str, target: &str) -> IndexEntry {
    let (target_type, target_id) = target.split_once('/').unwrap();
    IndexEntry::Reference {
        code,
        target_type: Some(target_type.into()),
        target_id: Some(target_id.into()),
        url: None,
        version: None,
    }
}

fn date(low: i64, high: i64) -> IndexEntry {
    IndexEntry::Date {
        code: "date",
        low,
        high,
    }
}

fn day(prefix: Prefix, n: i64) -> Test {
    Test::Date(vec![DateBound {
        prefix,
        low: n * DAY,
        high: (n + 1) * DAY - 1,
    }])
}

fn number(value: f64) -> NumberBound {
    NumberBound {
        prefix: Prefix::Eq,
        value,
        low: value - 0.5,
        high: value + 0.5,
    }
}

fn quantity(value: f64, system: Option<&str>, unit: Option<&str>) -> IndexEntry {
    IndexEntry::Quantity {
        code: "value-quantity",
        value,
        low: value - 0.05,
        high: value + 0.05,
        system: system.map(Into::into),
        unit: unit.map(Into::into),
    }
}

/// String: prefix and `:contains` on the normalized form, `:exact` on the text as written.
pub async fn search_string(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    add_pair(s, "Patient", "mueller", vec![string("Müller")]).await;
    add_pair(
        s,
        "Patient",
        "anne",
        vec![string("Anne Marie"), string("Smith")],
    )
    .await;
    add_pair(s, "Patient", "none", vec![]).await;
    let t = |mode, v: &str| {
        SearchQuery::new(
            "Patient",
            vec![Criterion::param(
                "name",
                Test::String {
                    mode,
                    values: vec![v.into()],
                },
            )],
        )
    };
    expect_pairs(s, t(StringMatch::Prefix, "mul"), &["mueller"]).await;
    expect_pairs(s, t(StringMatch::Prefix, "smi"), &["anne"]).await;
    expect_pairs(s, t(StringMatch::Prefix, "anne marie"), &["anne"]).await;
    expect_pairs(s, t(StringMatch::Prefix, "marie"), &[]).await;
    expect_pairs(s, t(StringMatch::Contains, "marie"), &["anne"]).await;
    expect_pairs(s, t(StringMatch::Contains, "ll"), &["mueller"]).await;
    expect_pairs(s, t(StringMatch::Exact, "Müller"), &["mueller"]).await;
    expect_pairs(s, t(StringMatch::Exact, "muller"), &[]).await;
    expect_pairs(s, t(StringMatch::Exact, "Anne"), &[]).await;
    expect_pairs(
        s,
        SearchQuery::new(
            "Patient",
            vec![Criterion::param("name", Test::Missing(true))],
        ),
        &["none"],
    )
    .await;
    expect_pairs(
        s,
        SearchQuery::new(
            "Patient",
            vec![Criterion::param("name", Test::Missing(false))],
        ),
        &["mueller", "anne"],
    )
    .await;
}

/// Token: the four value forms, `:not` (which includes resources without the parameter),
/// `:text`, `:of-type`, and alternatives.
pub async fn search_token(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    add_pair(
        s,
        "Observation",
        "loinc",
        vec![token(
            "code",
            Some("http://loinc.org"),
            Some("1"),
            Some("Blood Pressure"),
            None,
        )],
    )
    .await;
    add_pair(
        s,
        "Observation",
        "bare",
        vec![token("code", None, Some("1"), None, None)],
    )
    .await;
    add_pair(
        s,
        "Observation",
        "other",
        vec![token(
            "code",
            Some("http://snomed.info/sct"),
            Some("2"),
            Some("Body weight"),
            None,
        )],
    )
    .await;
    add_pair(s, "Observation", "none", vec![]).await;
    add_pair(
        s,
        "Patient",
        "mrn",
        vec![token(
            "identifier",
            Some("http://hospital"),
            Some("77"),
            None,
            Some("http://terminology.hl7.org/CodeSystem/v2-0203|MR"),
        )],
    )
    .await;
    let t = |negate, values: Vec<TokenValue>| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::param("code", Test::Token { negate, values })],
        )
    };
    expect_pairs(
        s,
        t(false, vec![TokenValue::Code("1".into())]),
        &["loinc", "bare"],
    )
    .await;
    expect_pairs(
        s,
        t(
            false,
            vec![TokenValue::SystemCode(
                "http://loinc.org".into(),
                "1".into(),
            )],
        ),
        &["loinc"],
    )
    .await;
    expect_pairs(
        s,
        t(false, vec![TokenValue::NoSystemCode("1".into())]),
        &["bare"],
    )
    .await;
    expect_pairs(
        s,
        t(
            false,
            vec![TokenValue::System("http://snomed.info/sct".into())],
        ),
        &["other"],
    )
    .await;
    expect_pairs(
        s,
        t(
            false,
            vec![
                TokenValue::Code("2".into()),
                TokenValue::NoSystemCode("1".into()),
            ],
        ),
        &["bare", "other"],
    )
    .await;
    expect_pairs(
        s,
        t(true, vec![TokenValue::Code("1".into())]),
        &["other", "none"],
    )
    .await;
    let text = |v: &str| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::param("code", Test::TokenText(vec![v.into()]))],
        )
    };
    expect_pairs(s, text("blood"), &["loinc"]).await;
    expect_pairs(s, text("B"), &["loinc", "other"]).await;
    expect_pairs(s, text("pressure"), &[]).await;
    let of_type = |code: &str, value: &str| {
        SearchQuery::new(
            "Patient",
            vec![Criterion::param(
                "identifier",
                Test::OfType(vec![OfType {
                    type_system: "http://terminology.hl7.org/CodeSystem/v2-0203".into(),
                    type_code: code.into(),
                    value: value.into(),
                }]),
            )],
        )
    };
    expect_pairs(s, of_type("MR", "77"), &["mrn"]).await;
    expect_pairs(s, of_type("SS", "77"), &[]).await;
    expect_pairs(s, of_type("MR", "78"), &[]).await;
    expect_pairs(
        s,
        SearchQuery::new(
            "Observation",
            vec![Criterion::param("code", Test::Missing(true))],
        ),
        &["none"],
    )
    .await;
}

/// Reference: typed and untyped local references, URLs with and without a version, and
/// `:identifier`.
pub async fn search_reference(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    add_pair(
        s,
        "Observation",
        "to-p",
        vec![reference("subject", "Patient/p")],
    )
    .await;
    add_pair(
        s,
        "Observation",
        "to-g",
        vec![reference("subject", "Group/p")],
    )
    .await;
    add_pair(
        s,
        "Observation",
        "to-url",
        vec![IndexEntry::Reference {
            code: "subject",
            target_type: None,
            target_id: None,
            url: Some("http://other/Patient/9".into()),
            version: Some("2".into()),
        }],
    )
    .await;
    add_pair(
        s,
        "Observation",
        "by-identifier",
        vec![token(
            "subject",
            Some("http://ssn"),
            Some("123"),
            None,
            None,
        )],
    )
    .await;
    let t = |values: Vec<ReferenceValue>| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::param("subject", Test::Reference(values))],
        )
    };
    let local = |t: Option<&str>, id: &str| ReferenceValue::Local {
        target_type: t.map(Into::into),
        target_id: id.into(),
    };
    expect_pairs(s, t(vec![local(Some("Patient"), "p")]), &["to-p"]).await;
    expect_pairs(s, t(vec![local(None, "p")]), &["to-p", "to-g"]).await;
    expect_pairs(s, t(vec![local(Some("Patient"), "q")]), &[]).await;
    let url = |v: Option<&str>| ReferenceValue::Url {
        url: "http://other/Patient/9".into(),
        version: v.map(Into::into),
    };
    expect_pairs(s, t(vec![url(None)]), &["to-url"]).await;
    expect_pairs(s, t(vec![url(Some("2"))]), &["to-url"]).await;
    expect_pairs(s, t(vec![url(Some("3"))]), &[]).await;
    let identifier = |v: TokenValue| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::param(
                "subject",
                Test::ReferenceIdentifier(vec![v]),
            )],
        )
    };
    expect_pairs(
        s,
        identifier(TokenValue::SystemCode("http://ssn".into(), "123".into())),
        &["by-identifier"],
    )
    .await;
    expect_pairs(
        s,
        identifier(TokenValue::SystemCode("http://other".into(), "123".into())),
        &[],
    )
    .await;
}

/// Date: every prefix against a day, with entries inside, around, before and after it, and
/// `ne` only for resources that have a date.
pub async fn search_date(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    add_pair(
        s,
        "Observation",
        "inside",
        vec![date(10 * DAY + 5, 10 * DAY + 9)],
    )
    .await;
    add_pair(s, "Observation", "around", vec![date(9 * DAY, 12 * DAY)]).await;
    add_pair(s, "Observation", "after", vec![date(12 * DAY, 12 * DAY)]).await;
    add_pair(s, "Observation", "before", vec![date(3 * DAY, 4 * DAY)]).await;
    add_pair(s, "Observation", "none", vec![]).await;
    let t = |prefix| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::param("date", day(prefix, 10))],
        )
    };
    expect_pairs(s, t(Prefix::Eq), &["inside"]).await;
    expect_pairs(s, t(Prefix::Ne), &["around", "after", "before"]).await;
    expect_pairs(s, t(Prefix::Gt), &["around", "after"]).await;
    expect_pairs(s, t(Prefix::Lt), &["around", "before"]).await;
    expect_pairs(s, t(Prefix::Ge), &["inside", "around", "after"]).await;
    expect_pairs(s, t(Prefix::Le), &["inside", "around", "before"]).await;
    expect_pairs(s, t(Prefix::Sa), &["after"]).await;
    expect_pairs(s, t(Prefix::Eb), &["before"]).await;
    expect_pairs(s, t(Prefix::Ap), &["inside", "around"]).await;
}

/// `_id`, and `_lastUpdated` as a point in time.
pub async fn search_id_and_last_updated(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    add_pair(s, "Patient", "a", vec![]).await;
    add_pair(s, "Patient", "b", vec![]).await;
    // Bob's twin has another id, so only Alice's resource can match.
    let by_id = SearchQuery::new(
        "Patient",
        vec![Criterion::param(
            "_id",
            Test::Id(vec!["b".into(), "bob-a".into(), "zz".into()]),
        )],
    );
    assert_eq!(ids(s, &alice(), &by_id).await, ["b"]);
    assert_eq!(ids(s, &Scope::All, &by_id).await, ["bob-a", "b"]);
    let b = s
        .read(&Scope::All, R4, "Patient", "b")
        .await
        .unwrap()
        .unwrap()
        .last_updated
        .0;
    let t = |prefix, low, high| {
        SearchQuery::new(
            "Patient",
            vec![Criterion::param(
                "_lastUpdated",
                Test::LastUpdated(vec![DateBound { prefix, low, high }]),
            )],
        )
    };
    // Each resource has its own time, so Bob's twins match by their own.
    for (prefix, mine, everyone) in [
        (Prefix::Eq, vec!["b"], vec!["b"]),
        (Prefix::Ne, vec!["a"], vec!["a", "bob-a", "bob-b"]),
        (Prefix::Lt, vec!["a"], vec!["a", "bob-a"]),
        (Prefix::Ge, vec!["b"], vec!["b", "bob-b"]),
    ] {
        let q = t(prefix, b, b);
        assert_eq!(ids(s, &alice(), &q).await, mine, "{prefix:?}");
        assert_eq!(ids(s, &Scope::All, &q).await, everyone, "{prefix:?}");
    }
}

/// Number and quantity: the implied range for `eq`, the value for the others, and a quantity's
/// system and unit.
pub async fn search_number_and_quantity(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    for (id, v) in [("n99", 99.4), ("n100", 100.0), ("n101", 100.6)] {
        add_pair(
            s,
            "RiskAssessment",
            id,
            vec![IndexEntry::Number {
                code: "probability",
                value: v,
                low: v - 0.05,
                high: v + 0.05,
            }],
        )
        .await;
    }
    let t = |prefix| {
        SearchQuery::new(
            "RiskAssessment",
            vec![Criterion::param(
                "probability",
                Test::Number(vec![NumberBound {
                    prefix,
                    ..number(100.0)
                }]),
            )],
        )
    };
    expect_pairs(s, t(Prefix::Eq), &["n100"]).await;
    expect_pairs(s, t(Prefix::Ap), &["n100"]).await;
    expect_pairs(s, t(Prefix::Ne), &["n99", "n101"]).await;
    expect_pairs(s, t(Prefix::Gt), &["n101"]).await;
    expect_pairs(s, t(Prefix::Sa), &["n101"]).await;
    expect_pairs(s, t(Prefix::Ge), &["n100", "n101"]).await;
    expect_pairs(s, t(Prefix::Lt), &["n99"]).await;
    expect_pairs(s, t(Prefix::Eb), &["n99"]).await;
    expect_pairs(s, t(Prefix::Le), &["n99", "n100"]).await;

    add_pair(
        s,
        "Observation",
        "mg",
        vec![quantity(5.0, Some("http://unitsofmeasure.org"), Some("mg"))],
    )
    .await;
    add_pair(
        s,
        "Observation",
        "g",
        vec![quantity(5.0, Some("http://unitsofmeasure.org"), Some("g"))],
    )
    .await;
    add_pair(s, "Observation", "bare", vec![quantity(5.0, None, None)]).await;
    let q = |system: Option<&str>, code: Option<&str>, prefix| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::param(
                "value-quantity",
                Test::Quantity(vec![QuantityBound {
                    number: NumberBound {
                        prefix,
                        ..number(5.0)
                    },
                    system: system.map(Into::into),
                    code: code.map(Into::into),
                }]),
            )],
        )
    };
    expect_pairs(s, q(None, None, Prefix::Eq), &["mg", "g", "bare"]).await;
    expect_pairs(
        s,
        q(Some("http://unitsofmeasure.org"), Some("mg"), Prefix::Eq),
        &["mg"],
    )
    .await;
    expect_pairs(s, q(None, Some("g"), Prefix::Eq), &["g"]).await;
    expect_pairs(s, q(None, Some("mg"), Prefix::Ne), &["g", "bare"]).await;
    expect_pairs(s, q(None, Some("mg"), Prefix::Gt), &[]).await;
}

/// Uri: exact, `:below` (the entry starts with the value) and `:above` (the value starts with
/// the entry).
pub async fn search_uri(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    for (id, v) in [
        ("root", "http://acme.org/fhir"),
        ("vs", "http://acme.org/fhir/ValueSet/a"),
        ("other", "http://other.org"),
    ] {
        add_pair(
            s,
            "ValueSet",
            id,
            vec![IndexEntry::Uri {
                code: "url",
                value: v.into(),
            }],
        )
        .await;
    }
    let t = |mode, v: &str| {
        SearchQuery::new(
            "ValueSet",
            vec![Criterion::param(
                "url",
                Test::Uri {
                    mode,
                    values: vec![v.into()],
                },
            )],
        )
    };
    expect_pairs(s, t(UriMatch::Exact, "http://acme.org/fhir"), &["root"]).await;
    expect_pairs(
        s,
        t(UriMatch::Below, "http://acme.org/fhir"),
        &["root", "vs"],
    )
    .await;
    expect_pairs(
        s,
        t(UriMatch::Above, "http://acme.org/fhir/ValueSet/a/b"),
        &["root", "vs"],
    )
    .await;
    expect_pairs(s, t(UriMatch::Above, "http://acme.org"), &[]).await;
}

/// Composite: all components must hold on the same combination.
pub async fn search_composite(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let combo = |code: &str, v: f64| IndexEntry::Composite {
        code: "code-value-quantity",
        components: vec![
            token("code", Some("http://loinc.org"), Some(code), None, None),
            quantity(v, None, Some("mm[Hg]")),
        ],
    };
    let tokens = |codes: &[&str]| {
        codes
            .iter()
            .map(|c| token("code", Some("http://loinc.org"), Some(c), None, None))
            .collect::<Vec<_>>()
    };
    let mut both = tokens(&["sys", "dia"]);
    both.extend([combo("sys", 120.0), combo("dia", 80.0)]);
    add_pair(s, "Observation", "bp", both).await;
    let mut low = tokens(&["sys"]);
    low.push(combo("sys", 90.0));
    add_pair(s, "Observation", "low", low).await;
    let t = |code: &str, prefix, v: f64| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::param(
                "code-value-quantity",
                Test::Composite(vec![vec![
                    ParamTest {
                        code: "code",
                        test: Test::Token {
                            negate: false,
                            values: vec![TokenValue::SystemCode(
                                "http://loinc.org".into(),
                                code.into(),
                            )],
                        },
                    },
                    ParamTest {
                        code: "value-quantity",
                        test: Test::Quantity(vec![QuantityBound {
                            number: NumberBound {
                                prefix,
                                ..number(v)
                            },
                            system: None,
                            code: None,
                        }]),
                    },
                ]]),
            )],
        )
    };
    expect_pairs(s, t("sys", Prefix::Gt, 100.0), &["bp"]).await;
    expect_pairs(s, t("sys", Prefix::Gt, 85.0), &["bp", "low"]).await;
    // 80 belongs to the diastolic combination, so a systolic 80 matches nothing.
    expect_pairs(s, t("sys", Prefix::Eq, 80.0), &[]).await;
    expect_pairs(s, t("dia", Prefix::Eq, 80.0), &["bp"]).await;
}

/// Full text: every word, the last as a prefix, in the right column; a new version's text
/// replaces the old one's.
pub async fn search_text(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let text = |code, t: &str| IndexEntry::Text {
        code,
        text: t.into(),
    };
    add_pair(
        s,
        "Patient",
        "a",
        vec![
            text("_content", "john smith cardiology"),
            text("_text", "narrative alpha"),
        ],
    )
    .await;
    add_pair(s, "Patient", "b", vec![text("_content", "jane smithers")]).await;
    let t = |code, v: &str| {
        SearchQuery::new(
            "Patient",
            vec![Criterion::param(code, Test::Text(vec![v.into()]))],
        )
    };
    expect_pairs(s, t("_content", "smith"), &["a", "b"]).await;
    expect_pairs(s, t("_content", "smith john"), &["a"]).await;
    expect_pairs(s, t("_content", "cardio"), &["a"]).await;
    expect_pairs(s, t("_content", "jo smith"), &[]).await;
    expect_pairs(s, t("_content", "alpha"), &[]).await;
    expect_pairs(s, t("_text", "alpha"), &["a"]).await;
    expect_pairs(s, t("_content", "say \"hello"), &[]).await;
    for (owner, id) in [(ALICE, "a"), (BOB, "bob-a")] {
        let mut v = version(
            "Patient",
            id,
            2,
            Instant(0),
            vec![text("_content", "renamed")],
        );
        v.owner = Some(owner);
        put(s, v).await;
    }
    expect_pairs(s, t("_content", "john"), &[]).await;
    expect_pairs(s, t("_content", "renamed"), &["a"]).await;
}

/// Full text splits words alike in every store: at anything but a letter or digit, folding case
/// and accents, in the stored text and in the searched words; a searched word without a letter
/// or digit matches nothing.
pub async fn search_text_words(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    add_pair(
        s,
        "Observation",
        "o",
        vec![IndexEntry::Text {
            code: "_content",
            text: "Blood-pressure 120/80 mm[Hg] at loinc.org, by Jos\u{e9} O'Brien".into(),
        }],
    )
    .await;
    let t = |v: &str| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::param("_content", Test::Text(vec![v.into()]))],
        )
    };
    for found in [
        "pressure",
        "blood-pres",
        "BLOOD pressure",
        "120/8",
        "hg",
        "loinc.org",
        "org",
        "jose",
        "Jos\u{e9}",
        "brien",
        "o'brien",
    ] {
        expect_pairs(s, t(found), &["o"]).await;
    }
    for missed in ["-- blood", "bloodpressure", "loincorg", "josephine"] {
        expect_pairs(s, t(missed), &[]).await;
    }
}

/// Chains over two hops, and the scope applies to every resource on the way.
pub async fn search_chain(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let name = |n: &str| IndexEntry::String {
        code: "name",
        normalized: n.into(),
        exact: n.into(),
    };
    add(s, Some(ALICE), "Practitioner", "dr", vec![name("house")]).await;
    add(s, Some(BOB), "Practitioner", "bob-dr", vec![name("house")]).await;
    add(
        s,
        Some(ALICE),
        "Patient",
        "p",
        vec![reference("general-practitioner", "Practitioner/dr")],
    )
    .await;
    add(
        s,
        Some(ALICE),
        "Patient",
        "p2",
        vec![reference("general-practitioner", "Practitioner/bob-dr")],
    )
    .await;
    add(
        s,
        Some(ALICE),
        "Observation",
        "o",
        vec![reference("subject", "Patient/p")],
    )
    .await;
    add(
        s,
        Some(ALICE),
        "Observation",
        "o2",
        vec![reference("subject", "Patient/p2")],
    )
    .await;
    add(
        s,
        Some(BOB),
        "Observation",
        "bob-o",
        vec![reference("subject", "Patient/p")],
    )
    .await;
    let chain = |n: &str| {
        SearchQuery::new(
            "Observation",
            vec![Criterion::Chain {
                code: "subject",
                target_type: "Patient",
                inner: Box::new(Criterion::Chain {
                    code: "general-practitioner",
                    target_type: "Practitioner",
                    inner: Box::new(Criterion::param(
                        "name",
                        Test::String {
                            mode: StringMatch::Prefix,
                            values: vec![n.into()],
                        },
                    )),
                }),
            }],
        )
    };
    // Alice's o2 reaches a practitioner only through Bob's resource.
    assert_eq!(ids(s, &alice(), &chain("hou")).await, ["o"]);
    assert_eq!(
        ids(s, &Scope::All, &chain("hou")).await,
        ["o", "o2", "bob-o"]
    );
    assert!(ids(s, &alice(), &chain("x")).await.is_empty());
    // A chain to a type the reference does not point at matches nothing.
    let wrong_type = SearchQuery::new(
        "Observation",
        vec![Criterion::Chain {
            code: "subject",
            target_type: "Group",
            inner: Box::new(Criterion::param("_id", Test::Id(vec!["p".into()]))),
        }],
    );
    assert!(ids(s, &Scope::All, &wrong_type).await.is_empty());
}

/// `_has`, nested, with the scope on the referring resources.
pub async fn search_has(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let code = |c: &str| token("code", None, Some(c), None, None);
    add(s, Some(ALICE), "Patient", "p", vec![]).await;
    add(s, Some(ALICE), "Patient", "q", vec![]).await;
    add(s, Some(ALICE), "Patient", "r", vec![]).await;
    add(
        s,
        Some(ALICE),
        "Observation",
        "o",
        vec![reference("subject", "Patient/p"), code("bp")],
    )
    .await;
    add(
        s,
        Some(BOB),
        "Observation",
        "bob-o",
        vec![reference("subject", "Patient/q"), code("bp")],
    )
    .await;
    add(
        s,
        Some(ALICE),
        "Observation",
        "o-r",
        vec![reference("subject", "Patient/r"), code("hr")],
    )
    .await;
    add(
        s,
        Some(ALICE),
        "Provenance",
        "prov",
        vec![
            reference("target", "Observation/o-r"),
            token("agent-type", None, Some("author"), None, None),
        ],
    )
    .await;
    let has = |inner| {
        SearchQuery::new(
            "Patient",
            vec![Criterion::Has {
                source_type: "Observation",
                code: "subject",
                inner: Box::new(inner),
            }],
        )
    };
    let bp = has(Criterion::param(
        "code",
        Test::Token {
            negate: false,
            values: vec![TokenValue::Code("bp".into())],
        },
    ));
    assert_eq!(ids(s, &alice(), &bp).await, ["p"]);
    assert_eq!(ids(s, &Scope::All, &bp).await, ["p", "q"]);
    let nested = has(Criterion::Has {
        source_type: "Provenance",
        code: "target",
        inner: Box::new(Criterion::param(
            "agent-type",
            Test::Token {
                negate: false,
                values: vec![TokenValue::Code("author".into())],
            },
        )),
    });
    assert_eq!(ids(s, &alice(), &nested).await, ["r"]);
    assert!(ids(s, &Scope::user(BOB), &nested).await.is_empty());
}

/// `Any` holds when one alternative does; a compartment holds its members only.
pub async fn search_any_and_compartment(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let code = |c: &str| token("code", None, Some(c), None, None);
    for (owner, prefix) in [(ALICE, ""), (BOB, "bob-")] {
        let mut o = version(
            "Observation",
            &format!("{prefix}o1"),
            1,
            Instant(0),
            vec![code("a")],
        );
        o.owner = Some(owner);
        o.compartments = vec!["p".into()];
        put(s, o).await;
        let mut o = version(
            "Observation",
            &format!("{prefix}o2"),
            1,
            Instant(0),
            vec![code("b")],
        );
        o.owner = Some(owner);
        o.compartments = vec!["other".into()];
        put(s, o).await;
        add(
            s,
            Some(owner),
            "Observation",
            &format!("{prefix}o3"),
            vec![code("c")],
        )
        .await;
    }
    let is = |c: &str| {
        Criterion::param(
            "code",
            Test::Token {
                negate: false,
                values: vec![TokenValue::Code(c.into())],
            },
        )
    };
    expect_pairs(
        s,
        SearchQuery::new("Observation", vec![Criterion::Any(vec![is("a"), is("c")])]),
        &["o1", "o3"],
    )
    .await;
    expect_pairs(
        s,
        SearchQuery::new("Observation", vec![Criterion::Any(vec![])]),
        &[],
    )
    .await;
    expect_pairs(
        s,
        SearchQuery::new(
            "Observation",
            vec![Criterion::Compartment {
                patient_id: "p".into(),
            }],
        ),
        &["o1"],
    )
    .await;
    expect_pairs(
        s,
        SearchQuery::new(
            "Observation",
            vec![
                Criterion::Compartment {
                    patient_id: "p".into(),
                },
                is("b"),
            ],
        ),
        &[],
    )
    .await;
}

/// System search: every type, or those of `_type`.
pub async fn search_system(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let tag = token("_tag", None, Some("x"), None, None);
    add_pair(s, "Patient", "p", vec![tag.clone()]).await;
    add_pair(s, "Observation", "o", vec![tag.clone()]).await;
    add_pair(s, "Encounter", "e", vec![]).await;
    let tagged = Criterion::param(
        "_tag",
        Test::Token {
            negate: false,
            values: vec![TokenValue::Code("x".into())],
        },
    );
    expect_pairs(
        s,
        SearchQuery::new("Resource", vec![tagged.clone()]),
        &["p", "o"],
    )
    .await;
    expect_pairs(s, SearchQuery::new("Resource", vec![]), &["p", "o", "e"]).await;
    let typed = SearchQuery {
        resource_type: "Resource",
        types: vec!["Observation", "Encounter"],
        criteria: vec![],
    };
    expect_pairs(s, typed, &["o", "e"]).await;
    let typed = SearchQuery {
        resource_type: "Resource",
        types: vec!["Observation"],
        criteria: vec![tagged],
    };
    expect_pairs(s, typed, &["o"]).await;
}

fn page(sort: Vec<SortKey>, limit: usize) -> PageRequest {
    PageRequest {
        sort,
        limit,
        ..PageRequest::default()
    }
}

async fn sorted(s: &dyn ResourceStore, scope: &Scope, sort: Vec<SortKey>) -> Vec<String> {
    let q = SearchQuery::new("Patient", vec![]);
    let mut found = Vec::new();
    let mut request = page(sort, 2);
    loop {
        let result = s.search(scope, R4, &q, &request).await.unwrap();
        request.horizon = Some(result.horizon);
        found.extend(result.hits.iter().map(|h| h.resource.id.clone()));
        if result.hits.len() < 2 {
            return found;
        }
        request.after = result.hits.last().map(|h| h.position.clone());
    }
}

/// Sorting on several keys, both directions, resources without a value last either way; ties
/// fall back to row order.
pub async fn search_sort(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let family = |n: &str| IndexEntry::String {
        code: "family",
        normalized: n.into(),
        exact: n.into(),
    };
    let birth = |d: i64| IndexEntry::Date {
        code: "birthdate",
        low: d * DAY,
        high: (d + 1) * DAY - 1,
    };
    add_pair(s, "Patient", "a", vec![family("smith"), birth(3)]).await;
    add_pair(
        s,
        "Patient",
        "b",
        vec![family("jones"), family("zed"), birth(1)],
    )
    .await;
    add_pair(s, "Patient", "c", vec![family("smith"), birth(2)]).await;
    add_pair(s, "Patient", "d", vec![]).await;
    add_pair(s, "Patient", "e", vec![family("adams")]).await;
    let key = |code, kind, descending| SortKey {
        code,
        kind,
        descending,
    };
    let scope = alice();
    assert_eq!(
        sorted(s, &scope, vec![key("family", SortKind::String, false)]).await,
        ["e", "b", "a", "c", "d"]
    );
    assert_eq!(
        sorted(s, &scope, vec![key("family", SortKind::String, true)]).await,
        ["b", "a", "c", "e", "d"]
    );
    assert_eq!(
        sorted(
            s,
            &scope,
            vec![
                key("family", SortKind::String, false),
                key("birthdate", SortKind::Date, false)
            ]
        )
        .await,
        ["e", "b", "c", "a", "d"]
    );
    assert_eq!(
        sorted(
            s,
            &scope,
            vec![
                key("family", SortKind::String, true),
                key("birthdate", SortKind::Date, true)
            ]
        )
        .await,
        ["b", "a", "c", "e", "d"]
    );
    assert_eq!(
        sorted(s, &scope, vec![key("birthdate", SortKind::Date, true)]).await,
        ["a", "c", "b", "d", "e"]
    );
    assert_eq!(
        sorted(s, &scope, vec![key("_id", SortKind::Id, true)]).await,
        ["e", "d", "c", "b", "a"]
    );
    assert_eq!(
        sorted(
            s,
            &scope,
            vec![key("_lastUpdated", SortKind::LastUpdated, true)]
        )
        .await,
        ["e", "d", "c", "b", "a"]
    );
    assert_eq!(
        sorted(s, &Scope::All, vec![key("_id", SortKind::Id, false)]).await,
        [
            "a", "b", "bob-a", "bob-b", "bob-c", "bob-d", "bob-e", "c", "d", "e"
        ]
    );
}

/// Keyset paging: `after` and `before` neither repeat nor skip while other writes land between
/// pages; the horizon keeps newer resources off later pages; `offset` skips.
pub async fn search_paging(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let family = |n: &str| IndexEntry::String {
        code: "family",
        normalized: n.into(),
        exact: n.into(),
    };
    for idx in 0..10 {
        add_pair(
            s,
            "Patient",
            &format!("p{idx}"),
            vec![family(&format!("n{}", idx % 3))],
        )
        .await;
    }
    let q = SearchQuery::new("Patient", vec![]);
    let sort = vec![SortKey {
        code: "family",
        kind: SortKind::String,
        descending: true,
    }];
    let scope = alice();
    let all = sorted(s, &scope, sort.clone()).await;
    assert_eq!(all.len(), 10);

    let first = s
        .search(
            &scope,
            R4,
            &q,
            &PageRequest {
                total: true,
                ..page(sort.clone(), 4)
            },
        )
        .await
        .unwrap();
    assert_eq!(first.total, Some(10), "a first page counts what it sees");
    // Writes between pages: a new resource that would sort first, and a deletion of one of the
    // first page's resources.
    add_pair(s, "Patient", "late", vec![family("zzz")]).await;
    let mut deletion = version("Patient", "p9", 2, Instant(0), vec![]);
    deletion.method = Method::Delete;
    deletion.json = Bytes::new();
    deletion.owner = Some(ALICE);
    put(s, deletion).await;
    let mut seen: Vec<String> = first.hits.iter().map(|h| h.resource.id.clone()).collect();
    let mut request = PageRequest {
        horizon: Some(first.horizon),
        after: first.hits.last().map(|h| h.position.clone()),
        total: true,
        ..page(sort.clone(), 4)
    };
    let mut pages = vec![first.hits.clone()];
    loop {
        let next = s.search(&scope, R4, &q, &request).await.unwrap();
        assert_eq!(next.horizon, first.horizon);
        // The total of a later page counts to the horizon: the deletion, not the newer resource.
        assert_eq!(next.total, Some(9));
        seen.extend(next.hits.iter().map(|h| h.resource.id.clone()));
        if next.hits.len() < 4 {
            pages.push(next.hits);
            break;
        }
        request.after = next.hits.last().map(|h| h.position.clone());
        pages.push(next.hits);
    }
    let expected: Vec<String> = all
        .iter()
        .filter(|id| *id != "p9" || seen[..4].contains(id))
        .cloned()
        .collect();
    assert_eq!(
        seen, expected,
        "no duplicates, no gaps, nothing newer than the horizon"
    );
    assert!(!seen.contains(&"late".to_owned()));

    // `before` the second page's first hit gives the end of the first page, in order.
    let second_first = pages[1][0].position.clone();
    let back = s
        .search(
            &scope,
            R4,
            &q,
            &PageRequest {
                horizon: Some(first.horizon),
                before: Some(second_first),
                ..page(sort.clone(), 3)
            },
        )
        .await
        .unwrap();
    assert_eq!(back.total, None, "a page counts only when asked");
    let back_ids: Vec<&str> = back.hits.iter().map(|h| h.resource.id.as_str()).collect();
    let first_ids: Vec<&str> = pages[0]
        .iter()
        .map(|h| h.resource.id.as_str())
        .filter(|id| *id != "p9")
        .collect();
    assert_eq!(back_ids, first_ids[first_ids.len() - 3..]);

    // The horizon also bounds counts; without it, the newer resource counts.
    assert_eq!(
        s.count(&scope, R4, &q, Some(first.horizon)).await.unwrap(),
        9
    );
    assert_eq!(s.count(&scope, R4, &q, None).await.unwrap(), 10);
    assert_eq!(s.count(&Scope::All, R4, &q, None).await.unwrap(), 21);

    // Offset skips matches in the search's order, in row order too.
    let skipped = s
        .search(
            &scope,
            R4,
            &q,
            &PageRequest {
                offset: 2,
                ..page(vec![], 3)
            },
        )
        .await
        .unwrap();
    let skipped: Vec<&str> = skipped
        .hits
        .iter()
        .map(|h| h.resource.id.as_str())
        .collect();
    assert_eq!(skipped, ["p2", "p3", "p4"]);
    let skipped = s
        .search(
            &scope,
            R4,
            &q,
            &PageRequest {
                offset: 8,
                ..page(sort, 5)
            },
        )
        .await
        .unwrap();
    assert_eq!(skipped.hits.len(), 2);
}

/// `_include` (with a code, `*`, and a target type) and `_revinclude`: each resource once, only
/// current ones, and only in scope.
pub async fn search_include(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    add(s, Some(ALICE), "Patient", "p", vec![]).await;
    add(s, Some(BOB), "Patient", "bob-p", vec![]).await;
    add(s, None, "Practitioner", "dr", vec![]).await;
    add(s, Some(ALICE), "Organization", "org", vec![]).await;
    add(
        s,
        Some(ALICE),
        "Observation",
        "o1",
        vec![
            reference("subject", "Patient/p"),
            reference("performer", "Practitioner/dr"),
            reference("performer", "Organization/org"),
        ],
    )
    .await;
    add(
        s,
        Some(ALICE),
        "Observation",
        "o2",
        vec![
            reference("subject", "Patient/p"),
            reference("performer", "Patient/bob-p"),
        ],
    )
    .await;
    add(
        s,
        Some(BOB),
        "Observation",
        "bob-o",
        vec![reference("subject", "Patient/p")],
    )
    .await;
    add(
        s,
        Some(ALICE),
        "Observation",
        "gone",
        vec![reference("subject", "Patient/p")],
    )
    .await;
    let mut deletion = version("Observation", "gone", 2, Instant(0), vec![]);
    deletion.method = Method::Delete;
    deletion.json = Bytes::new();
    put(s, deletion).await;
    let key = |t: &str, id: &str| ResourceKey {
        resource_type: t.into(),
        id: id.into(),
    };
    let observations = [
        key("Observation", "o1"),
        key("Observation", "o2"),
        key("Observation", "bob-o"),
    ];
    let include = |code, target_type| Include {
        source_type: "Observation",
        code,
        target_type,
        iterate: false,
    };
    let names = |found: Vec<crate::StoredResource>| {
        found
            .into_iter()
            .map(|r| format!("{}/{}", r.resource_type, r.id))
            .collect::<Vec<_>>()
    };
    let scope = alice();
    let run = |inc: Include, reverse: bool, sources: Vec<ResourceKey>, scope: Scope| async move {
        names(
            s.include(&scope, R4, &inc, reverse, &sources)
                .await
                .unwrap(),
        )
    };
    assert_eq!(
        run(
            include(Some("subject"), None),
            false,
            observations.to_vec(),
            scope.clone()
        )
        .await,
        ["Patient/p"]
    );
    assert_eq!(
        run(
            include(Some("performer"), None),
            false,
            observations.to_vec(),
            scope.clone()
        )
        .await,
        ["Practitioner/dr", "Organization/org"]
    );
    assert_eq!(
        run(
            include(None, None),
            false,
            observations.to_vec(),
            scope.clone()
        )
        .await,
        ["Patient/p", "Practitioner/dr", "Organization/org"]
    );
    assert_eq!(
        run(
            include(None, None),
            false,
            observations.to_vec(),
            Scope::All
        )
        .await,
        [
            "Patient/p",
            "Patient/bob-p",
            "Practitioner/dr",
            "Organization/org"
        ]
    );
    assert_eq!(
        run(
            include(Some("performer"), Some("Organization")),
            false,
            observations.to_vec(),
            scope.clone()
        )
        .await,
        ["Organization/org"]
    );
    let patients = vec![key("Patient", "p"), key("Patient", "bob-p")];
    assert_eq!(
        run(
            include(Some("subject"), None),
            true,
            patients.clone(),
            scope.clone()
        )
        .await,
        ["Observation/o1", "Observation/o2"]
    );
    assert_eq!(
        run(
            include(Some("subject"), None),
            true,
            patients.clone(),
            Scope::All
        )
        .await,
        ["Observation/o1", "Observation/o2", "Observation/bob-o"]
    );
    assert_eq!(
        run(
            include(None, Some("Patient")),
            true,
            patients.clone(),
            Scope::All
        )
        .await,
        ["Observation/o1", "Observation/o2", "Observation/bob-o"]
    );
    assert_eq!(
        run(
            include(Some("performer"), None),
            true,
            vec![key("Practitioner", "dr"), key("Patient", "bob-p")],
            scope.clone()
        )
        .await,
        ["Observation/o1", "Observation/o2"]
    );
    assert!(
        run(
            include(Some("performer"), Some("Organization")),
            true,
            patients,
            scope
        )
        .await
        .is_empty()
    );
    // Many sources at once.
    let many: Vec<ResourceKey> = (0..500)
        .map(|i| key("Observation", &format!("x{i}")))
        .chain(observations.iter().cloned())
        .collect();
    assert_eq!(
        run(include(Some("subject"), None), false, many, Scope::All).await,
        ["Patient/p"]
    );
}
