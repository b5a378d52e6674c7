//! The writer thread and its group commit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use hale_fhir::{FhirVersion, Instant};
use hale_search::index::IndexEntry;
use hale_search::query::SearchQuery;
use hale_store::{
    NewVersion, RecordMember, Scope, StoreError, StoredResource, WriteDecision, WriteFn, WriteTx,
};
use parking_lot::Mutex;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use crate::params::{Lookup, ParamIds, WriterParams};
use crate::{backend, search, sql};

struct Job {
    work: Work,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Work the writer runs: an engine closure over [`WriteTx`], or maintenance of the store's own
/// (such as a batch of `reindex`) that needs the connection itself.
pub(crate) enum Work {
    /// A closure of the engine.
    Tx(WriteFn),
    /// Store maintenance; an error rolls it back.
    Raw(RawFn),
}

/// Store maintenance run on the writer's connection inside its transaction, with the writer's
/// parameter ids.
pub(crate) type RawFn =
    Box<dyn FnOnce(&Connection, &mut WriterParams) -> Result<(), StoreError> + Send>;

/// The handle the store keeps to its writer thread.
pub(crate) struct WriterHandle {
    sender: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    alive: Arc<AtomicBool>,
}

impl WriterHandle {
    pub(crate) fn start(
        conn: Connection,
        params: Arc<ParamIds>,
        config: &crate::SqliteConfig,
    ) -> Result<Self, StoreError> {
        let (max_group, queue_capacity) = (config.max_group, config.queue_capacity);
        let mut wal_path = config.path.clone().into_os_string();
        wal_path.push("-wal");
        let wal_path = std::path::PathBuf::from(wal_path);
        let wal_limit_bytes = config.wal_limit_bytes;
        let next_seq: i64 = conn
            .query_row("SELECT coalesce(max(seq), 0) + 1 FROM history", [], |row| {
                row.get(0)
            })
            .map_err(backend)?;
        let last_micros: i64 = conn
            .query_row(
                "SELECT coalesce(max(last_updated), 0) FROM history",
                [],
                |row| row.get(0),
            )
            .map_err(backend)?;
        let (sender, receiver) = crossbeam_channel::bounded(queue_capacity);
        let alive = Arc::new(AtomicBool::new(true));
        let alive_in = alive.clone();
        let thread = std::thread::Builder::new()
            .name("hale-sqlite-writer".into())
            .spawn(move || {
                let mut writer = Writer {
                    conn,
                    wal_path,
                    wal_limit_bytes,
                    params: WriterParams::new(params),
                    next_seq,
                    last_micros,
                    max_group,
                };
                writer.run(receiver);
                alive_in.store(false, Ordering::SeqCst);
            })
            .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?;
        Ok(WriterHandle {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            alive,
        })
    }

    pub(crate) async fn submit(&self, work: Work) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        {
            let guard = self.sender.lock();
            let sender = guard.as_ref().ok_or(StoreError::Closed)?;
            match sender.try_send(Job { work, done }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => return Err(StoreError::Overloaded),
                Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
            }
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) fn check_alive(&self) -> Result<(), StoreError> {
        if self.alive.load(Ordering::SeqCst) && self.sender.lock().is_some() {
            Ok(())
        } else {
            Err(StoreError::Closed)
        }
    }

    /// Closes the queue and waits for the writer to commit what was queued before.
    pub(crate) fn shutdown(&self) {
        self.sender.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

struct Writer {
    conn: Connection,
    /// The WAL file, whose size [`Writer::bound_wal`] watches.
    wal_path: std::path::PathBuf,
    wal_limit_bytes: u64,
    params: WriterParams,
    next_seq: i64,
    last_micros: i64,
    max_group: usize,
}

impl Writer {
    fn run(&mut self, receiver: Receiver<Job>) {
        while let Ok(first) = receiver.recv() {
            let mut group = vec![first];
            while group.len() < self.max_group {
                match receiver.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            self.commit_group(group);
            self.bound_wal();
        }
    }

    /// Empties the WAL when it has grown past its limit. Between two groups the writer holds no
    /// transaction, so a `TRUNCATE` checkpoint here waits only for readers on older snapshots
    /// (their queries are short), copies the WAL into the database and empties the file; the
    /// writes queued meanwhile wait that long, which at the default limit is well under a second.
    fn bound_wal(&mut self) {
        let size = std::fs::metadata(&self.wal_path).map_or(0, |m| m.len());
        if size <= self.wal_limit_bytes {
            return;
        }
        let started = std::time::Instant::now();
        match crate::checkpoint::checkpoint(&self.conn, "TRUNCATE") {
            Ok(()) => tracing::debug!(
                wal_bytes = size,
                ms = started.elapsed().as_millis() as u64,
                "WAL emptied"
            ),
            Err(e) => tracing::warn!(error = %e, "emptying the WAL failed"),
        }
    }

    /// Runs the jobs of a group inside one transaction and commits once, and only then answers
    /// the callers.
    ///
    /// A job that rolls back must not take its neighbours with it, so when a group has several
    /// jobs each runs under its own savepoint. A lone job runs without one: SQLite's cost of
    /// closing each statement grows with the pages the enclosing savepoint has touched, which made
    /// large transaction Bundles spend most of their time there.
    fn commit_group(&mut self, group: Vec<Job>) {
        // Nothing of an earlier transaction is pending: it committed or rolled back.
        self.params.rolled_back();
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let err = e.to_string();
            for job in group {
                let _ = job.done.send(Err(StoreError::Backend(err.clone())));
            }
            return;
        }
        let started = std::time::Instant::now();
        let n_jobs = group.len();
        let use_savepoints = group.len() > 1;
        let mut answers = Vec::with_capacity(group.len());
        let mut lone_rollback = false;
        for job in group {
            let result = if use_savepoints {
                self.run_job_in_savepoint(job.work)
            } else {
                match self.run_closure(job.work) {
                    Ok(WriteDecision::Commit) => Ok(()),
                    Ok(WriteDecision::Rollback) => {
                        lone_rollback = true;
                        Ok(())
                    }
                    Err(e) => {
                        lone_rollback = true;
                        Err(e)
                    }
                }
            };
            answers.push((job.done, result));
        }
        let end = if lone_rollback { "ROLLBACK" } else { "COMMIT" };
        let ran = started.elapsed();
        let ended = self.conn.execute_batch(end);
        tracing::debug!(
            n_jobs,
            run_us = ran.as_micros() as u64,
            commit_us = (started.elapsed() - ran).as_micros() as u64,
            "write group"
        );
        match (ended, lone_rollback) {
            (Ok(()), false) => {
                self.params.committed();
                for (done, result) in answers {
                    let _ = done.send(result);
                }
            }
            (Ok(()), true) => {
                self.params.rolled_back();
                for (done, result) in answers {
                    let _ = done.send(result);
                }
            }
            (Err(e), _) => {
                self.params.rolled_back();
                let _ = self.conn.execute_batch("ROLLBACK");
                let err = e.to_string();
                for (done, _) in answers {
                    let _ = done.send(Err(StoreError::Backend(err.clone())));
                }
            }
        }
    }

    fn run_closure(&mut self, work: Work) -> Result<WriteDecision, StoreError> {
        match work {
            Work::Tx(work) => {
                let mut tx = Tx { writer: self };
                catch_unwind(AssertUnwindSafe(|| work(&mut tx)))
                    .map_err(|_| StoreError::Backend("a write closure panicked".into()))
            }
            Work::Raw(work) => {
                let (conn, params) = (&self.conn, &mut self.params);
                catch_unwind(AssertUnwindSafe(|| work(conn, params)))
                    .map_err(|_| StoreError::Backend("store maintenance panicked".into()))?
                    .map(|()| WriteDecision::Commit)
            }
        }
    }

    fn run_job_in_savepoint(&mut self, work: Work) -> Result<(), StoreError> {
        self.conn.execute_batch("SAVEPOINT job").map_err(backend)?;
        match self.run_closure(work) {
            Ok(WriteDecision::Commit) => self.conn.execute_batch("RELEASE job").map_err(backend),
            Ok(WriteDecision::Rollback) => {
                self.params.rolled_back();
                self.conn
                    .execute_batch("ROLLBACK TO job; RELEASE job")
                    .map_err(backend)
            }
            Err(e) => {
                self.params.rolled_back();
                let _ = self.conn.execute_batch("ROLLBACK TO job; RELEASE job");
                Err(e)
            }
        }
    }
}

struct Tx<'a> {
    writer: &'a mut Writer,
}

impl WriteTx for Tx<'_> {
    fn now(&mut self) -> Instant {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        // Versions written later never carry an earlier timestamp, even if the wall clock steps
        // back, so `_since` and history order agree with `seq`.
        let micros = wall.max(self.writer.last_micros + 1);
        self.writer.last_micros = micros;
        Instant(micros)
    }

    fn current(
        &mut self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        sql::current(&self.writer.conn, scope, fhir_version, resource_type, id)
    }

    fn find(
        &mut self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        // Ids read on the writer's connection may be its own uncommitted ones, so they are not
        // shared.
        let lookup = Lookup {
            conn: &self.writer.conn,
            ids: self.writer.params.shared(),
            committed: false,
        };
        search::find(&lookup, scope, fhir_version, query, limit)
    }

    fn record_members(
        &mut self,
        fhir_version: FhirVersion,
        patient: &str,
    ) -> Result<Vec<RecordMember>, StoreError> {
        let lookup = Lookup {
            conn: &self.writer.conn,
            ids: self.writer.params.shared(),
            committed: false,
        };
        crate::record::members(&lookup, fhir_version, patient)
    }

    fn purge(
        &mut self,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        crate::record::purge(&self.writer.conn, fhir_version, resource_type, id)
    }

    fn put(&mut self, version: NewVersion) -> Result<i64, StoreError> {
        let seq = self.writer.next_seq;
        self.writer.next_seq += 1;
        let conn = &self.writer.conn;
        let owner_app = version.owner.map(|o| o.app);
        let owner_user = version.owner.and_then(|o| o.user);
        let deleted = version.is_delete();
        let existing: Option<i64> = if version.known_new {
            None
        } else {
            conn.prepare_cached(
                "SELECT rid FROM resource WHERE fhir_version = ?1 AND type = ?2 AND id = ?3",
            )
            .and_then(|mut stmt| {
                let mut rows = stmt.query(params![
                    version.fhir_version.as_str(),
                    version.resource_type,
                    version.id
                ])?;
                rows.next()?.map(|row| row.get(0)).transpose()
            })
            .map_err(backend)?
        };
        let rid = match existing {
            Some(rid) => {
                conn.prepare_cached(
                    "UPDATE resource SET owner_app = ?1, owner_user = ?2, version_id = ?3, last_updated = ?4, \
                     deleted = ?5, seq = ?6 WHERE rid = ?7",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![owner_app, owner_user, version.version_id as i64, version.last_updated.0, deleted, seq, rid])
                })
                .map_err(backend)?;
                delete_index(conn, rid)?;
                rid
            }
            // `insert` reads the new row's id with `sqlite3_last_insert_rowid` rather than a
            // `RETURNING rid`: a statement with `RETURNING` keeps a statement journal, which
            // copies every existing page the insert touches (the last leaf of each index of
            // `resource`) to the sub-journal file once per resource, and that made bulk writes
            // about a fifth slower.
            None => conn
                .prepare_cached(
                    "INSERT INTO resource (fhir_version, type, id, owner_app, owner_user, version_id, last_updated, deleted, seq) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .and_then(|mut stmt| {
                    stmt.insert(
                        params![
                            version.fhir_version.as_str(),
                            version.resource_type,
                            version.id,
                            owner_app,
                            owner_user,
                            version.version_id as i64,
                            version.last_updated.0,
                            deleted,
                            seq
                        ],
                    )
                })
                .map_err(backend)?,
        };
        conn.prepare_cached(
            "INSERT INTO history (seq, rid, version_id, last_updated, method, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                seq,
                rid,
                version.version_id as i64,
                version.last_updated.0,
                version.method.as_str(),
                version.json.as_ref()
            ])
        })
        .map_err(backend)?;
        // A deleted resource has no index rows, whatever the caller passed: counts rely on it.
        if !deleted {
            let resource = IndexedResource {
                rid,
                fhir_version: version.fhir_version.as_str(),
                resource_type: version.resource_type,
                id: &version.id,
            };
            insert_index(
                conn,
                &mut self.writer.params,
                &resource,
                &version.index,
                &version.compartments,
            )?;
        }
        Ok(seq)
    }
}

/// Removes every index row, the full text and the compartment rows of a resource.
pub(crate) fn delete_index(conn: &Connection, rid: i64) -> Result<(), StoreError> {
    // A contentless full-text table deletes by rowid; it is a no-op for a resource that had no
    // text.
    conn.prepare_cached("DELETE FROM full_text WHERE rowid = ?1")
        .and_then(|mut stmt| stmt.execute([rid]))
        .map_err(backend)?;
    for table in hale_store_sql::plan::ENTRY_TABLES
        .iter()
        .chain(&["compartment"])
    {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE rid = ?1"))
            .and_then(|mut stmt| stmt.execute([rid]))
            .map_err(backend)?;
    }
    Ok(())
}

/// The resource whose index rows [`insert_index`] writes.
pub(crate) struct IndexedResource<'a> {
    pub(crate) rid: i64,
    pub(crate) fhir_version: &'a str,
    pub(crate) resource_type: &'a str,
    pub(crate) id: &'a str,
}

/// Writes index entries with one cached prepared statement per table.
pub(crate) fn insert_index(
    conn: &Connection,
    params: &mut WriterParams,
    resource: &IndexedResource<'_>,
    entries: &[IndexEntry],
    compartments: &[String],
) -> Result<(), StoreError> {
    let rid = resource.rid;
    if !compartments.is_empty() {
        let mut stmt = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO compartment (rid, patient_id, type, id) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(backend)?;
        for patient in compartments {
            stmt.execute(params![rid, patient, resource.resource_type, resource.id])
                .map_err(backend)?;
        }
    }
    for (ord, entry) in entries.iter().enumerate() {
        if matches!(entry.code(), "_id" | "_lastUpdated" | "_content" | "_text") {
            // The resource table's own columns answer the first two, so indexing them would only
            // cost; full text is written once per version, below, with both columns in one row.
            continue;
        }
        let param = params.id(
            conn,
            resource.fhir_version,
            resource.resource_type,
            entry.code(),
        )?;
        let result = match entry {
            IndexEntry::String { normalized, exact, .. } => conn
                .prepare_cached("INSERT INTO idx_string (rid, ord, param, normalized, exact) VALUES (?1, ?2, ?3, ?4, ?5)")
                .and_then(|mut s| s.execute(params![rid, ord, param, normalized, exact])),
            IndexEntry::Token { system, value, text, of_type, .. } => conn
                .prepare_cached("INSERT INTO idx_token (rid, ord, param, system, value, text, of_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .and_then(|mut s| s.execute(params![rid, ord, param, system, value, text, of_type])),
            IndexEntry::Reference { target_type, target_id, url, version, .. } => conn
                .prepare_cached("INSERT INTO idx_reference (rid, ord, param, target_type, target_id, url, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .and_then(|mut s| s.execute(params![rid, ord, param, target_type, target_id, url, version])),
            IndexEntry::Date { low, high, .. } => conn
                .prepare_cached("INSERT INTO idx_date (rid, ord, param, low, high) VALUES (?1, ?2, ?3, ?4, ?5)")
                .and_then(|mut s| s.execute(params![rid, ord, param, low, high])),
            IndexEntry::Number { value, low, high, .. } => conn
                .prepare_cached("INSERT INTO idx_number (rid, ord, param, value, low, high) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .and_then(|mut s| s.execute(params![rid, ord, param, value, low, high])),
            IndexEntry::Quantity { value, low, high, system, unit, .. } => conn
                .prepare_cached("INSERT INTO idx_quantity (rid, ord, param, value, low, high, system, unit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                .and_then(|mut s| s.execute(params![rid, ord, param, value, low, high, system, unit])),
            IndexEntry::Uri { value, .. } => conn
                .prepare_cached("INSERT INTO idx_uri (rid, ord, param, value) VALUES (?1, ?2, ?3, ?4)")
                .and_then(|mut s| s.execute(params![rid, ord, param, value])),
            // Full text is written once per version, below, with both columns in one row.
            IndexEntry::Text { .. } => Ok(0),
            IndexEntry::Composite { components, .. } => conn
                .prepare_cached("INSERT INTO idx_composite (rid, ord, param, components) VALUES (?1, ?2, ?3, ?4)")
                .and_then(|mut s| s.execute(params![rid, ord, param, hale_store_sql::plan::composite_json(components)])),
        };
        result.map_err(backend)?;
    }
    let text_of = |wanted: &str| {
        entries.iter().find_map(|entry| match entry {
            IndexEntry::Text { code, text } if *code == wanted => Some(text.as_str()),
            _ => None,
        })
    };
    let (content, narrative) = (text_of("_content"), text_of("_text"));
    if content.is_some() || narrative.is_some() {
        conn.prepare_cached(
            "INSERT INTO full_text (rowid, content_text, narrative_text) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![rid, content, narrative]))
        .map_err(backend)?;
    }
    Ok(())
}
