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
mod jobs;
mod operator;
mod params;
mod read;
mod record;
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
    HistoryPage, HistoryQuery, PageRequest, RecordPage, RecordPageRequest, RecordQuery,
    ResourceKey, ResourceStore, Scope, SearchPage, StoreError, StoredResource, WriteFn,
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
    // fills only as the database grows). Readers share the OS cache through mmap, as far as
    // SQLite maps (its limit is 2 GiB); their own caches are small because the pool keeps
    // several readers, and each one's cache, once full, stays allocated: at 16 MiB apiece a
    // bulk export left the server holding over 100 MB.
    let cache_kib = if writer { -262_144 } else { -4_096 };
    // temp_store stays at its default (files): with an in-memory sub-journal, SQLite walks the
    // whole journal each time a statement inside a savepoint finishes, which made a large
    // transaction quadratic.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = OFF; \
         PRAGMA cache_size = {cache_kib}; PRAGMA mmap_size = 2147418112;"
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

    async fn record(
        &self,
        scope: &Scope,
        query: &RecordQuery,
        page: &RecordPageRequest,
    ) -> Result<RecordPage, StoreError> {
        let (scope, query, page) = (scope.clone(), query.clone(), page.clone());
        let ids = self.params.clone();
        self.with_reader(move |conn| record::record(&reader(conn, &ids), &scope, &query, &page))
            .await
    }

    async fn cuts(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        horizon: i64,
        every: usize,
    ) -> Result<(u64, Vec<i64>), StoreError> {
        let (scope, query) = (scope.clone(), query.clone());
        let ids = self.params.clone();
        self.with_reader(move |conn| {
            read::cuts(
                &reader(conn, &ids),
                &scope,
                fhir_version,
                &query,
                horizon,
                every,
            )
        })
        .await
    }

    async fn export_rows(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        after: i64,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<(i64, bytes::Bytes)>, StoreError> {
        let (scope, query) = (scope.clone(), query.clone());
        let ids = self.params.clone();
        self.with_reader(move |conn| {
            read::export_rows(
                &reader(conn, &ids),
                &scope,
                fhir_version,
                &query,
                after,
                upto,
                limit,
            )
        })
        .await
    }

    async fn horizon(&self) -> Result<i64, StoreError> {
        self.with_reader(|conn| search::horizon(conn, None)).await
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

    async fn operator_seq(
        &self,
        fhir_version: FhirVersion,
        types: &[&str],
    ) -> Result<i64, StoreError> {
        let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
        self.with_reader(move |conn| operator::operator_seq(conn, fhir_version, &types))
            .await
    }

    async fn operator_resources(
        &self,
        fhir_version: FhirVersion,
        resource_type: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, bytes::Bytes)>, StoreError> {
        let resource_type = resource_type.to_owned();
        self.with_reader(move |conn| {
            operator::operator_resources(conn, fhir_version, &resource_type, after, limit)
        })
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

#[cfg(test)]
mod owner_groups {
    //! Searches, counts, history and `count_by_type` that read the scope's owner groups
    //! (`Planner::owner_arms`, `read::owner_rows`) give what the statements that test every
    //! resource's owner give: pages forwards, backwards, skipped and sorted against `find` (which
    //! keeps the per-row scope condition), history against the operator's history filtered by
    //! `read`, on a fixture where one grantor shares two Patients whose compartments overlap.
    #![allow(clippy::unwrap_used, reason = "test code")]

    use std::collections::{BTreeMap, BTreeSet};

    use bytes::Bytes;
    use hale_fhir::{FhirVersion, Instant};
    use hale_search::index::IndexEntry;
    use hale_search::query::{
        Criterion, DateBound, Prefix, SearchQuery, SortKey, SortKind, Test, TokenValue,
    };
    use hale_store::{
        Grant, HistoryQuery, Method, NewVersion, Owner, PageRequest, Position, ResourceStore,
        Scope, StoredResource, WriteDecision, write_with,
    };

    const R4: FhirVersion = FhirVersion::R4;
    const OWNERS: &[Option<Owner>] = &[
        None,
        Some(Owner {
            app: 1,
            user: Some(10),
        }),
        Some(Owner {
            app: 1,
            user: Some(11),
        }),
        Some(Owner {
            app: 1,
            user: Some(12),
        }),
        Some(Owner { app: 1, user: None }),
        Some(Owner {
            app: 2,
            user: Some(11),
        }),
    ];

    fn new_version(
        resource_type: &'static str,
        id: &str,
        version_id: u64,
        owner: Option<Owner>,
        code: Option<&str>,
        compartments: Vec<String>,
    ) -> NewVersion {
        let index = code
            .map(|code| IndexEntry::Token {
                code: "code",
                system: Some("s".into()),
                value: Some(code.into()),
                text: None,
                of_type: None,
            })
            .into_iter()
            .collect();
        NewVersion {
            fhir_version: R4,
            resource_type,
            id: id.into(),
            version_id,
            last_updated: Instant(0),
            owner,
            method: Method::Put,
            json: Bytes::from(format!(
                r#"{{"resourceType":"{resource_type}","id":"{id}"}}"#
            )),
            index,
            compartments,
            known_new: false,
        }
    }

    /// Writes each version in its own closure, stamped with the closure's time.
    async fn put(store: &dyn ResourceStore, mut version: NewVersion) {
        write_with(store, move |tx| {
            version.last_updated = tx.now();
            tx.put(version).unwrap();
            (WriteDecision::Commit, ())
        })
        .await
        .unwrap();
    }

    /// Patients `p0`–`p3` and Observations and Practitioners of every owner, each Observation in
    /// one or two Patients' compartments; then some updates and deletions.
    async fn fixture(store: &dyn ResourceStore) {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for (idx, owner) in [1, 2, 2, 3].into_iter().enumerate() {
            let id = format!("p{idx}");
            let version = new_version("Patient", &id, 1, OWNERS[owner], None, vec![id.clone()]);
            put(store, version).await;
        }
        let mut written = Vec::new();
        for idx in 0..160 {
            let (resource_type, id) = if idx % 10 == 0 {
                ("Practitioner", format!("d{idx}"))
            } else {
                ("Observation", format!("o{idx}"))
            };
            let owner = OWNERS[next(OWNERS.len())];
            let code = ["a", "b", "c"][next(3)];
            let compartments = match (resource_type, next(4)) {
                ("Practitioner", _) => Vec::new(),
                (_, 0) => vec!["p1".to_owned(), "p2".to_owned()],
                (_, n) => vec![format!("p{n}")],
            };
            let version = new_version(resource_type, &id, 1, owner, Some(code), compartments);
            written.push((resource_type, id, owner, code, version.compartments.clone()));
            put(store, version).await;
        }
        let mut n_versions: BTreeMap<String, u64> = BTreeMap::new();
        for _ in 0..40 {
            let (resource_type, id, owner, code, compartments) = &written[next(written.len())];
            let version_id = n_versions.entry(id.clone()).or_insert(1);
            *version_id += 1;
            let mut version = new_version(
                resource_type,
                id,
                *version_id,
                *owner,
                Some(code),
                compartments.clone(),
            );
            if next(3) == 0 {
                version.method = Method::Delete;
                version.json = Bytes::new();
                version.index.clear();
                version.compartments.clear();
            }
            put(store, version).await;
        }
    }

    fn scopes() -> Vec<Scope> {
        let grant = |owner, patient: Option<&str>| Grant {
            owner,
            patient: patient.map(Into::into),
        };
        vec![
            Scope::App(1),
            Scope::App(2),
            Scope::App(99),
            Scope::User {
                app: 1,
                user: 10,
                grants: Vec::new(),
            },
            // One grantor, two Patients whose compartments overlap: each resource once.
            Scope::User {
                app: 1,
                user: 10,
                grants: vec![grant(11, Some("p1")), grant(11, Some("p2"))],
            },
            Scope::User {
                app: 1,
                user: 10,
                grants: vec![
                    grant(11, None),
                    grant(12, Some("p1")),
                    grant(12, Some("p3")),
                ],
            },
            // The per-patient grant adds nothing to the whole-record one.
            Scope::User {
                app: 1,
                user: 12,
                grants: vec![grant(10, Some("p1")), grant(10, None)],
            },
            Scope::User {
                app: 2,
                user: 11,
                grants: vec![grant(12, Some("p1"))],
            },
        ]
    }

    fn queries(time: i64) -> Vec<SearchQuery> {
        let not_a = Criterion::param(
            "code",
            Test::Token {
                negate: true,
                values: vec![TokenValue::Code("a".into())],
            },
        );
        let before = |prefix| {
            Criterion::param(
                "_lastUpdated",
                Test::LastUpdated(vec![DateBound {
                    prefix,
                    low: time,
                    high: time,
                }]),
            )
        };
        let mut system = SearchQuery::new("Resource", Vec::new());
        system.types = vec!["Observation", "Patient"];
        vec![
            SearchQuery::new("Observation", Vec::new()),
            SearchQuery::new("Patient", Vec::new()),
            SearchQuery::new("Observation", vec![not_a.clone()]),
            SearchQuery::new("Observation", vec![before(Prefix::Lt)]),
            SearchQuery::new(
                "Observation",
                vec![Criterion::Any(vec![not_a, before(Prefix::Ge)])],
            ),
            SearchQuery::new(
                "Observation",
                vec![Criterion::param("code", Test::Missing(true))],
            ),
            SearchQuery::new(
                "Resource",
                vec![Criterion::param("code", Test::Missing(false))],
            ),
            SearchQuery::new("Resource", Vec::new()),
            system,
        ]
    }

    fn keys(resources: &[StoredResource]) -> Vec<String> {
        resources
            .iter()
            .map(|r| format!("{}/{}", r.resource_type, r.id))
            .collect()
    }

    /// Every page of `request`, following `after` (or `before`, going back).
    async fn pages(
        store: &dyn ResourceStore,
        scope: &Scope,
        query: &SearchQuery,
        mut request: PageRequest,
    ) -> Vec<String> {
        let backwards = request.before.is_some();
        let mut found = Vec::new();
        loop {
            let page = store.search(scope, R4, query, &request).await.unwrap();
            request.horizon = Some(page.horizon);
            let n_hits = page.hits.len();
            let mut keys: Vec<String> = page
                .hits
                .iter()
                .map(|hit| format!("{}/{}", hit.resource.resource_type, hit.resource.id))
                .collect();
            if backwards {
                keys.extend(found);
                found = keys;
                request.before = page.hits.first().map(|hit| hit.position.clone());
            } else {
                found.extend(keys);
                request.after = page.hits.last().map(|hit| hit.position.clone());
            }
            if n_hits < request.limit {
                return found;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn owner_groups_agree_with_the_per_row_scope() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::SqliteStore::open(crate::SqliteConfig::new(dir.path().join("hale.db"))).unwrap();
        let s: &dyn ResourceStore = &store;
        fixture(s).await;
        let everything = s
            .find(
                &Scope::All,
                R4,
                &SearchQuery::new("Resource", Vec::new()),
                10_000,
            )
            .await
            .unwrap();
        let time = everything[everything.len() / 2].last_updated.0;
        let all_history = s
            .history(
                &Scope::All,
                &HistoryQuery {
                    fhir_version: R4,
                    resource_type: None,
                    id: None,
                    since: None,
                    count: 10_000,
                    before_seq: None,
                },
            )
            .await
            .unwrap()
            .versions;

        for scope in scopes() {
            for query in queries(time) {
                let context = format!("{query:?} under {scope:?}");
                // `find` keeps the scope condition per row: the statement before owner groups.
                let expected = s.find(&scope, R4, &query, 10_000).await.unwrap();
                let expected_keys = keys(&expected);
                let count = s.count(&scope, R4, &query, None).await.unwrap();
                assert_eq!(count as usize, expected.len(), "count of {context}");
                let forward = PageRequest {
                    limit: 7,
                    ..PageRequest::default()
                };
                assert_eq!(
                    pages(s, &scope, &query, forward).await,
                    expected_keys,
                    "pages of {context}"
                );
                let backward = PageRequest {
                    limit: 6,
                    before: Some(Position {
                        keys: Vec::new(),
                        row: i64::MAX,
                    }),
                    ..PageRequest::default()
                };
                assert_eq!(
                    pages(s, &scope, &query, backward).await,
                    expected_keys,
                    "pages backwards of {context}"
                );
                let skipped = PageRequest {
                    limit: 5,
                    offset: 3,
                    ..PageRequest::default()
                };
                let page = s.search(&scope, R4, &query, &skipped).await.unwrap();
                let skipped_keys: Vec<String> =
                    expected_keys.iter().skip(3).take(5).cloned().collect();
                assert_eq!(
                    keys(
                        &page
                            .hits
                            .into_iter()
                            .map(|h| h.resource)
                            .collect::<Vec<_>>()
                    ),
                    skipped_keys,
                    "skipped page of {context}"
                );
                // `_sort=-_lastUpdated`: newest first, then row order.
                let mut sorted: Vec<(usize, &StoredResource)> =
                    expected.iter().enumerate().collect();
                sorted.sort_by_key(|(row, r)| (std::cmp::Reverse(r.last_updated.0), *row));
                let sorted_keys: Vec<String> = sorted
                    .iter()
                    .map(|(_, r)| format!("{}/{}", r.resource_type, r.id))
                    .collect();
                let by_time = PageRequest {
                    limit: 4,
                    sort: vec![SortKey {
                        code: "_lastUpdated",
                        kind: SortKind::LastUpdated,
                        descending: true,
                    }],
                    ..PageRequest::default()
                };
                assert_eq!(
                    pages(s, &scope, &query, by_time).await,
                    sorted_keys,
                    "pages by time of {context}"
                );
            }

            // What the scope may read, deleted resources included.
            let mut visible = BTreeSet::new();
            for resource in &all_history {
                let read = s
                    .read(&scope, R4, &resource.resource_type, &resource.id)
                    .await
                    .unwrap();
                if read.is_some() {
                    visible.insert((resource.resource_type.clone(), resource.id.clone()));
                }
            }
            for resource_type in [None, Some("Observation"), Some("Patient")] {
                let expected: Vec<i64> = all_history
                    .iter()
                    .filter(|v| resource_type.is_none_or(|t| v.resource_type == t))
                    .filter(|v| visible.contains(&(v.resource_type.clone(), v.id.clone())))
                    .map(|v| v.seq)
                    .collect();
                let mut found = Vec::new();
                let mut before_seq = None;
                loop {
                    let page = s
                        .history(
                            &scope,
                            &HistoryQuery {
                                fhir_version: R4,
                                resource_type: resource_type.map(Into::into),
                                id: None,
                                since: None,
                                count: 9,
                                before_seq,
                            },
                        )
                        .await
                        .unwrap();
                    assert_eq!(
                        page.total as usize,
                        expected.len(),
                        "history total of {resource_type:?} under {scope:?}"
                    );
                    found.extend(page.versions.iter().map(|v| v.seq));
                    before_seq = page.versions.last().map(|v| v.seq);
                    if page.versions.len() < 9 {
                        break;
                    }
                }
                assert_eq!(
                    found, expected,
                    "history of {resource_type:?} under {scope:?}"
                );
            }

            let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
            let current = s
                .find(
                    &scope,
                    R4,
                    &SearchQuery::new("Resource", Vec::new()),
                    10_000,
                )
                .await
                .unwrap();
            for resource in current {
                *by_type.entry(resource.resource_type).or_default() += 1;
            }
            assert_eq!(
                s.count_by_type(&scope, R4).await.unwrap(),
                by_type.into_iter().collect::<Vec<_>>(),
                "count_by_type under {scope:?}"
            );
        }
        store.shutdown();
    }
}
