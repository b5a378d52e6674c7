//! The operator's data by type and write order (`migrations/0010_operator_index.sql`): what the
//! provider directory is built from and how a process notices that it changed.

use bytes::Bytes;
use hale_fhir::FhirVersion;
use hale_store::StoreError;
use rusqlite::{Connection, params};

use crate::backend;

/// The highest write sequence number among the operator's resources of `types`, deleted ones
/// included, or 0 when there are none: one probe of the partial index per type.
pub(crate) fn operator_seq(
    conn: &Connection,
    fhir_version: FhirVersion,
    types: &[String],
) -> Result<i64, StoreError> {
    let mut stmt = conn
        .prepare_cached(hale_store_sql::history::OPERATOR_SEQ)
        .map_err(backend)?;
    let mut highest = 0;
    for resource_type in types {
        let seq: Option<i64> = stmt
            .query_row(params![fhir_version.as_str(), resource_type], |row| {
                row.get(0)
            })
            .map_err(backend)?;
        highest = highest.max(seq.unwrap_or(0));
    }
    Ok(highest)
}

/// Up to `limit` of the operator's current, not deleted resources of `resource_type` written
/// after `after`, in write order, with their sequence numbers.
pub(crate) fn operator_resources(
    conn: &Connection,
    fhir_version: FhirVersion,
    resource_type: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, Bytes)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&hale_store_sql::history::operator_resources(
            hale_store_sql::Dialect::Sqlite,
        ))
        .map_err(backend)?;
    stmt.query_map(
        params![fhir_version.as_str(), resource_type, after, limit as i64],
        |row| Ok((row.get(0)?, Bytes::from(row.get::<_, Vec<u8>>(1)?))),
    )
    .map_err(backend)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(backend)
}
