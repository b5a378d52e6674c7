//! The directory each process keeps in memory, rebuilt when the operator's directory data
//! changes.
//!
//! The directory is FHIR data in the store, shared by every process on the database; search
//! needs it in memory ([`hale_directory::Directory`]). A request takes the current snapshot.
//! At most every `refresh` a request first asks the store for the latest write sequence number
//! of the operator's Organizations, Endpoints and Locations (one index probe per type); when it
//! moved, that request reloads them page by page and builds the new snapshot while the others keep
//! answering from the old one. So an import by `hale directory import`, by another process or
//! through the FHIR API shows within `refresh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hale_directory::{Directory, DirectoryResources};
use hale_fhir::FhirVersion;
use hale_store::{ResourceStore, StoreError};

/// The types the directory is built from.
const TYPES: [&str; 3] = ["Organization", "Endpoint", "Location"];

/// Resources read per page while loading.
const PAGE: usize = 2000;

struct Snapshot {
    directory: Arc<Directory>,
    seq: i64,
    checked: Instant,
}

/// The in-memory directory of one process.
pub struct DirectoryCache {
    store: Arc<dyn ResourceStore>,
    refresh: Duration,
    current: parking_lot::Mutex<Option<Snapshot>>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl DirectoryCache {
    /// A cache over `store` that looks for changes at most every `refresh`.
    pub fn new(store: Arc<dyn ResourceStore>, refresh: Duration) -> Self {
        DirectoryCache {
            store,
            refresh,
            current: parking_lot::Mutex::new(None),
            rebuilding: tokio::sync::Mutex::new(()),
        }
    }

    /// The snapshot if it was checked within `refresh`.
    fn fresh(&self) -> Option<Arc<Directory>> {
        let current = self.current.lock();
        current
            .as_ref()
            .filter(|s| s.checked.elapsed() < self.refresh)
            .map(|s| s.directory.clone())
    }

    /// The directory as the store holds it now (or at most `refresh` ago).
    pub async fn get(&self) -> Result<Arc<Directory>, StoreError> {
        if let Some(directory) = self.fresh() {
            return Ok(directory);
        }
        // One request refreshes; while it does, the others answer from the snapshot they have,
        // and only without one do they wait for it.
        let _guard = match self.rebuilding.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                if let Some(snapshot) = self.current.lock().as_ref() {
                    return Ok(snapshot.directory.clone());
                }
                self.rebuilding.lock().await
            }
        };
        if let Some(directory) = self.fresh() {
            return Ok(directory);
        }
        let seq = self.store.operator_seq(FhirVersion::R4, &TYPES).await?;
        if let Some(snapshot) = self.current.lock().as_mut()
            && snapshot.seq == seq
        {
            snapshot.checked = Instant::now();
            return Ok(snapshot.directory.clone());
        }
        let directory = Arc::new(self.load().await?);
        tracing::info!(systems = directory.len(), seq, "provider directory loaded");
        *self.current.lock() = Some(Snapshot {
            directory: directory.clone(),
            seq,
            checked: Instant::now(),
        });
        Ok(directory)
    }

    /// Reads the operator's directory resources and builds the directory, parsing on a
    /// blocking thread.
    async fn load(&self) -> Result<Directory, StoreError> {
        let mut resources = DirectoryResources::default();
        for resource_type in TYPES {
            let mut after = 0;
            loop {
                let page = self
                    .store
                    .operator_resources(FhirVersion::R4, resource_type, after, PAGE)
                    .await?;
                let Some(&(last, _)) = page.last() else {
                    break;
                };
                after = last;
                let full = page.len() == PAGE;
                resources = tokio::task::spawn_blocking(move || {
                    for (_, json) in &page {
                        resources.add(json);
                    }
                    resources
                })
                .await
                .map_err(|e| StoreError::Backend(format!("loading the directory: {e}")))?;
                if !full {
                    break;
                }
            }
        }
        tokio::task::spawn_blocking(move || Directory::new(resources.systems()))
            .await
            .map_err(|e| StoreError::Backend(format!("building the directory: {e}")))
    }
}
