//! Queries on reader connections.

use hale_fhir::FhirVersion;
use hale_store::{HistoryPage, HistoryQuery, Scope, StoreError, StoredResource};
use hale_store_sql::Dialect::Sqlite;
use rusqlite::Connection;

use crate::backend;
use crate::sql::{params, query_count, query_resources};

pub(crate) use crate::search::{count, cuts, export_rows, find, include, search};
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
    crate::sql::resource_version(
        conn,
        scope,
        fhir_version,
        resource_type,
        id,
        Some(version_id),
    )
}

/// A page of history, newest first, and the number of matching versions
/// ([`hale_store_sql::history::history`]).
pub(crate) fn history(
    conn: &Connection,
    scope: &Scope,
    query: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let (count_sql, page) = hale_store_sql::history::history(Sqlite, scope, query);
    let total = query_count(conn, &count_sql)?;
    let versions = query_resources(conn, &page)?;
    Ok(HistoryPage { versions, total })
}

/// Current, not deleted resources per type ([`hale_store_sql::history::count_by_type`]).
pub(crate) fn count_by_type(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
) -> Result<Vec<(String, u64)>, StoreError> {
    let sql = hale_store_sql::history::count_by_type(Sqlite, scope, fhir_version);
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let rows = stmt
        .query_map(params(&sql), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
        })
        .map_err(backend)?;
    let mut counts = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
    // A type whose rows are all deleted or out of scope has none to count.
    counts.retain(|(_, n)| *n > 0);
    Ok(counts)
}

#[cfg(test)]
mod tests {
    //! The plans of history and `count_by_type` under a user's scope. Run with `--nocapture` to
    //! print them.
    #![allow(clippy::unwrap_used, clippy::print_stdout, reason = "test code")]

    use hale_store::Grant;

    use hale_store_sql::history::{count_by_type as count_by_type_sql, history as history_sql};

    use super::*;
    use crate::search::tests::{conn, plan};

    fn user_scope() -> Scope {
        Scope::User {
            app: 1,
            user: 10,
            grants: vec![
                Grant {
                    owner: 11,
                    patient: Some("p1".into()),
                },
                Grant {
                    owner: 11,
                    patient: Some("p2".into()),
                },
                Grant {
                    owner: 12,
                    patient: None,
                },
            ],
        }
    }

    /// A user's type and system history, and its `count_by_type`, read the scope's owner groups
    /// from the owner index (each type that has rows in turn, for the system), not every
    /// resource or every version.
    #[test]
    fn user_history_and_counts_read_owner_groups() {
        const GROUP_RANGE: &str =
            "INDEX resource_owner (owner_app=? AND owner_user=? AND fhir_version=? AND type=?";
        let conn = conn();
        let mut plans = Vec::new();
        for resource_type in [Some("Observation".to_owned()), None] {
            let query = HistoryQuery {
                fhir_version: FhirVersion::R4,
                resource_type,
                id: None,
                since: None,
                count: 10,
                before_seq: Some(100),
            };
            let (count_sql, page_sql) = history_sql(Sqlite, &user_scope(), &query);
            plans.push((format!("HISTORY COUNT {query:?}"), count_sql));
            plans.push((format!("HISTORY PAGE {query:?}"), page_sql));
        }
        plans.push((
            "COUNT BY TYPE".to_owned(),
            count_by_type_sql(Sqlite, &user_scope(), FhirVersion::R4),
        ));
        for (what, sql) in plans {
            let plan = plan(&conn, &sql);
            println!("{what}\n{}\n{plan}", sql.text);
            // Operator data, the user's own, the whole-record grantor's, the per-patient one's.
            assert_eq!(
                plan.matches(GROUP_RANGE).count(),
                4,
                "each owner group is a range of the owner index:\n{plan}"
            );
            assert!(
                !plan.contains("SCAN r")
                    && !plan.contains("SCAN h")
                    && !plan.contains("resource_type_rid")
                    && !plan.contains("r USING INDEX resource_last_updated")
                    && !plan.contains("r USING COVERING INDEX resource_last_updated"),
                "neither every resource nor every version is read:\n{plan}"
            );
        }
    }
}
