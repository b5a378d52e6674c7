//! `hale serve`: the FHIR server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use hale_engine::Engine;
use hale_server::export::jobs::WorkerConfig;
use hale_server::{AppState, HttpConfig};
use hale_store::jobs::JobStore;

use crate::settings::{AuthArgs, StoreArgs, Stores};

/// Settings of `hale serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    auth: AuthArgs,
    /// The address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "HALE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The base of every absolute URL Hale writes; defaults to `http://` and the listen address.
    #[arg(long, env = "HALE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Load synthetic demo data on first start and print how to use it.
    #[arg(long, env = "HALE_DEMO", default_value_t = false)]
    demo: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "HALE_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Longest time one request may take, in seconds, before it is answered with 503.
    #[arg(long, env = "HALE_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    request_timeout_secs: u64,
    /// Largest page size honoured for `_count`.
    #[arg(long, env = "HALE_MAX_COUNT", default_value_t = 1000)]
    max_count: usize,
    /// Largest page size honoured for `_count` by Patient `$everything`.
    #[arg(long, env = "HALE_MAX_EVERYTHING_COUNT", default_value_t = 10_000)]
    max_everything_count: usize,
    /// Most resources one bulk export file holds.
    #[arg(long, env = "HALE_EXPORT_FILE_MAX", default_value_t = 100_000)]
    export_file_max: usize,
    /// Largest `_skip` accepted; beyond it a search answers 400.
    #[arg(long, env = "HALE_MAX_SKIP", default_value_t = 9990)]
    max_skip: usize,
    /// Most resources `_include` and `_revinclude` may add to one search page (400 beyond).
    #[arg(long, env = "HALE_MAX_INCLUDED", default_value_t = 10_000)]
    max_included: usize,
    /// The secret that signs search cursors (at least 32 characters); by default a random key
    /// kept in `secret.key` in the data directory.
    #[arg(long, env = "HALE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Where Bulk Data export files go: a local folder, or `s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix`, configured by the usual `AWS_*`,
    /// `GOOGLE_*` and `AZURE_*` variables. Default: `exports` in the data directory.
    #[arg(long, env = "HALE_EXPORT_STORE")]
    export_store: Option<String>,
    /// Seconds a finished export job and its files are kept.
    #[arg(long, env = "HALE_EXPORT_EXPIRY_SECS", default_value_t = 3600)]
    export_expiry_secs: u64,
    /// Most export jobs one app may have queued or running at once (429 beyond).
    #[arg(long, env = "HALE_EXPORT_JOBS_PER_APP", default_value_t = 5)]
    export_jobs_per_app: u32,
    /// How often, in milliseconds, a request may ask the database whether the provider directory
    /// changed (an import, another process); a change shows within this time.
    #[arg(long, env = "HALE_DIRECTORY_REFRESH_MS", default_value_t = 1000)]
    directory_refresh_ms: u64,
    /// Seconds without a heartbeat after which a running export job is taken to have lost its
    /// process (killed, say) and is run again by another, or by this one after a restart.
    #[arg(long, env = "HALE_EXPORT_STALE_SECS", default_value_t = 60)]
    export_stale_secs: u64,
}

impl ServeArgs {
    /// How this process's export worker paces itself.
    fn worker_config(&self) -> WorkerConfig {
        let stale_after = std::time::Duration::from_secs(self.export_stale_secs.max(1));
        let defaults = WorkerConfig::default();
        WorkerConfig {
            stale_after,
            // Heartbeats come several times within the stale limit, however short it is.
            heartbeat_interval: defaults.heartbeat_interval.min(stale_after / 4),
            ..defaults
        }
    }

    /// Asynchronous export over the job store of `stores`, with files where `--export-store` says.
    fn exports(&self, stores: &Stores) -> anyhow::Result<Arc<hale_server::export::Exports>> {
        let location = match &self.export_store {
            Some(location) => location.clone(),
            None => self.store.data_dir.join("exports").display().to_string(),
        };
        // Object store settings come from the environment, as each cloud's own tools read them;
        // only these prefixes, so that no other variable is handed to a storage client.
        let options = std::env::vars().filter(|(name, _)| {
            ["AWS_", "GOOGLE_", "AZURE_"]
                .iter()
                .any(|p| name.starts_with(p))
        });
        let files = hale_server::export::ExportFiles::from_location(&location, options)
            .with_context(|| format!("opening the export store {location}"))?;
        if self.export_jobs_per_app == 0 {
            bail!("--export-jobs-per-app must be at least 1");
        }
        let config = hale_server::export::ExportConfig {
            expiry: Duration::from_secs(self.export_expiry_secs),
            jobs_per_app: self.export_jobs_per_app,
            ..hale_server::export::ExportConfig::default()
        };
        let jobs: Arc<dyn JobStore> = stores.jobs.clone();
        Ok(Arc::new(hale_server::export::Exports::new(
            jobs, files, config,
        )))
    }
}

/// Runs the server until SIGINT or SIGTERM, then drains requests and the write queue.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let stores = args.store.stores().await?;
        let engine = Engine::new(stores.resources.clone());
        let mut auth = args.auth.config()?;
        // An index built by other rules (an upgrade) would make searches miss resources, so it
        // is rebuilt before the server answers any.
        if engine.index_is_stale().await? {
            tracing::warn!(
                "the search index was built by other extraction rules than this version's; \
                 rebuilding it before serving (as `hale reindex` does)"
            );
            let started = std::time::Instant::now();
            let resources = engine.reindex().await?;
            tracing::info!(
                resources,
                seconds = started.elapsed().as_secs_f64(),
                "search index rebuilt"
            );
        }
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let local: SocketAddr = listener.local_addr()?;
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        auth.issuer = public_url.clone();
        let identity = stores.identity(auth);
        if args.demo {
            crate::cmd::synth::load_demo(&engine, &identity, &public_url).await?;
        }
        let mut config = HttpConfig::new(&public_url);
        config.max_body_bytes = args.max_body_bytes;
        config.request_timeout = std::time::Duration::from_secs(args.request_timeout_secs);
        config.max_count = args.max_count;
        config.max_everything_count = args.max_everything_count;
        config.export_max_per_file = args.export_file_max.max(1);
        config.max_skip = args.max_skip;
        config.max_included = args.max_included;
        config.directory_refresh = Duration::from_millis(args.directory_refresh_ms);
        config.cursor_key =
            hale_server::cursor::CursorKey::new(args.store.secret(args.secret.as_deref())?);
        let exports = args.exports(&stores)?;
        let state = AppState::new(engine, identity, config).with_exports(exports.clone());
        // The directory is built before the first system search needs it.
        let directory = state.directory.clone();
        tokio::spawn(async move {
            if let Err(e) = directory.get().await {
                tracing::warn!(error = %e, "loading the provider directory failed; the first search retries");
            }
        });
        // This process runs export jobs (any process sharing the database may claim them) and
        // removes expired ones with their files.
        let runner = Arc::new(hale_server::interaction::export::ExportRunner::new(
            state.engine.clone(),
            state.config.export_max_per_file,
        ));
        let worker = hale_server::export::jobs::start_worker(exports, runner, args.worker_config());
        // Scripts and tests read this line to learn the port when listening on port 0.
        eprintln!("Hale listening on http://{local} (FHIR R4 at {public_url}/r4)");
        tracing::info!(%local, "listening");
        hale_server::serve(listener, state, shutdown_signal()).await?;
        // Jobs go back to the queue while the store still takes writes.
        worker.stop().await;
        tracing::info!("stopped accepting requests; committing queued writes");
        stores.shutdown();
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
