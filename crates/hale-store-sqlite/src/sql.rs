//! SQL shared by the reader and the writer: the scope condition, search criteria and row mapping.

use bytes::Bytes;
use hale_fhir::{FhirVersion, Instant};
use hale_search::query::{
    Criterion, ReferenceValue, SearchQuery, StringMatch, Test, TokenValue, UriMatch,
};
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
        Scope::Owners(owners) => {
            sql.push_str(" AND (r.owner_app IS NULL");
            for owner in owners {
                sql.push_str(" OR (r.owner_app = ? AND r.owner_user IS ?)");
                params.push(Value::Integer(owner.app));
                params.push(owner.user.map_or(Value::Null, Value::Integer));
            }
            sql.push(')');
        }
    }
}

/// Appends one `r.rid IN (…)` condition per criterion of `query`.
pub(crate) fn push_criteria(
    sql: &mut String,
    params: &mut Vec<Value>,
    query: &SearchQuery,
) -> Result<(), StoreError> {
    for criterion in &query.criteria {
        let Criterion::Param(criterion) = criterion else {
            return Err(StoreError::Unsupported("chained criteria".into()));
        };
        let code = Value::Text(criterion.code.to_owned());
        let mut alternatives: Vec<String> = Vec::new();
        match &criterion.test {
            Test::Id(ids) => {
                sql.push_str(" AND r.id IN (");
                push_placeholders(sql, ids.len());
                sql.push(')');
                params.extend(ids.iter().map(|id| Value::Text(id.clone())));
                continue;
            }
            Test::Token {
                negate: false,
                values,
            } => {
                sql.push_str(" AND r.rid IN (SELECT rid FROM idx_token WHERE code = ? AND (");
                params.push(code);
                for value in values {
                    match value {
                        TokenValue::Code(c) => {
                            alternatives.push("value = ?".into());
                            params.push(Value::Text(c.clone()));
                        }
                        TokenValue::SystemCode(s, c) => {
                            alternatives.push("(value = ? AND system = ?)".into());
                            params.push(Value::Text(c.clone()));
                            params.push(Value::Text(s.clone()));
                        }
                        TokenValue::NoSystemCode(c) => {
                            alternatives.push("(value = ? AND system IS NULL)".into());
                            params.push(Value::Text(c.clone()));
                        }
                        TokenValue::System(s) => {
                            alternatives.push("system = ?".into());
                            params.push(Value::Text(s.clone()));
                        }
                    }
                }
            }
            Test::Reference(values) => {
                sql.push_str(" AND r.rid IN (SELECT rid FROM idx_reference WHERE code = ? AND (");
                params.push(code);
                for value in values {
                    match value {
                        ReferenceValue::Local {
                            target_type: Some(t),
                            target_id,
                        } => {
                            alternatives.push("(target_id = ? AND target_type = ?)".into());
                            params.push(Value::Text(target_id.clone()));
                            params.push(Value::Text(t.clone()));
                        }
                        ReferenceValue::Local {
                            target_type: None,
                            target_id,
                        } => {
                            alternatives.push("target_id = ?".into());
                            params.push(Value::Text(target_id.clone()));
                        }
                        ReferenceValue::Url { url, .. } => {
                            alternatives.push("url = ?".into());
                            params.push(Value::Text(url.clone()));
                        }
                    }
                }
            }
            Test::String {
                mode: StringMatch::Prefix,
                values,
            } => {
                sql.push_str(" AND r.rid IN (SELECT rid FROM idx_string WHERE code = ? AND (");
                params.push(code);
                for value in values {
                    // A prefix match as a range keeps the (code, normalized) index usable.
                    alternatives.push("(normalized >= ? AND normalized < ?)".into());
                    params.push(Value::Text(value.clone()));
                    params.push(Value::Text(format!("{value}\u{10FFFF}")));
                }
            }
            Test::Uri {
                mode: UriMatch::Exact,
                values,
            } => {
                sql.push_str(" AND r.rid IN (SELECT rid FROM idx_uri WHERE code = ? AND (");
                params.push(code);
                for value in values {
                    alternatives.push("value = ?".into());
                    params.push(Value::Text(value.clone()));
                }
            }
            _ => return Err(StoreError::Unsupported("this search test".into())),
        }
        sql.push_str(&alternatives.join(" OR "));
        sql.push_str("))");
    }
    Ok(())
}

fn push_placeholders(sql: &mut String, n: usize) {
    for idx in 0..n {
        sql.push_str(if idx == 0 { "?" } else { ", ?" });
    }
}

/// The current, not deleted resources matching `query` in `scope`, at most `limit`, by id.
pub(crate) fn find(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    limit: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq \
         WHERE r.fhir_version = ? AND r.type = ? AND r.deleted = 0"
    );
    let mut params = vec![
        Value::Text(fhir_version.as_str().to_owned()),
        Value::Text(query.resource_type.to_owned()),
    ];
    push_scope(&mut sql, &mut params, scope);
    push_criteria(&mut sql, &mut params, query)?;
    sql.push_str(" ORDER BY r.id LIMIT ?");
    params.push(Value::Integer(limit as i64));
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), map_row)
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
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
