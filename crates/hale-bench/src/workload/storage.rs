//! The storage ceiling: the rows a workload wrote, inserted straight into a fresh SQLite database
//! with the store's own schema, through cached prepared statements, one transaction per
//! [`RESOURCES_PER_TRANSACTION`] resources: no HTTP, no JSON, no validation, no lookups, no
//! savepoints, no checkpoints. W1 and W2 are reported as a fraction of it.
//!
//! The rows are copied, before the timing starts, from the database the workload left behind:
//! every table keyed by `rid` (`resource`, `history`, the index tables, `compartment`), column by
//! column. Re-deriving them with `hale_search::index::extract` would duplicate the store's rules
//! (which entries it skips, how it numbers and encodes them) and break each time the schema
//! changes; copying them inserts exactly the rows the workload inserted, whatever the schema.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use hale_store_sqlite::{SqliteConfig, SqliteStore};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use crate::report::RunChecks;

/// Resources per transaction.
pub const RESOURCES_PER_TRANSACTION: usize = 1000;

/// The page cache of the ceiling's connection, KiB: at least the store writer's, so the ceiling
/// is not held back by a smaller cache than the store has.
const CACHE_KIB: i64 = 262_144;

/// The rows of one table, sorted by `rid`.
struct TableRows {
    name: String,
    insert_sql: String,
    n_columns: usize,
    /// `n_columns` values per row, row after row.
    values: Vec<SqlValue>,
    /// Each row's `rid`, in order.
    rids: Vec<i64>,
}

/// The rows of a workload's database, ready to insert.
pub struct PreparedRows {
    /// The `resource` table; one row per resource.
    resource: TableRows,
    /// The other tables keyed by `rid`.
    dependents: Vec<TableRows>,
}

impl PreparedRows {
    /// Resources.
    pub fn resources(&self) -> u64 {
        self.resource.rids.len() as u64
    }

    /// Rows over all tables.
    pub fn rows(&self) -> u64 {
        self.resource.rids.len() as u64
            + self
                .dependents
                .iter()
                .map(|t| t.rids.len() as u64)
                .sum::<u64>()
    }
}

/// Reads every row keyed by `rid` from the database at `db`.
pub fn prepare(db: &Path) -> anyhow::Result<PreparedRows> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", db.display()))?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut resource = None;
    let mut dependents = Vec::new();
    for table in tables {
        let columns: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let Some(rid_column) = columns.iter().position(|c| c == "rid") else {
            continue;
        };
        let rows = read_table(&conn, &table, &columns, rid_column)?;
        if table == "resource" {
            resource = Some(rows);
        } else {
            dependents.push(rows);
        }
    }
    let resource = resource.context("the database has no resource table")?;
    Ok(PreparedRows {
        resource,
        dependents,
    })
}

fn read_table(
    conn: &Connection,
    table: &str,
    columns: &[String],
    rid_column: usize,
) -> anyhow::Result<TableRows> {
    let column_list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let placeholders = (1..=columns.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = conn.prepare(&format!(
        "SELECT {column_list} FROM \"{table}\" ORDER BY rid"
    ))?;
    let mut rows = stmt.query([])?;
    let mut values = Vec::new();
    let mut rids = Vec::new();
    while let Some(row) = rows.next()? {
        for idx in 0..columns.len() {
            values.push(row.get::<_, SqlValue>(idx)?);
        }
        rids.push(row.get::<_, i64>(rid_column)?);
    }
    Ok(TableRows {
        name: table.to_owned(),
        insert_sql: format!("INSERT INTO \"{table}\" ({column_list}) VALUES ({placeholders})"),
        n_columns: columns.len(),
        values,
        rids,
    })
}

/// What one run of the ceiling measured.
pub struct StorageRun {
    /// Resources per second.
    pub rate: f64,
    /// Rows over all tables per second.
    pub rows_per_sec: f64,
    /// Bytes the commits appended to the WAL.
    pub wal_bytes: u64,
    /// The checks.
    pub checks: RunChecks,
}

/// Inserts `rows` into a fresh database, resource by resource in `rid` order, each resource's
/// rows of every table together, as the store writes a version.
pub fn run(rows: &PreparedRows) -> anyhow::Result<StorageRun> {
    let dir = tempfile::Builder::new()
        .prefix("hale-bench-storage-")
        .tempdir()?;
    let path = dir.path().join("hale.db");
    // The store creates the schema with its own migrations, so the ceiling writes the same tables
    // and indexes; then it gets out of the way.
    let config = SqliteConfig::new(&path);
    let synchronous = if config.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    SqliteStore::open(config)
        .context("creating the schema")?
        .shutdown();
    let conn = Connection::open(&path)?;
    // No checkpoint runs inside the timed commits: the store checkpoints on a thread of its own,
    // and a ceiling should not pay for work the store moves out of the way.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = OFF; \
         PRAGMA cache_size = -{CACHE_KIB}; PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 0;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);

    let started = Instant::now();
    // One cursor per dependent table; every table is sorted by rid, as are the resources.
    let mut cursors = vec![0usize; rows.dependents.len()];
    let n_resources = rows.resource.rids.len();
    for chunk_start in (0..n_resources).step_by(RESOURCES_PER_TRANSACTION) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for row_idx in chunk_start..(chunk_start + RESOURCES_PER_TRANSACTION).min(n_resources) {
            insert_row(&conn, &rows.resource, row_idx)?;
            let rid = rows.resource.rids[row_idx];
            for (table, cursor) in rows.dependents.iter().zip(cursors.iter_mut()) {
                while *cursor < table.rids.len() && table.rids[*cursor] <= rid {
                    insert_row(&conn, table, *cursor)?;
                    *cursor += 1;
                }
            }
        }
        conn.execute_batch("COMMIT")?;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    // With no checkpoint, the WAL holds every page frame the commits wrote: the write volume.
    let wal_bytes = std::fs::metadata(dir.path().join("hale.db-wal")).map_or(0, |m| m.len());

    let mut checks = RunChecks::default();
    for table in std::iter::once(&rows.resource).chain(&rows.dependents) {
        let n: i64 = conn.query_row(
            &format!("SELECT count(*) FROM \"{}\"", table.name),
            [],
            |row| row.get(0),
        )?;
        checks.equal(
            &format!("rows inserted into {}", table.name),
            n as u64,
            table.rids.len() as u64,
        );
    }
    Ok(StorageRun {
        rate: n_resources as f64 / seconds,
        rows_per_sec: rows.rows() as f64 / seconds,
        wal_bytes,
        checks,
    })
}

fn insert_row(conn: &Connection, table: &TableRows, row_idx: usize) -> rusqlite::Result<()> {
    let values = &table.values[row_idx * table.n_columns..(row_idx + 1) * table.n_columns];
    conn.prepare_cached(&table.insert_sql)?
        .execute(params_from_iter(values.iter()))?;
    Ok(())
}
