//! The statements of Patient records for `$everything`, and the reading of a page of them, by
//! the rules of [`hale_fhir::record`].
//!
//! One Patient's record is walked through the `compartment_record` index, which holds each
//! compartment row's type and id beside the Patient's id: a page is a range read in (type, id)
//! order that stops after the page, so reading a record of any size costs what its pages hold.
//! The Medications and Devices the record references are found from the compartment's reference
//! rows, are few, and are merged into that order in memory. The records of every Patient in
//! scope (type level `$everything`) walk `resource` in (type, id) order through its unique key
//! instead, each row tested for membership, so that a resource in several records appears once.
//!
//! Every alias of `resource` carries the scope: the members, the resources whose references bring
//! in a Medication or a Practitioner, and the Patients of a type level read.

use hale_fhir::FhirVersion;
use hale_fhir::record::{
    DEVICE_PATIENT, REFERENCED_DIRECTORY, REFERENCED_MEMBERS, care_date_param, member_types,
};
use hale_store::{
    Hit, Position, RecordPageRequest, RecordQuery, Scope, SortValue, StoreError, StoredResource,
};

use crate::scope::{COLUMNS, push_scope};
use crate::{Dialect, ParamLookup, Sql};

/// How a backend runs the statements of a page of a record, on one snapshot.
pub trait RecordRows {
    /// The `(type, id, rid)` rows a statement selects.
    fn keys(&self, sql: &Sql) -> Result<Vec<Key>, StoreError>;
    /// The one count a statement selects.
    fn count(&self, sql: &Sql) -> Result<u64, StoreError>;
}

/// A member's place in the record's order and its row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// The resource type.
    pub resource_type: String,
    /// The logical id.
    pub id: String,
    /// The row.
    pub rid: i64,
}

/// The statements of the records of a query for a principal: what every one of them needs, the
/// query, the principal and the values looked up once.
pub struct Reader<'a> {
    dialect: Dialect,
    scope: &'a Scope,
    query: &'a RecordQuery,
    horizon: i64,
    /// The ids of the care date parameters of the member types that have rows.
    care_params: Vec<i64>,
    /// The id of `Device.patient`, if a Device was ever written.
    device_patient: Option<i64>,
}

/// The (type, id) and row a cursor's position holds.
pub fn position_key(position: &Position) -> Result<Key, StoreError> {
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
    /// The statements of `query` for `scope`, up to `horizon`.
    pub fn new(
        lookup: &dyn ParamLookup,
        dialect: Dialect,
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
            dialect,
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
        let cj = self.dialect.cross_join();
        sql.push(&format!(
            "SELECT DISTINCT t.rid FROM compartment c {cj} resource s ON s.rid = c.rid \
             {cj} idx_reference x ON x.rid = c.rid \
             {cj} resource t ON t.fhir_version = s.fhir_version AND t.type = x.target_type \
             AND t.id = x.target_id WHERE "
        ));
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
    pub fn referenced_members_sql(&self) -> Sql {
        let mut sql = Sql::default();
        sql.push("SELECT r.type, r.id, r.rid FROM (");
        sql.append(self.referenced(REFERENCED_MEMBERS, true));
        sql.push(&format!(
            ") e {} resource r ON r.rid = e.rid WHERE {}",
            self.dialect.cross_join(),
            self.dialect.true_()
        ));
        self.push_filters(&mut sql, "r");
        // Never twice: a type that a later FHIR version puts into the compartment is read there.
        sql.push(" AND NOT EXISTS (SELECT 1 FROM compartment c2 WHERE c2.rid = r.rid AND ");
        self.push_records(&mut sql, "c2");
        sql.push(") ORDER BY r.type, r.id");
        sql
    }

    /// `SELECT … FROM compartment c CROSS JOIN resource r … WHERE …`: the compartment members
    /// of `patient` that pass the filters; `select` names the columns.
    pub fn compartment_sql(&self, select: &str, patient: &str) -> Sql {
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT {select} FROM compartment c {} resource r ON r.rid = c.rid \
             WHERE c.patient_id = ",
            self.dialect.cross_join()
        ));
        sql.bind(patient);
        self.push_filters(&mut sql, "r");
        sql
    }

    /// The first `limit` compartment members of `patient` after `after`, in order.
    pub fn compartment_page_sql(&self, patient: &str, after: Option<&Key>, limit: usize) -> Sql {
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
        rows: &dyn RecordRows,
        patient: &str,
        page: &RecordPageRequest,
        after: Option<&Key>,
    ) -> Result<(Vec<Key>, Option<u64>), StoreError> {
        let wanted = page.offset + page.limit;
        let compartment = rows.keys(&self.compartment_page_sql(patient, after, wanted))?;
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
            rows.keys(&self.referenced_members_sql())?
        } else {
            Vec::new()
        };
        let total = if page.total {
            // A first read that came short holds the whole compartment: nothing to count.
            let members = if after.is_none() && compartment.len() < wanted {
                compartment.len() as u64
            } else {
                rows.count(&self.compartment_sql("count(*)", patient))?
            };
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
    pub fn every_record_sql(&self, select: &str) -> Sql {
        let mut sql = Sql::default();
        // The unique key (fhir_version, type, id) holds the rows in the record's order; without
        // statistics SQLite prefers `resource_type_rid` for the horizon and then sorts each type.
        sql.push(&format!(
            "SELECT {select} FROM resource r{} WHERE r.type IN (",
            self.dialect.indexed_by("sqlite_autoindex_resource_1")
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
        rows: &dyn RecordRows,
        page: &RecordPageRequest,
        after: Option<&Key>,
    ) -> Result<(Vec<Key>, Option<u64>), StoreError> {
        let mut sql = self.every_record_sql("r.type, r.id, r.rid");
        push_after(&mut sql, "r", after);
        sql.push(" ORDER BY r.type, r.id LIMIT ");
        sql.bind(page.limit as i64);
        sql.push(" OFFSET ");
        sql.bind(page.offset as i64);
        let keys = rows.keys(&sql)?;
        let total = if page.total {
            Some(rows.count(&self.every_record_sql("count(*)"))?)
        } else {
            None
        };
        Ok((keys, total))
    }

    /// The directory resources the records reference, each once, in order: a statement
    /// selecting [`COLUMNS`].
    pub fn directory_sql(&self) -> Sql {
        let mut sql = Sql::default();
        sql.push(&format!("SELECT {COLUMNS} FROM ("));
        sql.append(self.referenced(REFERENCED_DIRECTORY, false));
        let cj = self.dialect.cross_join();
        sql.push(&format!(
            ") e {cj} resource r ON r.rid = e.rid {cj} history h ON h.seq = r.seq WHERE {}",
            self.dialect.true_()
        ));
        self.push_filters(&mut sql, "r");
        sql.push(" ORDER BY r.type, r.id");
        sql
    }

    /// The page and total of the records: one Patient's, read from its compartment, or every
    /// Patient's in scope.
    pub fn page(
        &self,
        rows: &dyn RecordRows,
        page: &RecordPageRequest,
        after: Option<&Key>,
    ) -> Result<(Vec<Key>, Option<u64>), StoreError> {
        match &self.query.patient {
            Some(patient) => self.one_record(rows, patient, page, after),
            None => self.every_record(rows, page, after),
        }
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

/// The statement reading a member's current version by its row (one parameter), selecting
/// [`COLUMNS`].
pub fn member_sql() -> String {
    format!("SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE r.rid = ?")
}

/// A member as a hit, at its place in the record's order.
pub fn hit(resource: StoredResource, key: Key) -> Hit {
    Hit {
        resource,
        position: Position {
            keys: vec![SortValue::Text(key.resource_type), SortValue::Text(key.id)],
            row: key.rid,
        },
    }
}
/// The statements of [`hale_store::WriteTx::record_members`]: the compartment, then the
/// referenced members and the directory, each row `(type, id, owner_app, owner_user, shared)`.
pub fn member_statements(
    lookup: &dyn ParamLookup,
    dialect: Dialect,
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
    let reader = Reader::new(lookup, dialect, &Scope::All, &query, i64::MAX)?;
    let cj = dialect.cross_join();
    // The compartment: shared when another Patient's compartment holds it too.
    let mut compartment = Sql::default();
    compartment.push(&format!(
        "SELECT r.type, r.id, r.owner_app, r.owner_user, \
         EXISTS (SELECT 1 FROM compartment o WHERE o.rid = c.rid AND o.patient_id <> c.patient_id) \
         FROM compartment c {cj} resource r ON r.rid = c.rid WHERE c.patient_id = "
    ));
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
        sql.push(&format!(
            ") e {cj} resource r ON r.rid = e.rid WHERE r.deleted = 0 \
             AND NOT EXISTS (SELECT 1 FROM compartment c2 WHERE c2.rid = r.rid AND c2.patient_id = "
        ));
        sql.bind(patient);
        sql.push(")");
        statements.push(sql);
    }
    Ok(statements)
}
