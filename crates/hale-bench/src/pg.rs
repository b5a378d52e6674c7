//! The PostgreSQL side of the harness: databases it creates on the server `--database` names and
//! drops when done, the marker of a W4 database kept for later runs (`--w4-pg-db`), and the few
//! statements it sends itself (sizes, `VACUUM ANALYZE` after a bulk load).
//!
//! Each call runs on a current-thread Tokio runtime of its own, so that it can be made from the
//! harness's synchronous code and from `Drop`, which runs outside any runtime.

use std::future::Future;

use anyhow::Context as _;
use tokio_postgres::{Client, NoTls};

/// The name every database the harness creates starts with.
pub const DATABASE_PREFIX: &str = "hale_bench_";

/// The table that marks a W4 database whose build finished, as `<file>.w4.json` marks an SQLite
/// one. It lives in the store's database, beside the store's own tables, which never read it.
const MARKER_TABLE: &str = "hale_bench_w4";

/// Runs `future` on a runtime of its own.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime for PostgreSQL")?;
    Ok(runtime.block_on(future))
}

/// Connects to `url` and drives the connection on the current runtime.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", redacted(url)))?;
    tokio::spawn(connection);
    Ok(client)
}

/// The URL with its password, if any, left out: URLs go into the report and the log.
pub fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) if at > scheme.len() => {
            let userinfo = &rest[..at - scheme.len() - 3];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{}", &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The database a URL names: what follows the last `/`, without a query string.
pub fn database_name(url: &str) -> anyhow::Result<&str> {
    let (_, rest) = url
        .split_once("://")
        .with_context(|| format!("{} is not a postgres:// URL", redacted(url)))?;
    let path = rest.split_once('/').map_or("", |(_, path)| path);
    let name = path.split('?').next().unwrap_or("");
    anyhow::ensure!(
        !name.is_empty(),
        "{} names no database (postgres://user@host:port/database)",
        redacted(url)
    );
    Ok(name)
}

/// `url` with the database `name` in place of the one it names, its query string kept.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let current = database_name(url)?;
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path.strip_prefix(current).unwrap_or("");
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// Whether `name` is a plain lower-case identifier, which needs no quoting in `CREATE DATABASE`.
fn plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether the database `name` exists on the server of `admin_url`.
pub fn exists(admin_url: &str, name: &str) -> anyhow::Result<bool> {
    block_on(async {
        let admin = connect(admin_url).await?;
        let row = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?;
        Ok::<_, anyhow::Error>(row.is_some())
    })?
}

/// Creates the database `name` on the server of `admin_url`.
pub fn create(admin_url: &str, name: &str) -> anyhow::Result<()> {
    on_database(admin_url, name, "creating", "CREATE DATABASE {}")
}

/// Drops the database `name`, closing whatever connections it still has.
pub fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    on_database(
        admin_url,
        name,
        "dropping",
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
    )
}

/// Runs `statement` with the database `name` in place of `{}`, on the server of `admin_url`.
/// The name goes into the text as it is (a statement cannot bind it), so only plain names pass.
fn on_database(admin_url: &str, name: &str, doing: &str, statement: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        plain_identifier(name),
        "{name:?} is not a plain lower-case database name"
    );
    block_on(async {
        let admin = connect(admin_url).await?;
        admin
            .batch_execute(&statement.replace("{}", name))
            .await
            .with_context(|| format!("{doing} the database {name}"))
    })?
}

/// The databases on the server whose names start with [`DATABASE_PREFIX`].
pub fn bench_databases(admin_url: &str) -> anyhow::Result<Vec<String>> {
    block_on(async {
        let admin = connect(admin_url).await?;
        let rows = admin
            .query(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
                &[&DATABASE_PREFIX],
            )
            .await?;
        Ok::<_, anyhow::Error>(rows.iter().map(|row| row.get::<_, String>(0)).collect())
    })?
}

/// A database the harness created for one server, dropped (with `WITH (FORCE)`) when this
/// value is.
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    /// Creates a database with a new random name on the server of `admin_url`.
    pub fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("{DATABASE_PREFIX}{:016x}", random_u64());
        create(admin_url, &name)?;
        Ok(FreshDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name)?,
            name,
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Err(e) = drop_database(&self.admin_url, &self.name) {
            crate::progress(format!("could not drop the database {}: {e:#}", self.name));
        }
    }
}

/// A number unlikely to repeat: the clock's nanoseconds and this process's id, mixed.
fn random_u64() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    crate::workload::read::splitmix64(nanos ^ (u64::from(std::process::id()) << 32))
}

/// What the marker of a kept W4 database says.
#[derive(Clone, Debug)]
pub struct Marker {
    /// How the store was made.
    pub description: String,
    /// Resources the build created.
    pub resources: u64,
}

/// The marker of the database at `url`, or `None` when its build did not finish.
pub fn read_marker(url: &str) -> anyhow::Result<Option<Marker>> {
    block_on(async {
        let client = connect(url).await?;
        let table: Option<String> = client
            .query_one("SELECT to_regclass($1)::text", &[&MARKER_TABLE])
            .await?
            .get(0);
        if table.is_none() {
            return Ok(None);
        }
        let row = client
            .query_opt(
                &format!("SELECT description, resources FROM {MARKER_TABLE}"),
                &[],
            )
            .await?;
        Ok::<_, anyhow::Error>(row.map(|row| Marker {
            description: row.get(0),
            resources: row.get::<_, i64>(1) as u64,
        }))
    })?
}

/// Marks the database at `url` as a finished W4 build.
pub fn write_marker(url: &str, marker: &Marker) -> anyhow::Result<()> {
    let resources = marker.resources as i64;
    block_on(async {
        let client = connect(url).await?;
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (description TEXT NOT NULL, resources BIGINT NOT NULL); DELETE FROM {MARKER_TABLE}"
            ))
            .await?;
        client
            .execute(
                &format!("INSERT INTO {MARKER_TABLE} (description, resources) VALUES ($1, $2)"),
                &[
                    &marker.description as &(dyn tokio_postgres::types::ToSql + Sync),
                    &resources,
                ],
            )
            .await?;
        Ok::<_, anyhow::Error>(())
    })?
}

/// `VACUUM ANALYZE` of the whole database at `url`: after a bulk load, it leaves the tables with
/// planner statistics and visibility maps, as autovacuum would on a server that has run a while.
pub fn vacuum_analyze(url: &str) -> anyhow::Result<()> {
    block_on(async {
        let client = connect(url).await?;
        client
            .batch_execute("VACUUM ANALYZE")
            .await
            .context("VACUUM ANALYZE")
    })?
}

/// The size of the database at `url` on disk, bytes.
pub fn database_size(url: &str) -> anyhow::Result<u64> {
    block_on(async {
        let client = connect(url).await?;
        let bytes: i64 = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?
            .get(0);
        Ok::<_, anyhow::Error>(bytes as u64)
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_database() {
        let url = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(database_name(url).ok(), Some("test"));
        assert_eq!(
            with_database(url, "hale_bench_1").ok().as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/hale_bench_1")
        );
        assert_eq!(
            with_database("postgres://u:secret@h/db?sslmode=disable", "other")
                .ok()
                .as_deref(),
            Some("postgres://u:secret@h/other?sslmode=disable")
        );
        assert!(database_name("postgres://h:5432").is_err());
        assert_eq!(redacted("postgres://u:secret@h/db"), "postgres://u@h/db");
        assert_eq!(redacted(url), url);
        assert!(plain_identifier("hale_bench_00ff"));
        assert!(!plain_identifier("x; DROP TABLE y"));
    }
}
