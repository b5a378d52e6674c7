//! Hale's embedded default store: bundled SQLite in WAL mode.
//!
//! One writer thread owns the only write connection. It takes queued write closures, runs as many
//! as are waiting (up to [`SqliteConfig::max_group`]) inside one database transaction, each under
//! its own savepoint, and commits them with a single fsync: group commit. A closure's caller is
//! answered only after that commit, so an acknowledged write survives `kill -9`. Reads use a pool
//! of connections on blocking threads and never wait for the writer.
#![warn(missing_docs)]

mod checkpoint;
mod identity;
mod params;
mod plan;
mod read;
mod reindex;
mod schema;
mod search;
mod sql;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hale_fhir::FhirVersion;
use hale_search::query::{Include, SearchQuery};
use hale_store::{
    HistoryPage, HistoryQuery, PageRequest, ResourceKey, ResourceStore, Scope, SearchPage,
    StoreError, StoredResource, WriteFn,
};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

/// Settings of the SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// The database file.
    pub path: PathBuf,
    /// Most write closures committed together.
    pub max_group: usize,
    /// Most write closures waiting for the writer before writes are refused as overloaded.
    pub queue_capacity: usize,
    /// `PRAGMA synchronous`: `FULL` (the default) also survives power loss; `NORMAL` survives a
    /// killed process but may lose the last commits on power loss.
    pub synchronous_full: bool,
    /// Most idle reader connections kept open.
    pub max_idle_readers: usize,
    /// The WAL size, in bytes, beyond which the writer stops between two commits to copy the WAL
    /// into the database and empty it (see `write::Writer::bound_wal`).
    pub wal_limit_bytes: u64,
}

impl SqliteConfig {
    /// The defaults for a database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            max_group: 512,
            queue_capacity: 16_384,
            synchronous_full: true,
            // At least as many as the connections a busy server serves at once, so that reads
            // reuse connections (and their prepared statements) instead of reopening them.
            max_idle_readers: 64,
            // 128 MiB: copied in well under a second, rarely enough not to matter.
            wal_limit_bytes: 128 * 1024 * 1024,
        }
    }
}

/// The SQLite store.
pub struct SqliteStore {
    inner: Arc<Inner>,
    params: Arc<params::ParamIds>,
    writer: write::WriterHandle,
    checkpointer: checkpoint::Checkpointer,
}

struct Inner {
    config: SqliteConfig,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database and starts the writer thread.
    pub fn open(config: SqliteConfig) -> Result<Self, StoreError> {
        if let Some(parent) = config.path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", parent.display())))?;
        }
        let write_conn = open_connection(&config.path, true, config.synchronous_full)?;
        schema::migrate(&write_conn)?;
        schema::record_fingerprint_if_empty(&write_conn)?;
        write_conn
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .map_err(backend)?;
        let checkpointer = checkpoint::Checkpointer::start(&config.path, config.synchronous_full)?;
        let params = Arc::new(params::ParamIds::default());
        let writer = write::WriterHandle::start(write_conn, params.clone(), &config)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                config,
                readers: Mutex::new(Vec::new()),
            }),
            params,
            writer,
            checkpointer,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.config.path
    }

    /// Stops the writer after it has committed everything queued.
    pub fn shutdown(&self) {
        self.writer.shutdown();
        self.checkpointer.stop();
    }

    async fn with_reader<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match inner.readers.lock().pop() {
                Some(conn) => conn,
                None => open_connection(&inner.config.path, false, inner.config.synchronous_full)?,
            };
            let result = work(&conn);
            let mut pool = inner.readers.lock();
            if pool.len() < inner.config.max_idle_readers {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("reader task failed: {e}")))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The parameter ids of a reader connection, whose snapshots hold only committed ids.
fn reader<'a>(conn: &'a Connection, ids: &'a params::ParamIds) -> params::Lookup<'a> {
    params::Lookup {
        conn,
        ids,
        committed: true,
    }
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) fn open_connection(
    path: &Path,
    writer: bool,
    synchronous_full: bool,
) -> Result<Connection, StoreError> {
    let flags = if writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(backend)?;
    // The writer may wait for the checkpointer while it empties a large WAL (see `checkpoint`);
    // readers never wait for anyone in WAL mode but get a bound all the same.
    let busy = std::time::Duration::from_secs(if writer { 60 } else { 5 });
    conn.busy_timeout(busy).map_err(backend)?;
    let sync = if synchronous_full { "FULL" } else { "NORMAL" };
    // The writer touches every index B-tree on every write, so it gets a large page cache (it
    // fills only as the database grows); readers share the OS cache through mmap.
    let cache_kib = if writer { -262_144 } else { -16_384 };
    // temp_store stays at its default (files): with an in-memory sub-journal, SQLite walks the
    // whole journal each time a statement inside a savepoint finishes, which made a large
    // transaction quadratic.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = OFF; \
         PRAGMA cache_size = {cache_kib}; PRAGMA mmap_size = 268435456;"
    ))
    .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

#[async_trait::async_trait]
impl ResourceStore for SqliteStore {
    async fn write(&self, work: WriteFn) -> Result<(), StoreError> {
        self.writer.submit(write::Work::Tx(work)).await
    }

    async fn read(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (scope, rt, id) = (scope.clone(), resource_type.to_owned(), id.to_owned());
        self.with_reader(move |conn| read::current(conn, &scope, fhir_version, &rt, &id))
            .await
    }

    async fn vread(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
        version_id: u64,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (scope, rt, id) = (scope.clone(), resource_type.to_owned(), id.to_owned());
        self.with_reader(move |conn| {
            read::version(conn, &scope, fhir_version, &rt, &id, version_id)
        })
        .await
    }

    async fn history(
        &self,
        scope: &Scope,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, StoreError> {
        let (scope, query) = (scope.clone(), query.clone());
        self.with_reader(move |conn| read::history(conn, &scope, &query))
            .await
    }

    async fn find(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let (scope, query) = (scope.clone(), query.clone());
        let ids = self.params.clone();
        self.with_reader(move |conn| {
            read::find(&reader(conn, &ids), &scope, fhir_version, &query, limit)
        })
        .await
    }

    async fn search(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        page: &PageRequest,
    ) -> Result<SearchPage, StoreError> {
        let (scope, query, page) = (scope.clone(), query.clone(), page.clone());
        let ids = self.params.clone();
        self.with_reader(move |conn| {
            read::search(&reader(conn, &ids), &scope, fhir_version, &query, &page)
        })
        .await
    }

    async fn count(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        horizon: Option<i64>,
    ) -> Result<u64, StoreError> {
        let (scope, query) = (scope.clone(), query.clone());
        let ids = self.params.clone();
        self.with_reader(move |conn| {
            read::count(&reader(conn, &ids), &scope, fhir_version, &query, horizon)
        })
        .await
    }

    async fn include(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        include: &Include,
        reverse: bool,
        sources: &[ResourceKey],
    ) -> Result<Vec<StoredResource>, StoreError> {
        let (scope, include, sources) = (scope.clone(), *include, sources.to_vec());
        let ids = self.params.clone();
        self.with_reader(move |conn| {
            read::include(
                &reader(conn, &ids),
                &scope,
                fhir_version,
                &include,
                reverse,
                &sources,
            )
        })
        .await
    }

    async fn count_by_type(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let scope = scope.clone();
        self.with_reader(move |conn| read::count_by_type(conn, &scope, fhir_version))
            .await
    }

    async fn index_fingerprint(&self) -> Result<Option<String>, StoreError> {
        self.recorded_fingerprint().await
    }

    async fn reindex(
        &self,
        reindexer: hale_store::Reindexer,
        fingerprint: &str,
    ) -> Result<u64, StoreError> {
        self.reindex_all(reindexer, fingerprint).await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.writer.check_alive()?;
        self.with_reader(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }
}

#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use hale_store::ResourceStore;

    /// A fresh store in a temporary folder that lives as long as the test process.
    fn fresh() -> Arc<dyn ResourceStore> {
        let dir = tempfile::tempdir()
            .map(|d| d.keep())
            .unwrap_or_else(|_| std::env::temp_dir());
        let store = crate::SqliteStore::open(crate::SqliteConfig::new(dir.join("hale.db")));
        match store {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("opening a fresh store: {e}"),
        }
    }

    hale_store::store_contract_tests!(fresh());
}

#[cfg(test)]
mod fingerprint {
    use hale_store::ResourceStore;

    /// A database that holds data but no fingerprint (made before fingerprints were recorded)
    /// reports none, so the server warns that it needs `hale reindex`; an empty one is current.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_database_with_data_keeps_its_unknown_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hale.db");
        let current = hale_search::index::fingerprint();
        {
            let store = crate::SqliteStore::open(crate::SqliteConfig::new(&path)).unwrap();
            assert_eq!(
                store.index_fingerprint().await.unwrap(),
                Some(current.clone())
            );
            let conn = crate::open_connection(&path, true, true).unwrap();
            conn.execute_batch(
                "INSERT INTO resource (fhir_version, type, id, version_id, last_updated, deleted, seq) \
                 VALUES ('r4', 'Patient', 'old', 1, 0, 0, 1); DELETE FROM meta;",
            )
            .unwrap();
            store.shutdown();
        }
        let store = crate::SqliteStore::open(crate::SqliteConfig::new(&path)).unwrap();
        assert_eq!(store.index_fingerprint().await.unwrap(), None);
        store.shutdown();
    }
}

#[cfg(test)]
mod wal {
    use std::sync::Arc;

    use hale_store::ResourceStore;

    /// Under writes that never pause, the WAL stays near its limit instead of growing with every
    /// commit, every write still commits, and the file is emptied once the writes stop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sustained_writes_keep_the_wal_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hale.db");
        let mut config = crate::SqliteConfig::new(&path);
        config.wal_limit_bytes = 1024 * 1024;
        let store: Arc<dyn ResourceStore> = Arc::new(crate::SqliteStore::open(config).unwrap());
        let wal = dir.path().join("hale.db-wal");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        // Eight clients that each write again as soon as their last write commits.
        let clients = (0..8).map(|client| {
            let store = store.clone();
            async move {
                let mut written = 0_u64;
                while std::time::Instant::now() < until {
                    let id = format!("c{client}-{written}");
                    let ok = hale_store::write_with(store.as_ref(), move |tx| {
                        let now = tx.now();
                        let json = format!(
                            r#"{{"resourceType":"Patient","id":"{id}","text":"{}"}}"#,
                            "x".repeat(4000)
                        );
                        let version = hale_store::NewVersion {
                            fhir_version: hale_fhir::FhirVersion::R4,
                            resource_type: "Patient",
                            id,
                            version_id: 1,
                            last_updated: now,
                            owner: None,
                            method: hale_store::Method::Post,
                            json: bytes::Bytes::from(json),
                            index: Vec::new(),
                            compartments: Vec::new(),
                            known_new: true,
                        };
                        (hale_store::WriteDecision::Commit, tx.put(version).is_ok())
                    })
                    .await
                    .unwrap();
                    assert!(ok);
                    written += 1;
                }
                written
            }
        });
        let handles: Vec<_> = clients.map(tokio::spawn).collect();
        let mut largest = 0;
        while handles.iter().any(|h| !h.is_finished()) {
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut written = 0;
        for handle in handles {
            written += handle.await.unwrap();
        }
        let counts = store
            .count_by_type(&hale_store::Scope::All, hale_fhir::FhirVersion::R4)
            .await
            .unwrap();
        assert_eq!(counts, vec![("Patient".to_owned(), written)]);
        assert!(
            largest < 24 * 1024 * 1024,
            "the WAL grew to {largest} bytes"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            if size < 1024 * 1024 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL stayed at {size} bytes after the writes"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
