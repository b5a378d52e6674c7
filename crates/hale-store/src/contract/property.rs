//! The property test: random resources, random queries, and a brute-force oracle
//! ([`super::oracle`]) that the store's `search` (followed page by page) and `count` must agree
//! with exactly.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use hale_fhir::Instant;
use hale_search::index::IndexEntry;
use hale_search::normalize::normalize_string;
use hale_search::query::{
    Criterion, DateBound, Include, NumberBound, OfType, ParamTest, Prefix, QuantityBound,
    ReferenceValue, SearchQuery, SortKey, SortKind, StringMatch, Test, TokenValue, UriMatch,
};

use super::oracle::{self, Model};
use super::{R4, put, version};
use crate::{Grant, Method, Owner, PageRequest, ResourceKey, ResourceStore, Scope, SortValue};

/// A small deterministic generator (xorshift64*), so that a failure replays exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub const ALICE: Owner = Owner {
    app: 1,
    user: Some(10),
};
pub const BOB: Owner = Owner {
    app: 1,
    user: Some(11),
};
pub const CAROL: Owner = Owner {
    app: 1,
    user: Some(12),
};
/// Data the app itself owns, no user's.
pub const APP: Owner = Owner { app: 1, user: None };
/// A user of another app whose user id is Bob's: ids of users are only unique within an app.
pub const OTHER_APP: Owner = Owner {
    app: 2,
    user: Some(11),
};

/// A random scope: everything, an app's (one with data, or one without), or a user's with up to
/// two grants from users of its app, each for one Patient's record or for everything.
fn random_scope(rng: &mut Rng) -> Scope {
    match rng.below(8) {
        0 => Scope::All,
        1 => Scope::App(*rng.pick(&[1, 1, 2, 99])),
        _ => {
            let app = *rng.pick(&[1, 1, 1, 2]);
            let grants = (0..rng.below(3))
                .map(|_| Grant {
                    owner: *rng.pick(&[10, 11, 12]),
                    patient: if rng.chance(30) {
                        None
                    } else {
                        Some(format!(
                            "p{}{}",
                            rng.below(6),
                            if rng.chance(20) { "x" } else { "" }
                        ))
                    },
                })
                .collect();
            Scope::User {
                app,
                user: *rng.pick(&[10, 11, 12]),
                grants,
            }
        }
    }
}

const NAMES: &[&str] = &[
    "Ann",
    "anna",
    "Anne Marie",
    "BOB",
    "bobby",
    "Zoë",
    "zoe",
    "Ånn",
];
const SYSTEMS: &[Option<&str>] = &[None, Some("s1"), Some("s2")];
const CODES: &[&str] = &["a", "b", "c", "ab"];
const TEXTS: &[&str] = &["blood pressure", "body weight", "blue"];
const OF_TYPES: &[Option<&str>] = &[None, Some("t|MR"), Some("t|SS")];
const URIS: &[&str] = &["http://a", "http://a/b", "http://a/b/c", "http://b"];
const WORDS: &[&str] = &["alpha", "alps", "beta", "bet", "gamma"];
const UNITS: &[Option<&str>] = &[None, Some("mg"), Some("g")];
const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;

fn token_entry(rng: &mut Rng, code: &'static str) -> IndexEntry {
    IndexEntry::Token {
        code,
        system: rng.pick(SYSTEMS).map(str::to_owned),
        value: if rng.chance(90) {
            Some(rng.pick(CODES).to_string())
        } else {
            None
        },
        text: if rng.chance(50) {
            Some(normalize_string(rng.pick::<&str>(TEXTS)))
        } else {
            None
        },
        of_type: rng.pick(OF_TYPES).map(str::to_owned),
    }
}

fn quantity_entry(rng: &mut Rng) -> IndexEntry {
    let value = rng.below(20) as f64 / 2.0;
    IndexEntry::Quantity {
        code: "value-quantity",
        value,
        low: value - 0.25,
        high: value + 0.25,
        // Some entries are canonical UCUM twins, which only searches naming their system match.
        system: if rng.chance(20) {
            Some(hale_search::ucum::CANONICAL_SYSTEM.into())
        } else if rng.chance(70) {
            Some("u".into())
        } else {
            None
        },
        unit: rng.pick(UNITS).map(str::to_owned),
    }
}

/// Random entries of every kind, consistent as extraction makes them: a composite's token
/// component is also a token entry of its own code.
fn entries(rng: &mut Rng, patient_ids: &[String]) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    for _ in 0..rng.below(3) {
        let exact = rng.pick(NAMES).to_string();
        out.push(IndexEntry::String {
            code: "name",
            normalized: normalize_string(&exact),
            exact,
        });
    }
    for _ in 0..rng.below(3) {
        out.push(token_entry(rng, "code"));
    }
    // Observation.subject repeats at most once in R4, so extraction gives at most one reference
    // entry, which stores may rely on (`hale_search::index::at_most_one_reference`).
    let references = if hale_search::index::at_most_one_reference("Observation", "subject") {
        2
    } else {
        3
    };
    for _ in 0..rng.below(references) {
        out.push(if rng.chance(80) {
            IndexEntry::Reference {
                code: "subject",
                target_type: Some("Patient".into()),
                target_id: Some(rng.pick(patient_ids).clone()),
                url: None,
                version: None,
            }
        } else {
            IndexEntry::Reference {
                code: "subject",
                target_type: None,
                target_id: None,
                url: Some(rng.pick(URIS).to_string()),
                version: if rng.chance(50) {
                    Some("1".into())
                } else {
                    None
                },
            }
        });
    }
    if rng.chance(20) {
        out.push(token_entry(rng, "subject"));
    }
    for _ in 0..rng.below(3) {
        let low = rng.below(10) as i64 * DAY + rng.below(3) as i64 * HOUR;
        let high = low + rng.below(3) as i64 * DAY + rng.below(2) as i64 * HOUR;
        out.push(IndexEntry::Date {
            code: "date",
            low,
            high,
        });
    }
    for _ in 0..rng.below(3) {
        let value = rng.below(20) as f64 / 2.0;
        out.push(IndexEntry::Number {
            code: "probability",
            value,
            low: value - 0.25,
            high: value + 0.25,
        });
    }
    for _ in 0..rng.below(3) {
        out.push(quantity_entry(rng));
    }
    for _ in 0..rng.below(2) {
        out.push(IndexEntry::Uri {
            code: "url",
            value: rng.pick(URIS).to_string(),
        });
    }
    for _ in 0..rng.below(3) {
        let token = token_entry(rng, "code");
        if let IndexEntry::Token { value: Some(_), .. } = token {
            out.push(token.clone());
            out.push(IndexEntry::Composite {
                code: "code-value-quantity",
                components: vec![token, quantity_entry(rng)],
            });
        }
    }
    for code in ["_content", "_text"] {
        if rng.chance(60) {
            let n = 1 + rng.below(3);
            let words: Vec<&str> = (0..n).map(|_| *rng.pick(WORDS)).collect();
            out.push(IndexEntry::Text {
                code,
                text: words.join(" "),
            });
        }
    }
    out
}

fn random_prefix(rng: &mut Rng) -> Prefix {
    *rng.pick(&[
        Prefix::Eq,
        Prefix::Ne,
        Prefix::Gt,
        Prefix::Lt,
        Prefix::Ge,
        Prefix::Le,
        Prefix::Sa,
        Prefix::Eb,
        Prefix::Ap,
    ])
}

fn token_value(rng: &mut Rng) -> TokenValue {
    let code = rng.pick(CODES).to_string();
    let system = rng.pick(&["s1", "s2", "s3"]).to_string();
    match rng.below(4) {
        0 => TokenValue::Code(code),
        1 => TokenValue::SystemCode(system, code),
        2 => TokenValue::NoSystemCode(code),
        _ => TokenValue::System(system),
    }
}

fn number_bound(rng: &mut Rng) -> NumberBound {
    let value = rng.below(22) as f64 / 2.0 - 0.5;
    NumberBound {
        prefix: random_prefix(rng),
        value,
        low: value - 0.5,
        high: value + 0.5,
    }
}

fn quantity_bound(rng: &mut Rng) -> QuantityBound {
    QuantityBound {
        number: number_bound(rng),
        system: if rng.chance(10) {
            Some(hale_search::ucum::CANONICAL_SYSTEM.into())
        } else if rng.chance(30) {
            Some("u".into())
        } else {
            None
        },
        code: if rng.chance(40) {
            Some(rng.pick(&["mg", "g"]).to_string())
        } else {
            None
        },
    }
}

fn date_bound(rng: &mut Rng) -> DateBound {
    // The same grid as the entries', so that bounds meet entries' ends exactly.
    let low = rng.below(11) as i64 * DAY + rng.below(3) as i64 * HOUR;
    let high = low + rng.below(3) as i64 * DAY + rng.below(2) as i64 * HOUR;
    DateBound {
        prefix: random_prefix(rng),
        low,
        high,
    }
}

fn several<T>(rng: &mut Rng, mut make: impl FnMut(&mut Rng) -> T) -> Vec<T> {
    let n = 1 + usize::from(rng.chance(30));
    (0..n).map(|_| make(rng)).collect()
}

/// A random test on a parameter of an Observation-like entry list.
fn param_test(rng: &mut Rng, models: &[Model], times: &[i64]) -> ParamTest {
    let (code, test) = match rng.below(17) {
        0 => (
            "name",
            Test::String {
                mode: *rng.pick(&[
                    StringMatch::Prefix,
                    StringMatch::Contains,
                    StringMatch::Exact,
                ]),
                values: several(rng, |rng| {
                    let name = *rng.pick(NAMES);
                    let cut = 1 + rng.below(name.chars().count());
                    let part: String = name.chars().take(cut).collect();
                    if rng.chance(50) {
                        name.to_owned()
                    } else {
                        normalize_string(&part)
                    }
                }),
            },
        ),
        1 | 2 => (
            "code",
            Test::Token {
                negate: rng.chance(30),
                values: several(rng, token_value),
            },
        ),
        3 => (
            "code",
            Test::TokenText(several(rng, |rng| {
                let text = *rng.pick(TEXTS);
                text[..1 + rng.below(text.len())].to_uppercase()
            })),
        ),
        4 => (
            "code",
            Test::OfType(several(rng, |rng| OfType {
                type_system: "t".into(),
                type_code: rng.pick(&["MR", "SS"]).to_string(),
                value: rng.pick(CODES).to_string(),
            })),
        ),
        5 => (
            "subject",
            Test::Reference(several(rng, |rng| {
                if rng.chance(70) {
                    ReferenceValue::Local {
                        target_type: if rng.chance(50) {
                            Some(rng.pick(&["Patient", "Group"]).to_string())
                        } else {
                            None
                        },
                        target_id: format!("p{}", rng.below(6)),
                    }
                } else {
                    ReferenceValue::Url {
                        url: rng.pick(URIS).to_string(),
                        version: if rng.chance(50) {
                            Some(rng.pick(&["1", "2"]).to_string())
                        } else {
                            None
                        },
                    }
                }
            })),
        ),
        6 => (
            "subject",
            Test::ReferenceIdentifier(several(rng, token_value)),
        ),
        7 => ("date", Test::Date(several(rng, date_bound))),
        8 => ("probability", Test::Number(several(rng, number_bound))),
        9 => (
            "value-quantity",
            Test::Quantity(several(rng, quantity_bound)),
        ),
        10 => (
            "url",
            Test::Uri {
                mode: *rng.pick(&[UriMatch::Exact, UriMatch::Below, UriMatch::Above]),
                values: several(rng, |rng| {
                    rng.pick(&[
                        "http://a",
                        "http://a/b",
                        "http://a/b/c/d",
                        "http://",
                        "http://b",
                    ])
                    .to_string()
                }),
            },
        ),
        11 => (
            "code-value-quantity",
            Test::Composite(several(rng, |rng| {
                vec![
                    ParamTest {
                        code: "code",
                        test: Test::Token {
                            negate: false,
                            values: vec![token_value(rng)],
                        },
                    },
                    ParamTest {
                        code: "value-quantity",
                        test: Test::Quantity(vec![quantity_bound(rng)]),
                    },
                ]
            })),
        ),
        12 => (
            *rng.pick(&["_content", "_text"]),
            Test::Text(several(rng, |rng| {
                let n = 1 + rng.below(2);
                let words: Vec<String> = (0..n)
                    .map(|_| {
                        let w = *rng.pick(WORDS);
                        w[..2 + rng.below(w.len() - 1)].to_owned()
                    })
                    .collect();
                words.join(" ")
            })),
        ),
        13 => (
            *rng.pick(&[
                "name",
                "code",
                "subject",
                "date",
                "probability",
                "value-quantity",
                "url",
                "code-value-quantity",
            ]),
            Test::Missing(rng.chance(50)),
        ),
        14 => (
            "_id",
            Test::Id(several(rng, |rng| {
                if models.is_empty() || rng.chance(20) {
                    "nope".to_owned()
                } else {
                    rng.pick(models).id.clone()
                }
            })),
        ),
        15 => (
            "_lastUpdated",
            Test::LastUpdated(several(rng, |rng| {
                let t = *rng.pick(times);
                let width = rng.below(3) as i64;
                DateBound {
                    prefix: random_prefix(rng),
                    low: t - width,
                    high: t + width,
                }
            })),
        ),
        _ => (
            "code",
            Test::Token {
                negate: false,
                values: vec![token_value(rng)],
            },
        ),
    };
    ParamTest { code, test }
}

fn criterion(rng: &mut Rng, models: &[Model], times: &[i64], depth: usize) -> Criterion {
    match rng.below(if depth == 0 { 10 } else { 6 }) {
        6 => Criterion::Chain {
            code: "subject",
            target_type: "Patient",
            inner: Box::new(criterion(rng, models, times, depth + 1)),
        },
        7 => Criterion::Has {
            source_type: "Observation",
            code: "subject",
            inner: Box::new(criterion(rng, models, times, depth + 1)),
        },
        8 => Criterion::Any(vec![
            criterion(rng, models, times, depth + 1),
            criterion(rng, models, times, depth + 1),
        ]),
        9 => Criterion::Compartment {
            patient_id: format!("p{}", rng.below(6)),
        },
        _ => Criterion::Param(param_test(rng, models, times)),
    }
}

fn sort_keys(rng: &mut Rng) -> Vec<SortKey> {
    let all = [
        ("_id", SortKind::Id),
        ("_lastUpdated", SortKind::LastUpdated),
        ("name", SortKind::String),
        ("code", SortKind::Token),
        ("date", SortKind::Date),
        ("probability", SortKind::Number),
        ("value-quantity", SortKind::Quantity),
        ("url", SortKind::Uri),
        ("subject", SortKind::Reference),
    ];
    (0..rng.below(3))
        .map(|_| {
            let (code, kind) = *rng.pick(&all);
            SortKey {
                code,
                kind,
                descending: rng.chance(50),
            }
        })
        .collect()
}

fn compare_values(a: &SortValue, b: &SortValue) -> Ordering {
    match (a, b) {
        (SortValue::Int(a), SortValue::Int(b)) => a.cmp(b),
        (SortValue::Real(a), SortValue::Real(b)) => a.total_cmp(b),
        (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
        _ => panic!("sort values of different kinds: {a:?} and {b:?}"),
    }
}

/// Random resources of two types and six owners (operator, three users and the app itself of one
/// app, a user of another), updates and deletions included, then random queries under random
/// scopes (apps', and users' with per-patient and whole-record grants): `search` (every page,
/// through `after`), `count` and `include` must give exactly the oracle's resources, and pages
/// must follow the sort order.
pub async fn search_matches_oracle(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let mut rng = Rng::new(0x5EED_1234_ABCD);
    let patient_ids: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
    let mut models: Vec<Model> = Vec::new();
    let n_resources = 240;
    for idx in 0..n_resources {
        let (resource_type, id) = if idx < 12 {
            (
                "Patient",
                patient_ids[idx % 6].clone() + if idx < 6 { "" } else { "x" },
            )
        } else {
            ("Observation", format!("o{idx}"))
        };
        let owner = *rng.pick(&[
            None,
            Some(ALICE),
            Some(BOB),
            Some(CAROL),
            Some(APP),
            Some(OTHER_APP),
        ]);
        let index = entries(&mut rng, &patient_ids);
        let compartments: Vec<String> = index
            .iter()
            .filter_map(|e| match e {
                IndexEntry::Reference {
                    code: "subject",
                    target_type: Some(t),
                    target_id: Some(id),
                    ..
                } if t == "Patient" => Some(id.clone()),
                _ => None,
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut v = version(resource_type, &id, 1, Instant(0), index.clone());
        v.owner = owner;
        v.compartments = compartments.clone();
        put(s, v).await;
        models.push(Model {
            resource_type,
            id,
            owner,
            deleted: false,
            last_updated: 0,
            row: 0,
            entries: index,
            compartments,
        });
    }
    // Some resources change and some go away, so old index rows (full text included) must go.
    for _ in 0..60 {
        let idx = rng.below(models.len());
        let model = &mut models[idx];
        if model.deleted {
            continue;
        }
        let next_version = 2;
        if rng.chance(30) {
            let mut deletion = version(model.resource_type, &model.id, 3, Instant(0), vec![]);
            deletion.method = Method::Delete;
            deletion.json = Bytes::new();
            deletion.owner = model.owner;
            put(s, deletion).await;
            model.deleted = true;
            model.entries.clear();
            model.compartments.clear();
        } else {
            let index = entries(&mut rng, &patient_ids);
            let mut v = version(
                model.resource_type,
                &model.id,
                next_version,
                Instant(0),
                index.clone(),
            );
            v.owner = model.owner;
            v.compartments = model.compartments.clone();
            put(s, v).await;
            model.entries = index;
        }
    }
    // The oracle needs each resource's time and row as the store recorded them; a search by id
    // with Scope::All gives both.
    for model in &mut models {
        let query = SearchQuery {
            resource_type: model.resource_type,
            types: Vec::new(),
            criteria: vec![Criterion::Param(ParamTest {
                code: "_id",
                test: Test::Id(vec![model.id.clone()]),
            })],
        };
        if model.deleted {
            continue;
        }
        let page = s
            .search(
                &Scope::All,
                R4,
                &query,
                &PageRequest {
                    limit: 5,
                    ..PageRequest::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.hits.len(), 1, "{} is found by id", model.id);
        model.last_updated = page.hits[0].resource.last_updated.0;
        model.row = page.hits[0].position.row;
    }
    let times: Vec<i64> = models
        .iter()
        .filter(|m| !m.deleted)
        .map(|m| m.last_updated)
        .collect();

    let mut n_nonempty = 0;
    let mut n_included = 0;
    for n_query in 0..400 {
        let resource_type = if rng.chance(70) {
            "Observation"
        } else if rng.chance(70) {
            "Patient"
        } else {
            "Resource"
        };
        let types = if resource_type == "Resource" && rng.chance(50) {
            vec![*rng.pick(&["Patient", "Observation"])]
        } else {
            Vec::new()
        };
        let criteria = (0..1 + rng.below(2))
            .map(|_| criterion(&mut rng, &models, &times, 0))
            .collect();
        let query = SearchQuery {
            resource_type,
            types,
            criteria,
        };
        let scope = random_scope(&mut rng);
        let sort = sort_keys(&mut rng);
        let expected: Vec<String> = oracle::search(&models, &scope, &query)
            .into_iter()
            .map(|m| format!("{}/{}", m.resource_type, m.id))
            .collect();
        if !expected.is_empty() {
            n_nonempty += 1;
        }
        let context = format!("query #{n_query} under {scope:?} sorted by {sort:?}:\n{query:#?}");

        let count = s.count(&scope, R4, &query, None).await;
        let count = count.unwrap_or_else(|e| panic!("count failed: {e}\n{context}"));
        assert_eq!(count as usize, expected.len(), "count of {context}");

        let limit = 1 + rng.below(9);
        let mut found: Vec<String> = Vec::new();
        let mut request = PageRequest {
            sort: sort.clone(),
            limit,
            ..PageRequest::default()
        };
        let mut previous: Option<crate::Position> = None;
        loop {
            let page = s.search(&scope, R4, &query, &request).await;
            let page = page.unwrap_or_else(|e| panic!("search failed: {e}\n{context}"));
            request.horizon = Some(page.horizon);
            for hit in &page.hits {
                if let Some(previous) = &previous {
                    let mut order = Ordering::Equal;
                    for (idx, key) in sort.iter().enumerate() {
                        order = compare_values(&previous.keys[idx], &hit.position.keys[idx]);
                        if key.descending {
                            order = order.reverse();
                        }
                        if order != Ordering::Equal {
                            break;
                        }
                    }
                    if order == Ordering::Equal {
                        order = previous.row.cmp(&hit.position.row);
                    }
                    assert_eq!(order, Ordering::Less, "page order of {context}");
                }
                previous = Some(hit.position.clone());
                found.push(format!(
                    "{}/{}",
                    hit.resource.resource_type, hit.resource.id
                ));
            }
            if page.hits.len() < limit {
                break;
            }
            request.after = page.hits.last().map(|hit| hit.position.clone());
        }
        let mut found_sorted = found.clone();
        found_sorted.sort();
        found_sorted.dedup();
        assert_eq!(found_sorted.len(), found.len(), "duplicates in {context}");
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(found_sorted, expected_sorted, "matches of {context}");
        if sort.is_empty() {
            assert_eq!(found, expected, "row order of {context}");
        }

        // Includes from random sources, in scope or not: each alias of the statement (sources,
        // targets) must keep to the scope.
        let sources: Vec<ResourceKey> = models
            .iter()
            .filter(|_| rng.chance(30))
            .map(|m| ResourceKey {
                resource_type: m.resource_type.to_owned(),
                id: m.id.clone(),
            })
            .collect();
        let reverse = rng.chance(50);
        let include = Include {
            source_type: "Observation",
            code: Some("subject"),
            target_type: if rng.chance(30) {
                Some("Patient")
            } else {
                None
            },
            iterate: false,
        };
        let expected: Vec<String> =
            oracle::include_subject(&models, &scope, include.target_type, reverse, &sources)
                .into_iter()
                .map(|m| format!("{}/{}", m.resource_type, m.id))
                .collect();
        let included = s.include(&scope, R4, &include, reverse, &sources).await;
        let included: Vec<String> = included
            .unwrap_or_else(|e| panic!("include failed: {e}\n{context}"))
            .into_iter()
            .map(|r| format!("{}/{}", r.resource_type, r.id))
            .collect();
        n_included += usize::from(!expected.is_empty());
        assert_eq!(
            included, expected,
            "include (reverse: {reverse}) of {sources:?} under {scope:?}"
        );
    }
    assert!(
        n_nonempty > 100,
        "too few queries had matches: {n_nonempty}"
    );
    assert!(
        n_included > 100,
        "too few includes added resources: {n_included}"
    );
}
