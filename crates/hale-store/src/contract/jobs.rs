//! The contract of [`JobStore`]: creation and the per-app limit, isolation by principal,
//! claiming (once each, oldest first, stale jobs again), the worker's hold on its job,
//! cancellation and expiry. A backend runs them with
//! [`job_contract_tests!`](crate::job_contract_tests). Times are chosen by the checks (the store
//! is given `now` by its caller), so staleness and expiry are tested without waiting.

use std::collections::BTreeSet;
use std::sync::Arc;

use hale_fhir::{FhirVersion, Instant};

use crate::jobs::{Created, ExportJob, JobOwner, JobState, JobStore, NewJob};
use crate::{Grant, Scope};

/// When the checks' jobs are created, in microseconds.
const T0: i64 = 1_000_000_000;

fn owner(principal: &str, app: Option<i64>) -> JobOwner {
    JobOwner {
        principal: principal.to_owned(),
        app,
    }
}

fn new_job(id: &str, owner: JobOwner, created: i64) -> NewJob {
    NewJob {
        id: id.to_owned(),
        owner,
        fhir_version: FhirVersion::R4,
        scope: Scope::App(1),
        request: format!("http://hale.test/bulk-data/r4/$export?job={id}"),
        params: format!(r#"{{"id":"{id}"}}"#),
        transaction_time: Instant(created - 1),
        created: Instant(created),
    }
}

async fn create(store: &dyn JobStore, job: NewJob) -> ExportJob {
    match store.create_job(job, 10).await.unwrap() {
        Created::Queued(job) => *job,
        Created::LimitReached { active } => panic!("refused with {active} active jobs"),
    }
}

/// A created job reads back whole, under its principal only.
pub async fn job_reads_back_under_its_principal(store: Arc<dyn JobStore>) {
    let s = store.as_ref();
    let scope = Scope::User {
        app: 1,
        user: 10,
        grants: vec![
            Grant {
                owner: 11,
                patient: Some("p1".into()),
            },
            Grant {
                owner: 12,
                patient: None,
            },
        ],
    };
    let mut new = new_job("a1", owner("user:1:10", Some(1)), T0);
    new.scope = scope.clone();
    let created = create(s, new).await;
    assert_eq!(created.state, JobState::Queued);
    assert_eq!(created.attempts, 0);
    let read = s.job("a1", "user:1:10").await.unwrap().unwrap();
    assert_eq!(read, created);
    assert_eq!(read.scope, scope);
    assert_eq!(read.owner, owner("user:1:10", Some(1)));
    assert_eq!(read.fhir_version, FhirVersion::R4);
    assert_eq!(read.request, "http://hale.test/bulk-data/r4/$export?job=a1");
    assert_eq!(read.params, r#"{"id":"a1"}"#);
    assert_eq!(read.transaction_time, Instant(T0 - 1));
    assert_eq!(read.created, Instant(T0));
    assert_eq!(
        (read.progress, read.expires, read.output, read.error),
        (None, None, None, None)
    );
    // Another user of the same app, the app itself and the operator do not see it.
    for other in ["user:1:11", "app:1", "all"] {
        assert!(s.job("a1", other).await.unwrap().is_none(), "{other}");
    }
    assert!(s.job("nope", "user:1:10").await.unwrap().is_none());
}

/// An app may have `jobs_per_app` jobs queued or running; finished ones leave room, other apps
/// and the operator have allowances of their own.
pub async fn job_limit_is_per_app(store: Arc<dyn JobStore>) {
    let s = store.as_ref();
    for (idx, principal) in ["user:1:10", "user:1:11"].into_iter().enumerate() {
        let job = new_job(
            &format!("l{idx}"),
            owner(principal, Some(1)),
            T0 + idx as i64,
        );
        assert!(matches!(
            s.create_job(job, 2).await.unwrap(),
            Created::Queued(_)
        ));
    }
    let refused = new_job("l2", owner("app:1", Some(1)), T0 + 2);
    assert_eq!(
        s.create_job(refused, 2).await.unwrap(),
        Created::LimitReached { active: 2 }
    );
    assert!(s.job("l2", "app:1").await.unwrap().is_none());
    for (id, app, principal) in [("m0", Some(2), "app:2"), ("o0", None, "all")] {
        assert!(matches!(
            s.create_job(new_job(id, owner(principal, app), T0 + 3), 2)
                .await
                .unwrap(),
            Created::Queued(_)
        ));
    }
    // Completing one of app 1's jobs leaves room for another.
    let claimed = s
        .claim_job("w", Instant(T0 + 10), Instant(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, "l0");
    assert!(
        s.complete_job("l0", "w", "[]", "[]", Instant(T0 + 1_000))
            .await
            .unwrap()
    );
    let again = new_job("l3", owner("app:1", Some(1)), T0 + 11);
    assert!(matches!(
        s.create_job(again, 2).await.unwrap(),
        Created::Queued(_)
    ));
}

/// Racing kick-offs of one app never pass its limit together.
pub async fn job_limit_holds_under_racing_creates(store: Arc<dyn JobStore>) {
    let creates = (0..12).map(|idx| {
        let store = store.clone();
        tokio::spawn(async move {
            let job = new_job(&format!("r{idx}"), owner("app:5", Some(5)), T0 + idx);
            store.create_job(job, 3).await.unwrap()
        })
    });
    let handles: Vec<_> = creates.collect();
    let mut queued = 0;
    for handle in handles {
        if let Created::Queued(_) = handle.await.unwrap() {
            queued += 1;
        }
    }
    assert_eq!(queued, 3);
}

/// Claims take queued jobs oldest first, each once, and say so on the job.
pub async fn job_claims_are_oldest_first_and_once(store: Arc<dyn JobStore>) {
    let s = store.as_ref();
    for idx in 0..3 {
        create(s, new_job(&format!("c{idx}"), owner("all", None), T0 + idx)).await;
    }
    let now = Instant(T0 + 100);
    let first = s.claim_job("w1", now, Instant(0)).await.unwrap().unwrap();
    assert_eq!(first.id, "c0");
    assert_eq!(first.state, JobState::Running);
    assert_eq!(first.claimed_by.as_deref(), Some("w1"));
    assert_eq!(first.heartbeat, Some(now));
    assert_eq!(first.attempts, 1);
    assert_eq!(s.job("c0", "all").await.unwrap().unwrap(), first);

    // Concurrent claims share out the rest, one job each.
    let claims = (0..6).map(|idx| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_job(&format!("racer{idx}"), now, Instant(0))
                .await
                .unwrap()
                .map(|job| job.id)
        })
    });
    let handles: Vec<_> = claims.collect();
    let mut taken = Vec::new();
    for handle in handles {
        taken.extend(handle.await.unwrap());
    }
    taken.sort();
    assert_eq!(taken, vec!["c1".to_owned(), "c2".to_owned()]);
    assert!(s.claim_job("w2", now, Instant(0)).await.unwrap().is_none());
}

/// A running job whose heartbeat is older than the caller's stale limit is claimed again, and
/// the worker that lost it can no longer touch it.
pub async fn job_stale_running_job_is_claimed_again(store: Arc<dyn JobStore>) {
    let s = store.as_ref();
    create(s, new_job("s1", owner("all", None), T0)).await;
    let first = s
        .claim_job("w1", Instant(T0 + 10), Instant(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.attempts, 1);
    // Alive: its heartbeat is not before the limit.
    assert!(
        s.claim_job("w2", Instant(T0 + 15), Instant(T0 + 10))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.heartbeat_job("s1", "w1", Instant(T0 + 20), Some("3 of 9 types"))
            .await
            .unwrap()
    );
    let seen = s.job("s1", "all").await.unwrap().unwrap();
    assert_eq!(seen.progress.as_deref(), Some("3 of 9 types"));
    assert_eq!(seen.heartbeat, Some(Instant(T0 + 20)));
    // A heartbeat without progress keeps the last progress.
    assert!(
        s.heartbeat_job("s1", "w1", Instant(T0 + 25), None)
            .await
            .unwrap()
    );
    assert_eq!(
        s.job("s1", "all")
            .await
            .unwrap()
            .unwrap()
            .progress
            .as_deref(),
        Some("3 of 9 types")
    );
    // Dead: taken over.
    let second = s
        .claim_job("w2", Instant(T0 + 100), Instant(T0 + 50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.id, "s1");
    assert_eq!(second.attempts, 2);
    assert_eq!(second.claimed_by.as_deref(), Some("w2"));
    assert!(
        !s.heartbeat_job("s1", "w1", Instant(T0 + 101), None)
            .await
            .unwrap()
    );
    assert!(
        !s.complete_job("s1", "w1", "[]", "[]", Instant(T0 + 1_000))
            .await
            .unwrap()
    );
    assert!(
        !s.fail_job("s1", "w1", "{}", Instant(T0 + 1_000))
            .await
            .unwrap()
    );
    assert!(!s.release_job("s1", "w1", true).await.unwrap());
    assert_eq!(
        s.job("s1", "all").await.unwrap().unwrap().state,
        JobState::Running
    );
    assert!(
        s.complete_job("s1", "w2", r#"[{"n":1}]"#, "[]", Instant(T0 + 1_000))
            .await
            .unwrap()
    );
    let done = s.job("s1", "all").await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Complete);
    assert_eq!(done.output.as_deref(), Some(r#"[{"n":1}]"#));
    assert_eq!(done.error.as_deref(), Some("[]"));
    assert_eq!(done.expires, Some(Instant(T0 + 1_000)));
    // A complete job is never claimed, however old its heartbeat.
    assert!(
        s.claim_job("w3", Instant(i64::MAX - 1), Instant(i64::MAX - 1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !s.heartbeat_job("s1", "w2", Instant(T0 + 200), None)
            .await
            .unwrap()
    );
}

/// A failed job keeps its outcome; a released job is queued again for any worker.
pub async fn job_fail_and_release(store: Arc<dyn JobStore>) {
    let s = store.as_ref();
    create(s, new_job("f1", owner("all", None), T0)).await;
    create(s, new_job("f2", owner("all", None), T0 + 1)).await;
    let now = Instant(T0 + 10);
    let f1 = s.claim_job("w1", now, Instant(0)).await.unwrap().unwrap();
    assert_eq!(f1.id, "f1");
    assert!(
        s.fail_job("f1", "w1", r#"{"issue":[]}"#, Instant(T0 + 500))
            .await
            .unwrap()
    );
    let failed = s.job("f1", "all").await.unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some(r#"{"issue":[]}"#));
    assert_eq!(failed.expires, Some(Instant(T0 + 500)));

    let f2 = s.claim_job("w1", now, Instant(0)).await.unwrap().unwrap();
    assert_eq!(f2.id, "f2");
    assert!(s.release_job("f2", "w1", true).await.unwrap());
    let released = s.job("f2", "all").await.unwrap().unwrap();
    assert_eq!(released.state, JobState::Queued);
    assert_eq!(released.claimed_by, None);
    let again = s.claim_job("w2", now, Instant(0)).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), ("f2", 2));
    // An interrupted attempt (its worker stopping) does not count.
    assert!(!s.release_job("f2", "w1", false).await.unwrap());
    assert!(s.release_job("f2", "w2", false).await.unwrap());
    let again = s.claim_job("w3", now, Instant(0)).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), ("f2", 2));
}

/// Cancelling hides the job from its principal at once, stops its worker, and makes it expire;
/// another principal cannot cancel it.
pub async fn job_cancel_hides_stops_and_expires(store: Arc<dyn JobStore>) {
    let s = store.as_ref();
    create(s, new_job("x1", owner("app:1", Some(1)), T0)).await;
    create(s, new_job("x2", owner("app:1", Some(1)), T0 + 1)).await;
    s.claim_job("w1", Instant(T0 + 10), Instant(0))
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.cancel_job("x1", "app:2", Instant(T0 + 20))
            .await
            .unwrap()
            .is_none()
    );
    let cancelled = s
        .cancel_job("x1", "app:1", Instant(T0 + 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.id, "x1");
    assert_eq!(cancelled.state, JobState::Running);
    assert!(s.job("x1", "app:1").await.unwrap().is_none());
    assert!(
        s.cancel_job("x1", "app:1", Instant(T0 + 21))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !s.heartbeat_job("x1", "w1", Instant(T0 + 22), None)
            .await
            .unwrap()
    );
    assert!(
        !s.complete_job("x1", "w1", "[]", "[]", Instant(T0 + 1_000))
            .await
            .unwrap()
    );
    // A queued job is cancelled too, and no worker takes it after.
    assert!(
        s.cancel_job("x2", "app:1", Instant(T0 + 30))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.claim_job("w2", Instant(T0 + 40), Instant(T0 + 40))
            .await
            .unwrap()
            .is_none()
    );
    // Cancelled jobs no longer count against the app's limit.
    assert!(matches!(
        s.create_job(new_job("x3", owner("app:1", Some(1)), T0 + 50), 1)
            .await
            .unwrap(),
        Created::Queued(_)
    ));
    let expired: Vec<String> = s
        .expired_jobs(Instant(T0 + 30), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.id)
        .collect();
    assert_eq!(expired, vec!["x1".to_owned(), "x2".to_owned()]);
}

/// Jobs expire at their `expires`, oldest first, a bounded number at a time, and deleting one
/// removes it for good.
pub async fn job_expiry_and_delete(store: Arc<dyn JobStore>) {
    let s = store.as_ref();
    for (idx, expires) in [300, 100, 200].into_iter().enumerate() {
        let id = format!("e{idx}");
        create(s, new_job(&id, owner("all", None), T0 + idx as i64)).await;
        let job = s
            .claim_job("w", Instant(T0 + 10), Instant(0))
            .await
            .unwrap()
            .unwrap();
        assert!(
            s.complete_job(&job.id, "w", "[]", "[]", Instant(T0 + expires))
                .await
                .unwrap()
        );
    }
    create(s, new_job("queued", owner("all", None), T0 + 5)).await;
    let ids = |jobs: Vec<ExportJob>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert!(
        s.expired_jobs(Instant(T0 + 99), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(s.expired_jobs(Instant(T0 + 200), 10).await.unwrap()),
        vec!["e1", "e2"]
    );
    assert_eq!(
        ids(s.expired_jobs(Instant(i64::MAX), 2).await.unwrap()),
        vec!["e1", "e2"]
    );
    assert!(s.delete_job("e1").await.unwrap());
    assert!(!s.delete_job("e1").await.unwrap());
    assert!(s.job("e1", "all").await.unwrap().is_none());
    let left: BTreeSet<String> = ids(s.expired_jobs(Instant(i64::MAX), 10).await.unwrap())
        .into_iter()
        .collect();
    assert_eq!(left, ["e0", "e2"].into_iter().map(str::to_owned).collect());
    assert!(s.job("queued", "all").await.unwrap().is_some());
}

/// Writes one test per job contract check for a backend. `$open` is an async expression that
/// returns a fresh `Arc<dyn JobStore>`.
#[macro_export]
macro_rules! job_contract_tests {
    ($open:expr) => {
        $crate::job_contract_tests!(@each $open;
            job_reads_back_under_its_principal, job_limit_is_per_app,
            job_limit_holds_under_racing_creates, job_claims_are_oldest_first_and_once,
            job_stale_running_job_is_claimed_again, job_fail_and_release,
            job_cancel_hides_stops_and_expires, job_expiry_and_delete);
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
