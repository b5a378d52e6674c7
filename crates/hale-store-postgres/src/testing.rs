//! Fresh databases for tests, on the PostgreSQL server named by `HALE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`).
//!
//! Each call creates a new database with a random name, so tests never see each other's data.
//! Where no server answers, a test is skipped with a note, except under CI (`CI` set), where a
//! missing server is a failure: CI must never pass by skipping the PostgreSQL suites.

use tokio_postgres::NoTls;

/// The variable naming the server tests use.
pub const TEST_SERVER_VAR: &str = "HALE_TEST_POSTGRES";

/// The server tests use when the variable is not set.
pub const DEFAULT_TEST_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The URL of a new, empty database, or `None` (outside CI) when no server answers.
///
/// # Panics
/// Under CI when the server does not answer, and when creating the database fails.
pub async fn fresh_database() -> Option<String> {
    let admin = std::env::var(TEST_SERVER_VAR).unwrap_or_else(|_| DEFAULT_TEST_SERVER.into());
    let client = match tokio_postgres::connect(&admin, NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL at {admin} is required under CI: {e}"
            );
            eprintln!("skipped: no PostgreSQL at {admin} ({e}); set {TEST_SERVER_VAR}");
            return None;
        }
    };
    let name = format!("hale_test_{:016x}", rand::random::<u64>());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    Some(format!("{base}/{name}"))
}

/// Most connections a test's store opens. Tests run side by side against one server, whose
/// default limit is 100 connections, so each keeps to a few.
pub const TEST_POOL_SIZE: usize = 8;

/// A store on a new, empty database, or `None` (outside CI) when no server answers.
///
/// # Panics
/// As [`fresh_database`], and when connecting or migrating fails.
pub async fn fresh_store() -> Option<crate::PgStore> {
    let url = fresh_database().await?;
    Some(store_at(&url).await)
}

/// A store on the test database at `url`; a second call on one URL stands for a second process.
///
/// # Panics
/// When connecting or migrating fails.
pub async fn store_at(url: &str) -> crate::PgStore {
    let config = crate::PgConfig {
        pool_size: TEST_POOL_SIZE,
        ..crate::PgConfig::new(url)
    };
    crate::PgStore::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database {url}: {e}"))
}

/// Inserts rows 1 to `n` of `resource`, each resource at its first and current version (`seq` is
/// the row, the id `r` and the row, the JSON `{"n":row}` in `history`), of the type the SQL
/// expression `type_of_n` gives for row `n`, owned by `owner` (app, user) or by the operator.
///
/// # Panics
/// When a statement fails.
pub async fn insert_resources(
    client: &tokio_postgres::Client,
    n: i64,
    type_of_n: &str,
    owner: Option<(i64, i64)>,
) {
    let (app, user) = (owner.map(|o| o.0), owner.map(|o| o.1));
    client
        .execute(
            &format!(
                "INSERT INTO resource (rid, fhir_version, type, id, owner_app, owner_user, \
                 version_id, last_updated, deleted, seq) \
                 SELECT n, 'r4', {type_of_n}, 'r' || n, $2, $3, 1, 0, 0, n \
                 FROM generate_series(1, $1::bigint) n"
            ),
            &[&n, &app, &user],
        )
        .await
        .unwrap_or_else(|e| panic!("inserting resources: {e}"));
    client
        .execute(
            "INSERT INTO history (seq, rid, version_id, last_updated, method, json) \
             SELECT n, n, 1, 0, 'POST', convert_to('{\"n\":' || n || '}', 'UTF8') \
             FROM generate_series(1, $1::bigint) n",
            &[&n],
        )
        .await
        .unwrap_or_else(|e| panic!("inserting history: {e}"));
}

/// Readies `tables` for checking a statement's plan: `VACUUM ANALYZE` marks their pages
/// all-visible, which an index-only scan needs, and the session stops choosing sequential and
/// bitmap scans, which win on tables as small as a test's.
///
/// # Panics
/// When a statement fails.
pub async fn settle_for_plans(client: &tokio_postgres::Client, tables: &[&str]) {
    // VACUUM cannot run in the implicit transaction of a batch of statements.
    for table in tables {
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await
            .unwrap_or_else(|e| panic!("vacuuming {table}: {e}"));
    }
    client
        .batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .await
        .unwrap_or_else(|e| panic!("setting the scans off: {e}"));
}

/// The lines of `EXPLAIN` of the statement `text` with `params`.
///
/// # Panics
/// When the statement fails.
pub async fn explain(
    client: &tokio_postgres::Client,
    text: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<String> {
    client
        .query(&format!("EXPLAIN {text}"), params)
        .await
        .unwrap_or_else(|e| panic!("explaining {text}: {e}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}
