//! [`ResourceStore`] on PostgreSQL, with the SQLite store's semantics and its statements
//! (`hale_store_sql`, in the PostgreSQL dialect).
//!
//! **Writes are serialized cluster-wide.** Every write transaction first takes the advisory lock
//! [`WRITE_LOCK`] (`pg_advisory_xact_lock`, released by its commit or rollback), so that the
//! writes of every process sharing the database run one after another, as SQLite's single writer
//! runs them. Rows (`resource_rid`) and write sequence numbers (`history_seq`) are drawn from
//! their sequences under that lock, hence in commit order: a reader that sees a row sees every
//! lower one, which the paging horizon, `_since` and cursors rely on; and a conditional create's
//! lookup and its insert cannot race another process's. Timestamps grow strictly across
//! transactions: the first one a transaction hands out is after the highest one stored.
//!
//! A write closure is synchronous ([`WriteTx`]'s methods are), so it runs on a blocking thread
//! that drives one pooled connection, waiting for each statement with
//! [`tokio::runtime::Handle::block_on`]; reads run the shared builders the same way, which lets
//! them share the record reader ([`hale_store_sql::record::RecordRows`]) with SQLite. A search or
//! a record page reads one snapshot (`REPEATABLE READ`).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};
use futures::future::Either;
use hale_fhir::{FhirVersion, Instant};
use hale_search::index::IndexEntry;
use hale_search::query::{Include, SearchQuery};
use hale_store::{
    HistoryPage, HistoryQuery, Hit, NewVersion, Owner, PageRequest, Position, RecordMember,
    RecordPage, RecordPageRequest, RecordQuery, Reindexer, ResourceKey, ResourceStore, Scope,
    SearchPage, StoreError, StoredResource, WriteDecision, WriteFn, WriteTx,
};
use hale_store_sql::Dialect::Postgres;
use hale_store_sql::record::{Key, Reader, RecordRows, hit, member_sql, position_key};
use hale_store_sql::reindex::{
    BATCH, BATCH_ROWS, CURRENT_SEQ, FINGERPRINT, RECORD_FINGERPRINT, Rebuilt,
};
use hale_store_sql::scope::COLUMNS;
use hale_store_sql::search as statements;
use hale_store_sql::{ParamLookup, ResourceRow, Sql, Value};
use tokio::runtime::Handle;
use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::pending::{self, Cell, Jsonb, Pending, TsVector};
use crate::{PgStore, backend};

/// The advisory lock every write transaction holds: writes are serialized across processes.
pub const WRITE_LOCK: i64 = 0x4841_4c45_5752_4954; // "HALEWRIT"

/// A statement's parameter, converted to the type PostgreSQL inferred for its placeholder: the
/// shared builders bind integers where a column is `INTEGER`, `SMALLINT` or floating point.
#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(int) => match *ty {
                Type::INT2 => i16::try_from(*int)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*int)?.to_sql(ty, out),
                Type::FLOAT8 => (*int as f64).to_sql(ty, out),
                Type::FLOAT4 => (*int as f32).to_sql(ty, out),
                Type::BOOL => (*int != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => int.to_string().to_sql(ty, out),
                _ => int.to_sql(ty, out),
            },
            Value::Real(real) => match *ty {
                Type::FLOAT4 => (*real as f32).to_sql(ty, out),
                Type::INT8 => (*real as i64).to_sql(ty, out),
                Type::INT4 => (*real as i32).to_sql(ty, out),
                _ => real.to_sql(ty, out),
            },
            Value::Text(text) => text.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A statement of the shared builders without bound values, with numbered placeholders.
fn numbered(text: &str) -> String {
    Sql {
        text: text.to_owned(),
        params: Vec::new(),
    }
    .text_for(Postgres)
    .into_owned()
}

/// A statement of this module's own with owned parameters, for [`Conn::execute_all`].
type Statement = (String, Vec<Cell>);

/// The rows of a statement of the shared builders, on `client`.
async fn rows_of(client: &deadpool_postgres::Object, sql: &Sql) -> Result<Vec<Row>, StoreError> {
    let statement = prepared(client, sql).await?;
    rows_prepared(client, &statement, sql).await
}

/// A statement of the shared builders, prepared on `client` (once per connection).
async fn prepared(
    client: &deadpool_postgres::Object,
    sql: &Sql,
) -> Result<tokio_postgres::Statement, StoreError> {
    client
        .prepare_cached(&sql.text_for(Postgres))
        .await
        .map_err(backend)
}

/// The rows of `statement`, prepared from `sql`, with `sql`'s parameters.
async fn rows_prepared(
    client: &deadpool_postgres::Object,
    statement: &tokio_postgres::Statement,
    sql: &Sql,
) -> Result<Vec<Row>, StoreError> {
    let params: Vec<Param<'_>> = sql.params.iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    client.query(statement, &refs).await.map_err(backend)
}

/// The setting that plans a prepared statement for the values of each execution, as a macro so
/// that statements can embed it.
///
/// PostgreSQL otherwise switches a prepared statement to a generic plan, made for average values,
/// once that plan looks no costlier than the plans for actual values. A search's cost depends on
/// how many rows its values match, which the generic plan cannot know, and at a million
/// resources it was many times slower: 20 ms instead of 2.6 for the count of a patient's
/// Observations with one code. Searches with criteria, their counts and their export pages are
/// therefore planned at every execution, about a millisecond. Reads by id keep the generic
/// plan: planning would triple their cost and could not find a better plan. So do searches
/// without criteria and includes (see [`Plans`]).
macro_rules! custom_plans {
    () => {
        "plan_cache_mode = force_custom_plan"
    };
}

/// The setting that plans a prepared statement once, for any values (see [`Plans::Generic`]).
macro_rules! generic_plans {
    () => {
        "plan_cache_mode = force_generic_plan"
    };
}

/// Begins a read-only snapshot; a plan setting completes it.
macro_rules! begin_snapshot {
    () => {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL "
    };
}

/// Begins a read-only snapshot whose statements are planned for their values.
const BEGIN_SNAPSHOT: &str = concat!(begin_snapshot!(), custom_plans!());

/// Begins a read-only snapshot whose statements are planned once, for any values.
const BEGIN_SNAPSHOT_GENERIC: &str = concat!(begin_snapshot!(), generic_plans!());

/// How PostgreSQL plans the statements of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plans {
    /// One plan, made at the first execution and kept for any values.
    Generic,
    /// A plan for the values of each execution.
    ForValues,
}

impl Plans {
    /// The plans for the statements of `query`.
    ///
    /// A query of one type without criteria reads that type's rows (or one owner's) in row
    /// order along the same index whatever its values are: the resource type, the one value
    /// that would change the plan, is written into the statement (`Dialect::resource_type`).
    /// Its generic plan is then the plan for its values, without the planning, which took
    /// 0.6 ms of the 0.9 ms of a page of ten Conditions at a million resources. Criteria make
    /// the cost depend on how many rows their values match, and need plans for those values.
    fn of(query: &SearchQuery) -> Plans {
        if query.criteria.is_empty() && query.resource_type != "Resource" {
            Plans::Generic
        } else {
            Plans::ForValues
        }
    }

    /// The plans for a count of `query` under `scope`, with a first page in row order when
    /// `page` is given (`None` for a count alone).
    ///
    /// A query whose rows one run of one value index picks
    /// ([`hale_store_sql::plan::one_index_alone`]) is counted along that run whatever its values
    /// are, and its page reads the same entries or fewer: one plan serves every value. Planning
    /// the page and the count of `Patient?name=gulg` took 0.26 ms of the 0.41 ms PostgreSQL
    /// spent on them at a million resources; the plan made once reads the 1,322 names of
    /// `Patient?name=m` in 0.5 ms, where the plan for those values took 1.0 ms after planning.
    /// Under a user's scope, planning was 0.52 ms and executing 0.27 ms of a name prefix, and
    /// the generic plan probes `resource_pkey` (index only) for each entry of the run, as the
    /// plans for values did.
    fn of_count(scope: &Scope, query: &SearchQuery, page: Option<&PageRequest>) -> Plans {
        let counted = page.is_none_or(|page| page.total && page.sort.is_empty());
        if counted && hale_store_sql::plan::one_index_alone(scope, query) {
            Plans::Generic
        } else {
            Plans::of(query)
        }
    }

    /// The statements that begin a snapshot of reads planned this way.
    fn begin(self) -> &'static str {
        match self {
            Plans::Generic => BEGIN_SNAPSHOT_GENERIC,
            Plans::ForValues => BEGIN_SNAPSHOT,
        }
    }

    /// The statement that sets the session to plan statements this way.
    fn set(self) -> &'static str {
        match self {
            Plans::Generic => concat!("SET ", generic_plans!()),
            Plans::ForValues => concat!("SET ", custom_plans!()),
        }
    }
}

/// A pooled connection driven from a blocking thread. It is shared (`Arc`) so that a write
/// transaction can hand inserts to a task that sends them while the closure goes on.
pub(crate) struct Conn {
    client: Arc<deadpool_postgres::Object>,
    runtime: Handle,
}

/// Runs independent statements in one pipeline: all are sent before any answer is awaited, so a
/// resource's dozens of rows cost one round trip, not one each. They run in order on the one
/// connection, inside its transaction.
async fn execute_statements(
    client: &deadpool_postgres::Object,
    statements: &[Statement],
) -> Result<(), StoreError> {
    let runs = statements.iter().map(|(text, params)| async move {
        let statement = client.prepare_cached(text).await.map_err(backend)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        client.execute(&statement, &refs).await.map_err(backend)
    });
    futures::future::try_join_all(runs).await.map(|_| ())
}

/// Sends what a write transaction collected: the `INSERT … VALUES` statements in one pipeline,
/// then each `COPY`.
async fn send_batches(
    client: &deadpool_postgres::Object,
    batches: Vec<pending::Batch>,
) -> Result<(), StoreError> {
    let mut statements = Vec::new();
    let mut copies = Vec::new();
    for batch in batches {
        match batch {
            pending::Batch::Values(text, cells) => statements.push((text, cells)),
            pending::Batch::Copy(text, types, rows) => copies.push((text, types, rows)),
        }
    }
    execute_statements(client, &statements).await?;
    for (text, types, rows) in copies {
        let sink = client.copy_in(text.as_str()).await.map_err(backend)?;
        let writer = BinaryCopyInWriter::new(sink, types);
        futures::pin_mut!(writer);
        for row in &rows {
            let cells: Vec<&(dyn ToSql + Sync)> = row
                .iter()
                .map(|cell| cell.as_ref() as &(dyn ToSql + Sync))
                .collect();
            writer.as_mut().write(&cells).await.map_err(backend)?;
        }
        writer.finish().await.map_err(backend)?;
    }
    Ok(())
}

impl Conn {
    /// The rows of a statement of the shared builders.
    fn query(&self, sql: &Sql) -> Result<Vec<Row>, StoreError> {
        self.runtime.block_on(rows_of(&self.client, sql))
    }

    /// Runs a statement of this module's own.
    fn execute(&self, text: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        self.runtime.block_on(async {
            let statement = self.client.prepare_cached(text).await.map_err(backend)?;
            self.client.query(&statement, params).await.map_err(backend)
        })
    }

    /// Runs independent statements of this module's own in one pipeline.
    fn execute_all(&self, statements: &[Statement]) -> Result<(), StoreError> {
        if statements.is_empty() {
            return Ok(());
        }
        self.runtime
            .block_on(execute_statements(&self.client, statements))
    }

    /// Sends collected inserts and waits for them.
    fn send(&self, batches: Vec<pending::Batch>) -> Result<(), StoreError> {
        self.runtime.block_on(send_batches(&self.client, batches))
    }

    /// Starts sending collected inserts on a task of the runtime and returns at once, so that
    /// the server stores them while the write closure prepares the next ones. The requests queue
    /// on the connection in the order they are made: whatever waits for the task first (see
    /// `Tx::settle`) sees them done.
    fn send_early(
        &self,
        batches: Vec<pending::Batch>,
    ) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { send_batches(&client, batches).await })
    }

    fn batch(&self, text: &str) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.client.batch_execute(text))
            .map_err(backend)
    }

    fn resources(&self, sql: &Sql) -> Result<Vec<StoredResource>, StoreError> {
        self.query(sql)?.iter().map(resource).collect()
    }

    fn count_of(&self, sql: &Sql) -> Result<u64, StoreError> {
        count_in(&self.query(sql)?)
    }

    /// Runs `work` on one snapshot, with its statements planned for their values.
    fn snapshot<T>(&self, work: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.batch(BEGIN_SNAPSHOT)?;
        self.end_snapshot(work())
    }

    /// Runs `work` on one snapshot with the horizon of a page: `first`, the horizon of the page
    /// the search began with, or else the snapshot's own, read in the round trip that begins it.
    fn snapshot_at<T>(
        &self,
        first: Option<i64>,
        work: impl FnOnce(i64) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(horizon) = first {
            return self.snapshot(|| work(horizon));
        }
        match self.begin_at_horizon() {
            Ok(horizon) => self.end_snapshot(work(horizon)),
            Err(e) => {
                // The snapshot may have begun before what failed; the connection goes back to
                // the pool outside any transaction.
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Begins a snapshot and reads its horizon, in one round trip.
    fn begin_at_horizon(&self) -> Result<i64, StoreError> {
        self.runtime.block_on(async {
            let statement = horizon_statement(&self.client).await?;
            let (begun, horizon) = tokio::join!(
                self.client.batch_execute(Plans::ForValues.begin()),
                horizon_of(&self.client, statement),
            );
            begun.map_err(backend)?;
            horizon
        })
    }

    /// Commits a snapshot after `result`, or rolls it back after an error.
    fn end_snapshot<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let ended = self.batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let value = result?;
        ended?;
        Ok(value)
    }

    /// The highest row number committed.
    fn horizon(&self) -> Result<i64, StoreError> {
        let rows = self.execute(statements::HORIZON, &[])?;
        rows[0].try_get(0).map_err(backend)
    }
}

impl RecordRows for Conn {
    fn keys(&self, sql: &Sql) -> Result<Vec<Key>, StoreError> {
        self.query(sql)?
            .iter()
            .map(|row| {
                Ok(Key {
                    resource_type: row.try_get(0).map_err(backend)?,
                    id: row.try_get(1).map_err(backend)?,
                    rid: row.try_get(2).map_err(backend)?,
                })
            })
            .collect()
    }

    fn count(&self, sql: &Sql) -> Result<u64, StoreError> {
        self.count_of(sql)
    }
}

/// Reads a search page, and its count when `count` is given, in one snapshot and in one
/// round trip: the snapshot's `BEGIN`, the reading of its horizon when `first` is `None`, the
/// page, the count and the `COMMIT` go out together, and the answers come back together.
/// A first page's statements must not bound rows by the horizon they do not know yet; they
/// need not, since the snapshot that reads the horizon holds no row beyond it.
///
/// After an error the snapshot is aborted, the statements after it fail, and the `COMMIT`
/// rolls it back, so the connection goes back to the pool outside any transaction.
async fn page_and_count(
    client: &deadpool_postgres::Object,
    first: Option<i64>,
    page: &Sql,
    count: Option<&Sql>,
    plans: Plans,
) -> Result<(Vec<Row>, i64, Option<u64>), StoreError> {
    // A statement's execution goes out when its preparation has answered, which would be
    // after the `COMMIT`, so the horizon's, the page's and the count's statements are
    // prepared first (a round trip only the first time this connection sees them).
    let horizon = match first {
        Some(horizon) => Either::Left(std::future::ready(Ok(horizon))),
        None => Either::Right(horizon_of(client, horizon_statement(client).await?)),
    };
    let page_statement = prepared(client, page).await?;
    let count_statement = match count {
        Some(sql) => Some((prepared(client, sql).await?, sql)),
        None => None,
    };
    // `join!` polls in order, and each request is sent when first polled, so they reach
    // the server in this order.
    let (begun, horizon, rows, counted, ended) = tokio::join!(
        client.batch_execute(plans.begin()),
        horizon,
        rows_prepared(client, &page_statement, page),
        async {
            match &count_statement {
                Some((statement, sql)) => {
                    count_in(&rows_prepared(client, statement, sql).await?).map(Some)
                }
                None => Ok(None),
            }
        },
        client.batch_execute("COMMIT"),
    );
    begun.map_err(backend)?;
    let (horizon, rows, counted) = (horizon?, rows?, counted?);
    ended.map_err(backend)?;
    Ok((rows, horizon, counted))
}

/// The statement that reads a snapshot's horizon, prepared on `client` (once per connection).
///
/// It has no parameters, so PostgreSQL plans it once, whatever `plan_cache_mode` says; sent as a
/// simple query with the `BEGIN`, it was planned at every search (about 0.1 ms under `pgbench`).
async fn horizon_statement(
    client: &deadpool_postgres::Object,
) -> Result<tokio_postgres::Statement, StoreError> {
    client
        .prepare_cached(statements::HORIZON)
        .await
        .map_err(backend)
}

/// The rows of a search statement (a count, an include, an export page) on `client`, planned as
/// `plans` says.
async fn planned_rows(
    client: &deadpool_postgres::Object,
    sql: &Sql,
    plans: Plans,
) -> Result<Vec<Row>, StoreError> {
    // The statement is prepared first, so that the three go out in this order in one pipeline
    // and the statement runs between the two settings.
    let statement = prepared(client, sql).await?;
    let (set, rows, reset) = tokio::join!(
        client.batch_execute(plans.set()),
        rows_prepared(client, &statement, sql),
        client.batch_execute("RESET plan_cache_mode"),
    );
    set.map_err(backend)?;
    reset.map_err(backend)?;
    rows
}

/// The horizon `statement` (see [`horizon_statement`]) reads.
async fn horizon_of(
    client: &deadpool_postgres::Object,
    statement: tokio_postgres::Statement,
) -> Result<i64, StoreError> {
    let rows = client.query(&statement, &[]).await.map_err(backend)?;
    rows.first()
        .ok_or_else(|| StoreError::Backend("the horizon statement answered no row".into()))?
        .try_get(0)
        .map_err(backend)
}

/// The number a `count(*)` statement selected.
fn count_in(rows: &[Row]) -> Result<u64, StoreError> {
    let n: i64 = rows
        .first()
        .map_or(Ok(0), |row| row.try_get(0))
        .map_err(backend)?;
    Ok(n as u64)
}

/// Reads a row selected with [`COLUMNS`].
fn resource(row: &Row) -> Result<StoredResource, StoreError> {
    let get = |e| backend(e);
    let json: Vec<u8> = row.try_get(9).map_err(get)?;
    Ok(ResourceRow {
        fhir_version: row.try_get(0).map_err(get)?,
        resource_type: row.try_get(1).map_err(get)?,
        id: row.try_get(2).map_err(get)?,
        version_id: row.try_get(3).map_err(get)?,
        last_updated: row.try_get(4).map_err(get)?,
        method: row.try_get(5).map_err(get)?,
        seq: row.try_get(6).map_err(get)?,
        owner_app: row.try_get(7).map_err(get)?,
        owner_user: row.try_get(8).map_err(get)?,
        json: Bytes::from(json),
    }
    .into())
}

/// A column of any type the builders select, as a shared value.
fn value(row: &Row, idx: usize) -> Result<Value, StoreError> {
    let found = match *row.columns()[idx].type_() {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(idx)
            .map(|v| v.map(Value::Integer)),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(idx)
            .map(|v| v.map(|v| Value::Integer(v.into()))),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(idx)
            .map(|v| v.map(|v| Value::Integer(v.into()))),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(idx)
            .map(|v| v.map(Value::Real)),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(idx)
            .map(|v| v.map(|v| Value::Real(v.into()))),
        _ => row
            .try_get::<_, Option<String>>(idx)
            .map(|v| v.map(Value::Text)),
    };
    Ok(found.map_err(backend)?.unwrap_or(Value::Null))
}

/// `(fhir_version, resource type, code)`.
type ParamKey = (String, String, String);

/// The committed search parameter ids this process has seen. Ids come from a sequence and are
/// never deleted, so a committed one stays right forever.
#[derive(Default)]
pub(crate) struct ParamIds {
    committed: RwLock<HashMap<ParamKey, i64>>,
}

impl ParamIds {
    fn cached(&self, key: &ParamKey) -> Option<i64> {
        self.committed.read().ok()?.get(key).copied()
    }

    fn remember(&self, found: impl IntoIterator<Item = (ParamKey, i64)>) {
        if let Ok(mut committed) = self.committed.write() {
            committed.extend(found);
        }
    }
}

fn param_key(fhir_version: &str, resource_type: &str, code: &str) -> ParamKey {
    (
        fhir_version.to_owned(),
        resource_type.to_owned(),
        code.to_owned(),
    )
}

/// How the planner finds ids on a connection: committed ones are shared, those of a write
/// transaction only once it commits.
struct Lookup<'a> {
    conn: &'a Conn,
    ids: &'a ParamIds,
    committed: bool,
}

impl Lookup<'_> {
    fn ids(&self, text: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<i64>, StoreError> {
        self.conn
            .execute(text, params)?
            .iter()
            .map(|row| row.try_get::<_, i32>(0).map(i64::from).map_err(backend))
            .collect()
    }
}

impl ParamLookup for Lookup<'_> {
    fn one(
        &self,
        fhir_version: &str,
        resource_type: &str,
        code: &str,
    ) -> Result<Option<i64>, StoreError> {
        let key = param_key(fhir_version, resource_type, code);
        if let Some(id) = self.ids.cached(&key) {
            return Ok(Some(id));
        }
        let found = self
            .ids(
                "SELECT id FROM search_param WHERE fhir_version = $1 AND type = $2 AND code = $3",
                &[&fhir_version, &resource_type, &code],
            )?
            .first()
            .copied();
        if let (Some(id), true) = (found, self.committed) {
            self.ids.remember([(key, id)]);
        }
        Ok(found)
    }

    fn every_type(&self, fhir_version: &str, code: &str) -> Result<Vec<i64>, StoreError> {
        self.ids(
            "SELECT id FROM search_param WHERE fhir_version = $1 AND code = $2 ORDER BY id",
            &[&fhir_version, &code],
        )
    }

    fn every_code(&self, fhir_version: &str, resource_type: &str) -> Result<Vec<i64>, StoreError> {
        self.ids(
            "SELECT id FROM search_param WHERE fhir_version = $1 AND type = $2",
            &[&fhir_version, &resource_type],
        )
    }
}

impl PgStore {
    /// Runs `work` with a pooled connection on a blocking thread.
    async fn with_conn<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn, &ParamIds) -> Result<T, StoreError> + Send + 'static,
    {
        let client = self.client().await?;
        let ids = self.params.clone();
        let runtime = Handle::current();
        tokio::task::spawn_blocking(move || {
            let conn = Conn {
                client: Arc::new(client),
                runtime,
            };
            work(&conn, &ids)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a PostgreSQL task failed: {e}")))?
    }

    /// The first resource a statement selects. A read by id or version needs no parameter
    /// lookups, so it runs here on the async side rather than on a blocking thread: the most
    /// frequent request skips the hand-over.
    async fn one_resource(&self, sql: &Sql) -> Result<Option<StoredResource>, StoreError> {
        let client = self.client().await?;
        rows_of(&client, sql)
            .await?
            .first()
            .map(resource)
            .transpose()
    }

    /// The rows of a read statement that `build` makes, planned as `plans` says. The statement
    /// is built on a blocking thread, since a parameter id this process has not seen yet takes
    /// a query ([`Lookup`]), and runs here on the async side: its rows reach the connection's
    /// task a socket read at a time, and on a blocking thread waiting in `block_on` each read
    /// woke that thread again. Reading a bulk export's pages here took its server CPU from
    /// 3.8 to 2.2 µs a resource, and its throughput from 181,000 to 232,000 resources/s.
    async fn built_rows<F>(&self, plans: Plans, build: F) -> Result<Vec<Row>, StoreError>
    where
        F: FnOnce(&Lookup<'_>) -> Result<Sql, StoreError> + Send + 'static,
    {
        let sql = self
            .with_conn(move |conn, ids| build(&reader(conn, ids)))
            .await?;
        let client = self.client().await?;
        planned_rows(&client, &sql, plans).await
    }

    /// Runs `work` in one write transaction under [`WRITE_LOCK`], committing what it decides.
    async fn transaction<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<(WriteDecision, T), StoreError> + Send + 'static,
    {
        let (value, inserted) = self
            .with_conn(move |conn, ids| {
                conn.batch("BEGIN")?;
                let mut tx = Tx {
                    conn,
                    ids,
                    new_params: HashMap::new(),
                    last_micros: None,
                    numbers: None,
                    rows: Pending::default(),
                    known: HashMap::new(),
                    inserted: 0,
                    in_flight: Vec::new(),
                };
                let result = conn
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                    .and_then(|_| {
                        catch_unwind(AssertUnwindSafe(|| work(&mut tx))).unwrap_or_else(|_| {
                            Err(StoreError::Backend("a write closure panicked".into()))
                        })
                    });
                match result {
                    Ok((WriteDecision::Commit, value)) => match tx.finish() {
                        Ok(()) => {
                            conn.batch("COMMIT")?;
                            ids.remember(tx.new_params.drain());
                            Ok((value, tx.inserted))
                        }
                        Err(e) => {
                            let _ = tx.settle();
                            let _ = conn.batch("ROLLBACK");
                            Err(e)
                        }
                    },
                    Ok((WriteDecision::Rollback, value)) => {
                        let _ = tx.settle();
                        conn.batch("ROLLBACK")?;
                        Ok((value, 0))
                    }
                    Err(e) => {
                        let _ = tx.settle();
                        let _ = conn.batch("ROLLBACK");
                        Err(e)
                    }
                }
            })
            .await?;
        self.statistics.wrote(inserted, &self.pool);
        Ok(value)
    }

    /// Records the fingerprint of this build's index extraction in a database without resources.
    pub(crate) async fn record_fingerprint_if_empty(&self) -> Result<(), StoreError> {
        self.with_conn(|conn, _| {
            conn.execute(
                "INSERT INTO meta (key, value) SELECT 'index_fingerprint', $1 \
                 WHERE NOT EXISTS (SELECT 1 FROM resource) ON CONFLICT (key) DO NOTHING",
                &[&hale_search::index::fingerprint()],
            )
            .map(|_| ())
        })
        .await
    }
}

/// A write transaction as a write closure sees it.
///
/// Its inserts wait in `rows` until something reads (see [`Tx::flush`]) or the transaction
/// commits, so that a Bundle or an import chunk reaches the server in a few round trips rather
/// than several per resource. Row and write sequence numbers come from blocks this transaction
/// reserves (see [`Numbers`]).
pub(crate) struct Tx<'a> {
    conn: &'a Conn,
    ids: &'a ParamIds,
    /// Parameter ids this transaction assigned or read, shared once it commits.
    new_params: HashMap<ParamKey, i64>,
    last_micros: Option<i64>,
    numbers: Option<Numbers>,
    /// Inserts not yet sent.
    rows: Pending,
    /// What this transaction knows of the rows of resources it looked at or wrote.
    known: HashMap<ResourceKeyOwned, Known>,
    /// Resources this transaction added, for [`crate::statistics::Statistics`].
    inserted: u64,
    /// Inserts sent early, still on their way (see [`Tx::settle`]).
    in_flight: Vec<tokio::task::JoinHandle<Result<(), StoreError>>>,
}

/// `(fhir_version, resource type, id)`.
type ResourceKeyOwned = (FhirVersion, String, String);

/// What a transaction knows of a resource's row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    /// There is none: a put inserts one without looking.
    Absent,
    /// Row `rid`, as the server has it.
    Sent(i64),
    /// Row `rid`, with inserts still in [`Tx::rows`].
    Waiting(i64),
}

/// The next row and write sequence numbers of a transaction.
///
/// Writers hold [`WRITE_LOCK`] from their first statement to their commit, so no other
/// transaction draws from `resource_rid` or `history_seq` meanwhile. A transaction therefore
/// draws once from each, hands out the numbers after the drawn one itself, and moves the sequence
/// past the last one it used just before committing (`setval`). A rollback leaves the sequence at
/// the drawn number; the numbers handed out above it belonged to rows that are gone.
struct Numbers {
    next_seq: i64,
    next_rid: i64,
    /// The drawn numbers, to tell whether the sequences must move.
    drawn: (i64, i64),
}

impl Tx<'_> {
    fn lookup(&self) -> Lookup<'_> {
        Lookup {
            conn: self.conn,
            ids: self.ids,
            committed: false,
        }
    }

    /// Sends every waiting insert, so that what follows reads them.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.rows.is_empty() && self.in_flight.is_empty() {
            return Ok(());
        }
        self.settle()?;
        if !self.rows.is_empty() {
            self.conn.send(self.rows.take())?;
        }
        for known in self.known.values_mut() {
            if let Known::Waiting(rid) = *known {
                *known = Known::Sent(rid);
            }
        }
        Ok(())
    }

    /// Waits for the inserts sent early, and fails with the first error among them. Nothing may
    /// be read, committed or rolled back before: a `ROLLBACK` overtaking them would leave their
    /// rows to run outside the transaction.
    fn settle(&mut self) -> Result<(), StoreError> {
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let handles = std::mem::take(&mut self.in_flight);
        let results = self
            .conn
            .runtime
            .block_on(futures::future::join_all(handles));
        results.into_iter().try_for_each(|result| {
            result.map_err(|e| StoreError::Backend(format!("sending rows failed: {e}")))?
        })
    }

    /// Sends what waits and moves the sequences past the numbers used, before the commit.
    fn finish(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        if let Some(numbers) = &self.numbers {
            let mut moves: Vec<Statement> = Vec::new();
            for (sequence, next, drawn) in [
                ("history_seq", numbers.next_seq, numbers.drawn.0),
                ("resource_rid", numbers.next_rid, numbers.drawn.1),
            ] {
                if next - 1 > drawn {
                    moves.push((
                        format!("SELECT setval('{sequence}', $1)"),
                        vec![Box::new(next - 1)],
                    ));
                }
            }
            self.conn.execute_all(&moves)?;
        }
        Ok(())
    }

    fn numbers(&mut self) -> Result<&mut Numbers, StoreError> {
        if self.numbers.is_none() {
            let rows = self.conn.execute(
                "SELECT nextval('history_seq'), nextval('resource_rid')",
                &[],
            )?;
            let (seq, rid): (i64, i64) = (
                rows[0].try_get(0).map_err(backend)?,
                rows[0].try_get(1).map_err(backend)?,
            );
            self.numbers = Some(Numbers {
                next_seq: seq,
                next_rid: rid,
                drawn: (seq, rid),
            });
        }
        Ok(self.numbers.as_mut().expect("set above"))
    }

    fn next_seq(&mut self) -> Result<i64, StoreError> {
        let numbers = self.numbers()?;
        numbers.next_seq += 1;
        Ok(numbers.next_seq - 1)
    }

    fn next_rid(&mut self) -> Result<i64, StoreError> {
        let numbers = self.numbers()?;
        numbers.next_rid += 1;
        Ok(numbers.next_rid - 1)
    }

    /// Sends the waiting inserts if some are of `key`'s resource, whose rows a read is about to
    /// look at; other resources' inserts can wait, as no read of this resource sees them.
    fn flush_for(&mut self, key: &ResourceKeyOwned) -> Result<(), StoreError> {
        match self.known.get(key) {
            Some(Known::Waiting(_)) => self.flush(),
            _ => Ok(()),
        }
    }

    /// The id of a parameter, assigned now if no row was ever written with it.
    fn param_id(
        &mut self,
        fhir_version: &str,
        resource_type: &str,
        code: &str,
    ) -> Result<i64, StoreError> {
        let key = param_key(fhir_version, resource_type, code);
        if let Some(id) = self
            .ids
            .cached(&key)
            .or_else(|| self.new_params.get(&key).copied())
        {
            return Ok(id);
        }
        let id = match self.lookup().one(fhir_version, resource_type, code)? {
            Some(id) => id,
            None => {
                let rows = self.conn.execute(
                    "INSERT INTO search_param (fhir_version, type, code) VALUES ($1, $2, $3) \
                     RETURNING id",
                    &[&fhir_version, &resource_type, &code],
                )?;
                i64::from(rows[0].try_get::<_, i32>(0).map_err(backend)?)
            }
        };
        self.new_params.insert(key, id);
        Ok(id)
    }

    /// The row of a resource, from what this transaction knows or from the server.
    fn rid_of(&mut self, key: &ResourceKeyOwned) -> Result<Option<i64>, StoreError> {
        match self.known.get(key) {
            Some(Known::Absent) => return Ok(None),
            Some(Known::Sent(rid) | Known::Waiting(rid)) => return Ok(Some(*rid)),
            None => {}
        }
        let rows = self.conn.execute(
            "SELECT rid FROM resource WHERE fhir_version = $1 AND type = $2 AND id = $3",
            &[&key.0.as_str(), &key.1, &key.2],
        )?;
        rows.first()
            .map(|row| row.try_get(0).map_err(backend))
            .transpose()
    }

    /// The statements that remove every index row, the full text and the compartment rows of a
    /// resource.
    fn delete_index_statements(rid: i64) -> impl Iterator<Item = Statement> {
        hale_store_sql::plan::ENTRY_TABLES
            .iter()
            .chain(&["full_text", "compartment"])
            .map(move |table| {
                let params: Vec<Cell> = vec![Box::new(rid)];
                (format!("DELETE FROM {table} WHERE rid = $1"), params)
            })
    }

    /// Removes every index row, the full text and the compartment rows of a resource, whose
    /// inserts must not be waiting (they would arrive after the deletes).
    fn delete_index(&self, rid: i64) -> Result<(), StoreError> {
        let statements: Vec<Statement> = Self::delete_index_statements(rid).collect();
        self.conn.execute_all(&statements)
    }

    /// Collects the index entries, full text and compartments of a resource.
    fn insert_index(
        &mut self,
        rid: i64,
        fhir_version: &str,
        resource_type: &str,
        id: &str,
        entries: &[IndexEntry],
        compartments: &[String],
    ) -> Result<(), StoreError> {
        let mut patients: Vec<&String> = compartments.iter().collect();
        // The compartment's key is (rid, patient): one row per Patient.
        patients.sort_unstable();
        patients.dedup();
        for patient in patients {
            self.rows.push(
                &pending::COMPARTMENT,
                vec![
                    Box::new(rid),
                    Box::new(patient.clone()),
                    Box::new(resource_type.to_owned()),
                    Box::new(id.to_owned()),
                ],
            );
        }
        for (ord, entry) in entries.iter().enumerate() {
            if matches!(entry.code(), "_id" | "_lastUpdated" | "_content" | "_text") {
                continue;
            }
            let param = self.param_id(fhir_version, resource_type, entry.code())? as i32;
            let mut cells: Vec<Cell> = vec![Box::new(rid), Box::new(ord as i32), Box::new(param)];
            let table = match entry {
                IndexEntry::String {
                    normalized, exact, ..
                } => {
                    cells.push(Box::new(normalized.clone()));
                    cells.push(Box::new(exact.clone()));
                    &pending::STRING
                }
                IndexEntry::Token {
                    system,
                    value,
                    text,
                    of_type,
                    ..
                } => {
                    cells.push(Box::new(system.clone()));
                    cells.push(Box::new(value.clone()));
                    cells.push(Box::new(text.clone()));
                    cells.push(Box::new(of_type.clone()));
                    &pending::TOKEN
                }
                IndexEntry::Reference {
                    target_type,
                    target_id,
                    url,
                    version,
                    ..
                } => {
                    cells.push(Box::new(target_type.clone()));
                    cells.push(Box::new(target_id.clone()));
                    cells.push(Box::new(url.clone()));
                    cells.push(Box::new(version.clone()));
                    &pending::REFERENCE
                }
                IndexEntry::Date { low, high, .. } => {
                    cells.push(Box::new(*low));
                    cells.push(Box::new(*high));
                    &pending::DATE
                }
                IndexEntry::Number {
                    value, low, high, ..
                } => {
                    cells.push(Box::new(*value));
                    cells.push(Box::new(*low));
                    cells.push(Box::new(*high));
                    &pending::NUMBER
                }
                IndexEntry::Quantity {
                    value,
                    low,
                    high,
                    system,
                    unit,
                    ..
                } => {
                    cells.push(Box::new(*value));
                    cells.push(Box::new(*low));
                    cells.push(Box::new(*high));
                    cells.push(Box::new(system.clone()));
                    cells.push(Box::new(unit.clone()));
                    &pending::QUANTITY
                }
                IndexEntry::Uri { value, .. } => {
                    cells.push(Box::new(value.clone()));
                    &pending::URI
                }
                IndexEntry::Text { .. } => continue,
                IndexEntry::Composite { components, .. } => {
                    cells.push(Box::new(Jsonb(hale_store_sql::plan::composite_json(
                        components,
                    ))));
                    &pending::COMPOSITE
                }
            };
            self.rows.push(table, cells);
        }
        let text_of = |wanted: &str| {
            entries.iter().find_map(|entry| match entry {
                IndexEntry::Text { code, text } if *code == wanted => Some(text.as_str()),
                _ => None,
            })
        };
        let (content, narrative) = (text_of("_content"), text_of("_text"));
        if content.is_some() || narrative.is_some() {
            let lexeme = hale_store_sql::plan::type_lexeme(resource_type);
            self.rows.push(
                &pending::FULL_TEXT,
                vec![
                    Box::new(rid),
                    Box::new(TsVector::of(content, &lexeme)),
                    Box::new(TsVector::of(narrative, &lexeme)),
                ],
            );
        }
        Ok(())
    }
}

impl WriteTx for Tx<'_> {
    fn now(&mut self) -> Instant {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let last = match self.last_micros {
            Some(last) => last,
            // Under the write lock no other process writes: the highest stored time is the last.
            None => self
                .conn
                .execute("SELECT coalesce(max(last_updated), 0) FROM history", &[])
                .ok()
                .and_then(|rows| rows.first().and_then(|row| row.try_get(0).ok()))
                .unwrap_or(0),
        };
        let micros = wall.max(last + 1);
        self.last_micros = Some(micros);
        Instant(micros)
    }

    fn current(
        &mut self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let key = (fhir_version, resource_type.to_owned(), id.to_owned());
        self.flush_for(&key)?;
        let sql =
            hale_store_sql::scope::resource_version(scope, fhir_version, resource_type, id, None);
        let found = self.conn.resources(&sql)?.into_iter().next();
        // In every scope there is no row: a put may insert one without looking again.
        if found.is_none() && matches!(scope, Scope::All) {
            self.known.insert(key, Known::Absent);
        }
        Ok(found)
    }

    fn find(
        &mut self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        self.flush()?;
        let sql = statements::find(&self.lookup(), Postgres, scope, fhir_version, query, limit)?;
        self.conn.resources(&sql)
    }

    fn put(&mut self, version: NewVersion) -> Result<i64, StoreError> {
        let key = (
            version.fhir_version,
            version.resource_type.to_owned(),
            version.id.clone(),
        );
        // A second version of a resource within the transaction: its first one's index rows
        // must be on the server before they are deleted.
        self.flush_for(&key)?;
        let existing = if version.known_new {
            None
        } else {
            self.rid_of(&key)?
        };
        let seq = self.next_seq()?;
        let owner_app = version.owner.map(|o| o.app);
        let owner_user = version.owner.and_then(|o| o.user);
        let deleted = i16::from(version.is_delete());
        let version_id = version.version_id as i64;
        let last_updated = version.last_updated.0;
        let rid = match existing {
            Some(rid) => {
                let update: Statement = (
                    "UPDATE resource SET owner_app = $1, owner_user = $2, version_id = $3, \
                     last_updated = $4, deleted = $5, seq = $6 WHERE rid = $7"
                        .to_owned(),
                    vec![
                        Box::new(owner_app),
                        Box::new(owner_user),
                        Box::new(version_id),
                        Box::new(last_updated),
                        Box::new(deleted),
                        Box::new(seq),
                        Box::new(rid),
                    ],
                );
                let statements: Vec<Statement> = std::iter::once(update)
                    .chain(Self::delete_index_statements(rid))
                    .collect();
                self.conn.execute_all(&statements)?;
                rid
            }
            None => {
                let rid = self.next_rid()?;
                self.inserted += 1;
                self.rows.push(
                    &pending::RESOURCE,
                    vec![
                        Box::new(rid),
                        Box::new(version.fhir_version.as_str()),
                        Box::new(version.resource_type),
                        Box::new(version.id.clone()),
                        Box::new(owner_app),
                        Box::new(owner_user),
                        Box::new(version_id),
                        Box::new(last_updated),
                        Box::new(deleted),
                        Box::new(seq),
                    ],
                );
                rid
            }
        };
        self.rows.push(
            &pending::HISTORY,
            vec![
                Box::new(seq),
                Box::new(rid),
                Box::new(version_id),
                Box::new(last_updated),
                Box::new(version.method.as_str()),
                Box::new(version.json.to_vec()),
            ],
        );
        // A deleted resource has no index rows, whatever the caller passed: counts rely on it.
        if deleted == 0 {
            self.insert_index(
                rid,
                version.fhir_version.as_str(),
                version.resource_type,
                &version.id,
                &version.index,
                &version.compartments,
            )?;
        }
        self.known.insert(key, Known::Waiting(rid));
        let waiting = self.rows.len();
        if waiting >= pending::EARLY_ROWS
            || (waiting >= pending::IDLE_ROWS && self.in_flight.iter().all(|h| h.is_finished()))
        {
            let batches = self.rows.take();
            self.in_flight.push(self.conn.send_early(batches));
        }
        Ok(seq)
    }

    fn record_members(
        &mut self,
        fhir_version: FhirVersion,
        patient: &str,
    ) -> Result<Vec<RecordMember>, StoreError> {
        self.flush()?;
        let mut members = Vec::new();
        let statements = hale_store_sql::record::member_statements(
            &self.lookup(),
            Postgres,
            fhir_version,
            patient,
        )?;
        for sql in statements {
            for row in self.conn.query(&sql)? {
                let owner_app: Option<i64> = row.try_get(2).map_err(backend)?;
                members.push(RecordMember {
                    resource_type: row.try_get(0).map_err(backend)?,
                    id: row.try_get(1).map_err(backend)?,
                    owner: owner_app.map(|app| Owner {
                        app,
                        user: row.try_get(3).ok().flatten(),
                    }),
                    shared: row.try_get(4).map_err(backend)?,
                });
            }
        }
        Ok(members)
    }

    fn purge(
        &mut self,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let key = (fhir_version, resource_type.to_owned(), id.to_owned());
        self.flush_for(&key)?;
        let Some(rid) = self.rid_of(&key)? else {
            return Ok(());
        };
        // Rows come from a sequence and are never handed out again, so the row goes whole.
        let statements: Vec<Statement> = Self::delete_index_statements(rid)
            .chain(
                [
                    "DELETE FROM history WHERE rid = $1",
                    "DELETE FROM resource WHERE rid = $1",
                ]
                .into_iter()
                .map(|text| {
                    let params: Vec<Cell> = vec![Box::new(rid)];
                    (text.to_owned(), params)
                }),
            )
            .collect();
        self.conn.execute_all(&statements)?;
        self.known.insert(key, Known::Absent);
        Ok(())
    }
}

fn reader<'a>(conn: &'a Conn, ids: &'a ParamIds) -> Lookup<'a> {
    Lookup {
        conn,
        ids,
        committed: true,
    }
}

#[async_trait::async_trait]
impl ResourceStore for PgStore {
    async fn write(&self, work: WriteFn) -> Result<(), StoreError> {
        self.transaction(move |tx| Ok((work(tx), ()))).await
    }

    async fn read(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let sql =
            hale_store_sql::scope::resource_version(scope, fhir_version, resource_type, id, None);
        self.one_resource(&sql).await
    }

    async fn vread(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
        version_id: u64,
    ) -> Result<Option<StoredResource>, StoreError> {
        let sql = hale_store_sql::scope::resource_version(
            scope,
            fhir_version,
            resource_type,
            id,
            Some(version_id),
        );
        self.one_resource(&sql).await
    }

    async fn history(
        &self,
        scope: &Scope,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, StoreError> {
        let (count_sql, page) = hale_store_sql::history::history(Postgres, scope, query);
        self.with_conn(move |conn, _| {
            conn.snapshot(|| {
                Ok(HistoryPage {
                    total: conn.count_of(&count_sql)?,
                    versions: conn.resources(&page)?,
                })
            })
        })
        .await
    }

    async fn find(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let plans = Plans::of(query);
        let (scope, query) = (scope.clone(), query.clone());
        self.built_rows(plans, move |lookup| {
            statements::find(lookup, Postgres, &scope, fhir_version, &query, limit)
        })
        .await?
        .iter()
        .map(resource)
        .collect()
    }

    async fn search(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        page: &PageRequest,
    ) -> Result<SearchPage, StoreError> {
        let plans = Plans::of_count(scope, query, Some(page));
        let (scope, query, page) = (scope.clone(), query.clone(), page.clone());
        let sort = page.sort.clone();
        let first = page.horizon;
        let (sql, backwards, count) = self
            .with_conn(move |conn, ids| {
                let lookup = reader(conn, ids);
                let source = statements::page_source(
                    &lookup,
                    Postgres,
                    &scope,
                    fhir_version,
                    &query,
                    &page,
                )?;
                // See `page_and_count` for why a first page is not bounded.
                let bound = page.horizon.unwrap_or(i64::MAX);
                let (sql, backwards) =
                    statements::page_sql(Postgres, source, &page, bound, COLUMNS)?;
                let count = if page.total {
                    Some(statements::count(
                        &lookup,
                        Postgres,
                        &scope,
                        fhir_version,
                        &query,
                        page.horizon,
                    )?)
                } else {
                    None
                };
                Ok((sql, backwards, count))
            })
            .await?;
        let client = self.client().await?;
        let (rows, horizon, total) =
            page_and_count(&client, first, &sql, count.as_ref(), plans).await?;
        let mut hits = Vec::new();
        for row in rows {
            let mut keys = Vec::with_capacity(sort.len());
            for (idx, key) in sort.iter().enumerate() {
                keys.push(hale_store_sql::plan::sort_value(
                    key.kind,
                    value(&row, 11 + idx)?,
                ));
            }
            hits.push(Hit {
                resource: resource(&row)?,
                position: Position {
                    keys,
                    row: row.try_get(10).map_err(backend)?,
                },
            });
        }
        if backwards {
            hits.reverse();
        }
        Ok(SearchPage {
            hits,
            horizon,
            total,
        })
    }

    async fn count(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        horizon: Option<i64>,
    ) -> Result<u64, StoreError> {
        let plans = Plans::of_count(scope, query, None);
        let (scope, query) = (scope.clone(), query.clone());
        let rows = self
            .built_rows(plans, move |lookup| {
                statements::count(lookup, Postgres, &scope, fhir_version, &query, horizon)
            })
            .await?;
        count_in(&rows)
    }

    async fn include(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        include: &Include,
        reverse: bool,
        sources: &[ResourceKey],
    ) -> Result<Vec<StoredResource>, StoreError> {
        let (scope, include, sources) = (scope.clone(), *include, sources.to_vec());
        // An include seeks its targets by row (`Dialect::in_few`) from a JSON list whose length
        // no plan knows, so its generic plan is the plan for any values. Planning it took 4.3 ms
        // of the 10 ms that ten Patients' Encounters took at a million resources.
        self.built_rows(Plans::Generic, move |lookup| {
            statements::include(
                lookup,
                Postgres,
                &scope,
                fhir_version,
                &include,
                reverse,
                &sources,
            )
        })
        .await?
        .iter()
        .map(resource)
        .collect()
    }

    async fn cuts(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        horizon: i64,
        every: usize,
    ) -> Result<(u64, Vec<i64>), StoreError> {
        let plans = Plans::of(query);
        let (scope, query) = (scope.clone(), query.clone());
        let every = every.max(1) as u64;
        let rows = self
            .built_rows(plans, move |lookup| {
                statements::cuts(lookup, Postgres, &scope, fhir_version, &query, horizon)
            })
            .await?;
        let (mut n, mut cuts) = (0_u64, Vec::new());
        for row in rows {
            n += 1;
            if n % every == 0 {
                cuts.push(row.try_get(0).map_err(backend)?);
            }
        }
        Ok((n, cuts))
    }

    async fn export_rows(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        after: i64,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Bytes)>, StoreError> {
        let plans = Plans::of(query);
        let (scope, query) = (scope.clone(), query.clone());
        self.built_rows(plans, move |lookup| {
            statements::export_rows(
                lookup,
                Postgres,
                &scope,
                fhir_version,
                &query,
                after,
                upto,
                limit,
            )
        })
        .await?
        .iter()
        .map(|row| {
            let json: &[u8] = row.try_get(0).map_err(backend)?;
            Ok((
                row.try_get(1).map_err(backend)?,
                Bytes::copy_from_slice(json),
            ))
        })
        .collect()
    }

    async fn horizon(&self) -> Result<i64, StoreError> {
        self.with_conn(|conn, _| conn.horizon()).await
    }

    async fn record(
        &self,
        scope: &Scope,
        query: &RecordQuery,
        page: &RecordPageRequest,
    ) -> Result<RecordPage, StoreError> {
        let (scope, query, page) = (scope.clone(), query.clone(), page.clone());
        self.with_conn(move |conn, ids| {
            conn.snapshot_at(page.horizon, |horizon| {
                let reader = Reader::new(&reader(conn, ids), Postgres, &scope, &query, horizon)?;
                let after = page.after.as_ref().map(position_key).transpose()?;
                let (keys, total) = reader.page(conn, &page, after.as_ref())?;
                let mut hits = Vec::with_capacity(keys.len());
                for key in keys {
                    let mut sql = Sql {
                        text: member_sql(),
                        params: Vec::new(),
                    };
                    sql.params.push(Value::Integer(key.rid));
                    let resource =
                        conn.resources(&sql)?.into_iter().next().ok_or_else(|| {
                            StoreError::Backend("a record member vanished".into())
                        })?;
                    hits.push(hit(resource, key));
                }
                let directory = if page.directory {
                    conn.resources(&reader.directory_sql())?
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
        })
        .await
    }

    async fn count_by_type(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let sql = hale_store_sql::history::count_by_type(Postgres, scope, fhir_version);
        self.with_conn(move |conn, _| {
            let mut counts = Vec::new();
            for row in conn.query(&sql)? {
                let n: i64 = row.try_get(1).map_err(backend)?;
                if n > 0 {
                    counts.push((row.try_get(0).map_err(backend)?, n as u64));
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn operator_seq(
        &self,
        fhir_version: FhirVersion,
        types: &[&str],
    ) -> Result<i64, StoreError> {
        let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
        self.with_conn(move |conn, _| {
            let mut highest = 0;
            for resource_type in types {
                let sql = Sql {
                    text: hale_store_sql::history::OPERATOR_SEQ.to_owned(),
                    params: vec![
                        Value::Text(fhir_version.as_str().to_owned()),
                        Value::Text(resource_type),
                    ],
                };
                let seq: Option<i64> = conn.query(&sql)?[0].try_get(0).map_err(backend)?;
                highest = highest.max(seq.unwrap_or(0));
            }
            Ok(highest)
        })
        .await
    }

    async fn operator_resources(
        &self,
        fhir_version: FhirVersion,
        resource_type: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Bytes)>, StoreError> {
        let sql = Sql {
            text: hale_store_sql::history::operator_resources(Postgres),
            params: vec![
                Value::Text(fhir_version.as_str().to_owned()),
                Value::Text(resource_type.to_owned()),
                Value::Integer(after),
                Value::Integer(limit as i64),
            ],
        };
        self.with_conn(move |conn, _| {
            conn.query(&sql)?
                .iter()
                .map(|row| {
                    let json: Vec<u8> = row.try_get(1).map_err(backend)?;
                    Ok((row.try_get(0).map_err(backend)?, Bytes::from(json)))
                })
                .collect()
        })
        .await
    }

    async fn index_fingerprint(&self) -> Result<Option<String>, StoreError> {
        self.with_conn(|conn, _| {
            let rows = conn.execute(FINGERPRINT, &[])?;
            rows.first()
                .map(|row| row.try_get(0).map_err(backend))
                .transpose()
        })
        .await
    }

    async fn reindex(&self, reindexer: Reindexer, fingerprint: &str) -> Result<u64, StoreError> {
        let (mut after, mut total) = (0_i64, 0_u64);
        loop {
            let extract = reindexer.clone();
            let batch: Vec<Rebuilt> = self
                .with_conn(move |conn, _| {
                    let rows = conn.execute(&numbered(BATCH_ROWS), &[&after, &BATCH])?;
                    rows.iter()
                        .map(|row| {
                            let get = |idx| row.try_get::<_, String>(idx).map_err(backend);
                            let json: Vec<u8> = row.try_get(5).map_err(backend)?;
                            let key = (
                                row.try_get(0).map_err(backend)?,
                                row.try_get(1).map_err(backend)?,
                                get(2)?,
                                get(3)?,
                                get(4)?,
                            );
                            Ok(Rebuilt::new(key, &json, &extract))
                        })
                        .collect()
                })
                .await?;
            let Some(last) = batch.last() else { break };
            after = last.rid;
            total += batch.len() as u64;
            self.transaction(move |tx| {
                for resource in batch {
                    let seq: Option<i64> = tx
                        .conn
                        .execute(&numbered(CURRENT_SEQ), &[&resource.rid])?
                        .first()
                        .and_then(|row| row.try_get(0).ok());
                    // Written again since it was read: its rows are this build's already.
                    if seq != Some(resource.seq) {
                        continue;
                    }
                    tx.delete_index(resource.rid)?;
                    tx.insert_index(
                        resource.rid,
                        &resource.fhir_version,
                        &resource.resource_type,
                        &resource.id,
                        &resource.index,
                        &resource.compartments,
                    )?;
                }
                Ok((WriteDecision::Commit, ()))
            })
            .await?;
        }
        let fingerprint = fingerprint.to_owned();
        self.transaction(move |tx| {
            tx.conn
                .execute(&numbered(RECORD_FINGERPRINT), &[&fingerprint])?;
            Ok((WriteDecision::Commit, ()))
        })
        .await?;
        Ok(total)
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.with_conn(|conn, _| conn.batch("SELECT 1")).await
    }
}

/// The contract suite, on a fresh database each.
#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use hale_store::ResourceStore;

    async fn fresh() -> Option<Arc<dyn ResourceStore>> {
        let url = crate::testing::fresh_database().await?;
        match crate::PgStore::connect(crate::PgConfig::new(url)).await {
            Ok(store) => Some(Arc::new(store)),
            Err(e) => panic!("opening a fresh store: {e}"),
        }
    }

    hale_store::store_contract_tests!(match fresh().await {
        Some(store) => store,
        None => return,
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use hale_fhir::FhirVersion;
    use hale_search::query::SearchQuery;
    use hale_store::{ResourceStore, Scope};
    use hale_store_sql::Dialect::Postgres;
    use hale_store_sql::search as statements;
    use tokio_postgres::types::ToSql;

    use hale_search::query::{Criterion, SortKey, SortKind, StringMatch, Test};
    use hale_store::PageRequest;

    use super::{Param, Plans, reader};
    use crate::testing;

    /// The lines of `EXPLAIN` of a statement of the shared builders.
    async fn explain(client: &tokio_postgres::Client, sql: &hale_store_sql::Sql) -> Vec<String> {
        let params: Vec<Param<'_>> = sql.params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        testing::explain(client, &sql.text_for(Postgres), &refs).await
    }

    fn name_prefix(prefix: &str) -> SearchQuery {
        SearchQuery::new(
            "Patient",
            vec![Criterion::param(
                "name",
                Test::String {
                    mode: StringMatch::Prefix,
                    values: vec![prefix.into()],
                },
            )],
        )
    }

    /// A first page and count that one run of one value index answers are planned once for any
    /// values; anything that may read otherwise for other values is planned for its values.
    #[test]
    fn one_run_of_one_index_is_planned_once() {
        let first = PageRequest {
            limit: 10,
            total: true,
            ..PageRequest::default()
        };
        let query = name_prefix("gulg");
        assert_eq!(
            Plans::of_count(&Scope::All, &query, Some(&first)),
            Plans::Generic
        );
        assert_eq!(Plans::of_count(&Scope::All, &query, None), Plans::Generic);
        // Without the count, a plan for the values may stop early where the run is long.
        let later = PageRequest {
            total: false,
            ..first.clone()
        };
        assert_eq!(
            Plans::of_count(&Scope::All, &query, Some(&later)),
            Plans::ForValues
        );
        // Sorted by a key, the page is not read along the run.
        let sorted = PageRequest {
            sort: vec![SortKey {
                code: "birthdate",
                kind: SortKind::Date,
                descending: false,
            }],
            ..first.clone()
        };
        assert_eq!(
            Plans::of_count(&Scope::All, &query, Some(&sorted)),
            Plans::ForValues
        );
        // A scope of owners probes each match's row, as many probes whatever the values; a
        // grant adds compartment tests, and a second criterion is probed per match.
        assert_eq!(
            Plans::of_count(&Scope::App(7), &query, Some(&first)),
            Plans::Generic
        );
        let user = Scope::User {
            app: 7,
            user: 8,
            grants: Vec::new(),
        };
        assert_eq!(Plans::of_count(&user, &query, Some(&first)), Plans::Generic);
        let granted = Scope::User {
            app: 7,
            user: 8,
            grants: vec![hale_store::Grant {
                owner: 9,
                patient: None,
            }],
        };
        assert_eq!(
            Plans::of_count(&granted, &query, Some(&first)),
            Plans::ForValues
        );
        let mut two = query.clone();
        two.criteria.push(name_prefix("smi").criteria.remove(0));
        assert_eq!(
            Plans::of_count(&Scope::All, &two, Some(&first)),
            Plans::ForValues
        );
    }

    /// Under `Scope::All` a first page of a name prefix and its count pick their rows from the
    /// string index alone (`idx_string_value` includes `rid`, migration 0009): neither reads
    /// `resource` for each match, and the page and total are right.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prefix_pages_read_the_value_index_alone() {
        let Some(store) = testing::fresh_store().await else {
            return;
        };
        let client = store.client().await.unwrap();
        // 4,000 Patients named `<letter>x<n>`; `bx` is the prefix of every 26th from rid 1.
        testing::insert_resources(&client, 4000, "'Patient'", None).await;
        client
            .batch_execute(
                "INSERT INTO search_param (fhir_version, type, code) VALUES ('r4', 'Patient', 'name'); \
                 INSERT INTO idx_string (rid, ord, param, normalized, exact) \
                 SELECT n, 0, (SELECT id FROM search_param WHERE code = 'name'), \
                 chr(97 + n % 26) || 'x' || n, 'x' FROM generate_series(1, 4000) n",
            )
            .await
            .unwrap();
        testing::settle_for_plans(&client, &["resource", "history", "idx_string"]).await;
        let query = name_prefix("bx");
        let first = PageRequest {
            limit: 10,
            total: true,
            ..PageRequest::default()
        };
        let (built, page) = (query.clone(), first.clone());
        let (page_sql, count_sql) = store
            .with_conn(move |conn, ids| {
                let lookup = reader(conn, ids);
                let source = statements::page_source(
                    &lookup,
                    Postgres,
                    &Scope::All,
                    FhirVersion::R4,
                    &built,
                    &page,
                )?;
                let (page_sql, _) =
                    statements::page_sql(Postgres, source, &page, i64::MAX, super::COLUMNS)?;
                let count_sql = statements::count(
                    &lookup,
                    Postgres,
                    &Scope::All,
                    FhirVersion::R4,
                    &built,
                    None,
                )?;
                Ok((page_sql, count_sql))
            })
            .await
            .unwrap();
        for sql in [&page_sql, &count_sql] {
            let plan = explain(&client, sql).await;
            assert!(
                plan.iter()
                    .any(|line| line.contains("Index Only Scan using idx_string_value")),
                "{plan:#?}"
            );
            // The page reads `resource` by key for its ten rows' columns, nothing else.
            assert!(
                !plan.iter().any(|line| line.contains("resource_type_rid")),
                "{plan:#?}"
            );
        }

        let found = store
            .search(&Scope::All, FhirVersion::R4, &query, &first)
            .await
            .unwrap();
        let rows: Vec<i64> = found.hits.iter().map(|hit| hit.position.row).collect();
        assert_eq!(rows, (0..10).map(|k| 1 + 26 * k).collect::<Vec<_>>());
        assert_eq!(found.total, Some(154));
    }

    /// A bulk export page of one type reads the type's rows and their `seq` from
    /// `resource_type_rid` alone (migration 0007) and probes `history` by `seq`, never the key of
    /// `resource`; and it selects the rows after the previous page, in row order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn export_pages_read_the_type_index_alone() {
        let Some(store) = testing::fresh_store().await else {
            return;
        };
        let client = store.client().await.unwrap();
        testing::insert_resources(
            &client,
            4000,
            "CASE WHEN n % 2 = 0 THEN 'Observation' ELSE 'Patient' END",
            None,
        )
        .await;
        testing::settle_for_plans(&client, &["resource", "history"]).await;
        let query = SearchQuery::new("Observation", Vec::new());
        let (scope, built) = (Scope::All, query.clone());
        let sql = store
            .with_conn(move |conn, ids| {
                statements::export_rows(
                    &reader(conn, ids),
                    Postgres,
                    &scope,
                    FhirVersion::R4,
                    &built,
                    100,
                    4000,
                    10,
                )
            })
            .await
            .unwrap();
        let plan = explain(&client, &sql).await;
        assert!(
            plan.iter()
                .any(|line| line.contains("Index Only Scan using resource_type_rid")),
            "{plan:#?}"
        );
        assert!(
            !plan.iter().any(|line| line.contains("resource_pkey")),
            "{plan:#?}"
        );

        let page = store
            .export_rows(&Scope::All, FhirVersion::R4, &query, 100, 4000, 10)
            .await
            .unwrap();
        let rows: Vec<i64> = page.iter().map(|(row, _)| *row).collect();
        assert_eq!(rows, (51..=60).map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(&page[0].1[..], b"{\"n\":102}");
    }
}
