//! Export files in object storage: a local folder by default, S3, Google Cloud Storage or Azure
//! Blob Storage by URL, all through [`object_store`].
//!
//! Each job's files live under a folder named by the job's id, `{job_id}/{name}`, so removing a
//! job's files is removing that folder. Files are written in chunks of [`Bytes`] through a
//! buffered multipart upload, so a file of any size costs a bounded amount of memory (see
//! [`PART_BYTES`]), and downloads stream the stored object.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};

use super::jobs::JobError;

/// The size of one part of a multipart upload, and of the buffer before the first: S3's
/// smallest part. A writer holds at most [`PARTS_IN_FLIGHT`] parts plus the one it fills.
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// Parts of one file uploaded at once. Two keep the upload busy while the next part fills,
/// and bound a file's memory to about three parts.
pub const PARTS_IN_FLIGHT: usize = 2;

/// The object storage that holds export files.
#[derive(Clone)]
pub struct ExportFiles {
    store: Arc<dyn ObjectStore>,
    /// What the files are stored in, for logs.
    description: String,
}

impl std::fmt::Debug for ExportFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// A stored file opened for download.
pub struct Download {
    /// Its size in bytes.
    pub size: u64,
    /// Its content.
    pub body: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

impl ExportFiles {
    /// Files in `store`, at its root.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        let description = store.to_string();
        ExportFiles { store, description }
    }

    /// Files in the local folder `dir`, created if needed. Each file is synced to disk before it
    /// is published, so a job that completed (which the database has made durable) never names
    /// a file a power loss could have lost.
    pub fn local(dir: &std::path::Path) -> Result<Self, object_store::Error> {
        std::fs::create_dir_all(dir).map_err(|e| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: format!("creating {}: {e}", dir.display()).into(),
        })?;
        // Deleting a job's last file removes its folder too, so expired jobs leave nothing.
        let store = LocalFileSystem::new_with_prefix(dir)?
            .with_automatic_cleanup(true)
            .with_fsync(true);
        Ok(ExportFiles::new(Arc::new(store)))
    }

    /// Files at `location`: a local folder (a path, or a `file://` URL), or an object store URL
    /// (`s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`) configured by
    /// `options`, the `object_store` settings (`aws_access_key_id`, `google_service_account`,
    /// `azure_storage_account_name`, … in any case; others are ignored).
    pub fn from_location<I, K, V>(location: &str, options: I) -> Result<Self, object_store::Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        if !location.contains("://") {
            return ExportFiles::local(std::path::Path::new(location));
        }
        let url = url::Url::parse(location).map_err(|e| object_store::Error::Generic {
            store: "url",
            source: format!("{location:?} is not a URL: {e}").into(),
        })?;
        if url.scheme() == "file" {
            let dir = url
                .to_file_path()
                .map_err(|()| object_store::Error::Generic {
                    store: "url",
                    source: format!("{location:?} is not a local folder").into(),
                })?;
            return ExportFiles::local(&dir);
        }
        let (store, prefix) = object_store::parse_url_opts(&url, options)?;
        let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            Arc::from(store)
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        let mut files = ExportFiles::new(store);
        // The URL without its query, which could hold credentials.
        files.description = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.path()
        );
        Ok(files)
    }

    /// Starts writing file `name` of job `job_id`, replacing any file of that name once
    /// finished. `cancelled` is checked before every write.
    pub fn create(&self, job_id: &str, name: &str, cancelled: Arc<AtomicBool>) -> FileWriter {
        let writer =
            BufWriter::with_capacity(self.store.clone(), file_path(job_id, name), PART_BYTES)
                .with_max_concurrency(PARTS_IN_FLIGHT);
        FileWriter {
            writer: Some(writer),
            bytes: 0,
            cancelled,
        }
    }

    /// Opens file `name` of job `job_id`; `None` when there is no such file.
    pub async fn open(
        &self,
        job_id: &str,
        name: &str,
    ) -> Result<Option<Download>, object_store::Error> {
        match self.store.get(&file_path(job_id, name)).await {
            Ok(found) => Ok(Some(Download {
                size: found.meta.size,
                body: found.into_stream(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes every file of job `job_id`; returns how many there were.
    pub async fn remove_job(&self, job_id: &str) -> Result<usize, object_store::Error> {
        let folder = Path::from(job_id);
        let listed = self
            .store
            .list(Some(&folder))
            .map_ok(|meta| meta.location)
            .boxed();
        let removed: Vec<Result<Path, object_store::Error>> =
            self.store.delete_stream(listed).collect().await;
        let mut n_removed = 0;
        for result in removed {
            match result {
                Ok(_) => n_removed += 1,
                // Removed meanwhile by another process (a sweeper, a cancel): the goal is met.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n_removed)
    }
}

fn file_path(job_id: &str, name: &str) -> Path {
    Path::from(job_id).join(name)
}

/// Whether `name` may name an export file: 1 to 128 letters, digits, `.`, `_` and `-`, not
/// starting with `.`. Names travel in URLs and become object keys and local file names, so
/// nothing that could mean another folder or a hidden file is allowed.
pub fn valid_file_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One export file being written. Nothing is visible under its name until
/// [`FileWriter::finish`]; a writer dropped before that (a failed or cancelled job) removes
/// what it uploaded.
pub struct FileWriter {
    /// `None` once finished.
    writer: Option<BufWriter>,
    bytes: u64,
    cancelled: Arc<AtomicBool>,
}

impl FileWriter {
    /// Appends `chunk`. Fails with [`JobError::Cancelled`] once the job is cancelled, so a runner
    /// stops at its next write.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), JobError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(JobError::Cancelled);
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(JobError::Failed(
                "a write after the file was finished".into(),
            ));
        };
        self.bytes += chunk.len() as u64;
        writer.put(chunk).await.map_err(JobError::Files)
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Publishes the file under its name; returns its size in bytes.
    pub async fn finish(mut self) -> Result<u64, JobError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(JobError::Cancelled);
        }
        let Some(mut writer) = self.writer.take() else {
            return Err(JobError::Failed("the file was already finished".into()));
        };
        tokio::io::AsyncWriteExt::shutdown(&mut writer)
            .await
            .map_err(|e| {
                JobError::Files(object_store::Error::Generic {
                    store: "upload",
                    source: Box::new(e),
                })
            })?;
        Ok(self.bytes)
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        // Unfinished: abort the upload so no part (an S3 multipart upload, a local staging
        // file) is left behind. Aborting is I/O, so it runs on the runtime, not in `drop`.
        if let Some(mut writer) = self.writer.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(error = %e, "could not abort an unfinished export file");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_their_folder() {
        for good in [
            "Patient.ndjson",
            "Observation.002.ndjson",
            "errors_1-a.ndjson",
        ] {
            assert!(valid_file_name(good), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "..",
            "a/b",
            "a\\b",
            "p%2Fq",
            "é.ndjson",
            &"x".repeat(129),
        ] {
            assert!(!valid_file_name(bad), "{bad}");
        }
    }

    async fn exists(files: &ExportFiles, job_id: &str, name: &str) -> bool {
        files.open(job_id, name).await.expect("open").is_some()
    }

    #[tokio::test]
    async fn files_are_written_read_and_removed_per_job() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let files = ExportFiles::local(&dir.path().join("exports")).expect("a local store");
        let flag = Arc::new(AtomicBool::new(false));
        let mut writer = files.create("job1", "Patient.ndjson", flag.clone());
        for line in [&b"{\"a\":1}\n"[..], b"{\"a\":2}\n"] {
            writer
                .write(Bytes::from_static(line))
                .await
                .expect("a write");
        }
        assert!(!exists(&files, "job1", "Patient.ndjson").await);
        assert_eq!(writer.finish().await.expect("finish"), 16);
        let other = files.create("job2", "Patient.ndjson", flag.clone());
        other.finish().await.expect("an empty file");

        let download = files.open("job1", "Patient.ndjson").await.expect("open");
        let download = download.expect("a file");
        assert_eq!(download.size, 16);
        let body: Vec<Bytes> = download.body.try_collect().await.expect("the content");
        assert_eq!(body.concat(), b"{\"a\":1}\n{\"a\":2}\n");

        // Cancelled: the next write fails and the unfinished file never appears.
        let mut cancelled = files.create("job1", "Observation.ndjson", flag.clone());
        cancelled
            .write(Bytes::from_static(b"{}\n"))
            .await
            .expect("a write");
        flag.store(true, Ordering::Relaxed);
        let refused = cancelled.write(Bytes::from_static(b"{}\n")).await;
        assert!(matches!(refused, Err(JobError::Cancelled)));
        drop(cancelled);
        assert!(!exists(&files, "job1", "Observation.ndjson").await);

        assert_eq!(files.remove_job("job1").await.expect("removal"), 1);
        assert!(!exists(&files, "job1", "Patient.ndjson").await);
        assert!(!dir.path().join("exports/job1").exists());
        assert!(exists(&files, "job2", "Patient.ndjson").await);
        assert_eq!(files.remove_job("job-none").await.expect("removal"), 0);
    }
}
