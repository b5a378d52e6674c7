//! The statements of history, `count_by_type` and the operator's data by write order.

use hale_fhir::FhirVersion;
use hale_store::{HistoryQuery, Scope};

use crate::scope::{COLUMNS, owner_groups, present_types, push_group, push_scope};
use crate::{Dialect, Sql};

/// The statements of a page of history ([`hale_store::ResourceStore::history`]): the count of
/// matching versions, and the page, newest first, selecting [`COLUMNS`]. The scope is the
/// resource's: every version of a resource in scope is.
///
/// Under a scope other than `Scope::All`, type and system history start from the resources of
/// the scope's owner groups ([`owner_rows`]) and their versions, so that they cost what the
/// principal may see; the page is sorted by `seq` from those versions' keys alone, and only its
/// own rows are read whole. Instance history and the operator's start from the resource's key
/// or the whole history.
pub fn history(dialect: Dialect, scope: &Scope, query: &HistoryQuery) -> (Sql, Sql) {
    let cj = dialect.cross_join();
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
        None => owner_rows(
            dialect,
            scope,
            query.fhir_version,
            query.resource_type.as_deref(),
        ),
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
                sql.push(&format!(") o {cj} history h ON h.rid = o.rid"));
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
            page.push(&format!(
                ") p {cj} history h ON h.seq = p.seq {cj} resource r ON r.rid = h.rid"
            ));
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
    dialect: Dialect,
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
        sql.push(&format!(
            "SELECT r.rid AS rid FROM resource r{} WHERE r.fhir_version = ",
            dialect.indexed_by("resource_owner")
        ));
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

/// The statement of [`hale_store::ResourceStore::count_by_type`]: current, not deleted resources
/// per type, some counts maybe 0.
///
/// Under a scope other than `Scope::All` each type that has rows is counted group by group in
/// the `resource_owner` index, so the cost is a few seeks per type and group plus the rows the
/// principal may see, not a pass over every resource.
pub fn count_by_type(dialect: Dialect, scope: &Scope, fhir_version: FhirVersion) -> Sql {
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
                sql.push(&format!(
                    "(SELECT count(*) FROM resource r{} WHERE r.fhir_version = ",
                    dialect.indexed_by("resource_owner")
                ));
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

/// The highest write sequence number among the operator's resources of one type, deleted ones
/// included (parameters: FHIR version, type): one probe of the partial index
/// `resource_operator`.
pub const OPERATOR_SEQ: &str = "SELECT max(seq) FROM resource \
     WHERE owner_app IS NULL AND fhir_version = ? AND type = ?";

/// Up to a limit of the operator's current, not deleted resources of one type written after a
/// sequence number, in write order, with their sequence numbers (parameters: FHIR version, type,
/// after, limit).
pub fn operator_resources(dialect: Dialect) -> String {
    format!(
        "SELECT r.seq, h.json FROM resource r{} \
         {} history h ON h.seq = r.seq \
         WHERE r.owner_app IS NULL AND r.fhir_version = ? AND r.type = ? \
         AND r.seq > ? AND r.deleted = 0 ORDER BY r.seq LIMIT ?",
        dialect.indexed_by("resource_operator"),
        dialect.cross_join()
    )
}
