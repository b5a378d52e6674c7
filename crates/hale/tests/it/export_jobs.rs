//! The job machinery of asynchronous Bulk Data export (contract Part A §8, Part B §13d; the Bulk
//! Data IG's status flow): kick-off through `submit` (202 with `Content-Location`), the status URL
//! (202 with `X-Progress` and `Retry-After`, then 200 with the manifest and `Expires`), downloads
//! with the same credentials, cancellation, the per-app limit (429), jobs that cannot run (400),
//! jobs that keep failing (an error file), and jobs whose worker stopped or died.
//!
//! The export itself is not tested here: a test runner writes two small NDJSON files, and a test
//! route kicks off jobs through `hale_server::export::status::submit` as the real kick-off does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use hale_fhir::outcome::{Issue, IssueType};
use hale_server::AppState;
use hale_server::error::ApiError;
use hale_server::export::jobs::{JobError, JobFiles, JobOutput, JobRunner, ManifestFile};
use hale_server::request::FhirRequest;
use hale_store::Scope;
use hale_store::jobs::{ExportJob, JobState};
use serde_json::{Value, json};

use crate::identity::{Client, user};
use crate::support::{Http, Reply, ServerProcess, TestApp, run_hale, test_worker_config, unique};

/// The Patient file the test runner writes.
const PATIENTS: &str =
    "{\"resourceType\":\"Patient\",\"id\":\"p1\"}\n{\"resourceType\":\"Patient\",\"id\":\"p2\"}\n";

/// The Observation file the test runner writes.
const OBSERVATIONS: &str = "{\"resourceType\":\"Observation\",\"id\":\"o1\"}\n";

/// Longest a test waits for a job to change.
const WAIT: Duration = Duration::from_secs(30);

/// A runner that writes [`PATIENTS`] and [`OBSERVATIONS`]. The kick-off's `mode` chooses what else
/// it does: `ok` nothing, `hold` waits after the first file until [`TestRunner::release`],
/// `invalid` refuses the job, `fail` fails every attempt.
struct TestRunner {
    gate: tokio::sync::Semaphore,
    runs: AtomicUsize,
    /// Runs dropped while they were held: stopped by a cancel or a stopping worker.
    stopped_while_held: Arc<AtomicUsize>,
    scopes: std::sync::Mutex<Vec<Scope>>,
}

impl Default for TestRunner {
    fn default() -> Self {
        TestRunner {
            gate: tokio::sync::Semaphore::new(0),
            runs: AtomicUsize::new(0),
            stopped_while_held: Arc::default(),
            scopes: std::sync::Mutex::default(),
        }
    }
}

impl TestRunner {
    /// Lets held runs (and every later one) go on.
    fn release(&self) {
        self.gate.add_permits(1);
    }
}

/// Counts a held run that is dropped before it is let go.
struct Held {
    counter: Arc<AtomicUsize>,
    released: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.released {
            self.counter.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait::async_trait]
impl JobRunner for TestRunner {
    async fn run(&self, job: &ExportJob, files: &JobFiles) -> Result<JobOutput, JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.scopes
            .lock()
            .expect("the scopes")
            .push(job.scope.clone());
        let params: Value =
            serde_json::from_str(&job.params).map_err(|e| JobError::Failed(e.to_string()))?;
        let mode = params["mode"].as_str().unwrap_or("ok");
        match mode {
            "invalid" => {
                return Err(JobError::Invalid(vec![Issue::error(
                    IssueType::NotFound,
                    "Group g1 is not known",
                )]));
            }
            "fail" => return Err(JobError::Failed("the test runner always fails".into())),
            _ => {}
        }
        let mut patients = files.create("Patient.ndjson")?;
        for line in PATIENTS.split_inclusive('\n') {
            patients.write(Bytes::from(line.to_owned())).await?;
        }
        patients.finish().await?;
        files.set_progress("1 of 2 files");
        if mode == "hold" {
            let mut held = Held {
                counter: self.stopped_while_held.clone(),
                released: false,
            };
            let permit = self
                .gate
                .acquire()
                .await
                .map_err(|e| JobError::Failed(e.to_string()))?;
            drop(permit);
            held.released = true;
        }
        files.check_cancelled()?;
        let mut observations = files.create("Observation.ndjson")?;
        observations
            .write(Bytes::from_static(OBSERVATIONS.as_bytes()))
            .await?;
        observations.finish().await?;
        Ok(JobOutput {
            output: vec![
                ManifestFile {
                    resource_type: "Patient".into(),
                    name: "Patient.ndjson".into(),
                    count: 2,
                },
                ManifestFile {
                    resource_type: "Observation".into(),
                    name: "Observation.ndjson".into(),
                    count: 1,
                },
            ],
            error: Vec::new(),
        })
    }
}

/// A kick-off as the real one calls `submit`: `GET /{ver}/$test-export?mode=…`.
async fn kickoff(State(state): State<AppState>, req: FhirRequest) -> Result<Response, ApiError> {
    let mode = req.param("mode").unwrap_or("ok").to_owned();
    let request_url = format!("{}/$test-export?mode={mode}", req.base);
    let params = json!({ "mode": mode }).to_string();
    hale_server::export::status::submit(&state, &req, request_url, params).await
}

fn kickoff_routes() -> Router<AppState> {
    Router::new().route("/{ver}/$test-export", get(kickoff))
}

async fn start(runner: &Arc<TestRunner>) -> TestApp {
    let runner: Arc<dyn JobRunner> = runner.clone();
    TestApp::builder()
        .export_runner(runner)
        .routes(kickoff_routes())
        .start()
        .await
}

/// A server with a test runner, and two users of one app.
struct Exporters {
    runner: Arc<TestRunner>,
    app: TestApp,
    client: Client,
    alice_id: i64,
    alice: Http,
    bob: Http,
}

async fn exporters() -> Exporters {
    let runner = Arc::new(TestRunner::default());
    let app = start(&runner).await;
    let client = Client::register(&app, "exporter").await;
    let (alice_id, alice) = user(&app, &client, &unique("alice")).await;
    let (_, bob) = user(&app, &client, &unique("bob")).await;
    Exporters {
        runner,
        app,
        client,
        alice_id,
        alice,
        bob,
    }
}

/// Waits until a `hold` job is held after its first file, and returns that status answer.
async fn held(http: &Http, status_url: &str) -> Reply {
    poll(http, status_url, |reply| {
        reply.header("x-progress") == Some("1 of 2 files")
    })
    .await
}

/// Kicks off a job as `http` and returns its status URL.
async fn submit(http: &Http, mode: &str) -> String {
    let reply = http.get(&format!("/r4/$test-export?mode={mode}")).await;
    reply.outcome(202, "informational");
    let location = reply
        .header("content-location")
        .expect("a Content-Location")
        .to_owned();
    let id = location
        .strip_prefix(&format!("{}/bulk-data/r4/$export/job/", http.base_url))
        .unwrap_or_else(|| panic!("an unexpected status URL {location}"));
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "the job id {id:?} is 32 hex digits"
    );
    location
}

/// Polls `url` until `done` holds for its answer, or panics after [`WAIT`].
async fn poll(http: &Http, url: &str, done: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = http.get(url).await;
        if done(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never got there; last answer {}: {}",
            reply.status,
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A manifest answer's body.
trait ManifestReply {
    fn manifest(&self) -> Value;
}

impl ManifestReply for Reply {
    #[track_caller]
    fn manifest(&self) -> Value {
        self.expect(200);
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()
    }
}

/// Polls a job until it is finished and returns the final answer.
async fn finished(http: &Http, status_url: &str) -> Reply {
    poll(http, status_url, |reply| reply.status != 202).await
}

/// Waits until `condition` holds, or panics after [`WAIT`] saying `what`.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The job id at the end of a status URL.
fn job_id(status_url: &str) -> &str {
    status_url.rsplit('/').next().unwrap_or("")
}

/// The output URLs of a manifest by type.
fn output_urls(manifest: &Value) -> Vec<(String, String, u64)> {
    manifest["output"]
        .as_array()
        .expect("an output array")
        .iter()
        .map(|entry| {
            (
                entry["type"].as_str().expect("a type").to_owned(),
                entry["url"].as_str().expect("a url").to_owned(),
                entry["count"].as_u64().expect("a count"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_runs_and_its_files_download_with_the_same_credentials() {
    let Exporters {
        runner,
        app,
        client,
        alice_id,
        alice,
        bob,
    } = exporters().await;

    let status_url = submit(&alice, "hold").await;
    let running = held(&alice, &status_url).await;
    running.expect(202);
    assert_eq!(running.header("retry-after"), Some("2"));
    // Nobody else sees the job, not even another user of the same app.
    bob.get(&status_url).await.outcome(404, "not-found");
    app.as_client(&client.client_id, &client.client_secret, "client")
        .get(&status_url)
        .await
        .outcome(404, "not-found");
    app.anonymous().get(&status_url).await.outcome(401, "login");

    runner.release();
    let done = finished(&alice, &status_url).await;
    done.expect(200);
    assert_eq!(done.header("content-type"), Some("application/json"));
    let expires = done.header("expires").expect("an Expires header");
    assert!(expires.ends_with(" GMT"), "{expires}");
    let manifest = done.json();
    assert!(
        manifest["transactionTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(
        manifest["request"],
        format!("{}/r4/$test-export?mode=hold", app.base_url)
    );
    assert_eq!(manifest["requiresAccessToken"], true);
    assert_eq!(manifest["error"], json!([]));
    let outputs = output_urls(&manifest);
    let id = job_id(&status_url);
    let export_url = format!("{}/bulk-data/r4/$export", app.base_url);
    assert_eq!(
        outputs,
        vec![
            (
                "Patient".to_owned(),
                format!("{export_url}/file/{id}/Patient.ndjson"),
                2
            ),
            (
                "Observation".to_owned(),
                format!("{export_url}/file/{id}/Observation.ndjson"),
                1
            ),
        ]
    );
    // The job ran with the scope of the user who started it.
    assert!(matches!(
        runner.scopes.lock().expect("the scopes").as_slice(),
        [Scope::User { user, .. }] if *user == alice_id
    ));

    for ((_, url, _), content) in outputs.iter().zip([PATIENTS, OBSERVATIONS]) {
        let file = alice.get(url).await;
        file.expect(200);
        assert_eq!(file.header("content-type"), Some("application/fhir+ndjson"));
        assert_eq!(file.text(), content);
        bob.get(url).await.outcome(404, "not-found");
        app.anonymous().get(url).await.outcome(401, "login");
    }
    // Only the manifest's files are served.
    for name in ["Condition.ndjson", "..", ".hidden"] {
        alice
            .get(&format!("{export_url}/file/{id}/{name}"))
            .await
            .expect(404);
    }

    // The same under /fhir, whose manifest URLs keep the prefix; the token may be a parameter.
    let token = alice
        .credentials
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("a bearer token")
        .to_owned();
    let fhir_status = status_url.replace("/bulk-data/", "/fhir/bulk-data/");
    let manifest = alice.get(&fhir_status).await.manifest();
    let (_, fhir_url, _) = output_urls(&manifest).remove(0);
    assert_eq!(
        fhir_url,
        format!(
            "{}/fhir/bulk-data/r4/$export/file/{id}/Patient.ndjson",
            app.base_url
        )
    );
    let by_parameter = app
        .anonymous()
        .get(&format!("{fhir_url}?access_token={token}"))
        .await;
    by_parameter.expect(200);
    assert_eq!(by_parameter.text(), PATIENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_export_stops_it_and_removes_its_files() {
    let Exporters {
        runner,
        app,
        alice,
        bob,
        ..
    } = exporters().await;

    // A running job: its worker stops it, and its files go.
    let running = submit(&alice, "hold").await;
    held(&alice, &running).await;
    let folder = app.export_dir().join(job_id(&running));
    assert!(folder.join("Patient.ndjson").exists());
    bob.delete(&running).await.outcome(404, "not-found");
    alice.delete(&running).await.outcome(202, "informational");
    alice.get(&running).await.outcome(404, "not-found");
    alice.delete(&running).await.outcome(404, "not-found");
    eventually("the held run stopping", || {
        runner.stopped_while_held.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("the cancelled job's folder going", || !folder.exists()).await;

    // A complete job: its files go at once.
    runner.release();
    let complete = submit(&alice, "ok").await;
    let manifest = finished(&alice, &complete).await.manifest();
    let (_, file_url, _) = output_urls(&manifest).remove(0);
    alice.get(&file_url).await.expect(200);
    alice.delete(&complete).await.outcome(202, "informational");
    alice.get(&complete).await.outcome(404, "not-found");
    alice.get(&file_url).await.outcome(404, "not-found");
    assert!(!app.export_dir().join(job_id(&complete)).exists());

    // The sweeper removes cancelled jobs for good.
    let jobs = app.exports.jobs.clone();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = jobs
            .expired_jobs(hale_fhir::Instant(i64::MAX), 10)
            .await
            .expect("the expired jobs");
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "cancelled jobs stayed: {left:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_at_its_job_limit_is_told_to_retry_later() {
    let runner = Arc::new(TestRunner::default());
    let runner_dyn: Arc<dyn JobRunner> = runner.clone();
    let app = TestApp::builder()
        .export_runner(runner_dyn)
        .export_jobs_per_app(1)
        .routes(kickoff_routes())
        .start()
        .await;
    let client = Client::register(&app, "busy").await;
    let other = Client::register(&app, "other").await;
    let (_, alice) = user(&app, &client, &unique("alice")).await;
    let (_, bob) = user(&app, &client, &unique("bob")).await;
    let (_, carol) = user(&app, &other, &unique("carol")).await;

    let first = submit(&alice, "hold").await;
    // The limit is the app's, shared by its users.
    let refused = bob.get("/r4/$test-export?mode=hold").await;
    let outcome = refused.outcome(429, "throttled");
    assert_eq!(refused.header("retry-after"), Some("30"));
    assert!(crate::support::mentions(&outcome, "retry after 30 seconds"));
    assert!(refused.header("content-location").is_none());
    // Other apps and the operator have allowances of their own.
    submit(&carol, "hold").await;
    submit(&app, "hold").await;
    // A cancelled job leaves room.
    alice.delete(&first).await.expect(202);
    submit(&bob, "hold").await;
    runner.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_run_answers_its_outcome() {
    let runner = Arc::new(TestRunner::default());
    let app = start(&runner).await;
    let status_url = submit(&app, "invalid").await;
    let outcome = finished(&app, &status_url).await.outcome(400, "not-found");
    assert!(crate::support::mentions(&outcome, "Group g1 is not known"));
    assert!(!app.export_dir().join(job_id(&status_url)).exists());
    // Cancelling it removes it as any other.
    app.delete(&status_url).await.expect(202);
    app.get(&status_url).await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_ends_with_an_error_file() {
    let runner = Arc::new(TestRunner::default());
    let app = start(&runner).await;
    let status_url = submit(&app, "fail").await;
    let manifest = finished(&app, &status_url).await.manifest();
    assert_eq!(runner.runs.load(Ordering::SeqCst), 3, "three attempts");
    assert_eq!(manifest["output"], json!([]));
    let errors = manifest["error"].as_array().expect("an error array");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["type"], "OperationOutcome");
    let file = app
        .get(errors[0]["url"].as_str().expect("an error file URL"))
        .await;
    file.expect(200);
    let lines: Vec<Value> = file
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an NDJSON line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["resourceType"], "OperationOutcome");
    assert_eq!(lines[0]["issue"][0]["code"], "exception");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_outlives_its_worker() {
    // No worker at first: jobs stay queued.
    let app = TestApp::builder().routes(kickoff_routes()).start().await;
    let stopped = submit(&app, "hold").await;
    let queued = app.get(&stopped).await;
    queued.expect(202);
    assert_eq!(queued.header("x-progress"), Some("queued"));

    // A worker that stops puts its running job back in the queue.
    let first = Arc::new(TestRunner::default());
    let worker = hale_server::export::jobs::start_worker(
        app.exports.clone(),
        first.clone(),
        test_worker_config(),
    );
    held(&app, &stopped).await;
    worker.stop().await;
    assert_eq!(first.stopped_while_held.load(Ordering::SeqCst), 1);
    assert_eq!(app.get(&stopped).await.header("x-progress"), Some("queued"));

    // A worker that died (claimed the job long ago, then no heartbeat) loses it to the next.
    let died = submit(&app, "ok").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970");
    let long_ago = hale_fhir::Instant(now.as_micros() as i64 - 600_000_000);
    let claimed = app
        .exports
        .jobs
        .claim_job("a-killed-process", long_ago, hale_fhir::Instant(0))
        .await
        .expect("a claim")
        .expect("a queued job");
    assert_eq!(claimed.id, job_id(&stopped), "the oldest job first");
    let claimed = app
        .exports
        .jobs
        .claim_job("a-killed-process", long_ago, hale_fhir::Instant(0))
        .await
        .expect("a claim")
        .expect("a queued job");
    assert_eq!(claimed.id, job_id(&died));
    assert_eq!(claimed.state, JobState::Running);

    let second = Arc::new(TestRunner::default());
    second.release();
    let _worker = hale_server::export::jobs::start_worker(
        app.exports.clone(),
        second.clone(),
        test_worker_config(),
    );
    for status_url in [&stopped, &died] {
        let manifest = finished(&app, status_url).await.manifest();
        assert_eq!(output_urls(&manifest).len(), 2);
        let job = app
            .exports
            .jobs
            .job(job_id(status_url), "all")
            .await
            .expect("a lookup")
            .expect("the job");
        assert_eq!(job.state, JobState::Complete);
        assert_eq!(job.attempts, 2, "{status_url} ran a second time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_export_files_where_it_is_told() {
    // By default, in the data directory; job URLs answer as for any unknown job.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = ServerProcess::start(dir.path(), &[]).await;
    assert!(dir.path().join("exports").is_dir());
    let unknown = format!("/bulk-data/r4/$export/job/{}", "0".repeat(32));
    server.get(&unknown).await.outcome(404, "not-found");
    server.delete(&unknown).await.outcome(404, "not-found");
    server.anonymous().get(&unknown).await.outcome(401, "login");
    server
        .send(server.request(reqwest::Method::POST, &unknown))
        .await
        .outcome(405, "not-supported");
    drop(server);

    let elsewhere = dir.path().join("elsewhere");
    let elsewhere_arg = elsewhere.display().to_string();
    let server = ServerProcess::start(dir.path(), &["--export-store", &elsewhere_arg]).await;
    assert!(elsewhere.is_dir());
    drop(server);

    // A store Hale cannot use stops it before it listens, saying which.
    let refused = run_hale([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &dir.path().display().to_string(),
        "--export-store",
        "ftp://files.example.org/exports",
    ]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("ftp://files.example.org/exports"),
        "{}",
        refused.stderr
    );
}

/// The S3-compatible server of `HALE_TEST_S3` (`.ci/run` starts moto's on loopback), or `None`
/// outside CI when it is not set.
fn s3_endpoint() -> Option<String> {
    match std::env::var("HALE_TEST_S3") {
        Ok(endpoint) => Some(endpoint.trim_end_matches('/').to_owned()),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "HALE_TEST_S3 must name an S3-compatible server under CI"
            );
            eprintln!("skipped: set HALE_TEST_S3 to an S3-compatible server (moto_server) to run");
            None
        }
    }
}

/// The keys under `prefix` in `bucket`, from S3's ListObjectsV2.
async fn s3_keys(endpoint: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let listing = reqwest::get(format!("{endpoint}/{bucket}?list-type=2&prefix={prefix}"))
        .await
        .expect("listing the bucket")
        .text()
        .await
        .expect("the listing");
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

/// With `--export-store s3://bucket/prefix` an asynchronous export writes its files through S3
/// and serves them from there; cancelling the finished job removes them from the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_export_files_go_through_s3() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let bucket = unique("hale-test").to_ascii_lowercase().replace('_', "-");
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("creating the bucket");
    assert!(created.status().is_success(), "{created:?}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = format!("s3://{bucket}/exports");
    let server = ServerProcess::start_with_env(
        dir.path(),
        &["--export-store", &store],
        &[
            ("AWS_ENDPOINT", &endpoint),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    )
    .await;
    let mut created = std::collections::BTreeSet::new();
    for n in 0..3 {
        let patient = crate::support::patient(&unique(&format!("s3-{n}")));
        created.insert(crate::support::id_of(&server.create("/r4", &patient).await));
    }
    let status_url = crate::export::kick_off_async(&server, "/r4/Patient/$export").await;
    let manifest = crate::export::completed(&server, &status_url).await;
    assert_eq!(
        manifest["output"].as_array().map(Vec::len),
        Some(1),
        "{manifest}"
    );
    let export = crate::export::download(&server, manifest).await;
    assert_eq!(export.ids("Patient"), created);
    // The file is an object in the bucket, under the configured prefix.
    let keys = s3_keys(&endpoint, &bucket, "exports/").await;
    assert!(
        keys.iter().any(|k| k.ends_with(".ndjson")),
        "the bucket holds the export's file: {keys:?}"
    );
    // Deleting the job removes its files from the bucket.
    server.delete(&status_url).await;
    let deadline = Instant::now() + WAIT;
    while !s3_keys(&endpoint, &bucket, "exports/").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the export's files stay in the bucket"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
