//! Settings shared by the subcommands that open the store: each flag also reads a `HALE_*`
//! environment variable, and every default works with no configuration.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use hale_store::ResourceStore;
use hale_store_sqlite::{SqliteConfig, SqliteStore};

/// Where the data lives.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The data directory; the SQLite database is `hale.db` inside it.
    #[arg(long, env = "HALE_DATA_DIR", default_value = "./hale-data")]
    pub data_dir: PathBuf,
    /// The database URL: `sqlite:PATH` (the default is `hale.db` in the data directory).
    /// PostgreSQL arrives with the scale-out backend.
    #[arg(long, env = "HALE_DATABASE_URL")]
    pub database: Option<String>,
    /// `PRAGMA synchronous=NORMAL` instead of FULL: survives a killed process, but may lose the
    /// last commits on power loss.
    #[arg(long, env = "HALE_SQLITE_SYNC_NORMAL", default_value_t = false)]
    pub sqlite_sync_normal: bool,
}

impl StoreArgs {
    /// Opens the configured store.
    pub fn open(&self) -> anyhow::Result<Arc<SqliteStore>> {
        let path = match self.database.as_deref() {
            None => self.data_dir.join("hale.db"),
            Some(url) if url.starts_with("sqlite:") => PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            ),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                bail!(
                    "the PostgreSQL backend is not built yet; use the default SQLite store (no --database)"
                )
            }
            Some(url) => bail!("unsupported database URL {url:?}: expected sqlite:PATH"),
        };
        let mut config = SqliteConfig::new(&path);
        config.synchronous_full = !self.sqlite_sync_normal;
        let store = SqliteStore::open(config)
            .with_context(|| format!("opening the database {}", path.display()))?;
        Ok(Arc::new(store))
    }
}

/// Erases the concrete store type for the engine.
pub fn dyn_store(store: &Arc<SqliteStore>) -> Arc<dyn ResourceStore> {
    store.clone()
}

/// Logs to stderr; `RUST_LOG` (or `HALE_LOG`) overrides the level.
pub fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "info" };
    let filter = std::env::var("HALE_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| format!("{default},hyper=warn,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
