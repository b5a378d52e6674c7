//! SQL shared by the reader and the writer: the scope condition, the current version and row
//! mapping.

use bytes::Bytes;
use hale_fhir::{FhirVersion, Instant};
use hale_store::{Method, Owner, Scope, StoreError, StoredResource};
use rusqlite::{Connection, Row, params_from_iter};

use crate::backend;
use crate::plan::Sql;

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

/// Appends ` AND <the scope condition>` on the resource alias `alias`: nothing under
/// `Scope::All`, and otherwise a condition on the row's own columns, so that every statement
/// (search, count, chain, `_has`, include, history, read, and lookups inside writes) filters with
/// the same definition of what a principal sees.
///
/// Per row it costs an owner comparison and, for each per-patient grant of the row's owner, a
/// check of the Patient's own key and one probe of the `compartment` table's primary key
/// `(rid, patient_id)`. The statement's text depends on the number of grants of each kind only,
/// never on their values, so prepared statements are reused across principals.
pub(crate) fn push_scope(sql: &mut Sql, alias: &str, scope: &Scope) {
    let (app, user, grants) = match scope {
        Scope::All => return,
        Scope::App(app) => {
            sql.push(&format!(
                " AND ({alias}.owner_app IS NULL OR {alias}.owner_app = "
            ));
            sql.bind(*app);
            sql.push(")");
            return;
        }
        Scope::User { app, user, grants } => (*app, *user, grants),
    };
    // Whole-record grants widen the set of owners; a per-patient grant of an owner already in
    // that set adds nothing, and repeated grants add nothing either.
    let mut owners = vec![user];
    for grant in grants {
        if grant.patient.is_none() && !owners.contains(&grant.owner) {
            owners.push(grant.owner);
        }
    }
    let mut records: Vec<(i64, &str)> = Vec::new();
    for grant in grants {
        if let Some(patient) = grant.patient.as_deref()
            && !owners.contains(&grant.owner)
            && !records.contains(&(grant.owner, patient))
        {
            records.push((grant.owner, patient));
        }
    }
    sql.push(&format!(
        " AND ({alias}.owner_app IS NULL OR ({alias}.owner_app = "
    ));
    sql.bind(app);
    sql.push(&format!(" AND ({alias}.owner_user "));
    if let [only] = owners.as_slice() {
        sql.push("= ");
        sql.bind(*only);
    } else {
        sql.push("IN (");
        for (idx, owner) in owners.iter().enumerate() {
            if idx > 0 {
                sql.push(", ");
            }
            sql.bind(*owner);
        }
        sql.push(")");
    }
    for (owner, patient) in records {
        // The Patient itself, or a resource in its compartment. A deleted resource has no
        // compartment rows, so only the Patient's own deletion stays visible.
        sql.push(&format!(" OR ({alias}.owner_user = "));
        sql.bind(owner);
        sql.push(&format!(
            " AND (({alias}.type = 'Patient' AND {alias}.id = "
        ));
        sql.bind(patient);
        sql.push(&format!(
            ") OR EXISTS (SELECT 1 FROM compartment gc WHERE gc.rid = {alias}.rid AND gc.patient_id = "
        ));
        sql.bind(patient);
        sql.push(")))");
    }
    sql.push(")))");
}

/// The current version of a resource, deleted or not, if it is in `scope`.
pub(crate) fn current(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE r.fhir_version = "
    ));
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
