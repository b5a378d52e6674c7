//! Settings shared by the subcommands that open the store: each flag also reads a `HALE_*`
//! environment variable, and every default works with no configuration.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use hale_store::ResourceStore;
use hale_store::jobs::JobStore;
use hale_store_sqlite::{SqliteConfig, SqliteStore};

/// Where the data lives.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The data directory; the SQLite database is `hale.db` inside it.
    #[arg(long, env = "HALE_DATA_DIR", default_value = "./hale-data")]
    pub data_dir: PathBuf,
    /// The database URL: `sqlite:PATH` (the default is `hale.db` in the data directory) or
    /// `postgres://user@host:port/database`, shared by any number of Hale processes.
    #[arg(long, env = "HALE_DATABASE_URL")]
    pub database: Option<String>,
    /// Most connections this process opens to PostgreSQL. Every process sharing a database
    /// counts against its `max_connections`; a write holds one for its transaction.
    #[arg(long, env = "HALE_DATABASE_POOL", default_value_t = hale_store_postgres::PgConfig::DEFAULT_POOL_SIZE)]
    pub database_pool: usize,
    /// `PRAGMA synchronous=NORMAL` instead of FULL: survives a killed process, but may lose the
    /// last commits on power loss.
    #[arg(long, env = "HALE_SQLITE_SYNC_NORMAL", default_value_t = false)]
    pub sqlite_sync_normal: bool,
}

impl StoreArgs {
    /// The server's secret (it signs search cursors): `HALE_SECRET` when set, else the random
    /// key in `secret.key` in the data directory, created on first use. Processes that share a
    /// database must share the secret, so that a cursor from one pages on another.
    pub fn secret(&self, given: Option<&str>) -> anyhow::Result<Vec<u8>> {
        if let Some(given) = given {
            if given.len() < 32 {
                bail!("HALE_SECRET must be at least 32 characters long");
            }
            return Ok(given.as_bytes().to_vec());
        }
        let path = self.data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return hex::decode(text.trim())
                    .with_context(|| format!("{} is not a hex key", path.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let key: [u8; 32] = rand::random();
        // Written to a temporary file and renamed, so that two processes starting together
        // cannot leave a half-written key; the loser of the rename race reads the winner's.
        let tmp = self
            .data_dir
            .join(format!("secret.key.{}", std::process::id()));
        std::fs::write(&tmp, hex::encode(key))
            .with_context(|| format!("writing {}", tmp.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        if std::fs::hard_link(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return hex::decode(text.trim())
                .with_context(|| format!("{} is not a hex key", path.display()));
        }
        let _ = std::fs::remove_file(&tmp);
        Ok(key.to_vec())
    }

    /// The PostgreSQL URL, when `--database` names one.
    pub fn postgres_url(&self) -> Option<&str> {
        self.database
            .as_deref()
            .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
    }

    /// Opens the configured database's stores.
    pub async fn stores(&self) -> anyhow::Result<Stores> {
        if let Some(url) = self.postgres_url() {
            let pg = Arc::new(
                hale_store_postgres::PgStore::connect(hale_store_postgres::PgConfig {
                    pool_size: self.database_pool,
                    ..hale_store_postgres::PgConfig::new(url)
                })
                .await
                .map_err(|e| anyhow::anyhow!("opening the PostgreSQL database: {e}"))?,
            );
            return Ok(Stores {
                resources: pg.clone(),
                identity: pg.clone(),
                jobs: pg,
                sqlite: None,
            });
        }
        let sqlite = self.open()?;
        Ok(Stores {
            resources: sqlite.clone(),
            identity: sqlite.clone(),
            jobs: sqlite.clone(),
            sqlite: Some(sqlite),
        })
    }

    /// Opens the configured SQLite store.
    pub fn open(&self) -> anyhow::Result<Arc<SqliteStore>> {
        let path = match self.database.as_deref() {
            None => self.data_dir.join("hale.db"),
            Some(url) if url.starts_with("sqlite:") => PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            ),
            Some(url) => bail!(
                "unsupported database URL {url:?}: expected sqlite:PATH or postgres://user@host/db"
            ),
        };
        let mut config = SqliteConfig::new(&path);
        config.synchronous_full = !self.sqlite_sync_normal;
        let store = SqliteStore::open(config)
            .with_context(|| format!("opening the database {}", path.display()))?;
        Ok(Arc::new(store))
    }
}

/// Settings of identity: the operator's token, token lifetimes and the user-management rate.
#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    /// The operator's bearer token over HTTP (sees and writes everything); unset means no
    /// operator access over HTTP. At least 32 characters.
    #[arg(long, env = "HALE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// User-management calls one client may make per hour; beyond, 429.
    #[arg(long, env = "HALE_RATE_LIMIT", default_value_t = 300)]
    pub rate_limit: u64,
    /// Seconds an access token lives.
    #[arg(long, env = "HALE_ACCESS_TOKEN_TTL", default_value_t = 7200)]
    pub access_token_ttl: i64,
    /// Seconds a refresh token lives (90 days).
    #[arg(long, env = "HALE_REFRESH_TOKEN_TTL", default_value_t = 90 * 24 * 3600)]
    pub refresh_token_ttl: i64,
    /// Seconds an authorization code may wait to be exchanged.
    #[arg(long, env = "HALE_AUTH_CODE_TTL", default_value_t = 7200)]
    pub auth_code_ttl: i64,
    /// Seconds a process remembers a verified access token (0: never). Revocations made by
    /// another process sharing the database take effect here within this time.
    #[arg(long, env = "HALE_TOKEN_CACHE_SECS", default_value_t = 5)]
    pub token_cache_secs: i64,
}

impl AuthArgs {
    /// The identity settings these flags name.
    pub fn config(&self) -> anyhow::Result<hale_auth::AuthConfig> {
        if let Some(token) = &self.admin_token
            && token.len() < 32
        {
            bail!("HALE_ADMIN_TOKEN must be at least 32 characters long");
        }
        for (name, value) in [
            ("--access-token-ttl", self.access_token_ttl),
            ("--refresh-token-ttl", self.refresh_token_ttl),
            ("--auth-code-ttl", self.auth_code_ttl),
        ] {
            if value <= 0 {
                bail!("{name} must be a positive number of seconds");
            }
        }
        Ok(hale_auth::AuthConfig {
            admin_token: self.admin_token.clone(),
            rate_limit: self.rate_limit,
            access_ttl: self.access_token_ttl,
            refresh_ttl: self.refresh_token_ttl,
            code_ttl: self.auth_code_ttl,
            token_cache_ttl: self.token_cache_secs.max(0),
            ..hale_auth::AuthConfig::default()
        })
    }
}

/// The stores of one database, whichever backend holds it: resources, identity and export
/// jobs.
pub struct Stores {
    /// Resources, their history and search.
    pub resources: Arc<dyn ResourceStore>,
    /// Apps, users, tokens and grants.
    pub identity: Arc<dyn hale_auth::IdentityStore>,
    /// Asynchronous export jobs.
    pub jobs: Arc<dyn JobStore>,
    /// The SQLite store, whose writer must be stopped before the process exits.
    sqlite: Option<Arc<SqliteStore>>,
}

impl Stores {
    /// The identity service over these stores.
    pub fn identity(&self, config: hale_auth::AuthConfig) -> Arc<hale_auth::Identity> {
        Arc::new(hale_auth::Identity::new(self.identity.clone(), config))
    }

    /// Commits what is queued and stops the backend's own threads.
    pub fn shutdown(&self) {
        if let Some(sqlite) = &self.sqlite {
            sqlite.shutdown();
        }
    }
}

/// Logs to stderr; `RUST_LOG` (or `HALE_LOG`) overrides the level.
pub fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "info" };
    let filter = std::env::var("HALE_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| format!("{default},hyper=warn,tower_http=warn,tokio_postgres=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
