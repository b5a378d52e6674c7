//! Isolation in writes: who owns what a principal creates, and what a principal may change.
//!
//! Alice and Bob are users of app 1. A resource the principal cannot see answers as if it did not
//! exist (never overwritten, never duplicated), one it can see but not change (operator data,
//! data shared by a grant) is forbidden, and a new version keeps its resource's owner. Single
//! interactions and Bundle entries follow the same rules.

use std::sync::Arc;

use hale_engine::bundle::{BundleResponse, EntryOutcome};
use hale_engine::{Context, Engine, EngineError, Preconditions, WriteOutcome, WriteStatus};
use hale_fhir::{FhirVersion, ResourceId, ResourceType};
use hale_search::query::{SearchQuery, parse_conditional};
use hale_store::{Grant, Owner, ResourceStore, Scope, StoredResource};
use serde_json::{Value, json};

const R4: FhirVersion = FhirVersion::R4;
const APP: i64 = 1;
const ALICE: i64 = 10;
const BOB: i64 = 11;

/// An engine over a fresh SQLite store in a temporary directory that lives as long as it.
struct Harness {
    engine: Engine,
    store: Arc<dyn ResourceStore>,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let config = hale_store_sqlite::SqliteConfig::new(dir.path().join("hale.db"));
    let store: Arc<dyn ResourceStore> =
        Arc::new(hale_store_sqlite::SqliteStore::open(config).unwrap());
    Harness {
        engine: Engine::new(store.clone()),
        store,
        _dir: dir,
    }
}

fn operator() -> Context {
    Context::open(R4)
}

fn app() -> Context {
    Context::new(R4, Scope::App(APP))
}

fn user(user: i64, grants: Vec<Grant>) -> Context {
    Context::new(
        R4,
        Scope::User {
            app: APP,
            user,
            grants,
        },
    )
}

fn alice() -> Context {
    user(ALICE, Vec::new())
}

fn bob() -> Context {
    user(BOB, Vec::new())
}

/// Alice with Bob's grant of the record of his Patient `b1`.
fn alice_granted_b1() -> Context {
    user(
        ALICE,
        vec![Grant {
            owner: BOB,
            patient: Some("b1".into()),
        }],
    )
}

fn owner(user: i64) -> Option<Owner> {
    Some(Owner {
        app: APP,
        user: Some(user),
    })
}

fn rt(name: &str) -> ResourceType {
    ResourceType::parse(R4, name).unwrap()
}

fn id(id: &str) -> ResourceId {
    ResourceId::parse(id).unwrap()
}

fn patient(id: &str, family: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{"system": "urn:test", "value": id}],
        "name": [{"family": family}],
    })
}

fn observation(id: &str, subject: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"text": "blood pressure"},
        "subject": {"reference": format!("Patient/{subject}")},
    })
}

fn condition(resource_type: &'static str, query: &str) -> SearchQuery {
    parse_conditional(resource_type, query).unwrap()
}

impl Harness {
    async fn put(&self, ctx: &Context, body: Value) -> Result<WriteOutcome, EngineError> {
        let resource_type = rt(body["resourceType"].as_str().unwrap());
        let resource_id = id(body["id"].as_str().unwrap());
        self.engine
            .update(
                ctx,
                resource_type,
                resource_id,
                body,
                Preconditions::default(),
            )
            .await
    }

    async fn patch(&self, ctx: &Context, t: &str, i: &str) -> Result<WriteOutcome, EngineError> {
        let patch = json!([{"op": "add", "path": "/language", "value": "en"}]);
        self.engine
            .patch(ctx, rt(t), id(i), patch, Preconditions::default())
            .await
    }

    async fn delete(&self, ctx: &Context, t: &str, i: &str) -> Result<WriteOutcome, EngineError> {
        self.engine
            .delete(ctx, rt(t), id(i), Preconditions::default())
            .await
    }

    /// The current version as the operator sees it.
    async fn stored(&self, t: &str, i: &str) -> StoredResource {
        self.store
            .read(&Scope::All, R4, t, i)
            .await
            .unwrap()
            .unwrap()
    }

    async fn n_resources(&self) -> u64 {
        let counts = self.store.count_by_type(&Scope::All, R4).await.unwrap();
        counts.iter().map(|(_, n)| n).sum()
    }

    /// Bob's Patients `b1` and `b2` with an Observation each, and the operator's Practitioner.
    async fn with_bobs_records(&self) {
        for body in [
            patient("b1", "Bob"),
            patient("b2", "Bob"),
            observation("b1-obs", "b1"),
            observation("b2-obs", "b2"),
        ] {
            self.put(&bob(), body).await.unwrap();
        }
        let practitioner = json!({"resourceType": "Practitioner", "id": "op", "active": true});
        self.put(&operator(), practitioner).await.unwrap();
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, EngineError>) {
    match result {
        Err(EngineError::NotFound { .. }) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}

#[track_caller]
fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, EngineError>) {
    match result {
        Err(EngineError::Forbidden(_)) => {}
        other => panic!("expected forbidden, got {other:?}"),
    }
}

/// What the operator creates has no owner, an app-wide principal's belongs to the app, a user's
/// to the user; by `POST`, by `PUT` and by conditional update alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_resources_belong_to_their_creator() {
    let h = harness();
    for (ctx, expected) in [
        (operator(), None),
        (
            app(),
            Some(Owner {
                app: APP,
                user: None,
            }),
        ),
        (alice(), owner(ALICE)),
    ] {
        let created = h
            .engine
            .create(
                &ctx,
                rt("Patient"),
                json!({"resourceType": "Patient"}),
                None,
            )
            .await
            .unwrap();
        assert_eq!(created.status, WriteStatus::Created);
        let stored = h.stored("Patient", &created.resource.id).await;
        assert_eq!(stored.owner, expected, "POST under {:?}", ctx.scope);

        let put_id = format!("put-{}", created.resource.id);
        h.put(&ctx, patient(&put_id, "Put")).await.unwrap();
        assert_eq!(h.stored("Patient", &put_id).await.owner, expected);

        let cond_id = format!("cond-{}", created.resource.id);
        let by_update = h
            .engine
            .conditional_update(
                &ctx,
                rt("Patient"),
                condition("Patient", &format!("identifier=urn:test|{cond_id}")),
                json!({"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": cond_id}]}),
                Preconditions::default(),
            )
            .await
            .unwrap();
        assert_eq!(by_update.status, WriteStatus::Created);
        assert_eq!(
            h.stored("Patient", &by_update.resource.id).await.owner,
            expected
        );
    }
}

/// An app-wide principal changes a user's resource, and the new versions stay the user's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_versions_keep_the_owner() {
    let h = harness();
    h.put(&alice(), patient("a1", "Alice")).await.unwrap();
    let updated = h.put(&app(), patient("a1", "Alicia")).await.unwrap();
    assert_eq!(updated.status, WriteStatus::Updated);
    assert_eq!(updated.resource.owner, owner(ALICE));
    h.patch(&app(), "Patient", "a1").await.unwrap();
    assert_eq!(h.stored("Patient", "a1").await.version_id, 3);
    assert_eq!(h.stored("Patient", "a1").await.owner, owner(ALICE));
    h.delete(&app(), "Patient", "a1").await.unwrap();
    // Brought back by the operator, it is still Alice's, and she may change it.
    h.put(&operator(), patient("a1", "Alice")).await.unwrap();
    let stored = h.stored("Patient", "a1").await;
    assert_eq!((stored.version_id, stored.owner), (5, owner(ALICE)));
    h.put(&alice(), patient("a1", "Al")).await.unwrap();
    assert_eq!(h.stored("Patient", "a1").await.version_id, 6);
}

/// Another user's resources answer as if they did not exist: a `PUT` to their id neither
/// overwrites them nor creates a second resource, and no other write reaches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_owners_resources_are_not_found() {
    let h = harness();
    h.with_bobs_records().await;
    let n_before = h.n_resources().await;
    let alice = alice();

    assert_not_found(h.engine.read(&alice, rt("Patient"), &id("b1")).await);
    assert_not_found(h.put(&alice, patient("b1", "Mallory")).await);
    assert_not_found(h.patch(&alice, "Patient", "b1").await);
    assert_not_found(h.delete(&alice, "Patient", "b1").await);
    // A conditional update that names the id in its body is an update of that id.
    let no_match = h
        .engine
        .conditional_update(
            &alice,
            rt("Patient"),
            condition("Patient", "identifier=urn:test|nobody"),
            patient("b1", "Mallory"),
            Preconditions::default(),
        )
        .await;
    assert_not_found(no_match);
    // Bob's resources do not match Alice's conditions.
    let deleted = h
        .engine
        .conditional_delete(&alice, condition("Patient", "identifier=urn:test|b1"))
        .await
        .unwrap();
    assert!(deleted.is_none());

    let stored = h.stored("Patient", "b1").await;
    assert_eq!((stored.version_id, stored.owner), (1, owner(BOB)));
    assert!(!stored.deleted);
    assert_eq!(h.n_resources().await, n_before, "nothing was created");

    // A deleted resource stays its owner's: its id cannot be taken over.
    h.delete(&bob(), "Patient", "b2").await.unwrap();
    assert_not_found(h.put(&alice, patient("b2", "Mallory")).await);
    assert_eq!(h.stored("Patient", "b2").await.owner, owner(BOB));

    // Conditional create matches only what Alice sees, so she gets her own resource.
    let created = h
        .engine
        .create(
            &alice,
            rt("Patient"),
            json!({"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": "b1"}]}),
            Some(condition("Patient", "identifier=urn:test|b1")),
        )
        .await
        .unwrap();
    assert_eq!(created.status, WriteStatus::Created);
    assert_eq!(created.resource.owner, owner(ALICE));
}

/// Operator data and data shared by a grant can be read but not changed, by any write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visible_but_not_writable_is_forbidden() {
    let h = harness();
    h.with_bobs_records().await;
    let practitioner = json!({"resourceType": "Practitioner", "id": "op", "active": false});
    for ctx in [alice(), app()] {
        h.engine
            .read(&ctx, rt("Practitioner"), &id("op"))
            .await
            .unwrap();
        assert_forbidden(h.put(&ctx, practitioner.clone()).await);
        assert_forbidden(h.patch(&ctx, "Practitioner", "op").await);
        assert_forbidden(h.delete(&ctx, "Practitioner", "op").await);
        let by_condition = condition("Practitioner", "_id=op");
        assert_forbidden(
            h.engine
                .conditional_update(
                    &ctx,
                    rt("Practitioner"),
                    by_condition.clone(),
                    practitioner.clone(),
                    Preconditions::default(),
                )
                .await,
        );
        assert_forbidden(h.engine.conditional_delete(&ctx, by_condition).await);
    }

    let granted = alice_granted_b1();
    h.engine
        .read(&granted, rt("Patient"), &id("b1"))
        .await
        .unwrap();
    h.engine
        .read(&granted, rt("Observation"), &id("b1-obs"))
        .await
        .unwrap();
    assert_forbidden(h.put(&granted, patient("b1", "Mallory")).await);
    assert_forbidden(h.patch(&granted, "Observation", "b1-obs").await);
    assert_forbidden(h.delete(&granted, "Observation", "b1-obs").await);
    assert_forbidden(
        h.engine
            .conditional_delete(&granted, condition("Patient", "identifier=urn:test|b1"))
            .await,
    );
    // The grant covers `b1`'s record only.
    assert_not_found(h.engine.read(&granted, rt("Patient"), &id("b2")).await);
    assert_not_found(h.delete(&granted, "Observation", "b2-obs").await);
    // And only reads: if `If-None-Exist` finds the granted Patient, nothing is written.
    let existing = h
        .engine
        .create(
            &granted,
            rt("Patient"),
            json!({"resourceType": "Patient"}),
            Some(condition("Patient", "identifier=urn:test|b1")),
        )
        .await
        .unwrap();
    assert_eq!(existing.status, WriteStatus::Existing);
    assert_eq!(existing.resource.id, "b1");

    for (t, i) in [
        ("Practitioner", "op"),
        ("Patient", "b1"),
        ("Observation", "b1-obs"),
    ] {
        assert_eq!(h.stored(t, i).await.version_id, 1, "{t}/{i} is unchanged");
    }
}

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn entry(method: &str, url: &str, resource: Option<Value>) -> Value {
    let mut entry = json!({"request": {"method": method, "url": url}});
    if let Some(resource) = resource {
        entry["resource"] = resource;
    }
    entry
}

#[track_caller]
fn entry_error(response: &BundleResponse, entry_idx: usize) -> &EngineError {
    match &response.entries[entry_idx] {
        EntryOutcome::Error(e) => e,
        other => panic!("entry {entry_idx} did not fail: {other:?}"),
    }
}

/// Transaction and batch entries follow the rules of single interactions, and conditional
/// references resolve within the principal's scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_entries_follow_the_same_rules() {
    let h = harness();
    h.with_bobs_records().await;
    let n_before = h.n_resources().await;

    let batch = h
        .engine
        .bundle(
            &alice_granted_b1(),
            bundle(
                "batch",
                vec![
                    entry("GET", "Patient/b2", None),
                    entry("GET", "Patient/b1", None),
                    entry("PUT", "Patient/b2", Some(patient("b2", "Mallory"))),
                    entry("PUT", "Patient/b1", Some(patient("b1", "Mallory"))),
                    entry("DELETE", "Practitioner/op", None),
                    entry("DELETE", "Observation?subject=Patient/b1", None),
                ],
            ),
        )
        .await
        .unwrap();
    assert!(matches!(
        entry_error(&batch, 0),
        EngineError::NotFound { .. }
    ));
    assert!(matches!(&batch.entries[1], EntryOutcome::Read(r) if r.id == "b1"));
    assert!(matches!(
        entry_error(&batch, 2),
        EngineError::NotFound { .. }
    ));
    assert!(matches!(entry_error(&batch, 3), EngineError::Forbidden(_)));
    assert!(matches!(entry_error(&batch, 4), EngineError::Forbidden(_)));
    assert!(matches!(entry_error(&batch, 5), EngineError::Forbidden(_)));

    // A transaction that writes a hidden resource fails whole, before or after valid entries.
    let transaction = h
        .engine
        .bundle(
            &alice(),
            bundle(
                "transaction",
                vec![
                    entry("PUT", "Patient/a1", Some(patient("a1", "Alice"))),
                    entry("PUT", "Patient/b2", Some(patient("b2", "Mallory"))),
                ],
            ),
        )
        .await;
    match transaction {
        Err(EngineError::TransactionEntry { source, .. }) => {
            assert!(
                matches!(*source, EngineError::NotFound { .. }),
                "{source:?}"
            );
        }
        other => panic!("the transaction did not fail: {other:?}"),
    }
    assert_eq!(h.n_resources().await, n_before, "nothing was written");

    // A conditional reference to Bob's Patient resolves for the grantee, not for Alice alone.
    let referring = |ctx: &Context| {
        let body = bundle(
            "transaction",
            vec![entry(
                "POST",
                "Observation",
                Some(json!({
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "heart rate"},
                    "subject": {"reference": "Patient?identifier=urn:test|b1"},
                })),
            )],
        );
        let (engine, ctx) = (h.engine.clone(), ctx.clone());
        async move { engine.bundle(&ctx, body).await }
    };
    match referring(&alice()).await {
        Err(EngineError::TransactionEntry { source, .. }) => {
            assert!(
                matches!(*source, EngineError::UnresolvedReference { .. }),
                "{source:?}"
            );
        }
        other => panic!("the reference resolved: {other:?}"),
    }
    let resolved = referring(&alice_granted_b1()).await.unwrap();
    match &resolved.entries[0] {
        EntryOutcome::Write(outcome) => {
            assert_eq!(outcome.resource.owner, owner(ALICE));
            let json: Value = serde_json::from_slice(&outcome.resource.json).unwrap();
            assert_eq!(json["subject"]["reference"], "Patient/b1");
        }
        other => panic!("the entry did not write: {other:?}"),
    }
}
