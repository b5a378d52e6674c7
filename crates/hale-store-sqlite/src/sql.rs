//! SQL shared by the reader and the writer: the scope condition, search criteria and row mapping.

use bytes::Bytes;
use hale_fhir::{FhirVersion, Instant};
use hale_store::{Method, Owner, Scope, StoreError, StoredResource};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

use crate::backend;

/// The columns [`map_row`] reads, for `resource r JOIN history h`.
pub(crate) const COLUMNS: &str = "r.fhir_version, r.type, r.id, h.version_id, h.last_updated, h.method, h.seq, r.owner_app, r.owner_user, h.json";

/// Reads a row selected with [`COLUMNS`].
pub(crate) fn map_row(row: &Row<'_>) -> rusqlite::Result<StoredResource> {
    let fhir_version: String = row.get(0)?;
    let method: String = row.get(5)?;
    let owner_app: Option<i64> = row.get(7)?;
    let owner_user: Option<i64> = row.get(8)?;
    let json: Vec<u8> = row.get(9)?;
    let method = Method::parse(&method).unwrap_or(Method::Put);
    Ok(StoredResource {
        fhir_version: FhirVersion::from_path_segment(&fhir_version).unwrap_or(FhirVersion::R4),
        resource_type: row.get(1)?,
        id: row.get(2)?,
        version_id: row.get::<_, i64>(3)? as u64,
        last_updated: Instant(row.get(4)?),
        deleted: method == Method::Delete,
        seq: row.get(6)?,
        owner: owner_app.map(|app| Owner {
            app,
            user: owner_user,
        }),
        method,
        json: Bytes::from(json),
    })
}

/// Appends the scope condition on `r` to `sql`.
pub(crate) fn push_scope(sql: &mut String, params: &mut Vec<Value>, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::App(app) => {
            sql.push_str(" AND (r.owner_app IS NULL OR r.owner_app = ?)");
            params.push(Value::Integer(*app));
        }
        Scope::User { app, user, .. } => {
            sql.push_str(" AND (r.owner_app IS NULL OR (r.owner_app = ? AND r.owner_user = ?))");
            params.push(Value::Integer(*app));
            params.push(Value::Integer(*user));
        }
    }
}

/// The current version of a resource, deleted or not.
pub(crate) fn current(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq \
         WHERE r.fhir_version = ? AND r.type = ? AND r.id = ?"
    );
    let mut params = vec![
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
