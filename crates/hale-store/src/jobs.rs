//! Bulk Data export jobs: their records and the [`JobStore`] that keeps them.
//!
//! A job lives in the database from kick-off until it expires, so it survives a restart and any
//! process sharing the database can run it. Workers take jobs with [`JobStore::claim_job`] and
//! prove they are alive with [`JobStore::heartbeat_job`]; a running job whose heartbeat is older
//! than the caller's stale limit is claimed again, which is how a job outlives a killed server.
//! Every change a worker makes names the worker, and takes effect only while the job is still
//! its own, so a worker that lost a job (cancelled, or taken over after a long pause) can neither
//! complete nor fail it.
//!
//! The store keeps what the server computes and does not interpret it: the principal key, the
//! runner's parameters, and the output and error file lists are opaque text. The order of
//! operations a backend must keep is in each method's documentation and checked by
//! [`crate::contract`]'s `job_*` checks.

use hale_fhir::{FhirVersion, Instant};
use serde_json::{Value, json};

use crate::{Grant, Scope, StoreError};

/// Whose a job is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobOwner {
    /// The key of the principal that started the job, computed by the server from its
    /// credentials; only a request with the same key sees the job.
    pub principal: String,
    /// The app whose limit of active jobs the job counts against; none for the operator, whose
    /// jobs count against a limit of their own.
    pub app: Option<i64>,
}

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// Its files are written; the manifest is ready.
    Complete,
    /// It could not run (the request cannot be honoured); `error` says why.
    Failed,
    /// The client cancelled it; it is gone for the client and waits to be removed.
    Cancelled,
}

impl JobState {
    /// The state as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Complete => "complete",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses what [`JobState::as_str`] wrote.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "complete" => Some(JobState::Complete),
            "failed" => Some(JobState::Failed),
            "cancelled" => Some(JobState::Cancelled),
            _ => None,
        }
    }

    /// Whether the job still waits for or occupies a worker, and so counts against its app's
    /// limit.
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A job to create.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// The job's id: random, 32 hex digits.
    pub id: String,
    /// Whose it is.
    pub owner: JobOwner,
    /// The FHIR version of the kick-off request.
    pub fhir_version: FhirVersion,
    /// What the job may read: the principal's scope at kick-off.
    pub scope: Scope,
    /// The kick-off URL, the manifest's `request`.
    pub request: String,
    /// The runner's parameters, opaque to the store.
    pub params: String,
    /// The manifest's `transactionTime`.
    pub transaction_time: Instant,
    /// When the job was created.
    pub created: Instant,
}

/// A stored job.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportJob {
    /// The job's id.
    pub id: String,
    /// Whose it is.
    pub owner: JobOwner,
    /// The FHIR version of the kick-off request.
    pub fhir_version: FhirVersion,
    /// What the job may read.
    pub scope: Scope,
    /// The kick-off URL.
    pub request: String,
    /// The runner's parameters.
    pub params: String,
    /// Where the job stands.
    pub state: JobState,
    /// The last progress its worker reported (`X-Progress`).
    pub progress: Option<String>,
    /// The manifest's `transactionTime`.
    pub transaction_time: Instant,
    /// When the job was created.
    pub created: Instant,
    /// When the job and its files go away: set when it completes, fails or is cancelled.
    pub expires: Option<Instant>,
    /// The manifest's output files, once complete (the server's JSON).
    pub output: Option<String>,
    /// The manifest's error files once complete, or for a failed job the OperationOutcome that
    /// its status answers with (the server's JSON).
    pub error: Option<String>,
    /// The worker that holds (or last held) the job.
    pub claimed_by: Option<String>,
    /// When that worker last said it was alive.
    pub heartbeat: Option<Instant>,
    /// How many times a worker has claimed the job.
    pub attempts: u32,
}

/// What [`JobStore::create_job`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    /// The job is queued.
    Queued(Box<ExportJob>),
    /// The app already has `active` jobs queued or running, its whole allowance; nothing was
    /// created.
    LimitReached {
        /// The app's active jobs.
        active: u64,
    },
}

/// Where export jobs are kept.
#[async_trait::async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Queues `job`, unless its app (or, for the operator, the operator) already has
    /// `jobs_per_app` jobs queued or running. The count and the insert are one atomic step, so
    /// racing kick-offs cannot pass the limit together.
    async fn create_job(&self, job: NewJob, jobs_per_app: u32) -> Result<Created, StoreError>;

    /// The job `id` if `principal` started it and it is not cancelled; another principal's job
    /// is `None`, as a job that does not exist.
    async fn job(&self, id: &str, principal: &str) -> Result<Option<ExportJob>, StoreError>;

    /// Atomically takes the oldest job that is queued, or running with a heartbeat before
    /// `stale_before` (its worker died), for `worker`: it becomes running, claimed by `worker`,
    /// with its heartbeat at `now` and one more attempt. Two workers never get the same job from
    /// one claim each.
    async fn claim_job(
        &self,
        worker: &str,
        now: Instant,
        stale_before: Instant,
    ) -> Result<Option<ExportJob>, StoreError>;

    /// Records that `worker` still runs job `id` at `now`, and its progress when given. `false`
    /// when the job is no longer running under `worker` (cancelled, deleted, or claimed by
    /// another), which tells the worker to stop.
    async fn heartbeat_job(
        &self,
        id: &str,
        worker: &str,
        now: Instant,
        progress: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Marks job `id` complete with its output and error file lists, to expire at `expires`;
    /// `false` (and nothing changed) when it is no longer running under `worker`.
    async fn complete_job(
        &self,
        id: &str,
        worker: &str,
        output: &str,
        error: &str,
        expires: Instant,
    ) -> Result<bool, StoreError>;

    /// Marks job `id` failed with the OperationOutcome its status answers with, to expire at
    /// `expires`; `false` (and nothing changed) when it is no longer running under `worker`.
    async fn fail_job(
        &self,
        id: &str,
        worker: &str,
        outcome: &str,
        expires: Instant,
    ) -> Result<bool, StoreError>;

    /// Puts job `id` back in the queue for any worker; `false` when it is no longer running
    /// under `worker`. A `failed` attempt keeps counting toward the job's attempts; one that was
    /// only interrupted (its worker stopping) does not.
    async fn release_job(&self, id: &str, worker: &str, failed: bool) -> Result<bool, StoreError>;

    /// Cancels job `id` of `principal`, whatever its state: it is hidden from
    /// [`JobStore::job`] at once, its worker's next heartbeat fails, and it expires at `now`.
    /// Returns the job as it was, so the caller can remove its files; `None` when `principal`
    /// has no such job (or already cancelled it).
    async fn cancel_job(
        &self,
        id: &str,
        principal: &str,
        now: Instant,
    ) -> Result<Option<ExportJob>, StoreError>;

    /// At most `limit` jobs whose `expires` is at or before `now` (cancelled ones included),
    /// oldest expiry first.
    async fn expired_jobs(&self, now: Instant, limit: usize) -> Result<Vec<ExportJob>, StoreError>;

    /// Removes job `id` for good; `false` when there was none.
    async fn delete_job(&self, id: &str) -> Result<bool, StoreError>;
}

/// A scope as backends store it with a job: JSON that names its kind, so that a stored job runs
/// later with exactly the scope its principal had at kick-off.
pub fn encode_scope(scope: &Scope) -> String {
    let value = match scope {
        Scope::All => json!({"kind": "all"}),
        Scope::App(app) => json!({"kind": "app", "app": app}),
        Scope::User { app, user, grants } => json!({
            "kind": "user",
            "app": app,
            "user": user,
            "grants": grants
                .iter()
                .map(|g| json!({"owner": g.owner, "patient": g.patient}))
                .collect::<Vec<_>>(),
        }),
    };
    value.to_string()
}

/// Reads what [`encode_scope`] wrote.
pub fn decode_scope(text: &str) -> Result<Scope, StoreError> {
    let bad = || StoreError::Backend(format!("a stored job has an unreadable scope: {text}"));
    let value: Value = serde_json::from_str(text).map_err(|_| bad())?;
    let int = |key: &str| value[key].as_i64().ok_or_else(bad);
    match value["kind"].as_str() {
        Some("all") => Ok(Scope::All),
        Some("app") => Ok(Scope::App(int("app")?)),
        Some("user") => {
            let grants = value["grants"]
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|g| {
                    Ok(Grant {
                        owner: g["owner"].as_i64().ok_or_else(bad)?,
                        patient: g["patient"].as_str().map(str::to_owned),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Scope::User {
                app: int("app")?,
                user: int("user")?,
                grants,
            })
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_back_as_written() {
        for scope in [
            Scope::All,
            Scope::App(7),
            Scope::User {
                app: 7,
                user: 11,
                grants: vec![
                    Grant {
                        owner: 12,
                        patient: Some("p1".into()),
                    },
                    Grant {
                        owner: 13,
                        patient: None,
                    },
                ],
            },
        ] {
            assert_eq!(decode_scope(&encode_scope(&scope)).ok(), Some(scope));
        }
        assert!(decode_scope("{\"kind\":\"app\"}").is_err());
        assert!(decode_scope("not json").is_err());
    }
}
