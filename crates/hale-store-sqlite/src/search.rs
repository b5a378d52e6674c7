//! Search, count, include and conditional lookups on SQLite, all on statements of
//! `hale_store_sql` (its `search` module says how a page is read).

use hale_fhir::FhirVersion;
use hale_search::query::{Include, SearchQuery};
use hale_store::{
    Hit, PageRequest, Position, ResourceKey, Scope, SearchPage, StoreError, StoredResource,
};
use hale_store_sql::Dialect::Sqlite;
use hale_store_sql::plan::sort_value;
use hale_store_sql::scope::COLUMNS;
use hale_store_sql::search::{self as statements, PageSource};
use rusqlite::Connection;
use rusqlite::types::Value;

use crate::backend;
use crate::params::Lookup;
use crate::sql::{map_row, params, query_count, query_resources, value};

/// The current, not deleted resources matching `query` in `scope`, at most `limit`, in row order.
pub(crate) fn find(
    lookup: &Lookup<'_>,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    limit: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    let sql = statements::find(lookup, Sqlite, scope, fhir_version, query, limit)?;
    query_resources(lookup.conn, &sql)
}

/// Runs `work` in one read transaction, so that everything it reads is one snapshot.
pub(crate) fn in_read_transaction<T>(
    conn: &Connection,
    work: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN").map_err(backend)?;
    let result = work();
    // A pooled connection must never go back with a transaction open, whatever happened.
    let ended = conn.execute_batch("COMMIT");
    if ended.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let value = result?;
    ended.map_err(backend)?;
    Ok(value)
}

/// The horizon a page reads to: the one its first page read to, or on a first page the highest
/// row in the store now.
pub(crate) fn horizon(conn: &Connection, first: Option<i64>) -> Result<i64, StoreError> {
    match first {
        Some(horizon) => Ok(horizon),
        None => conn
            .query_row(statements::HORIZON, [], |row| row.get(0))
            .map_err(backend),
    }
}

/// One page of a search; see [`hale_store::ResourceStore::search`].
pub(crate) fn search(
    lookup: &Lookup<'_>,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    page: &PageRequest,
) -> Result<SearchPage, StoreError> {
    let conn = lookup.conn;
    in_read_transaction(conn, || {
        let source = statements::page_source(lookup, Sqlite, scope, fhir_version, query, page)?;
        let horizon = horizon(conn, page.horizon)?;
        let hits = read_page(conn, source, page, horizon)?;
        let total = if page.total {
            Some(count(lookup, scope, fhir_version, query, Some(horizon))?)
        } else {
            None
        };
        Ok(SearchPage {
            hits,
            horizon,
            total,
        })
    })
}

fn read_page(
    conn: &Connection,
    source: PageSource,
    page: &PageRequest,
    horizon: i64,
) -> Result<Vec<Hit>, StoreError> {
    let n_keys = page.sort.len();
    let (sql, backwards) = statements::page_sql(Sqlite, source, page, horizon, COLUMNS)?;
    let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
    let rows = stmt
        .query_map(params(&sql), |row| {
            let resource = map_row(row)?;
            let rid: i64 = row.get(10)?;
            let mut keys = Vec::with_capacity(n_keys);
            for (idx, key) in page.sort.iter().enumerate() {
                let found: Value = row.get(11 + idx)?;
                keys.push(sort_value(key.kind, value(found)));
            }
            Ok(Hit {
                resource,
                position: Position { keys, row: rid },
            })
        })
        .map_err(backend)?;
    let mut hits = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
    if backwards {
        hits.reverse();
    }
    Ok(hits)
}

/// The number of matches and every `every`-th matching row; see
/// [`hale_store::ResourceStore::cuts`]. Reads rows only, never JSON.
pub(crate) fn cuts(
    lookup: &Lookup<'_>,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    horizon: i64,
    every: usize,
) -> Result<(u64, Vec<i64>), StoreError> {
    let every = every.max(1) as u64;
    let sql = statements::cuts(lookup, Sqlite, scope, fhir_version, query, horizon)?;
    let mut stmt = lookup.conn.prepare_cached(&sql.text).map_err(backend)?;
    let mut rows = stmt.query(params(&sql)).map_err(backend)?;
    let (mut n, mut cuts) = (0_u64, Vec::new());
    while let Some(found) = rows.next().map_err(backend)? {
        n += 1;
        if n % every == 0 {
            cuts.push(found.get(0).map_err(backend)?);
        }
    }
    Ok((n, cuts))
}

/// A page of a bulk export file; see [`hale_store::ResourceStore::export_rows`].
pub(crate) fn export_rows(
    lookup: &Lookup<'_>,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    after: i64,
    upto: i64,
    limit: usize,
) -> Result<Vec<(i64, bytes::Bytes)>, StoreError> {
    let sql = statements::export_rows(
        lookup,
        Sqlite,
        scope,
        fhir_version,
        query,
        after,
        upto,
        limit,
    )?;
    let mut stmt = lookup.conn.prepare_cached(&sql.text).map_err(backend)?;
    let rows = stmt
        .query_map(params(&sql), |row| {
            let json: Vec<u8> = row.get(0)?;
            Ok((row.get::<_, i64>(1)?, bytes::Bytes::from(json)))
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

/// How many resources match; see [`hale_store::ResourceStore::count`].
pub(crate) fn count(
    lookup: &Lookup<'_>,
    scope: &Scope,
    fhir_version: FhirVersion,
    query: &SearchQuery,
    horizon: Option<i64>,
) -> Result<u64, StoreError> {
    let sql = statements::count(lookup, Sqlite, scope, fhir_version, query, horizon)?;
    query_count(lookup.conn, &sql)
}

/// The resources an include adds; see [`hale_store::ResourceStore::include`].
pub(crate) fn include(
    lookup: &Lookup<'_>,
    scope: &Scope,
    fhir_version: FhirVersion,
    include: &Include,
    reverse: bool,
    sources: &[ResourceKey],
) -> Result<Vec<StoredResource>, StoreError> {
    let sql = statements::include(
        lookup,
        Sqlite,
        scope,
        fhir_version,
        include,
        reverse,
        sources,
    )?;
    query_resources(lookup.conn, &sql)
}

#[cfg(test)]
pub(crate) mod tests {
    //! The query plans of the typical shapes, on the schema as migrated (no `ANALYZE`, as in
    //! production). Run with `--nocapture` to print them.
    #![allow(clippy::unwrap_used, clippy::print_stdout, reason = "test code")]

    use hale_search::query::{
        Criterion, DateBound, Include, NumberBound, ParamTest, Prefix, QuantityBound,
        ReferenceValue, SearchQuery, SortKey, SortKind, StringMatch, Test, TokenValue,
    };
    use hale_store::{PageRequest, Position, ResourceKey, Scope, SortValue};
    use rusqlite::Connection;

    use hale_store_sql::Sql;
    use hale_store_sql::search::{count as count_sql, include as include_sql};

    use super::*;

    pub(crate) fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn).unwrap();
        // Every code the tests ask for has an id, as in a store that holds such resources.
        for (resource_type, code) in [
            ("Observation", "code"),
            ("Observation", "category"),
            ("Observation", "date"),
            ("Observation", "patient"),
            ("Observation", "subject"),
            ("Patient", "identifier"),
            ("Patient", "name"),
            ("Patient", "birthdate"),
            ("Patient", "gender"),
            ("Observation", "code-value-quantity"),
        ] {
            conn.execute(
                "INSERT INTO search_param (fhir_version, type, code) VALUES ('r4', ?1, ?2)",
                [resource_type, code],
            )
            .unwrap();
        }
        conn
    }

    fn with_lookup<T>(conn: &Connection, work: impl FnOnce(&Lookup<'_>) -> T) -> T {
        let ids = crate::params::ParamIds::default();
        work(&Lookup {
            conn,
            ids: &ids,
            committed: true,
        })
    }

    /// The statement of `page` of `q` under the operator's scope, as `search` builds it.
    fn page_statement(conn: &Connection, q: &SearchQuery, page: &PageRequest) -> Sql {
        with_lookup(conn, |lookup| {
            let source =
                statements::page_source(lookup, Sqlite, &Scope::All, FhirVersion::R4, q, page)
                    .unwrap();
            statements::page_sql(Sqlite, source, page, 1_000_000, COLUMNS)
                .unwrap()
                .0
        })
    }

    pub(crate) fn plan(conn: &Connection, sql: &Sql) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
            .unwrap();
        let rows = stmt
            .query_map(params(sql), |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        // Indent each line by its depth in the plan tree.
        let mut depth: Vec<(i64, usize)> = Vec::new();
        let mut out = String::new();
        for (id, parent, detail) in rows {
            let level = depth
                .iter()
                .find(|(i, _)| *i == parent)
                .map_or(0, |(_, l)| l + 1);
            depth.push((id, level));
            out.push_str(&"  ".repeat(level));
            out.push_str(&detail);
            out.push('\n');
        }
        out
    }

    fn token(code: &'static str, system: &str, value: &str) -> Criterion {
        Criterion::param(
            code,
            Test::Token {
                negate: false,
                values: vec![TokenValue::SystemCode(system.into(), value.into())],
            },
        )
    }

    #[track_caller]
    fn check_count(q: SearchQuery, must_use: &[&str]) {
        let conn = conn();
        let sql = with_lookup(&conn, |lookup| {
            count_sql(lookup, Sqlite, &Scope::All, FhirVersion::R4, &q, None).unwrap()
        });
        let plan = plan(&conn, &sql);
        println!("COUNT {q:?}\n{}\n{plan}", sql.text);
        for index in must_use {
            assert!(plan.contains(index), "the plan uses {index}:\n{plan}");
        }
        assert!(
            !plan.contains("history"),
            "a count reads no history:\n{plan}"
        );
    }

    #[track_caller]
    fn check_page(q: SearchQuery, page: PageRequest, must_use: &[&str]) {
        let conn = conn();
        let sql = page_statement(&conn, &q, &page);
        let plan = plan(&conn, &sql);
        println!("PAGE {q:?} sort {:?}\n{}\n{plan}", page.sort, sql.text);
        for index in must_use {
            assert!(plan.contains(index), "the plan uses {index}:\n{plan}");
        }
    }

    #[test]
    fn token_count_uses_the_value_index() {
        check_count(
            SearchQuery::new(
                "Observation",
                vec![token("code", "http://loinc.org", "8480-6")],
            ),
            &["COVERING INDEX idx_token_value"],
        );
    }

    #[test]
    fn token_page_uses_the_value_index() {
        check_page(
            SearchQuery::new(
                "Observation",
                vec![token("code", "http://loinc.org", "8480-6")],
            ),
            PageRequest {
                limit: 20,
                ..PageRequest::default()
            },
            &["idx_token_value"],
        );
    }

    /// A test that fixes the value but not the system, or the id but not the type, still
    /// streams its rows in row order: the first page reads `_count + 1` entries and sorts nothing.
    #[test]
    fn first_pages_stream_in_row_order() {
        let page = PageRequest {
            limit: 20,
            ..PageRequest::default()
        };
        for criterion in [
            Criterion::param(
                "category",
                Test::Token {
                    negate: false,
                    values: vec![TokenValue::Code("laboratory".into())],
                },
            ),
            Criterion::param(
                "patient",
                Test::Reference(vec![ReferenceValue::Local {
                    target_type: None,
                    target_id: "p1".into(),
                }]),
            ),
        ] {
            let q = SearchQuery::new("Observation", vec![criterion]);
            let conn = conn();
            let sql = page_statement(&conn, &q, &page);
            let page_plan = plan(&conn, &sql);
            assert!(
                !page_plan.contains("TEMP B-TREE"),
                "nothing is sorted:\n{page_plan}"
            );
            let sql = with_lookup(&conn, |lookup| {
                count_sql(lookup, Sqlite, &Scope::All, FhirVersion::R4, &q, None).unwrap()
            });
            let count_plan = plan(&conn, &sql);
            assert!(
                !count_plan.contains("TEMP B-TREE"),
                "nothing is sorted:\n{count_plan}"
            );
        }
    }

    /// Under `Scope::All` a page of one name prefix picks its rows from the string index alone,
    /// as the count does: `resource` is read once per row of the page, for its columns, and
    /// never for each match of the prefix.
    #[test]
    fn prefix_pages_pick_rows_from_the_value_index_alone() {
        let q = SearchQuery::new(
            "Patient",
            vec![Criterion::param(
                "name",
                Test::String {
                    mode: StringMatch::Prefix,
                    values: vec!["smi".into()],
                },
            )],
        );
        let page = PageRequest {
            limit: 20,
            ..PageRequest::default()
        };
        let conn = conn();
        let sql = page_statement(&conn, &q, &page);
        let page_plan = plan(&conn, &sql);
        println!("PAGE {}\n{page_plan}", sql.text);
        assert!(page_plan.contains("idx_string_value"), "{page_plan}");
        let resource_reads = page_plan
            .lines()
            .filter(|line| line.contains(" r ") || line.contains("resource"))
            .count();
        assert_eq!(resource_reads, 1, "{page_plan}");
    }

    /// `code-value-quantity` with a code: the code's token entries drive the page in row order,
    /// each probing its own composite rows, so a first page sorts nothing however many
    /// Observations have the code; the count reads the same entries and no resource row.
    #[test]
    fn composite_with_a_token_streams_from_the_token_entries() {
        let over_100 = NumberBound {
            prefix: Prefix::Gt,
            value: 100.0,
            low: 100.0,
            high: 100.0,
        };
        let q = SearchQuery::new(
            "Observation",
            vec![Criterion::param(
                "code-value-quantity",
                Test::Composite(vec![vec![
                    ParamTest {
                        code: "code",
                        test: Test::Token {
                            negate: false,
                            values: vec![TokenValue::SystemCode(
                                "http://loinc.org".into(),
                                "8302-2".into(),
                            )],
                        },
                    },
                    ParamTest {
                        code: "value-quantity",
                        test: Test::Quantity(vec![QuantityBound {
                            number: over_100,
                            system: None,
                            code: None,
                        }]),
                    },
                ]]),
            )],
        );
        let page = PageRequest {
            limit: 20,
            ..PageRequest::default()
        };
        let conn = conn();
        let (page_sql, count) = with_lookup(&conn, |lookup| {
            let source =
                statements::page_source(lookup, Sqlite, &Scope::All, FhirVersion::R4, &q, &page)
                    .unwrap();
            (
                statements::page_sql(Sqlite, source, &page, 1_000_000, COLUMNS)
                    .unwrap()
                    .0,
                count_sql(lookup, Sqlite, &Scope::All, FhirVersion::R4, &q, None).unwrap(),
            )
        });
        let page_plan = plan(&conn, &page_sql);
        println!("PAGE {}\n{page_plan}", page_sql.text);
        assert!(page_plan.contains("idx_token_value"), "{page_plan}");
        assert!(
            page_plan.contains("SEARCH c USING PRIMARY KEY (rid=?)"),
            "each candidate probes its own composite rows:\n{page_plan}"
        );
        assert!(
            !page_plan.contains("TEMP B-TREE"),
            "nothing is sorted:\n{page_plan}"
        );
        let count_plan = plan(&conn, &count);
        println!("COUNT {}\n{count_plan}", count.text);
        assert!(count_plan.contains("idx_token_value"), "{count_plan}");
        assert!(
            !count_plan.contains(" r USING") && !count_plan.contains("SCAN r"),
            "no row of the counted resources is read:\n{count_plan}"
        );
    }

    /// A page of several criteria is driven by the equality's value index in row order, and the
    /// date range is probed per row on its table's primary key, not read as a list first.
    #[test]
    fn multi_criteria_pages_probe_the_other_criteria() {
        let page = PageRequest {
            limit: 20,
            ..PageRequest::default()
        };
        let q = SearchQuery::new(
            "Observation",
            vec![
                Criterion::param(
                    "date",
                    Test::Date(vec![DateBound {
                        prefix: Prefix::Ge,
                        low: 0,
                        high: 86_399_999_999,
                    }]),
                ),
                Criterion::param(
                    "category",
                    Test::Token {
                        negate: false,
                        values: vec![TokenValue::Code("laboratory".into())],
                    },
                ),
            ],
        );
        let conn = conn();
        let sql = page_statement(&conn, &q, &page);
        let plan = plan(&conn, &sql);
        println!("PAGE {q:?}\n{}\n{plan}", sql.text);
        assert!(
            plan.contains("idx_token_value"),
            "driven by the token:\n{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "nothing is sorted:\n{plan}");
        assert!(
            !plan.contains("idx_date_value"),
            "the date is probed by rid:\n{plan}"
        );
    }

    #[test]
    fn string_and_date_use_their_indexes() {
        check_count(
            SearchQuery::new(
                "Patient",
                vec![
                    Criterion::param(
                        "name",
                        Test::String {
                            mode: StringMatch::Prefix,
                            values: vec!["smi".into()],
                        },
                    ),
                    Criterion::param(
                        "birthdate",
                        Test::Date(vec![DateBound {
                            prefix: Prefix::Ge,
                            low: 0,
                            high: 86_399_999_999,
                        }]),
                    ),
                ],
            ),
            // The count walks the prefix's range and probes each resource's dates.
            &["idx_string_value", "SEARCH p USING PRIMARY KEY (rid=?)"],
        );
    }

    /// Under `Scope::All` a count of parameter tests, or of one chain, reads the index tables
    /// alone: the parameter ids fix the type and version, and deleted resources have no rows.
    #[test]
    fn counts_read_no_resource_rows() {
        let gender_male = Criterion::param(
            "gender",
            Test::Token {
                negate: false,
                values: vec![TokenValue::Code("male".into())],
            },
        );
        for q in [
            SearchQuery::new("Observation", vec![token("code", "http://loinc.org", "1")]),
            SearchQuery::new(
                "Observation",
                vec![Criterion::Chain {
                    code: "patient",
                    target_type: "Patient",
                    inner: Box::new(gender_male),
                }],
            ),
        ] {
            let conn = conn();
            let sql = with_lookup(&conn, |lookup| {
                count_sql(lookup, Sqlite, &Scope::All, FhirVersion::R4, &q, Some(10)).unwrap()
            });
            let plan = plan(&conn, &sql);
            println!("COUNT {q:?}\n{}\n{plan}", sql.text);
            assert!(
                !plan.contains(" r USING") && !plan.contains("SCAN r"),
                "no row of the counted resources is read:\n{plan}"
            );
        }
    }

    /// A user's scope with grants is a per-row filter on the resource reached by primary key:
    /// the value index still drives pages and counts, nothing is sorted, no index of `resource`
    /// is scanned, and a per-patient grant probes the compartment table's primary key.
    #[test]
    fn user_scope_stays_index_driven() {
        let scope = user_with_grants();
        let q = SearchQuery::new(
            "Observation",
            vec![
                token("code", "http://loinc.org", "8480-6"),
                Criterion::Chain {
                    code: "subject",
                    target_type: "Patient",
                    inner: Box::new(token("identifier", "http://hospital", "123")),
                },
            ],
        );
        let page = PageRequest {
            limit: 20,
            ..PageRequest::default()
        };
        let conn = conn();
        let (page_sql, count_sql) = with_lookup(&conn, |lookup| {
            let source =
                statements::page_source(lookup, Sqlite, &scope, FhirVersion::R4, &q, &page)
                    .unwrap();
            (
                statements::page_sql(Sqlite, source, &page, 1_000_000, COLUMNS)
                    .unwrap()
                    .0,
                count_sql(lookup, Sqlite, &scope, FhirVersion::R4, &q, None).unwrap(),
            )
        });
        for (what, sql) in [("PAGE", page_sql), ("COUNT", count_sql)] {
            let plan = plan(&conn, &sql);
            println!("{what} under {scope:?}\n{}\n{plan}", sql.text);
            assert!(
                plan.contains("idx_token_value"),
                "driven by the token:\n{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "nothing is sorted:\n{plan}");
            assert!(
                !plan.contains("SCAN r") && !plan.contains("SCAN t"),
                "no resource index is scanned:\n{plan}"
            );
            assert!(
                plan.contains("SEARCH gc USING PRIMARY KEY (rid=? AND patient_id=?)"),
                "the grant probes the compartment's key:\n{plan}"
            );
        }
    }

    /// User 10 of app 1, with a per-patient grant from user 11 and a whole-record grant from
    /// user 12.
    fn user_with_grants() -> Scope {
        Scope::User {
            app: 1,
            user: 10,
            grants: vec![
                hale_store::Grant {
                    owner: 11,
                    patient: Some("p1".into()),
                },
                hale_store::Grant {
                    owner: 12,
                    patient: None,
                },
            ],
        }
    }

    /// A user's count driven by a chain looks up the rows its `rid IN (…)` list names; it never
    /// reads every resource of the type through an index that covers the owner columns.
    #[test]
    fn user_scope_chain_count_looks_up_the_listed_rows() {
        let scope = Scope::User {
            app: 1,
            user: 10,
            grants: Vec::new(),
        };
        let q = SearchQuery::new(
            "Observation",
            vec![Criterion::Chain {
                code: "subject",
                target_type: "Patient",
                inner: Box::new(token("identifier", "http://hospital", "123")),
            }],
        );
        let conn = conn();
        let sql = with_lookup(&conn, |lookup| {
            count_sql(lookup, Sqlite, &scope, FhirVersion::R4, &q, None).unwrap()
        });
        let plan = plan(&conn, &sql);
        let outer = plan.lines().next().unwrap_or("");
        assert!(
            outer.contains("rowid=?") && !outer.contains("resource_owner"),
            "the count looks up the listed rows:\n{}\n{plan}",
            sql.text
        );
    }

    /// A user's search that no criterion narrows (`GET Observation?_count=10`, or only a
    /// negation) reads the scope's owner groups from the owner index: the page merges the
    /// groups in row order and stops, the count adds up the groups' counts, and no index of
    /// `resource` that holds every owner's rows is read.
    #[test]
    fn user_scope_without_criteria_reads_owner_groups() {
        const GROUP_RANGE: &str = "INDEX resource_owner (owner_app=? AND owner_user=? AND fhir_version=? \
                                   AND type=? AND deleted=? AND rowid";
        let scope = user_with_grants();
        let not_laboratory = Criterion::param(
            "category",
            Test::Token {
                negate: true,
                values: vec![TokenValue::Code("laboratory".into())],
            },
        );
        let page = PageRequest {
            limit: 11,
            after: Some(Position {
                keys: Vec::new(),
                row: 7,
            }),
            ..PageRequest::default()
        };
        let conn = conn();
        for q in [
            SearchQuery::new("Observation", vec![]),
            SearchQuery::new("Observation", vec![not_laboratory]),
        ] {
            let (page_sql, count_sql) = with_lookup(&conn, |lookup| {
                let source =
                    statements::page_source(lookup, Sqlite, &scope, FhirVersion::R4, &q, &page)
                        .unwrap();
                (
                    statements::page_sql(Sqlite, source, &page, 1_000_000, COLUMNS)
                        .unwrap()
                        .0,
                    count_sql(lookup, Sqlite, &scope, FhirVersion::R4, &q, Some(1_000_000))
                        .unwrap(),
                )
            });
            for (what, sql) in [("PAGE", page_sql), ("COUNT", count_sql)] {
                let plan = plan(&conn, &sql);
                println!("{what} {q:?} under {scope:?}\n{}\n{plan}", sql.text);
                // Operator data, the user's own, the whole-record grantor's, the per-patient one's.
                assert_eq!(
                    plan.matches(GROUP_RANGE).count(),
                    4,
                    "each owner group is a range of the owner index:\n{plan}"
                );
                assert!(
                    !plan.contains("resource_type_rid") && !plan.contains("SCAN r"),
                    "no index of every owner's rows is read:\n{plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "nothing is sorted:\n{plan}");
                assert!(
                    !plan.contains("idx_token_value"),
                    "the negation probes each row's entries:\n{plan}"
                );
                if what == "PAGE" {
                    assert!(
                        plan.contains("MERGE (UNION ALL)"),
                        "the page merges the groups:\n{plan}"
                    );
                }
            }
        }
    }

    #[test]
    fn chain_uses_the_reference_index() {
        check_count(
            SearchQuery::new(
                "Observation",
                vec![Criterion::Chain {
                    code: "subject",
                    target_type: "Patient",
                    inner: Box::new(token("identifier", "http://hospital", "123")),
                }],
            ),
            &["idx_reference_target", "idx_token_value"],
        );
    }

    #[test]
    fn has_uses_the_reference_index() {
        check_count(
            SearchQuery::new(
                "Patient",
                vec![Criterion::Has {
                    source_type: "Observation",
                    code: "subject",
                    inner: Box::new(token("code", "http://loinc.org", "8480-6")),
                }],
            ),
            &["idx_token_value"],
        );
    }

    #[test]
    fn sorted_page_after_a_position() {
        check_page(
            SearchQuery::new(
                "Observation",
                vec![token("code", "http://loinc.org", "8480-6")],
            ),
            PageRequest {
                sort: vec![SortKey {
                    code: "date",
                    kind: SortKind::Date,
                    descending: true,
                }],
                limit: 20,
                after: Some(Position {
                    keys: vec![SortValue::Int(5)],
                    row: 7,
                }),
                ..PageRequest::default()
            },
            &["idx_token_value"],
        );
    }

    #[test]
    fn all_of_a_type_in_row_order() {
        check_page(
            SearchQuery::new("Observation", vec![]),
            PageRequest {
                limit: 20,
                ..PageRequest::default()
            },
            &["resource_type_rid"],
        );
        check_count(
            SearchQuery::new("Observation", vec![]),
            &["COVERING INDEX resource_type_rid"],
        );
    }

    #[test]
    fn includes_seek_the_reference_index() {
        let conn = conn();
        let sources = vec![ResourceKey {
            resource_type: "Observation".into(),
            id: "o1".into(),
        }];
        for (reverse, include) in [
            (
                false,
                Include {
                    source_type: "Observation",
                    code: Some("subject"),
                    target_type: None,
                    iterate: false,
                },
            ),
            (
                true,
                Include {
                    source_type: "Observation",
                    code: None,
                    target_type: Some("Patient"),
                    iterate: false,
                },
            ),
        ] {
            let sql = with_lookup(&conn, |lookup| {
                include_sql(
                    lookup,
                    Sqlite,
                    &Scope::All,
                    FhirVersion::R4,
                    &include,
                    reverse,
                    &sources,
                )
                .unwrap()
            });
            let plan = plan(&conn, &sql);
            println!(
                "INCLUDE reverse={reverse} {include:?}\n{}\n{plan}",
                sql.text
            );
            assert!(
                !plan.contains("SCAN e"),
                "no scan of idx_reference:\n{plan}"
            );
        }
    }
}
