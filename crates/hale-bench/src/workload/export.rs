//! W6, a system bulk export at a million resources, and the Bytes ceiling it is measured against.
//!
//! The store is W4's ([`search::open_store`]: built from the Synthea folder, or reused with
//! `--w4-db` or `--w4-pg-db`), on SQLite or PostgreSQL. Its in-process server is halted: on
//! SQLite the WAL is checkpointed, so that the database is the file alone, and the file is then
//! read once, untimed, so that every run finds it in the OS cache, as the Bytes ceiling does; on
//! PostgreSQL the Bytes ceiling's scan runs once, untimed, for the same reason.
//!
//! Each run, in this order:
//!
//! - the **Bytes ceiling** ([`bytes_ceiling`]): `SELECT json FROM history`, the stored JSON of
//!   every version, read end to end in one SQL scan by this process, rows and bytes counted;
//! - the export once per [`DOWNLOADS`] entry, each against a fresh `hale serve` over the database
//!   ([`export`]), as the operator: `GET /bulk-data/r4/$export` (1up's synchronous kick-off, which
//!   answers with the manifest), then every file of the manifest downloaded over that many
//!   connections at once, each taking the next file as it finishes one. The figure is resources
//!   per second from the kick-off's request to the last file's last byte.
//!
//! The server's memory is read from `/proc/<pid>/status` before the export (after one kick-off
//! whose `_since` lies in the future, which sets up what a first request does), every
//! [`SAMPLE_EVERY`] during it, and [`AFTER_SETTLE`] after; `VmHWM` is reset before it, as in
//! W5-mem. `VmRSS` counts the database pages the store maps (`mmap_size`, 2 GiB), which grow
//! with what is read and belong to the OS cache; `RssAnon` is what the process allocated, and the
//! target's growth is judged on it. The CPU time the server and this process used during the
//! export is read from `/proc/<pid>/stat`, to show where the time goes.
//!
//! Checks: the kick-off answers 200 with a manifest that asks for the access token and has no
//! errors; every file answers 200 as `application/fhir+ndjson` with as many lines as its
//! manifest `count`; every line starts with `{` and ends with a newline; the lines add up to the
//! manifest's counts and to the store's resources, type by type; the server still runs and
//! answers `/healthz` afterwards. The Bytes scan reads every row, each a JSON object.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::header::HeaderValue;
use hyper::{StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::client::{self, Connection};
use crate::report::{self, RunChecks, median};
use crate::server::{BenchServer, Database};
use crate::workload::memory::{self, RssSpan, ServeProcess, mb};
use crate::workload::search;

/// The concurrent downloads of each export of a run, in the order they run.
pub const DOWNLOADS: &[usize] = &[1, 2];

pub use crate::workload::memory::{AFTER_SETTLE, SAMPLE_EVERY};

/// The target: resources per second.
pub const TARGET_RESOURCES_PER_SEC: f64 = 250_000.0;

/// The target: `RssAnon` growth over the export, MB.
pub const TARGET_RSS_GROWTH_MB: f64 = 64.0;

/// The pages of SQLite's memory map of the database, as the store sets it (`mmap_size`).
const MMAP_SIZE: i64 = 2_147_418_112;

/// The NDJSON media type of export files.
const NDJSON: &str = "application/fhir+ndjson";

/// The database W6 exports, with what it holds.
pub struct ExportStore {
    // Halted; kept so that a temporary database lives as long as W6 needs it.
    server: BenchServer,
    /// Current resources per type, as the store counts them.
    pub by_type: Vec<(String, u64)>,
    /// Current resources.
    pub resources: u64,
    /// Bytes of the database file.
    pub db_bytes: u64,
    /// How the store was made, for the report.
    pub description: String,
    /// Seconds the untimed read of the database file took.
    pub warm_seconds: f64,
    /// The checks of the load (or of the reused database).
    pub checks: RunChecks,
}

impl ExportStore {
    /// The database the store lives in.
    pub fn database(&self) -> &Database {
        self.server.database()
    }
}

/// Counts W4's store, halts its in-process server, and reads the database once.
pub fn prepare(store: search::Store) -> anyhow::Result<ExportStore> {
    let search::Store {
        mut server,
        description,
        mut checks,
        recorded,
    } = store;
    let by_type = server.count_by_type()?;
    let resources: u64 = by_type.iter().map(|(_, n)| n).sum();
    if let Some(recorded) = recorded {
        checks.equal(
            "W6 reused database: resources = those its build recorded",
            resources,
            recorded,
        );
    }
    server.halt()?;
    // Read once, untimed, so that every run (the ceiling's scan and the exports alike) finds the
    // data in the OS cache (and PostgreSQL's buffers) rather than the first paying for the disk:
    // the SQLite file end to end, or PostgreSQL's `history` table in the Bytes ceiling's scan.
    let started = Instant::now();
    let db_bytes = match (server.sqlite_path(), server.postgres_url()) {
        (Some(db), _) => {
            let mut file =
                std::fs::File::open(&db).with_context(|| format!("opening {}", db.display()))?;
            std::io::copy(&mut file, &mut std::io::sink())?;
            std::fs::metadata(&db).map_or(0, |m| m.len())
        }
        (None, Some(url)) => {
            bytes_ceiling(server.database())?;
            crate::pg::database_size(url)?
        }
        (None, None) => anyhow::bail!("the store is neither SQLite nor PostgreSQL"),
    };
    let warm_seconds = started.elapsed().as_secs_f64();
    crate::progress(format!(
        "W6 store: {} resources, database {:.0} MB, read into the OS cache in {warm_seconds:.1} s",
        report::thousands(resources as f64),
        db_bytes as f64 / 1e6
    ));
    Ok(ExportStore {
        server,
        by_type,
        resources,
        db_bytes,
        description,
        warm_seconds,
        checks,
    })
}

/// What one scan of the Bytes ceiling read.
#[derive(Clone, Debug)]
pub struct BytesScan {
    /// Rows read per second.
    pub rate: f64,
    /// Rows read.
    pub rows: u64,
    /// JSON bytes read.
    pub bytes: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The checks.
    pub checks: RunChecks,
}

/// The Bytes ceiling: the stored JSON of every row of `history`, read end to end in one SQL scan:
/// on a read-only connection with the store's memory map (SQLite), or on a connection of this
/// process's own with the rows streamed as they come (PostgreSQL).
pub fn bytes_ceiling(database: &Database) -> anyhow::Result<BytesScan> {
    let started = Instant::now();
    let (n_rows, bytes, objects) = match (database.sqlite_path(), database.postgres_url()) {
        (Some(db), _) => scan_sqlite(&db)?,
        (None, Some(url)) => scan_postgres(url)?,
        (None, None) => anyhow::bail!("the store is neither SQLite nor PostgreSQL"),
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut checks = RunChecks::default();
    checks.check(
        "ceiling-bytes: rows were read",
        n_rows > 0,
        format!("{n_rows} rows, {bytes} bytes"),
    );
    checks.equal(
        "ceiling-bytes: every row's JSON is an object",
        objects,
        n_rows,
    );
    Ok(BytesScan {
        rate: n_rows as f64 / seconds.max(1e-9),
        rows: n_rows,
        bytes,
        seconds,
        checks,
    })
}

/// `SELECT json FROM history` on the SQLite file: rows, bytes and rows that start with `{`.
fn scan_sqlite(db: &Path) -> anyhow::Result<(u64, u64, u64)> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", db.display()))?;
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    let mut statement = conn.prepare("SELECT json FROM history")?;
    let mut rows = statement.query([])?;
    let (mut n_rows, mut bytes, mut objects) = (0u64, 0u64, 0u64);
    while let Some(row) = rows.next()? {
        let json = row.get_ref(0)?.as_bytes()?;
        n_rows += 1;
        bytes += json.len() as u64;
        objects += u64::from(json.first() == Some(&b'{'));
    }
    Ok((n_rows, bytes, objects))
}

/// `SELECT json FROM history` on the PostgreSQL database: rows, bytes and rows that start with
/// `{`.
fn scan_postgres(url: &str) -> anyhow::Result<(u64, u64, u64)> {
    use futures::TryStreamExt as _;

    crate::pg::block_on(async {
        let client = crate::pg::connect(url).await?;
        let rows = client
            .query_raw("SELECT json FROM history", std::iter::empty::<&str>())
            .await?;
        futures::pin_mut!(rows);
        let (mut n_rows, mut bytes, mut objects) = (0u64, 0u64, 0u64);
        while let Some(row) = rows.try_next().await? {
            let json: &[u8] = row.get(0);
            n_rows += 1;
            bytes += json.len() as u64;
            objects += u64::from(json.first() == Some(&b'{'));
        }
        Ok::<_, anyhow::Error>((n_rows, bytes, objects))
    })?
}

/// Lines of NDJSON counted as they stream: every newline ends a line, and a line is well formed
/// when it starts with `{` (stored JSON is compact, so no newline stands inside a line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineTally {
    /// Newlines seen: the lines ended.
    pub lines: u64,
    /// Lines that start with `{`.
    pub object_starts: u64,
    /// Bytes seen.
    pub bytes: u64,
    /// The last byte seen.
    last: Option<u8>,
}

impl LineTally {
    /// Counts one chunk of the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        let Some(&first) = chunk.first() else {
            return;
        };
        // A line starts at the beginning of the stream and after every newline, which may end
        // the previous chunk.
        if first == b'{' && matches!(self.last, None | Some(b'\n')) {
            self.object_starts += 1;
        }
        // Written as whole-slice passes, which the compiler vectorizes: the client shares the
        // CPUs with the server it measures.
        self.lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        self.object_starts += chunk
            .iter()
            .zip(&chunk[1..])
            .filter(|&(&a, &b)| a == b'\n' && b == b'{')
            .count() as u64;
        self.bytes += chunk.len() as u64;
        self.last = chunk.last().copied();
    }

    /// Whether the stream is empty or its last byte a newline.
    pub fn ends_with_newline(&self) -> bool {
        matches!(self.last, None | Some(b'\n'))
    }

    /// Whether every line starts with `{` and ends with a newline: as many line starts as
    /// newlines, and the stream's last byte a newline (or nothing at all).
    pub fn well_formed(&self) -> bool {
        self.object_starts == self.lines && self.ends_with_newline()
    }
}

/// The manifest of a kick-off, as far as W6 reads it.
#[derive(Clone, Debug, Deserialize)]
struct Manifest {
    #[serde(rename = "requiresAccessToken")]
    requires_access_token: bool,
    output: Vec<OutputFile>,
    error: Vec<Value>,
}

#[derive(Clone, Debug, Deserialize)]
struct OutputFile {
    #[serde(rename = "type")]
    resource_type: String,
    url: String,
    count: u64,
}

/// One downloaded file.
#[derive(Clone, Debug)]
pub struct FileRun {
    /// Its resource type.
    pub resource_type: String,
    /// Its manifest `count`.
    pub count: u64,
    /// The status of the download.
    pub status: StatusCode,
    /// Whether it came as `application/fhir+ndjson`.
    pub ndjson: bool,
    /// What it held.
    pub tally: LineTally,
    /// From the request to the last byte, seconds.
    pub seconds: f64,
    /// From the request to the first byte of the body, seconds.
    pub first_byte_seconds: f64,
}

/// What one export measured.
#[derive(Clone, Debug)]
pub struct ExportRun {
    /// Concurrent downloads.
    pub downloads: usize,
    /// Resources received per second, kick-off included.
    pub rate: f64,
    /// Resources received.
    pub resources: u64,
    /// Bytes of NDJSON received.
    pub bytes: u64,
    /// From the kick-off's request to the last byte of the last file, seconds.
    pub seconds: f64,
    /// The kick-off alone, seconds.
    pub kick_off_seconds: f64,
    /// The files, in the manifest's order.
    pub files: Vec<FileRun>,
    /// The server's memory: at start, before the export (after one kick-off whose `_since`
    /// lies in the future), at the export's peak and after it.
    pub rss: RssSpan,
    /// RSS samples taken.
    pub samples: u64,
    /// CPU seconds the server used during the export.
    pub server_cpu_seconds: f64,
    /// CPU seconds this process (the client) used during the export.
    pub client_cpu_seconds: f64,
    /// The checks.
    pub checks: RunChecks,
}

impl ExportRun {
    /// Received NDJSON, MB per second of the whole export.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

/// The path and query of an absolute URL the server wrote, to request on a connection to it.
fn path_of(url: &str) -> anyhow::Result<Uri> {
    let uri: Uri = url.parse().with_context(|| format!("the URL {url:?}"))?;
    let path = uri
        .path_and_query()
        .with_context(|| format!("no path in {url:?}"))?;
    Ok(Uri::try_from(path.as_str())?)
}

/// Starts `hale serve` over the store, exports it as the operator with `downloads` concurrent
/// downloads, and samples the server's memory.
pub fn export(
    binary: &Path,
    store: &ExportStore,
    client: &tokio::runtime::Runtime,
    downloads: usize,
) -> anyhow::Result<ExportRun> {
    let data_dir = tempfile::Builder::new()
        .prefix("hale-bench-w6-")
        .tempdir()?;
    let token = hale_auth::secret::new_access_token();
    let database = store.database().serve_argument();
    let mut server = ServeProcess::start_with_env(
        binary,
        data_dir.path(),
        &["--database", &database],
        &[("HALE_ADMIN_TOKEN", &token)],
    )?;
    let mut checks = RunChecks::default();
    std::thread::sleep(memory::SETTLE);
    let target = client::Target {
        addr: server
            .addr()
            .parse()
            .with_context(|| format!("the address {:?}", server.addr()))?,
        authorization: HeaderValue::from_str(&format!("Bearer {token}"))?,
    };
    let started = server.rss()?;
    // One kick-off that selects nothing, so that what any first request sets up once (the
    // token's check, a reader connection, prepared statements) is in the baseline.
    let warm = client.block_on(async {
        let mut connection = Connection::open(&target).await?;
        connection
            .get(Uri::from_static(
                "/bulk-data/r4/$export?_since=2999-01-01T00:00:00Z",
            ))
            .await
    })?;
    let warm_empty = serde_json::from_slice::<Manifest>(&warm.body)
        .map(|m| m.output.is_empty())
        .unwrap_or(false);
    checks.check(
        "W6: a kick-off with _since in the future answers 200 with no files",
        warm.status == StatusCode::OK && warm_empty,
        format!("{}", warm.status),
    );
    std::thread::sleep(Duration::from_millis(200));
    let before = server.rss()?;
    let server_cpu_before = server.cpu_seconds()?;
    let client_cpu_before = memory::cpu_seconds("/proc/self/stat")?;
    let sampled = server.sample_during(started, before, |_| {
        let export_started = Instant::now();
        let exported = client.block_on(kick_off_and_download(&target, downloads));
        let seconds = export_started.elapsed().as_secs_f64();
        let cpu = (server.cpu_seconds(), memory::cpu_seconds("/proc/self/stat"));
        (exported, seconds, cpu)
    })?;
    let (exported, seconds, (server_cpu, client_cpu)) = sampled.output;
    let server_cpu_seconds = server_cpu? - server_cpu_before;
    let client_cpu_seconds = client_cpu? - client_cpu_before;
    let (manifest, kick_off_seconds, files) = exported?;

    record_checks(&manifest, &files, store, &mut checks);
    server.check_still_serving("W6", "export", &mut checks);
    let resources: u64 = files.iter().map(|f| f.tally.lines).sum();
    Ok(ExportRun {
        downloads,
        rate: resources as f64 / seconds.max(1e-9),
        resources,
        bytes: files.iter().map(|f| f.tally.bytes).sum(),
        seconds,
        kick_off_seconds,
        files,
        rss: sampled.span,
        samples: sampled.samples.len() as u64,
        server_cpu_seconds,
        client_cpu_seconds,
        checks,
    })
}

/// The timed part: the kick-off, then every file over `downloads` connections, each taking the
/// next file of the manifest as it finishes one. Returns the manifest, the kick-off's seconds
/// and the files in the manifest's order.
async fn kick_off_and_download(
    target: &client::Target,
    downloads: usize,
) -> anyhow::Result<(Manifest, f64, Vec<FileRun>)> {
    let started = Instant::now();
    let mut first = Connection::open(target).await?;
    let answer = first.get(Uri::from_static("/bulk-data/r4/$export")).await?;
    let kick_off_seconds = started.elapsed().as_secs_f64();
    answer.ensure_ok("the kick-off")?;
    let manifest: Manifest =
        serde_json::from_slice(&answer.body).context("the kick-off's manifest")?;
    let outputs = Arc::new(manifest.output.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let mut connections = vec![first];
    for _ in 1..downloads.max(1) {
        connections.push(Connection::open(target).await?);
    }
    let mut tasks = Vec::with_capacity(connections.len());
    for mut connection in connections {
        let (outputs, next) = (outputs.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let idx = next.fetch_add(1, Ordering::Relaxed);
                let Some(output) = outputs.get(idx) else {
                    break;
                };
                let requested = Instant::now();
                let mut first_byte: Option<Instant> = None;
                let mut tally = LineTally::default();
                let (status, content_type) = connection
                    .get_streamed(path_of(&output.url)?, |chunk| {
                        first_byte.get_or_insert_with(Instant::now);
                        tally.feed(chunk);
                    })
                    .await?;
                let end = Instant::now();
                done.push((
                    idx,
                    FileRun {
                        resource_type: output.resource_type.clone(),
                        count: output.count,
                        status,
                        ndjson: content_type
                            .as_ref()
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.starts_with(NDJSON)),
                        tally,
                        seconds: (end - requested).as_secs_f64(),
                        first_byte_seconds: (first_byte.unwrap_or(end) - requested).as_secs_f64(),
                    },
                ));
            }
            Ok::<_, anyhow::Error>(done)
        }));
    }
    let mut files = Vec::with_capacity(outputs.len());
    for task in tasks {
        files.extend(task.await??);
    }
    files.sort_by_key(|(idx, _)| *idx);
    Ok((
        manifest,
        kick_off_seconds,
        files.into_iter().map(|(_, file)| file).collect(),
    ))
}

/// The checks of one export against its manifest and the store.
fn record_checks(
    manifest: &Manifest,
    files: &[FileRun],
    store: &ExportStore,
    checks: &mut RunChecks,
) {
    checks.check(
        "W6: the manifest asks for the access token and lists no errors",
        manifest.requires_access_token && manifest.error.is_empty(),
        format!(
            "requiresAccessToken {}, {} errors",
            manifest.requires_access_token,
            manifest.error.len()
        ),
    );
    let first_failure = |failing: &dyn Fn(&FileRun) -> bool, what: &dyn Fn(&FileRun) -> String| {
        let failed: Vec<&FileRun> = files.iter().filter(|f| failing(f)).collect();
        match failed.first() {
            None => (true, format!("{} files", files.len())),
            Some(file) => (
                false,
                format!(
                    "{} of {} files; first: {}",
                    failed.len(),
                    files.len(),
                    what(file)
                ),
            ),
        }
    };
    let (passed, detail) = first_failure(&|f| f.status != StatusCode::OK || !f.ndjson, &|f| {
        format!("{}: {}, NDJSON {}", f.resource_type, f.status, f.ndjson)
    });
    checks.check(
        "W6: every file answers 200 as application/fhir+ndjson",
        passed,
        detail,
    );
    let (passed, detail) = first_failure(&|f| f.tally.lines != f.count, &|f| {
        format!(
            "{}: {} lines, count {}",
            f.resource_type, f.tally.lines, f.count
        )
    });
    checks.check(
        "W6: every file has as many lines as its manifest count",
        passed,
        detail,
    );
    let (passed, detail) = first_failure(&|f| !f.tally.well_formed(), &|f| {
        format!(
            "{}: {} lines, {} starting with {{, ends with a newline: {}",
            f.resource_type,
            f.tally.lines,
            f.tally.object_starts,
            f.tally.ends_with_newline()
        )
    });
    checks.check(
        "W6: every line starts with { and ends with a newline",
        passed,
        detail,
    );
    let lines: u64 = files.iter().map(|f| f.tally.lines).sum();
    let counted: u64 = manifest.output.iter().map(|o| o.count).sum();
    checks.equal("W6: lines = the manifest's counts", lines, counted);
    checks.equal("W6: lines = the store's resources", lines, store.resources);
    let mut by_type: Vec<(String, u64)> = Vec::new();
    for file in files {
        match by_type.iter_mut().find(|(t, _)| *t == file.resource_type) {
            Some((_, n)) => *n += file.tally.lines,
            None => by_type.push((file.resource_type.clone(), file.tally.lines)),
        }
    }
    by_type.sort();
    let mut expected = store.by_type.clone();
    expected.retain(|(_, n)| *n > 0);
    expected.sort();
    let differing: Vec<String> = expected
        .iter()
        .filter(|e| !by_type.contains(e))
        .map(|(t, n)| {
            let got = by_type.iter().find(|(g, _)| g == t).map_or(0, |(_, n)| *n);
            format!("{t}: {got}, expected {n}")
        })
        .chain(
            by_type
                .iter()
                .filter(|(t, _)| !expected.iter().any(|(e, _)| e == t))
                .map(|(t, n)| format!("{t}: {n}, expected none")),
        )
        .collect();
    checks.check(
        "W6: lines per type = the store's resources per type",
        differing.is_empty(),
        if differing.is_empty() {
            format!("{} types", by_type.len())
        } else {
            differing.join("; ")
        },
    );
}

/// The exports of one number of concurrent downloads over the runs.
#[derive(Default)]
pub struct ExportSeries {
    /// The runs that completed.
    pub runs: Vec<ExportRun>,
    /// The checks of every run, completed or not.
    pub checks: Vec<RunChecks>,
}

impl ExportSeries {
    /// Adds one run's export, or its failure.
    pub fn push(&mut self, run_idx: usize, runs: usize, export: anyhow::Result<ExportRun>) {
        match export {
            Ok(export) => {
                crate::progress(format!(
                    "W6 {} download(s) run {}/{runs}: {} resources/s ({} in {:.2} s, kick-off {:.2} s, {:.0} MB/s); server CPU {:.1} s, client CPU {:.1} s; VmRSS {:.1} -> peak {:.1} -> {:.1} MB, RssAnon {:.1} -> peak {:.1} -> {:.1} MB",
                    export.downloads,
                    run_idx + 1,
                    report::thousands(export.rate),
                    export.resources,
                    export.seconds,
                    export.kick_off_seconds,
                    export.mb_per_sec(),
                    export.server_cpu_seconds,
                    export.client_cpu_seconds,
                    mb(export.rss.before.vm_rss_kb),
                    mb(export.rss.peak_vm_rss_kb),
                    mb(export.rss.after.vm_rss_kb),
                    mb(export.rss.before.rss_anon_kb),
                    mb(export.rss.peak_anon_kb),
                    mb(export.rss.after.rss_anon_kb),
                ));
                self.checks.push(export.checks.clone());
                self.runs.push(export);
            }
            Err(e) => self.checks.push(crate::failed_run(&e)),
        }
    }

    /// Median resources per second.
    pub fn rate(&self) -> f64 {
        self.median(&|r| r.rate)
    }

    /// Median `RssAnon` growth, MB.
    pub fn anon_growth_mb(&self) -> f64 {
        self.median(&|r| r.rss.anon_growth_mb())
    }

    fn median(&self, f: &dyn Fn(&ExportRun) -> f64) -> f64 {
        median(&self.runs.iter().map(f).collect::<Vec<_>>())
    }

    /// The medians of this series, for the report's details.
    pub fn details(&self) -> Value {
        let of = |f: &dyn Fn(&ExportRun) -> f64| self.median(f);
        let mut details = Map::new();
        details.insert(
            "downloads".into(),
            json!(self.runs.first().map(|r| r.downloads)),
        );
        details.insert(
            "resources_per_sec_runs".into(),
            json!(self.runs.iter().map(|r| r.rate).collect::<Vec<_>>()),
        );
        for (key, value) in [
            ("resources_per_sec", of(&|r| r.rate)),
            ("seconds", of(&|r| r.seconds)),
            ("kick_off_seconds", of(&|r| r.kick_off_seconds)),
            (
                "download_resources_per_sec",
                of(&|r| r.resources as f64 / (r.seconds - r.kick_off_seconds).max(1e-9)),
            ),
            ("mb_per_sec", of(&|r| r.mb_per_sec())),
            ("server_cpu_seconds", of(&|r| r.server_cpu_seconds)),
            ("client_cpu_seconds", of(&|r| r.client_cpu_seconds)),
            (
                "server_cpu_us_per_resource",
                of(&|r| r.server_cpu_seconds * 1e6 / r.resources.max(1) as f64),
            ),
            (
                "largest_file_resources_per_sec",
                of(&|r| {
                    r.files
                        .iter()
                        .max_by_key(|f| f.tally.lines)
                        .map_or(f64::NAN, |f| f.tally.lines as f64 / f.seconds.max(1e-9))
                }),
            ),
            (
                "first_byte_seconds_sum",
                of(&|r| r.files.iter().map(|f| f.first_byte_seconds).sum()),
            ),
            (
                "first_byte_ms_max",
                of(&|r| {
                    r.files
                        .iter()
                        .map(|f| f.first_byte_seconds * 1e3)
                        .fold(0.0, f64::max)
                }),
            ),
            ("vm_rss_started_mb", of(&|r| mb(r.rss.started.vm_rss_kb))),
            ("vm_rss_before_mb", of(&|r| mb(r.rss.before.vm_rss_kb))),
            ("vm_rss_peak_mb", of(&|r| mb(r.rss.peak_vm_rss_kb))),
            ("vm_rss_after_mb", of(&|r| mb(r.rss.after.vm_rss_kb))),
            ("vm_rss_growth_mb", of(&|r| r.rss.vm_growth_mb())),
            (
                "rss_anon_started_mb",
                of(&|r| mb(r.rss.started.rss_anon_kb)),
            ),
            ("rss_anon_before_mb", of(&|r| mb(r.rss.before.rss_anon_kb))),
            ("rss_anon_peak_mb", of(&|r| mb(r.rss.peak_anon_kb))),
            ("rss_anon_after_mb", of(&|r| mb(r.rss.after.rss_anon_kb))),
            ("rss_anon_growth_mb", of(&|r| r.rss.anon_growth_mb())),
            ("samples", of(&|r| r.samples as f64)),
        ] {
            details.insert(format!("{key}_median"), json!(value));
        }
        if let Some(last) = self.runs.last() {
            details.insert("files".into(), json!(last.files.len()));
            details.insert("resources".into(), json!(last.resources));
            details.insert("ndjson_bytes".into(), json!(last.bytes));
            details.insert(
                "files_last_run".into(),
                Value::Array(
                    last.files
                        .iter()
                        .map(|f| {
                            json!({
                                "type": f.resource_type,
                                "count": f.count,
                                "bytes": f.tally.bytes,
                                "seconds": f.seconds,
                                "first_byte_ms": f.first_byte_seconds * 1e3,
                            })
                        })
                        .collect(),
                ),
            );
        }
        Value::Object(details)
    }
}

#[cfg(test)]
mod tests {
    use super::LineTally;

    fn tally(chunks: &[&[u8]]) -> LineTally {
        let mut tally = LineTally::default();
        for chunk in chunks {
            tally.feed(chunk);
        }
        tally
    }

    #[test]
    fn lines_are_counted_across_chunks() {
        let whole: &[u8] = b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
        for split in 0..whole.len() {
            let (head, tail) = whole.split_at(split);
            let seen = tally(&[head, tail]);
            assert_eq!((seen.lines, seen.object_starts), (3, 3), "split at {split}");
            assert!(seen.well_formed(), "split at {split}");
            assert_eq!(seen.bytes, whole.len() as u64);
        }
        let empty = tally(&[]);
        assert!(empty.well_formed() && empty.lines == 0);
    }

    #[test]
    fn malformed_lines_are_seen() {
        for bad in [
            &b"{\"a\":1}\n{\"b\":2}"[..],
            b"{\"a\":1}\n\n",
            b"[1]\n",
            b"{\"a\":1}\n x\n",
        ] {
            for split in 0..bad.len() {
                let (head, tail) = bad.split_at(split);
                assert!(
                    !tally(&[head, tail]).well_formed(),
                    "{:?} split at {split}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
    }
}
