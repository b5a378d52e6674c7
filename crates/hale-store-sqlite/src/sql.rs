//! Rows shared by the reader and the writer: the current version and the row mapping. The
//! statements are `hale_store_sql`'s.

use bytes::Bytes;
use hale_fhir::FhirVersion;
use hale_store::{Scope, StoreError, StoredResource};
use hale_store_sql::{ResourceRow, Sql, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Row, ToSql, params_from_iter};

use crate::backend;

/// Reads a row selected with [`hale_store_sql::scope::COLUMNS`].
pub(crate) fn map_row(row: &Row<'_>) -> rusqlite::Result<StoredResource> {
    let json: Vec<u8> = row.get(9)?;
    Ok(ResourceRow {
        fhir_version: row.get(0)?,
        resource_type: row.get(1)?,
        id: row.get(2)?,
        version_id: row.get(3)?,
        last_updated: row.get(4)?,
        method: row.get(5)?,
        seq: row.get(6)?,
        owner_app: row.get(7)?,
        owner_user: row.get(8)?,
        json: Bytes::from(json),
    }
    .into())
}

/// A statement's parameter as SQLite binds it.
pub(crate) struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Integer(int) => ValueRef::Integer(*int),
            Value::Real(real) => ValueRef::Real(*real),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
        }))
    }
}

/// The parameters of `sql`, to bind.
pub(crate) fn params(sql: &Sql) -> impl rusqlite::Params + '_ {
    params_from_iter(sql.params.iter().map(Param))
}

/// A value SQLite read, as the shared builders take it back (a sort key of a cursor).
pub(crate) fn value(value: rusqlite::types::Value) -> Value {
    match value {
        rusqlite::types::Value::Null => Value::Null,
        rusqlite::types::Value::Integer(int) => Value::Integer(int),
        rusqlite::types::Value::Real(real) => Value::Real(real),
        rusqlite::types::Value::Text(text) => Value::Text(text),
        rusqlite::types::Value::Blob(blob) => {
            Value::Text(String::from_utf8_lossy(&blob).into_owned())
        }
    }
}

/// The resources a statement selecting [`hale_store_sql::scope::COLUMNS`] finds.
pub(crate) fn query_resources(
    conn: &Connection,
    sql: &Sql,
) -> Result<Vec<StoredResource>, StoreError> {
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let rows = stmt.query_map(params(sql), map_row).map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

/// The one integer a statement selects (a count).
pub(crate) fn query_count(conn: &Connection, sql: &Sql) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let n: i64 = stmt
        .query_row(params(sql), |row| row.get(0))
        .map_err(backend)?;
    Ok(n as u64)
}

/// The current version of a resource, deleted or not, if it is in `scope`.
pub(crate) fn current(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    resource_version(conn, scope, fhir_version, resource_type, id, None)
}

/// One version of a resource (the current one when `version_id` is none), deleted or not, if
/// the resource is in `scope`.
pub(crate) fn resource_version(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    resource_type: &str,
    id: &str,
    version_id: Option<u64>,
) -> Result<Option<StoredResource>, StoreError> {
    let sql =
        hale_store_sql::scope::resource_version(scope, fhir_version, resource_type, id, version_id);
    Ok(query_resources(conn, &sql)?.into_iter().next())
}
