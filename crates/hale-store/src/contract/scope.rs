//! Isolation checks: what an app's scope and a user's scope with grants see, through every way a
//! store reads (read, vread, history at each level, search, count, chains, `_has`, includes,
//! `count_by_type`, and `current` and `find` inside a write), on one fixture of several owners.
//!
//! In the fixture Bob holds two Patients, `bp1` and `bp2`, and observations about each; Carol and
//! a user of another app (whose user id is Bob's) hold observations in `bp1`'s compartment too;
//! Alice holds her own Patient and observations about Bob's patients; the app itself holds an
//! Organization, and the operator a Practitioner.

use std::sync::Arc;

use hale_fhir::Instant;
use hale_search::index::IndexEntry;
use hale_search::query::{Criterion, Include, SearchQuery, StringMatch, Test, TokenValue};

use super::property::{ALICE, APP, BOB, CAROL, OTHER_APP};
use super::search::{ids, reference};
use super::{R4, put, token, version};
use crate::{
    Grant, HistoryQuery, Owner, ResourceKey, ResourceStore, Scope, WriteDecision, write_with,
};

/// One resource of the fixture.
struct Row {
    resource_type: &'static str,
    id: &'static str,
    owner: Option<Owner>,
    /// The Patient an Observation's `subject` names.
    subject: Option<&'static str>,
}

const fn row(
    resource_type: &'static str,
    id: &'static str,
    owner: Option<Owner>,
    subject: Option<&'static str>,
) -> Row {
    Row {
        resource_type,
        id,
        owner,
        subject,
    }
}

/// The fixture, in creation (row) order.
const FIXTURE: &[Row] = &[
    row("Practitioner", "op-dr", None, None),
    row("Patient", "bp1", Some(BOB), None),
    row("Patient", "bp2", Some(BOB), None),
    row("Patient", "ap", Some(ALICE), None),
    row("Patient", "xp", Some(OTHER_APP), None),
    row("Observation", "bo1", Some(BOB), Some("bp1")),
    row("Observation", "bo2", Some(BOB), Some("bp2")),
    row("Observation", "bo3", Some(BOB), Some("ap")),
    row("Observation", "co1", Some(CAROL), Some("bp1")),
    row("Observation", "ao1", Some(ALICE), Some("bp1")),
    row("Observation", "ao2", Some(ALICE), Some("bp2")),
    row("Observation", "xo", Some(OTHER_APP), Some("bp1")),
    row("Organization", "app-org", Some(APP), None),
    row("Practitioner", "bdr", Some(BOB), None),
];

/// The resource with two versions, so that history counts versions, not resources.
const UPDATED: &str = "bo1";

async fn write_fixture(s: &dyn ResourceStore) {
    for (n_version, row) in FIXTURE.iter().map(|row| (1, row)).chain(
        FIXTURE
            .iter()
            .filter(|r| r.id == UPDATED)
            .map(|row| (2, row)),
    ) {
        let (index, compartments) = match (row.resource_type, row.subject) {
            // A grant names the Patient itself whether or not the store holds it in its own
            // compartment (the engine puts it there), so the fixture leaves that row out.
            ("Patient", _) => (vec![token("identifier", "s", "pid")], Vec::new()),
            ("Observation", Some(subject)) => (
                vec![
                    reference("subject", &format!("Patient/{subject}")),
                    token("code", "s", "bp"),
                ],
                vec![subject.to_owned()],
            ),
            ("Practitioner", _) => (
                vec![IndexEntry::String {
                    code: "name",
                    normalized: "house".into(),
                    exact: "House".into(),
                }],
                Vec::new(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        let mut v = version(row.resource_type, row.id, n_version, Instant(0), index);
        v.owner = row.owner;
        v.compartments = compartments;
        put(s, v).await;
    }
}

fn alice_with(grants: Vec<Grant>) -> Scope {
    Scope::User {
        app: 1,
        user: 10,
        grants,
    }
}

fn grant(grantor: Owner, patient: Option<&str>) -> Grant {
    Grant {
        owner: grantor.user.unwrap(),
        patient: patient.map(str::to_owned),
    }
}

/// Alice, with Bob's grant of `bp1`'s record.
fn alice_bp1() -> Scope {
    alice_with(vec![grant(BOB, Some("bp1"))])
}

fn query(resource_type: &'static str, criteria: Vec<Criterion>) -> SearchQuery {
    SearchQuery::new(resource_type, criteria)
}

fn bp_code() -> Criterion {
    Criterion::param(
        "code",
        Test::Token {
            negate: false,
            values: vec![TokenValue::SystemCode("s".into(), "bp".into())],
        },
    )
}

/// Observations whose subject is a Patient with the fixture's identifier.
fn chain_to_patient() -> SearchQuery {
    query(
        "Observation",
        vec![Criterion::Chain {
            code: "subject",
            target_type: "Patient",
            inner: Box::new(Criterion::param(
                "identifier",
                Test::Token {
                    negate: false,
                    values: vec![TokenValue::Code("pid".into())],
                },
            )),
        }],
    )
}

/// Patients that an Observation with the fixture's code names as subject.
fn has_observation() -> SearchQuery {
    query(
        "Patient",
        vec![Criterion::Has {
            source_type: "Observation",
            code: "subject",
            inner: Box::new(bp_code()),
        }],
    )
}

fn key(resource_type: &str, id: &str) -> ResourceKey {
    ResourceKey {
        resource_type: resource_type.into(),
        id: id.into(),
    }
}

/// `Observation:subject` forward from every Observation of the fixture, or reverse from `bp1`.
async fn include_subject(s: &dyn ResourceStore, scope: &Scope, reverse: bool) -> Vec<String> {
    let include = Include {
        source_type: "Observation",
        code: Some("subject"),
        target_type: None,
        iterate: false,
    };
    let sources: Vec<ResourceKey> = if reverse {
        vec![key("Patient", "bp1")]
    } else {
        FIXTURE
            .iter()
            .filter(|r| r.resource_type == "Observation")
            .map(|r| key(r.resource_type, r.id))
            .collect()
    };
    s.include(scope, R4, &include, reverse, &sources)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn history_ids(
    s: &dyn ResourceStore,
    scope: &Scope,
    resource_type: Option<&str>,
    id: Option<&str>,
) -> (u64, Vec<String>) {
    let page = s
        .history(
            scope,
            &HistoryQuery {
                fhir_version: R4,
                resource_type: resource_type.map(Into::into),
                id: id.map(Into::into),
                since: None,
                count: 100,
                before_seq: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.total as usize,
        page.versions.len(),
        "one page holds the whole history"
    );
    let mut versions: Vec<String> = page
        .versions
        .into_iter()
        .map(|v| format!("{}/{}", v.id, v.version_id))
        .collect();
    versions.sort();
    (page.total, versions)
}

/// Checks that `scope` sees exactly the resources `visible` of the fixture (by id) through every
/// read: read, vread, instance, type and system history, system and type search with their counts
/// (and `find`), `count_by_type`, and `current` and `find` inside a write.
async fn expect_visible(s: &dyn ResourceStore, scope: &Scope, visible: &[&str]) {
    let context = format!("under {scope:?}");
    let seen: Vec<&Row> = FIXTURE.iter().filter(|r| visible.contains(&r.id)).collect();
    assert_eq!(seen.len(), visible.len(), "the fixture has {visible:?}");
    let versions_of = |row: &Row| -> Vec<String> {
        let n_versions = if row.id == UPDATED { 2 } else { 1 };
        (1..=n_versions)
            .map(|v| format!("{}/{v}", row.id))
            .collect()
    };

    for row in FIXTURE {
        let expected = visible.contains(&row.id);
        let what = format!("{}/{} {context}", row.resource_type, row.id);
        let read = s.read(scope, R4, row.resource_type, row.id).await.unwrap();
        assert_eq!(read.is_some(), expected, "read of {what}");
        let vread = s
            .vread(scope, R4, row.resource_type, row.id, 1)
            .await
            .unwrap();
        assert_eq!(vread.is_some(), expected, "vread of {what}");
        let (total, versions) = history_ids(s, scope, Some(row.resource_type), Some(row.id)).await;
        let expected_versions = if expected {
            versions_of(row)
        } else {
            Vec::new()
        };
        assert_eq!(versions, expected_versions, "instance history of {what}");
        assert_eq!(total as usize, expected_versions.len());
    }

    let mut observation_versions: Vec<String> = seen
        .iter()
        .filter(|r| r.resource_type == "Observation")
        .flat_map(|r| versions_of(r))
        .collect();
    observation_versions.sort();
    let (_, versions) = history_ids(s, scope, Some("Observation"), None).await;
    assert_eq!(versions, observation_versions, "type history {context}");
    let mut all_versions: Vec<String> = seen.iter().flat_map(|r| versions_of(r)).collect();
    all_versions.sort();
    let (_, versions) = history_ids(s, scope, None, None).await;
    assert_eq!(versions, all_versions, "system history {context}");

    assert_eq!(
        ids(s, scope, &query("Resource", Vec::new())).await,
        visible,
        "system search {context}"
    );
    let observations: Vec<&str> = seen
        .iter()
        .filter(|r| r.resource_type == "Observation")
        .map(|r| r.id)
        .collect();
    assert_eq!(
        ids(s, scope, &query("Observation", vec![bp_code()])).await,
        observations,
        "search by code {context}"
    );
    assert_eq!(
        ids(s, scope, &query("Observation", Vec::new())).await,
        observations,
        "search of a type {context}"
    );

    let mut by_type: Vec<(String, u64)> = Vec::new();
    for row in &seen {
        match by_type.iter_mut().find(|(t, _)| t == row.resource_type) {
            Some((_, n)) => *n += 1,
            None => by_type.push((row.resource_type.to_owned(), 1)),
        }
    }
    by_type.sort();
    assert_eq!(
        s.count_by_type(scope, R4).await.unwrap(),
        by_type,
        "count_by_type {context}"
    );

    // Inside a write, as conditional interactions and the engine's access checks see it.
    let in_write = {
        let scope = scope.clone();
        write_with(s, move |tx| {
            let current: Vec<&'static str> = FIXTURE
                .iter()
                .filter(|row| {
                    tx.current(&scope, R4, row.resource_type, row.id)
                        .unwrap()
                        .is_some()
                })
                .map(|row| row.id)
                .collect();
            let found: Vec<String> = tx
                .find(&scope, R4, &query("Observation", vec![bp_code()]), 100)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            (WriteDecision::Rollback, (current, found))
        })
        .await
        .unwrap()
    };
    assert_eq!(in_write.0, visible, "current inside a write {context}");
    assert_eq!(in_write.1, observations, "find inside a write {context}");
}

/// An app's scope sees operator data, everything of its users and what the app itself owns, and
/// nothing of another app, whose user ids may be the same numbers.
pub async fn scope_app_sees_its_users(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    write_fixture(s).await;
    let app1 = Scope::App(1);
    expect_visible(
        s,
        &app1,
        &[
            "op-dr", "bp1", "bp2", "ap", "bo1", "bo2", "bo3", "co1", "ao1", "ao2", "app-org", "bdr",
        ],
    )
    .await;
    let app2 = Scope::App(2);
    expect_visible(s, &app2, &["op-dr", "xp", "xo"]).await;
    expect_visible(s, &Scope::App(99), &["op-dr"]).await;
    let everything: Vec<&str> = FIXTURE.iter().map(|r| r.id).collect();
    expect_visible(s, &Scope::All, &everything).await;

    assert_eq!(
        ids(s, &app1, &chain_to_patient()).await,
        ["bo1", "bo2", "bo3", "co1", "ao1", "ao2"]
    );
    // The other app's observation names a Patient of app 1.
    assert!(ids(s, &app2, &chain_to_patient()).await.is_empty());
    assert_eq!(
        ids(s, &app1, &has_observation()).await,
        ["bp1", "bp2", "ap"]
    );
    assert!(ids(s, &app2, &has_observation()).await.is_empty());
    assert_eq!(include_subject(s, &app1, false).await, ["bp1", "bp2", "ap"]);
    assert!(include_subject(s, &app2, false).await.is_empty());
    assert_eq!(include_subject(s, &app1, true).await, ["bo1", "co1", "ao1"]);
    assert_eq!(include_subject(s, &app2, true).await, ["xo"]);
}

/// A grant of one Patient's record shows the grantor's Patient and the grantor's resources in its
/// compartment: not the grantor's other patients or their data, not another user's resources in
/// the same compartment, not another app's user with the grantor's user id; and the same
/// through chains, `_has` and includes.
pub async fn scope_grants_per_patient(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    write_fixture(s).await;
    let alice = Scope::user(ALICE);
    expect_visible(s, &alice, &["op-dr", "ap", "ao1", "ao2"]).await;
    let alice_bp1 = alice_bp1();
    expect_visible(s, &alice_bp1, &["op-dr", "bp1", "ap", "bo1", "ao1", "ao2"]).await;
    // Carol's grant of `bp1` shares Carol's resources in that compartment, not Bob's Patient.
    let alice_carol_bp1 = alice_with(vec![grant(CAROL, Some("bp1"))]);
    expect_visible(s, &alice_carol_bp1, &["op-dr", "ap", "co1", "ao1", "ao2"]).await;
    // Two grants of the grantor, and one of a Patient the grantor does not hold.
    let alice_both = alice_with(vec![
        grant(BOB, Some("bp1")),
        grant(BOB, Some("bp2")),
        grant(BOB, Some("nobody")),
        grant(BOB, Some("bp1")),
    ]);
    expect_visible(
        s,
        &alice_both,
        &["op-dr", "bp1", "bp2", "ap", "bo1", "bo2", "ao1", "ao2"],
    )
    .await;

    // A chain through the granted Patient matches; through the other one it does not.
    assert!(ids(s, &alice, &chain_to_patient()).await.is_empty());
    assert_eq!(
        ids(s, &alice_bp1, &chain_to_patient()).await,
        ["bo1", "ao1"]
    );
    assert_eq!(
        ids(s, &alice_carol_bp1, &chain_to_patient()).await,
        Vec::<String>::new(),
        "Carol's grant does not show Bob's Patient"
    );
    let by_name = query(
        "Observation",
        vec![Criterion::Chain {
            code: "subject",
            target_type: "Patient",
            inner: Box::new(Criterion::param("_id", Test::Id(vec!["bp2".into()]))),
        }],
    );
    assert!(ids(s, &alice_bp1, &by_name).await.is_empty());
    assert_eq!(ids(s, &alice_both, &by_name).await, ["bo2", "ao2"]);

    // `_has` counts only referring resources in scope: Bob's observation of Alice's Patient is
    // outside `bp1`'s record.
    assert!(ids(s, &alice, &has_observation()).await.is_empty());
    assert_eq!(ids(s, &alice_bp1, &has_observation()).await, ["bp1"]);
    assert!(
        ids(s, &alice_carol_bp1, &has_observation())
            .await
            .is_empty()
    );

    // Includes reach granted targets only, and start from sources in scope only.
    assert!(include_subject(s, &alice, false).await.is_empty());
    assert_eq!(include_subject(s, &alice_bp1, false).await, ["bp1"]);
    assert!(include_subject(s, &alice_carol_bp1, false).await.is_empty());
    assert_eq!(include_subject(s, &alice, true).await, ["ao1"]);
    assert_eq!(include_subject(s, &alice_bp1, true).await, ["bo1", "ao1"]);
    assert_eq!(
        include_subject(s, &alice_carol_bp1, true).await,
        ["co1", "ao1"]
    );

    // A resource that leaves the compartment leaves the grant with it.
    let mut moved = version(
        "Observation",
        "bo1",
        3,
        Instant(0),
        vec![
            reference("subject", "Patient/bp2"),
            token("code", "s", "bp"),
        ],
    );
    moved.owner = Some(BOB);
    moved.compartments = vec!["bp2".into()];
    put(s, moved).await;
    assert!(
        s.read(&alice_bp1, R4, "Observation", "bo1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.read(&alice_both, R4, "Observation", "bo1")
            .await
            .unwrap()
            .is_some()
    );
}

/// A grant without a Patient shows everything the grantor owns in the app, and nothing more.
pub async fn scope_grants_whole_record(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    write_fixture(s).await;
    let alice_bob = alice_with(vec![grant(BOB, None)]);
    let bobs_and_alices = [
        "op-dr", "bp1", "bp2", "ap", "bo1", "bo2", "bo3", "ao1", "ao2", "bdr",
    ];
    expect_visible(s, &alice_bob, &bobs_and_alices).await;
    // A per-patient grant next to a whole-record grant of the same grantor adds nothing.
    let alice_bob_twice = alice_with(vec![grant(BOB, Some("bp1")), grant(BOB, None)]);
    expect_visible(s, &alice_bob_twice, &bobs_and_alices).await;
    // Grants from two users.
    let alice_bob_carol = alice_with(vec![grant(BOB, None), grant(CAROL, Some("bp1"))]);
    expect_visible(
        s,
        &alice_bob_carol,
        &[
            "op-dr", "bp1", "bp2", "ap", "bo1", "bo2", "bo3", "co1", "ao1", "ao2", "bdr",
        ],
    )
    .await;
    // A grantor's user id names a user of the grantee's own app: user 10 of app 2, granted by
    // user 11 of app 2, sees the other app's data and none of Bob's.
    let other_app = Scope::User {
        app: 2,
        user: 10,
        grants: vec![grant(BOB, None)],
    };
    expect_visible(s, &other_app, &["op-dr", "xp", "xo"]).await;

    assert_eq!(
        ids(s, &alice_bob, &chain_to_patient()).await,
        ["bo1", "bo2", "bo3", "ao1", "ao2"]
    );
    assert_eq!(
        ids(s, &alice_bob, &has_observation()).await,
        ["bp1", "bp2", "ap"]
    );
    assert_eq!(
        include_subject(s, &alice_bob, false).await,
        ["bp1", "bp2", "ap"]
    );
    assert_eq!(include_subject(s, &alice_bob, true).await, ["bo1", "ao1"]);
    let practitioners = query(
        "Practitioner",
        vec![Criterion::param(
            "name",
            Test::String {
                mode: StringMatch::Prefix,
                values: vec!["hou".into()],
            },
        )],
    );
    assert_eq!(ids(s, &alice_bob, &practitioners).await, ["op-dr", "bdr"]);
    assert_eq!(ids(s, &alice_bp1(), &practitioners).await, ["op-dr"]);
}

/// A search without criteria counts what it finds, in every scope, through creates, an update
/// that moves a resource to another owner, a deletion and a re-creation, two versions in one
/// transaction, a purge and a rollback; and a count bounded by a horizon leaves out what came
/// after it. (PostgreSQL keeps these counts apart from the rows.)
pub async fn count_follows_every_write(store: Arc<dyn ResourceStore>) {
    fn owned(
        resource_type: &'static str,
        id: &str,
        version_id: u64,
        owner: Option<Owner>,
    ) -> crate::NewVersion {
        let mut v = version(resource_type, id, version_id, Instant(0), vec![]);
        v.owner = owner;
        v
    }
    fn deletion(
        resource_type: &'static str,
        id: &str,
        version_id: u64,
        owner: Option<Owner>,
    ) -> crate::NewVersion {
        let mut v = owned(resource_type, id, version_id, owner);
        v.method = crate::Method::Delete;
        v.json = bytes::Bytes::new();
        v
    }
    let s = store.as_ref();
    put(s, owned("Patient", "a1", 1, Some(ALICE))).await;
    put(s, owned("Patient", "a2", 1, Some(ALICE))).await;
    put(s, owned("Patient", "b1", 1, Some(BOB))).await;
    put(s, owned("Patient", "app", 1, Some(APP))).await;
    put(s, owned("Patient", "x", 1, Some(OTHER_APP))).await;
    put(s, owned("Organization", "op", 1, None)).await;
    expect_counts(s, "after the creates").await;

    put(s, owned("Patient", "a2", 2, Some(BOB))).await;
    expect_counts(s, "after a2 moved to Bob").await;
    put(s, deletion("Patient", "a1", 2, Some(ALICE))).await;
    put(s, deletion("Organization", "op", 2, None)).await;
    expect_counts(s, "after the deletions").await;
    put(s, owned("Patient", "a1", 3, Some(ALICE))).await;
    expect_counts(s, "after a1 came back").await;

    write_with(s, |tx| {
        tx.put(owned("Patient", "t", 1, Some(ALICE))).unwrap();
        tx.put(owned("Patient", "t", 2, Some(APP))).unwrap();
        tx.put(deletion("Patient", "b1", 2, Some(BOB))).unwrap();
        tx.put(owned("Patient", "b1", 3, Some(BOB))).unwrap();
        (WriteDecision::Commit, ())
    })
    .await
    .unwrap();
    expect_counts(s, "after two versions in one transaction").await;
    write_with(s, |tx| {
        tx.purge(R4, "Patient", "a2").unwrap();
        tx.put(owned("Patient", "gone", 1, Some(ALICE))).unwrap();
        (WriteDecision::Rollback, ())
    })
    .await
    .unwrap();
    expect_counts(s, "after a rollback").await;
    write_with(s, |tx| {
        tx.purge(R4, "Patient", "a2").unwrap();
        (WriteDecision::Commit, ())
    })
    .await
    .unwrap();
    expect_counts(s, "after a purge").await;

    let patients = query("Patient", vec![]);
    let alice = alice_with(vec![]);
    let horizon = s.horizon().await.unwrap();
    put(s, owned("Patient", "late", 1, Some(ALICE))).await;
    let before = s.count(&alice, R4, &patients, Some(horizon)).await.unwrap();
    let now = s.count(&alice, R4, &patients, None).await.unwrap();
    assert_eq!(
        (before, now),
        (1, 2),
        "Alice's Patients up to the horizon and now"
    );
    assert_eq!(
        s.count(&Scope::All, R4, &patients, Some(horizon))
            .await
            .unwrap(),
        5
    );
    expect_counts(s, "after a resource beyond the horizon").await;
}

/// Checks that every count without criteria, in every scope, is what `find` finds.
async fn expect_counts(s: &dyn ResourceStore, context: &str) {
    let scopes = [
        Scope::All,
        Scope::App(1),
        Scope::App(2),
        alice_with(vec![]),
        Scope::User {
            app: 1,
            user: 11,
            grants: vec![],
        },
    ];
    let mut of_types = query("Resource", vec![]);
    of_types.types = vec!["Patient", "Organization"];
    let queries = [
        query("Patient", vec![]),
        query("Organization", vec![]),
        query("Resource", vec![]),
        of_types,
    ];
    for scope in &scopes {
        for q in &queries {
            let found = s.find(scope, R4, q, 1000).await.unwrap().len() as u64;
            let counted = s.count(scope, R4, q, None).await.unwrap();
            assert_eq!(
                counted, found,
                "{} of {:?} in {scope:?} {context}",
                q.resource_type, q.types
            );
        }
    }
}
