//! Queries on reader connections.

use hale_fhir::FhirVersion;
use hale_store::{HistoryPage, HistoryQuery, Scope, StoreError, StoredResource};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::backend;
use crate::sql::{COLUMNS, map_row, push_scope};

pub(crate) use crate::search::{count, find, include, search};
pub(crate) use crate::sql::current;

/// One version of a resource.
pub(crate) fn version(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    resource_type: &str,
    id: &str,
    version_id: u64,
) -> Result<Option<StoredResource>, StoreError> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.rid = r.rid AND h.version_id = ? \
         WHERE r.fhir_version = ? AND r.type = ? AND r.id = ?"
    );
    let mut params = vec![
        Value::Integer(version_id as i64),
        Value::Text(fhir_version.as_str().to_owned()),
        Value::Text(resource_type.to_owned()),
        Value::Text(id.to_owned()),
    ];
    push_scope(&mut sql, &mut params, scope);
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let mut rows = stmt
        .query_map(params_from_iter(params), map_row)
        .map_err(backend)?;
    rows.next().transpose().map_err(backend)
}

/// A page of history, newest first, and the number of matching versions.
pub(crate) fn history(
    conn: &Connection,
    scope: &Scope,
    query: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let mut filter = String::from(" WHERE r.fhir_version = ?");
    let mut params = vec![Value::Text(query.fhir_version.as_str().to_owned())];
    if let Some(rt) = &query.resource_type {
        filter.push_str(" AND r.type = ?");
        params.push(Value::Text(rt.clone()));
    }
    if let Some(id) = &query.id {
        filter.push_str(" AND r.id = ?");
        params.push(Value::Text(id.clone()));
    }
    if let Some(since) = query.since {
        filter.push_str(" AND h.last_updated >= ?");
        params.push(Value::Integer(since.0));
    }
    push_scope(&mut filter, &mut params, scope);
    let from = " FROM history h JOIN resource r ON r.rid = h.rid";

    let count_sql = format!("SELECT count(*){from}{filter}");
    let total: i64 = conn
        .prepare_cached(&count_sql)
        .and_then(|mut stmt| stmt.query_row(params_from_iter(params.iter()), |row| row.get(0)))
        .map_err(backend)?;

    let mut page_sql = format!("SELECT {COLUMNS}{from}{filter}");
    let mut page_params = params;
    if let Some(before) = query.before_seq {
        page_sql.push_str(" AND h.seq < ?");
        page_params.push(Value::Integer(before));
    }
    page_sql.push_str(" ORDER BY h.seq DESC LIMIT ?");
    page_params.push(Value::Integer(query.count as i64));
    let mut stmt = conn.prepare_cached(&page_sql).map_err(backend)?;
    let versions = stmt
        .query_map(params_from_iter(page_params), map_row)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    Ok(HistoryPage {
        versions,
        total: total as u64,
    })
}

/// Current, not deleted resources per type.
pub(crate) fn count_by_type(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut sql = String::from(
        "SELECT r.type, count(*) FROM resource r WHERE r.fhir_version = ? AND r.deleted = 0",
    );
    let mut params = vec![Value::Text(fhir_version.as_str().to_owned())];
    push_scope(&mut sql, &mut params, scope);
    sql.push_str(" GROUP BY r.type ORDER BY r.type");
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}
