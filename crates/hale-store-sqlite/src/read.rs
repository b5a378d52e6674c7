//! Queries on reader connections.

use hale_fhir::FhirVersion;
use hale_store::{HistoryPage, HistoryQuery, Scope, StoreError, StoredResource};
use rusqlite::{Connection, params_from_iter};

use crate::backend;
use crate::plan::Sql;
use crate::sql::{COLUMNS, map_row, owner_groups, present_types, push_group, push_scope};

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

/// A page of history, newest first, and the number of matching versions. The scope is the
/// resource's: every version of a resource in scope is.
///
/// Under a scope other than `Scope::All`, type and system history start from the resources of
/// the scope's owner groups ([`owner_rows`]) and their versions, so that they cost what the
/// principal may see; the page is sorted by `seq` from those versions' keys alone, and only its
/// own rows are read whole. Instance history and the operator's start from the resource's key
/// or the whole history.
pub(crate) fn history(
    conn: &Connection,
    scope: &Scope,
    query: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let (count_sql, page) = history_sql(scope, query);
    let total: i64 = conn
        .prepare_cached(&count_sql.text)
        .and_then(|mut stmt| stmt.query_row(params_from_iter(count_sql.params), |row| row.get(0)))
        .map_err(backend)?;
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

/// The statements of [`history`]: the count of matching versions, and the page.
fn history_sql(scope: &Scope, query: &HistoryQuery) -> (Sql, Sql) {
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
    let owned = match &query.id {
        Some(_) => None,
        None => owner_rows(scope, query.fhir_version, query.resource_type.as_deref()),
    };
    match owned {
        None => {
            let from = " FROM history h JOIN resource r ON r.rid = h.rid";
            let mut count_sql = Sql::default();
            count_sql.push(&format!("SELECT count(*){from}"));
            count_sql.append(filter.clone());
            let mut page = Sql::default();
            page.push(&format!("SELECT {COLUMNS}{from}"));
            page.append(filter);
            if let Some(before) = query.before_seq {
                page.push(" AND h.seq < ");
                page.bind(before);
            }
            page.push(" ORDER BY h.seq DESC LIMIT ");
            page.bind(query.count as i64);
            (count_sql, page)
        }
        Some(rows) => {
            // The versions of the groups' resources, through `history_rid`.
            let versions = |sql: &mut Sql| {
                sql.push("FROM (");
                sql.append(rows.clone());
                sql.push(") o CROSS JOIN history h ON h.rid = o.rid");
                if let Some(since) = query.since {
                    sql.push(" AND h.last_updated >= ");
                    sql.bind(since.0);
                }
            };
            let mut count_sql = Sql::default();
            count_sql.push("SELECT count(*) ");
            versions(&mut count_sql);
            let mut page = Sql::default();
            page.push(&format!("SELECT {COLUMNS} FROM (SELECT h.seq AS seq "));
            versions(&mut page);
            if let Some(before) = query.before_seq {
                page.push(" AND h.seq < ");
                page.bind(before);
            }
            page.push(" ORDER BY h.seq DESC LIMIT ");
            page.bind(query.count as i64);
            // `CROSS JOIN` keeps the page first: SQLite would otherwise start from `r`.
            page.push(
                ") p CROSS JOIN history h ON h.seq = p.seq CROSS JOIN resource r ON r.rid = h.rid",
            );
            page.append(filter);
            page.push(" ORDER BY h.seq DESC");
            (count_sql, page)
        }
    }
}

/// Under a scope other than `Scope::All`, `SELECT r.rid AS rid …`: the resources of `resource_type`
/// (or of every type) in each of the scope's owner groups, deleted ones too, read from the
/// `resource_owner` index group by group. `None` under `Scope::All`.
fn owner_rows(
    scope: &Scope,
    fhir_version: FhirVersion,
    resource_type: Option<&str>,
) -> Option<Sql> {
    let groups = owner_groups(scope)?;
    let mut sql = Sql::default();
    for (idx, group) in groups.iter().enumerate() {
        if idx > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push(
            "SELECT r.rid AS rid FROM resource r INDEXED BY resource_owner WHERE r.fhir_version = ",
        );
        sql.bind(fhir_version.as_str());
        match resource_type {
            Some(resource_type) => {
                sql.push(" AND r.type = ");
                sql.bind(resource_type);
            }
            None => {
                sql.push(" AND r.type IN (");
                sql.append(present_types(fhir_version.as_str()));
                sql.push(")");
            }
        }
        push_group(&mut sql, "r", group);
    }
    Some(sql)
}

/// Current, not deleted resources per type.
///
/// Under a scope other than `Scope::All` each type that has rows is counted group by group in
/// the `resource_owner` index, so the cost is a few seeks per type and group plus the rows the
/// principal may see, not a pass over every resource.
pub(crate) fn count_by_type(
    conn: &Connection,
    scope: &Scope,
    fhir_version: FhirVersion,
) -> Result<Vec<(String, u64)>, StoreError> {
    let sql = count_by_type_sql(scope, fhir_version);
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(sql.params), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
        })
        .map_err(backend)?;
    let mut counts = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
    // A type whose rows are all deleted or out of scope has none to count.
    counts.retain(|(_, n)| *n > 0);
    Ok(counts)
}

/// The statement of [`count_by_type`].
fn count_by_type_sql(scope: &Scope, fhir_version: FhirVersion) -> Sql {
    let mut sql = Sql::default();
    match owner_groups(scope) {
        None => {
            sql.push("SELECT r.type, count(*) FROM resource r WHERE r.fhir_version = ");
            sql.bind(fhir_version.as_str());
            sql.push(" AND r.deleted = 0");
            push_scope(&mut sql, "r", scope);
            sql.push(" GROUP BY r.type ORDER BY r.type");
        }
        Some(groups) => {
            sql.push("SELECT t.type, ");
            for (idx, group) in groups.iter().enumerate() {
                if idx > 0 {
                    sql.push(" + ");
                }
                sql.push("(SELECT count(*) FROM resource r INDEXED BY resource_owner WHERE r.fhir_version = ");
                sql.bind(fhir_version.as_str());
                sql.push(" AND r.type = t.type AND r.deleted = 0");
                push_group(&mut sql, "r", group);
                sql.push(")");
            }
            sql.push(" FROM (");
            sql.append(present_types(fhir_version.as_str()));
            sql.push(") t ORDER BY t.type");
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    //! The plans of history and `count_by_type` under a user's scope. Run with `--nocapture` to
    //! print them.
    #![allow(clippy::unwrap_used, clippy::print_stdout, reason = "test code")]

    use hale_store::Grant;

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
            let (count_sql, page_sql) = history_sql(&user_scope(), &query);
            plans.push((format!("HISTORY COUNT {query:?}"), count_sql));
            plans.push((format!("HISTORY PAGE {query:?}"), page_sql));
        }
        plans.push((
            "COUNT BY TYPE".to_owned(),
            count_by_type_sql(&user_scope(), FhirVersion::R4),
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
