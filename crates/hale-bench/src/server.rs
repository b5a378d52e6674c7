//! The server under test, in this process: the real `hale-server` application over a fresh
//! store (an SQLite file in a temporary folder, or a PostgreSQL database the harness creates and
//! drops), or, for W4, over a database kept between runs, on its own two-thread Tokio runtime,
//! listening on `127.0.0.1:0`.
//!
//! It differs from `hale serve` in one way only: [`hale_server::app_with`] adds the fixed
//! [`CEILING_PATH`] route, which passes through the same middleware as the FHIR routes and so
//! measures what the HTTP stack alone can serve. The stores are wired as `hale serve` wires them
//! for `--database sqlite:…` and `--database postgres://…`: one backend value serves resources
//! and identity alike.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use hale_engine::Engine;
use hale_fhir::FhirVersion;
use hale_server::{AppState, HttpConfig};
use hale_store::{ResourceStore, Scope};
use hale_store_postgres::{PgConfig, PgStore};
use hale_store_sqlite::{SqliteConfig, SqliteStore};
use tokio::sync::oneshot;

use crate::pg;

/// The path of the fixed-body route.
pub const CEILING_PATH: &str = "/__bench/ceiling";

/// The size of the fixed body.
pub const CEILING_BODY_BYTES: usize = 1024;

/// Worker threads of the server's runtime.
pub const SERVER_WORKER_THREADS: usize = 2;

/// The store a server runs over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (WAL), the default.
    Sqlite,
    /// A database on a PostgreSQL server. `admin_url` names a database on that server through
    /// which the harness creates (and drops) databases of its own; it never writes to that one.
    Postgres {
        /// `postgres://user@host:port/database`.
        admin_url: String,
    },
}

impl Backend {
    /// `sqlite` or `postgres`, as the report's JSON names the backend.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// `SQLite` or `PostgreSQL`, for people.
    pub fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres { .. } => "PostgreSQL",
        }
    }

    /// How a server over this backend runs, for the report.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite => format!(
                "hale-server in process on a {SERVER_WORKER_THREADS}-thread Tokio runtime, SQLite (WAL, synchronous=FULL) in a temporary folder"
            ),
            Backend::Postgres { admin_url } => format!(
                "hale-server in process on a {SERVER_WORKER_THREADS}-thread Tokio runtime, PostgreSQL (a fresh database per run on the server of {}, pool of {} connections, the server on the same machine)",
                pg::redacted(admin_url),
                PgConfig::new("").pool_size,
            ),
        }
    }
}

/// Where the database of a [`BenchServer`] lives.
pub enum Database {
    /// An SQLite file in a temporary folder, removed with the server.
    SqliteTemporary(tempfile::TempDir),
    /// An SQLite file the caller named, kept afterwards.
    SqliteKept(PathBuf),
    /// A PostgreSQL database the harness created, dropped with the server.
    PostgresFresh(pg::FreshDatabase),
    /// A PostgreSQL database the caller named, kept afterwards.
    PostgresKept(String),
}

impl Database {
    /// A fresh, empty database on `backend`: a file in a temporary folder, or a new PostgreSQL
    /// database.
    pub fn fresh(backend: &Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => Ok(Database::SqliteTemporary(
                tempfile::Builder::new().prefix("hale-bench-").tempdir()?,
            )),
            Backend::Postgres { admin_url } => Ok(Database::PostgresFresh(
                pg::FreshDatabase::create(admin_url)?,
            )),
        }
    }

    /// The SQLite file, for an SQLite database.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self {
            Database::SqliteTemporary(dir) => Some(dir.path().join("hale.db")),
            Database::SqliteKept(path) => Some(path.clone()),
            Database::PostgresFresh(_) | Database::PostgresKept(_) => None,
        }
    }

    /// The connection URL, for a PostgreSQL database.
    pub fn postgres_url(&self) -> Option<&str> {
        match self {
            Database::PostgresFresh(db) => Some(db.url()),
            Database::PostgresKept(url) => Some(url),
            Database::SqliteTemporary(_) | Database::SqliteKept(_) => None,
        }
    }

    /// The `--database` argument `hale serve` takes for this database.
    pub fn serve_argument(&self) -> String {
        match (self.sqlite_path(), self.postgres_url()) {
            (Some(path), _) => format!("sqlite:{}", path.display()),
            (None, Some(url)) => url.to_owned(),
            (None, None) => unreachable!("a database is either SQLite or PostgreSQL"),
        }
    }
}

/// The store of one database, whichever backend holds it, as `hale serve`'s `Stores` keeps it.
#[derive(Clone)]
enum Stores {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Stores {
    /// Opens the store of `database`; PostgreSQL connects (and migrates) on `runtime`, whose
    /// threads then drive its connections.
    fn open(
        database: &Database,
        synchronous_full: bool,
        runtime: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Self> {
        if let Some(path) = database.sqlite_path() {
            let mut config = SqliteConfig::new(path);
            config.synchronous_full = synchronous_full;
            let store = SqliteStore::open(config).context("opening the SQLite store")?;
            return Ok(Stores::Sqlite(Arc::new(store)));
        }
        let url = database
            .postgres_url()
            .context("a database is either SQLite or PostgreSQL")?;
        // The pool `hale serve --database postgres://…` opens.
        let store = runtime
            .block_on(PgStore::connect(PgConfig::new(url)))
            .map_err(|e| anyhow::anyhow!("opening the PostgreSQL store: {e}"))?;
        Ok(Stores::Postgres(Arc::new(store)))
    }

    fn resources(&self) -> Arc<dyn ResourceStore> {
        match self {
            Stores::Sqlite(store) => store.clone(),
            Stores::Postgres(store) => store.clone(),
        }
    }

    fn identity(&self) -> Arc<dyn hale_auth::IdentityStore> {
        match self {
            Stores::Sqlite(store) => store.clone(),
            Stores::Postgres(store) => store.clone(),
        }
    }

    /// Commits what SQLite's writer holds and stops its threads; PostgreSQL commits each write
    /// before answering and has no threads of its own.
    fn shutdown(&self) {
        if let Stores::Sqlite(store) = self {
            store.shutdown();
        }
    }
}

/// A running server and the store it owns.
pub struct BenchServer {
    runtime: tokio::runtime::Runtime,
    stores: Stores,
    engine: Engine,
    synchronous_full: bool,
    addr: SocketAddr,
    /// `Bearer` and the operator token.
    operator: HeaderValue,
    /// `Bearer` and an access token of a user of a bench app, minted through the token
    /// exchange a client uses.
    user: HeaderValue,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Dropped last: the database may live in it, and a fresh PostgreSQL database is dropped
    // only once the server no longer uses it.
    location: Database,
}

impl BenchServer {
    /// Starts a server over a fresh, empty SQLite store in a temporary folder, with the
    /// durability `hale serve` defaults to (`synchronous=FULL`).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_fresh(&Backend::Sqlite)
    }

    /// Starts a server over a fresh, empty store on `backend`, SQLite with the durability
    /// `hale serve` defaults to (`synchronous=FULL`).
    pub fn start_fresh(backend: &Backend) -> anyhow::Result<Self> {
        Self::start_on(Database::fresh(backend)?, true)
    }

    /// Starts a server over the SQLite file at `path`, creating it if absent and keeping it
    /// afterwards. `synchronous_full` as in [`SqliteConfig`].
    pub fn start_at(path: &Path, synchronous_full: bool) -> anyhow::Result<Self> {
        Self::start_on(Database::SqliteKept(path.to_owned()), synchronous_full)
    }

    /// Starts a server over a fresh SQLite store in a temporary folder, `synchronous_full` as in
    /// [`SqliteConfig`].
    pub fn start_temporary(synchronous_full: bool) -> anyhow::Result<Self> {
        Self::start_on(Database::fresh(&Backend::Sqlite)?, synchronous_full)
    }

    /// Starts a server over `database`, which it owns from then on. `synchronous_full` as in
    /// [`SqliteConfig`]; PostgreSQL ignores it.
    pub fn start_on(database: Database, synchronous_full: bool) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_WORKER_THREADS)
            .thread_name("hale-bench-server")
            .enable_all()
            .build()?;
        let stores = Stores::open(&database, synchronous_full, &runtime)?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let engine = Engine::new(stores.resources());
        let operator_token = hale_auth::secret::new_access_token();
        let identity = Arc::new(hale_auth::Identity::new(
            stores.identity(),
            hale_auth::AuthConfig {
                admin_token: Some(operator_token.clone()),
                ..hale_auth::AuthConfig::default()
            },
        ));
        // A user of a bench app, through the same code exchange a client makes.
        let user_token = runtime
            .block_on(identity.provision("hale-bench", "bench-user"))?
            .tokens
            .access_token;
        let state = AppState::new(
            engine.clone(),
            identity,
            HttpConfig::new(format!("http://{addr}")),
        );
        let ceiling_body = Bytes::from(ceiling_body());
        let extra = Router::new().route(
            CEILING_PATH,
            get(move || {
                let body = ceiling_body.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        body,
                    )
                        .into_response()
                }
            }),
        );
        let app = hale_server::app_with(state, extra);
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        // The same call as `hale_server::serve`, with the extra route.
        let served = runtime.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_signal.await;
                })
                .await
        });
        Ok(BenchServer {
            runtime,
            stores,
            engine,
            synchronous_full,
            addr,
            operator: HeaderValue::from_str(&format!("Bearer {operator_token}"))?,
            user: HeaderValue::from_str(&format!("Bearer {user_token}"))?,
            shutdown: Some(shutdown),
            served: Some(served),
            location: database,
        })
    }

    /// Where the server listens, with the operator's credentials.
    pub fn target(&self) -> crate::client::Target {
        crate::client::Target {
            addr: self.addr,
            authorization: self.operator.clone(),
        }
    }

    /// Where the server listens, with a user's bearer token: every query then carries the
    /// user's scope, as a client's does.
    pub fn user_target(&self) -> crate::client::Target {
        crate::client::Target {
            addr: self.addr,
            authorization: self.user.clone(),
        }
    }

    /// The database the server runs over.
    pub fn database(&self) -> &Database {
        &self.location
    }

    /// The database file, when the store is SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.location.sqlite_path()
    }

    /// The database URL, when the store is PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        self.location.postgres_url()
    }

    /// The engine the server's routes call, for work that skips HTTP (loading W4's data).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs `future` to completion on the server's runtime, so that work done in process (such
    /// as loading through [`Self::engine`]) uses the server's threads, as requests would.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The number of current resources per type, asked of the store itself.
    pub fn count_by_type(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let store = self.stores.resources();
        self.runtime
            .block_on(async move { store.count_by_type(&Scope::All, FhirVersion::R4).await })
            .map_err(|e| anyhow::anyhow!("counting resources: {e}"))
    }

    /// Stops accepting requests, finishes those in flight, and commits what the writer holds.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    /// Stops accepting requests, finishes those in flight and closes the store. An SQLite store
    /// then has its whole WAL checkpointed into the database file, which is kept (with the
    /// temporary folder it may live in) until the server is dropped: another process can then
    /// open the database alone, as a `hale serve` that has run a while would find it. A
    /// PostgreSQL database is kept until the server is dropped.
    pub fn halt(&mut self) -> anyhow::Result<()> {
        self.stop_inner()?;
        if let Some(path) = self.sqlite_path() {
            let conn = rusqlite::Connection::open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            conn.busy_timeout(std::time::Duration::from_secs(60))?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .context("checkpointing the WAL")?;
        }
        Ok(())
    }

    /// Stops the server, settles the database after a bulk load, and starts a new server over
    /// the same database. SQLite has its whole WAL checkpointed into the database file;
    /// PostgreSQL gets `VACUUM ANALYZE`. Either way the database is left as a server that has
    /// run for a while would have it, whether the next run built it or reuses it.
    pub fn reopen(mut self) -> anyhow::Result<Self> {
        self.stop_inner()?;
        let synchronous_full = self.synchronous_full;
        let location = std::mem::replace(&mut self.location, Database::SqliteKept(PathBuf::new()));
        // Dropping the server closes the store's connections before the checkpoint.
        drop(self);
        if let Some(path) = location.sqlite_path() {
            let conn = rusqlite::Connection::open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .context("checkpointing the WAL")?;
        }
        if let Some(url) = location.postgres_url() {
            let started = std::time::Instant::now();
            pg::vacuum_analyze(url)?;
            crate::progress(format!(
                "VACUUM ANALYZE after the load took {:.0} s (setup, untimed)",
                started.elapsed().as_secs_f64()
            ));
        }
        Self::start_on(location, synchronous_full)
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(served) = self.served.take() {
            self.runtime.block_on(served)??;
        }
        self.stores.shutdown();
        Ok(())
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// A 1 KB JSON object, so the ceiling route's response is about the size of a small resource.
fn ceiling_body() -> Vec<u8> {
    let head = br#"{"resourceType":"Basic","id":"ceiling","text":""#;
    let tail = br#""}"#;
    let mut body = Vec::with_capacity(CEILING_BODY_BYTES);
    body.extend_from_slice(head);
    body.resize(CEILING_BODY_BYTES - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ceiling_body_is_one_kilobyte_of_json() {
        let body = super::ceiling_body();
        assert_eq!(body.len(), super::CEILING_BODY_BYTES);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(value["id"], "ceiling");
    }
}
