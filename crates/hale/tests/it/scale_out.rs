//! Scale-out: two `hale serve` processes on one PostgreSQL database (issue 8, item 3).
//!
//! Each test starts a [`Cluster`]: processes A and B, each with its own data directory, sharing
//! the database, the secret that signs search cursors, the export folder and a short stale limit
//! for export jobs. Nothing a client holds (a code, a token, a cursor, a status URL, a file URL)
//! may depend on which process issued it, and work the processes share (conditional creates,
//! export jobs) must happen once. Without a PostgreSQL server the tests are skipped with a note,
//! except under CI, where they fail (see `hale_store_postgres::testing`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::export::{completed, download, keys, kick_off_async};
use crate::identity::{Client, create_user, exchange, post_form};
use crate::support::{
    Http, ServerProcess, entries, id_of, link, observation, patient, run_hale, token, unique,
};

/// The cursor secret both processes share.
const SECRET: &str = "scale-out-test-secret-0123456789abcdef";

/// Seconds without a heartbeat after which the other process takes a running job over.
const STALE_SECS: &str = "2";

/// Longest a test waits for something another process does.
const WAIT: Duration = Duration::from_secs(30);

/// How often waits look again.
const POLL: Duration = Duration::from_millis(20);

/// Two `hale serve` processes on one fresh PostgreSQL database.
struct Cluster {
    a: ServerProcess,
    b: ServerProcess,
    /// The database URL.
    url: String,
    /// The data directories of A and B, and the shared export folder.
    _dirs: [TempDir; 3],
}

impl Cluster {
    /// Starts A, then B, both with `extra_args`; `None` (with a note) without PostgreSQL.
    async fn start(extra_args: &[&str]) -> Option<Cluster> {
        let url = hale_store_postgres::testing::fresh_database().await?;
        let dirs = [(); 3].map(|()| tempfile::tempdir().expect("a temporary directory"));
        let exports = dirs[2].path().to_str().expect("a UTF-8 path").to_owned();
        let mut args = vec![
            "--database",
            &url,
            "--secret",
            SECRET,
            "--export-store",
            &exports,
            "--export-stale-secs",
            STALE_SECS,
        ];
        args.extend_from_slice(extra_args);
        let a = ServerProcess::start(dirs[0].path(), &args).await;
        let b = ServerProcess::start(dirs[1].path(), &args).await;
        Some(Cluster {
            a,
            b,
            url,
            _dirs: dirs,
        })
    }

    /// A and B for even `n`, B and A for odd: the process to ask, and the other one.
    fn alternate(&self, n: usize) -> (&ServerProcess, &ServerProcess) {
        if n.is_multiple_of(2) {
            (&self.a, &self.b)
        } else {
            (&self.b, &self.a)
        }
    }

    /// A direct connection to the shared database.
    async fn database(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connecting to the test database");
        tokio::spawn(connection);
        client
    }
}

/// `url` (absolute, written by `from`) with its base swapped for `to`'s.
#[track_caller]
fn on(url: &str, from: &Http, to: &Http) -> String {
    let base = from.url("");
    let path = url
        .strip_prefix(&base)
        .unwrap_or_else(|| panic!("{url} is not absolute on {base}"));
    to.url(path)
}

/// The ids of a searchset page's matches.
fn match_ids(bundle: &Value) -> Vec<String> {
    entries(bundle).0.into_iter().map(|(_, id)| id).collect()
}

/// An export job's row, read from the database.
#[derive(Debug)]
struct JobRow {
    state: String,
    attempts: i32,
    claimed_by: Option<String>,
}

async fn job_row(db: &tokio_postgres::Client, job_id: &str) -> JobRow {
    let row = db
        .query_one(
            "SELECT state, attempts, claimed_by FROM export_job WHERE id = $1",
            &[&job_id],
        )
        .await
        .unwrap_or_else(|e| panic!("reading export job {job_id}: {e}"));
    JobRow {
        state: row.get(0),
        attempts: row.get(1),
        claimed_by: row.get(2),
    }
}

/// Whether the worker named `claimed_by` (`{pid}-{random}`) lives in `server`.
fn claimed_by(row: &JobRow, server: &ServerProcess) -> bool {
    row.claimed_by
        .as_deref()
        .is_some_and(|w| w.split('-').next() == Some(server.pid().to_string().as_str()))
}

/// The job id at the end of a status URL.
fn job_id(status_url: &str) -> String {
    status_url.rsplit('/').next().expect("a job id").to_owned()
}

/// Asserts that a manifest reports no errors and that every file URL in it is on `http`, the
/// process that served it.
#[track_caller]
fn assert_files_on(http: &Http, manifest: &Value) {
    assert_eq!(manifest["error"], json!([]), "{manifest}");
    for file in manifest["output"].as_array().expect("an output list") {
        let url = file["url"].as_str().expect("a file url");
        assert!(
            url.starts_with(&http.url("/")),
            "{url} is not on {}",
            http.url("")
        );
    }
}

/// A code issued by A is exchanged on B, and the token B issues acts as its user on A: apps,
/// users, codes and tokens live in the shared database, not in a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_by_one_process_works_on_the_other() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    let created = run_hale([
        "apps",
        "--database",
        &cluster.url,
        "create",
        "--name",
        "scale-out",
        "--json",
    ]);
    let created = created.success().json();
    let client = Client {
        client_id: created["client_id"].as_str().expect("a client_id").into(),
        client_secret: created["client_secret"]
            .as_str()
            .expect("a client_secret")
            .into(),
    };
    let (_, alice_code) = create_user(&cluster.a, &client, &unique("alice")).await;
    let tokens = exchange(&cluster.b, &client, &alice_code).await;
    let access_token = tokens["access_token"].as_str().expect("an access token");
    let alice_on_a = cluster.a.as_bearer(access_token);
    let alice_on_b = cluster.b.as_bearer(access_token);
    let created = alice_on_b
        .create("/r4", &patient(&unique("alice-patient")))
        .await;
    let path = format!("/r4/Patient/{}", id_of(&created));
    let read = alice_on_a.get(&path).await.resource(200);
    assert_eq!(read, created, "A serves what B stored for the same user");
    // Another user of the app, with a token issued by A, does not see it on B.
    let (_, code) = create_user(&cluster.b, &client, &unique("bob")).await;
    let bob_tokens = exchange(&cluster.a, &client, &code).await;
    let bob_on_b = cluster
        .b
        .as_bearer(bob_tokens["access_token"].as_str().expect("a token"));
    bob_on_b.get(&path).await.expect(404);
    // An unknown token is refused by both, so the reads above were the token's doing.
    for server in [&cluster.a, &cluster.b] {
        server
            .as_bearer("not-a-token-0123456789abcdef0123456789")
            .get(&path)
            .await
            .expect(401);
    }
    // The code was redeemed on B, so A refuses it as a replay, which revokes what it gave on
    // both processes (each within its token cache's few seconds).
    let mut form = client.form();
    form.push(("grant_type", "authorization_code".into()));
    form.push(("code", alice_code));
    let replay = post_form(&cluster.a, Method::POST, "/oauth2/token", &form).await;
    replay.expect(400);
    assert_eq!(replay.json()["error"], "invalid_grant");
    for alice in [&alice_on_a, &alice_on_b] {
        let deadline = Instant::now() + WAIT;
        while alice.get(&path).await.status != 401 {
            assert!(Instant::now() < deadline, "the revoked token still works");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A search's `next` links, signed by the shared secret, page on either process: following them
/// alternately on B and A yields every match once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_cursor_from_one_process_pages_on_the_other() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut created = BTreeSet::new();
    for n in 0..15 {
        let (server, _) = cluster.alternate(n);
        created.insert(id_of(
            &server.create("/r4", &patient(&unique("paged"))).await,
        ));
    }
    let mut page = cluster.a.get("/r4/Patient?_count=5").await.resource(200);
    let mut seen = match_ids(&page);
    let (mut writer, mut reader) = (&cluster.a, &cluster.b);
    let mut n_pages = 1;
    while let Some(next) = link(&page, "next") {
        assert!(n_pages < 10, "the pages never end");
        page = reader.get(&on(&next, writer, reader)).await.resource(200);
        n_pages += 1;
        seen.extend(match_ids(&page));
        (writer, reader) = (reader, writer);
    }
    assert_eq!(n_pages, 3, "15 matches in pages of 5");
    let unique_seen: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique_seen.len(), seen.len(), "no match twice: {seen:?}");
    assert_eq!(unique_seen, created, "every match once");
}

/// Conditional creates racing on both processes create one resource; the others find it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_conditional_creates_across_processes_make_no_duplicates() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    let identifier = unique("raced");
    let condition = format!("identifier={}", token(&identifier));
    let attempts = (0..10).map(|n| {
        let (server, _) = cluster.alternate(n);
        let request = server
            .with_body(Method::POST, "/r4/Patient", &patient(&identifier))
            .header("If-None-Exist", condition.clone());
        server.send(request)
    });
    let replies = futures::future::join_all(attempts).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "exactly one create: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        9,
        "the others found it: {statuses:?}"
    );
    let ids: BTreeSet<String> = replies.iter().map(|r| id_of(&r.json())).collect();
    assert_eq!(ids.len(), 1, "every answer is the one resource: {ids:?}");
    for server in [&cluster.a, &cluster.b] {
        let found = server
            .get(&format!("/r4/Patient?{condition}"))
            .await
            .resource(200);
        assert_eq!(found["total"], 1, "{found}");
    }
}

/// Export jobs kicked off on both processes each run once, on either, and their status and files
/// are served by the process that did not take the kick-off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_export_job_runs_exactly_once() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut expected = BTreeSet::new();
    for _ in 0..3 {
        let created = cluster.a.create("/r4", &patient(&unique("export"))).await;
        expected.insert(("Patient".to_owned(), id_of(&created)));
    }
    let mut jobs = Vec::new();
    for n in 0..4 {
        let (kicked, other) = cluster.alternate(n);
        let status = kick_off_async(kicked, "/r4/$export?_type=Patient").await;
        jobs.push((on(&status, kicked, other), other));
    }
    for (status, other) in &jobs {
        let manifest = completed(other, status).await;
        assert_files_on(other, &manifest);
        assert_eq!(keys(&download(other, manifest).await), expected, "{status}");
    }
    let db = cluster.database().await;
    let n_jobs: i64 = db
        .query_one("SELECT count(*) FROM export_job", &[])
        .await
        .expect("counting jobs")
        .get(0);
    assert_eq!(n_jobs, 4);
    for (status, _) in &jobs {
        let row = job_row(&db, &job_id(status)).await;
        assert_eq!(row.state, "complete", "{status}: {row:?}");
        assert_eq!(row.attempts, 1, "{status} ran once: {row:?}");
        assert!(
            claimed_by(&row, &cluster.a) || claimed_by(&row, &cluster.b),
            "a worker of A or B ran it: {row:?}"
        );
    }
}

/// A job whose process is killed while running it is taken over by the other once its
/// heartbeat is stale, and finishes there with every resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_s_job_is_taken_over_by_the_other() {
    // One resource per file makes the job long enough to be killed in the middle of it.
    const N_OBSERVATIONS: usize = 400;
    let Some(mut cluster) = Cluster::start(&["--export-file-max", "1"]).await else {
        return;
    };
    // `hale import` loads them into the shared database far faster than requests would.
    let subject = "killed-patient".to_owned();
    let mut ndjson = patient("killed").to_string() + "\n";
    ndjson = ndjson.replacen('{', &format!("{{\"id\":\"{subject}\","), 1);
    for n in 0..N_OBSERVATIONS {
        let mut resource = observation(&format!("Patient/{subject}"), &format!("killed-{n}"));
        resource["id"] = json!(format!("killed-{n}"));
        ndjson.push_str(&format!("{resource}\n"));
    }
    let load = tempfile::tempdir().expect("a temporary directory");
    let file = load.path().join("killed.ndjson");
    std::fs::write(&file, ndjson).expect("writing the NDJSON file");
    run_hale([
        "import".as_ref(),
        "--database".as_ref(),
        cluster.url.as_ref(),
        "--strict".as_ref(),
        file.as_os_str(),
    ])
    .success();
    let status = kick_off_async(&cluster.a, "/r4/$export").await;
    let job = job_id(&status);
    let db = cluster.database().await;

    // Wait until a worker holds the job, then kill its process without warning.
    let deadline = Instant::now() + WAIT;
    let running = loop {
        let row = job_row(&db, &job).await;
        if row.state == "running" && row.claimed_by.is_some() {
            break row;
        }
        assert!(
            ["queued", "running"].contains(&row.state.as_str()),
            "the job ended before it could be killed: {row:?}"
        );
        assert!(Instant::now() < deadline, "no worker claimed the job");
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(running.attempts, 1, "{running:?}");
    let a_ran_it = claimed_by(&running, &cluster.a);
    assert!(a_ran_it || claimed_by(&running, &cluster.b), "{running:?}");
    if a_ran_it {
        cluster.a.kill();
    } else {
        cluster.b.kill();
    }
    let survivor = if a_ran_it { &cluster.b } else { &cluster.a };
    let status = on(&status, &cluster.a, survivor);

    let manifest = completed(survivor, &status).await;
    let row = job_row(&db, &job).await;
    assert_eq!(row.state, "complete", "{row:?}");
    assert_eq!(
        row.attempts, 2,
        "claimed by the killed process, then the survivor"
    );
    assert!(
        claimed_by(&row, survivor),
        "the survivor finished it: {row:?}"
    );
    assert_files_on(survivor, &manifest);
    let lines = keys(&download(survivor, manifest).await);
    let observations = lines.iter().filter(|(t, _)| t == "Observation").count();
    assert_eq!(observations, N_OBSERVATIONS);
    assert!(lines.contains(&("Patient".to_owned(), subject)));
    assert_eq!(lines.len(), N_OBSERVATIONS + 1, "nothing else: {lines:?}");
}
