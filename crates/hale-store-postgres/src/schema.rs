//! Migrations, embedded in the binary and applied in order on connect.

use hale_store::StoreError;

use crate::backend;

/// The migrations, in order; the table `schema_version` records how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_resources.sql"),
    include_str!("../migrations/0002_identity_jobs.sql"),
    include_str!("../migrations/0003_history_lz4.sql"),
    include_str!("../migrations/0004_resource_count.sql"),
    include_str!("../migrations/0005_covering_rows.sql"),
    include_str!("../migrations/0006_full_text_type.sql"),
    include_str!("../migrations/0007_type_rows_seq.sql"),
    include_str!("../migrations/0008_covering_ids.sql"),
    include_str!("../migrations/0009_value_rows.sql"),
    include_str!("../migrations/0010_full_text_words.sql"),
];

/// How many migrations this build has.
#[cfg(test)]
pub(crate) const MIGRATION_COUNT: usize = MIGRATIONS.len();

/// The advisory lock that serializes migrations of processes starting at once.
const MIGRATION_LOCK: i64 = 0x4841_4c45_4d49_4752; // "HALEMIGR"

/// Applies the migrations the database does not have yet, each in its own transaction, holding
/// an advisory lock so that two processes never apply one twice.
pub(crate) async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    // The lock comes first: two concurrent `CREATE TABLE IF NOT EXISTS` can both try to create.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend)?;
    let result = apply(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend)?;
    result
}

async fn apply(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await
        .map_err(backend)?;
    let applied: i64 = client
        .query_one("SELECT count(*) FROM schema_version", &[])
        .await
        .map_err(backend)?
        .get(0);
    let applied = applied as usize;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {applied}, newer than this binary's {}",
            MIGRATIONS.len()
        )));
    }
    for (idx, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = client.transaction().await.map_err(backend)?;
        tx.batch_execute(sql).await.map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&((idx + 1) as i32)],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
    }
    Ok(())
}
