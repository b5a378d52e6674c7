//! Queries on reader connections.

use hale_fhir::FhirVersion;
use hale_store::{HistoryPage, HistoryQuery, Scope, StoreError, StoredResource};
use rusqlite::{Connection, params_from_iter};

use crate::backend;
use crate::plan::Sql;
use crate::sql::{COLUMNS, map_row, push_scope};

pub(crate) use crate::search::{count, find, include, search};
pub(crate) use crate::sql::current;

/// One version of a resource, if the resource is in `scope`.
pub(crate) fn version(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    resource_type: &str,
    id: &str,
    version_id: u64,
) -> Result<Option<StoredResource>, StoreError> {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.rid = r.rid AND h.version_id = "
    ));
    sql.bind(version_id as i64);
    sql.push(" WHERE r.fhir_version = ");
    sql.bind(fhir_version.as_str());
    sql.push(" AND r.type = ");
    sql.bind(resource_type);
    sql.push(" AND r.id = ");
    sql.bind(id);
    push_scope(&mut sql, "r", scope);
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let mut rows = stmt
        .query_map(params_from_iter(sql.params), map_row)
        .map_err(backend)?;
    rows.next().transpose().map_err(backend)
}

/// A page of history, newest first, and the number of matching versions. The scope is the
/// resource's: every version of a resource in scope is.
pub(crate) fn history(
    conn: &Connection,
    scope: &Scope,
    query: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let mut filter = Sql::default();
    filter.push(" WHERE r.fhir_version = ");
    filter.bind(query.fhir_version.as_str());
    if let Some(rt) = &query.resource_type {
        filter.push(" AND r.type = ");
        filter.bind(rt.as_str());
    }
    if let Some(id) = &query.id {
        filter.push(" AND r.id = ");
        filter.bind(id.as_str());
    }
    if let Some(since) = query.since {
        filter.push(" AND h.last_updated >= ");
        filter.bind(since.0);
    }
    push_scope(&mut filter, "r", scope);
    let from = " FROM history h JOIN resource r ON r.rid = h.rid";

    let count_sql = format!("SELECT count(*){from}{}", filter.text);
    let total: i64 = conn
        .prepare_cached(&count_sql)
        .and_then(|mut stmt| {
            stmt.query_row(params_from_iter(filter.params.iter()), |row| row.get(0))
        })
        .map_err(backend)?;

    let mut page = Sql::default();
    page.push(&format!("SELECT {COLUMNS}{from}"));
    page.append(filter);
    if let Some(before) = query.before_seq {
        page.push(" AND h.seq < ");
        page.bind(before);
    }
    page.push(" ORDER BY h.seq DESC LIMIT ");
    page.bind(query.count as i64);
    let mut stmt = conn.prepare_cached(&page.text).map_err(backend)?;
    let versions = stmt
        .query_map(params_from_iter(page.params), map_row)
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
    let mut sql = Sql::default();
    sql.push("SELECT r.type, count(*) FROM resource r WHERE r.fhir_version = ");
    sql.bind(fhir_version.as_str());
    sql.push(" AND r.deleted = 0");
    push_scope(&mut sql, "r", scope);
    sql.push(" GROUP BY r.type ORDER BY r.type");
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(sql.params), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}
