//! The asynchronous flow of [Bulk Data export](https://hl7.org/fhir/uv/bulkdata/export.html)
//! (IG v2): the jobs around the export itself.
//!
//! A kick-off handler calls [`status::submit`], which stores a job ([`hale_store::jobs`]) and
//! answers 202 with its status URL, `{public_url}/bulk-data/{ver}/$export/job/{id}`. Workers
//! ([`jobs`]) in any process that shares the database claim queued jobs, run them through the
//! [`jobs::JobRunner`] (which computes and writes the NDJSON), and record the manifest's file
//! lists; the files live in object storage ([`files`]) under a folder per job. The status URL
//! ([`status`]) answers 202 with `X-Progress` while the job waits or runs, then 200 with the
//! manifest; the files download from `…/$export/file/{id}/{name}`; `DELETE` on the status URL
//! cancels the job and removes its files. A sweeper removes jobs and files once they expire.
//!
//! Everything is confined to the principal that started the job: the job remembers a key of the
//! principal ([`job_principal_key`]), and any other principal is told the job (or file) does not
//! exist, as with resources.

pub mod files;
pub mod jobs;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use hale_fhir::Instant;
use hale_store::Scope;
use hale_store::jobs::JobStore;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

pub use files::ExportFiles;

/// Settings of asynchronous export.
#[derive(Clone, Debug)]
pub struct ExportConfig {
    /// How long a finished job and its files stay after it completes or fails.
    pub expiry: Duration,
    /// Most jobs one app (and, apart, the operator) may have queued or running; kick-offs
    /// beyond are answered 429.
    pub jobs_per_app: u32,
    /// The `Retry-After` of a 429 at kick-off.
    pub limit_retry_after: Duration,
    /// The `Retry-After` of a status answer while the job waits or runs.
    pub poll_retry_after: Duration,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            expiry: Duration::from_secs(3600),
            jobs_per_app: 5,
            // An app at its limit waits for a job to finish, which takes a while.
            limit_retry_after: Duration::from_secs(30),
            poll_retry_after: Duration::from_secs(2),
        }
    }
}

/// What the export handlers and workers share: the job store, the files and the settings.
pub struct Exports {
    /// Where jobs are kept.
    pub jobs: Arc<dyn JobStore>,
    /// Where their files are kept.
    pub files: ExportFiles,
    /// The settings.
    pub config: ExportConfig,
    /// Wakes this process's worker when a job is queued here, so it need not wait for its next
    /// look at the queue; workers of other processes find the job on their next look.
    pub(crate) queued: Notify,
}

impl std::fmt::Debug for Exports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exports")
            .field("files", &self.files)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Exports {
    /// Export over a job store and object storage.
    pub fn new(jobs: Arc<dyn JobStore>, files: ExportFiles, config: ExportConfig) -> Self {
        Exports {
            jobs,
            files,
            config,
            queued: Notify::new(),
        }
    }
}

/// The key under which a job is kept for the principal of `scope`: the principal's key
/// ([`crate::interaction::export::principal_key`]: `all`, `app:{app}`, `user:{app}:{user}`),
/// followed for a user with grants by a hash of them. Unlike a synchronous export's files, which
/// are read with the principal's scope of the moment, a job's files hold what the grants allowed
/// at kick-off: once a grant is revoked (or another given) they no longer match what the
/// principal may read, so they are no longer its own.
pub fn job_principal_key(scope: &Scope) -> String {
    let key = crate::interaction::export::principal_key(scope);
    let Scope::User { grants, .. } = scope else {
        return key;
    };
    if grants.is_empty() {
        return key;
    }
    let mut listed: Vec<String> = grants
        .iter()
        .map(|g| format!("{}/{}", g.owner, g.patient.as_deref().unwrap_or("*")))
        .collect();
    listed.sort();
    listed.dedup();
    let digest = Sha256::digest(listed.join("\n").as_bytes());
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{key}:{short}")
}

/// The app whose job limit a principal counts against; none for the operator.
pub fn principal_app(scope: &Scope) -> Option<i64> {
    match scope {
        Scope::All => None,
        Scope::App(app) | Scope::User { app, .. } => Some(*app),
    }
}

/// The wall clock as an [`Instant`].
pub(crate) fn now() -> Instant {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    Instant(micros)
}

/// `instant` moved by `by`.
pub(crate) fn after(instant: Instant, by: Duration) -> Instant {
    Instant(instant.0.saturating_add(by.as_micros() as i64))
}

/// `instant` moved back by `by`.
pub(crate) fn before(instant: Instant, by: Duration) -> Instant {
    Instant(instant.0.saturating_sub(by.as_micros() as i64))
}

#[cfg(test)]
mod tests {
    use hale_store::Grant;

    use super::*;

    #[test]
    fn principal_keys_tell_principals_and_their_grants_apart() {
        let user = |grants: Vec<Grant>| Scope::User {
            app: 1,
            user: 10,
            grants,
        };
        let grant = |owner, patient: Option<&str>| Grant {
            owner,
            patient: patient.map(Into::into),
        };
        assert_eq!(job_principal_key(&Scope::All), "all");
        assert_eq!(job_principal_key(&Scope::App(1)), "app:1");
        assert_eq!(job_principal_key(&user(Vec::new())), "user:1:10");
        let granted = job_principal_key(&user(vec![grant(11, Some("p")), grant(12, None)]));
        assert!(granted.starts_with("user:1:10:"), "{granted}");
        // The order grants come in does not matter; what they are does.
        assert_eq!(
            granted,
            job_principal_key(&user(vec![grant(12, None), grant(11, Some("p"))]))
        );
        assert_ne!(
            granted,
            job_principal_key(&user(vec![grant(11, Some("p"))]))
        );
        assert_eq!(principal_app(&Scope::All), None);
        assert_eq!(principal_app(&user(Vec::new())), Some(1));
    }
}
