//! The statements of search, count, include and conditional lookups, all over the planner's
//! conditions.
//!
//! A page is read in two steps inside one statement: an inner query picks the page's rows (and
//! their sort values) from `resource` and the index tables alone, and only those rows are joined
//! to `history` for their JSON. Sorting and skipping therefore never carry JSON along, and a
//! count never touches `history` at all.

use hale_fhir::FhirVersion;
use hale_search::query::{Include, SearchQuery};
use hale_store::{PageRequest, Position, ResourceKey, Scope, StoreError};

use crate::plan::{Planner, push_types, reference_codes, sort_param};
use crate::scope::{COLUMNS, OwnerGroup, owner_groups, push_group, push_scope};
use crate::{Dialect, ParamLookup, Sql, Value};

/// The highest row in the store: the horizon of a first page.
pub const HORIZON: &str = "SELECT coalesce(max(rid), 0) FROM resource";

/// The current, not deleted resources matching `query` in `scope`, at most `limit`, in row
/// order: a statement selecting [`COLUMNS`].
pub fn find(
    lookup: &dyn ParamLookup,
    dialect: Dialect,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    limit: usize,
) -> Result<Sql, StoreError> {
    let condition = Planner::new(scope, fhir_version.as_str(), lookup, dialect).query(query)?;
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE "
    ));
    sql.append(condition);
    sql.push(" ORDER BY r.rid LIMIT ");
    sql.bind(limit as i64);
    Ok(sql)
}

/// Where a page's rows come from, the column that holds each row's `rid`, and the SQL value of
/// each sort key ([`page_source`]).
pub struct PageSource {
    rows: Rows,
    row: &'static str,
    sort: Vec<Sql>,
}

/// The `FROM … WHERE …` a page's rows come from.
enum Rows {
    /// One statement.
    One(Sql),
    /// One statement over `resource r` per owner group ([`Planner::owner_arms`]), each in row
    /// order: a page in row order merges them.
    Groups(Vec<Sql>),
}

/// Where the rows of a page of `query` come from ([`page_sql`] makes the page's statement).
pub fn page_source(
    lookup: &dyn ParamLookup,
    dialect: Dialect,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    page: &PageRequest,
) -> Result<PageSource, StoreError> {
    let mut planner = Planner::new(scope, fhir_version.as_str(), lookup, dialect);
    // In row order a page driven by one value index reads only as far as the page goes when
    // the test fixes every column before `rid` in the index. Under `Scope::All` the index rows
    // alone pick the page's rows, as they count them (see [`count`]): joining `resource` for
    // each candidate only to test what the parameter's id already fixes cost a probe per match.
    if page.sort.is_empty()
        && let Some(driven) = planner.driven(query, !matches!(scope, Scope::All))?
    {
        return Ok(PageSource {
            rows: Rows::One(driven),
            row: "e.rid",
            sort: Vec::new(),
        });
    }
    let from_where = match planner.owner_arms(query)? {
        Some(arms) if page.sort.is_empty() => {
            return Ok(PageSource {
                rows: Rows::Groups(arms),
                row: "r.rid",
                sort: Vec::new(),
            });
        }
        // Sorted by other keys, the groups' rows are the candidates, each resource once, and
        // are sorted as any other search's.
        Some(arms) => {
            let mut from_where = Sql::default();
            from_where.push("FROM (");
            for (idx, arm) in arms.into_iter().enumerate() {
                if idx > 0 {
                    from_where.push(" UNION ALL ");
                }
                from_where.push("SELECT r.rid AS rid ");
                from_where.append(arm);
            }
            from_where.push(&format!(
                ") o {} resource r ON r.rid = o.rid WHERE ",
                dialect.cross_join()
            ));
            from_where.append(planner.scoped_base(query));
            from_where
        }
        None => {
            let mut from_where = Sql::default();
            from_where.push("FROM resource r WHERE ");
            from_where.append(planner.query(query)?);
            from_where
        }
    };
    let sort = page
        .sort
        .iter()
        .map(|key| planner.sort_key(query, key))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PageSource {
        rows: Rows::One(from_where),
        row: "r.rid",
        sort,
    })
}

/// The statement of one page, selecting `columns` of `resource r` and `history h` and then the
/// row `p.rid` and the sort keys, and whether it reads backwards (for `before`).
pub fn page_sql(
    dialect: Dialect,
    source: PageSource,
    page: &PageRequest,
    horizon: i64,
    columns: &str,
) -> Result<(Sql, bool), StoreError> {
    let row = source.row;
    // A previous page is read backwards from its position and turned around afterwards.
    let (cursor, backwards) = match (&page.before, &page.after) {
        (Some(before), _) => (Some(before), true),
        (None, Some(after)) => (Some(after), false),
        (None, None) => (None, false),
    };
    let n_keys = page.sort.len();
    if let Some(cursor) = cursor
        && cursor.keys.len() != n_keys
    {
        return Err(StoreError::Unsupported(
            "a position whose keys do not fit the sort".into(),
        ));
    }
    // Rows strictly beyond the cursor in the direction read:
    // `(k0 > a) OR (k0 = a AND k1 < b) OR … OR (all equal AND rid > row)`, each comparison
    // following its key's direction. `row` names the row column.
    let beyond = |sql: &mut Sql, cursor: &Position, row: &str| {
        sql.push(" AND (");
        for level in 0..=n_keys {
            if level > 0 {
                sql.push(" OR ");
            }
            sql.push("(");
            for idx in 0..level {
                sql.push(&format!("sort_key_{idx} = "));
                sql.bind(sort_param(&cursor.keys[idx]));
                sql.push(" AND ");
            }
            if level < n_keys {
                let forward = page.sort[level].descending == backwards;
                sql.push(&format!(
                    "sort_key_{level} {} ",
                    if forward { ">" } else { "<" }
                ));
                sql.bind(sort_param(&cursor.keys[level]));
            } else {
                sql.push(&format!("{row} {} ", if backwards { "<" } else { ">" }));
                sql.bind(cursor.row);
            }
            sql.push(")");
        }
        sql.push(")");
    };
    // Rows at most the horizon and beyond the cursor.
    let window = |sql: &mut Sql| {
        sql.push(&format!(" AND {row} <= "));
        sql.bind(horizon);
        if let Some(cursor) = cursor {
            beyond(sql, cursor, row);
        }
    };
    // `prefix` names the sort keys' relation, `rid` the row column.
    let order = |sql: &mut Sql, prefix: &str, rid: &str| {
        sql.push(" ORDER BY ");
        for (idx, key) in page.sort.iter().enumerate() {
            let ascending = key.descending == backwards;
            sql.push(&format!(
                "{prefix}sort_key_{idx} {}, ",
                if ascending { "ASC" } else { "DESC" }
            ));
        }
        sql.push(&format!("{rid} {}", if backwards { "DESC" } else { "ASC" }));
    };
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {columns}, p.rid"));
    for idx in 0..n_keys {
        sql.push(&format!(", p.sort_key_{idx}"));
    }
    match source.rows {
        Rows::One(from_where) => {
            // PostgreSQL does not let a `WHERE` name the columns its own `SELECT` computes, so
            // there the sort keys are compared with the cursor one level up.
            let wrap = dialect == Dialect::Postgres && n_keys > 0;
            sql.push(if wrap {
                " FROM (SELECT * FROM (SELECT DISTINCT "
            } else {
                " FROM (SELECT DISTINCT "
            });
            sql.push(&format!("{row} AS rid"));
            for (idx, expression) in source.sort.into_iter().enumerate() {
                sql.push(", ");
                sql.append(expression);
                sql.push(&format!(" AS sort_key_{idx}"));
            }
            sql.push(" ");
            sql.append(from_where);
            if wrap {
                sql.push(&format!(" AND {row} <= "));
                sql.bind(horizon);
                sql.push(") w WHERE TRUE");
                if let Some(cursor) = cursor {
                    beyond(&mut sql, cursor, "rid");
                }
                order(&mut sql, "", "rid");
            } else {
                window(&mut sql);
                order(&mut sql, "", row);
            }
        }
        Rows::Groups(arms) => {
            if n_keys > 0 {
                return Err(StoreError::Unsupported(
                    "owner groups merged in an order other than row order".into(),
                ));
            }
            // The groups are disjoint and each comes in row order, so the compound `ORDER BY`
            // merges them and the `LIMIT` stops it. PostgreSQL (15) merges only arms that are
            // ordered and limited themselves: given the order on the `UNION ALL` alone, it reads
            // every arm whole and sorts, which is every operator-owned row of the type.
            let limited = dialect == Dialect::Postgres;
            sql.push(" FROM (");
            for (idx, arm) in arms.into_iter().enumerate() {
                if idx > 0 {
                    sql.push(" UNION ALL ");
                }
                if limited {
                    sql.push("(");
                }
                sql.push(&format!("SELECT {row} AS rid "));
                sql.append(arm);
                window(&mut sql);
                if limited {
                    order(&mut sql, "", "rid");
                    sql.push(" LIMIT ");
                    sql.bind(
                        i64::try_from(page.limit.saturating_add(page.offset)).unwrap_or(i64::MAX),
                    );
                    sql.push(")");
                }
            }
            order(&mut sql, "", "rid");
        }
    }
    sql.push(" LIMIT ");
    sql.bind(page.limit as i64);
    sql.push(" OFFSET ");
    sql.bind(page.offset as i64);
    sql.push(") p JOIN resource r ON r.rid = p.rid JOIN history h ON h.seq = r.seq");
    order(&mut sql, "p.", "p.rid");

    Ok((sql, backwards))
}

/// The statement of [`hale_store::ResourceStore::cuts`]: every matching row up to `horizon`, in
/// row order, and nothing else (no JSON).
pub fn cuts(
    lookup: &dyn ParamLookup,
    dialect: Dialect,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    horizon: i64,
) -> Result<Sql, StoreError> {
    let page = PageRequest {
        horizon: Some(horizon),
        ..PageRequest::default()
    };
    let source = page_source(lookup, dialect, scope, fhir_version, query, &page)?;
    let row = source.row;
    let mut sql = Sql::default();
    match source.rows {
        Rows::One(from_where) => {
            sql.push(&format!("SELECT DISTINCT {row} AS rid "));
            sql.append(from_where);
            sql.push(&format!(" AND {row} <= "));
            sql.bind(horizon);
            sql.push(&format!(" ORDER BY {row}"));
        }
        Rows::Groups(arms) => {
            for (idx, arm) in arms.into_iter().enumerate() {
                if idx > 0 {
                    sql.push(" UNION ALL ");
                }
                sql.push(&format!("SELECT {row} AS rid "));
                sql.append(arm);
                sql.push(&format!(" AND {row} <= "));
                sql.bind(horizon);
            }
            sql.push(" ORDER BY rid");
        }
    }
    Ok(sql)
}

/// The statement of a page of a bulk export file ([`hale_store::ResourceStore::export_rows`]):
/// the rows a search's page in row order would pick, selecting only `h.json` and the row.
#[allow(
    clippy::too_many_arguments,
    reason = "the trait method's arguments, and the dialect and lookup every builder takes"
)]
pub fn export_rows(
    lookup: &dyn ParamLookup,
    dialect: Dialect,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    after: i64,
    upto: i64,
    limit: usize,
) -> Result<Sql, StoreError> {
    let page = PageRequest {
        limit,
        after: Some(Position {
            keys: Vec::new(),
            row: after,
        }),
        horizon: Some(upto),
        ..PageRequest::default()
    };
    let source = page_source(lookup, dialect, scope, fhir_version, query, &page)?;
    // In PostgreSQL a page read along `resource` (a type without criteria, or criteria that are
    // subqueries of each row) takes each row's `seq` from the index that orders the rows
    // (`resource_type_rid` includes it, migration 0007) and probes `history` alone, instead of
    // probing `resource`'s key again for it: half the time of a page. Each `resource` row is one
    // resource, so nothing needs `DISTINCT`.
    if dialect == Dialect::Postgres
        && source.row == "r.rid"
        && let Rows::One(from_where) = source.rows
    {
        let mut sql = Sql::default();
        sql.push("SELECT h.json, p.rid FROM (SELECT r.rid AS rid, r.seq AS seq ");
        sql.append(from_where);
        sql.push(" AND r.rid <= ");
        sql.bind(upto);
        sql.push(" AND r.rid > ");
        sql.bind(after);
        sql.push(" ORDER BY r.rid LIMIT ");
        sql.bind(limit as i64);
        sql.push(") p JOIN history h ON h.seq = p.seq ORDER BY p.rid");
        return Ok(sql);
    }
    Ok(page_sql(dialect, source, &page, upto, "h.json")?.0)
}

/// The statement of [`hale_store::ResourceStore::count`].
pub fn count(
    lookup: &dyn ParamLookup,
    dialect: Dialect,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    horizon: Option<i64>,
) -> Result<Sql, StoreError> {
    if dialect == Dialect::Postgres
        && query.criteria.is_empty()
        && let Some(sql) = kept_count(scope, fhir_version, query, horizon)
    {
        return Ok(sql);
    }
    let mut planner = Planner::new(scope, fhir_version.as_str(), lookup, dialect);
    let mut sql = Sql::default();
    // A query that no criterion narrows, under a scope other than `Scope::All`, is the sum of
    // its owner groups' counts; with no criteria each reads the `resource_owner` index alone.
    if let Some(arms) = planner.owner_arms(query)? {
        sql.push("SELECT ");
        for (idx, arm) in arms.into_iter().enumerate() {
            if idx > 0 {
                sql.push(" + ");
            }
            sql.push("(SELECT count(*) ");
            sql.append(arm);
            if let Some(horizon) = horizon {
                sql.push(" AND r.rid <= ");
                sql.bind(horizon);
            }
            sql.push(")");
        }
        return Ok(sql);
    }
    // Under `Scope::All` the index rows alone answer parameter tests or one chain; another scope
    // needs each resource's owner. Several tests are counted like a page is read: along the
    // driver's value index, probing the others per row, which beats intersecting `IN` lists.
    let all = matches!(scope, Scope::All);
    let source = match planner.driven(query, !all)? {
        Some(driven) => Some((driven, "e.rid", false)),
        None => planner
            .chain_count(query)?
            .map(|(chain, single)| (chain, "x.rid", single)),
    };
    if let Some((from_where, row, single)) = source {
        if single {
            sql.push("SELECT count(*) ");
        } else {
            sql.push(&format!("SELECT count(*) FROM (SELECT DISTINCT {row} "));
        }
        sql.append(from_where);
        if let Some(horizon) = horizon {
            sql.push(&format!(" AND {row} <= "));
            sql.bind(horizon);
        }
        if !single {
            // PostgreSQL names every subquery of a `FROM`.
            sql.push(match dialect {
                Dialect::Sqlite => ")",
                Dialect::Postgres => ") n",
            });
        }
        return Ok(sql);
    }
    sql.push("SELECT count(*) FROM resource r WHERE ");
    sql.append(planner.query(query)?);
    if let Some(horizon) = horizon {
        sql.push(" AND r.rid <= ");
        sql.bind(horizon);
    }
    Ok(sql)
}

/// The count of a query without criteria from PostgreSQL's `resource_count`, which its triggers
/// keep for every FHIR version, type and owner, less the rows beyond `horizon`: one row per owner
/// group and type instead of one per resource. None where the scope shares single Patients'
/// records, whose resources no count tells apart.
fn kept_count(
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    horizon: Option<i64>,
) -> Option<Sql> {
    let groups: Vec<Option<OwnerGroup<'_>>> = match owner_groups(scope) {
        None => vec![None],
        Some(groups) => groups.into_iter().map(Some).collect(),
    };
    if groups
        .iter()
        .any(|group| matches!(group, Some(OwnerGroup::Records { .. })))
    {
        return None;
    }
    // The rows of `alias` (`resource` or `resource_count`) of the query's version, types and
    // owner group.
    let rows = |sql: &mut Sql, alias: &str, group: &Option<OwnerGroup<'_>>| {
        sql.push(&format!("{alias}.fhir_version = "));
        sql.bind(fhir_version.as_str());
        push_types(sql, Dialect::Postgres, alias, query);
        if let Some(group) = group {
            push_group(sql, alias, group);
        }
    };
    let mut sql = Sql::default();
    sql.push("SELECT ");
    for (idx, group) in groups.iter().enumerate() {
        if idx > 0 {
            sql.push(" + ");
        }
        sql.push("(SELECT coalesce(sum(c.n), 0)::bigint FROM resource_count c WHERE ");
        rows(&mut sql, "c", group);
        sql.push(")");
        // Rows created after the horizon (a later page's) are not counted.
        if let Some(horizon) = horizon {
            sql.push(" - (SELECT count(*) FROM resource r WHERE ");
            rows(&mut sql, "r", group);
            sql.push(" AND r.deleted = 0 AND r.rid > ");
            sql.bind(horizon);
            sql.push(")");
        }
    }
    Some(sql)
}

/// The statement of [`hale_store::ResourceStore::include`], selecting [`COLUMNS`].
pub fn include(
    lookup: &dyn ParamLookup,
    dialect: Dialect,
    scope: &Scope,
    fhir_version: FhirVersion,
    include: &Include,
    reverse: bool,
    sources: &[ResourceKey],
) -> Result<Sql, StoreError> {
    let d = dialect;
    let cj = d.cross_join();
    let version = fhir_version.as_str();
    let mut sql = Sql::default();
    // `CROSS JOIN`s below fix the join order, starting from the few sources.
    // The unary `+`s keep SQLite from scanning an index of `resource` by version: the rows come
    // from the subquery below, by `rid`.
    sql.push(&format!(
        "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE {} = ",
        d.unindexed("r.fhir_version")
    ));
    sql.bind(version);
    sql.push(&format!(" AND {} = 0", d.unindexed("r.deleted")));
    push_scope(&mut sql, "r", scope);
    // The sources travel as one JSON array so that the statement's text is the same for any
    // number of them and stays in the prepared-statement cache.
    let codes: Vec<&str> = match include.code {
        Some(code) => vec![code],
        None => reference_codes(include.source_type),
    };
    let params: Vec<i64> = if codes.is_empty() {
        // A type the definitions do not know: every reference of the sources.
        lookup.every_code(version, include.source_type)?
    } else {
        let mut params = Vec::new();
        for code in &codes {
            params.extend(lookup.one(version, include.source_type, code)?);
        }
        params
    };
    let params_json = serde_json::to_string(&params).unwrap_or_else(|_| "[]".into());
    if reverse {
        let targets: Vec<[&str; 2]> = sources
            .iter()
            .filter(|key| include.target_type.is_none_or(|t| t == key.resource_type))
            .map(|key| [key.resource_type.as_str(), key.id.as_str()])
            .collect();
        sql.push(&format!(" AND {} = ", d.unindexed("r.type")));
        sql.bind(include.source_type);
        // `CROSS JOIN` fixes the order: for each target and each parameter id, one seek in the
        // (param, target_id, rid, target_type) index.
        sql.push(&format!(
            " AND {}SELECT e.rid FROM {}",
            d.in_few("r.rid"),
            d.json_rows("j")
        ));
        sql.params.push(Value::Text(
            serde_json::to_string(&targets).unwrap_or_else(|_| "[]".into()),
        ));
        // Joins without a condition are `CROSS JOIN`s in both dialects.
        sql.push(&format!(" CROSS JOIN {}", d.json_rows("c")));
        sql.params.push(Value::Text(params_json));
        sql.push(&format!(
            " CROSS JOIN idx_reference e WHERE e.param = {}",
            d.json_integer("c.value")
        ));
        sql.push(" AND e.target_id = j.value ->> 1 AND e.target_type = j.value ->> 0");
        sql.push(d.in_few_end());
    } else {
        let ids: Vec<&str> = sources
            .iter()
            .filter(|key| key.resource_type == include.source_type)
            .map(|key| key.id.as_str())
            .collect();
        // The sources `s` are only those in scope, and `t` is the row of `r`, which carries the
        // scope above.
        sql.push(&format!(
            " AND {}SELECT t.rid FROM {} \
             {cj} resource s ON s.fhir_version = ? AND s.type = ? AND s.id = {} \
             {cj} idx_reference e ON e.rid = s.rid \
             {cj} resource t ON t.fhir_version = s.fhir_version AND t.type = e.target_type AND t.id = e.target_id \
             WHERE {} = 0",
            d.in_few("r.rid"),
            d.json_rows("j"),
            d.json_text("j.value"),
            d.unindexed("s.deleted")
        ));
        sql.params.push(Value::Text(
            serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()),
        ));
        sql.params.push(Value::Text(version.to_owned()));
        sql.params.push(Value::Text(include.source_type.to_owned()));
        push_scope(&mut sql, "s", scope);
        sql.push(&format!(
            " AND e.param IN (SELECT {} FROM {})",
            d.json_integer("c.value"),
            d.json_rows("c")
        ));
        sql.params.push(Value::Text(params_json));
        if let Some(target_type) = include.target_type {
            sql.push(" AND e.target_type = ");
            sql.bind(target_type);
        }
        sql.push(d.in_few_end());
    }
    sql.push(" ORDER BY r.rid");
    Ok(sql)
}
