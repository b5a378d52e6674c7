//! [`JobStore`] for PostgreSQL: export jobs in the `export_job` table of
//! `migrations/0002_identity_jobs.sql`, shared by every process on the database.
//!
//! The SQLite store serialises every change on its one writer. Here workers in many processes
//! claim at once, so each step holds by itself, inside the database:
//!
//! - A claim is one `UPDATE` of the row a subquery picks with `FOR UPDATE SKIP LOCKED`: the
//!   oldest job that is queued, or running with a stale heartbeat. A row another claim has
//!   locked is skipped rather than waited for, and one that a claim committed meanwhile is
//!   checked again against the condition (PostgreSQL rereads a locked row's newest version under
//!   `READ COMMITTED`), so no two claims take the same job and none blocks on another.
//! - Every change a worker makes names the worker (`claimed_by`) and `state = 'running'` in its
//!   `WHERE`, so it changes the job only while the worker still holds it; a cancellation or a
//!   takeover in between makes it change nothing.
//! - Creating a job counts the app's active jobs and inserts in one transaction that first takes
//!   a transaction-scoped advisory lock keyed by the app. Racing creates for one app, from any
//!   process, take turns; each counts what the previous ones committed, so together they never
//!   pass the limit. A row lock would not do: there may be no row to lock (the first job, or the
//!   operator's), and an `INSERT` cannot lock the rows it has not yet counted.
//! - Cancelling locks the job's row (`FOR UPDATE`) before changing it, so it returns the job as
//!   it was when cancelled.

use deadpool_postgres::GenericClient;
use hale_fhir::{FhirVersion, Instant};
use hale_store::StoreError;
use hale_store::jobs::{
    Created, ExportJob, JobOwner, JobState, JobStore, NewJob, decode_scope, encode_scope,
};
use tokio_postgres::Row;

use crate::sql::{Params, execute, get, query, query_opt};
use crate::{PgStore, backend};

/// The columns [`job_from_row`] reads, in its order.
const JOB_COLUMNS: &str = "id, principal, owner_app, fhir_version, scope, request, params, state, \
     progress, transaction_time, created, expires, output, error, claimed_by, heartbeat, attempts";

/// The first key of the advisory locks that serialise job creation per app; the second is the
/// app's. The two-key lock space is apart from the one-key space the migrations lock in.
const JOB_LIMIT_LOCK: i32 = 0x4a4f_4253; // "JOBS"

/// The second key of the creation lock of `app`'s jobs. Two apps may share a key, which makes
/// their creations take turns and is otherwise harmless; the operator (no app) has 0, which no
/// app's id folds to before the 2^32nd app.
fn job_limit_key(app: Option<i64>) -> i32 {
    app.map_or(0, |app| (app ^ (app >> 32)) as i32)
}

/// A column's stored text that does not parse.
fn unreadable(what: &str, text: &str) -> StoreError {
    StoreError::Backend(format!("a stored job has an unreadable {what}: {text}"))
}

fn job_from_row(row: &Row) -> Result<ExportJob, StoreError> {
    let fhir_version: String = get(row, 3)?;
    let scope: String = get(row, 4)?;
    let state: String = get(row, 7)?;
    let attempts: i32 = get(row, 16)?;
    Ok(ExportJob {
        id: get(row, 0)?,
        owner: JobOwner {
            principal: get(row, 1)?,
            app: get(row, 2)?,
        },
        fhir_version: FhirVersion::from_path_segment(&fhir_version)
            .map_err(|_| unreadable("FHIR version", &fhir_version))?,
        scope: decode_scope(&scope)?,
        request: get(row, 5)?,
        params: get(row, 6)?,
        state: JobState::parse(&state).ok_or_else(|| unreadable("state", &state))?,
        progress: get(row, 8)?,
        transaction_time: Instant(get(row, 9)?),
        created: Instant(get(row, 10)?),
        expires: get::<Option<i64>>(row, 11)?.map(Instant),
        output: get(row, 12)?,
        error: get(row, 13)?,
        claimed_by: get(row, 14)?,
        heartbeat: get::<Option<i64>>(row, 15)?.map(Instant),
        attempts: u32::try_from(attempts)
            .map_err(|_| unreadable("attempts", &attempts.to_string()))?,
    })
}

/// The job `sql` returns, if any.
async fn job_of(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<ExportJob>, StoreError> {
    query_opt(client, sql, params)
        .await?
        .as_ref()
        .map(job_from_row)
        .transpose()
}

impl PgStore {
    /// Runs `sql`, which names the job as `$1` and its worker as `$2` and keeps to jobs running
    /// under that worker; whether it changed the job.
    async fn change_held_job(&self, sql: &str, params: Params<'_>) -> Result<bool, StoreError> {
        let client = self.client().await?;
        Ok(execute(&client, sql, params).await? > 0)
    }
}

/// Queues `job` unless its app has `jobs_per_app` active jobs, inside a transaction.
async fn create_job(
    tx: &impl GenericClient,
    job: &NewJob,
    jobs_per_app: u32,
) -> Result<Created, StoreError> {
    execute(
        tx,
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&JOB_LIMIT_LOCK, &job_limit_key(job.owner.app)],
    )
    .await?;
    // This statement's snapshot is taken after the lock, so it sees every job that racing
    // creates for the app committed before releasing it.
    let active = query_opt(
        tx,
        "SELECT count(*) FROM export_job \
         WHERE owner_app IS NOT DISTINCT FROM $1 AND state IN ('queued', 'running')",
        &[&job.owner.app],
    )
    .await?;
    let active: i64 = active.map_or(Ok(0), |row| get(&row, 0))?;
    if active >= i64::from(jobs_per_app) {
        return Ok(Created::LimitReached {
            active: active.max(0) as u64,
        });
    }
    let created = job_of(
        tx,
        &format!(
            "INSERT INTO export_job (id, principal, owner_app, fhir_version, scope, request, \
             params, state, transaction_time, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9) RETURNING {JOB_COLUMNS}"
        ),
        &[
            &job.id,
            &job.owner.principal,
            &job.owner.app,
            &job.fhir_version.as_str(),
            &encode_scope(&job.scope),
            &job.request,
            &job.params,
            &job.transaction_time.0,
            &job.created.0,
        ],
    )
    .await?;
    let created =
        created.ok_or_else(|| StoreError::Backend("an insert of a job returned no row".into()))?;
    Ok(Created::Queued(Box::new(created)))
}

#[async_trait::async_trait]
impl JobStore for PgStore {
    async fn create_job(&self, job: NewJob, jobs_per_app: u32) -> Result<Created, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let created = create_job(&tx, &job, jobs_per_app).await?;
        tx.commit().await.map_err(backend)?;
        Ok(created)
    }

    async fn job(&self, id: &str, principal: &str) -> Result<Option<ExportJob>, StoreError> {
        let client = self.client().await?;
        job_of(
            &client,
            &format!(
                "SELECT {JOB_COLUMNS} FROM export_job \
                 WHERE id = $1 AND principal = $2 AND state <> 'cancelled'"
            ),
            &[&id, &principal],
        )
        .await
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: Instant,
        stale_before: Instant,
    ) -> Result<Option<ExportJob>, StoreError> {
        let client = self.client().await?;
        job_of(
            &client,
            &format!(
                "UPDATE export_job SET state = 'running', claimed_by = $2, heartbeat = $3, \
                 attempts = attempts + 1 \
                 WHERE seq = (SELECT seq FROM export_job \
                     WHERE state = 'queued' OR (state = 'running' AND heartbeat < $1) \
                     ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING {JOB_COLUMNS}"
            ),
            &[&stale_before.0, &worker, &now.0],
        )
        .await
    }

    async fn heartbeat_job(
        &self,
        id: &str,
        worker: &str,
        now: Instant,
        progress: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.change_held_job(
            "UPDATE export_job SET heartbeat = $3, progress = coalesce($4, progress) \
             WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
            &[&id, &worker, &now.0, &progress],
        )
        .await
    }

    async fn complete_job(
        &self,
        id: &str,
        worker: &str,
        output: &str,
        error: &str,
        expires: Instant,
    ) -> Result<bool, StoreError> {
        self.change_held_job(
            "UPDATE export_job SET state = 'complete', output = $3, error = $4, expires = $5 \
             WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
            &[&id, &worker, &output, &error, &expires.0],
        )
        .await
    }

    async fn fail_job(
        &self,
        id: &str,
        worker: &str,
        outcome: &str,
        expires: Instant,
    ) -> Result<bool, StoreError> {
        self.change_held_job(
            "UPDATE export_job SET state = 'failed', error = $3, expires = $4 \
             WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
            &[&id, &worker, &outcome, &expires.0],
        )
        .await
    }

    async fn release_job(&self, id: &str, worker: &str, failed: bool) -> Result<bool, StoreError> {
        self.change_held_job(
            "UPDATE export_job SET state = 'queued', claimed_by = NULL, heartbeat = NULL, \
             attempts = attempts - CASE WHEN $3 THEN 0 ELSE 1 END \
             WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
            &[&id, &worker, &failed],
        )
        .await
    }

    async fn cancel_job(
        &self,
        id: &str,
        principal: &str,
        now: Instant,
    ) -> Result<Option<ExportJob>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let job = job_of(
            &tx,
            &format!(
                "SELECT {JOB_COLUMNS} FROM export_job \
                 WHERE id = $1 AND principal = $2 AND state <> 'cancelled' FOR UPDATE"
            ),
            &[&id, &principal],
        )
        .await?;
        if job.is_some() {
            execute(
                &tx,
                "UPDATE export_job SET state = 'cancelled', expires = $2 WHERE id = $1",
                &[&id, &now.0],
            )
            .await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(job)
    }

    async fn expired_jobs(&self, now: Instant, limit: usize) -> Result<Vec<ExportJob>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query(
            &client,
            &format!(
                "SELECT {JOB_COLUMNS} FROM export_job \
                 WHERE expires IS NOT NULL AND expires <= $1 ORDER BY expires, seq LIMIT $2"
            ),
            &[&now.0, &limit],
        )
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn delete_job(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n_changed = execute(&client, "DELETE FROM export_job WHERE id = $1", &[&id]).await?;
        Ok(n_changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use hale_fhir::{FhirVersion, Instant};
    use hale_store::Scope;
    use hale_store::jobs::{Created, JobOwner, JobStore, NewJob};

    use crate::PgStore;
    use crate::testing::{fresh_database, fresh_store, store_at};

    hale_store::job_contract_tests!({
        let Some(store) = fresh_store().await else {
            return;
        };
        Arc::new(store) as Arc<dyn JobStore>
    });

    /// Claims until the queue is empty, through each of `stores` in turn; the ids claimed.
    async fn drain(stores: [PgStore; 2], worker: &'static str) -> Vec<String> {
        let mut claimed = Vec::new();
        for store in stores.iter().cycle() {
            let Some(job) = store
                .claim_job(worker, Instant(2_000), Instant(0))
                .await
                .unwrap()
            else {
                break;
            };
            assert_eq!(job.claimed_by.as_deref(), Some(worker));
            claimed.push(job.id);
        }
        claimed
    }

    /// Two workers claiming from one queue at once, each through both processes (two stores,
    /// each with its own pool, on one database) in turn, never take the same job, and between
    /// them take all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workers_in_two_processes_never_claim_one_job() {
        let Some(url) = fresh_database().await else {
            return;
        };
        let (first, second) = (store_at(&url).await, store_at(&url).await);
        let mut ids = BTreeSet::new();
        for idx in 0..40 {
            let id = format!("job{idx:02}");
            let store = if idx % 2 == 0 { &first } else { &second };
            let job = NewJob {
                id: id.clone(),
                owner: JobOwner {
                    principal: "all".into(),
                    app: None,
                },
                fhir_version: FhirVersion::R4,
                scope: Scope::All,
                request: "http://hale.test/r4/$export".into(),
                params: "{}".into(),
                transaction_time: Instant(idx),
                created: Instant(1_000 + idx),
            };
            assert!(matches!(
                store.create_job(job, 100).await.unwrap(),
                Created::Queued(_)
            ));
            ids.insert(id);
        }
        let (a, b) = tokio::join!(
            tokio::spawn(drain([first.clone(), second.clone()], "worker-a")),
            tokio::spawn(drain([second, first], "worker-b"))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let (set_a, set_b): (BTreeSet<_>, BTreeSet<_>) =
            (a.iter().cloned().collect(), b.iter().cloned().collect());
        assert_eq!(set_a.len() + set_b.len(), a.len() + b.len(), "a job twice");
        assert!(
            set_a.is_disjoint(&set_b),
            "{set_a:?} and {set_b:?} share a job"
        );
        assert_eq!(&set_a | &set_b, ids);
    }
}
