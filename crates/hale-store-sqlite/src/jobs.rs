//! [`JobStore`] for SQLite: export jobs in the `export_job` table of
//! `migrations/0009_export_jobs.sql`.
//!
//! Every change is a closure on the writer thread (as identity's are), so a claim finds and
//! marks its job in one step no other write can come between, and across processes `BEGIN
//! IMMEDIATE` serialises the writers the same way. A change made by a worker names the worker in
//! its `WHERE`, so it touches the job only while the worker still holds it. Reads go to the reader
//! pool.

use hale_fhir::{FhirVersion, Instant};
use hale_store::StoreError;
use hale_store::jobs::{
    Created, ExportJob, JobOwner, JobState, JobStore, NewJob, decode_scope, encode_scope,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{SqliteStore, backend};

/// The columns [`job_from_row`] reads, in its order.
const JOB_COLUMNS: &str = "id, principal, owner_app, fhir_version, scope, request, params, state, \
     progress, transaction_time, created, expires, output, error, claimed_by, heartbeat, attempts";

/// The job a claim takes: the oldest queued, or running with a heartbeat before `?1`.
const CLAIMABLE: &str = "SELECT seq FROM export_job \
     WHERE state = 'queued' OR (state = 'running' AND heartbeat < ?1) ORDER BY seq LIMIT 1";

/// The stored text of a column that does not parse, as a conversion failure of that column.
fn unreadable(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unreadable {what}").into(),
    )
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<ExportJob> {
    let fhir_version: String = row.get(3)?;
    let scope: String = row.get(4)?;
    let state: String = row.get(7)?;
    Ok(ExportJob {
        id: row.get(0)?,
        owner: JobOwner {
            principal: row.get(1)?,
            app: row.get(2)?,
        },
        fhir_version: FhirVersion::from_path_segment(&fhir_version)
            .map_err(|_| unreadable(3, "FHIR version"))?,
        scope: decode_scope(&scope).map_err(|_| unreadable(4, "scope"))?,
        request: row.get(5)?,
        params: row.get(6)?,
        state: JobState::parse(&state).ok_or_else(|| unreadable(7, "state"))?,
        progress: row.get(8)?,
        transaction_time: Instant(row.get(9)?),
        created: Instant(row.get(10)?),
        expires: row.get::<_, Option<i64>>(11)?.map(Instant),
        output: row.get(12)?,
        error: row.get(13)?,
        claimed_by: row.get(14)?,
        heartbeat: row.get::<_, Option<i64>>(15)?.map(Instant),
        attempts: row.get(16)?,
    })
}

/// Runs `sql`, which names the job as `?1` and its worker as `?2` and keeps to jobs running under
/// that worker; whether it changed the job.
fn change_held_job(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<bool, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map(|n_changed| n_changed > 0)
        .map_err(backend)
}

#[async_trait::async_trait]
impl JobStore for SqliteStore {
    async fn create_job(&self, job: NewJob, jobs_per_app: u32) -> Result<Created, StoreError> {
        let scope = encode_scope(&job.scope);
        self.write_identity(move |conn| {
            let active: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM export_job \
                     WHERE owner_app IS ?1 AND state IN ('queued', 'running')",
                )
                .and_then(|mut stmt| stmt.query_row([job.owner.app], |row| row.get(0)))
                .map_err(backend)?;
            if active >= i64::from(jobs_per_app) {
                return Ok(Created::LimitReached {
                    active: active.max(0) as u64,
                });
            }
            let created = conn
                .prepare_cached(&format!(
                    "INSERT INTO export_job (id, principal, owner_app, fhir_version, scope, \
                     request, params, state, transaction_time, created) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9) RETURNING {JOB_COLUMNS}"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            job.id,
                            job.owner.principal,
                            job.owner.app,
                            job.fhir_version.as_str(),
                            scope,
                            job.request,
                            job.params,
                            job.transaction_time.0,
                            job.created.0
                        ],
                        job_from_row,
                    )
                })
                .map_err(backend)?;
            Ok(Created::Queued(Box::new(created)))
        })
        .await
    }

    async fn job(&self, id: &str, principal: &str) -> Result<Option<ExportJob>, StoreError> {
        let (id, principal) = (id.to_owned(), principal.to_owned());
        self.with_reader(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM export_job \
                 WHERE id = ?1 AND principal = ?2 AND state <> 'cancelled'"
            ))
            .and_then(|mut stmt| stmt.query_row([id, principal], job_from_row).optional())
            .map_err(backend)
        })
        .await
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: Instant,
        stale_before: Instant,
    ) -> Result<Option<ExportJob>, StoreError> {
        // Workers look every few seconds and mostly find nothing; a reader says so without
        // queueing a transaction on the writer. What it saw may be gone by the claim, which
        // looks again.
        let claimable: bool = self
            .with_reader(move |conn| {
                conn.prepare_cached(&format!("SELECT EXISTS ({CLAIMABLE})"))
                    .and_then(|mut stmt| stmt.query_row([stale_before.0], |row| row.get(0)))
                    .map_err(backend)
            })
            .await?;
        if !claimable {
            return Ok(None);
        }
        let worker = worker.to_owned();
        self.write_identity(move |conn| {
            conn.prepare_cached(&format!(
                "UPDATE export_job SET state = 'running', claimed_by = ?2, heartbeat = ?3, \
                 attempts = attempts + 1 WHERE seq = ({CLAIMABLE}) RETURNING {JOB_COLUMNS}"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params![stale_before.0, worker, now.0], job_from_row)
                    .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn heartbeat_job(
        &self,
        id: &str,
        worker: &str,
        now: Instant,
        progress: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (id, worker) = (id.to_owned(), worker.to_owned());
        let progress = progress.map(str::to_owned);
        self.write_identity(move |conn| {
            change_held_job(
                conn,
                "UPDATE export_job SET heartbeat = ?3, progress = coalesce(?4, progress) \
                 WHERE id = ?1 AND claimed_by = ?2 AND state = 'running'",
                params![id, worker, now.0, progress],
            )
        })
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
        let (id, worker) = (id.to_owned(), worker.to_owned());
        let (output, error) = (output.to_owned(), error.to_owned());
        self.write_identity(move |conn| {
            change_held_job(
                conn,
                "UPDATE export_job SET state = 'complete', output = ?3, error = ?4, expires = ?5 \
                 WHERE id = ?1 AND claimed_by = ?2 AND state = 'running'",
                params![id, worker, output, error, expires.0],
            )
        })
        .await
    }

    async fn fail_job(
        &self,
        id: &str,
        worker: &str,
        outcome: &str,
        expires: Instant,
    ) -> Result<bool, StoreError> {
        let (id, worker, outcome) = (id.to_owned(), worker.to_owned(), outcome.to_owned());
        self.write_identity(move |conn| {
            change_held_job(
                conn,
                "UPDATE export_job SET state = 'failed', error = ?3, expires = ?4 \
                 WHERE id = ?1 AND claimed_by = ?2 AND state = 'running'",
                params![id, worker, outcome, expires.0],
            )
        })
        .await
    }

    async fn release_job(&self, id: &str, worker: &str, failed: bool) -> Result<bool, StoreError> {
        let (id, worker) = (id.to_owned(), worker.to_owned());
        self.write_identity(move |conn| {
            change_held_job(
                conn,
                "UPDATE export_job SET state = 'queued', claimed_by = NULL, heartbeat = NULL, \
                 attempts = attempts - (1 - ?3) \
                 WHERE id = ?1 AND claimed_by = ?2 AND state = 'running'",
                params![id, worker, failed],
            )
        })
        .await
    }

    async fn cancel_job(
        &self,
        id: &str,
        principal: &str,
        now: Instant,
    ) -> Result<Option<ExportJob>, StoreError> {
        let (id, principal) = (id.to_owned(), principal.to_owned());
        self.write_identity(move |conn| {
            let job = conn
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM export_job \
                     WHERE id = ?1 AND principal = ?2 AND state <> 'cancelled'"
                ))
                .and_then(|mut stmt| stmt.query_row([&id, &principal], job_from_row).optional())
                .map_err(backend)?;
            if job.is_some() {
                conn.prepare_cached(
                    "UPDATE export_job SET state = 'cancelled', expires = ?2 WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.execute(params![id, now.0]))
                .map_err(backend)?;
            }
            Ok(job)
        })
        .await
    }

    async fn expired_jobs(&self, now: Instant, limit: usize) -> Result<Vec<ExportJob>, StoreError> {
        self.with_reader(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM export_job \
                     WHERE expires IS NOT NULL AND expires <= ?1 ORDER BY expires, seq LIMIT ?2"
                ))
                .map_err(backend)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let jobs = stmt
                .query_map(params![now.0, limit], job_from_row)
                .map_err(backend)?;
            jobs.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn delete_job(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write_identity(move |conn| {
            conn.prepare_cached("DELETE FROM export_job WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute([id]))
                .map(|n_changed| n_changed > 0)
                .map_err(backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hale_store::jobs::JobStore;

    /// A fresh store in a temporary folder of its own, kept for the life of the test process
    /// because the store outlives this function.
    fn fresh_jobs() -> Arc<dyn JobStore> {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir.keep(),
            Err(e) => panic!("making a temporary folder: {e}"),
        };
        match crate::SqliteStore::open(crate::SqliteConfig::new(dir.join("hale.db"))) {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("opening a fresh store: {e}"),
        }
    }

    hale_store::job_contract_tests!(fresh_jobs());
}
