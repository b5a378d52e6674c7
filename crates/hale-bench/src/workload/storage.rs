//! The storage ceiling: the rows a workload wrote, inserted straight into a fresh SQLite database
//! with the store's own schema and settings (WAL, `synchronous=FULL`), through cached prepared
//! statements, one transaction per [`RESOURCES_PER_TRANSACTION`] resources: no HTTP, no JSON
//! parsing, no validation, no lookups. W1 and W2 are reported as a fraction of it.
//!
//! The rows are taken from the database the workload left behind (each current version's JSON)
//! and indexed with [`hale_search::index::extract`] before the timing starts, so they are the same
//! rows the workload inserted.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use hale_search::index::IndexEntry;
use hale_store_sqlite::{SqliteConfig, SqliteStore};
use rusqlite::{Connection, OpenFlags, params};
use serde_json::Value;

use crate::report::RunChecks;

/// Resources per transaction.
pub const RESOURCES_PER_TRANSACTION: usize = 1000;

/// One resource's rows, ready to insert.
pub struct ResourceRows {
    fhir_version: String,
    resource_type: String,
    id: String,
    version_id: i64,
    last_updated: i64,
    method: String,
    json: Vec<u8>,
    index: Vec<IndexRow>,
    compartments: Vec<String>,
}

/// One index row; composites are already rendered as the store renders them.
enum IndexRow {
    String {
        code: &'static str,
        normalized: String,
        exact: String,
    },
    Token {
        code: &'static str,
        system: Option<String>,
        value: Option<String>,
        text: Option<String>,
    },
    Reference {
        code: &'static str,
        target_type: Option<String>,
        target_id: Option<String>,
        url: Option<String>,
        version: Option<String>,
    },
    Date {
        code: &'static str,
        low: i64,
        high: i64,
    },
    Number {
        code: &'static str,
        value: f64,
        low: f64,
        high: f64,
    },
    Quantity {
        code: &'static str,
        value: f64,
        low: f64,
        high: f64,
        system: Option<String>,
        unit: Option<String>,
    },
    Uri {
        code: &'static str,
        value: String,
    },
    Composite {
        code: &'static str,
        components: String,
    },
}

/// The rows of a workload's database.
pub struct PreparedRows {
    /// One entry per current resource, in write order.
    pub resources: Vec<ResourceRows>,
    /// Index and compartment rows over all resources.
    pub index_rows: u64,
}

/// Reads every current resource of the database at `db` and computes its rows.
pub fn prepare(db: &Path) -> anyhow::Result<PreparedRows> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", db.display()))?;
    let mut stmt = conn.prepare(
        "SELECT r.fhir_version, r.type, r.id, r.version_id, r.last_updated, h.method, h.json \
         FROM resource r JOIN history h ON h.seq = r.seq WHERE r.deleted = 0 ORDER BY r.seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut resources = Vec::new();
    let mut index_rows = 0u64;
    while let Some(row) = rows.next()? {
        let resource_type: String = row.get(1)?;
        let json: Vec<u8> = row.get(6)?;
        let value: Value = serde_json::from_slice(&json)
            .with_context(|| format!("a stored {resource_type} is not JSON"))?;
        let index: Vec<IndexRow> = hale_search::index::extract(&resource_type, &value)
            .into_iter()
            .map(index_row)
            .collect();
        let compartments = hale_search::index::compartment_patients(&resource_type, &value);
        index_rows += (index.len() + compartments.len()) as u64;
        resources.push(ResourceRows {
            fhir_version: row.get(0)?,
            resource_type,
            id: row.get(2)?,
            version_id: row.get(3)?,
            last_updated: row.get(4)?,
            method: row.get(5)?,
            json,
            index,
            compartments,
        });
    }
    Ok(PreparedRows {
        resources,
        index_rows,
    })
}

/// What one run of the ceiling measured.
pub struct StorageRun {
    /// Resources per second.
    pub rate: f64,
    /// Rows (resource, history, index and compartment) per second.
    pub rows_per_sec: f64,
    /// The checks.
    pub checks: RunChecks,
}

/// Inserts `rows` into a fresh database.
pub fn run(rows: &PreparedRows) -> anyhow::Result<StorageRun> {
    let dir = tempfile::Builder::new()
        .prefix("hale-bench-storage-")
        .tempdir()?;
    let path = dir.path().join("hale.db");
    // The store creates the schema with its own migrations, so the ceiling writes the same tables
    // and indexes; then it gets out of the way.
    SqliteStore::open(SqliteConfig::new(&path))
        .context("creating the schema")?
        .shutdown();
    let conn = Connection::open(&path)?;
    // The pragmas of the store's connections.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF; \
         PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 268435456;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);

    let started = Instant::now();
    let mut seq = 1i64;
    for chunk in rows.resources.chunks(RESOURCES_PER_TRANSACTION) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for resource in chunk {
            insert(&conn, resource, seq)?;
            seq += 1;
        }
        conn.execute_batch("COMMIT")?;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);

    let mut checks = RunChecks::default();
    let n_resources: i64 = conn.query_row("SELECT count(*) FROM resource", [], |row| row.get(0))?;
    checks.equal(
        "resources inserted",
        n_resources as u64,
        rows.resources.len() as u64,
    );
    let n_index: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM idx_string) + (SELECT count(*) FROM idx_token) + (SELECT count(*) FROM idx_reference) \
         + (SELECT count(*) FROM idx_date) + (SELECT count(*) FROM idx_number) + (SELECT count(*) FROM idx_quantity) \
         + (SELECT count(*) FROM idx_uri) + (SELECT count(*) FROM idx_composite) + (SELECT count(*) FROM compartment)",
        [],
        |row| row.get(0),
    )?;
    checks.equal(
        "index and compartment rows inserted",
        n_index as u64,
        rows.index_rows,
    );
    let all_rows = 2 * rows.resources.len() as u64 + rows.index_rows;
    Ok(StorageRun {
        rate: rows.resources.len() as f64 / seconds,
        rows_per_sec: all_rows as f64 / seconds,
        checks,
    })
}

fn insert(conn: &Connection, r: &ResourceRows, seq: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO resource (fhir_version, type, id, owner_app, owner_user, version_id, last_updated, deleted, seq) \
         VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?5, 0, ?6)",
    )?
    .execute(params![
        r.fhir_version,
        r.resource_type,
        r.id,
        r.version_id,
        r.last_updated,
        seq
    ])?;
    let rid = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT INTO history (seq, rid, version_id, last_updated, method, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![seq, rid, r.version_id, r.last_updated, r.method, r.json])?;
    for row in &r.index {
        match row {
            IndexRow::String { code, normalized, exact } => conn
                .prepare_cached("INSERT INTO idx_string (rid, code, normalized, exact) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![rid, code, normalized, exact])?,
            IndexRow::Token { code, system, value, text } => conn
                .prepare_cached("INSERT INTO idx_token (rid, code, system, value, text) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![rid, code, system, value, text])?,
            IndexRow::Reference { code, target_type, target_id, url, version } => conn
                .prepare_cached("INSERT INTO idx_reference (rid, code, target_type, target_id, url, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
                .execute(params![rid, code, target_type, target_id, url, version])?,
            IndexRow::Date { code, low, high } => conn
                .prepare_cached("INSERT INTO idx_date (rid, code, low, high) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![rid, code, low, high])?,
            IndexRow::Number { code, value, low, high } => conn
                .prepare_cached("INSERT INTO idx_number (rid, code, value, low, high) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![rid, code, value, low, high])?,
            IndexRow::Quantity { code, value, low, high, system, unit } => conn
                .prepare_cached("INSERT INTO idx_quantity (rid, code, value, low, high, system, unit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                .execute(params![rid, code, value, low, high, system, unit])?,
            IndexRow::Uri { code, value } => conn
                .prepare_cached("INSERT INTO idx_uri (rid, code, value) VALUES (?1, ?2, ?3)")?
                .execute(params![rid, code, value])?,
            IndexRow::Composite { code, components } => conn
                .prepare_cached("INSERT INTO idx_composite (rid, code, components) VALUES (?1, ?2, ?3)")?
                .execute(params![rid, code, components])?,
        };
    }
    let mut stmt =
        conn.prepare_cached("INSERT INTO compartment (rid, patient_id) VALUES (?1, ?2)")?;
    for patient in &r.compartments {
        stmt.execute(params![rid, patient])?;
    }
    Ok(())
}

fn index_row(entry: IndexEntry) -> IndexRow {
    match entry {
        IndexEntry::String {
            code,
            normalized,
            exact,
        } => IndexRow::String {
            code,
            normalized,
            exact,
        },
        IndexEntry::Token {
            code,
            system,
            value,
            text,
        } => IndexRow::Token {
            code,
            system,
            value,
            text,
        },
        IndexEntry::Reference {
            code,
            target_type,
            target_id,
            url,
            version,
        } => IndexRow::Reference {
            code,
            target_type,
            target_id,
            url,
            version,
        },
        IndexEntry::Date { code, low, high } => IndexRow::Date { code, low, high },
        IndexEntry::Number {
            code,
            value,
            low,
            high,
        } => IndexRow::Number {
            code,
            value,
            low,
            high,
        },
        IndexEntry::Quantity {
            code,
            value,
            low,
            high,
            system,
            unit,
        } => IndexRow::Quantity {
            code,
            value,
            low,
            high,
            system,
            unit,
        },
        IndexEntry::Uri { code, value } => IndexRow::Uri { code, value },
        IndexEntry::Composite { code, components } => IndexRow::Composite {
            code,
            components: composite_json(&components),
        },
    }
}

/// The components of a composite entry as the SQLite store writes them: a JSON array with one
/// object per component.
fn composite_json(components: &[IndexEntry]) -> String {
    let items: Vec<Value> = components
        .iter()
        .map(|c| match c {
            IndexEntry::String { code, normalized, .. } => serde_json::json!({"code": code, "normalized": normalized}),
            IndexEntry::Token {
                code, system, value, ..
            } => serde_json::json!({"code": code, "system": system, "value": value}),
            IndexEntry::Reference {
                code,
                target_type,
                target_id,
                url,
                ..
            } => serde_json::json!({"code": code, "type": target_type, "id": target_id, "url": url}),
            IndexEntry::Date { code, low, high } => serde_json::json!({"code": code, "low": low, "high": high}),
            IndexEntry::Number { code, low, high, .. } => serde_json::json!({"code": code, "low": low, "high": high}),
            IndexEntry::Quantity {
                code,
                low,
                high,
                system,
                unit,
                ..
            } => serde_json::json!({"code": code, "low": low, "high": high, "system": system, "unit": unit}),
            IndexEntry::Uri { code, value } => serde_json::json!({"code": code, "value": value}),
            IndexEntry::Composite { code, .. } => serde_json::json!({"code": code}),
        })
        .collect();
    Value::Array(items).to_string()
}
