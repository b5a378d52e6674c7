//! Patient records for `$everything` on SQLite: the statements and the reading of a page are
//! `hale_store_sql::record`'s; this runs them on one read transaction, and erases records.

use hale_fhir::FhirVersion;
use hale_store::{
    Owner, RecordMember, RecordPage, RecordPageRequest, RecordQuery, Scope, StoreError,
};
use hale_store_sql::Dialect::Sqlite;
use hale_store_sql::Sql;
use hale_store_sql::record::{Key, Reader, RecordRows, hit, member_sql, position_key};
use rusqlite::{Connection, params};

use crate::backend;
use crate::params::Lookup;
use crate::search::{horizon, in_read_transaction};
use crate::sql::{map_row, params as bind, query_count, query_resources};

/// A reader connection running a record's statements.
struct Rows<'a>(&'a Connection);

impl RecordRows for Rows<'_> {
    fn keys(&self, sql: &Sql) -> Result<Vec<Key>, StoreError> {
        let mut stmt = self.0.prepare_cached(&sql.text).map_err(backend)?;
        let rows = stmt
            .query_map(bind(sql), |row| {
                Ok(Key {
                    resource_type: row.get(0)?,
                    id: row.get(1)?,
                    rid: row.get(2)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    fn count(&self, sql: &Sql) -> Result<u64, StoreError> {
        query_count(self.0, sql)
    }
}

/// One page of the records of `query`; see [`hale_store::ResourceStore::record`].
pub(crate) fn record(
    lookup: &Lookup<'_>,
    scope: &Scope,
    query: &RecordQuery,
    page: &RecordPageRequest,
) -> Result<RecordPage, StoreError> {
    let conn = lookup.conn;
    in_read_transaction(conn, || {
        let horizon = horizon(conn, page.horizon)?;
        let reader = Reader::new(lookup, Sqlite, scope, query, horizon)?;
        let after = page.after.as_ref().map(position_key).transpose()?;
        let (keys, total) = reader.page(&Rows(conn), page, after.as_ref())?;
        let mut stmt = conn.prepare_cached(&member_sql()).map_err(backend)?;
        let hits = keys
            .into_iter()
            .map(|key| {
                let resource = stmt.query_row([key.rid], map_row).map_err(backend)?;
                Ok(hit(resource, key))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let directory = if page.directory {
            query_resources(conn, &reader.directory_sql())?
        } else {
            Vec::new()
        };
        Ok(RecordPage {
            hits,
            horizon,
            total,
            directory,
        })
    })
}

/// Every current resource of Patient `patient`'s record in any scope, with whether something
/// outside the record needs it; see [`hale_store::WriteTx::record_members`].
pub(crate) fn members(
    lookup: &Lookup<'_>,
    fhir_version: FhirVersion,
    patient: &str,
) -> Result<Vec<RecordMember>, StoreError> {
    let mut members = Vec::new();
    let statements =
        hale_store_sql::record::member_statements(lookup, Sqlite, fhir_version, patient)?;
    for sql in statements {
        let mut stmt = lookup.conn.prepare_cached(&sql.text).map_err(backend)?;
        let rows = stmt.query_map(bind(&sql), member_row).map_err(backend)?;
        for row in rows {
            members.push(row.map_err(backend)?);
        }
    }
    Ok(members)
}

fn member_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordMember> {
    let owner_app: Option<i64> = row.get(2)?;
    let owner_user: Option<i64> = row.get(3)?;
    Ok(RecordMember {
        resource_type: row.get(0)?,
        id: row.get(1)?,
        owner: owner_app.map(|app| Owner {
            app,
            user: owner_user,
        }),
        shared: row.get(4)?,
    })
}

/// Removes a resource, every version of it and everything indexed from it; see
/// [`hale_store::WriteTx::purge`].
pub(crate) fn purge(
    conn: &Connection,
    fhir_version: FhirVersion,
    resource_type: &str,
    id: &str,
) -> Result<(), StoreError> {
    let rid: Option<i64> = conn
        .prepare_cached(
            "SELECT rid FROM resource WHERE fhir_version = ?1 AND type = ?2 AND id = ?3",
        )
        .and_then(|mut stmt| {
            let mut rows = stmt.query(params![fhir_version.as_str(), resource_type, id])?;
            rows.next()?.map(|row| row.get(0)).transpose()
        })
        .map_err(backend)?;
    let Some(rid) = rid else {
        return Ok(());
    };
    crate::write::delete_index(conn, rid)?;
    // Rows are never reused (paging horizons and cursors rely on it), but SQLite gives a new row
    // the highest row plus one: the highest row stays, as a tombstone no query can reach, since
    // every query names a FHIR version and a type.
    let highest: i64 = conn
        .prepare_cached("SELECT max(rid) FROM resource")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(backend)?;
    let remove_row = if rid == highest {
        "UPDATE resource SET fhir_version = '-', type = '-', id = CAST(rid AS TEXT), \
         owner_app = NULL, owner_user = NULL, deleted = 1 WHERE rid = ?1"
    } else {
        "DELETE FROM resource WHERE rid = ?1"
    };
    for statement in ["DELETE FROM history WHERE rid = ?1", remove_row] {
        conn.prepare_cached(statement)
            .and_then(|mut stmt| stmt.execute([rid]))
            .map_err(backend)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Query plans: every statement starts from the record's compartment rows (or, at type
    //! level, walks `resource` by its unique key in order) and reaches everything else by key.

    use hale_store::Grant;

    use hale_store_sql::record::member_statements;

    use super::*;
    use crate::search::tests::{conn, plan};

    fn scopes() -> [Scope; 2] {
        [
            Scope::All,
            Scope::User {
                app: 1,
                user: 10,
                grants: vec![Grant {
                    owner: 11,
                    patient: Some("p".into()),
                }],
            },
        ]
    }

    fn check(what: &str, conn: &Connection, sql: &Sql, starts_at: &str) {
        let plan = plan(conn, sql);
        println!("{what}\n{}\n{plan}", sql.text);
        // `e` is the subquery of referenced rows, which is read whole by design.
        let scans = plan
            .lines()
            .any(|line| line.trim_start().starts_with("SCAN ") && line.trim() != "SCAN e");
        assert!(!scans, "{what}: no table is scanned:\n{plan}");
        let walks_version = plan
            .lines()
            .any(|line| line.contains("(fhir_version=?)") && !line.contains("search_param"));
        assert!(
            !walks_version,
            "{what}: no walk through every resource of the version:\n{plan}"
        );
        assert!(
            plan.contains(starts_at),
            "{what}: starts at {starts_at}:\n{plan}"
        );
    }

    #[test]
    fn a_record_is_read_from_its_compartment_rows() {
        let conn = conn();
        let ids = crate::params::ParamIds::default();
        let lookup = Lookup {
            conn: &conn,
            ids: &ids,
            committed: true,
        };
        for scope in scopes() {
            for care in [None, Some((0, 10))] {
                let mut query = RecordQuery {
                    fhir_version: FhirVersion::R4,
                    patient: Some("p".into()),
                    types: vec!["Observation".into()],
                    since: Some(hale_fhir::Instant(5)),
                    care,
                };
                let reader = Reader::new(&lookup, Sqlite, &scope, &query, 1_000).unwrap();
                let after = Key {
                    resource_type: "Observation".into(),
                    id: "x".into(),
                    rid: 3,
                };
                let page = reader.compartment_page_sql("p", Some(&after), 11);
                check(
                    "page",
                    &conn,
                    &page,
                    "compartment_record (patient_id=? AND (type,id)>(?,?))",
                );
                assert!(
                    !plan(&conn, &page).contains("TEMP B-TREE"),
                    "the page is not sorted"
                );
                let count = reader.compartment_sql("count(*)", "p");
                check("count", &conn, &count, "compartment_record (patient_id=?)");
                for (what, sql) in [
                    ("referenced members", reader.referenced_members_sql()),
                    ("directory", reader.directory_sql()),
                ] {
                    check(what, &conn, &sql, "compartment_record (patient_id=?)");
                }
                query.patient = None;
                let reader = Reader::new(&lookup, Sqlite, &scope, &query, 1_000).unwrap();
                let mut every = reader.every_record_sql("r.type, r.id, r.rid");
                every.push(" ORDER BY r.type, r.id LIMIT 10");
                check(
                    "type level",
                    &conn,
                    &every,
                    "SEARCH r USING INDEX sqlite_autoindex_resource_1",
                );
                assert!(
                    !plan(&conn, &every).contains("ORDER BY"),
                    "type level pages are not sorted"
                );
            }
        }
        for (idx, sql) in member_statements(&lookup, Sqlite, FhirVersion::R4, "p")
            .unwrap()
            .iter()
            .enumerate()
        {
            check(
                &format!("members {idx}"),
                &conn,
                sql,
                "compartment_record (patient_id=?)",
            );
        }
    }
}
