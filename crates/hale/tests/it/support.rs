//! The test harness.
//!
//! [`TestApp`] runs Hale in-process: a fresh SQLite database in a temporary directory, the real
//! engine and the real axum application served on a loopback port, so every test talks HTTP
//! exactly as a client does. [`ServerProcess`] runs the `hale` binary itself for the tests that
//! need a process (kill, restart, signals), and [`run_hale`] runs a subcommand to completion.
//!
//! Every wait is bounded: requests time out, and starting, stopping and readiness are polled
//! against a deadline.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hale_engine::Engine;
use hale_server::export::jobs::{JobRunner, WorkerConfig, WorkerHandle};
use hale_server::export::{ExportConfig, ExportFiles, Exports};
use hale_server::{AppState, HttpConfig};
use hale_store_sqlite::{SqliteConfig, SqliteStore};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

/// Both prefixes under which Hale serves FHIR R4; every interaction is tested under each.
pub const PREFIXES: [&str; 2] = ["/r4", "/fhir/r4"];

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// The JSON Patch media type.
pub const JSON_PATCH: &str = "application/json-patch+json";

/// The identifier system the tests' resources use.
pub const SYSTEM: &str = "urn:hale-it:id";

/// The operator's bearer token of every test server; the default [`Http`] client sends it, so
/// tests that are not about authentication act as the operator.
pub const ADMIN_TOKEN: &str = "hale-test-operator-token-0123456789abcdef";

/// Longest time one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest time a server may take to start listening and become ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest time a CLI subcommand (`import`, `synth`) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// How often bounded waits look again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// `(type, id)` of a resource.
pub type Key = (String, String);

/// The [`Key`] of a resource.
pub fn key(resource: &Value) -> Key {
    (
        resource["resourceType"].as_str().unwrap_or("").to_owned(),
        id_of(resource),
    )
}

/// The match and include entries of one searchset page, as keys.
pub fn entries(bundle: &Value) -> (Vec<Key>, Vec<Key>) {
    let mut matches = Vec::new();
    let mut included = Vec::new();
    for entry in bundle["entry"].as_array().expect("entry is always present") {
        let k = key(&entry["resource"]);
        match entry["search"]["mode"].as_str() {
            Some("match") => matches.push(k),
            Some("include") => included.push(k),
            other => panic!("unexpected search mode {other:?} in {entry}"),
        }
    }
    (matches, included)
}

/// A fresh value for identifiers, unique within the test binary.
pub fn unique(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A Patient with one identifier in [`SYSTEM`].
pub fn patient(identifier: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": SYSTEM, "value": identifier}],
        "active": true,
        "name": [{"family": "Test", "given": ["Hale"]}],
        "birthDate": "1970-01-01"
    })
}

/// A minimal valid Observation about `subject`, with one identifier in [`SYSTEM`].
pub fn observation(subject: &str, identifier: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "identifier": [{"system": SYSTEM, "value": identifier}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 72, "unit": "/min"}
    })
}

/// The token search value `SYSTEM|value` of an identifier.
pub fn token(identifier: &str) -> String {
    format!("{SYSTEM}|{identifier}")
}

/// `value` without its top-level element `key`.
pub fn without(mut value: Value, key: &str) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.shift_remove(key);
    }
    value
}

/// The keys of a JSON object in the order the server wrote them.
pub fn key_order(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The `meta.versionId` of a resource as a number.
#[track_caller]
pub fn version_of(resource: &Value) -> u64 {
    resource["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the resource has no numeric meta.versionId: {resource}"))
}

/// The `id` of a resource.
#[track_caller]
pub fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the resource has no id: {resource}"))
        .to_owned()
}

/// Whether any issue of an OperationOutcome names `needle` in its `expression` or its text.
pub fn mentions(outcome: &Value, needle: &str) -> bool {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|issue| {
            let in_expression = issue["expression"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e.as_str().is_some_and(|e| e.contains(needle)));
            let in_text = [&issue["diagnostics"], &issue["details"]["text"]]
                .iter()
                .any(|t| t.as_str().is_some_and(|t| t.contains(needle)));
            in_expression || in_text
        })
}

/// The URL of a Bundle's link with `relation` (`next`, `self`, …), if any.
pub fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

/// A finished HTTP exchange, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.text()))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// Asserts the status and a FHIR JSON body, and returns the body.
    #[track_caller]
    pub fn resource(&self, status: u16) -> Value {
        self.expect(status);
        let content_type = self.header("content-type").unwrap_or("");
        assert!(
            content_type.starts_with(FHIR_JSON),
            "content type {content_type:?} is not {FHIR_JSON}"
        );
        self.json()
    }

    /// Asserts the status and an OperationOutcome body with an issue of the given `code`, and
    /// returns the OperationOutcome.
    #[track_caller]
    pub fn outcome(&self, status: u16, code: &str) -> Value {
        let outcome = self.resource(status);
        assert_eq!(
            outcome["resourceType"], "OperationOutcome",
            "expected an OperationOutcome: {outcome}"
        );
        let issues = outcome["issue"]
            .as_array()
            .unwrap_or_else(|| panic!("an OperationOutcome without issues: {outcome}"));
        assert!(
            !issues.is_empty(),
            "an OperationOutcome without issues: {outcome}"
        );
        for issue in issues {
            assert!(
                issue["severity"].is_string() && issue["diagnostics"].is_string(),
                "an issue without severity or diagnostics: {issue}"
            );
        }
        assert!(
            issues.iter().any(|i| i["code"] == code),
            "no issue has code {code:?}: {outcome}"
        );
        outcome
    }
}

/// An HTTP client bound to one server, sending one principal's credentials.
#[derive(Clone, Debug)]
pub struct Http {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    /// The client, with a request timeout.
    pub client: reqwest::Client,
    /// The credential headers sent with every request.
    pub credentials: HeaderMap,
}

impl Http {
    /// A client for the server at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("building the HTTP client");
        let mut http = Http {
            base_url: base_url.into(),
            client,
            credentials: HeaderMap::new(),
        };
        http.credentials = http.as_bearer(ADMIN_TOKEN).credentials;
        http
    }

    /// The same server without credentials.
    pub fn anonymous(&self) -> Http {
        Http {
            credentials: HeaderMap::new(),
            ..self.clone()
        }
    }

    /// The same server with `Authorization: Bearer <token>`.
    pub fn as_bearer(&self, token: &str) -> Http {
        self.with_credentials(&[("authorization", &format!("Bearer {token}"))])
    }

    /// The same server with 1up client headers acting as `user` (a `oneup_user_id` or `client`).
    pub fn as_client(&self, client_id: &str, client_secret: &str, user: &str) -> Http {
        self.with_credentials(&[
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("x-oneup-user-id", user),
        ])
    }

    /// The same server with these credential headers instead.
    pub fn with_credentials(&self, headers: &[(&str, &str)]) -> Http {
        let mut credentials = HeaderMap::new();
        for (name, value) in headers {
            credentials.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                reqwest::header::HeaderValue::from_str(value).expect("a header value"),
            );
        }
        Http {
            credentials,
            ..self.clone()
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request to `path`, to add headers to before [`Http::send`].
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        self.client
            .request(method, url)
            .headers(self.credentials.clone())
    }

    /// A request with a FHIR JSON body.
    pub fn with_body(&self, method: Method, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.request(method, path)
            .header(CONTENT_TYPE, FHIR_JSON)
            .body(body.to_string())
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        self.try_send(request)
            .await
            .unwrap_or_else(|e| panic!("the request failed: {e}"))
    }

    /// Sends a request and reads the whole response, or says why that failed.
    pub async fn try_send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    /// `POST path` with a FHIR JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.with_body(Method::POST, path, body)).await
    }

    /// `PUT path` with a FHIR JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(self.with_body(Method::PUT, path, body)).await
    }

    /// `PATCH path` with a JSON Patch body.
    pub async fn patch(&self, path: &str, patch: &Value) -> Reply {
        self.send(
            self.request(Method::PATCH, path)
                .header(CONTENT_TYPE, JSON_PATCH)
                .body(patch.to_string()),
        )
        .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Creates `resource` under `prefix`, asserts a 201, and returns the stored resource.
    pub async fn create(&self, prefix: &str, resource: &Value) -> Value {
        let resource_type = resource["resourceType"].as_str().expect("a resourceType");
        self.post(&format!("{prefix}/{resource_type}"), resource)
            .await
            .resource(201)
    }

    /// Polls `/readyz` until it answers 200, or panics at `deadline`.
    pub async fn wait_ready(&self, deadline: Instant) {
        loop {
            if let Ok(reply) = self.try_send(self.request(Method::GET, "/readyz")).await
                && reply.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready in time",
                self.base_url
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// The variable that chooses the database of in-process servers: unset or `sqlite` for a fresh
/// SQLite file per test, `postgres` for a fresh PostgreSQL database per test (on the server of
/// `HALE_TEST_POSTGRES`). `.ci/run` runs the integration suites once with each.
pub const BACKEND_VAR: &str = "HALE_TEST_BACKEND";

/// The stores of one in-process server.
struct TestStores {
    resources: Arc<dyn hale_store::ResourceStore>,
    identity: Arc<dyn hale_auth::IdentityStore>,
    jobs: Arc<dyn hale_store::jobs::JobStore>,
}

impl TestStores {
    /// Fresh stores of the backend [`BACKEND_VAR`] names, SQLite in `dir` by default.
    async fn open(dir: &Path) -> TestStores {
        match std::env::var(BACKEND_VAR).as_deref() {
            Ok("postgres") => {
                let pg = Arc::new(
                    hale_store_postgres::testing::fresh_store()
                        .await
                        .unwrap_or_else(|| {
                            panic!("{BACKEND_VAR}=postgres needs a PostgreSQL server")
                        }),
                );
                TestStores {
                    resources: pg.clone(),
                    identity: pg.clone(),
                    jobs: pg,
                }
            }
            Ok("sqlite") | Err(_) => {
                let sqlite = Arc::new(
                    SqliteStore::open(SqliteConfig::new(dir.join("hale.db")))
                        .expect("opening a fresh SQLite store"),
                );
                TestStores {
                    resources: sqlite.clone(),
                    identity: sqlite.clone(),
                    jobs: sqlite,
                }
            }
            Ok(other) => panic!("{BACKEND_VAR} must be sqlite or postgres, not {other:?}"),
        }
    }
}

/// Hale running in-process on a loopback port over a fresh database (SQLite, or PostgreSQL as
/// [`BACKEND_VAR`] says).
pub struct TestApp {
    http: Http,
    /// The server's identity service, for setting up apps as the CLI does.
    pub identity: Arc<hale_auth::Identity>,
    /// Asynchronous export: its jobs and files (a folder in the temporary directory).
    pub exports: Arc<Exports>,
    /// The key that signs the server's cursors, file URLs and connect states.
    pub cursor_key: hale_server::cursor::CursorKey,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Stops the export worker when dropped.
    _worker: Option<WorkerHandle>,
    dir: tempfile::TempDir,
}

impl Deref for TestApp {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Settings of a [`TestApp`] that differ from the defaults.
#[derive(Default)]
pub struct TestAppBuilder {
    max_body_bytes: Option<usize>,
    max_included: Option<usize>,
    export_max_per_file: Option<usize>,
    auth: Option<hale_auth::AuthConfig>,
    export_runner: Option<Arc<dyn JobRunner>>,
    run_exports: bool,
    export_jobs_per_app: Option<u32>,
    routes: Option<axum::Router<AppState>>,
    directory: Vec<String>,
}

/// How the export worker of a [`TestApp`] paces itself: quickly, so tests wait little.
pub fn test_worker_config() -> WorkerConfig {
    WorkerConfig {
        poll_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_millis(50),
        stale_after: Duration::from_secs(5),
        sweep_interval: Duration::from_millis(100),
        ..WorkerConfig::default()
    }
}

impl TestApp {
    /// The folder that holds the export files.
    pub fn export_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("exports")
    }
}

impl TestApp {
    /// A server with the default settings.
    pub async fn start() -> TestApp {
        TestAppBuilder::default().start().await
    }

    /// A server with some settings changed.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }
}

impl TestAppBuilder {
    /// The largest request body accepted.
    pub fn max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = Some(max_body_bytes);
        self
    }

    /// The most resources includes may add to one search page.
    pub fn max_included(mut self, max_included: usize) -> Self {
        self.max_included = Some(max_included);
        self
    }

    /// The most resources one bulk export file holds.
    pub fn export_max_per_file(mut self, max: usize) -> Self {
        self.export_max_per_file = Some(max);
        self
    }

    /// Identity settings (token lifetimes, rate limit); the operator token stays
    /// [`ADMIN_TOKEN`].
    pub fn auth(mut self, config: hale_auth::AuthConfig) -> Self {
        self.auth = Some(config);
        self
    }

    /// Runs export jobs with Hale's own runner (a worker paced by [`test_worker_config`]);
    /// without it or [`TestAppBuilder::export_runner`], jobs stay queued.
    pub fn run_exports(mut self) -> Self {
        self.run_exports = true;
        self
    }

    /// Runs export jobs with `runner` instead of Hale's own.
    pub fn export_runner(mut self, runner: Arc<dyn JobRunner>) -> Self {
        self.export_runner = Some(runner);
        self
    }

    /// Most export jobs one app may have queued or running.
    pub fn export_jobs_per_app(mut self, jobs_per_app: u32) -> Self {
        self.export_jobs_per_app = Some(jobs_per_app);
        self
    }

    /// Loads a list of systems (JSON, the `hale directory import` format) into the directory
    /// before serving, as `hale directory import` does.
    pub fn directory(mut self, list: &str) -> Self {
        self.directory.push(list.to_owned());
        self
    }

    /// Routes served beside Hale's, behind the same middleware (a kick-off for the tests).
    pub fn routes(mut self, routes: axum::Router<AppState>) -> Self {
        self.routes = Some(routes);
        self
    }

    /// Opens the store, binds `127.0.0.1:0` and serves on the current runtime.
    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let stores = TestStores::open(dir.path()).await;
        let engine = Engine::new(stores.resources.clone());
        for list in &self.directory {
            let listed = hale_directory::list::parse_json(list).expect("a valid list of systems");
            let done = hale::directory::import_list(&engine, "the test directory", listed, 1000)
                .await
                .expect("importing the test directory");
            assert!(done.rejections.is_empty(), "{:?}", done.rejections);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let base_url = format!(
            "http://{}",
            listener.local_addr().expect("the bound address")
        );
        let auth = hale_auth::AuthConfig {
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            issuer: base_url.clone(),
            ..self.auth.unwrap_or_default()
        };
        let identity_store = stores.identity.clone();
        let identity = Arc::new(hale_auth::Identity::new(identity_store, auth));
        let mut config = HttpConfig::new(&base_url);
        if let Some(max_body_bytes) = self.max_body_bytes {
            config.max_body_bytes = max_body_bytes;
        }
        if let Some(max_included) = self.max_included {
            config.max_included = max_included;
        }
        if let Some(max) = self.export_max_per_file {
            config.export_max_per_file = max;
        }
        // Tests change the directory and search it at once.
        config.directory_refresh = Duration::ZERO;
        let cursor_key = config.cursor_key.clone();
        let files = ExportFiles::local(&dir.path().join("exports")).expect("an export folder");
        let export_config = ExportConfig {
            jobs_per_app: self.export_jobs_per_app.unwrap_or(5),
            ..ExportConfig::default()
        };
        let exports = Arc::new(Exports::new(stores.jobs.clone(), files, export_config));
        // Jobs run with the test's runner, or Hale's own when asked; without either they stay
        // queued, for tests that start and stop workers themselves.
        let runner = self.export_runner.or_else(|| {
            self.run_exports.then(|| {
                Arc::new(hale_server::interaction::export::ExportRunner::new(
                    engine.clone(),
                    config.export_max_per_file,
                )) as Arc<dyn JobRunner>
            })
        });
        let worker = runner.map(|runner| {
            hale_server::export::jobs::start_worker(exports.clone(), runner, test_worker_config())
        });
        let state = AppState::new(engine, identity.clone(), config).with_exports(exports.clone());
        let app = hale_server::app_with(state, self.routes.unwrap_or_default());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let signal = async move {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                eprintln!("the test server failed: {e}");
            }
        });
        TestApp {
            http: Http::new(base_url),
            identity,
            exports,
            cursor_key,
            shutdown: Some(shutdown),
            _worker: worker,
            dir,
        }
    }
}

/// A `hale` command with no `HALE_*` settings inherited from the environment.
pub fn hale_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hale"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HALE_") {
            command.env_remove(&name);
        }
    }
    command.env_remove("RUST_LOG").env("HALE_LOG", "warn");
    command
}

/// The real `hale serve` process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    http: Http,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Deref for ServerProcess {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

impl ServerProcess {
    /// Runs `hale serve --listen 127.0.0.1:0 --data-dir <data_dir> <extra_args>`, learns the port
    /// from the `Hale listening on …` line on stderr, and waits until `/readyz` answers 200.
    pub async fn start(data_dir: &Path, extra_args: &[&str]) -> ServerProcess {
        ServerProcess::start_with_env(data_dir, extra_args, &[]).await
    }

    /// [`ServerProcess::start`] with these environment variables set for the server.
    pub async fn start_with_env(
        data_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let mut child = hale_command()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .env("HALE_ADMIN_TOKEN", ADMIN_TOKEN)
            .envs(env.iter().copied())
            .arg(data_dir)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the hale binary");
        let stderr = child.stderr.take().expect("the child's stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (found, listening) = mpsc::channel::<String>();
        let log_in = log.clone();
        // The thread drains stderr for the life of the process, so the server never blocks on a
        // full pipe, and keeps the last lines for failure messages.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("Hale listening on ") {
                    let _ = found.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                let mut log = log_in.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() >= 100 {
                    log.pop_front();
                }
                log.push_back(line);
            }
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let base_url = loop {
            match listening.try_recv() {
                Ok(url) => break url,
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    panic!("hale serve closed stderr before listening:\n{}", tail(&log))
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "hale serve exited with {status} before listening:\n{}",
                    tail(&log)
                );
            }
            assert!(
                Instant::now() < deadline,
                "hale serve did not start listening in time:\n{}",
                tail(&log)
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        };
        let http = Http::new(base_url);
        let server = ServerProcess { child, http, log };
        server.http.wait_ready(deadline).await;
        server
    }

    /// The lines the server has written to stderr so far (the last 100).
    pub fn log_lines(&self) -> Vec<String> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (`Child::kill` on Unix) and reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("killing hale serve");
        self.child.wait().expect("reaping hale serve");
    }

    /// Waits for the process to exit by itself, or panics after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("polling hale serve") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "hale serve did not exit in time:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The last lines the process wrote to stderr.
    pub fn log(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tail(log: &Mutex<VecDeque<String>>) -> String {
    let log = log.lock().unwrap_or_else(|e| e.into_inner());
    log.iter().cloned().collect::<Vec<_>>().join("\n")
}

/// A finished subcommand.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Finished {
    /// Stdout as JSON (`--json` summaries).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts a zero exit status.
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(
            self.status.success(),
            "hale exited with {}:\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `hale <args>` to completion, killing it if it takes longer than the command timeout.
pub fn run_hale<I, S>(args: I) -> Finished
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = hale_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the hale binary");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("the child's stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("the child's stderr")));
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("polling hale") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hale did not finish within {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
