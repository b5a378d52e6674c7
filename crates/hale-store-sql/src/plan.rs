//! The search planner: compiles a [`SearchQuery`] into the `WHERE` clause of one SQL statement
//! over `resource r`, by the matching rules of [`hale_search::query::model`], in the dialect of
//! either store. The comments on plans are SQLite's (whose plans the SQLite store's tests pin);
//! PostgreSQL reads the same statements without the hints and plans them by its statistics.
//!
//! Index rows name their parameter by the id of (FHIR version, type, code) (`search_param`, see
//! [`crate::ParamLookup`]); the planner looks the ids up and binds them, and a parameter no row was
//! ever written with gets `-1`, which matches nothing.
//!
//! Every criterion becomes a condition on the resource's row, mostly `r.rid IN (SELECT e.rid FROM
//! idx_… e WHERE e.param = ? AND …)`, so that SQLite can either drive the query from the value
//! index (a selective criterion) or probe it (a broad one), and so that a resource with several
//! matching entries counts once without a `DISTINCT`. Negations (`:not`, `:missing=true`, `ne`)
//! are `NOT IN` of the same shape. Chains and `_has` nest the same conditions on another alias of
//! `resource`, and every alias gets the FHIR version, `deleted = 0` and the principal's scope, so
//! that nothing of another owner can be reached through them.
//!
//! Pages in row order and counts take another shape when they can ([`Planner::driven`]): one
//! positive test's value index drives the statement in `rid` order and the other parameter tests
//! are correlated `EXISTS` probes of each row's own entries, so a first page stops after
//! `_count + 1` matches; under `Scope::All` neither a count nor a page in row order of
//! parameter tests reads `resource` to pick its rows.
//! Under any other scope a query that no criterion narrows (none at all, negations, `:missing`,
//! `_lastUpdated`) reads the scope's owner groups from the `resource_owner` index instead of
//! every resource of the type ([`Planner::owner_arms`]).
//!
//! The planner only appends text and parameters; the statement's text depends on the shape of the
//! query, never on its values (except for the number of alternatives and of the principal's
//! grants), so prepared statements are reused from the connection's cache.

use hale_fhir::table::SearchParamType;
use hale_search::index::IndexEntry;
use hale_search::normalize::normalize_string;
use hale_search::query::{
    Criterion, DateBound, NumberBound, ParamTest, Prefix, QuantityBound, ReferenceValue,
    SearchQuery, SortKey, SortKind, StringMatch, Test, TokenValue, UriMatch,
};
use hale_store::{Scope, SortValue, StoreError};

use crate::scope::{owner_groups, present_types, push_group, push_scope};
use crate::{Dialect, ParamLookup, Sql, Value};

/// The index tables that hold entries: `:missing` asks all of them about a code, and a new
/// version clears a resource's rows from all of them.
pub const ENTRY_TABLES: &[&str] = &[
    "idx_string",
    "idx_token",
    "idx_reference",
    "idx_date",
    "idx_number",
    "idx_quantity",
    "idx_uri",
    "idx_composite",
];

/// A string that sorts after every string a resource can hold, as the end of a prefix range and
/// as the ascending sort value of a resource without a value.
pub const TEXT_AFTER_ALL: &str = "\u{10FFFF}";

/// Compiles queries for one principal and FHIR version.
pub struct Planner<'a> {
    scope: &'a Scope,
    fhir_version: &'static str,
    lookup: &'a dyn ParamLookup,
    dialect: Dialect,
    /// The `_type`s of a system search: a parameter of a resource of unknown type is the
    /// parameter of one of these, or of any type when there are none.
    system_types: Vec<&'static str>,
    next_alias: usize,
}

impl<'a> Planner<'a> {
    /// A planner for `scope` and `fhir_version`, finding parameter ids with `lookup`, writing
    /// `dialect`.
    pub fn new(
        scope: &'a Scope,
        fhir_version: &'static str,
        lookup: &'a dyn ParamLookup,
        dialect: Dialect,
    ) -> Self {
        Planner {
            scope,
            fhir_version,
            lookup,
            dialect,
            system_types: Vec::new(),
            next_alias: 0,
        }
    }

    /// `{column} = ?` with the id of `code` on `resource_type`, or `{column} IN (…)` with its ids
    /// on the system search's types when the type is not known. A parameter no row was ever
    /// written with has no id, and `-1` matches nothing.
    pub fn param_sql(
        &self,
        column: &str,
        resource_type: Option<&str>,
        code: &str,
    ) -> Result<Sql, StoreError> {
        let ids = match resource_type {
            Some(resource_type) => self
                .lookup
                .one(self.fhir_version, resource_type, code)?
                .into_iter()
                .collect(),
            None if self.system_types.is_empty() => {
                self.lookup.every_type(self.fhir_version, code)?
            }
            None => {
                let mut ids = Vec::new();
                for resource_type in &self.system_types {
                    ids.extend(self.lookup.one(self.fhir_version, resource_type, code)?);
                }
                ids
            }
        };
        let mut sql = Sql::default();
        match ids.as_slice() {
            [] => {
                sql.push(&format!("{column} = "));
                sql.bind(-1_i64);
            }
            [id] => {
                sql.push(&format!("{column} = "));
                sql.bind(*id);
            }
            ids => {
                sql.push(&format!("{column} IN ("));
                sql.bind_list(ids.iter().copied());
                sql.push(")");
            }
        }
        Ok(sql)
    }

    fn alias(&mut self, stem: &str) -> String {
        self.next_alias += 1;
        format!("{stem}{}", self.next_alias)
    }

    /// The conditions `r` must meet to match `query`: FHIR version, type, not deleted, in scope,
    /// and every criterion.
    pub fn query(&mut self, query: &SearchQuery) -> Result<Sql, StoreError> {
        let (mut sql, known_type) = self.base(query);
        for criterion in &query.criteria {
            sql.push(" AND ");
            let condition = self.criterion("r", known_type, criterion)?;
            sql.append(condition);
        }
        Ok(sql)
    }

    /// The `FROM` and `WHERE` of a statement driven by the value index of one positive test
    /// (the driver, see [`driver`]): `e` walks that index, `r` is its resource by primary key.
    /// The query's other criteria are checked per row, parameter tests as correlated `EXISTS`
    /// probes on the tables' `(rid, ord)` keys. `None` when no criterion can drive.
    ///
    /// When the driver fixes every column before `rid` in its index, its rows arrive in row order:
    /// `DISTINCT e.rid` then drops a resource's repeated entries without a temporary B-tree, and a
    /// first page in row order stops after `_count + 1` matches instead of reading every match
    /// of every criterion, as `r.rid IN (…)` lists would. Large counts of one test are several
    /// times faster for the same reason.
    ///
    /// Without `join_resource` (a count under `Scope::All`) and when every other criterion is a
    /// probe, the statement reads the index tables alone: a parameter's id already fixes the
    /// type and FHIR version, and only current, not deleted versions have index rows.
    pub fn driven(
        &mut self,
        query: &SearchQuery,
        join_resource: bool,
    ) -> Result<Option<Sql>, StoreError> {
        let Some(driver_idx) = driver(&query.criteria) else {
            return Ok(None);
        };
        let Criterion::Param(param) = &query.criteria[driver_idx] else {
            return Ok(None);
        };
        let Some(driving) = driving_test(param) else {
            return Ok(None);
        };
        let d = self.dialect;
        let shape = entry_shape(driving.test, &Columns::new(Place::Row, d))?;
        let (base, known_type) = self.base(query);
        let probe = |criterion: &Criterion| matches!(criterion, Criterion::Param(param) if probes_entries(&param.test));
        let join_resource = join_resource
            || query
                .criteria
                .iter()
                .enumerate()
                .any(|(idx, criterion)| idx != driver_idx && !probe(criterion));
        let mut sql = Sql::default();
        if join_resource {
            sql.push(&format!(
                "FROM {} e {} resource r ON r.rid = e.rid WHERE ",
                shape.table,
                d.cross_join()
            ));
        } else {
            sql.push(&format!("FROM {} e WHERE ", shape.table));
        }
        sql.append(self.param_sql("e.param", known_type, driving.code)?);
        sql.push(" AND (");
        sql.append_any(d, shape.positive);
        sql.push(")");
        if join_resource {
            sql.push(" AND ");
            sql.append(base);
        }
        if let Some(components) = driving.composite {
            // The driver's token entries are the candidates; each probes its own composite rows
            // for the whole alternative.
            sql.push(" AND ");
            sql.append(self.composite_probe(
                if join_resource { "r" } else { "e" },
                known_type,
                param.code,
                components,
            )?);
        }
        for (idx, criterion) in query.criteria.iter().enumerate() {
            if idx == driver_idx {
                continue;
            }
            sql.push(" AND ");
            let condition = match criterion {
                Criterion::Param(param) if probes_entries(&param.test) => {
                    let param_sql =
                        self.param_sql(&d.unindexed("p.param"), known_type, param.code)?;
                    entry_shape(&param.test, &Columns::new(Place::Probe, d))?
                        .into_probe("e", &param_sql)
                }
                criterion => self.criterion("r", known_type, criterion)?,
            };
            sql.append(condition);
        }
        Ok(Some(sql))
    }

    /// Under a scope other than `Scope::All`, for a query none of whose criteria narrows the
    /// resources by itself ([`narrows`]: no criteria, negations, `:missing`, `_lastUpdated`): the
    /// `FROM` and `WHERE` of one statement over `resource r` per owner group of the scope
    /// ([`owner_groups`]), or `None` for every other query.
    ///
    /// Such a query would otherwise read every resource of the type and test its owner, at a cost
    /// that grows with the whole store. Each part instead reads one group from the
    /// `resource_owner` index (operator data, the principal's own, each grantor's), so the cost
    /// grows with what the principal may see. With the group's owner columns and `deleted = 0`
    /// fixed, a group of one type comes in row order, so an `ORDER BY rid` over the parts'
    /// `UNION ALL` is a merge that stops after a page. The groups are disjoint: counts add up.
    ///
    /// `INDEXED BY` keeps SQLite from preferring `resource_type_rid`, which is also in row order
    /// but holds every owner's rows, and turns a plan that could not use the owner index into an
    /// error instead of a slow statement. The criteria are correlated probes of each row's own
    /// entries ([`Planner::probe`]): a `NOT IN` list would read the matching entries of every
    /// owner first.
    pub fn owner_arms(&mut self, query: &SearchQuery) -> Result<Option<Vec<Sql>>, StoreError> {
        let Some(groups) = owner_groups(self.scope) else {
            return Ok(None);
        };
        if query.criteria.iter().any(narrows) {
            return Ok(None);
        }
        let mut arms = Vec::with_capacity(groups.len());
        for group in &groups {
            let (base, known_type) = self.unscoped_base(query);
            let mut sql = Sql::default();
            sql.push(&format!(
                "FROM resource r{} WHERE ",
                self.dialect.indexed_by("resource_owner")
            ));
            sql.append(base);
            // A system search without `_type` seeks every type that has rows, one after another.
            if query.resource_type == "Resource" && query.types.is_empty() {
                sql.push(" AND r.type IN (");
                sql.append(present_types(self.fhir_version));
                sql.push(")");
            }
            push_group(&mut sql, "r", group);
            for criterion in &query.criteria {
                sql.push(" AND ");
                sql.append(self.probe("r", known_type, criterion)?);
            }
            arms.push(sql);
        }
        Ok(Some(arms))
    }

    /// The conditions on `r` that do not depend on criteria, the principal's scope included: for
    /// the rows a statement has already found some other way.
    pub fn scoped_base(&mut self, query: &SearchQuery) -> Sql {
        self.base(query).0
    }

    /// One criterion as a condition on the resource alias `alias` that looks at that resource's
    /// own entries only: a parameter test as a correlated probe of its table's `(rid, ord)` key,
    /// `:missing` as one such probe per index table. Other criteria are as
    /// [`Planner::criterion`] makes them.
    fn probe(
        &mut self,
        alias: &str,
        resource_type: Option<&str>,
        criterion: &Criterion,
    ) -> Result<Sql, StoreError> {
        match criterion {
            Criterion::Any(alternatives) => {
                let probes = alternatives
                    .iter()
                    .map(|alternative| self.probe(alias, resource_type, alternative))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut sql = Sql::default();
                sql.push("(");
                sql.append_any(self.dialect, probes);
                sql.push(")");
                Ok(sql)
            }
            Criterion::Param(ParamTest {
                code,
                test: Test::Missing(missing),
            }) => {
                let mut sql = Sql::default();
                sql.push(if *missing { "NOT (" } else { "(" });
                for (idx, table) in ENTRY_TABLES.iter().enumerate() {
                    if idx > 0 {
                        sql.push(" OR ");
                    }
                    sql.push(&format!(
                        "EXISTS (SELECT 1 FROM {table} p WHERE p.rid = {alias}.rid AND "
                    ));
                    let param = self.dialect.unindexed("p.param");
                    sql.append(self.param_sql(&param, resource_type, code)?);
                    sql.push(")");
                }
                sql.push(")");
                Ok(sql)
            }
            Criterion::Param(param) if probes_entries(&param.test) => {
                let d = self.dialect;
                let param_sql =
                    self.param_sql(&d.unindexed("p.param"), resource_type, param.code)?;
                Ok(entry_shape(&param.test, &Columns::new(Place::Probe, d))?
                    .into_probe(alias, &param_sql))
            }
            criterion => self.criterion(alias, resource_type, criterion),
        }
    }

    /// The SQL value of a sort key for the resource `r` of `query` ([`sort_expression`]).
    pub fn sort_key(&mut self, query: &SearchQuery, key: &SortKey) -> Result<Sql, StoreError> {
        let (_, known_type) = self.base(query);
        let param = self.param_sql(&self.dialect.unindexed("e.param"), known_type, key.code)?;
        Ok(sort_expression(self.dialect, key, &param))
    }

    /// The conditions on `r` that do not depend on criteria, the principal's scope included, and
    /// the type of `r` when known.
    fn base(&mut self, query: &SearchQuery) -> (Sql, Option<&'static str>) {
        let (mut sql, known_type) = self.unscoped_base(query);
        push_scope(&mut sql, "r", self.scope);
        (sql, known_type)
    }

    /// [`Planner::base`] without the scope, for statements that put one owner group's part of
    /// it in its place.
    fn unscoped_base(&mut self, query: &SearchQuery) -> (Sql, Option<&'static str>) {
        if query.resource_type == "Resource" {
            self.system_types = query.types.clone();
        }
        let mut sql = Sql::default();
        sql.push("r.fhir_version = ");
        sql.bind(self.fhir_version);
        sql.push(" AND r.deleted = 0");
        push_types(&mut sql, self.dialect, "r", query);
        let known_type = if query.resource_type == "Resource" {
            match query.types.as_slice() {
                [only] => Some(*only),
                _ => None,
            }
        } else {
            Some(query.resource_type)
        };
        (sql, known_type)
    }

    /// The conditions every resource reached through a chain or `_has` must meet.
    fn reachable(&self, sql: &mut Sql, alias: &str, resource_type: &str) {
        sql.push(&format!("{alias}.fhir_version = "));
        sql.bind(self.fhir_version);
        sql.push(&format!(" AND {alias}.type = "));
        sql.bind(resource_type);
        sql.push(&format!(" AND {alias}.deleted = 0"));
        push_scope(sql, alias, self.scope);
    }

    /// One criterion as a condition on the resource alias `alias`, whose type is `resource_type`
    /// when known.
    fn criterion(
        &mut self,
        alias: &str,
        resource_type: Option<&str>,
        criterion: &Criterion,
    ) -> Result<Sql, StoreError> {
        let mut sql = Sql::default();
        match criterion {
            Criterion::Param(param) => sql.append(self.param(alias, resource_type, param)?),
            Criterion::Chain {
                code,
                target_type,
                inner,
            } => {
                let x = self.alias("x");
                sql.push(&format!(
                    "{alias}.rid IN (SELECT {x}.rid FROM idx_reference {x} WHERE "
                ));
                sql.append(self.chain_references(&x, resource_type, code, target_type, inner)?);
                sql.push(")");
            }
            Criterion::Has {
                source_type,
                code,
                inner,
            } => {
                // Like every other criterion this is a set of rows, found through the unique
                // (fhir_version, type, id) key of the referenced ids, so that SQLite can drive the
                // query from it instead of testing each resource of the type. `y` is the row of
                // `alias` itself, which carries the scope already; the referring resources `s`
                // carry it here.
                let (y, x, s) = (self.alias("y"), self.alias("x"), self.alias("s"));
                sql.push(&format!(
                    "{alias}.rid IN (SELECT {y}.rid FROM resource {y} WHERE {y}.fhir_version = "
                ));
                sql.bind(self.fhir_version);
                sql.push(&format!(" AND {y}.type = "));
                match resource_type {
                    Some(resource_type) => sql.bind(resource_type),
                    // A system search without one `_type` cannot name the type, so the reference
                    // is compared with each resource's own.
                    None => sql.push(&format!("{alias}.type")),
                }
                // The unary `+` on the code makes SQLite find the references through the
                // referring resources' rows (the primary key) rather than read every reference
                // of the code.
                sql.push(&format!(
                    " AND {y}.id IN (SELECT {x}.target_id FROM idx_reference {x} WHERE "
                ));
                let param = self.dialect.unindexed(&format!("{x}.param"));
                sql.append(self.param_sql(&param, Some(source_type), code)?);
                sql.push(&format!(" AND {x}.target_type = "));
                match resource_type {
                    Some(resource_type) => sql.bind(resource_type),
                    None => sql.push(&format!("{y}.type")),
                }
                sql.push(&format!(
                    " AND {x}.rid IN (SELECT {s}.rid FROM resource {s} WHERE "
                ));
                self.reachable(&mut sql, &s, source_type);
                sql.push(" AND ");
                sql.append(self.criterion(&s, Some(source_type), inner)?);
                sql.push(")))");
            }
            Criterion::Any(alternatives) => {
                if alternatives.is_empty() {
                    sql.push(self.dialect.false_());
                    return Ok(sql);
                }
                let conditions = alternatives
                    .iter()
                    .map(|alternative| self.criterion(alias, resource_type, alternative))
                    .collect::<Result<Vec<_>, _>>()?;
                sql.push("(");
                sql.append_any(self.dialect, conditions);
                sql.push(")");
            }
            Criterion::All(every) => {
                if every.is_empty() {
                    sql.push(self.dialect.true_());
                    return Ok(sql);
                }
                sql.push("(");
                for (idx, one) in every.iter().enumerate() {
                    if idx > 0 {
                        sql.push(" AND ");
                    }
                    sql.append(self.criterion(alias, resource_type, one)?);
                }
                sql.push(")");
            }
            Criterion::ReferencedFrom { patients } => {
                // From the Patients' compartment rows to their references, as `$everything`
                // finds a record's Practitioners; the referring resources carry the scope.
                let (c, s, x, t) = (
                    self.alias("c"),
                    self.alias("s"),
                    self.alias("x"),
                    self.alias("t"),
                );
                let cj = self.dialect.cross_join();
                sql.push(&format!(
                    "{alias}.rid IN (SELECT {t}.rid FROM compartment {c} \
                     {cj} resource {s} ON {s}.rid = {c}.rid \
                     {cj} idx_reference {x} ON {x}.rid = {c}.rid \
                     {cj} resource {t} ON {t}.fhir_version = {s}.fhir_version \
                     AND {t}.type = {x}.target_type AND {t}.id = {x}.target_id \
                     WHERE {c}.patient_id IN ("
                ));
                sql.bind_list(patients.iter().map(String::as_str));
                sql.push(&format!(") AND {s}.fhir_version = "));
                sql.bind(self.fhir_version);
                sql.push(&format!(" AND {s}.deleted = 0"));
                push_scope(&mut sql, &s, self.scope);
                sql.push(&format!(" AND {x}.target_type = "));
                match resource_type {
                    Some(resource_type) => sql.bind(resource_type),
                    None => sql.push(&format!("{alias}.type")),
                }
                sql.push(")");
            }
            Criterion::Compartment { patient_id } => {
                sql.push(&format!(
                    "{alias}.rid IN (SELECT c.rid FROM compartment c WHERE c.patient_id = "
                ));
                sql.bind(patient_id.as_str());
                sql.push(")");
            }
        }
        Ok(sql)
    }

    /// The references of `code` on a resource of `resource_type`, as conditions on the
    /// `idx_reference` alias `x`, whose targets are of `target_type`, reachable, and match `inner`.
    fn chain_references(
        &mut self,
        x: &str,
        resource_type: Option<&str>,
        code: &str,
        target_type: &str,
        inner: &Criterion,
    ) -> Result<Sql, StoreError> {
        let t = self.alias("t");
        let mut sql = self.param_sql(&format!("{x}.param"), resource_type, code)?;
        sql.push(&format!(" AND {x}.target_type = "));
        sql.bind(target_type);
        sql.push(&format!(
            " AND {x}.target_id IN (SELECT {t}.id FROM resource {t} WHERE "
        ));
        self.reachable(&mut sql, &t, target_type);
        sql.push(" AND ");
        sql.append(self.criterion(&t, Some(target_type), inner)?);
        sql.push(")");
        Ok(sql)
    }

    /// For a count of one chain under `Scope::All`, the `FROM` and `WHERE` of a statement that
    /// reads the referring resources' references alone (the parameter's id fixes their type and
    /// FHIR version); its rows are `x.rid`. `None` for every other query.
    ///
    /// The second value says whether every resource has at most one reference entry of the
    /// chained parameter ([`hale_search::index::at_most_one_reference`]), so that counting the
    /// entries counts the resources and the caller may skip `DISTINCT`, which at a few hundred
    /// thousand entries costs more than the scan itself.
    pub fn chain_count(&mut self, query: &SearchQuery) -> Result<Option<(Sql, bool)>, StoreError> {
        let [
            Criterion::Chain {
                code,
                target_type,
                inner,
            },
        ] = query.criteria.as_slice()
        else {
            return Ok(None);
        };
        if !matches!(self.scope, Scope::All) {
            return Ok(None);
        }
        let (_, known_type) = self.base(query);
        let single = known_type.is_some_and(|t| hale_search::index::at_most_one_reference(t, code));
        let mut sql = Sql::default();
        sql.push("FROM idx_reference x WHERE ");
        sql.append(self.chain_references("x", known_type, code, target_type, inner)?);
        Ok(Some((sql, single)))
    }

    /// A parameter test as a condition on the resource alias `alias`.
    fn param(
        &mut self,
        alias: &str,
        resource_type: Option<&str>,
        param: &ParamTest,
    ) -> Result<Sql, StoreError> {
        let code = param.code;
        let mut sql = Sql::default();
        let shape = match &param.test {
            Test::Missing(missing) => {
                sql.push(&format!(
                    "{alias}.rid {}IN (",
                    if *missing { "NOT " } else { "" }
                ));
                for (idx, table) in ENTRY_TABLES.iter().enumerate() {
                    if idx > 0 {
                        sql.push(" UNION ALL ");
                    }
                    sql.push(&format!("SELECT rid FROM {table} WHERE "));
                    sql.append(self.param_sql("param", resource_type, code)?);
                }
                sql.push(")");
                return Ok(sql);
            }
            Test::Id(ids) => {
                if ids.is_empty() {
                    sql.push(self.dialect.false_());
                    return Ok(sql);
                }
                sql.push(&format!("{alias}.id IN ("));
                sql.bind_list(ids.iter().map(String::as_str));
                sql.push(")");
                return Ok(sql);
            }
            Test::LastUpdated(bounds) => {
                // `meta.lastUpdated` is a point: the entry's range is that instant.
                let column = format!("{alias}.last_updated");
                sql.push("(");
                if bounds.is_empty() {
                    sql.push(self.dialect.false_());
                }
                for (idx, bound) in bounds.iter().enumerate() {
                    if idx > 0 {
                        sql.push(" OR ");
                    }
                    let (ne, condition) = date_condition(bound, &column, &column);
                    if ne {
                        sql.push("NOT ");
                    }
                    sql.push("(");
                    sql.append(condition);
                    sql.push(")");
                }
                sql.push(")");
                return Ok(sql);
            }
            Test::Text(values) => {
                sql.append(text_condition(
                    self.dialect,
                    alias,
                    resource_type,
                    code,
                    values,
                ));
                return Ok(sql);
            }
            Test::Composite(alternatives) => {
                return self.composite_condition(alias, resource_type, code, alternatives);
            }
            test => entry_shape(test, &Columns::new(Place::Row, self.dialect))?,
        };
        let param_sql = self.param_sql("e.param", resource_type, code)?;
        sql.append(shape.into_condition(alias, &param_sql));
        Ok(sql)
    }
}

/// How a resource-level test is made of entry-level conditions.
struct Shape {
    table: &'static str,
    /// The resource matches when one of its entries meets one of these.
    positive: Vec<Sql>,
    /// For each of these, the resource matches when it has an entry for the code and none meets
    /// it (`ne`, as `:not` on `eq`).
    none_of_with_entry: Vec<Sql>,
    /// The resource matches when none of its entries meets any of `positive` (`:not`).
    negate: bool,
    dialect: Dialect,
}

impl Shape {
    /// The test as `r.rid [NOT] IN (SELECT e.rid FROM idx_… e WHERE …)`; `param` is the
    /// condition on `e.param`.
    fn into_condition(self, alias: &str, param: &Sql) -> Sql {
        let d = self.dialect;
        let mut sql = Sql::default();
        let entries_meeting = |sql: &mut Sql, conditions: Vec<Sql>| {
            sql.push(&format!("(SELECT e.rid FROM {} e WHERE ", self.table));
            sql.append(param.clone());
            sql.push(" AND (");
            sql.append_any(d, conditions);
            sql.push("))");
        };
        if self.negate {
            if self.positive.is_empty() {
                sql.push(d.true_());
            } else {
                sql.push(&format!("{alias}.rid NOT IN "));
                entries_meeting(&mut sql, self.positive);
            }
            return sql;
        }
        let n_parts = usize::from(!self.positive.is_empty()) + self.none_of_with_entry.len();
        if n_parts == 0 {
            sql.push(d.false_());
            return sql;
        }
        sql.push("(");
        let mut first = true;
        if !self.positive.is_empty() {
            first = false;
            sql.push(&format!("{alias}.rid IN "));
            entries_meeting(&mut sql, self.positive);
        }
        for condition in self.none_of_with_entry {
            if !first {
                sql.push(" OR ");
            }
            first = false;
            sql.push(&format!(
                "({alias}.rid IN (SELECT e.rid FROM {} e WHERE ",
                self.table
            ));
            sql.append(param.clone());
            sql.push(&format!(") AND {alias}.rid NOT IN "));
            entries_meeting(&mut sql, vec![condition]);
            sql.push(")");
        }
        sql.push(")");
        sql
    }
}

impl Shape {
    /// The same test, built on [`Place::Probe`], as correlated probes of the entries of the
    /// resource whose row is `{alias}.rid`: `EXISTS (SELECT 1 FROM idx_… p WHERE p.rid = e.rid
    /// AND …)`. `param` is the condition on `+p.param`, whose unary `+` keeps SQLite on the
    /// `(rid, ord)` key, a resource's few rows, rather than a value index that a range test could
    /// not seek by `rid`.
    fn into_probe(self, alias: &str, param: &Sql) -> Sql {
        let (table, d) = (self.table, self.dialect);
        let entries = |sql: &mut Sql, conditions: Option<Vec<Sql>>| {
            sql.push(&format!(
                "EXISTS (SELECT 1 FROM {table} p WHERE p.rid = {alias}.rid AND "
            ));
            sql.append(param.clone());
            if let Some(conditions) = conditions {
                sql.push(" AND (");
                sql.append_any(d, conditions);
                sql.push(")");
            }
            sql.push(")");
        };
        let mut sql = Sql::default();
        if self.negate {
            if self.positive.is_empty() {
                sql.push(d.true_());
            } else {
                sql.push("NOT ");
                entries(&mut sql, Some(self.positive));
            }
            return sql;
        }
        if self.positive.is_empty() && self.none_of_with_entry.is_empty() {
            sql.push(d.false_());
            return sql;
        }
        sql.push("(");
        let mut first = true;
        if !self.positive.is_empty() {
            first = false;
            entries(&mut sql, Some(self.positive));
        }
        for condition in self.none_of_with_entry {
            if !first {
                sql.push(" OR ");
            }
            first = false;
            sql.push("(");
            entries(&mut sql, None);
            sql.push(" AND NOT ");
            entries(&mut sql, Some(vec![condition]));
            sql.push(")");
        }
        sql.push(")");
        sql
    }
}

/// Whether a test is made of entry-level conditions on one index table ([`entry_shape`]).
fn probes_entries(test: &Test) -> bool {
    !matches!(
        test,
        Test::Missing(_) | Test::Id(_) | Test::LastUpdated(_) | Test::Text(_) | Test::Composite(_)
    )
}

/// The criterion whose value index should drive a page: a positive parameter test, preferring
/// the one likely to match fewest resources and to keep its rows in row order. An equality on a
/// reference comes first (one patient's records), then one on a token or uri, then a string
/// (a prefix reads a range of values), then a date, number or quantity range; among equals, the
/// test with fewer alternatives, since each alternative is its own run of rows and several must
/// be merged by sorting, then the one written first.
pub fn driver(criteria: &[Criterion]) -> Option<usize> {
    criteria
        .iter()
        .enumerate()
        .filter_map(|(idx, criterion)| match criterion {
            Criterion::Param(param) => {
                driving_test(param).and_then(|driving| drive_rank(driving.test).map(|r| (r, idx)))
            }
            _ => None,
        })
        .min()
        .map(|(_, idx)| idx)
}

/// Whether the rows of `query` under `scope`, in row order, are picked by one run of one value
/// index and one test of each entry's row: one positive test of one parameter that can drive
/// ([`driver`]), not a composite, under `Scope::All` (where [`Planner::driven`] reads the index
/// table alone) or a scope of owners without grants (where each entry's row is probed for its
/// type and owner, which the primary key of `resource` carries). Counting such a query reads
/// every entry of the run, whatever the values; a page reads the same entries or fewer, so that
/// a plan made once for any values costs a first page with its count at most twice what the
/// count alone costs, and a store may skip planning them for their values. A grant adds tests
/// of compartments, whose cost depends on the values, and is left to plans for them.
pub fn one_index_alone(scope: &Scope, query: &SearchQuery) -> bool {
    let [Criterion::Param(param)] = query.criteria.as_slice() else {
        return false;
    };
    let owners_only = match scope {
        Scope::All | Scope::App(_) => true,
        Scope::User { grants, .. } => grants.is_empty(),
    };
    owners_only
        && driving_test(param).is_some_and(|driving| {
            driving.composite.is_none() && drive_rank(driving.test).is_some()
        })
}

/// The test on a value index that drives a page of `param` ([`Planner::driven`]): the parameter's
/// own test, or for a composite of one alternative, its first positive token component, whose
/// entries (a composite's token component is an entry of that token parameter too) are in row
/// order for one value, so a page reads only as far as it goes instead of sorting every
/// candidate of the code (160 ms for a page of `Observation?code-value-quantity` on a common
/// LOINC code at a million resources, in PostgreSQL). `composite` then holds the alternative's
/// components, which each candidate probes.
struct Driving<'q> {
    code: &'static str,
    test: &'q Test,
    composite: Option<&'q [ParamTest]>,
}

fn driving_test(param: &ParamTest) -> Option<Driving<'_>> {
    let Test::Composite(alternatives) = &param.test else {
        return Some(Driving {
            code: param.code,
            test: &param.test,
            composite: None,
        });
    };
    let [components] = alternatives.as_slice() else {
        return None;
    };
    components
        .iter()
        .find(|c| matches!(c.test, Test::Token { negate: false, .. }))
        .map(|token| Driving {
            code: token.code,
            test: &token.test,
            composite: Some(components),
        })
}

/// How well a test drives a statement from its value index ([`driver`]), lower first; `None` for
/// a test that cannot: a negation, a test without values, or one answered elsewhere than a value
/// index.
fn drive_rank(test: &Test) -> Option<(u8, usize)> {
    let (class, n_values) = match test {
        Test::Reference(values) => (0, values.len()),
        Test::Token {
            negate: false,
            values,
        } => {
            let by_system = values.iter().any(|v| matches!(v, TokenValue::System(_)));
            (if by_system { 3 } else { 1 }, values.len())
        }
        Test::ReferenceIdentifier(values) => (1, values.len()),
        Test::OfType(values) => (1, values.len()),
        Test::Uri {
            mode: UriMatch::Exact,
            values,
        } => (1, values.len()),
        Test::Uri { values, .. } => (2, values.len()),
        Test::String {
            mode: StringMatch::Contains,
            values,
        } => (5, values.len()),
        Test::String { values, .. } => (2, values.len()),
        Test::TokenText(values) => (3, values.len()),
        Test::Date(bounds) if bounds.iter().all(|b| b.prefix != Prefix::Ne) => (4, bounds.len()),
        Test::Number(bounds) if bounds.iter().all(|b| b.prefix != Prefix::Ne) => (4, bounds.len()),
        Test::Quantity(bounds) if bounds.iter().all(|b| b.number.prefix != Prefix::Ne) => {
            (4, bounds.len())
        }
        _ => return None,
    };
    (n_values > 0).then_some((class, n_values))
}

/// Whether a criterion narrows the resources by itself: its matches are reached through an index
/// of their own (a value index, the full-text index, the compartment table, the key of
/// `resource`, the references of a chain or `_has`), so a statement can start from them. The
/// others (negations, `:missing`, `_lastUpdated`, tests without values) say something only about
/// resources found some other way; under a scope other than `Scope::All` a query made of them
/// alone reads the scope's owner groups ([`Planner::owner_arms`]).
/// ` AND {alias}.type …` for the types `query` searches: its own, or a system search's `_type`
/// list; nothing for a system search of every type.
pub(crate) fn push_types(sql: &mut Sql, dialect: Dialect, alias: &str, query: &SearchQuery) {
    if query.resource_type != "Resource" {
        sql.push(" AND ");
        dialect.resource_type(sql, &format!("{alias}.type"), query.resource_type);
    } else if !query.types.is_empty() {
        sql.push(&format!(" AND {alias}.type IN ("));
        sql.bind_list(query.types.iter().copied());
        sql.push(")");
    }
}

fn narrows(criterion: &Criterion) -> bool {
    match criterion {
        Criterion::Param(param) => match &param.test {
            Test::Id(_) | Test::Text(_) | Test::Composite(_) => true,
            Test::Missing(_) | Test::LastUpdated(_) => false,
            test => drive_rank(test).is_some(),
        },
        Criterion::Chain { .. } | Criterion::Has { .. } | Criterion::Compartment { .. } => true,
        Criterion::Any(alternatives) => alternatives.iter().all(narrows),
        Criterion::All(every) => every.iter().any(narrows),
        Criterion::ReferencedFrom { .. } => true,
    }
}

/// Where an entry's fields are: the columns of an index table row (`e.value`), or one component
/// of a composite row's JSON (`json_extract(c.components, '$[1].value')`).
enum Place {
    Row,
    /// The columns of a probe's row, `p.value`, inside a statement whose driver is `e`.
    Probe,
    Component(usize),
}

/// An entry's fields ([`Place`]) in a dialect.
struct Columns {
    place: Place,
    dialect: Dialect,
}

impl Columns {
    fn new(place: Place, dialect: Dialect) -> Self {
        Columns { place, dialect }
    }

    /// A text field.
    fn get(&self, column: &str) -> String {
        self.field(column, false)
    }

    /// A number field (a date's `low` and `high`, a number's or quantity's `value`, `low` and
    /// `high`): PostgreSQL reads a JSON field as text, which must become a number to compare.
    fn number(&self, column: &str) -> String {
        self.field(column, true)
    }

    fn field(&self, column: &str, number: bool) -> String {
        match self.place {
            Place::Row => format!("e.{column}"),
            Place::Probe => format!("p.{column}"),
            Place::Component(idx) => {
                // `composite_json` in the writer names these two differently from the columns.
                let key = match column {
                    "target_type" => "type",
                    "target_id" => "id",
                    other => other,
                };
                match (self.dialect, number) {
                    (Dialect::Sqlite, _) => {
                        format!("json_extract(c.components, '$[{idx}].{key}')")
                    }
                    (Dialect::Postgres, false) => format!("(c.components -> {idx} ->> '{key}')"),
                    (Dialect::Postgres, true) => {
                        format!("((c.components -> {idx} ->> '{key}')::double precision)")
                    }
                }
            }
        }
    }
}

/// The entry-level conditions of a test on one index table.
fn entry_shape(test: &Test, columns: &Columns) -> Result<Shape, StoreError> {
    let dialect = columns.dialect;
    let shape = |table, positive| Shape {
        table,
        positive,
        none_of_with_entry: Vec::new(),
        negate: false,
        dialect,
    };
    Ok(match test {
        Test::String { mode, values } => shape(
            "idx_string",
            values
                .iter()
                .map(|value| string_condition(*mode, value, columns))
                .collect(),
        ),
        Test::Token { negate, values } => Shape {
            negate: *negate,
            ..shape(
                "idx_token",
                values
                    .iter()
                    .map(|value| token_condition(value, columns))
                    .collect(),
            )
        },
        Test::ReferenceIdentifier(values) => shape(
            "idx_token",
            values
                .iter()
                .map(|value| token_condition(value, columns))
                .collect(),
        ),
        Test::TokenText(values) => shape(
            "idx_token",
            values
                .iter()
                .map(|value| {
                    let mut sql = Sql::default();
                    push_prefix_range(&mut sql, &columns.get("text"), &normalize_string(value));
                    sql
                })
                .collect(),
        ),
        Test::OfType(values) => shape(
            "idx_token",
            values
                .iter()
                .map(|value| {
                    let mut sql = Sql::default();
                    sql.push(&format!("({} = ", columns.get("of_type")));
                    sql.bind(format!("{}|{}", value.type_system, value.type_code));
                    sql.push(&format!(" AND {} = ", columns.get("value")));
                    sql.bind(value.value.as_str());
                    sql.push(")");
                    sql
                })
                .collect(),
        ),
        Test::Reference(values) => shape(
            "idx_reference",
            values
                .iter()
                .map(|value| reference_condition(value, columns))
                .collect(),
        ),
        Test::Uri { mode, values } => shape(
            "idx_uri",
            values
                .iter()
                .map(|value| uri_condition(*mode, value, columns))
                .collect(),
        ),
        Test::Date(bounds) => {
            let (low, high) = (columns.number("low"), columns.number("high"));
            split_ne(
                dialect,
                "idx_date",
                bounds
                    .iter()
                    .map(|bound| date_condition(bound, &low, &high)),
            )
        }
        Test::Number(bounds) => {
            let value = columns.number("value");
            split_ne(
                dialect,
                "idx_number",
                bounds.iter().map(|bound| number_condition(bound, &value)),
            )
        }
        Test::Quantity(bounds) => split_ne(
            dialect,
            "idx_quantity",
            bounds
                .iter()
                .map(|bound| quantity_condition(bound, columns)),
        ),
        Test::Missing(_)
        | Test::Id(_)
        | Test::LastUpdated(_)
        | Test::Composite(_)
        | Test::Text(_) => {
            return Err(StoreError::Unsupported(format!(
                "{test:?} as a test on index entries"
            )));
        }
    })
}

fn split_ne(
    dialect: Dialect,
    table: &'static str,
    conditions: impl Iterator<Item = (bool, Sql)>,
) -> Shape {
    let mut shape = Shape {
        table,
        positive: Vec::new(),
        none_of_with_entry: Vec::new(),
        negate: false,
        dialect,
    };
    for (ne, condition) in conditions {
        if ne {
            shape.none_of_with_entry.push(condition);
        } else {
            shape.positive.push(condition);
        }
    }
    shape
}

/// `column >= value AND column < value || U+10FFFF`: a prefix test that keeps an index on the
/// column usable, where `LIKE` or `substr` would not.
fn push_prefix_range(sql: &mut Sql, column: &str, prefix: &str) {
    sql.push(&format!("({column} >= "));
    sql.bind(prefix);
    sql.push(&format!(" AND {column} < "));
    sql.bind(format!("{prefix}{TEXT_AFTER_ALL}"));
    sql.push(")");
}

fn string_condition(mode: StringMatch, value: &str, columns: &Columns) -> Sql {
    let mut sql = Sql::default();
    let normalized = columns.get("normalized");
    match mode {
        StringMatch::Prefix => push_prefix_range(&mut sql, &normalized, value),
        StringMatch::Contains => {
            let find = match columns.dialect {
                Dialect::Sqlite => "instr",
                Dialect::Postgres => "strpos",
            };
            sql.push(&format!("{find}({normalized}, "));
            sql.bind(value);
            sql.push(") > 0");
        }
        StringMatch::Exact => {
            // The normalized form of an exact match is the normalized value, so the test can
            // seek in the (param, normalized) index and check the exact text only there.
            sql.push(&format!("({normalized} = "));
            sql.bind(normalize_string(value));
            sql.push(&format!(" AND {} = ", columns.get("exact")));
            sql.bind(value);
            sql.push(")");
        }
    }
    sql
}

fn token_condition(value: &TokenValue, columns: &Columns) -> Sql {
    let mut sql = Sql::default();
    let (value_column, system_column) = (columns.get("value"), columns.get("system"));
    match value {
        TokenValue::Code(code) => {
            sql.push(&format!("{value_column} = "));
            sql.bind(code.as_str());
        }
        TokenValue::SystemCode(system, code) => {
            sql.push(&format!("({value_column} = "));
            sql.bind(code.as_str());
            sql.push(&format!(" AND {system_column} = "));
            sql.bind(system.as_str());
            sql.push(")");
        }
        TokenValue::NoSystemCode(code) => {
            sql.push(&format!("({value_column} = "));
            sql.bind(code.as_str());
            sql.push(&format!(" AND {system_column} IS NULL)"));
        }
        TokenValue::System(system) => {
            sql.push(&format!("{system_column} = "));
            sql.bind(system.as_str());
        }
    }
    sql
}

fn reference_condition(value: &ReferenceValue, columns: &Columns) -> Sql {
    let mut sql = Sql::default();
    match value {
        ReferenceValue::Local {
            target_type,
            target_id,
        } => {
            sql.push(&format!("({} = ", columns.get("target_id")));
            sql.bind(target_id.as_str());
            if let Some(target_type) = target_type {
                sql.push(&format!(" AND {} = ", columns.get("target_type")));
                sql.bind(target_type.as_str());
            }
            sql.push(")");
        }
        ReferenceValue::Url { url, version } => {
            sql.push(&format!("({} = ", columns.get("url")));
            sql.bind(url.as_str());
            if let Some(version) = version {
                sql.push(&format!(" AND {} = ", columns.get("version")));
                sql.bind(version.as_str());
            }
            sql.push(")");
        }
    }
    sql
}

fn uri_condition(mode: UriMatch, value: &str, columns: &Columns) -> Sql {
    let mut sql = Sql::default();
    let column = columns.get("value");
    match mode {
        UriMatch::Exact => {
            sql.push(&format!("{column} = "));
            sql.bind(value);
        }
        UriMatch::Below => push_prefix_range(&mut sql, &column, value),
        UriMatch::Above => {
            // The entries that are prefixes of the value are few and known: seeking each in the
            // (param, value) index beats scanning the code's entries with a `substr` test. They
            // travel as one JSON array so that the statement's text does not vary with them.
            let prefixes: Vec<&str> = value
                .char_indices()
                .map(|(idx, c)| &value[..idx + c.len_utf8()])
                .collect();
            let d = columns.dialect;
            sql.push(&format!(
                "{column} IN (SELECT {} FROM {})",
                d.json_text("j.value"),
                d.json_rows("j")
            ));
            sql.params.push(Value::Text(
                serde_json::to_string(&prefixes).unwrap_or_else(|_| "[]".into()),
            ));
        }
    }
    sql
}

/// A date bound as an entry-level condition on the columns `low` and `high`, and whether the
/// resource-level test negates it (`ne` is `:not` on `eq`).
fn date_condition(bound: &DateBound, low: &str, high: &str) -> (bool, Sql) {
    let mut sql = Sql::default();
    let (sl, sh) = (bound.low, bound.high);
    let eq = |sql: &mut Sql| {
        sql.push(&format!("({low} >= "));
        sql.bind(sl);
        sql.push(&format!(" AND {high} <= "));
        sql.bind(sh);
        sql.push(")");
    };
    match bound.prefix {
        Prefix::Eq | Prefix::Ne => eq(&mut sql),
        Prefix::Gt => {
            sql.push(&format!("{high} > "));
            sql.bind(sh);
        }
        Prefix::Lt => {
            sql.push(&format!("{low} < "));
            sql.bind(sl);
        }
        Prefix::Ge => {
            sql.push(&format!("({high} > "));
            sql.bind(sh);
            sql.push(" OR ");
            eq(&mut sql);
            sql.push(")");
        }
        Prefix::Le => {
            // Every entry that is `lt` or `eq` starts at or before the search range's end; saying
            // so gives the (param, low, high) index a range to seek.
            sql.push(&format!("({low} <= "));
            sql.bind(sh);
            sql.push(&format!(" AND ({low} < "));
            sql.bind(sl);
            sql.push(" OR ");
            eq(&mut sql);
            sql.push("))");
        }
        Prefix::Sa => {
            sql.push(&format!("{low} > "));
            sql.bind(sh);
        }
        Prefix::Eb => {
            // An entry that ends before the range also starts before it, which is an index range.
            sql.push(&format!("({low} < "));
            sql.bind(sl);
            sql.push(&format!(" AND {high} < "));
            sql.bind(sl);
            sql.push(")");
        }
        Prefix::Ap => {
            sql.push(&format!("({low} <= "));
            sql.bind(sh);
            sql.push(&format!(" AND {high} >= "));
            sql.bind(sl);
            sql.push(")");
        }
    }
    (bound.prefix == Prefix::Ne, sql)
}

/// A number bound as an entry-level condition on the entry's value, and whether the
/// resource-level test negates it.
fn number_condition(bound: &NumberBound, value: &str) -> (bool, Sql) {
    let mut sql = Sql::default();
    let mut compare = |op: &str, operand: f64| {
        sql.push(&format!("{value} {op} "));
        sql.bind(operand);
    };
    match bound.prefix {
        Prefix::Eq | Prefix::Ne | Prefix::Ap => {
            compare(">=", bound.low);
            sql.push(&format!(" AND {value} < "));
            sql.bind(bound.high);
            sql.text = format!("({})", sql.text);
        }
        Prefix::Gt | Prefix::Sa => compare(">", bound.value),
        Prefix::Lt | Prefix::Eb => compare("<", bound.value),
        Prefix::Ge => compare(">=", bound.value),
        Prefix::Le => compare("<=", bound.value),
    }
    (bound.prefix == Prefix::Ne, sql)
}

fn quantity_condition(bound: &QuantityBound, columns: &Columns) -> (bool, Sql) {
    let (ne, mut sql) = number_condition(&bound.number, &columns.number("value"));
    match &bound.system {
        Some(system) => {
            sql.push(&format!(" AND {} = ", columns.get("system")));
            sql.bind(system.as_str());
        }
        // Canonical twins of UCUM entries match only searches in a UCUM unit.
        None => {
            sql.push(&format!(
                " AND {} {} ",
                columns.get("system"),
                columns.dialect.is_distinct_from()
            ));
            sql.bind(hale_search::ucum::CANONICAL_SYSTEM);
        }
    }
    if let Some(unit) = &bound.code {
        sql.push(&format!(" AND {} = ", columns.get("unit")));
        sql.bind(unit.as_str());
    }
    sql.text = format!("({})", sql.text);
    (ne, sql)
}

/// A composite test: one alternative holds when all its component tests hold on one composite
/// row. Each positive token component is also required of the resource's own token entries
/// (a composite's token component is an entry of that token parameter too), so that the
/// (param, value, rid, system) index narrows the candidates before any JSON is read.
impl Planner<'_> {
    fn composite_condition(
        &self,
        alias: &str,
        resource_type: Option<&str>,
        code: &str,
        alternatives: &[Vec<ParamTest>],
    ) -> Result<Sql, StoreError> {
        let d = self.dialect;
        let mut sql = Sql::default();
        if alternatives.is_empty() {
            sql.push(d.false_());
            return Ok(sql);
        }
        sql.push("(");
        for (idx, components) in alternatives.iter().enumerate() {
            if idx > 0 {
                sql.push(" OR ");
            }
            sql.push("(");
            let mut narrowed = false;
            for component in components {
                if let Test::Token {
                    negate: false,
                    values,
                } = &component.test
                {
                    sql.push(&format!(
                        "{alias}.rid IN (SELECT e.rid FROM idx_token e WHERE "
                    ));
                    sql.append(self.param_sql("e.param", resource_type, component.code)?);
                    sql.push(" AND (");
                    let row = Columns::new(Place::Row, d);
                    sql.append_any(d, values.iter().map(|v| token_condition(v, &row)));
                    sql.push(")) AND ");
                    narrowed = true;
                }
            }
            if narrowed {
                // The token's few candidates each probe their own composite rows: reading the
                // JSON of every composite row of the parameter would cost far more.
                sql.append(self.composite_probe(alias, resource_type, code, components)?);
            } else {
                sql.push(&format!(
                    "{alias}.rid IN (SELECT c.rid FROM idx_composite c WHERE "
                ));
                sql.append(self.param_sql("c.param", resource_type, code)?);
                sql.append(components_condition(d, components)?);
                sql.push(")");
            }
            sql.push(")");
        }
        sql.push(")");
        Ok(sql)
    }

    /// `EXISTS` a composite row of `alias`'s resource (its `rid`) on which every component test
    /// of one alternative holds. The composite rows are `c`, so that `alias` may be a value
    /// index's `e`.
    fn composite_probe(
        &self,
        alias: &str,
        resource_type: Option<&str>,
        code: &str,
        components: &[ParamTest],
    ) -> Result<Sql, StoreError> {
        let d = self.dialect;
        let mut sql = Sql::default();
        sql.push(&format!(
            "EXISTS (SELECT 1 FROM idx_composite c WHERE c.rid = {alias}.rid AND "
        ));
        sql.append(self.param_sql(&d.unindexed("c.param"), resource_type, code)?);
        sql.append(components_condition(d, components)?);
        sql.push(")");
        Ok(sql)
    }
}

/// ` AND` each component test of one alternative, on composite row `c`.
fn components_condition(d: Dialect, components: &[ParamTest]) -> Result<Sql, StoreError> {
    let mut sql = Sql::default();
    for (position, component) in components.iter().enumerate() {
        sql.push(" AND ");
        sql.append(component_condition(d, position, component)?);
    }
    Ok(sql)
}

/// One component test on component `position` of a composite row. Within one row a negation
/// (`ne`, `:not`) is the negation of the row's condition; `IS NOT 1` makes a missing JSON field
/// count as not matching rather than as unknown.
fn component_condition(
    d: Dialect,
    position: usize,
    component: &ParamTest,
) -> Result<Sql, StoreError> {
    let columns = Columns::new(Place::Component(position), d);
    let shape = entry_shape(&component.test, &columns)?;
    let mut sql = Sql::default();
    let any_of = |sql: &mut Sql, conditions: Vec<Sql>| {
        sql.push("(");
        sql.append_any(d, conditions);
        sql.push(")");
    };
    let is_not_true = match d {
        Dialect::Sqlite => " IS NOT 1",
        Dialect::Postgres => " IS NOT TRUE",
    };
    sql.push("(");
    sql.push(&format!("{} = ", columns.get("code")));
    sql.bind(component.code);
    sql.push(" AND (");
    if shape.negate {
        any_of(&mut sql, shape.positive);
        sql.push(is_not_true);
    } else {
        let mut parts = Vec::new();
        if !shape.positive.is_empty() {
            let mut part = Sql::default();
            any_of(&mut part, shape.positive);
            parts.push(part);
        }
        for condition in shape.none_of_with_entry {
            let mut part = Sql::default();
            any_of(&mut part, vec![condition]);
            part.push(is_not_true);
            parts.push(part);
        }
        any_of(&mut sql, parts);
    }
    sql.push("))");
    Ok(sql)
}

/// Full text: every word of a value must be in the column, the last one as a prefix; the values
/// are alternatives. All of it is one query of the full-text index, so that the index is read
/// once: an FTS5 query in SQLite, each word a quoted phrase that FTS5's tokenizer splits; a
/// `tsquery` over the GIN-indexed `tsvector` column in PostgreSQL, of the lexemes Hale made of
/// the words as it made those of the stored text ([`hale_search::normalize::text_words`]), so
/// that both stores split `blood-pressure` or `loinc.org` alike. A word without a letter or
/// digit (`--`) makes its value match nothing, as an empty phrase does in FTS5.
///
/// In PostgreSQL, a search of one type also asks for that type's lexeme ([`type_lexeme`]), so
/// that the GIN index intersects the word's rows with the type's instead of the search reading
/// the full text of every resource of the type (a count of `Condition?_content=normal` took
/// 185 ms that way at a million resources, and 30 ms with the lexeme).
fn text_condition(
    d: Dialect,
    alias: &str,
    resource_type: Option<&str>,
    code: &str,
    values: &[String],
) -> Sql {
    let mut sql = Sql::default();
    let narrative = code == "_text";
    let mut alternatives = Vec::new();
    'values: for value in values {
        let words: Vec<&str> = value.split_whitespace().collect();
        if words.is_empty() {
            // A value without words asks for nothing, so every resource meets it.
            sql.push(d.true_());
            return sql;
        }
        match d {
            Dialect::Sqlite => alternatives.push(all_of(
                &words,
                |word| format!("\"{}\"", word.replace('"', "\"\"")),
                "*",
                " AND ",
            )),
            Dialect::Postgres => {
                let mut lexemes = Vec::new();
                for word in &words {
                    let word_lexemes = hale_search::normalize::text_words(word);
                    if word_lexemes.is_empty() {
                        continue 'values;
                    }
                    lexemes.extend(word_lexemes);
                }
                // Quoted, a lexeme is taken as it is; the words hold only letters and digits,
                // the quoting keeps it so whatever they hold.
                alternatives.push(all_of(
                    &lexemes,
                    |lexeme| format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''")),
                    ":*",
                    " & ",
                ));
            }
        }
    }
    if alternatives.is_empty() {
        sql.push(d.false_());
        return sql;
    }
    match d {
        Dialect::Sqlite => {
            let column = if narrative {
                "narrative_text"
            } else {
                "content_text"
            };
            sql.push(&format!(
                "{alias}.rid IN (SELECT rowid FROM full_text WHERE full_text MATCH "
            ));
            sql.bind(format!("{column} : ({})", alternatives.join(" OR ")));
            sql.push(")");
        }
        Dialect::Postgres => {
            let column = if narrative { "narrative" } else { "content" };
            // A placeholder cast straight to `tsquery` would be bound as one, in its binary
            // form: the text is cast.
            sql.push(&format!(
                "{alias}.rid IN (SELECT f.rid FROM full_text f WHERE f.{column} @@ (CAST("
            ));
            sql.bind(alternatives.join(" | "));
            sql.push(" AS text)::tsquery");
            if let Some(resource_type) = resource_type {
                sql.push(" && CAST(");
                sql.bind(format!("'{}'", type_lexeme(resource_type)));
                sql.push(" AS text)::tsquery");
            }
            sql.push("))");
        }
    }
    sql
}

/// One alternative of a full-text query: every term quoted by `quote`, joined by `and`, the last
/// followed by `prefix`, which makes it a prefix of a word.
fn all_of<T: AsRef<str>>(
    terms: &[T],
    quote: impl Fn(&str) -> String,
    prefix: &str,
    and: &str,
) -> String {
    let mut quoted: Vec<String> = terms.iter().map(|term| quote(term.as_ref())).collect();
    if let Some(last) = quoted.last_mut() {
        last.push_str(prefix);
    }
    format!("({})", quoted.join(and))
}

/// The lexeme PostgreSQL's full text of every resource carries besides its words: `@` and the
/// resource type. The `simple` configuration never makes a lexeme that starts with `@` from text,
/// so no word matches it. Migration 0006 of `hale-store-postgres` adds it to rows written before.
pub fn type_lexeme(resource_type: &str) -> String {
    format!("@{resource_type}")
}

/// The SQL value of one sort key for the resource `r`, never NULL: a resource without a value
/// gets a sentinel that sorts after every real value in the key's direction.
pub fn sort_expression(d: Dialect, key: &SortKey, param: &Sql) -> Sql {
    let mut sql = Sql::default();
    let (aggregate, text_missing, integer_missing, real_missing) = if key.descending {
        ("MAX", "''".to_owned(), i64::MIN, "-1e308")
    } else {
        ("MIN", d.last_character().to_owned(), i64::MAX, "1e308")
    };
    // PostgreSQL reads these literals as `numeric`, which would make the whole key one.
    let (integer_missing, real_missing) = match d {
        Dialect::Sqlite => (integer_missing.to_string(), real_missing.to_owned()),
        Dialect::Postgres => (
            format!("CAST({integer_missing} AS bigint)"),
            format!("CAST({real_missing} AS double precision)"),
        ),
    };
    // `param` is the condition on `+e.param`: the unary `+` keeps SQLite from reading the
    // (param, …) index, which would visit every entry of the parameter for each resource,
    // instead of the few rows of the resource's `rid`.
    let entries = |sql: &mut Sql, expression: &str, table: &str, missing: &str| {
        sql.push(&format!(
            "coalesce((SELECT {aggregate}({expression}) FROM {table} e WHERE e.rid = r.rid AND "
        ));
        sql.append(param.clone());
        sql.push(&format!("), {missing})"));
    };
    match key.kind {
        SortKind::Id => sql.push("r.id"),
        SortKind::LastUpdated => sql.push("r.last_updated"),
        SortKind::String => entries(&mut sql, "e.normalized", "idx_string", &text_missing),
        SortKind::Token => entries(&mut sql, "e.value", "idx_token", &text_missing),
        SortKind::Uri => entries(&mut sql, "e.value", "idx_uri", &text_missing),
        SortKind::Reference => entries(
            &mut sql,
            "coalesce(e.target_type || '/' || e.target_id, e.url)",
            "idx_reference",
            &text_missing,
        ),
        SortKind::Date => entries(
            &mut sql,
            if key.descending { "e.high" } else { "e.low" },
            "idx_date",
            &integer_missing,
        ),
        SortKind::Number => entries(&mut sql, "e.value", "idx_number", &real_missing),
        // The values as written, not their canonical UCUM twins.
        SortKind::Quantity => entries(
            &mut sql,
            &format!(
                "CASE WHEN e.system {} '{}' THEN e.value END",
                d.is_distinct_from(),
                hale_search::ucum::CANONICAL_SYSTEM
            ),
            "idx_quantity",
            &real_missing,
        ),
    }
    sql
}

/// Reads a sort value back as the kind of its key.
pub fn sort_value(kind: SortKind, value: Value) -> SortValue {
    match (kind, value) {
        (SortKind::Number | SortKind::Quantity, Value::Real(real)) => SortValue::Real(real),
        (SortKind::Number | SortKind::Quantity, Value::Integer(int)) => SortValue::Real(int as f64),
        (_, Value::Integer(int)) => SortValue::Int(int),
        (_, Value::Real(real)) => SortValue::Real(real),
        (_, Value::Text(text)) => SortValue::Text(text),
        (_, Value::Null) => SortValue::Text(String::new()),
    }
}

/// A sort value as an SQL parameter.
pub fn sort_param(value: &SortValue) -> Value {
    match value {
        SortValue::Int(int) => Value::Integer(*int),
        SortValue::Real(real) => Value::Real(*real),
        SortValue::Text(text) => Value::Text(text.clone()),
    }
}

/// The reference parameters of a type, for `*` includes: naming them lets the
/// (param, target_id, rid, target_type) index serve the lookup.
pub fn reference_codes(resource_type: &str) -> Vec<&'static str> {
    hale_fhir::definitions::search_params_for(resource_type)
        .filter(|param| param.kind == SearchParamType::Reference)
        .map(|param| param.code)
        .collect()
}

/// The components of a composite entry as a JSON array, one object per component. The planner
/// reads these keys with `json_extract` or `->>` (`Columns`): the index tables' column names, except
/// `type` and `id` for a reference's target.
pub fn composite_json(components: &[IndexEntry]) -> String {
    let items: Vec<serde_json::Value> = components
        .iter()
        .map(|c| match c {
            IndexEntry::String { code, normalized, exact } => serde_json::json!({"code": code, "normalized": normalized, "exact": exact}),
            IndexEntry::Token {
                code, system, value, ..
            } => serde_json::json!({"code": code, "system": system, "value": value}),
            IndexEntry::Reference {
                code,
                target_type,
                target_id,
                url,
                version,
            } => serde_json::json!({"code": code, "type": target_type, "id": target_id, "url": url, "version": version}),
            IndexEntry::Date { code, low, high } => serde_json::json!({"code": code, "low": low, "high": high}),
            IndexEntry::Number { code, value, low, high } => serde_json::json!({"code": code, "value": value, "low": low, "high": high}),
            IndexEntry::Quantity {
                code,
                value,
                low,
                high,
                system,
                unit,
            } => serde_json::json!({"code": code, "value": value, "low": low, "high": high, "system": system, "unit": unit}),
            IndexEntry::Uri { code, value } => serde_json::json!({"code": code, "value": value}),
            IndexEntry::Composite { code, .. } | IndexEntry::Text { code, .. } => serde_json::json!({"code": code}),
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}
