//! Search parameter ids: index rows name their parameter by a small integer, the id of
//! `(fhir_version, resource type, code)` in the `search_param` table.
//!
//! The id says which type and FHIR version wrote a row, so a count under `Scope::All` is answered
//! from a value index alone, and the rows are smaller than with the code's text. Ids are never
//! deleted or reused, so an id once read from a committed snapshot stays right forever: readers
//! keep what they read in a map shared by the store. The writer assigns ids for codes it has not
//! seen, inside its transaction; such an id becomes shared only after the commit, because a
//! rollback would give it to another code.

use std::collections::HashMap;

use hale_store::StoreError;
use hale_store_sql::ParamLookup;
use parking_lot::RwLock;
use rusqlite::{Connection, OptionalExtension, params};

use crate::backend;

/// `(fhir_version, resource type, code)`.
type Key = (String, String, String);

/// The committed ids the store has seen, shared by its readers and its writer.
#[derive(Default)]
pub(crate) struct ParamIds {
    committed: RwLock<HashMap<Key, i64>>,
}

fn key(fhir_version: &str, resource_type: &str, code: &str) -> Key {
    (
        fhir_version.to_owned(),
        resource_type.to_owned(),
        code.to_owned(),
    )
}

fn select_id(
    conn: &Connection,
    fhir_version: &str,
    resource_type: &str,
    code: &str,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(
        "SELECT id FROM search_param WHERE fhir_version = ?1 AND type = ?2 AND code = ?3",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![fhir_version, resource_type, code], |row| row.get(0))
            .optional()
    })
    .map_err(backend)
}

impl ParamIds {
    fn cached(&self, fhir_version: &str, resource_type: &str, code: &str) -> Option<i64> {
        // A lookup with borrowed parts would need a different key type; the strings are short.
        self.committed
            .read()
            .get(&key(fhir_version, resource_type, code))
            .copied()
    }
}

/// How the planner finds ids: on a reader connection, whose snapshot holds only committed ids
/// that may be shared, or on the writer's, whose transaction may hold ids it assigned itself.
pub(crate) struct Lookup<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) ids: &'a ParamIds,
    /// Whether ids read on `conn` are committed (a reader connection).
    pub(crate) committed: bool,
}

impl ParamLookup for Lookup<'_> {
    /// The id of `code` on `resource_type`, `None` for a parameter no row was ever written with.
    fn one(
        &self,
        fhir_version: &str,
        resource_type: &str,
        code: &str,
    ) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.ids.cached(fhir_version, resource_type, code) {
            return Ok(Some(id));
        }
        let found = select_id(self.conn, fhir_version, resource_type, code)?;
        if let (Some(id), true) = (found, self.committed) {
            self.ids
                .committed
                .write()
                .insert(key(fhir_version, resource_type, code), id);
        }
        Ok(found)
    }

    /// The ids of `code` on every type that has it (a system search without `_type`), read from
    /// the table each time: another type may have gained the code since any cached read.
    fn every_type(&self, fhir_version: &str, code: &str) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM search_param WHERE fhir_version = ?1 AND code = ?2 ORDER BY id",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![fhir_version, code], |row| row.get(0))
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    /// The ids of every code of `resource_type` (the references of a type the definitions do not
    /// know, for `_include=X:*`).
    fn every_code(&self, fhir_version: &str, resource_type: &str) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM search_param WHERE fhir_version = ?1 AND type = ?2")
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![fhir_version, resource_type], |row| row.get(0))
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }
}

/// The writer's ids: the shared committed ones, and those its open transaction assigned or read.
pub(crate) struct WriterParams {
    ids: std::sync::Arc<ParamIds>,
    /// Ids known in the open transaction and not yet shared. They are dropped on any rollback,
    /// a savepoint's too, after which they are read again.
    pending: HashMap<Key, i64>,
}

impl WriterParams {
    pub(crate) fn new(ids: std::sync::Arc<ParamIds>) -> Self {
        WriterParams {
            ids,
            pending: HashMap::new(),
        }
    }

    pub(crate) fn shared(&self) -> &ParamIds {
        &self.ids
    }

    /// The id of a parameter, assigned now if no row was ever written with it.
    pub(crate) fn id(
        &mut self,
        conn: &Connection,
        fhir_version: &str,
        resource_type: &str,
        code: &str,
    ) -> Result<i64, StoreError> {
        if let Some(id) = self.ids.cached(fhir_version, resource_type, code) {
            return Ok(id);
        }
        let key = key(fhir_version, resource_type, code);
        if let Some(id) = self.pending.get(&key) {
            return Ok(*id);
        }
        let id = match select_id(conn, fhir_version, resource_type, code)? {
            Some(id) => id,
            None => conn
                .prepare_cached(
                    "INSERT INTO search_param (fhir_version, type, code) VALUES (?1, ?2, ?3) \
                     RETURNING id",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![fhir_version, resource_type, code], |row| row.get(0))
                })
                .map_err(backend)?,
        };
        self.pending.insert(key, id);
        Ok(id)
    }

    /// The transaction committed: what it knew is now true for everyone.
    pub(crate) fn committed(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut committed = self.ids.committed.write();
        committed.extend(self.pending.drain());
    }

    /// The transaction or a savepoint rolled back: an id it assigned may be gone.
    pub(crate) fn rolled_back(&mut self) {
        self.pending.clear();
    }
}
