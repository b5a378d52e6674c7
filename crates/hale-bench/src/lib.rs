//! Hale's benchmark harness, as `../shared/docs/benchmarks.md` specifies it: the workloads W1
//! (transaction ingest), W2 (import), W3 (read by id), W4 (the search mix at a million resources),
//! W5 (`Patient/{id}/$everything`), W5-mem (memory while `$everything` streams a patient of
//! 100,000 resources), W6 (a system bulk export of W4's store), W8 (system search over a provider
//! directory of 50,000 systems) and M (idle memory), each checked
//! for correctness and reported as the median of several runs next to its ratio to a ceiling
//! measured in the same run on the same machine (the HTTP ceiling for W3 and W5, each at its own
//! number of connections, the storage ceiling for W1 and W2, the plain page for W4's include
//! pages, the Bytes ceiling for W6).
//!
//! The server runs in this process, on a Tokio runtime of its own ([`server`]); the load generator
//! runs on another runtime in the same process ([`client`]), so on the same machine. M measures
//! the real `hale serve` binary instead, because this process's memory holds the load generator
//! and the data. [`run`] returns a [`report::Report`]; `hale-bench` prints it as Markdown and
//! writes it as JSON under `bench/results/`.
//!
//! The server runs over SQLite by default, or over PostgreSQL ([`server::Backend`]): with
//! `--database postgres://…` (a database on the server through which the harness creates and
//! drops its own, [`pg`]) W1, W3, W4, W5, W6 and the HTTP ceiling run with the same in-process
//! server over `PgStore`, each W1 run on a fresh database; `--backends sqlite,postgres` runs them
//! on both, one backend after the other, and the report puts PostgreSQL's figures next to
//! SQLite's ([`report::Comparison`]). W4's PostgreSQL store is built through the same loading
//! code and its answers checked against facts read from its own tables (`--w4-pg-db` keeps it
//! for later runs, as `--w4-db` keeps an SQLite one). W2, W5-mem, W8, M and the storage ceiling
//! run on SQLite only.
#![warn(missing_docs)]

pub mod client;
pub mod data;
pub mod pg;
pub mod report;
pub mod server;
pub mod workload;

use std::path::PathBuf;
use std::time::Duration;

use hale_synth::SynthConfig;
use report::{
    CeilingRatio, Latency, Machine, Report, RunChecks, Setup, Target, WorkloadResult, median,
};
use serde_json::{Map, Value, json};
use workload::ingest::{IngestRun, Owner, ReadTarget};
use workload::{
    directory, everything, everything_memory, export, import, ingest, memory, read, search, storage,
};

/// The workloads `--workloads` can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Transaction ingest.
    W1,
    /// Import.
    W2,
    /// Read by id.
    W3,
    /// The search mix at a million resources.
    W4,
    /// `Patient/{id}/$everything`, first pages of `_count=1000`.
    W5,
    /// Memory of `hale serve` while `$everything` streams one patient of 100,000 resources.
    #[value(name = "w5mem")]
    W5Mem,
    /// A system bulk export of W4's store, and the Bytes ceiling.
    W6,
    /// System search over a provider directory (`/api/search`). W7 is `benchmarks.md`'s CRUD
    /// mix.
    W8,
    /// Idle memory of `hale serve`.
    M,
    /// The HTTP and storage ceilings.
    Ceilings,
}

impl Workload {
    /// Whether the workload runs on `backend`. W2 imports into SQLite files of its own, M, W5-mem
    /// and W8 measure the `hale serve` binary over an SQLite data folder, and the storage ceiling
    /// copies SQLite rows, so they run on SQLite only; the rest run over either store.
    pub fn runs_on(self, backend: &server::Backend) -> bool {
        match backend {
            server::Backend::Sqlite => true,
            server::Backend::Postgres { .. } => matches!(
                self,
                Workload::W1
                    | Workload::W3
                    | Workload::W4
                    | Workload::W5
                    | Workload::W6
                    | Workload::Ceilings
            ),
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// A Synthea folder for W1 (and so W3); `hale-synth` Bundles when absent.
    pub data: Option<PathBuf>,
    /// Patients `hale-synth` generates for W2, and for W1 without `data`.
    pub patients: u64,
    /// The seed of `hale-synth`.
    pub seed: u64,
    /// The workloads to run.
    pub workloads: Vec<Workload>,
    /// Repetitions of each workload.
    pub runs: usize,
    /// Measured length of each W3 and HTTP-ceiling run.
    pub duration: Duration,
    /// The `hale` binary for M; found next to this executable when absent.
    pub hale_bin: Option<PathBuf>,
    /// Resources W4 loads, at least.
    pub w4_resources: u64,
    /// A database file W4 (and W6) builds and keeps, or reuses if it exists (SQLite).
    pub w4_db: Option<PathBuf>,
    /// The URL of a PostgreSQL database W4 (and W6) builds and keeps, or reuses if it exists
    /// (PostgreSQL).
    pub w4_pg_db: Option<String>,
    /// The stores every workload that runs on them runs over, one after the other
    /// ([`Workload::runs_on`]).
    pub backends: Vec<server::Backend>,
    /// Resources in the compartment of W5-mem's one patient.
    pub w5_mem_resources: u64,
    /// Systems in W8's directory.
    pub w8_systems: usize,
}

impl Options {
    fn wants(&self, workload: Workload) -> bool {
        self.workloads.contains(&workload)
    }
}

/// The order results are reported in.
const ORDER: &[&str] = &[
    "W1",
    "W2",
    "W3",
    "W4",
    "W5",
    "W5-mem",
    "W6",
    "W8",
    "M",
    "ceiling-http",
    "ceiling-http-w5",
    "ceiling-storage-w1",
    "ceiling-storage-w2",
    "ceiling-bytes",
];

/// Runs the chosen workloads and returns the report. Correctness failures are in the report
/// ([`Report::all_correct`]); an `Err` means the harness itself could not run.
pub fn run(options: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(
        !options.backends.is_empty(),
        "--backends must name at least one backend"
    );
    let started_at =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let client = client::runtime()?;
    let synth = SynthConfig::new(options.patients, options.seed);
    let warmup = (options.duration / 5).min(Duration::from_secs(1));
    let mut results: Vec<WorkloadResult> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut data_label = String::from("none");

    // W1's data, which W5 loads too, read once for every backend.
    let ingest_data = if options.wants(Workload::W1)
        || options.wants(Workload::W3)
        || options.wants(Workload::W5)
    {
        let data = match &options.data {
            Some(dir) => data::synthea(dir)?,
            None => data::synth_bundles(&synth)?,
        };
        data_label = data.label.clone();
        progress(format!(
            "W1 data: {}, {} entries, {:.0} MB of JSON",
            data.label,
            data.entries(),
            data.bytes() as f64 / 1e6
        ));
        Some(data)
    } else {
        None
    };
    if (options.wants(Workload::W4) || options.wants(Workload::W6)) && data_label == "none" {
        data_label = match (&options.data, &options.w4_db, &options.w4_pg_db) {
            (Some(dir), _, _) => dir.display().to_string(),
            (None, Some(db), _) => db.display().to_string(),
            (None, None, Some(url)) => pg::redacted(url),
            (None, None, None) => data_label,
        };
    }

    let mut w4_data = None;
    let mut w4_data_postgres = None;
    for backend in &options.backends {
        let supported: Vec<Workload> = options
            .workloads
            .iter()
            .copied()
            .filter(|w| w.runs_on(backend))
            .collect();
        if supported.is_empty() {
            continue;
        }
        progress(format!("running on {}", backend.label()));
        let on_backend = Options {
            workloads: supported,
            ..options.clone()
        };
        let part = run_backend(
            &on_backend,
            backend,
            ingest_data.as_ref(),
            &client,
            &synth,
            warmup,
        )?;
        match backend {
            server::Backend::Sqlite => w4_data = part.w4_data,
            server::Backend::Postgres { .. } => w4_data_postgres = part.w4_data,
        }
        results.extend(part.results.into_iter().map(|mut r| {
            r.backend = backend.name().into();
            if let (server::Backend::Postgres { .. }, "W1") = (backend, r.id.as_str()) {
                r.target = Some(Target {
                    text: format!(
                        "≥ {} resources/s on PostgreSQL",
                        report::thousands(report::POSTGRES_W1_TARGET)
                    ),
                    met: r.correct && r.median >= report::POSTGRES_W1_TARGET,
                });
            }
            r
        }));
    }
    let comparison = if options.backends.len() > 1 {
        report::compare(&results)
    } else {
        Vec::new()
    };

    notes.push(format!(
        "The load generator runs on the same machine: in this process, on its own {}-thread Tokio runtime, sharing the CPUs with the server, so request figures include the client's cost.",
        client::CLIENT_WORKER_THREADS
    ));
    notes.push("The harness's own RSS is not meaningful (it holds the data, the load generator and every answer) and is not reported; M measures a separate `hale serve` process over an empty data folder.".into());
    if options.wants(Workload::W1) {
        notes.push(format!("W1 POSTs the shared batch Bundles first, one at a time, then the patient transaction Bundles over {} connections, with `Prefer: return=minimal`; every run starts from an empty store.", ingest::CLIENTS));
    }
    if options.wants(Workload::W2) {
        notes.push("W2 imports hale-synth's flat records even with --data: Synthea's Bundles have no ids and point at each other by urn:uuid, which NDJSON cannot carry. Reading files from disk and decompressing are not timed; parsing is.".into());
    }
    if options.wants(Workload::W3) {
        notes.push(
            "W3 sends a user's bearer token (minted through the token exchange), so every read authenticates and carries the user's scope; each process remembers a verified token for 5 s (`--token-cache-secs`).".into(),
        );
    }
    if options.wants(Workload::W4) {
        notes.push(format!(
            "W4 first sends every drawn request of every shape once, fully checked (up to twice --duration-secs per shape), then measures each shape twice per run: requests per second over {} connections (quick checks of status, Bundle type and total), and p50/p99 latency over {} connection (every answer fully checked after its latency is taken). `_summary=count` reports matches per second (total × requests per second). Include pages report their requests per second as a ratio to the plain page of the same search. Selective shapes (target p99 ≤ 10 ms): patient+code, name prefix, composite code-value-quantity, chain to one medication code.",
            search::THROUGHPUT_CONNECTIONS,
            search::LATENCY_CONNECTIONS,
        ));
        notes.push("W4's store is loaded in process through the engine (setup, not timed), on SQLite with synchronous=NORMAL, then checkpointed and reopened, on PostgreSQL then given VACUUM ANALYZE and reopened; its expected answers are read from the database itself (the SQLite file, or the PostgreSQL tables over a connection of the harness's own) by the harness, not through the server.".into());
    }
    if options.wants(Workload::W5) {
        notes.push(format!(
            "W5 loads W1's data untimed, POSTed as the bench user (so the user owns every resource), and sends that user's bearer token. Each run first walks every loaded patient's `$everything` (`_count={}`) through all its `next` links, untimed, checking totals, duplicates across pages, (type, id) order, includes on the first page only, and the match entries against the resources the patient's Bundle created; then it times first pages of random patients over {} connections (quick checks: status, searchset, the total the walk saw). One request is one first page; resources/s counts its match entries. Its HTTP ceiling (`ceiling-http-w5`) is the 1 KB route over the same {} connections, interleaved run by run.",
            everything::PAGE_COUNT,
            everything::CONNECTIONS,
            everything::CONNECTIONS,
        ));
    }
    if options.wants(Workload::W5Mem) {
        notes.push(format!(
            "W5-mem builds one patient of {} resources (the Patient and its Observations, owned by the bench user, loaded untimed), then for each `_count` of {:?} starts a fresh `hale serve` over that store and walks the whole `$everything` through its `next` links with the user's token, reading the server's /proc/<pid>/status before the walk, after every page, every {} ms and {} s after. Peak VmRSS is the kernel's VmHWM over the walk (reset before it). VmRSS includes the pages of the database file SQLite maps (mmap_size 2 GiB), which grow with what is read and belong to the OS cache; RssAnon is what the process allocated, and flatness is judged on it: growth over the whole walk over growth by the end of the first 10% of pages (each at least {} MB).",
            report::thousands(options.w5_mem_resources as f64),
            everything_memory::PAGE_SIZES,
            everything_memory::SAMPLE_EVERY.as_millis(),
            everything_memory::AFTER_SETTLE.as_secs(),
            everything_memory::FLAT_FLOOR_MB,
        ));
    }
    if options.wants(Workload::W6) {
        notes.push(format!(
            "W6 exports W4's store (built once, or reused with --w4-db or --w4-pg-db; an SQLite database file is read once, untimed, so that every run finds it in the OS cache, and a PostgreSQL database gets one untimed Bytes scan for the same reason). Each run first measures the Bytes ceiling (`ceiling-bytes`: `SELECT json FROM history` in one SQL scan in this process, rows per second), then for each of {:?} concurrent downloads starts a fresh `hale serve` over the database and, as the operator, sends `GET /bulk-data/r4/$export` (1up's synchronous kick-off) and downloads every file of the manifest, each connection taking the next file as it finishes one. The figure is resources per second from the kick-off to the last byte, of the number of downloads with the higher median; the W6 table shows both. The client counts lines as they stream and keeps no body. RSS is read from /proc/<pid>/status before the export (after one kick-off with `_since` in the future), every {} ms and {} s after, with VmHWM reset before it; VmRSS includes the database pages SQLite maps (mmap_size 2 GiB), which belong to the OS cache, so the target's growth (≤ {} MB) is judged on RssAnon, what the process allocated, in the worse of the two numbers of downloads.",
            export::DOWNLOADS,
            export::SAMPLE_EVERY.as_millis(),
            export::AFTER_SETTLE.as_secs(),
            export::TARGET_RSS_GROWTH_MB,
        ));
    }
    if options.wants(Workload::W8) {
        notes.push(format!(
            "W8 generates {} provider-directory systems from the seed, loads them once with `hale directory import` into a fresh data folder (its wall time is `details.import_seconds`, informational), and provisions a bench user there. Each run starts a fresh `hale serve` over the folder (the real binary: the search index belongs to the server process, and the first search may wait for it, `details.first_answer_seconds_median`), sends every query of the mix once over 1 connection, checked page by page (offsets 0, 20, 40, and every page of the answer while the query's own system is not found yet when at most {} systems may match, always for typo queries; latency per kind in the W8 table), then times the mix over {} connections with the user's token, every answer checked: 200, at most 20 systems, each a generated system with its own name and resourceUrl that the query allows, and a full page wherever the data says more match.",
            report::thousands(options.w8_systems as f64),
            report::thousands(directory::queries::SCAN_LIMIT as f64),
            directory::CONNECTIONS,
        ));
    }
    if options.wants(Workload::Ceilings) {
        notes.push(format!(
            "The storage ceiling copies the rows the workload wrote (resource, history, index and compartment tables) into a fresh database with the store's schema and durability (WAL, synchronous=FULL), {} resources per transaction, with no HTTP, JSON, validation, lookups or savepoints.",
            storage::RESOURCES_PER_TRANSACTION
        ));
    }

    if options
        .backends
        .iter()
        .any(|b| matches!(b, server::Backend::Postgres { .. }))
    {
        notes.push(format!(
            "On PostgreSQL, W1, W3, W4, W5, W6 and the HTTP ceiling run with the server over PostgreSQL (the same in-process server, with `PgStore` where SQLite runs `SqliteStore`; W6's `hale serve --database postgres://…`); each W1 run (and W3 over it) gets a fresh database named {}<random>, which the harness drops afterwards, and so does W4's store unless --w4-pg-db names one to keep. W2, W5-mem, W8, M and the storage ceiling run on SQLite only. The PostgreSQL server runs on the same machine and shares its CPUs.",
            pg::DATABASE_PREFIX
        ));
    }
    if !comparison.is_empty() {
        notes.push(format!(
            "The side-by-side table divides PostgreSQL's figure by SQLite's (both medians, higher is better); the target is W1 ≥ {} resources/s on PostgreSQL, and every other workload within 2× of SQLite (ratio ≥ 0.5). W4's shapes each draw their parameters from their own store, which hold the same data under different ids.",
            report::thousands(report::POSTGRES_W1_TARGET)
        ));
    }

    let (git, git_dirty) = git_revision();
    let all_correct = results.iter().all(|r| r.correct);
    Ok(Report {
        schema_version: report::SCHEMA_VERSION,
        started_at,
        git,
        git_dirty,
        machine: machine(),
        setup: Setup {
            data: data_label,
            backends: options
                .backends
                .iter()
                .map(|b| b.name().to_owned())
                .collect(),
            synth_patients: options.patients,
            synth_seed: options.seed,
            runs: options.runs,
            duration_secs: options.duration.as_secs_f64(),
            load_generator: format!(
                "same machine, same process, {}-thread Tokio runtime, hyper HTTP/1.1 keep-alive, one connection per task",
                client::CLIENT_WORKER_THREADS
            ),
            server: options
                .backends
                .iter()
                .map(server::Backend::describe)
                .collect::<Vec<_>>()
                .join("; "),
            w4_data,
            w4_data_postgres,
        },
        results,
        comparison,
        notes,
        all_correct,
    })
}

/// What one backend's workloads produced.
struct BackendPart {
    /// The results, in report order.
    results: Vec<WorkloadResult>,
    /// How W4's store was made, when W4 or W6 ran.
    w4_data: Option<String>,
}

/// Runs `options.workloads` (each one that runs on `backend`) with the server over `backend`.
fn run_backend(
    options: &Options,
    backend: &server::Backend,
    ingest_data: Option<&data::IngestData>,
    client: &tokio::runtime::Runtime,
    synth: &SynthConfig,
    warmup: Duration,
) -> anyhow::Result<BackendPart> {
    let mut results: Vec<WorkloadResult> = Vec::new();

    // W1, keeping the last run's server and what it created for W3.
    let mut loaded: Option<(server::BenchServer, Vec<ReadTarget>, RunChecks)> = None;
    if let Some(data) =
        ingest_data.filter(|_| options.wants(Workload::W1) || options.wants(Workload::W3))
    {
        let runs = if options.wants(Workload::W1) {
            options.runs
        } else {
            1
        };
        let mut figures = Vec::new();
        let mut checks = Vec::new();
        let mut last: Option<IngestRun> = None;
        for run_idx in 0..runs {
            // The previous run's server is stopped before the next one starts.
            loaded = None;
            match ingest::run(data, client, Owner::Operator, backend) {
                Ok((run, server)) => {
                    progress(format!(
                        "W1 run {}/{runs}: {} resources/s ({} in {:.2} s)",
                        run_idx + 1,
                        report::thousands(run.rate),
                        run.committed,
                        run.seconds
                    ));
                    figures.push(run.rate);
                    checks.push(run.checks.clone());
                    loaded = Some((server, run.targets.clone(), run.checks.clone()));
                    last = Some(run);
                }
                Err(e) => checks.push(failed_run(&e)),
            }
        }
        if options.wants(Workload::W1) {
            let mut details = Map::new();
            details.insert("entries".into(), json!(data.entries()));
            details.insert(
                "bundles".into(),
                json!(data.shared.len() + data.patients.len()),
            );
            details.insert("request_bytes".into(), json!(data.bytes()));
            details.insert("clients".into(), json!(ingest::CLIENTS));
            if let Some(last) = &last {
                details.insert("seconds_last_run".into(), json!(last.seconds));
                details.insert(
                    "store_by_type".into(),
                    Value::Object(
                        last.by_type
                            .iter()
                            .map(|(t, n)| (t.clone(), json!(n)))
                            .collect(),
                    ),
                );
            }
            let mut result = workload_result(
                "W1",
                "transaction ingest",
                "resources/s",
                figures,
                &checks,
                details,
            );
            result.target = Some(Target {
                text: "≥ 10,000 resources/s".into(),
                met: result.median >= 10_000.0,
            });
            results.push(result);
        }
    }

    if options.wants(Workload::Ceilings)
        && options.wants(Workload::W1)
        && let Some((server, _, _)) = &loaded
        && let Some(db) = server.sqlite_path()
    {
        results.push(storage_ceiling(
            "ceiling-storage-w1",
            "storage ceiling, W1's rows",
            &db,
            options.runs,
        ));
    }

    // W3 and the HTTP ceiling, interleaved run by run so that drift in the machine's speed
    // affects both alike.
    if options.wants(Workload::W3) || options.wants(Workload::Ceilings) {
        let (server, targets, load_checks) = match loaded.take() {
            Some(loaded) => loaded,
            None => (
                server::BenchServer::start_fresh(backend)?,
                Vec::new(),
                RunChecks::default(),
            ),
        };
        let mut w3 = LoadSeries::default();
        let mut ceiling = LoadSeries::default();
        for run_idx in 0..options.runs {
            if options.wants(Workload::Ceilings) {
                ceiling.push(
                    "HTTP ceiling",
                    run_idx,
                    options.runs,
                    read::http_ceiling(
                        &server,
                        client,
                        read::CONNECTIONS,
                        warmup,
                        options.duration,
                    ),
                );
            }
            if options.wants(Workload::W3) {
                let mut run = read::read_by_id(
                    &server,
                    &targets,
                    client,
                    warmup,
                    options.duration,
                    options.seed.wrapping_add(run_idx as u64),
                );
                if let Ok(run) = &mut run {
                    let loaded_ok = load_checks.0.iter().all(|c| c.passed);
                    run.checks.check(
                        "the data read was loaded correctly (W1's checks)",
                        loaded_ok,
                        if loaded_ok { "yes" } else { "no" },
                    );
                }
                w3.push("W3", run_idx, options.runs, run);
            }
        }
        if options.wants(Workload::W3) {
            let mut result = w3.result("W3", "read by id", read::CONNECTIONS);
            result
                .details
                .insert("resources_readable".into(), json!(targets.len()));
            result.details.insert(
                "mix".into(),
                json!("half a random Patient, half a random resource of any type"),
            );
            let latency = result.latency_ms.unwrap_or(Latency {
                p50: f64::NAN,
                p99: f64::NAN,
            });
            result.target = Some(Target {
                text: "≥ 25,000 req/s, p99 ≤ 5 ms".into(),
                met: result.median >= 25_000.0 && latency.p99 <= 5.0,
            });
            results.push(result);
        }
        if options.wants(Workload::Ceilings) {
            let mut result = ceiling.result(
                "ceiling-http",
                "HTTP ceiling, fixed 1 KB route",
                read::CONNECTIONS,
            );
            result
                .details
                .insert("path".into(), json!(server::CEILING_PATH));
            results.push(result);
        }
        server.stop()?;
    }

    if options.wants(Workload::W2) {
        let data = data::synth_ndjson(synth)?;
        progress(format!(
            "W2 data: {}, {} resources, {:.0} MB of NDJSON",
            data.label,
            data.resources(),
            data.bytes() as f64 / 1e6
        ));
        let mut figures = Vec::new();
        let mut checks = Vec::new();
        let mut last_dir = None;
        for run_idx in 0..options.runs {
            last_dir = None;
            match import::run(&data) {
                Ok(run) => {
                    progress(format!(
                        "W2 run {}/{}: {} resources/s ({} in {:.2} s)",
                        run_idx + 1,
                        options.runs,
                        report::thousands(run.rate),
                        run.imported,
                        run.seconds
                    ));
                    figures.push(run.rate);
                    checks.push(run.checks);
                    last_dir = Some(run.dir);
                }
                Err(e) => checks.push(failed_run(&e)),
            }
        }
        let mut details = Map::new();
        details.insert("data".into(), json!(data.label));
        details.insert("resources".into(), json!(data.resources()));
        details.insert("ndjson_bytes".into(), json!(data.bytes()));
        details.insert("files".into(), json!(data.files.len()));
        details.insert("chunk".into(), json!(import::CHUNK));
        details.insert("parallel_files".into(), json!(import::PARALLEL_FILES));
        let mut result = workload_result(
            "W2",
            "import (NDJSON, Engine::import)",
            "resources/s",
            figures,
            &checks,
            details,
        );
        result.target = Some(Target {
            text: "≥ 40,000 resources/s".into(),
            met: result.median >= 40_000.0,
        });
        results.push(result);
        if options.wants(Workload::Ceilings)
            && let Some(dir) = &last_dir
        {
            results.push(storage_ceiling(
                "ceiling-storage-w2",
                "storage ceiling, W2's rows",
                &dir.path().join("hale.db"),
                options.runs,
            ));
        }
    }

    let mut w4_data = None;
    let w4_options = search::W4Options {
        backend: backend.clone(),
        data: options.data.clone(),
        resources: options.w4_resources,
        db: options.w4_db.clone(),
        pg_db: options.w4_pg_db.clone(),
        seed: options.seed,
    };
    // W4's store, kept for W6 when both run, so that it is built once.
    let mut w4_store: Option<search::Store> = None;
    if options.wants(Workload::W4) {
        match search::prepare(&w4_options) {
            Ok(prepared) => {
                w4_data = Some(prepared.description.clone());
                let mut series: Vec<search::ShapeSeries> = prepared
                    .shapes
                    .iter()
                    .map(|_| search::ShapeSeries::default())
                    .collect();
                // Every drawn request once, fully checked, before any timing: twice a loop's
                // length per shape at most, since the slowest shapes take most of a second.
                for (shape_idx, shape) in prepared.shapes.iter().enumerate() {
                    let checks = search::sweep(&prepared, shape_idx, client, 2 * options.duration);
                    if let Some(check) = checks.0.first() {
                        progress(format!("{} sweep: {}", shape.id, check.detail));
                    }
                    series[shape_idx].add_checks(checks);
                }
                // Run by run, every shape in turn, so that drift in the machine's speed affects
                // every shape alike.
                for run_idx in 0..options.runs {
                    for (shape_idx, shape) in prepared.shapes.iter().enumerate() {
                        let run = search::measure(
                            &prepared,
                            shape_idx,
                            client,
                            warmup,
                            options.duration,
                            options.seed.wrapping_add(run_idx as u64),
                        );
                        series[shape_idx].push(shape, run_idx, options.runs, run);
                    }
                }
                let mut w4_results: Vec<WorkloadResult> = prepared
                    .shapes
                    .iter()
                    .zip(&series)
                    .map(|(shape, series)| series.result(shape, &prepared.checks))
                    .collect();
                search::include_ratios(&prepared.shapes, &mut w4_results);
                results.extend(w4_results);
                if options.wants(Workload::W6) {
                    w4_store = Some(search::Store {
                        server: prepared.server,
                        description: prepared.description,
                        checks: prepared.checks,
                        recorded: None,
                    });
                } else {
                    prepared.server.stop()?;
                }
            }
            Err(e) => {
                let mut result = workload_result(
                    "W4",
                    "search mix",
                    "req/s",
                    Vec::new(),
                    &[failed_run(&e)],
                    Map::new(),
                );
                result.target = Some(Target {
                    text: "the store could not be prepared".into(),
                    met: false,
                });
                results.push(result);
            }
        }
    }

    if let Some(data) = ingest_data.filter(|_| options.wants(Workload::W5)) {
        results.extend(run_w5(options, backend, data, client, warmup));
    }

    if options.wants(Workload::W5Mem) {
        results.extend(run_w5_mem(options, client));
    }

    if options.wants(Workload::W6) {
        let (w6_results, description) = run_w6(options, &w4_options, client, w4_store.take());
        results.extend(w6_results);
        w4_data = w4_data.or(description);
    }

    if options.wants(Workload::W8) {
        results.push(run_w8(options, client, warmup));
    }

    if options.wants(Workload::M) {
        let mut figures = Vec::new();
        let mut peaks = Vec::new();
        let mut checks = Vec::new();
        match memory::find_hale_binary(options.hale_bin.as_deref()) {
            Ok(binary) => {
                for run_idx in 0..options.runs {
                    match memory::run(&binary) {
                        Ok(run) => {
                            progress(format!(
                                "M run {}/{}: idle RSS {:.1} MB",
                                run_idx + 1,
                                options.runs,
                                run.rss_mb
                            ));
                            figures.push(run.rss_mb);
                            peaks.push(run.peak_mb);
                            checks.push(run.checks);
                        }
                        Err(e) => checks.push(failed_run(&e)),
                    }
                }
            }
            Err(e) => checks.push(failed_run(&e)),
        }
        let mut details = Map::new();
        details.insert("peak_rss_mb_median".into(), json!(median(&peaks)));
        details.insert("settle_secs".into(), json!(memory::SETTLE.as_secs_f64()));
        let mut result = workload_result(
            "M",
            "idle RSS of `hale serve`",
            "MB",
            figures,
            &checks,
            details,
        );
        result.target = Some(Target {
            text: "≤ 60 MB".into(),
            met: result.correct && result.median <= 60.0,
        });
        results.push(result);
    }

    // Ratios to the ceilings of the same run.
    for (id, ceiling_id) in [
        ("W1", "ceiling-storage-w1"),
        ("W2", "ceiling-storage-w2"),
        ("W3", "ceiling-http"),
        ("W5", "ceiling-http-w5"),
        ("W6", "ceiling-bytes"),
    ] {
        let ceiling_median = results
            .iter()
            .find(|r| r.id == ceiling_id)
            .map(|r| r.median);
        if let (Some(ceiling_median), Some(result)) =
            (ceiling_median, results.iter_mut().find(|r| r.id == id))
            && ceiling_median > 0.0
        {
            result.ceiling = Some(CeilingRatio {
                ceiling_id: ceiling_id.into(),
                ratio: result.median / ceiling_median,
            });
        }
    }
    // W4 reports one result per search shape, in the shapes' order, and W5-mem one per page
    // size, which the stable sort keeps.
    results.sort_by_key(|r| {
        let id = if r.id.starts_with("W4-") {
            "W4"
        } else if r.id.starts_with("W5-mem-") {
            "W5-mem"
        } else {
            r.id.as_str()
        };
        ORDER.iter().position(|o| *o == id).unwrap_or(ORDER.len())
    });

    Ok(BackendPart { results, w4_data })
}

/// W5 and its HTTP ceiling over the same connections, interleaved run by run, over W1's data
/// loaded as the bench user.
fn run_w5(
    options: &Options,
    backend: &server::Backend,
    data: &data::IngestData,
    client: &tokio::runtime::Runtime,
    warmup: Duration,
) -> Vec<WorkloadResult> {
    let failed = |e: &anyhow::Error| {
        let mut result = workload_result(
            "W5",
            "`Patient/{id}/$everything?_count=1000`, first pages",
            "req/s",
            Vec::new(),
            &[failed_run(e)],
            Map::new(),
        );
        result.target = Some(Target {
            text: "≥ 200 req/s".into(),
            met: false,
        });
        vec![result]
    };
    let (load, server) = match ingest::run(data, client, everything::OWNER, backend) {
        Ok(loaded) => loaded,
        Err(e) => return failed(&e),
    };
    progress(format!(
        "W5 load (untimed, as the bench user): {} resources in {:.1} s",
        load.committed, load.seconds
    ));
    let patients = everything::patients(&load.bundles);
    let mut w5 = LoadSeries::default();
    let mut ceiling = LoadSeries::default();
    let mut resources_per_sec = Vec::new();
    let mut sweeps: Vec<everything::SweepStats> = Vec::new();
    let mut mean_first_page = Vec::new();
    for run_idx in 0..options.runs {
        ceiling.push(
            "HTTP ceiling (W5's connections)",
            run_idx,
            options.runs,
            read::http_ceiling(
                &server,
                client,
                everything::CONNECTIONS,
                warmup,
                options.duration,
            ),
        );
        let (sweep_checks, plans, stats) = match everything::sweep(&server, &patients, client) {
            Ok(swept) => swept,
            Err(e) => {
                w5.push("W5", run_idx, options.runs, Err(e));
                continue;
            }
        };
        progress(format!(
            "W5 sweep {}/{}: {} patients, {} pages, {} match and {} include entries in {:.1} s",
            run_idx + 1,
            options.runs,
            stats.patients,
            stats.pages,
            stats.matches,
            stats.includes,
            stats.seconds
        ));
        for check in sweep_checks.0.iter().filter(|c| !c.passed) {
            progress(format!("W5 sweep: FAILED {}: {}", check.name, check.detail));
        }
        mean_first_page.push(everything::mean_first_page_matches(&plans));
        sweeps.push(stats);
        let measured = everything::measure(
            &server,
            &plans,
            client,
            warmup,
            options.duration,
            options.seed.wrapping_add(run_idx as u64),
        );
        match measured {
            Ok(mut run) => {
                run.load.checks.0.extend(sweep_checks.0);
                let loaded_ok = load.checks.0.iter().all(|c| c.passed);
                run.load.checks.check(
                    "the data was loaded correctly (W1's checks, as the user)",
                    loaded_ok,
                    if loaded_ok { "yes" } else { "no" },
                );
                resources_per_sec.push(run.resources_per_sec);
                w5.push("W5", run_idx, options.runs, Ok(run.load));
            }
            Err(e) => {
                // The sweep's findings count even when the loop could not run.
                let mut checks = failed_run(&e);
                checks.0.extend(sweep_checks.0);
                w5.checks.push(checks);
            }
        }
    }
    if let Err(e) = server.stop() {
        progress(format!("W5: stopping the server: {e:#}"));
    }
    let mut result = w5.result(
        "W5",
        "`Patient/{id}/$everything?_count=1000`, first pages",
        everything::CONNECTIONS,
    );
    result
        .details
        .insert("patients".into(), json!(patients.len()));
    result.details.insert(
        "resources_per_sec_median".into(),
        json!(median(&resources_per_sec)),
    );
    result.details.insert(
        "mean_first_page_matches".into(),
        json!(median(&mean_first_page)),
    );
    if let Some(stats) = sweeps.last() {
        result.details.insert(
            "sweep".into(),
            json!({
                "patients": stats.patients,
                "pages": stats.pages,
                "matches": stats.matches,
                "includes": stats.includes,
                "largest_total": stats.largest_total,
                "multi_page_patients": stats.multi_page_patients,
                "matches_by_type": stats.matches_by_type,
                "seconds": stats.seconds,
            }),
        );
    }
    result
        .details
        .insert("load_seconds".into(), json!(load.seconds));
    result.target = Some(Target {
        text: "≥ 200 req/s".into(),
        met: result.median >= 200.0,
    });
    let mut ceiling = ceiling.result(
        "ceiling-http-w5",
        "HTTP ceiling, fixed 1 KB route, W5's connections",
        everything::CONNECTIONS,
    );
    ceiling
        .details
        .insert("path".into(), json!(server::CEILING_PATH));
    vec![result, ceiling]
}

/// W8: one directory, imported once, then per run a fresh `hale serve`, the checked pass and
/// the timed mix.
fn run_w8(options: &Options, client: &tokio::runtime::Runtime, warmup: Duration) -> WorkloadResult {
    let workload = format!(
        "system search over {} systems, `/api/search` mix",
        report::thousands(options.w8_systems as f64)
    );
    let target_text = format!("p99 ≤ {} ms", directory::TARGET_P99_MS);
    let prepared = memory::find_hale_binary(options.hale_bin.as_deref()).and_then(|binary| {
        let imported = directory::prepare(&binary, options.w8_systems, options.seed)?;
        Ok((binary, imported))
    });
    let (binary, imported) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let mut result = workload_result(
                "W8",
                &workload,
                "req/s",
                Vec::new(),
                &[failed_run(&e)],
                Map::new(),
            );
            result.target = Some(Target {
                text: target_text,
                met: false,
            });
            return result;
        }
    };
    let mut series = LoadSeries::default();
    let mut first_answers = Vec::new();
    let mut by_kind: Vec<Vec<directory::KindStats>> = Vec::new();
    let mut checked_requests = Vec::new();
    for run_idx in 0..options.runs {
        let run = directory::run(
            &binary,
            &imported,
            client,
            warmup,
            options.duration,
            options.seed.wrapping_add(run_idx as u64),
        )
        .map(|run| {
            first_answers.push(run.first_answer_seconds);
            by_kind.push(run.by_kind);
            checked_requests.push(run.checked_requests);
            run.load
        });
        series.push("W8", run_idx, options.runs, run);
    }
    let mut result = series.result("W8", &workload, directory::CONNECTIONS);
    let examples = directory::examples(&imported.queries);
    let kinds: Vec<Value> = directory::queries::Kind::ALL
        .iter()
        .enumerate()
        .map(|(kind_idx, kind)| {
            // Each figure is the median over runs of that run's figure.
            let runs: Vec<Value> = by_kind
                .iter()
                .map(|run| run[kind_idx].details(*kind, &examples[kind_idx]))
                .collect();
            let of = |key: &str| {
                median(
                    &runs
                        .iter()
                        .filter_map(|r| r[key].as_f64())
                        .collect::<Vec<_>>(),
                )
            };
            let mut details = runs.last().cloned().unwrap_or_else(|| json!({}));
            for key in [
                "p50_ms_1_connection",
                "p99_ms_1_connection",
                "mean_systems_per_page",
            ] {
                details[key] = json!(of(key));
            }
            details
        })
        .collect();
    let details = &mut result.details;
    details.insert("systems".into(), json!(imported.systems.len()));
    details.insert("locations".into(), json!(imported.locations));
    details.insert("json_bytes".into(), json!(imported.json_bytes));
    details.insert("import_seconds".into(), json!(imported.import_seconds));
    details.insert("import_summary".into(), imported.import_summary.clone());
    details.insert(
        "first_answer_seconds_median".into(),
        json!(median(&first_answers)),
    );
    details.insert("queries".into(), json!(imported.queries.len()));
    details.insert("checked_requests_per_run".into(), json!(checked_requests));
    details.insert("by_kind".into(), Value::Array(kinds));
    let p99 = result.latency_ms.map_or(f64::NAN, |l| l.p99);
    result.target = Some(Target {
        text: target_text,
        met: result.correct && p99 <= directory::TARGET_P99_MS,
    });
    result
}

/// W5-mem: one store, then one walk per page size per run, each against a fresh `hale serve`.
fn run_w5_mem(options: &Options, client: &tokio::runtime::Runtime) -> Vec<WorkloadResult> {
    let sizes = everything_memory::PAGE_SIZES;
    let failed = |e: &anyhow::Error| -> Vec<WorkloadResult> {
        let checks = [failed_run(e)];
        sizes
            .iter()
            .map(|count| {
                let mut result = workload_result(
                    &format!("W5-mem-{count}"),
                    "`$everything` of one large patient: peak VmRSS over the walk minus before",
                    "MB",
                    Vec::new(),
                    &checks,
                    Map::new(),
                );
                result.target = Some(Target {
                    text: "flat".into(),
                    met: false,
                });
                result
            })
            .collect()
    };
    let binary = match memory::find_hale_binary(options.hale_bin.as_deref()) {
        Ok(binary) => binary,
        Err(e) => return failed(&e),
    };
    let store = match everything_memory::build(client, options.w5_mem_resources) {
        Ok(store) => store,
        Err(e) => return failed(&e),
    };
    let mut series: Vec<everything_memory::WalkSeries> = sizes
        .iter()
        .map(|_| everything_memory::WalkSeries::default())
        .collect();
    for run_idx in 0..options.runs {
        for (count, series) in sizes.iter().zip(series.iter_mut()) {
            series.push(
                *count,
                run_idx,
                options.runs,
                everything_memory::walk(&binary, &store, client, *count),
            );
        }
    }
    sizes
        .iter()
        .zip(&series)
        .map(|(count, series)| series.result(*count, Some(&store), &store.checks))
        .collect()
}

/// W6 and the Bytes ceiling, interleaved run by run, over W4's store (`store`, when W4 built or
/// reopened it in this run). Returns the results and, when W6 opened the store itself, how it
/// was made.
fn run_w6(
    options: &Options,
    w4_options: &search::W4Options,
    client: &tokio::runtime::Runtime,
    store: Option<search::Store>,
) -> (Vec<WorkloadResult>, Option<String>) {
    let failed = |e: &anyhow::Error| {
        let checks = [failed_run(e)];
        let mut result = workload_result(
            "W6",
            "system bulk export, NDJSON",
            "resources/s",
            Vec::new(),
            &checks,
            Map::new(),
        );
        result.target = Some(Target {
            text: "≥ 250,000 resources/s; RSS grows ≤ 64 MB".into(),
            met: false,
        });
        (vec![result], None)
    };
    let binary = match memory::find_hale_binary(options.hale_bin.as_deref()) {
        Ok(binary) => binary,
        Err(e) => return failed(&e),
    };
    let (store, opened_here) = match store {
        Some(store) => (store, false),
        None => match search::open_store(w4_options) {
            Ok(store) => (store, true),
            Err(e) => return failed(&e),
        },
    };
    let store = match export::prepare(store) {
        Ok(store) => store,
        Err(e) => return failed(&e),
    };
    let mut scans: Vec<export::BytesScan> = Vec::new();
    let mut scan_checks = Vec::new();
    let mut series: Vec<export::ExportSeries> = export::DOWNLOADS
        .iter()
        .map(|_| export::ExportSeries::default())
        .collect();
    for run_idx in 0..options.runs {
        match export::bytes_ceiling(store.database()) {
            Ok(scan) => {
                progress(format!(
                    "ceiling-bytes run {}/{}: {} rows/s ({} rows, {:.0} MB in {:.2} s, {:.0} MB/s)",
                    run_idx + 1,
                    options.runs,
                    report::thousands(scan.rate),
                    scan.rows,
                    scan.bytes as f64 / 1e6,
                    scan.seconds,
                    scan.bytes as f64 / 1e6 / scan.seconds.max(1e-9),
                ));
                scan_checks.push(scan.checks.clone());
                scans.push(scan);
            }
            Err(e) => scan_checks.push(failed_run(&e)),
        }
        for (downloads, series) in export::DOWNLOADS.iter().zip(series.iter_mut()) {
            series.push(
                run_idx,
                options.runs,
                export::export(&binary, &store, client, *downloads),
            );
        }
    }

    // The figure is the number of downloads with the higher median; every run's checks count.
    let best = series
        .iter()
        .max_by(|a, b| a.rate().total_cmp(&b.rate()))
        .filter(|s| !s.runs.is_empty());
    let mut checks = vec![store.checks.clone()];
    checks.extend(series.iter().flat_map(|s| s.checks.iter().cloned()));
    let mut details = Map::new();
    details.insert("resources".into(), json!(store.resources));
    details.insert("db_mb".into(), json!(store.db_bytes as f64 / 1e6));
    details.insert("store".into(), json!(store.description));
    details.insert("warm_read_seconds".into(), json!(store.warm_seconds));
    details.insert(
        "figure_downloads".into(),
        json!(best.and_then(|s| s.runs.first()).map(|r| r.downloads)),
    );
    details.insert(
        "by_downloads".into(),
        Value::Array(series.iter().map(export::ExportSeries::details).collect()),
    );
    let worst_growth = series
        .iter()
        .filter(|s| !s.runs.is_empty())
        .map(export::ExportSeries::anon_growth_mb)
        .fold(f64::NAN, f64::max);
    details.insert("rss_anon_growth_mb_worst".into(), json!(worst_growth));
    let mut result = workload_result(
        "W6",
        &format!(
            "system bulk export of {} resources, NDJSON, kick-off and downloads",
            report::thousands(store.resources as f64)
        ),
        "resources/s",
        best.map_or_else(Vec::new, |s| s.runs.iter().map(|r| r.rate).collect()),
        &checks,
        details,
    );
    result.target = Some(Target {
        text: format!(
            "≥ 250,000 resources/s; RSS grows ≤ 64 MB (RssAnon growth {:.1} MB)",
            worst_growth
        ),
        met: result.correct
            && result.median >= export::TARGET_RESOURCES_PER_SEC
            && worst_growth <= export::TARGET_RSS_GROWTH_MB,
    });

    let mut ceiling_details = Map::new();
    let of =
        |f: &dyn Fn(&export::BytesScan) -> f64| median(&scans.iter().map(f).collect::<Vec<_>>());
    ceiling_details.insert("rows".into(), json!(scans.last().map(|s| s.rows)));
    ceiling_details.insert("json_bytes".into(), json!(scans.last().map(|s| s.bytes)));
    ceiling_details.insert("seconds_median".into(), json!(of(&|s| s.seconds)));
    ceiling_details.insert(
        "mb_per_sec_median".into(),
        json!(of(&|s| s.bytes as f64 / 1e6 / s.seconds.max(1e-9))),
    );
    ceiling_details.insert("sql".into(), json!("SELECT json FROM history"));
    let ceiling = workload_result(
        "ceiling-bytes",
        "Bytes ceiling, the stored JSON column in one SQL scan",
        "resources/s",
        scans.iter().map(|s| s.rate).collect(),
        &scan_checks,
        ceiling_details,
    );
    let description = opened_here.then(|| store.description.clone());
    (vec![result, ceiling], description)
}

pub(crate) fn progress(message: String) {
    eprintln!("hale-bench: {message}");
}

/// The checks of a run that did not finish.
pub(crate) fn failed_run(error: &anyhow::Error) -> RunChecks {
    let mut checks = RunChecks::default();
    checks.check("the run completed", false, format!("{error:#}"));
    progress(format!("a run failed: {error:#}"));
    checks
}

pub(crate) fn workload_result(
    id: &str,
    workload: &str,
    unit: &str,
    runs: Vec<f64>,
    checks: &[RunChecks],
    details: Map<String, Value>,
) -> WorkloadResult {
    let checks = report::merge_checks(checks);
    let correct = !runs.is_empty() && checks.iter().all(|c| c.passed);
    WorkloadResult {
        id: id.into(),
        backend: server::Backend::Sqlite.name().into(),
        workload: workload.into(),
        unit: unit.into(),
        median: median(&runs),
        runs,
        latency_ms: None,
        target: None,
        ceiling: None,
        correct,
        checks,
        details,
    }
}

/// The runs of a duration-limited request workload.
#[derive(Default)]
struct LoadSeries {
    rates: Vec<f64>,
    p50s: Vec<f64>,
    p99s: Vec<f64>,
    requests: Vec<u64>,
    bytes_per_sec: Vec<f64>,
    checks: Vec<RunChecks>,
}

impl LoadSeries {
    fn push(
        &mut self,
        name: &str,
        run_idx: usize,
        runs: usize,
        run: anyhow::Result<read::LoadRun>,
    ) {
        match run {
            Ok(run) => {
                progress(format!(
                    "{name} run {}/{runs}: {} req/s, p50 {:.2} ms, p99 {:.2} ms",
                    run_idx + 1,
                    report::thousands(run.rate),
                    run.p50_ms,
                    run.p99_ms
                ));
                self.rates.push(run.rate);
                self.p50s.push(run.p50_ms);
                self.p99s.push(run.p99_ms);
                self.requests.push(run.requests);
                self.bytes_per_sec.push(run.body_bytes_per_sec);
                self.checks.push(run.checks);
            }
            Err(e) => self.checks.push(failed_run(&e)),
        }
    }

    fn result(&self, id: &str, workload: &str, connections: usize) -> WorkloadResult {
        let mut details = Map::new();
        details.insert("connections".into(), json!(connections));
        details.insert("requests_per_run".into(), json!(self.requests));
        details.insert(
            "body_mb_per_sec_median".into(),
            json!(median(&self.bytes_per_sec) / 1e6),
        );
        let mut result = workload_result(
            id,
            workload,
            "req/s",
            self.rates.clone(),
            &self.checks,
            details,
        );
        result.latency_ms = (!self.p50s.is_empty()).then(|| Latency {
            p50: median(&self.p50s),
            p99: median(&self.p99s),
        });
        result
    }
}

fn storage_ceiling(id: &str, workload: &str, db: &std::path::Path, runs: usize) -> WorkloadResult {
    let mut figures = Vec::new();
    let mut rows_per_sec = Vec::new();
    let mut wal_bytes = Vec::new();
    let mut checks = Vec::new();
    let mut details = Map::new();
    match storage::prepare(db) {
        Ok(rows) => {
            details.insert("resources".into(), json!(rows.resources()));
            details.insert("rows".into(), json!(rows.rows()));
            for run_idx in 0..runs {
                match storage::run(&rows) {
                    Ok(run) => {
                        progress(format!(
                            "{id} run {}/{runs}: {} resources/s, {} rows/s, {:.0} kB of WAL per resource",
                            run_idx + 1,
                            report::thousands(run.rate),
                            report::thousands(run.rows_per_sec),
                            run.wal_bytes as f64 / rows.resources().max(1) as f64 / 1e3,
                        ));
                        figures.push(run.rate);
                        rows_per_sec.push(run.rows_per_sec);
                        wal_bytes.push(run.wal_bytes as f64);
                        checks.push(run.checks);
                    }
                    Err(e) => checks.push(failed_run(&e)),
                }
            }
        }
        Err(e) => checks.push(failed_run(&e)),
    }
    details.insert("rows_per_sec_median".into(), json!(median(&rows_per_sec)));
    details.insert("wal_bytes_median".into(), json!(median(&wal_bytes)));
    workload_result(id, workload, "resources/s", figures, &checks, details)
}

/// The short commit and whether tracked files changed, or `local` outside a Git checkout.
fn git_revision() -> (String, Option<bool>) {
    let output = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match output(&["rev-parse", "--short", "HEAD"]) {
        Some(sha) if !sha.is_empty() => {
            let dirty =
                output(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty());
            (sha, dirty)
        }
        _ => ("local".into(), None),
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, model)| model.trim().to_owned()),
        memory_gib: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / (1024.0 * 1024.0)),
        os: std::env::consts::OS.into(),
    }
}
