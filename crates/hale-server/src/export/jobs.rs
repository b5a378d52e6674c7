//! Running export jobs: the [`JobRunner`] boundary, and the worker that claims jobs, keeps them
//! alive, records their outcome, and sweeps expired ones away.
//!
//! A worker runs in every `hale serve` process; processes that share a database share its
//! queue. The worker claims the oldest queued job (or one whose worker stopped sending
//! heartbeats), removes whatever an earlier attempt left in the job's folder, and runs it, sending
//! a heartbeat (with the runner's progress) every few seconds. When the heartbeat is refused the
//! job was cancelled (or, after a long stall, taken over by another worker), and the run stops at
//! once. So a job survives a killed server: its heartbeat goes stale and the next worker that
//! looks starts it again from the beginning, which is safe because a run writes every file anew
//! and a file becomes visible only when finished.
//!
//! Outcomes:
//! - the runner's [`JobOutput`] completes the job; per-resource problems it met are error files
//!   of the manifest (OperationOutcome NDJSON), never a failed job;
//! - [`JobError::Invalid`] (the request cannot be honoured, as a kick-off would have been
//!   refused had it known) fails the job: its status then answers 400 with those issues;
//! - any other error is retried by a later claim, up to [`WorkerConfig::max_attempts`] attempts;
//!   after the last the job completes with no output and one error file that says the export
//!   failed, so a client always gets a manifest rather than a server error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hale_fhir::outcome::{Issue, IssueType, Severity, operation_outcome};
use hale_store::StoreError;
use hale_store::jobs::ExportJob;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Exports;
use super::files::{FileWriter, valid_file_name};

/// Runs the export of one job: computes its NDJSON files and writes them through [`JobFiles`].
#[async_trait::async_trait]
pub trait JobRunner: Send + Sync + 'static {
    /// Runs `job`, writing its NDJSON files through `files`; returns the manifest's output
    /// entries (type, file name, count) and any error files it wrote (OperationOutcome NDJSON).
    /// It may run again from the start after a crash, so it must write the same names each time
    /// (a file of the same name replaces the earlier one).
    async fn run(&self, job: &ExportJob, files: &JobFiles) -> Result<JobOutput, JobError>;
}

/// Why a run did not produce a manifest.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job was cancelled (or taken over by another worker): stop, nothing to record.
    #[error("the job was cancelled")]
    Cancelled,
    /// The request cannot be honoured (its Group no longer exists, say): the job fails and its
    /// status answers 400 with these issues.
    #[error("the export cannot run: {}", .0.first().map(|i| i.text.as_str()).unwrap_or(""))]
    Invalid(Vec<Issue>),
    /// Object storage failed.
    #[error("export files: {0}")]
    Files(#[from] object_store::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else the runner met; for logs only.
    #[error("{0}")]
    Failed(String),
}

/// One file of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFile {
    /// The resource type the file holds (`OperationOutcome` for error files).
    pub resource_type: String,
    /// The file's name, as given to [`JobFiles::create`].
    pub name: String,
    /// How many resources it holds.
    pub count: u64,
}

/// What a finished run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobOutput {
    /// The manifest's `output`, in order.
    pub output: Vec<ManifestFile>,
    /// The manifest's `error`: files of OperationOutcomes about what could not be exported.
    pub error: Vec<ManifestFile>,
}

/// The files of one job, as its runner writes them.
pub struct JobFiles {
    exports: Arc<Exports>,
    job_id: String,
    cancelled: Arc<AtomicBool>,
    progress: Arc<Mutex<Option<String>>>,
}

impl JobFiles {
    /// Starts file `name` (letters, digits, `.`, `_`, `-`; see [`valid_file_name`]). It becomes
    /// visible only when [`FileWriter::finish`] succeeds.
    pub fn create(&self, name: &str) -> Result<FileWriter, JobError> {
        self.check_cancelled()?;
        if !valid_file_name(name) {
            return Err(JobError::Failed(format!(
                "{name:?} is not a valid export file name"
            )));
        }
        Ok(self
            .exports
            .files
            .create(&self.job_id, name, self.cancelled.clone()))
    }

    /// Whether the job was cancelled; a runner that checks between files stops sooner than one
    /// that waits for its next write to fail.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// [`JobError::Cancelled`] once the job is cancelled.
    pub fn check_cancelled(&self) -> Result<(), JobError> {
        if self.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sets the progress the status URL reports (`X-Progress`, at most 100 characters by the IG),
    /// sent with the next heartbeat.
    pub fn set_progress(&self, text: impl Into<String>) {
        let mut text: String = text.into();
        if let Some((cut, _)) = text.char_indices().nth(100) {
            text.truncate(cut);
        }
        *self.progress.lock() = Some(text);
    }

    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }
}

/// How a worker paces itself.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How often it looks for queued jobs when nothing wakes it.
    pub poll_interval: Duration,
    /// How often a running job's heartbeat is sent.
    pub heartbeat_interval: Duration,
    /// A running job whose heartbeat is older than this is taken to have lost its worker and is
    /// claimed again. Many heartbeats long, so a busy process never loses its jobs.
    pub stale_after: Duration,
    /// How often expired jobs are swept.
    pub sweep_interval: Duration,
    /// Most jobs this process runs at once.
    pub max_running: usize,
    /// Attempts a job gets before it is given up.
    pub max_attempts: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(5),
            stale_after: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(60),
            // An export reads the database as fast as it can; two at once keep a core each and
            // leave the rest of the machine to requests.
            max_running: 2,
            max_attempts: 3,
        }
    }
}

/// A running worker (or sweeper); [`WorkerHandle::stop`] ends it.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops the worker: running jobs stop at once and go back to the queue, for another process
    /// or the next start to run. Returns when they are back.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the export worker failed");
        }
    }
}

/// Starts a worker that runs jobs with `runner` and sweeps expired jobs.
pub fn start_worker(
    exports: Arc<Exports>,
    runner: Arc<dyn JobRunner>,
    config: WorkerConfig,
) -> WorkerHandle {
    start(exports, Some(runner), config)
}

/// Starts a sweeper alone: it removes expired jobs and their files and runs no job, for a
/// process that serves the status and file URLs but leaves running exports to others.
pub fn start_sweeper(exports: Arc<Exports>, config: WorkerConfig) -> WorkerHandle {
    start(exports, None, config)
}

fn start(
    exports: Arc<Exports>,
    runner: Option<Arc<dyn JobRunner>>,
    config: WorkerConfig,
) -> WorkerHandle {
    let (stop, stopped) = watch::channel(false);
    let worker = Worker {
        id: worker_id(),
        exports,
        runner,
        config,
    };
    let task = tokio::spawn(Arc::new(worker).run(stopped));
    WorkerHandle { stop, task }
}

/// A name for this worker, unique across processes: the process id and a random part (process
/// ids repeat across machines and restarts).
fn worker_id() -> String {
    format!("{}-{:08x}", std::process::id(), rand::random::<u32>())
}

struct Worker {
    id: String,
    exports: Arc<Exports>,
    runner: Option<Arc<dyn JobRunner>>,
    config: WorkerConfig,
}

/// How a run ended.
enum Ended {
    Ran(Result<JobOutput, JobError>),
    /// The heartbeat was refused: cancelled, deleted or taken over.
    Lost,
    /// The worker is stopping.
    Stopping,
}

impl Worker {
    async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut running = JoinSet::new();
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            if let Some(runner) = &self.runner {
                while running.len() < self.config.max_running {
                    let now = super::now();
                    let stale_before = super::before(now, self.config.stale_after);
                    match self
                        .exports
                        .jobs
                        .claim_job(&self.id, now, stale_before)
                        .await
                    {
                        Ok(Some(job)) => {
                            let worker = self.clone();
                            let runner = runner.clone();
                            running.spawn(worker.run_job(runner, job, stopped.clone()));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not claim an export job");
                            break;
                        }
                    }
                }
            }
            if tokio::time::Instant::now() >= next_sweep {
                self.sweep().await;
                next_sweep = tokio::time::Instant::now() + self.config.sweep_interval;
            }
            tokio::select! {
                _ = stopped.changed() => break,
                () = self.exports.queued.notified() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        // Each running job saw the stop too and is putting its job back.
        while running.join_next().await.is_some() {}
    }

    /// Removes expired jobs (finished ones past their expiry, cancelled ones) and their files.
    async fn sweep(&self) {
        const BATCH: usize = 100;
        loop {
            let expired = match self.exports.jobs.expired_jobs(super::now(), BATCH).await {
                Ok(expired) => expired,
                Err(e) => {
                    tracing::warn!(error = %e, "could not list expired export jobs");
                    return;
                }
            };
            let n_expired = expired.len();
            for job in expired {
                // Files first: a job row whose files are gone is harmless, files without a job
                // would never be removed.
                if let Err(e) = self.exports.files.remove_job(&job.id).await {
                    tracing::warn!(job.id = %job.id, error = %e, "could not remove an expired export's files");
                    return;
                }
                if let Err(e) = self.exports.jobs.delete_job(&job.id).await {
                    tracing::warn!(job.id = %job.id, error = %e, "could not remove an expired export job");
                    return;
                }
                tracing::info!(job.id = %job.id, "Removed expired export job {}", job.id);
            }
            if n_expired < BATCH {
                return;
            }
        }
    }

    async fn run_job(
        self: Arc<Self>,
        runner: Arc<dyn JobRunner>,
        job: ExportJob,
        mut stopped: watch::Receiver<bool>,
    ) {
        let id = job.id.clone();
        if job.attempts > self.config.max_attempts {
            self.give_up(&job).await;
            return;
        }
        tracing::info!(job.id = %id, attempt = job.attempts, "Running export job {id}");
        // An earlier attempt may have left files; this one writes every file anew.
        if let Err(e) = self.exports.files.remove_job(&id).await {
            tracing::warn!(job.id = %id, error = %e, "could not clear an export's earlier files");
            self.release(&id, true).await;
            return;
        }
        let files = JobFiles {
            exports: self.exports.clone(),
            job_id: id.clone(),
            cancelled: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(Mutex::new(None)),
        };
        let ended = tokio::select! {
            result = runner.run(&job, &files) => Ended::Ran(result),
            () = self.keep_alive(&id, &files.progress) => Ended::Lost,
            _ = stopped.changed() => Ended::Stopping,
        };
        // Whatever the runner still holds must stop writing.
        files.cancelled.store(true, Ordering::Relaxed);
        match ended {
            Ended::Ran(Ok(output)) => self.complete(&job, &output).await,
            Ended::Ran(Err(JobError::Cancelled)) | Ended::Lost => self.after_loss(&job).await,
            Ended::Ran(Err(JobError::Invalid(issues))) => self.fail(&job, &issues).await,
            Ended::Ran(Err(e)) => {
                tracing::error!(job.id = %id, attempt = job.attempts, error = %e, "Export job {id} failed");
                // Another claim gives it another attempt, counted, so a failing job ends.
                self.release(&id, true).await;
            }
            Ended::Stopping => self.release(&id, false).await,
        }
    }

    /// Sends heartbeats until one is refused.
    async fn keep_alive(&self, id: &str, progress: &Mutex<Option<String>>) {
        loop {
            tokio::time::sleep(self.config.heartbeat_interval).await;
            let progress = progress.lock().clone();
            match self
                .exports
                .jobs
                .heartbeat_job(id, &self.id, super::now(), progress.as_deref())
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                // A missed heartbeat is not a lost job: the stale limit spans many of them.
                Err(e) => {
                    tracing::warn!(job.id = %id, error = %e, "could not send an export heartbeat")
                }
            }
        }
    }

    async fn complete(&self, job: &ExportJob, output: &JobOutput) {
        let expires = super::after(super::now(), self.exports.config.expiry);
        let (files, errors) = (row::encode(&output.output), row::encode(&output.error));
        match self
            .exports
            .jobs
            .complete_job(&job.id, &self.id, &files, &errors, expires)
            .await
        {
            Ok(true) => tracing::info!(
                job.id = %job.id,
                files = output.output.len(),
                errors = output.error.len(),
                "Export job {} complete",
                job.id
            ),
            Ok(false) => self.after_loss(job).await,
            Err(e) => {
                tracing::error!(job.id = %job.id, error = %e, "could not record a complete export");
                self.release(&job.id, true).await;
            }
        }
    }

    async fn fail(&self, job: &ExportJob, issues: &[Issue]) {
        self.remove_files(&job.id).await;
        let expires = super::after(super::now(), self.exports.config.expiry);
        let outcome = operation_outcome(&crate::error::outcome_id(), issues).to_string();
        match self
            .exports
            .jobs
            .fail_job(&job.id, &self.id, &outcome, expires)
            .await
        {
            Ok(true) => tracing::info!(job.id = %job.id, "Export job {} cannot run", job.id),
            Ok(false) => self.after_loss(job).await,
            Err(e) => {
                tracing::error!(job.id = %job.id, error = %e, "could not record a failed export");
                self.release(&job.id, true).await;
            }
        }
    }

    /// Ends a job that failed every attempt: no output, and one error file that says so.
    async fn give_up(&self, job: &ExportJob) {
        let id = &job.id;
        tracing::error!(job.id = %id, attempts = job.attempts - 1, "Giving up export job {id}");
        self.remove_files(id).await;
        let issue = Issue {
            severity: Severity::Fatal,
            code: IssueType::Exception,
            text: format!(
                "the export failed {} times and was given up; start a new export",
                job.attempts - 1
            ),
            expression: Vec::new(),
        };
        let mut line = operation_outcome(&crate::error::outcome_id(), &[issue]).to_string();
        line.push('\n');
        let never_cancelled = Arc::new(AtomicBool::new(false));
        let mut writer = self.exports.files.create(id, GIVE_UP_FILE, never_cancelled);
        let written = match writer.write(Bytes::from(line)).await {
            Ok(()) => writer.finish().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::warn!(job.id = %id, error = %e, "could not write a given-up export's error file");
            // Released, the job is claimed again and given up again, until storage works.
            self.release(id, true).await;
            return;
        }
        let output = JobOutput {
            output: Vec::new(),
            error: vec![ManifestFile {
                resource_type: "OperationOutcome".into(),
                name: GIVE_UP_FILE.into(),
                count: 1,
            }],
        };
        self.complete(job, &output).await;
    }

    /// After the job was taken from this worker: when it was cancelled or deleted, its files go
    /// (the canceller removed them already, but the run may have written since); when another
    /// worker took it over, they are that worker's now.
    async fn after_loss(&self, job: &ExportJob) {
        match self.exports.jobs.job(&job.id, &job.owner.principal).await {
            Ok(Some(current)) if current.claimed_by.as_deref() != Some(self.id.as_str()) => {
                tracing::info!(job.id = %job.id, "Export job {} was taken over by another worker", job.id);
            }
            Ok(_) => {
                tracing::info!(job.id = %job.id, "Export job {} was cancelled", job.id);
                self.remove_files(&job.id).await;
            }
            Err(e) => {
                tracing::warn!(job.id = %job.id, error = %e, "could not look up a lost export job")
            }
        }
    }

    async fn release(&self, id: &str, failed: bool) {
        if let Err(e) = self.exports.jobs.release_job(id, &self.id, failed).await {
            // Its heartbeat goes stale and another claim takes it.
            tracing::warn!(job.id = %id, error = %e, "could not put an export job back in the queue");
        }
    }

    async fn remove_files(&self, id: &str) {
        if let Err(e) = self.exports.files.remove_job(id).await {
            // The sweeper removes them with the job when it expires.
            tracing::warn!(job.id = %id, error = %e, "could not remove an export's files");
        }
    }
}

/// The error file of a job that was given up.
const GIVE_UP_FILE: &str = "export-failed.ndjson";

/// The manifest file lists as stored with a job: a JSON array of `{type, name, count}`.
/// Serialised, this is a compatibility promise with jobs stored by earlier versions.
pub(crate) mod row {
    use super::{Deserialize, ManifestFile, Serialize};

    #[derive(Serialize, Deserialize)]
    struct File {
        #[serde(rename = "type")]
        resource_type: String,
        name: String,
        count: u64,
    }

    /// The stored text of `files`.
    pub(crate) fn encode(files: &[ManifestFile]) -> String {
        let rows: Vec<File> = files
            .iter()
            .map(|f| File {
                resource_type: f.resource_type.clone(),
                name: f.name.clone(),
                count: f.count,
            })
            .collect();
        serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Reads what [`encode`] wrote; `None` when the text is not such a list.
    pub(crate) fn decode(text: &str) -> Option<Vec<ManifestFile>> {
        let rows: Vec<File> = serde_json::from_str(text).ok()?;
        Some(
            rows.into_iter()
                .map(|f| ManifestFile {
                    resource_type: f.resource_type,
                    name: f.name,
                    count: f.count,
                })
                .collect(),
        )
    }
}
