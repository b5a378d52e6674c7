//! Patient records for `$everything`: paging, counting and erasing them, by the rules of
//! [`hale_fhir::record`].
//!
//! One Patient's record is walked through the `compartment_record` index
//! (`migrations/0008_compartment_order.sql`), which holds each compartment row's type and id
//! beside the Patient's id: a page is a range read in (type, id) order that stops after the page,
//! so reading a record of any size costs what its pages hold. The Medications and Devices the
//! record references are found from the compartment's reference rows, are few, and are merged
//! into that order in memory. The records of every Patient in scope (type level `$everything`)
//! walk `resource` in (type, id) order through its unique key instead, each row tested for
//! membership, so that a resource in several records appears once.
//!
//! Every alias of `resource` carries the scope: the members, the resources whose references bring
//! in a Medication or a Practitioner, and the Patients of a type level read.

use hale_fhir::FhirVersion;
use hale_fhir::record::{
    DEVICE_PATIENT, REFERENCED_DIRECTORY, REFERENCED_MEMBERS, care_date_param, member_types,
};
use hale_store::{
    Hit, Owner, Position, RecordMember, RecordPage, RecordPageRequest, RecordQuery, Scope,
    SortValue, StoreError, StoredResource,
};
use rusqlite::{Connection, params, params_from_iter};

use crate::backend;
use crate::params::Lookup;
use crate::plan::Sql;
use crate::search::{horizon, in_read_transaction};
use crate::sql::{COLUMNS, map_row, push_scope};

/// A member's place in the record's order and its row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    resource_type: String,
    id: String,
    rid: i64,
}

/// What every statement here needs: the query, the principal and the values looked up once.
struct Reader<'a> {
    conn: &'a Connection,
    scope: &'a Scope,
    query: &'a RecordQuery,
    horizon: i64,
    /// The ids of the care date parameters of the member types that have rows.
    care_params: Vec<i64>,
    /// The id of `Device.patient`, if a Device was ever written.
    device_patient: Option<i64>,
}

/// One page of the records of `query`; see [`hale_store::ResourceStore::record`].
pub(crate) fn record(
    lookup: &Lookup<'_>,
    scope: &Scope,
    query: &RecordQuery,
    page: &RecordPageRequest,
) -> Result<RecordPage, StoreError> {
    in_read_transaction(lookup.conn, || {
        let horizon = horizon(lookup.conn, page.horizon)?;
        let reader = Reader::new(lookup, scope, query, horizon)?;
        let after = page.after.as_ref().map(position_key).transpose()?;
        let (keys, total) = match &query.patient {
            Some(patient) => reader.one_record(patient, page, after.as_ref())?,
            None => reader.every_record(page, after.as_ref())?,
        };
        let hits = keys
            .into_iter()
            .map(|key| reader.hit(key))
            .collect::<Result<Vec<_>, _>>()?;
        let directory = if page.directory {
            reader.directory()?
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

/// The (type, id) and row a cursor's position holds.
fn position_key(position: &Position) -> Result<Key, StoreError> {
    match position.keys.as_slice() {
        [SortValue::Text(resource_type), SortValue::Text(id)] => Ok(Key {
            resource_type: resource_type.clone(),
            id: id.clone(),
            rid: position.row,
        }),
        _ => Err(StoreError::Unsupported(
            "a record position is a resource type and an id".into(),
        )),
    }
}

impl<'a> Reader<'a> {
    fn new(
        lookup: &'a Lookup<'a>,
        scope: &'a Scope,
        query: &'a RecordQuery,
        horizon: i64,
    ) -> Result<Self, StoreError> {
        let version = query.fhir_version.as_str();
        let mut care_params = Vec::new();
        if query.care.is_some() {
            for resource_type in member_types() {
                if let Some(code) = care_date_param(resource_type) {
                    care_params.extend(lookup.one(version, resource_type, code)?);
                }
            }
        }
        let (device, code) = DEVICE_PATIENT;
        Ok(Reader {
            conn: lookup.conn,
            scope,
            query,
            horizon,
            care_params,
            device_patient: lookup.one(version, device, code)?,
        })
    }

    /// ` AND …`: what a member row `alias` must be, besides belonging to the record: of the FHIR
    /// version, current, not deleted, within the horizon, in scope, and of the query's types
    /// (which the type level walk puts into its own list of types instead), `_since` and dates of
    /// care.
    fn push_filters(&self, sql: &mut Sql, alias: &str) {
        sql.push(&format!(" AND {alias}.fhir_version = "));
        sql.bind(self.query.fhir_version.as_str());
        sql.push(&format!(" AND {alias}.deleted = 0 AND {alias}.rid <= "));
        sql.bind(self.horizon);
        push_scope(sql, alias, self.scope);
        if !self.query.types.is_empty() && self.query.patient.is_some() {
            sql.push(&format!(" AND {alias}.type IN ("));
            sql.bind_list(self.query.types.iter().map(String::as_str));
            sql.push(")");
        }
        if let Some(since) = self.query.since {
            sql.push(&format!(" AND {alias}.last_updated >= "));
            sql.bind(since.0);
        }
        if let Some((low, high)) = self.query.care
            && !self.care_params.is_empty()
        {
            // Kept when the resource has no date of care, or one that overlaps the range.
            let params = |sql: &mut Sql| {
                sql.push("d.param IN (");
                sql.bind_list(self.care_params.iter().copied());
                sql.push(")");
            };
            sql.push(&format!(
                " AND (NOT EXISTS (SELECT 1 FROM idx_date d WHERE d.rid = {alias}.rid AND "
            ));
            params(sql);
            sql.push(&format!(
                ") OR EXISTS (SELECT 1 FROM idx_date d WHERE d.rid = {alias}.rid AND "
            ));
            params(sql);
            sql.push(" AND d.high >= ");
            sql.bind(low);
            sql.push(" AND d.low <= ");
            sql.bind(high);
            sql.push("))");
        }
    }

    /// The condition on compartment rows `alias` that they belong to the records read: the
    /// Patient's, or those of every Patient in scope.
    fn push_records(&self, sql: &mut Sql, alias: &str) {
        match &self.query.patient {
            Some(patient) => {
                sql.push(&format!("{alias}.patient_id = "));
                sql.bind(patient.as_str());
            }
            None => {
                sql.push(&format!(
                    "{alias}.patient_id IN (SELECT p.id FROM resource p WHERE p.type = 'Patient'"
                ));
                self.push_current(sql, "p");
                sql.push(")");
            }
        }
    }

    /// ` AND …`: `alias` is a current resource of the FHIR version in scope.
    fn push_current(&self, sql: &mut Sql, alias: &str) {
        sql.push(&format!(" AND {alias}.fhir_version = "));
        sql.bind(self.query.fhir_version.as_str());
        sql.push(&format!(" AND {alias}.deleted = 0"));
        push_scope(sql, alias, self.scope);
    }

    /// `SELECT t.rid FROM …`: the resources of `targets` that the records' resources reference
    /// (and, for members, the Devices that name a Patient of the records as theirs), whatever
    /// their own scope.
    fn referenced(&self, targets: &[&str], with_devices: bool) -> Sql {
        let mut sql = Sql::default();
        // `CROSS JOIN` keeps SQLite (which has no statistics here) from starting at the
        // resources of the FHIR version instead of at the record's compartment rows.
        sql.push(
            "SELECT DISTINCT t.rid FROM compartment c CROSS JOIN resource s ON s.rid = c.rid \
             CROSS JOIN idx_reference x ON x.rid = c.rid \
             CROSS JOIN resource t ON t.fhir_version = s.fhir_version AND t.type = x.target_type \
             AND t.id = x.target_id WHERE ",
        );
        self.push_records(&mut sql, "c");
        self.push_current(&mut sql, "s");
        sql.push(" AND x.target_type IN (");
        sql.bind_list(targets.iter().copied());
        sql.push(")");
        if with_devices && let Some(param) = self.device_patient {
            sql.push(" UNION SELECT x.rid FROM idx_reference x WHERE x.param = ");
            sql.bind(param);
            sql.push(" AND x.target_type = 'Patient' AND ");
            match &self.query.patient {
                Some(patient) => {
                    sql.push("x.target_id = ");
                    sql.bind(patient.as_str());
                }
                None => {
                    sql.push(
                        "x.target_id IN (SELECT p.id FROM resource p WHERE p.type = 'Patient'",
                    );
                    self.push_current(&mut sql, "p");
                    sql.push(")");
                }
            }
        }
        sql
    }

    /// The members the record references from outside the compartment (Medications, Devices),
    /// in order.
    fn referenced_members_sql(&self) -> Sql {
        let mut sql = Sql::default();
        sql.push("SELECT r.type, r.id, r.rid FROM (");
        sql.append(self.referenced(REFERENCED_MEMBERS, true));
        sql.push(") e CROSS JOIN resource r ON r.rid = e.rid WHERE 1");
        self.push_filters(&mut sql, "r");
        // Never twice: a type that a later FHIR version puts into the compartment is read there.
        sql.push(" AND NOT EXISTS (SELECT 1 FROM compartment c2 WHERE c2.rid = r.rid AND ");
        self.push_records(&mut sql, "c2");
        sql.push(") ORDER BY r.type, r.id");
        sql
    }

    /// `SELECT … FROM compartment c CROSS JOIN resource r … WHERE …`: the compartment members
    /// of `patient` that pass the filters; `select` names the columns.
    fn compartment_sql(&self, select: &str, patient: &str) -> Sql {
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT {select} FROM compartment c CROSS JOIN resource r ON r.rid = c.rid \
             WHERE c.patient_id = "
        ));
        sql.bind(patient);
        self.push_filters(&mut sql, "r");
        sql
    }

    /// The first `limit` compartment members of `patient` after `after`, in order.
    fn compartment_page_sql(&self, patient: &str, after: Option<&Key>, limit: usize) -> Sql {
        let mut sql = self.compartment_sql("c.type, c.id, c.rid", patient);
        push_after(&mut sql, "c", after);
        sql.push(" ORDER BY c.type, c.id LIMIT ");
        sql.bind(limit as i64);
        sql
    }

    /// The page and total of one Patient's record: the compartment read in index order, merged
    /// with the referenced members.
    fn one_record(
        &self,
        patient: &str,
        page: &RecordPageRequest,
        after: Option<&Key>,
    ) -> Result<(Vec<Key>, Option<u64>), StoreError> {
        let wanted = page.offset + page.limit;
        let compartment = self.keys(self.compartment_page_sql(patient, after, wanted))?;
        // The referenced members matter to the page when it may reach their types, and to the
        // total always.
        let (first, last) = (
            REFERENCED_MEMBERS[0],
            REFERENCED_MEMBERS[REFERENCED_MEMBERS.len() - 1],
        );
        let page_reaches = after.is_none_or(|key| key.resource_type.as_str() <= last)
            && (compartment.len() < wanted
                || compartment
                    .last()
                    .is_some_and(|key| key.resource_type.as_str() >= first));
        let referenced = if page.total || page_reaches {
            self.keys(self.referenced_members_sql())?
        } else {
            Vec::new()
        };
        let total = if page.total {
            let members = self.count(self.compartment_sql("count(*)", patient))?;
            Some(members + referenced.len() as u64)
        } else {
            None
        };
        let mut merged: Vec<Key> = compartment
            .into_iter()
            .chain(
                referenced
                    .into_iter()
                    .filter(|key| after.is_none_or(|after| key > after)),
            )
            .collect();
        merged.sort_unstable();
        let keys = merged
            .into_iter()
            .skip(page.offset)
            .take(page.limit)
            .collect();
        Ok((keys, total))
    }

    /// `SELECT {select} FROM resource r WHERE …`: the members of the records of every Patient in
    /// scope that pass the filters.
    fn every_record_sql(&self, select: &str) -> Sql {
        let mut sql = Sql::default();
        // The unique key (fhir_version, type, id) holds the rows in the record's order; without
        // statistics SQLite prefers `resource_type_rid` for the horizon and then sorts each type.
        sql.push(&format!(
            "SELECT {select} FROM resource r INDEXED BY sqlite_autoindex_resource_1 WHERE r.type IN ("
        ));
        // One list: with a second `IN` on the type SQLite sorts each type's rows again.
        let wanted =
            |t: &&str| self.query.types.is_empty() || self.query.types.iter().any(|w| w == t);
        sql.bind_list(member_types().into_iter().filter(wanted));
        sql.push(")");
        self.push_filters(&mut sql, "r");
        sql.push(" AND (EXISTS (SELECT 1 FROM compartment c WHERE c.rid = r.rid AND ");
        self.push_records(&mut sql, "c");
        sql.push(") OR r.rid IN (");
        sql.append(self.referenced(REFERENCED_MEMBERS, true));
        sql.push("))");
        sql
    }

    /// The page and total of the records of every Patient in scope, walking `resource` in
    /// (type, id) order.
    fn every_record(
        &self,
        page: &RecordPageRequest,
        after: Option<&Key>,
    ) -> Result<(Vec<Key>, Option<u64>), StoreError> {
        let mut sql = self.every_record_sql("r.type, r.id, r.rid");
        push_after(&mut sql, "r", after);
        sql.push(" ORDER BY r.type, r.id LIMIT ");
        sql.bind(page.limit as i64);
        sql.push(" OFFSET ");
        sql.bind(page.offset as i64);
        let keys = self.keys(sql)?;
        let total = if page.total {
            Some(self.count(self.every_record_sql("count(*)"))?)
        } else {
            None
        };
        Ok((keys, total))
    }

    /// The directory resources the records reference, each once, in order.
    fn directory(&self) -> Result<Vec<StoredResource>, StoreError> {
        let sql = self.directory_sql();
        let mut stmt = self.conn.prepare_cached(&sql.text).map_err(backend)?;
        let rows = stmt
            .query_map(params_from_iter(sql.params), map_row)
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    fn directory_sql(&self) -> Sql {
        let mut sql = Sql::default();
        sql.push(&format!("SELECT {COLUMNS} FROM ("));
        sql.append(self.referenced(REFERENCED_DIRECTORY, false));
        sql.push(
            ") e CROSS JOIN resource r ON r.rid = e.rid CROSS JOIN history h ON h.seq = r.seq WHERE 1",
        );
        self.push_filters(&mut sql, "r");
        sql.push(" ORDER BY r.type, r.id");
        sql
    }

    fn keys(&self, sql: Sql) -> Result<Vec<Key>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&sql.text).map_err(backend)?;
        let rows = stmt
            .query_map(params_from_iter(sql.params), |row| {
                Ok(Key {
                    resource_type: row.get(0)?,
                    id: row.get(1)?,
                    rid: row.get(2)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    fn count(&self, sql: Sql) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(&sql.text).map_err(backend)?;
        let n: i64 = stmt
            .query_row(params_from_iter(sql.params), |row| row.get(0))
            .map_err(backend)?;
        Ok(n as u64)
    }

    /// The member's current version, read by its row.
    fn hit(&self, key: Key) -> Result<Hit, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE r.rid = ?1"
            ))
            .map_err(backend)?;
        let resource = stmt.query_row([key.rid], map_row).map_err(backend)?;
        Ok(Hit {
            resource,
            position: Position {
                keys: vec![SortValue::Text(key.resource_type), SortValue::Text(key.id)],
                row: key.rid,
            },
        })
    }
}

/// ` AND (alias.type, alias.id) > (…)`: after the cursor's member.
fn push_after(sql: &mut Sql, alias: &str, after: Option<&Key>) {
    if let Some(after) = after {
        sql.push(&format!(" AND ({alias}.type, {alias}.id) > ("));
        sql.bind(after.resource_type.as_str());
        sql.push(", ");
        sql.bind(after.id.as_str());
        sql.push(")");
    }
}

/// Every current resource of Patient `patient`'s record in any scope, with whether something
/// outside the record needs it; see [`hale_store::WriteTx::record_members`].
pub(crate) fn members(
    lookup: &Lookup<'_>,
    fhir_version: FhirVersion,
    patient: &str,
) -> Result<Vec<RecordMember>, StoreError> {
    let mut members = Vec::new();
    for sql in member_statements(lookup, fhir_version, patient)? {
        let mut stmt = lookup.conn.prepare_cached(&sql.text).map_err(backend)?;
        let rows = stmt
            .query_map(params_from_iter(sql.params), member_row)
            .map_err(backend)?;
        for row in rows {
            members.push(row.map_err(backend)?);
        }
    }
    Ok(members)
}

/// The statements of [`members`]: the compartment, then the referenced members and the
/// directory, each row `(type, id, owner_app, owner_user, shared)`.
fn member_statements(
    lookup: &Lookup<'_>,
    fhir_version: FhirVersion,
    patient: &str,
) -> Result<Vec<Sql>, StoreError> {
    let query = RecordQuery {
        fhir_version,
        patient: Some(patient.to_owned()),
        types: Vec::new(),
        since: None,
        care: None,
    };
    let reader = Reader::new(lookup, &Scope::All, &query, i64::MAX)?;
    // The compartment: shared when another Patient's compartment holds it too.
    let mut compartment = Sql::default();
    compartment.push(
        "SELECT r.type, r.id, r.owner_app, r.owner_user, \
         EXISTS (SELECT 1 FROM compartment o WHERE o.rid = c.rid AND o.patient_id <> c.patient_id) \
         FROM compartment c CROSS JOIN resource r ON r.rid = c.rid WHERE c.patient_id = ",
    );
    compartment.bind(patient);
    compartment.push(" AND r.fhir_version = ");
    compartment.bind(fhir_version.as_str());
    compartment.push(" AND r.deleted = 0");
    let mut statements = vec![compartment];
    // The referenced members and the directory: shared when a resource outside the compartment
    // references them. The reference index is keyed by parameter first, so the probe names every
    // parameter of the FHIR version.
    for (targets, with_devices) in [(REFERENCED_MEMBERS, true), (REFERENCED_DIRECTORY, false)] {
        let mut sql = Sql::default();
        sql.push(
            "SELECT r.type, r.id, r.owner_app, r.owner_user, EXISTS (SELECT 1 FROM idx_reference x \
             WHERE x.param IN (SELECT sp.id FROM search_param sp WHERE sp.fhir_version = r.fhir_version) \
             AND x.target_id = r.id AND x.target_type = r.type AND NOT EXISTS \
             (SELECT 1 FROM compartment o WHERE o.rid = x.rid AND o.patient_id = ",
        );
        sql.bind(patient);
        sql.push(")) FROM (");
        sql.append(reader.referenced(targets, with_devices));
        sql.push(
            ") e CROSS JOIN resource r ON r.rid = e.rid WHERE r.deleted = 0 \
             AND NOT EXISTS (SELECT 1 FROM compartment c2 WHERE c2.rid = r.rid AND c2.patient_id = ",
        );
        sql.bind(patient);
        sql.push(")");
        statements.push(sql);
    }
    Ok(statements)
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
                let reader = Reader::new(&lookup, &scope, &query, 1_000).unwrap();
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
                let reader = Reader::new(&lookup, &scope, &query, 1_000).unwrap();
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
        for (idx, sql) in member_statements(&lookup, FhirVersion::R4, "p")
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
