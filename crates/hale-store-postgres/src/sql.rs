//! Running statements: each is prepared once per pooled connection (deadpool's statement cache)
//! and its errors become [`StoreError`]s. The helpers take any [`GenericClient`], so the same
//! code runs on a pooled connection or inside a transaction.

use deadpool_postgres::GenericClient;
use hale_store::StoreError;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSqlOwned, ToSql};

use crate::backend;

/// The parameters of a statement.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The rows `sql` returns.
pub(crate) async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(backend)?;
    client.query(&statement, params).await.map_err(backend)
}

/// The row `sql` returns, if any; more than one is an error.
pub(crate) async fn query_opt(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(backend)?;
    client.query_opt(&statement, params).await.map_err(backend)
}

/// Runs `sql`; how many rows it changed.
pub(crate) async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(backend)?;
    client.execute(&statement, params).await.map_err(backend)
}

/// Column `idx` of `row`: a column of another type than the schema's is an error, not a panic.
pub(crate) fn get<T: FromSqlOwned>(row: &Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx).map_err(backend)
}
