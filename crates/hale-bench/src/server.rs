//! The server under test, in this process: the real `hale-server` application over a fresh SQLite
//! store in a temporary folder (or, for W4, over a database file kept between runs), on its own
//! two-thread Tokio runtime, listening on `127.0.0.1:0`.
//!
//! It differs from `hale serve` in one way only: [`hale_server::app_with`] adds the fixed
//! [`CEILING_PATH`] route, which passes through the same middleware as the FHIR routes and so
//! measures what the HTTP stack alone can serve.

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
use hale_store_sqlite::{SqliteConfig, SqliteStore};
use tokio::sync::oneshot;

/// The path of the fixed-body route.
pub const CEILING_PATH: &str = "/__bench/ceiling";

/// The size of the fixed body.
pub const CEILING_BODY_BYTES: usize = 1024;

/// Worker threads of the server's runtime.
pub const SERVER_WORKER_THREADS: usize = 2;

/// Where the database of a [`BenchServer`] lives.
enum Location {
    /// A temporary folder, removed with the server.
    Temporary(tempfile::TempDir),
    /// A file the caller named, kept afterwards.
    Kept(PathBuf),
}

/// A running server and the store it owns.
pub struct BenchServer {
    runtime: tokio::runtime::Runtime,
    store: Arc<SqliteStore>,
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
    // Dropped last: the database may live in it.
    location: Location,
}

impl BenchServer {
    /// Starts a server over a fresh, empty store in a temporary folder, with the durability
    /// `hale serve` defaults to (`synchronous=FULL`).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_temporary(true)
    }

    /// Starts a server over the database file at `path`, creating it if absent and keeping it
    /// afterwards. `synchronous_full` as in [`SqliteConfig`].
    pub fn start_at(path: &Path, synchronous_full: bool) -> anyhow::Result<Self> {
        Self::start_on(
            path.to_owned(),
            Location::Kept(path.to_owned()),
            synchronous_full,
        )
    }

    /// Starts a server over a fresh store in a temporary folder, `synchronous_full` as in
    /// [`SqliteConfig`].
    pub fn start_temporary(synchronous_full: bool) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("hale-bench-").tempdir()?;
        let path = dir.path().join("hale.db");
        Self::start_on(path, Location::Temporary(dir), synchronous_full)
    }

    fn start_on(path: PathBuf, location: Location, synchronous_full: bool) -> anyhow::Result<Self> {
        let mut config = SqliteConfig::new(path);
        config.synchronous_full = synchronous_full;
        let store = Arc::new(SqliteStore::open(config).context("opening the SQLite store")?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_WORKER_THREADS)
            .thread_name("hale-bench-server")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let dyn_store: Arc<dyn ResourceStore> = store.clone();
        let engine = Engine::new(dyn_store);
        let operator_token = hale_auth::secret::new_access_token();
        let identity_store: Arc<dyn hale_auth::IdentityStore> = store.clone();
        let identity = Arc::new(hale_auth::Identity::new(
            identity_store,
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
            store,
            engine,
            synchronous_full,
            addr,
            operator: HeaderValue::from_str(&format!("Bearer {operator_token}"))?,
            user: HeaderValue::from_str(&format!("Bearer {user_token}"))?,
            shutdown: Some(shutdown),
            served: Some(served),
            location,
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

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        match &self.location {
            Location::Temporary(dir) => dir.path().join("hale.db"),
            Location::Kept(path) => path.clone(),
        }
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
        let store = self.store.clone();
        self.runtime
            .block_on(async move { store.count_by_type(&Scope::All, FhirVersion::R4).await })
            .map_err(|e| anyhow::anyhow!("counting resources: {e}"))
    }

    /// Stops accepting requests, finishes those in flight, and commits what the writer holds.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    /// Stops accepting requests, finishes those in flight, closes the store and checkpoints the
    /// whole WAL into the database file, keeping the file (and the temporary folder it may live
    /// in) until the server is dropped: another process can then open the database alone, as a
    /// `hale serve` that has run a while would find it.
    pub fn halt(&mut self) -> anyhow::Result<()> {
        self.stop_inner()?;
        let path = self.db_path();
        let conn = rusqlite::Connection::open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .context("checkpointing the WAL")?;
        Ok(())
    }

    /// Stops the server, checkpoints the whole WAL into the database file, and starts a new
    /// server over the same database. After a bulk load, this leaves the database as a server
    /// that has run for a while would have it, whether the next run built it or reuses it.
    pub fn reopen(mut self) -> anyhow::Result<Self> {
        self.stop_inner()?;
        let path = self.db_path();
        let synchronous_full = self.synchronous_full;
        let location = std::mem::replace(&mut self.location, Location::Kept(PathBuf::new()));
        // Dropping the server closes the store's connections before the checkpoint.
        drop(self);
        let conn = rusqlite::Connection::open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .context("checkpointing the WAL")?;
        drop(conn);
        Self::start_on(path, location, synchronous_full)
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(served) = self.served.take() {
            self.runtime.block_on(served)??;
        }
        self.store.shutdown();
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
