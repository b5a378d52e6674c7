//! The contract test-suite every backend must pass.
//!
//! Each check takes a fresh, empty store. A backend runs them all with
//! [`store_contract_tests!`](crate::store_contract_tests), giving an async expression that opens a
//! fresh store; the macro writes one `#[tokio::test]` per check. The export job checks (`job_*`)
//! run with [`job_contract_tests!`](crate::job_contract_tests) over a `JobStore`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    missing_docs,
    reason = "test code: a failed expectation should stop the test loudly"
)]

mod jobs;
mod oracle;
mod property;
mod record;
mod scope;
mod search;

pub use jobs::*;
pub use property::search_matches_oracle;
pub use record::*;
pub use scope::*;
pub use search::*;

use std::sync::Arc;

use bytes::Bytes;
use hale_fhir::{FhirVersion, Instant};
use hale_search::index::IndexEntry;
use hale_search::query::{
    Criterion, ParamTest, ReferenceValue, SearchQuery, StringMatch, Test, TokenValue,
};

use crate::{
    HistoryQuery, Method, NewVersion, Owner, ResourceStore, Scope, WriteDecision, write_with,
};

const R4: FhirVersion = FhirVersion::R4;

fn version(
    resource_type: &'static str,
    id: &str,
    version_id: u64,
    last_updated: Instant,
    index: Vec<IndexEntry>,
) -> NewVersion {
    NewVersion {
        fhir_version: R4,
        resource_type,
        id: id.to_owned(),
        version_id,
        last_updated,
        owner: None,
        method: if version_id == 1 {
            Method::Post
        } else {
            Method::Put
        },
        json: Bytes::from(format!(
            r#"{{"resourceType":"{resource_type}","id":"{id}","meta":{{"versionId":"{version_id}"}}}}"#
        )),
        index,
        compartments: Vec::new(),
        known_new: false,
    }
}

fn token(code: &'static str, system: &str, value: &str) -> IndexEntry {
    IndexEntry::Token {
        code,
        system: Some(system.to_owned()),
        value: Some(value.to_owned()),
        text: None,
        of_type: None,
    }
}

async fn put(store: &dyn ResourceStore, v: NewVersion) -> i64 {
    write_with(store, move |tx| {
        let mut v = v;
        v.last_updated = tx.now();
        (WriteDecision::Commit, tx.put(v).unwrap())
    })
    .await
    .unwrap()
}

/// Written versions read back byte for byte; vread finds each version; history is newest first.
pub async fn write_read_vread_history(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let seq1 = put(s, version("Patient", "p1", 1, Instant(0), vec![])).await;
    let seq2 = put(s, version("Patient", "p1", 2, Instant(0), vec![])).await;
    assert!(seq2 > seq1, "sequence numbers increase");
    let current = s
        .read(&Scope::All, R4, "Patient", "p1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.version_id, 2);
    assert_eq!(
        current.json.as_ref(),
        br#"{"resourceType":"Patient","id":"p1","meta":{"versionId":"2"}}"#
    );
    let v1 = s
        .vread(&Scope::All, R4, "Patient", "p1", 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.version_id, 1);
    assert!(
        s.vread(&Scope::All, R4, "Patient", "p1", 3)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.read(&Scope::All, R4, "Patient", "nope")
            .await
            .unwrap()
            .is_none()
    );
    let page = s
        .history(
            &Scope::All,
            &HistoryQuery {
                fhir_version: R4,
                resource_type: Some("Patient".into()),
                id: Some("p1".into()),
                since: None,
                count: 10,
                before_seq: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(
        page.versions
            .iter()
            .map(|v| v.version_id)
            .collect::<Vec<_>>(),
        vec![2, 1]
    );
    let next = s
        .history(
            &Scope::All,
            &HistoryQuery {
                fhir_version: R4,
                resource_type: None,
                id: None,
                since: None,
                count: 1,
                before_seq: Some(page.versions[0].seq),
            },
        )
        .await
        .unwrap();
    assert_eq!(next.versions.len(), 1);
    assert_eq!(next.versions[0].version_id, 1);
}

/// Everything a write closure reads sees what it wrote before, however the store sends its
/// writes: a resource it created, its index rows, a second version replacing the first one's
/// index rows, a purge and a create again under the same id; and a closure writing more rows
/// than a store may batch one way keeps every one of them.
pub async fn closure_reads_its_own_writes(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let npi = |value: &str| SearchQuery {
        types: Vec::new(),
        resource_type: "Practitioner",
        criteria: vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![TokenValue::SystemCode("npi".into(), value.into())],
            },
        })],
    };
    let (q1, q2) = (npi("1"), npi("2"));
    let found = write_with(s, move |tx| {
        let mut seen = Vec::new();
        let ids = |tx: &mut dyn crate::WriteTx, q: &SearchQuery| {
            let found = tx.find(&Scope::All, R4, q, 10).unwrap();
            found.into_iter().map(|r| r.id).collect::<Vec<_>>()
        };
        let mut first = version(
            "Practitioner",
            "a",
            1,
            tx.now(),
            vec![token("identifier", "npi", "1")],
        );
        first.known_new = true;
        tx.put(first).unwrap();
        let current = tx.current(&Scope::All, R4, "Practitioner", "a").unwrap();
        seen.push(format!("current v{}", current.map_or(0, |c| c.version_id)));
        seen.push(format!("npi 1: {:?}", ids(tx, &q1)));
        let second = version(
            "Practitioner",
            "a",
            2,
            tx.now(),
            vec![token("identifier", "npi", "2")],
        );
        tx.put(second).unwrap();
        seen.push(format!(
            "npi 1: {:?}, npi 2: {:?}",
            ids(tx, &q1),
            ids(tx, &q2)
        ));
        tx.purge(R4, "Practitioner", "a").unwrap();
        let gone = tx.current(&Scope::All, R4, "Practitioner", "a").unwrap();
        seen.push(format!(
            "after purge: {:?}, npi 2: {:?}",
            gone.map(|g| g.id),
            ids(tx, &q2)
        ));
        let now = tx.now();
        let again = version(
            "Practitioner",
            "a",
            1,
            now,
            vec![token("identifier", "npi", "1")],
        );
        tx.put(again).unwrap();
        // Enough rows that a store batching its inserts takes its path for many rows.
        for n in 0..1_500 {
            let mut many = version(
                "Practitioner",
                &format!("m{n}"),
                1,
                tx.now(),
                vec![
                    token("identifier", "npi", "many"),
                    token("identifier", "npi", &n.to_string()),
                ],
            );
            many.known_new = true;
            tx.put(many).unwrap();
        }
        let many = tx.find(&Scope::All, R4, &npi("many"), 2_000).unwrap();
        seen.push(format!("many: {}", many.len()));
        (WriteDecision::Commit, seen)
    })
    .await
    .unwrap();
    assert_eq!(
        found,
        [
            "current v1",
            r#"npi 1: ["a"]"#,
            r#"npi 1: [], npi 2: ["a"]"#,
            "after purge: None, npi 2: []",
            "many: 1500",
        ]
    );
    let read = s
        .read(&Scope::All, R4, "Practitioner", "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.version_id, 1,
        "the purge took the first history with it"
    );
    let count = |value: &str| {
        let q = npi(value);
        async move { s.count(&Scope::All, R4, &q, None).await.unwrap() }
    };
    assert_eq!(count("1").await, 2, "a, and m1 (whose own npi is 1)");
    assert_eq!(
        count("2").await,
        1,
        "m2 alone: a's second version was purged"
    );
    assert_eq!(count("many").await, 1_500);
    // As many rows again in a closure that rolls back: none of them stays, however far the
    // store had sent them.
    write_with(s, |tx| {
        for n in 0..1_500 {
            let id = format!("r{n}");
            let mut gone = version(
                "Practitioner",
                &id,
                1,
                tx.now(),
                vec![token("identifier", "npi", "many")],
            );
            gone.known_new = true;
            tx.put(gone).unwrap();
        }
        (WriteDecision::Rollback, ())
    })
    .await
    .unwrap();
    assert_eq!(count("many").await, 1_500, "the rolled back rows are gone");
    assert!(
        s.read(&Scope::All, R4, "Practitioner", "r0")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.read(&Scope::All, R4, "Practitioner", "m1499")
            .await
            .unwrap()
            .unwrap()
            .version_id,
        1
    );
}

/// A closure that decides to roll back leaves no trace, while its neighbours in the same group
/// commit.
pub async fn rollback_leaves_nothing(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let keep = write_with(s, |tx| {
        let v = version(
            "Patient",
            "kept",
            1,
            tx.now(),
            vec![token("identifier", "s", "1")],
        );
        (WriteDecision::Commit, tx.put(v).is_ok())
    });
    let drop = write_with(s, |tx| {
        let v = version(
            "Patient",
            "dropped",
            1,
            tx.now(),
            vec![token("identifier", "s", "2")],
        );
        tx.put(v).unwrap();
        assert!(
            tx.current(&Scope::All, R4, "Patient", "dropped")
                .unwrap()
                .is_some(),
            "a closure sees its own writes"
        );
        (WriteDecision::Rollback, ())
    });
    let (kept, dropped) = futures_join(keep, drop).await;
    assert!(kept.unwrap());
    dropped.unwrap();
    assert!(
        s.read(&Scope::All, R4, "Patient", "kept")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.read(&Scope::All, R4, "Patient", "dropped")
            .await
            .unwrap()
            .is_none()
    );
    let q = SearchQuery {
        types: Vec::new(),
        resource_type: "Patient",
        criteria: vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![TokenValue::Code("2".into())],
            },
        })],
    };
    assert!(s.find(&Scope::All, R4, &q, 10).await.unwrap().is_empty());
}

/// A write that rolled back leaves nothing a later write could trip over: a backend that names
/// parameters by ids it assigns must not keep an id whose assignment rolled back, or another
/// parameter could get the same id and the two would match each other's entries.
pub async fn rolled_back_parameters_leave_no_trace(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let write = |id: &'static str, code: &'static str, decision: WriteDecision| {
        write_with(s, move |tx| {
            let v = version("Patient", id, 1, tx.now(), vec![token(code, "s", id)]);
            tx.put(v).unwrap();
            (decision, ())
        })
    };
    // Alone, and in a group next to a write that commits.
    write("a", "rolled-back", WriteDecision::Rollback)
        .await
        .unwrap();
    let (kept, dropped) = futures_join(
        write("b", "kept", WriteDecision::Commit),
        write("c", "dropped", WriteDecision::Rollback),
    )
    .await;
    kept.unwrap();
    dropped.unwrap();
    for (id, code) in [
        ("d", "other"),
        ("e", "rolled-back"),
        ("f", "dropped"),
        ("g", "new"),
    ] {
        write(id, code, WriteDecision::Commit).await.unwrap();
    }
    for (code, expected) in [
        ("rolled-back", vec!["e"]),
        ("kept", vec!["b"]),
        ("dropped", vec!["f"]),
        ("other", vec!["d"]),
        ("new", vec!["g"]),
    ] {
        let q = SearchQuery::new(
            "Patient",
            vec![Criterion::param(
                code,
                Test::Token {
                    negate: false,
                    values: vec![TokenValue::System("s".into())],
                },
            )],
        );
        let found: Vec<String> = s
            .find(&Scope::All, R4, &q, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(found, expected, "{code}");
        assert_eq!(
            s.count(&Scope::All, R4, &q, None).await.unwrap(),
            expected.len() as u64,
            "{code}"
        );
    }
}

async fn futures_join<A, B>(
    a: impl std::future::Future<Output = A>,
    b: impl std::future::Future<Output = B>,
) -> (A, B) {
    tokio::join!(a, b)
}

/// Many concurrent writers all commit, with distinct sequence numbers.
pub async fn concurrent_writes_all_commit(store: Arc<dyn ResourceStore>) {
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            put(
                store.as_ref(),
                version("Observation", &format!("o{i}"), 1, Instant(0), vec![]),
            )
            .await
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 200);
    let counts = store.count_by_type(&Scope::All, R4).await.unwrap();
    assert_eq!(counts, vec![("Observation".to_owned(), 200)]);
}

/// Conditional lookups match token, reference and string index entries and `_id`, AND across
/// criteria and OR within one.
pub async fn find_by_index(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    put(
        s,
        version(
            "Practitioner",
            "a",
            1,
            Instant(0),
            vec![
                token("identifier", "npi", "111"),
                IndexEntry::String {
                    code: "family",
                    normalized: "muller".into(),
                    exact: "Müller".into(),
                },
            ],
        ),
    )
    .await;
    put(
        s,
        version(
            "Practitioner",
            "b",
            1,
            Instant(0),
            vec![token("identifier", "npi", "222")],
        ),
    )
    .await;
    put(
        s,
        version(
            "Observation",
            "o",
            1,
            Instant(0),
            vec![IndexEntry::Reference {
                code: "subject",
                target_type: Some("Patient".into()),
                target_id: Some("p".into()),
                url: None,
                version: None,
            }],
        ),
    )
    .await;
    let by = |criteria: Vec<Criterion>, rt: &'static str| SearchQuery {
        types: Vec::new(),
        resource_type: rt,
        criteria,
    };
    let ids =
        |found: Vec<crate::StoredResource>| found.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let npi = |v: &str| TokenValue::SystemCode("npi".into(), v.into());
    let q = by(
        vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![npi("111")],
            },
        })],
        "Practitioner",
    );
    assert_eq!(
        ids(s.find(&Scope::All, R4, &q, 10).await.unwrap()),
        vec!["a"]
    );
    let q = by(
        vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![npi("111"), npi("222")],
            },
        })],
        "Practitioner",
    );
    assert_eq!(
        ids(s.find(&Scope::All, R4, &q, 10).await.unwrap()),
        vec!["a", "b"]
    );
    let q = by(
        vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![TokenValue::SystemCode("other".into(), "111".into())],
            },
        })],
        "Practitioner",
    );
    assert!(s.find(&Scope::All, R4, &q, 10).await.unwrap().is_empty());
    let q = by(
        vec![
            Criterion::Param(ParamTest {
                code: "identifier",
                test: Test::Token {
                    negate: false,
                    values: vec![npi("111"), npi("222")],
                },
            }),
            Criterion::Param(ParamTest {
                code: "family",
                test: Test::String {
                    mode: StringMatch::Prefix,
                    values: vec!["mul".into()],
                },
            }),
        ],
        "Practitioner",
    );
    assert_eq!(
        ids(s.find(&Scope::All, R4, &q, 10).await.unwrap()),
        vec!["a"]
    );
    let q = by(
        vec![Criterion::Param(ParamTest {
            code: "_id",
            test: Test::Id(vec!["b".into()]),
        })],
        "Practitioner",
    );
    assert_eq!(
        ids(s.find(&Scope::All, R4, &q, 10).await.unwrap()),
        vec!["b"]
    );
    let q = by(
        vec![Criterion::Param(ParamTest {
            code: "subject",
            test: Test::Reference(vec![ReferenceValue::Local {
                target_type: Some("Patient".into()),
                target_id: "p".into(),
            }]),
        })],
        "Observation",
    );
    assert_eq!(
        ids(s.find(&Scope::All, R4, &q, 10).await.unwrap()),
        vec!["o"]
    );
    let q = by(
        vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![npi("111")],
            },
        })],
        "Patient",
    );
    assert!(
        s.find(&Scope::All, R4, &q, 10).await.unwrap().is_empty(),
        "the resource type is part of the match"
    );
}

/// A deletion is a version: read shows it deleted, its index entries are gone.
pub async fn delete_removes_index_entries(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    put(
        s,
        version(
            "Patient",
            "d",
            1,
            Instant(0),
            vec![token("identifier", "s", "d1")],
        ),
    )
    .await;
    let mut deletion = version("Patient", "d", 2, Instant(0), vec![]);
    deletion.method = Method::Delete;
    deletion.json = Bytes::new();
    put(s, deletion).await;
    let current = s
        .read(&Scope::All, R4, "Patient", "d")
        .await
        .unwrap()
        .unwrap();
    assert!(current.deleted);
    assert_eq!(current.version_id, 2);
    let q = SearchQuery {
        types: Vec::new(),
        resource_type: "Patient",
        criteria: vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![TokenValue::Code("d1".into())],
            },
        })],
    };
    assert!(s.find(&Scope::All, R4, &q, 10).await.unwrap().is_empty());
    assert!(s.count_by_type(&Scope::All, R4).await.unwrap().is_empty());
}

/// The operator's data of some types: its latest write sequence number moves with every
/// create, update and delete of it and with nothing else, and its pages list the current,
/// not deleted versions in write order.
pub async fn operator_data_by_type(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let types = ["Organization", "Endpoint"];
    assert_eq!(s.operator_seq(R4, &types).await.unwrap(), 0);
    let a = put(s, version("Organization", "a", 1, Instant(0), vec![])).await;
    let e = put(s, version("Endpoint", "e", 1, Instant(0), vec![])).await;
    assert_eq!(s.operator_seq(R4, &types).await.unwrap(), e);
    assert_eq!(s.operator_seq(R4, &["Organization"]).await.unwrap(), a);
    // A user's Organization and the operator's other types do not count.
    let mut owned = version("Organization", "u", 1, Instant(0), vec![]);
    owned.owner = Some(Owner {
        app: 1,
        user: Some(2),
    });
    put(s, owned).await;
    put(s, version("Patient", "p", 1, Instant(0), vec![])).await;
    assert_eq!(s.operator_seq(R4, &types).await.unwrap(), e);
    // An update moves it and the page shows the new version.
    let a2 = put(s, version("Organization", "a", 2, Instant(0), vec![])).await;
    let b = put(s, version("Organization", "b", 1, Instant(0), vec![])).await;
    assert_eq!(s.operator_seq(R4, &types).await.unwrap(), b);
    let page = s
        .operator_resources(R4, "Organization", 0, 10)
        .await
        .unwrap();
    let seqs: Vec<i64> = page.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [a2, b]);
    assert!(
        std::str::from_utf8(&page[0].1)
            .unwrap()
            .contains(r#""versionId":"2""#)
    );
    let after = s
        .operator_resources(R4, "Organization", a2, 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(
        s.operator_resources(R4, "Organization", 0, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    // A deletion moves it and leaves the page.
    let mut deletion = version("Organization", "b", 2, Instant(0), vec![]);
    deletion.method = Method::Delete;
    deletion.json = Bytes::new();
    let deleted = put(s, deletion).await;
    assert_eq!(s.operator_seq(R4, &types).await.unwrap(), deleted);
    let page = s
        .operator_resources(R4, "Organization", 0, 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0, a2);
}

/// Another owner's resources are invisible; operator data is visible to all.
pub async fn scope_hides_other_owners(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    let alice = Owner {
        app: 1,
        user: Some(10),
    };
    let bob = Owner {
        app: 1,
        user: Some(11),
    };
    for (id, owner) in [("a", Some(alice)), ("b", Some(bob)), ("op", None)] {
        let mut v = version(
            "Patient",
            id,
            1,
            Instant(0),
            vec![token("identifier", "s", "same")],
        );
        v.owner = owner;
        put(s, v).await;
    }
    let scope = Scope::user(alice);
    assert!(s.read(&scope, R4, "Patient", "a").await.unwrap().is_some());
    assert!(s.read(&scope, R4, "Patient", "b").await.unwrap().is_none());
    assert!(s.read(&scope, R4, "Patient", "op").await.unwrap().is_some());
    let q = SearchQuery {
        types: Vec::new(),
        resource_type: "Patient",
        criteria: vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![TokenValue::Code("same".into())],
            },
        })],
    };
    let found: Vec<String> = s
        .find(&scope, R4, &q, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(found, vec!["a", "op"]);
    assert_eq!(
        s.count_by_type(&scope, R4).await.unwrap(),
        vec![("Patient".to_owned(), 2)]
    );
}

/// `reindex` replaces the index rows and compartments of current resources with what the
/// reindexer computes from their JSON, skips deleted ones, and records the fingerprint; a fresh
/// store already carries this build's fingerprint.
pub async fn reindex_rebuilds_every_current_resource(s: Arc<dyn ResourceStore>) {
    assert_eq!(
        s.index_fingerprint().await.unwrap(),
        Some(hale_search::index::fingerprint()),
        "an empty store's index is current"
    );
    let t0 = Instant(1_700_000_000_000_000);
    put(
        &*s,
        version(
            "Patient",
            "kept",
            1,
            t0,
            vec![token("identifier", "old", "1")],
        ),
    )
    .await;
    put(
        &*s,
        version(
            "Patient",
            "gone",
            1,
            t0,
            vec![token("identifier", "old", "2")],
        ),
    )
    .await;
    let mut deletion = version("Patient", "gone", 2, t0, Vec::new());
    deletion.method = Method::Delete;
    deletion.json = Bytes::new();
    put(&*s, deletion).await;
    // The new rules index every resource under `new` with its id, in its own compartment.
    let reindexer: crate::Reindexer = Arc::new(|resource_type: &str, json: &[u8]| {
        assert_eq!(resource_type, "Patient");
        let value: serde_json::Value = serde_json::from_slice(json).ok()?;
        let id = value["id"].as_str()?.to_owned();
        Some((vec![token("identifier", "new", &id)], vec![id]))
    });
    assert_eq!(s.reindex(reindexer, "test-rules").await.unwrap(), 1);
    assert_eq!(
        s.index_fingerprint().await.unwrap().as_deref(),
        Some("test-rules")
    );
    let by = |system: &str, value: &str| SearchQuery {
        resource_type: "Patient",
        types: Vec::new(),
        criteria: vec![Criterion::Param(ParamTest {
            code: "identifier",
            test: Test::Token {
                negate: false,
                values: vec![TokenValue::SystemCode(system.into(), value.into())],
            },
        })],
    };
    let ids =
        |found: Vec<crate::StoredResource>| found.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert!(
        s.find(&Scope::All, R4, &by("old", "1"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(s
            .find(&Scope::All, R4, &by("new", "kept"), 10)
            .await
            .unwrap()),
        vec!["kept"]
    );
    assert!(
        s.find(&Scope::All, R4, &by("new", "gone"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let in_compartment = SearchQuery {
        resource_type: "Patient",
        types: Vec::new(),
        criteria: vec![Criterion::Compartment {
            patient_id: "kept".into(),
        }],
    };
    assert_eq!(
        ids(s.find(&Scope::All, R4, &in_compartment, 10).await.unwrap()),
        vec!["kept"]
    );
}

/// Writes one test per contract check for a backend. `$open` is an async expression that
/// returns a fresh `Arc<dyn ResourceStore>`.
#[macro_export]
macro_rules! store_contract_tests {
    ($open:expr) => {
        $crate::store_contract_tests!(@each $open;
            write_read_vread_history, closure_reads_its_own_writes, rollback_leaves_nothing, concurrent_writes_all_commit,
            find_by_index, delete_removes_index_entries, operator_data_by_type,
            scope_hides_other_owners,
            scope_app_sees_its_users, scope_grants_per_patient, scope_grants_whole_record,
            search_string, search_token, search_reference, search_date,
            search_id_and_last_updated, search_number_and_quantity, search_uri, search_composite,
            search_text, search_text_words, search_chain, search_has, search_any_and_compartment, search_system,
            search_sort, search_paging, search_include, search_matches_oracle,
            reindex_rebuilds_every_current_resource, rolled_back_parameters_leave_no_trace,
            record_members_in_order, record_keeps_to_the_scope, record_filters, record_erase,
            export_criteria_and_cuts, count_follows_every_write);
    };
    (@each $open:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $open;
                $crate::contract::$name(store).await;
            }
        )*
    };
}
