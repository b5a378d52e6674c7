//! W8, system search over the provider directory: issue 7's target, "a system search over
//! 50,000 systems answers in ≤ 5 ms p99".
//!
//! Once per harness run ([`prepare`]): [`systems::generate`] makes the systems (50,000 by
//! default) from the seed, the harness writes them as a JSON list, and `hale directory import`
//! loads them into a fresh data folder, timed (informational: the process's whole wall time).
//! A user of a bench app is then provisioned in that folder's database, through the same token
//! exchange a client makes, because a patient's picker searches with the patient's token.
//!
//! Each run ([`run`]) starts a fresh `hale serve` over the folder, as the real binary, because
//! the directory and its search index belong to the server process (the index is built when it
//! starts, and the first search may wait for it; that first answer's time is reported). Then:
//!
//! - **the checked pass**, over one connection: every query of the mix ([`queries::draw`]) at
//!   offsets 0, 20 and 40, and on through further pages while its system is not found yet when
//!   few enough systems may match ([`queries::SCAN_LIMIT`]); every page gets the page check
//!   ([`queries::Query::check_page`]), no system may come twice across the pages of one query,
//!   and every scanned query must find its system (every typo query is scanned). The latency of
//!   the page the mix sends is kept per kind, for the report's W8 table;
//! - **a few single checks**: `POST` with the parameters in a form body answers what `GET` does;
//!   the operator token is accepted too; an unknown token answers 401; a query with a character
//!   other than a letter, digit, space or `'` answers 400;
//! - **the timed mix**: a closed loop over [`CONNECTIONS`] connections for `--duration-secs`
//!   after a warm-up, each request a random query of the mix with the user's token, every answer
//!   given the page check after its latency is taken. The figure is requests per second, with
//!   p50 and p99 latency; the target is p99 ≤ [`TARGET_P99_MS`] ms.
//!
//! The server still runs and answers `/healthz` afterwards.

pub mod queries;
pub mod systems;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::header::HeaderValue;
use hyper::{StatusCode, Uri};
use serde_json::{Value, json};

use crate::client::{self, Answer, Connection};
use crate::report::{self, RunChecks};
use crate::server::BenchServer;
use crate::workload::memory::ServeProcess;
use crate::workload::read::{LoadRun, splitmix64};
use queries::{Kind, Oracle, PAGE, Query, SCAN_LIMIT};
use systems::System;

/// Systems in the directory by default.
pub const DEFAULT_SYSTEMS: usize = 50_000;

/// Connections of the timed mix: a few pickers typing at once.
pub const CONNECTIONS: usize = 4;

/// The target: p99 latency of the timed mix, ms.
pub const TARGET_P99_MS: f64 = 5.0;

/// How long the first search after the server starts may take (it may wait for the index).
const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Problems of one kind a check's detail shows; more would only repeat them.
const SAMPLES: usize = 3;

/// The directory W8 searches, imported into a data folder.
pub struct Directory {
    /// The systems, in id order.
    pub systems: Arc<Vec<System>>,
    /// The query mix.
    pub queries: Arc<Vec<Query>>,
    /// Locations over all systems.
    pub locations: usize,
    /// Bytes of the JSON list imported.
    pub json_bytes: u64,
    /// Wall time of `hale directory import`, seconds.
    pub import_seconds: f64,
    /// What `hale directory import --json` printed.
    pub import_summary: Value,
    /// `Bearer` and the access token of a user of a bench app.
    pub authorization: HeaderValue,
    /// The checks of the import.
    pub checks: RunChecks,
    data_dir: PathBuf,
    // Dropped last: the data folder and the JSON list live in it.
    _folder: tempfile::TempDir,
}

/// Generates `n_systems` systems from `seed`, imports them with `binary` into a fresh data
/// folder, provisions the bench user there, and draws the query mix.
pub fn prepare(binary: &Path, n_systems: usize, seed: u64) -> anyhow::Result<Directory> {
    anyhow::ensure!(n_systems > 0, "W8 needs at least one system");
    let systems = systems::generate(n_systems, seed);
    let folder = tempfile::Builder::new()
        .prefix("hale-bench-w8-")
        .tempdir()?;
    let list = folder.path().join("systems.json");
    let json = systems::to_json_list(&systems);
    std::fs::write(&list, &json).with_context(|| format!("writing {}", list.display()))?;
    let data_dir = folder.path().join("data");

    let started = Instant::now();
    let output = Command::new(binary)
        .args(["directory", "import", "--json", "--data-dir"])
        .arg(&data_dir)
        .arg(&list)
        .env_remove("HALE_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {} directory import", binary.display()))?;
    let import_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "`hale directory import` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let import_summary: Value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    let mut checks = RunChecks::default();
    checks.check(
        "W8 import: `hale directory import --json` succeeds and prints JSON",
        !import_summary.is_null(),
        stdout.chars().take(300).collect::<String>(),
    );
    checks.check(
        "W8 import: the summary counts every system",
        holds_number(&import_summary, n_systems as u64),
        format!("looked for {n_systems} in {import_summary}"),
    );
    crate::progress(format!(
        "W8 import: {} systems ({:.0} MB of JSON) in {import_seconds:.2} s",
        report::thousands(n_systems as f64),
        json.len() as f64 / 1e6
    ));

    let authorization = provision_user(&data_dir.join("hale.db"))?;
    let oracle = Oracle::new(&systems);
    let queries = queries::draw(&systems, &oracle, seed);
    anyhow::ensure!(!queries.is_empty(), "W8 could not draw any query");
    Ok(Directory {
        locations: systems.iter().map(|s| s.locations.len()).sum(),
        systems: Arc::new(systems),
        queries: Arc::new(queries),
        json_bytes: json.len() as u64,
        import_seconds,
        import_summary,
        authorization,
        checks,
        data_dir,
        _folder: folder,
    })
}

/// Whether `value` holds the number `n` anywhere: the summary's shape is the CLI's, and a count
/// of the systems imported is what matters in it.
fn holds_number(value: &Value, n: u64) -> bool {
    match value {
        Value::Number(number) => number.as_u64() == Some(n),
        Value::Array(items) => items.iter().any(|v| holds_number(v, n)),
        Value::Object(fields) => fields.values().any(|v| holds_number(v, n)),
        _ => false,
    }
}

/// `Bearer` and an access token of a user of a bench app, minted in the database at `db`
/// through the in-process server's token exchange, as W5-mem does.
fn provision_user(db: &Path) -> anyhow::Result<HeaderValue> {
    let server = BenchServer::start_at(db, true)?;
    let authorization = server.user_target().authorization;
    server.stop()?;
    Ok(authorization)
}

/// What one kind's queries showed in the checked pass.
#[derive(Clone, Debug, Default)]
pub struct KindStats {
    /// The queries of the kind.
    pub queries: usize,
    /// Those scanned for their system.
    pub scanned: usize,
    /// Latencies of the page the mix sends, µs, sorted.
    pub latencies_us: Vec<u32>,
    /// Systems on those pages.
    pub systems_on_pages: u64,
}

impl KindStats {
    /// The details of the kind for the report.
    pub fn details(&self, kind: Kind, example: &str) -> Value {
        json!({
            "kind": kind.name(),
            "example": example,
            "queries": self.queries,
            "scanned_for_their_system": self.scanned,
            "p50_ms_1_connection": client::quantile_ms(&self.latencies_us, 0.50),
            "p99_ms_1_connection": client::quantile_ms(&self.latencies_us, 0.99),
            "mean_systems_per_page": self.systems_on_pages as f64 / self.queries.max(1) as f64,
        })
    }
}

/// What one run measured.
pub struct SearchRun {
    /// The timed mix, with every check of the run.
    pub load: LoadRun,
    /// Seconds from the server saying it listens to the first search's answer.
    pub first_answer_seconds: f64,
    /// The checked pass, by kind, in [`Kind::ALL`]'s order.
    pub by_kind: Vec<KindStats>,
    /// Requests of the checked pass.
    pub checked_requests: u64,
}

/// Starts `hale serve` over the directory, checks every query, and times the mix.
pub fn run(
    binary: &Path,
    directory: &Directory,
    client: &tokio::runtime::Runtime,
    warmup: Duration,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<SearchRun> {
    let operator_token = hale_auth::secret::new_access_token();
    let mut server = ServeProcess::start_with_env(
        binary,
        &directory.data_dir,
        &[],
        &[("HALE_ADMIN_TOKEN", &operator_token)],
    )?;
    let started = Instant::now();
    let addr = server
        .addr()
        .parse()
        .with_context(|| format!("the address {:?}", server.addr()))?;
    let user = client::Target {
        addr,
        authorization: directory.authorization.clone(),
    };
    let operator = client::Target {
        addr,
        authorization: HeaderValue::from_str(&format!("Bearer {operator_token}"))?,
    };
    let mut checks = directory.checks.clone();

    // The first search may wait for the index; it is the warm-up, and its time is reported.
    let first_query = &directory.queries[0];
    let first = client.block_on(async {
        let mut connection = Connection::open(&user).await?;
        tokio::time::timeout(FIRST_ANSWER_TIMEOUT, connection.get(first_query.uri()))
            .await
            .context("the first search did not answer in time")?
    })?;
    let first_answer_seconds = started.elapsed().as_secs_f64();
    let first_check = first_query.check_page(first_query.offset, &first, &directory.systems);
    checks.check(
        "W8: the first search after the server starts passes the page check",
        first_check.is_ok(),
        first_check.err().unwrap_or_else(|| {
            format!("answered {first_answer_seconds:.2} s after the server said it listens")
        }),
    );

    let pass = client.block_on(checked_pass(&user, directory))?;
    pass.record(&mut checks);
    client.block_on(single_checks(&user, &operator, directory, &mut checks))?;

    let next = {
        let queries = directory.queries.clone();
        move |task: usize, request: u64| {
            let r = splitmix64(seed ^ ((task as u64) << 40) ^ request);
            let idx = (r % queries.len() as u64) as usize;
            (queries[idx].uri(), idx)
        }
    };
    let check = {
        let (queries, systems) = (directory.queries.clone(), directory.systems.clone());
        move |idx: usize, answer: &Answer| {
            let query = &queries[idx];
            query.check_page(query.offset, answer, &systems).err()
        }
    };
    let result = client.block_on(client::closed_loop(
        user,
        CONNECTIONS,
        warmup,
        duration,
        next,
        check,
    ))?;
    let mut load = LoadRun::from_loop(&result);
    checks.0.append(&mut load.checks.0);
    server.check_still_serving("W8", "searches", &mut checks);
    load.checks = checks;
    Ok(SearchRun {
        load,
        first_answer_seconds,
        by_kind: pass.by_kind,
        checked_requests: pass.requests,
    })
}

/// What the checked pass found.
struct CheckedPass {
    requests: u64,
    by_kind: Vec<KindStats>,
    page_failures: Problems,
    duplicates: Problems,
    missing: Problems,
    typo_missing: Problems,
    found: u64,
    typo_found: u64,
}

/// Problems of one check: how many, and the first few.
#[derive(Default)]
struct Problems {
    count: u64,
    samples: Vec<String>,
}

impl Problems {
    fn push(&mut self, problem: String) {
        self.count += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(problem);
        }
    }

    fn record(&self, checks: &mut RunChecks, name: &str, passed_detail: String) {
        let detail = if self.count == 0 {
            passed_detail
        } else {
            format!("{} failed: {}", self.count, self.samples.join("; "))
        };
        checks.check(name, self.count == 0, detail);
    }
}

impl CheckedPass {
    fn record(&self, checks: &mut RunChecks) {
        let pages = format!("{} requests", self.requests);
        self.page_failures.record(
            checks,
            "W8 checked pass: every page is 200, an array of at most 20 generated systems (id, name, resourceUrl, address), each matching the query and its system_type, none twice, and full where the data says more match",
            pages.clone(),
        );
        self.duplicates.record(
            checks,
            "W8 checked pass: no system twice across the pages of one query (offsets 0, 20, 40, and on while scanning)",
            pages,
        );
        self.missing.record(
            checks,
            &format!(
                "W8 checked pass: every query that at most {} systems may match finds the system it was built from",
                report::thousands(SCAN_LIMIT as f64)
            ),
            format!("{} found", self.found),
        );
        self.typo_missing.record(
            checks,
            "W8 checked pass: every typo query finds the system it was built from",
            format!("{} found", self.typo_found),
        );
    }
}

/// Every query of the mix over one connection, page after page, each page checked.
async fn checked_pass(
    target: &client::Target,
    directory: &Directory,
) -> anyhow::Result<CheckedPass> {
    let mut connection = Connection::open(target).await?;
    let mut pass = CheckedPass {
        requests: 0,
        by_kind: vec![KindStats::default(); Kind::ALL.len()],
        page_failures: Problems::default(),
        duplicates: Problems::default(),
        missing: Problems::default(),
        typo_missing: Problems::default(),
        found: 0,
        typo_found: 0,
    };
    for query in directory.queries.iter() {
        let kind_idx = Kind::ALL
            .iter()
            .position(|k| *k == query.kind)
            .unwrap_or_default();
        let stats = &mut pass.by_kind[kind_idx];
        stats.queries += 1;
        let mut seen: HashSet<usize> = HashSet::new();
        let mut found = false;
        let mut offset = 0;
        loop {
            let started = Instant::now();
            let answer = connection.get(query.uri_at(offset)).await?;
            let elapsed = started.elapsed();
            pass.requests += 1;
            let page = match query.check_page(offset, &answer, &directory.systems) {
                Ok(page) => page,
                Err(problem) => {
                    pass.page_failures.push(problem);
                    break;
                }
            };
            if offset == query.offset {
                stats
                    .latencies_us
                    .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                stats.systems_on_pages += page.len() as u64;
            }
            if let Some(again) = page.iter().find(|idx| !seen.insert(**idx)) {
                pass.duplicates.push(format!(
                    "{}: {} came on an earlier page",
                    query.describe(offset),
                    directory.systems[*again].id
                ));
                break;
            }
            found |= page.contains(&query.target);
            offset += PAGE;
            // Pages 0, 20 and 40 of every query; further pages only while looking for the
            // system, and never past what may match.
            let wanted =
                offset <= 2 * PAGE || (query.scanned() && !found && offset <= SCAN_LIMIT + PAGE);
            if page.len() < PAGE || !wanted {
                break;
            }
        }
        if query.scanned() {
            stats.scanned += 1;
            let (found_count, missing) = if query.kind == Kind::Typo {
                (&mut pass.typo_found, &mut pass.typo_missing)
            } else {
                (&mut pass.found, &mut pass.missing)
            };
            if found {
                *found_count += 1;
            } else {
                let system = &directory.systems[query.target];
                missing.push(format!(
                    "{}: {} ({:?}) is on no page (at most {} may match)",
                    query.describe(0),
                    system.id,
                    system.name,
                    query.upper
                ));
            }
        }
    }
    for stats in &mut pass.by_kind {
        stats.latencies_us.sort_unstable();
    }
    Ok(pass)
}

/// `POST` with a form body, the operator token, an unknown token, and a forbidden character.
async fn single_checks(
    user: &client::Target,
    operator: &client::Target,
    directory: &Directory,
    checks: &mut RunChecks,
) -> anyhow::Result<()> {
    let systems = &directory.systems;
    let query = &directory.queries[0];
    let mut connection = Connection::open(user).await?;
    let by_get = query.check_page(0, &connection.get(query.uri_at(0)).await?, systems);

    let mut posted = connection
        .post_form(Uri::from_static("/api/search"), query.form_at(0))
        .await?;
    // 1up documents 201 for the POST; 200 is what GET answers. Either will do.
    if posted.status == StatusCode::CREATED {
        posted.status = StatusCode::OK;
    }
    let by_post = query.check_page(0, &posted, systems);
    checks.check(
        "W8: POST /api/search with a form body answers the systems GET does, in the same order",
        by_get.is_ok() && by_get == by_post,
        format!("{}: {}", query.describe(0), ids(&by_post, systems)),
    );

    let by_operator = query.check_page(
        0,
        &Connection::open(operator)
            .await?
            .get(query.uri_at(0))
            .await?,
        systems,
    );
    checks.check(
        "W8: the operator token is accepted too, with the same answer",
        by_get.is_ok() && by_get == by_operator,
        ids(&by_operator, systems),
    );

    let stranger = client::Target {
        addr: user.addr,
        authorization: HeaderValue::from_static("Bearer hale-bench-unknown-token"),
    };
    let refused = Connection::open(&stranger)
        .await?
        .get(query.uri_at(0))
        .await?;
    checks.check(
        "W8: an unknown token answers 401",
        refused.status == StatusCode::UNAUTHORIZED,
        refused.describe(),
    );

    // `!` is none of the characters a query may hold (letters, digits, spaces and `'`).
    let forbidden = connection
        .get(Uri::from_static("/api/search?query=mercy%21"))
        .await?;
    checks.check(
        "W8: a query with a character other than letters, digits, spaces and ' answers 400",
        forbidden.status == StatusCode::BAD_REQUEST,
        forbidden.describe(),
    );
    Ok(())
}

/// The ids of a checked page, or what was wrong with it.
fn ids(page: &Result<Vec<usize>, String>, systems: &[System]) -> String {
    match page {
        Ok(page) => {
            let ids: Vec<String> = page
                .iter()
                .map(|idx| systems[*idx].id.to_string())
                .collect();
            format!("ids {}", ids.join(", "))
        }
        Err(problem) => problem.clone(),
    }
}

/// One example query of each kind, for the report.
pub fn examples(queries: &[Query]) -> Vec<String> {
    Kind::ALL
        .iter()
        .map(|kind| {
            queries
                .iter()
                .find(|q| q.kind == *kind)
                .map(|q| q.describe(q.offset))
                .unwrap_or_default()
        })
        .collect()
}
