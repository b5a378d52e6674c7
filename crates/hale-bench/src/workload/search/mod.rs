//! W4, the search mix of `benchmarks.md` over a store of a million resources: for each query
//! shape ([`shapes`]), the first page (default `_count`, 10) of searches whose parameters are
//! drawn from the data, in two closed loops run one after the other:
//!
//! - **latency**: [`LATENCY_CONNECTIONS`] connection, so that p50 and p99 are the time one search
//!   takes, not the time it waits behind others on a 2-core machine; every answer gets the full
//!   check ([`shapes::full_check`]), after its latency is taken;
//! - **throughput**: [`THROUGHPUT_CONNECTIONS`] connections, enough to keep both cores busy with
//!   searches in flight, for requests per second; answers get the quick check
//!   ([`shapes::quick_check`]), which leaves the CPUs to the server.
//!
//! The data is built once per harness run and backend ([`load`]), or reused from a database an
//! earlier run built (`--w4-db` for SQLite, `--w4-pg-db` for PostgreSQL), and stays for every run
//! and shape. What the answers must be comes from [`facts`], read from the database itself (the
//! SQLite file, or the PostgreSQL database over a connection of the harness's own) before any
//! timing.

pub mod facts;
pub mod load;
pub mod shapes;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use crate::client::{self, Answer};
use crate::data;
use crate::pg;
use crate::report::{self, CeilingRatio, Latency, RunChecks, Target, WorkloadResult, median};
use crate::server::{Backend, BenchServer, Database};
use crate::workload::read::splitmix64;
use facts::Facts;
use shapes::{Kind, Shape};

/// Connections of the latency loop.
pub const LATENCY_CONNECTIONS: usize = 1;

/// Connections of the throughput loop.
pub const THROUGHPUT_CONNECTIONS: usize = 8;

/// The default size of W4's store.
pub const DEFAULT_RESOURCES: u64 = 1_000_000;

/// What W4 runs over.
#[derive(Clone, Debug)]
pub struct W4Options {
    /// The store's backend.
    pub backend: Backend,
    /// The Synthea folder to build the store from.
    pub data: Option<PathBuf>,
    /// Resources to load, at least.
    pub resources: u64,
    /// A database file to build and keep, or to reuse if it exists (SQLite).
    pub db: Option<PathBuf>,
    /// The URL of a PostgreSQL database to build and keep, or to reuse if it exists
    /// (PostgreSQL).
    pub pg_db: Option<String>,
    /// The seed of the parameter draws and of each run's choice of requests.
    pub seed: u64,
}

/// The marker written next to a database W4 built and kept: a database without it is a build
/// that did not finish, and is not reused.
#[derive(Serialize, Deserialize)]
struct Marker {
    description: String,
    resources: u64,
}

fn marker_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".w4.json");
    PathBuf::from(name)
}

/// The store W4 searches, with what it holds.
pub struct Prepared {
    /// The server over the store.
    pub server: BenchServer,
    /// What the data holds.
    pub facts: Arc<Facts>,
    /// The query shapes, with their requests.
    pub shapes: Arc<Vec<Shape>>,
    /// How the store was made, for the report.
    pub description: String,
    /// The checks of the load (or of the reused database).
    pub checks: RunChecks,
}

/// W4's million-resource store, open in an in-process server: built from the Synthea folder,
/// or reused from a database an earlier run built and kept. W6 exports it too.
pub struct Store {
    /// The server over the store.
    pub server: BenchServer,
    /// How the store was made, for the report.
    pub description: String,
    /// The checks of the load (or of the reused database).
    pub checks: RunChecks,
    /// The resources a reused database's build recorded in its marker.
    pub recorded: Option<u64>,
}

/// Builds (or reopens) W4's store and reads its facts.
pub fn prepare(options: &W4Options) -> anyhow::Result<Prepared> {
    let Store {
        server,
        description,
        mut checks,
        recorded,
    } = open_store(options)?;
    let facts = match (server.sqlite_path(), server.postgres_url()) {
        (Some(db), _) => facts::read(&db, options.seed)?,
        (None, Some(url)) => facts::read_postgres(url, options.seed)?,
        (None, None) => anyhow::bail!("the store is neither SQLite nor PostgreSQL"),
    };
    if let Some(recorded) = recorded {
        checks.equal(
            "W4 reused database: resources = those its build recorded",
            facts.resources(),
            recorded,
        );
    }
    let shapes = shapes::shapes(&facts);
    Ok(Prepared {
        server,
        facts: Arc::new(facts),
        shapes: Arc::new(shapes),
        description,
        checks,
    })
}

/// A database W4 built and kept, found again: where it is and what its build recorded.
struct Kept {
    database: Database,
    /// Where it is, for the report.
    place: String,
    marker: Marker,
}

/// The database a reusing run finds, if `options` names one that exists: an SQLite file
/// (`--w4-db`) or a PostgreSQL database (`--w4-pg-db`), each with the marker its build wrote
/// when it finished.
fn find_kept(options: &W4Options) -> anyhow::Result<Option<Kept>> {
    match &options.backend {
        Backend::Sqlite => {
            let Some(db) = options.db.as_deref().filter(|db| db.exists()) else {
                return Ok(None);
            };
            let text = std::fs::read(marker_path(db)).with_context(|| {
                format!(
                    "{} exists but {} does not, so its build did not finish; delete it to build it again",
                    db.display(),
                    marker_path(db).display()
                )
            })?;
            let marker: Marker = serde_json::from_slice(&text)
                .with_context(|| format!("reading {}", marker_path(db).display()))?;
            Ok(Some(Kept {
                database: Database::SqliteKept(db.to_owned()),
                place: db.display().to_string(),
                marker,
            }))
        }
        Backend::Postgres { admin_url } => {
            let Some(url) = &options.pg_db else {
                return Ok(None);
            };
            if !pg::exists(admin_url, pg::database_name(url)?)? {
                return Ok(None);
            }
            let marker = pg::read_marker(url)?.with_context(|| {
                format!(
                    "the database {} exists but holds no finished W4 build; drop it to build it again",
                    pg::redacted(url)
                )
            })?;
            Ok(Some(Kept {
                database: Database::PostgresKept(url.clone()),
                place: pg::redacted(url),
                marker: Marker {
                    description: marker.description,
                    resources: marker.resources,
                },
            }))
        }
    }
}

/// The empty database a building run loads into: the one `--w4-db` or `--w4-pg-db` names
/// (created, and kept afterwards), or a fresh one dropped after the run.
fn database_to_build(options: &W4Options) -> anyhow::Result<Database> {
    match (&options.backend, &options.db, &options.pg_db) {
        (Backend::Sqlite, Some(db), _) => Ok(Database::SqliteKept(db.clone())),
        (Backend::Postgres { admin_url }, _, Some(url)) => {
            pg::create(admin_url, pg::database_name(url)?)?;
            Ok(Database::PostgresKept(url.clone()))
        }
        (backend, _, _) => Database::fresh(backend),
    }
}

/// Records that the build in `server`'s database finished, so that later runs may reuse it.
fn write_marker(server: &BenchServer, marker: &Marker) -> anyhow::Result<()> {
    match server.database() {
        Database::SqliteKept(db) => {
            std::fs::write(marker_path(db), serde_json::to_vec_pretty(marker)?)
                .with_context(|| format!("writing {}", marker_path(db).display()))
        }
        Database::PostgresKept(url) => pg::write_marker(
            url,
            &pg::Marker {
                description: marker.description.clone(),
                resources: marker.resources,
            },
        ),
        // A database dropped after the run needs no marker.
        Database::SqliteTemporary(_) | Database::PostgresFresh(_) => Ok(()),
    }
}

/// Builds W4's store, or reopens the one `options.db` (SQLite) or `options.pg_db` (PostgreSQL)
/// names, and starts a server over it.
pub fn open_store(options: &W4Options) -> anyhow::Result<Store> {
    let mut checks = RunChecks::default();
    // The W4 store runs with `synchronous=NORMAL` on SQLite: it only matters to the load, which
    // is setup and would otherwise wait on an fsync per commit, and not at all to the searches.
    // PostgreSQL keeps its server's settings.
    let (server, description, recorded) = match find_kept(options)? {
        Some(Kept {
            database,
            place,
            marker,
        }) => {
            let server = BenchServer::start_on(database, false)?;
            // A database built by an older Hale may hold an index by other rules (or, after a
            // migration, none): rebuild it as `hale serve` would before answering, untimed.
            let engine = server.engine().clone();
            if server.block_on(engine.index_is_stale())? {
                eprintln!("hale-bench: W4 store: rebuilding its search index (setup, untimed)");
                let started = std::time::Instant::now();
                let resources = server.block_on(engine.reindex())?;
                eprintln!(
                    "hale-bench: W4 store: reindexed {resources} resources in {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
            let description = format!("{} (reused from {place})", marker.description);
            (server, description, Some(marker.resources))
        }
        None => {
            let dir = options.data.as_deref().context(
                "W4 and W6 need --data with a Synthea folder (its MedicationRequests reference Medication resources, which hale-synth does not write), or --w4-db (--w4-pg-db) with a database an earlier run built",
            )?;
            let data = data::synthea(dir)?;
            let server = BenchServer::start_on(database_to_build(options)?, false)?;
            eprintln!(
                "hale-bench: W4 load: building a {} store of at least {} resources from {}",
                options.backend.label(),
                report::thousands(options.resources as f64),
                data.label
            );
            let loaded = load::load(&server, &data, options.resources)?;
            let load_ok = loaded.checks.0.iter().all(|c| c.passed);
            checks.0.extend(loaded.checks.0.iter().cloned());
            let server = server.reopen()?;
            let settled = match options.backend {
                Backend::Sqlite => format!("{} WAL checkpoints", loaded.checkpoints),
                Backend::Postgres { .. } => "VACUUM ANALYZE afterwards".into(),
            };
            let description = format!(
                "{} resources in {}: the {} shared batch Bundles of {} once, then its {} patient transaction Bundles {:.2} times ({} Bundles), loaded in process in {:.0} s ({} resources/s) with {settled}",
                report::thousands((loaded.created) as f64),
                options.backend.label(),
                data.shared.len(),
                data.label,
                data.patients.len(),
                loaded.rounds,
                loaded.patient_bundles,
                loaded.seconds,
                report::thousands(loaded.created as f64 / loaded.seconds.max(1e-9)),
            );
            eprintln!("hale-bench: W4 store: {description}");
            if load_ok {
                write_marker(
                    &server,
                    &Marker {
                        description: description.clone(),
                        resources: loaded.created,
                    },
                )?;
            }
            (server, description, None)
        }
    };
    Ok(Store {
        server,
        description,
        checks,
        recorded,
    })
}

/// What the full checks saw over the pages of one latency loop.
#[derive(Clone, Copy, Debug, Default)]
struct PageTotals {
    pages: u64,
    total: u64,
    matches: u64,
    included: u64,
    bytes: u64,
}

/// What one run of one shape measured.
pub struct ShapeRun {
    /// Requests per second over [`THROUGHPUT_CONNECTIONS`].
    pub rate: f64,
    /// Requests per second over [`LATENCY_CONNECTIONS`].
    pub rate_single: f64,
    /// Latency percentiles over [`LATENCY_CONNECTIONS`], ms.
    pub latency: Latency,
    /// Latency percentiles over [`THROUGHPUT_CONNECTIONS`], ms.
    pub latency_loaded: Latency,
    /// Requests measured in the latency loop.
    pub requests_single: u64,
    /// Requests measured in the throughput loop.
    pub requests: u64,
    /// Mean `total` of the pages fully checked.
    pub mean_total: f64,
    /// Mean matches per page.
    pub mean_matches: f64,
    /// Mean include entries per page.
    pub mean_included: f64,
    /// Mean body size, bytes.
    pub mean_bytes: f64,
    /// The checks.
    pub checks: RunChecks,
}

/// Sends every request drawn for shape `shape_idx` once, in order, over one connection, and
/// fully checks each answer, until all are sent or `budget` is spent. The timed loops choose
/// requests at random, and a slow shape makes few of them in a run, so without the sweep a
/// wrong answer to one drawn value could go unseen.
pub fn sweep(
    prepared: &Prepared,
    shape_idx: usize,
    client: &tokio::runtime::Runtime,
    budget: Duration,
) -> RunChecks {
    let shape = &prepared.shapes[shape_idx];
    let target = prepared.server.user_target();
    let outcome = client.block_on(async {
        let mut connection = client::Connection::open(&target).await?;
        let started = std::time::Instant::now();
        let (mut checked, mut failed, mut samples) = (0usize, 0usize, Vec::new());
        for query in &shape.queries {
            if started.elapsed() >= budget {
                break;
            }
            let answer = connection.get(query.uri.clone()).await?;
            checked += 1;
            if let Err(problem) = shapes::full_check(shape, query, &prepared.facts, &answer) {
                failed += 1;
                if samples.len() < 2 {
                    samples.push(problem);
                }
            }
        }
        Ok::<_, anyhow::Error>((checked, failed, samples))
    });
    let mut checks = RunChecks::default();
    match outcome {
        Ok((checked, failed, samples)) => {
            let samples = if samples.is_empty() {
                String::new()
            } else {
                format!("; {}", samples.join("; "))
            };
            checks.check(
                "every drawn request, sent once before timing, passes the full check",
                failed == 0,
                format!(
                    "{failed} failed of {checked} sent ({} drawn, {:.0} s budget){samples}",
                    shape.queries.len(),
                    budget.as_secs_f64()
                ),
            );
        }
        Err(e) => checks.check(
            "every drawn request, sent once before timing, passes the full check",
            false,
            format!("{e:#}"),
        ),
    }
    checks
}

/// Runs both loops of shape `shape_idx`.
pub fn measure(
    prepared: &Prepared,
    shape_idx: usize,
    client: &tokio::runtime::Runtime,
    warmup: Duration,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<ShapeRun> {
    let shape = &prepared.shapes[shape_idx];
    anyhow::ensure!(
        !shape.queries.is_empty(),
        "the data holds no values for {} to draw from ({})",
        shape.search,
        shape.drawn_from.unwrap_or("none")
    );
    let next = {
        let shapes = prepared.shapes.clone();
        move |task: usize, request: u64| {
            let queries = &shapes[shape_idx].queries;
            let r = splitmix64(seed ^ ((task as u64) << 40) ^ request);
            let idx = (r % queries.len() as u64) as usize;
            (queries[idx].uri.clone(), idx)
        }
    };
    let page_totals = Arc::new(Mutex::new(PageTotals::default()));
    let full = {
        let (shapes, facts, page_totals) = (
            prepared.shapes.clone(),
            prepared.facts.clone(),
            page_totals.clone(),
        );
        move |idx: usize, answer: &Answer| {
            let shape = &shapes[shape_idx];
            match shapes::full_check(shape, &shape.queries[idx], &facts, answer) {
                Ok(page) => {
                    let mut totals = page_totals
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    totals.pages += 1;
                    totals.total += page.total;
                    totals.matches += page.matches;
                    totals.included += page.included;
                    totals.bytes += page.bytes;
                    None
                }
                Err(problem) => Some(problem),
            }
        }
    };
    let quick = {
        let shapes = prepared.shapes.clone();
        move |idx: usize, answer: &Answer| {
            shapes::quick_check(&shapes[shape_idx].queries[idx], answer)
        }
    };
    let target = prepared.server.user_target();
    let single = client.block_on(client::closed_loop(
        target.clone(),
        LATENCY_CONNECTIONS,
        warmup,
        duration,
        next.clone(),
        full,
    ))?;
    let loaded = client.block_on(client::closed_loop(
        target,
        THROUGHPUT_CONNECTIONS,
        warmup,
        duration,
        next,
        quick,
    ))?;

    let mut checks = RunChecks::default();
    // Two samples say what went wrong; more would only repeat it.
    let samples = |samples: &[String]| {
        if samples.is_empty() {
            String::new()
        } else {
            format!("; {}", samples[..samples.len().min(2)].join("; "))
        }
    };
    checks.check(
        "requests measured over 1 and over 8 connections",
        single.requests > 0 && loaded.requests > 0,
        format!("{} and {}", single.requests, loaded.requests),
    );
    checks.check(
        "every answer over 1 connection passes the full check (status 200, searchset, total as the data says, min(total, 10) matches meeting the search, exactly the includes the path reaches, no outcome, no duplicate)",
        single.failures == 0,
        format!(
            "{} failed{}",
            single.failures,
            samples(&single.failure_samples)
        ),
    );
    checks.check(
        "every answer over 8 connections passes the quick check (status 200, searchset, total as the data says)",
        loaded.failures == 0,
        format!(
            "{} failed{}",
            loaded.failures,
            samples(&loaded.failure_samples)
        ),
    );
    let totals = *page_totals
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mean = |sum: u64| sum as f64 / totals.pages.max(1) as f64;
    Ok(ShapeRun {
        rate: loaded.rate(),
        rate_single: single.rate(),
        latency: Latency {
            p50: single.quantile_ms(0.50),
            p99: single.quantile_ms(0.99),
        },
        latency_loaded: Latency {
            p50: loaded.quantile_ms(0.50),
            p99: loaded.quantile_ms(0.99),
        },
        requests_single: single.requests,
        requests: loaded.requests,
        mean_total: mean(totals.total),
        mean_matches: mean(totals.matches),
        mean_included: mean(totals.included),
        mean_bytes: mean(totals.bytes),
        checks,
    })
}

/// The runs of one shape.
#[derive(Default)]
pub struct ShapeSeries {
    runs: Vec<ShapeRun>,
    checks: Vec<RunChecks>,
}

impl ShapeSeries {
    /// Adds checks made outside the runs (the sweep).
    pub fn add_checks(&mut self, checks: RunChecks) {
        self.checks.push(checks);
    }

    /// Adds a run, or the checks of a run that failed.
    pub fn push(
        &mut self,
        shape: &Shape,
        run_idx: usize,
        runs: usize,
        run: anyhow::Result<ShapeRun>,
    ) {
        match run {
            Ok(run) => {
                crate::progress(format!(
                    "{} run {}/{runs}: {} req/s over {THROUGHPUT_CONNECTIONS} connections; p50 {:.2} ms, p99 {:.2} ms over {LATENCY_CONNECTIONS}; mean total {}",
                    shape.id,
                    run_idx + 1,
                    report::thousands(run.rate),
                    run.latency.p50,
                    run.latency.p99,
                    report::thousands(run.mean_total),
                ));
                self.checks.push(run.checks.clone());
                self.runs.push(run);
            }
            Err(e) => self.checks.push(crate::failed_run(&e)),
        }
    }

    /// The result row of `shape`; `load_checks` are the checks of the data it ran over.
    pub fn result(&self, shape: &Shape, load_checks: &RunChecks) -> WorkloadResult {
        let of = |f: fn(&ShapeRun) -> f64| median(&self.runs.iter().map(f).collect::<Vec<_>>());
        let rates: Vec<f64> = self.runs.iter().map(|r| r.rate).collect();
        let count_only = shape.kind == Kind::Count;
        let figures: Vec<f64> = if count_only {
            self.runs.iter().map(|r| r.rate * r.mean_total).collect()
        } else {
            rates.clone()
        };
        let mut details = Map::new();
        details.insert("search".into(), json!(shape.search));
        details.insert("kind".into(), json!(shape.kind.as_str()));
        details.insert("selective".into(), json!(shape.kind == Kind::Selective));
        if let Some(drawn_from) = shape.drawn_from {
            details.insert("drawn_from".into(), json!(drawn_from));
        }
        details.insert("queries".into(), json!(shape.queries.len()));
        if let Some(example) = shape.queries.first() {
            details.insert("example".into(), json!(example.uri.to_string()));
        }
        details.insert("connections".into(), json!(THROUGHPUT_CONNECTIONS));
        details.insert("latency_connections".into(), json!(LATENCY_CONNECTIONS));
        details.insert("req_per_sec_median".into(), json!(median(&rates)));
        details.insert(
            "req_per_sec_1_connection_median".into(),
            json!(of(|r| r.rate_single)),
        );
        details.insert(
            "latency_ms_8_connections".into(),
            json!({"p50": of(|r| r.latency_loaded.p50), "p99": of(|r| r.latency_loaded.p99)}),
        );
        details.insert(
            "requests_per_run".into(),
            json!(self.runs.iter().map(|r| r.requests).collect::<Vec<_>>()),
        );
        details.insert(
            "requests_per_run_1_connection".into(),
            json!(
                self.runs
                    .iter()
                    .map(|r| r.requests_single)
                    .collect::<Vec<_>>()
            ),
        );
        details.insert("mean_total".into(), json!(of(|r| r.mean_total)));
        details.insert("mean_matches".into(), json!(of(|r| r.mean_matches)));
        details.insert("mean_included".into(), json!(of(|r| r.mean_included)));
        details.insert("mean_body_bytes".into(), json!(of(|r| r.mean_bytes)));
        let mut checks = self.checks.clone();
        checks.push(load_checks.clone());
        let mut result = crate::workload_result(
            shape.id,
            &format!("search `{}`", shape.search),
            if count_only { "matches/s" } else { "req/s" },
            figures,
            &checks,
            details,
        );
        result.latency_ms = (!self.runs.is_empty()).then(|| Latency {
            p50: of(|r| r.latency.p50),
            p99: of(|r| r.latency.p99),
        });
        let p99 = result.latency_ms.map_or(f64::NAN, |l| l.p99);
        result.target = match shape.kind {
            Kind::Selective => Some(Target {
                text: format!("p99 ≤ {} ms (selective)", shapes::SELECTIVE_P99_MS),
                met: result.correct && p99 <= shapes::SELECTIVE_P99_MS,
            }),
            Kind::Count => Some(Target {
                text: "≥ 5,000,000 matches/s".into(),
                met: result.correct && result.median >= shapes::COUNT_MATCHES_PER_SEC,
            }),
            // Set with the ratio, once the plain shape has its result.
            Kind::Include { .. } => None,
            Kind::Broad | Kind::Plain => None,
        };
        result
    }
}

/// Sets the ratio of each include shape's requests per second to its plain page's, and the
/// target that goes with it.
pub fn include_ratios(shapes: &[Shape], results: &mut [WorkloadResult]) {
    for shape in shapes {
        let Kind::Include { plain } = shape.kind else {
            continue;
        };
        let plain_result = results
            .iter()
            .find(|r| r.id == plain)
            .map(|r| (r.median, r.latency_ms));
        let Some(result) = results.iter_mut().find(|r| r.id == shape.id) else {
            continue;
        };
        let Some((plain_median, plain_latency)) = plain_result else {
            continue;
        };
        let ratio = if plain_median > 0.0 {
            result.median / plain_median
        } else {
            f64::NAN
        };
        if let (Some(latency), Some(plain_latency)) = (result.latency_ms, plain_latency) {
            result.details.insert(
                "p50_over_plain_p50".into(),
                json!(latency.p50 / plain_latency.p50),
            );
        }
        result.ceiling = ratio.is_finite().then(|| CeilingRatio {
            ceiling_id: plain.into(),
            ratio,
        });
        result.target = Some(Target {
            text: "within 2× of the plain page (req/s ratio ≥ 0.5)".into(),
            met: result.correct && ratio >= shapes::INCLUDE_RATIO,
        });
    }
}
