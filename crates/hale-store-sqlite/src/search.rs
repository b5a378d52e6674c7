//! Search, count, include and conditional lookups, all on statements the planner builds.
//!
//! A page is read in two steps inside one statement: an inner query picks the page's rows (and
//! their sort values) from `resource` and the index tables alone, and only those rows are joined
//! to `history` for their JSON. Sorting and skipping therefore never carry JSON along, and a
//! count never touches `history` at all.

use hale_fhir::FhirVersion;
use hale_search::query::{Include, SearchQuery};
use hale_store::{
    Hit, PageRequest, Position, ResourceKey, Scope, SearchPage, StoreError, StoredResource,
};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::backend;
use crate::plan::{
    Planner, Sql, push_scope, reference_codes, sort_expression, sort_param, sort_value,
};
use crate::sql::{COLUMNS, map_row};

/// The current, not deleted resources matching `query` in `scope`, at most `limit`, in row order.
pub(crate) fn find(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    limit: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    let condition = Planner::new(scope, fhir_version.as_str()).query(query)?;
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE "
    ));
    sql.push(&condition.text);
    sql.params.extend(condition.params);
    sql.push(" ORDER BY r.rid LIMIT ");
    sql.bind(limit as i64);
    query_resources(conn, sql)
}

fn query_resources(conn: &Connection, sql: Sql) -> Result<Vec<StoredResource>, StoreError> {
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(sql.params), map_row)
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

/// Runs `work` in one read transaction, so that everything it reads is one snapshot.
fn in_read_transaction<T>(
    conn: &Connection,
    work: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN").map_err(backend)?;
    let result = work();
    // A pooled connection must never go back with a transaction open, whatever happened.
    let ended = conn.execute_batch("COMMIT");
    if ended.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let value = result?;
    ended.map_err(backend)?;
    Ok(value)
}

/// One page of a search; see [`hale_store::ResourceStore::search`].
pub(crate) fn search(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    page: &PageRequest,
) -> Result<SearchPage, StoreError> {
    let condition = Planner::new(scope, fhir_version.as_str()).query(query)?;
    in_read_transaction(conn, || {
        let horizon = match page.horizon {
            Some(horizon) => horizon,
            None => conn
                .query_row("SELECT coalesce(max(rid), 0) FROM resource", [], |row| {
                    row.get(0)
                })
                .map_err(backend)?,
        };
        let hits = read_page(conn, condition, page, horizon)?;
        Ok(SearchPage { hits, horizon })
    })
}

fn read_page(
    conn: &Connection,
    condition: Sql,
    page: &PageRequest,
    horizon: i64,
) -> Result<Vec<Hit>, StoreError> {
    // A previous page is read backwards from its position and turned around afterwards.
    let (cursor, backwards) = match (&page.before, &page.after) {
        (Some(before), _) => (Some(before), true),
        (None, Some(after)) => (Some(after), false),
        (None, None) => (None, false),
    };
    let n_keys = page.sort.len();
    if let Some(cursor) = cursor
        && cursor.keys.len() != n_keys
    {
        return Err(StoreError::Unsupported(
            "a position whose keys do not fit the sort".into(),
        ));
    }
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {COLUMNS}, p.rid"));
    for idx in 0..n_keys {
        sql.push(&format!(", p.sort_key_{idx}"));
    }
    sql.push(" FROM (SELECT r.rid AS rid");
    for (idx, key) in page.sort.iter().enumerate() {
        sql.push(", ");
        sql.append(sort_expression(key));
        sql.push(&format!(" AS sort_key_{idx}"));
    }
    sql.push(" FROM resource r WHERE ");
    sql.append(condition);
    sql.push(" AND r.rid <= ");
    sql.bind(horizon);
    if let Some(cursor) = cursor {
        // Rows strictly beyond the cursor in the direction read: `(k0 > a) OR (k0 = a AND k1 <
        // b) OR … OR (all equal AND rid > row)`, each comparison following its key's direction.
        sql.push(" AND (");
        for level in 0..=n_keys {
            if level > 0 {
                sql.push(" OR ");
            }
            sql.push("(");
            for idx in 0..level {
                sql.push(&format!("sort_key_{idx} = "));
                sql.bind(sort_param(&cursor.keys[idx]));
                sql.push(" AND ");
            }
            if level < n_keys {
                let forward = page.sort[level].descending == backwards;
                sql.push(&format!(
                    "sort_key_{level} {} ",
                    if forward { ">" } else { "<" }
                ));
                sql.bind(sort_param(&cursor.keys[level]));
            } else {
                sql.push(&format!("r.rid {} ", if backwards { "<" } else { ">" }));
                sql.bind(cursor.row);
            }
            sql.push(")");
        }
        sql.push(")");
    }
    let order = |sql: &mut Sql, prefix: &str| {
        sql.push(" ORDER BY ");
        for (idx, key) in page.sort.iter().enumerate() {
            let ascending = key.descending == backwards;
            sql.push(&format!(
                "{prefix}sort_key_{idx} {}, ",
                if ascending { "ASC" } else { "DESC" }
            ));
        }
        let rid = if prefix.is_empty() { "r.rid" } else { "p.rid" };
        sql.push(&format!("{rid} {}", if backwards { "DESC" } else { "ASC" }));
    };
    order(&mut sql, "");
    sql.push(" LIMIT ");
    sql.bind(page.limit as i64);
    sql.push(" OFFSET ");
    sql.bind(page.offset as i64);
    sql.push(") p JOIN resource r ON r.rid = p.rid JOIN history h ON h.seq = r.seq");
    order(&mut sql, "p.");

    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(sql.params), |row| {
            let resource = map_row(row)?;
            let rid: i64 = row.get(10)?;
            let mut keys = Vec::with_capacity(n_keys);
            for (idx, key) in page.sort.iter().enumerate() {
                let value: Value = row.get(11 + idx)?;
                keys.push(sort_value(key.kind, value));
            }
            Ok(Hit {
                resource,
                position: Position { keys, row: rid },
            })
        })
        .map_err(backend)?;
    let mut hits = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
    if backwards {
        hits.reverse();
    }
    Ok(hits)
}

/// How many resources match; see [`hale_store::ResourceStore::count`].
pub(crate) fn count(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    horizon: Option<i64>,
) -> Result<u64, StoreError> {
    let condition = Planner::new(scope, fhir_version.as_str()).query(query)?;
    let mut sql = Sql::default();
    sql.push("SELECT count(*) FROM resource r WHERE ");
    sql.append(condition);
    if let Some(horizon) = horizon {
        sql.push(" AND r.rid <= ");
        sql.bind(horizon);
    }
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let n: i64 = stmt
        .query_row(params_from_iter(sql.params), |row| row.get(0))
        .map_err(backend)?;
    Ok(n as u64)
}

/// The resources an include adds; see [`hale_store::ResourceStore::include`].
pub(crate) fn include(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    include: &Include,
    reverse: bool,
    sources: &[ResourceKey],
) -> Result<Vec<StoredResource>, StoreError> {
    let version = fhir_version.as_str();
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE r.fhir_version = "
    ));
    sql.bind(version);
    sql.push(" AND r.deleted = 0");
    push_scope(&mut sql, "r", scope);
    // The sources travel as one JSON array so that the statement's text is the same for any
    // number of them and stays in the prepared-statement cache.
    let codes: Vec<&str> = match include.code {
        Some(code) => vec![code],
        None => reference_codes(include.source_type),
    };
    let code_condition = |sql: &mut Sql| {
        if codes.is_empty() {
            // A type the definitions do not know: every reference of the sources.
            return;
        }
        sql.push(" AND e.code IN (SELECT c.value FROM json_each(");
        sql.bind(serde_json::to_string(&codes).unwrap_or_else(|_| "[]".into()));
        sql.push(") c)");
    };
    if reverse {
        let targets: Vec<[&str; 2]> = sources
            .iter()
            .filter(|key| include.target_type.is_none_or(|t| t == key.resource_type))
            .map(|key| [key.resource_type.as_str(), key.id.as_str()])
            .collect();
        sql.push(" AND r.type = ");
        sql.bind(include.source_type);
        sql.push(
            " AND r.rid IN (SELECT e.rid FROM json_each(?) j JOIN idx_reference e \
             ON e.target_id = j.value ->> 1 AND e.target_type = j.value ->> 0",
        );
        sql.params.push(Value::Text(
            serde_json::to_string(&targets).unwrap_or_else(|_| "[]".into()),
        ));
        sql.push(" WHERE 1");
        code_condition(&mut sql);
        sql.push(")");
    } else {
        let ids: Vec<&str> = sources
            .iter()
            .filter(|key| key.resource_type == include.source_type)
            .map(|key| key.id.as_str())
            .collect();
        sql.push(
            " AND r.rid IN (SELECT t.rid FROM json_each(?) j \
             JOIN resource s ON s.fhir_version = ? AND s.type = ? AND s.id = j.value \
             JOIN idx_reference e ON e.rid = s.rid \
             JOIN resource t ON t.fhir_version = s.fhir_version AND t.type = e.target_type AND t.id = e.target_id \
             WHERE s.deleted = 0",
        );
        sql.params.push(Value::Text(
            serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()),
        ));
        sql.params.push(Value::Text(version.to_owned()));
        sql.params.push(Value::Text(include.source_type.to_owned()));
        push_scope(&mut sql, "s", scope);
        code_condition(&mut sql);
        if let Some(target_type) = include.target_type {
            sql.push(" AND e.target_type = ");
            sql.bind(target_type);
        }
        sql.push(")");
    }
    sql.push(" ORDER BY r.rid");
    query_resources(conn, sql)
}
