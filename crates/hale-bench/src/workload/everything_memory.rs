//! W5-mem, memory while `$everything` streams one large patient: a store holding one Patient
//! whose compartment has about [`DEFAULT_RESOURCES`] resources (the Patient and Observations of
//! it), walked from the first page to the last through the `next` links, once per page size of
//! [`PAGE_SIZES`], while the resident set of the real `hale serve` process serving it is sampled.
//!
//! The store is built once per harness run, untimed: an in-process server ([`BenchServer`], with
//! `synchronous=NORMAL`, as W4's load) takes transaction Bundles of [`BUNDLE_ENTRIES`]
//! Observations over [`LOAD_CONNECTIONS`] connections, POSTed as the bench user, who so owns the
//! data; the server is then stopped and the WAL checkpointed into the database file. Each walk
//! runs against a fresh `hale serve` over that data folder (as M starts it), with the same user's
//! bearer token, which lives in the same database: so the RSS before one walk does not hold what
//! an earlier walk left.
//!
//! RSS is read from `/proc/<pid>/status` before the walk (after [`memory::SETTLE`] and one small
//! first page), after every page, every [`SAMPLE_EVERY`] by a sampling thread, and once more
//! [`AFTER_SETTLE`] after the walk. `VmHWM` is reset before the walk (`clear_refs`), so the peak
//! `VmRSS` is the kernel's own peak over the walk, not only what the samples saw. `VmRSS` counts
//! the pages of the database file the store maps (`mmap_size`, 2 GiB) and has touched, which
//! grow with the data read; `RssAnon` is the memory the process allocated. Both are reported.
//!
//! Flatness compares the growth over the whole walk with the growth over its first 10% of pages:
//! memory that holds the whole answer grows with the pages, memory that streams it does not.
//!
//! Checks: every Bundle of the load accepted and every entry created, the store holding exactly
//! the Patient and its Observations; in every walk the checks of
//! [`everything::record_walk_checks`], with `total` and the distinct match entries equal to the
//! patient's resources; and the server still running and answering `/healthz` afterwards.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::client::{self, Connection};
use crate::report::{self, RunChecks, Target, WorkloadResult, median};
use crate::server::BenchServer;
use crate::workload::everything;
use crate::workload::memory::{self, Rss, RssSpan, ServeProcess, lock, mb};

/// Resources in the patient's compartment by default: the Patient and 99,999 Observations.
pub const DEFAULT_RESOURCES: u64 = 100_000;

/// Observations per transaction Bundle of the load.
pub const BUNDLE_ENTRIES: u64 = 1000;

/// Concurrent connections of the load.
pub const LOAD_CONNECTIONS: usize = 4;

/// The `_count` of each walk, in the order they run.
pub const PAGE_SIZES: &[usize] = &[1000, 10_000];

pub use crate::workload::memory::{AFTER_SETTLE, SAMPLE_EVERY};

/// Growth below this counts as this much in the flatness ratio, so that noise in a growth of
/// nearly nothing does not make a ratio.
pub const FLAT_FLOOR_MB: f64 = 1.0;

/// The largest flatness ratio (whole walk over first 10% of pages) that still counts as flat.
pub const FLAT_RATIO: f64 = 1.5;

/// The built store: a data folder `hale serve` can open, and who may read it.
pub struct Store {
    dir: tempfile::TempDir,
    /// The Patient's id.
    pub patient_id: String,
    /// Resources in its compartment: the Patient and its Observations.
    pub resources: u64,
    authorization: HeaderValue,
    /// Seconds the load took.
    pub seconds: f64,
    /// Bytes of the database file after the checkpoint.
    pub db_bytes: u64,
    /// The load's checks.
    pub checks: RunChecks,
}

#[derive(Deserialize)]
struct ResponseBundle {
    #[serde(default)]
    entry: Vec<ResponseEntry>,
}

#[derive(Deserialize)]
struct ResponseEntry {
    response: Option<EntryResponse>,
}

#[derive(Deserialize)]
struct EntryResponse {
    #[serde(default)]
    status: String,
    location: Option<String>,
}

/// One transaction Bundle of `entries` resources, POSTed without `fullUrl`s.
fn transaction(entries: impl Iterator<Item = Value>) -> anyhow::Result<Bytes> {
    let entry: Vec<Value> = entries
        .map(|resource| {
            let resource_type = resource["resourceType"].as_str().unwrap_or("").to_owned();
            json!({ "resource": resource, "request": { "method": "POST", "url": resource_type } })
        })
        .collect();
    Ok(Bytes::from(serde_json::to_vec(&json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": entry,
    }))?))
}

/// The `index`th Observation of the patient: vital signs with one of four LOINC codes, a date
/// within ten years and a value, about the size and shape of Synthea's.
fn observation(patient_id: &str, index: u64) -> Value {
    const CODES: [(&str, &str, &str); 4] = [
        ("8867-4", "Heart rate", "/min"),
        ("8310-5", "Body temperature", "Cel"),
        ("29463-7", "Body weight", "kg"),
        ("8302-2", "Body height", "cm"),
    ];
    let (code, display, unit) = CODES[(index % CODES.len() as u64) as usize];
    let day = time::Date::from_calendar_date(2015, time::Month::January, 1)
        .map(|d| d + time::Duration::days((index % 3650) as i64))
        .map_or_else(|_| "2015-01-01".to_owned(), |d| d.to_string());
    let minute = index % 1440;
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "vital signs"
        }] }],
        "code": {
            "coding": [{ "system": "http://loinc.org", "code": code, "display": display }],
            "text": display
        },
        "subject": { "reference": format!("Patient/{patient_id}") },
        "effectiveDateTime": format!("{day}T{:02}:{:02}:00Z", minute / 60, minute % 60),
        "issued": format!("{day}T{:02}:{:02}:00.000Z", minute / 60, minute % 60),
        "valueQuantity": {
            "value": 40.0 + (index % 200) as f64 / 4.0,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit
        }
    })
}

/// Tallies the answers of the load.
#[derive(Default)]
struct LoadTally {
    failed_bundles: u64,
    created: u64,
    failed_entries: u64,
    samples: Vec<String>,
}

impl LoadTally {
    fn sample(&mut self, text: String) {
        if self.samples.len() < 3 {
            self.samples.push(text);
        }
    }

    fn add(&mut self, name: &str, answer: anyhow::Result<client::Answer>) {
        let answer = match answer {
            Ok(answer) if answer.status == StatusCode::OK => answer,
            Ok(answer) => {
                self.failed_bundles += 1;
                self.sample(format!("{name}: {}", answer.describe()));
                return;
            }
            Err(e) => {
                self.failed_bundles += 1;
                self.sample(format!("{name}: {e:#}"));
                return;
            }
        };
        match serde_json::from_slice::<ResponseBundle>(&answer.body) {
            Ok(bundle) => {
                for entry in bundle.entry {
                    let status = entry.response.as_ref().map_or("", |r| r.status.as_str());
                    if status.starts_with("201") {
                        self.created += 1;
                    } else {
                        self.failed_entries += 1;
                        self.sample(format!("{name}: an entry answered {status:?}"));
                    }
                }
            }
            Err(e) => {
                self.failed_bundles += 1;
                self.sample(format!("{name}: the response is not a Bundle: {e}"));
            }
        }
    }
}

/// Builds the store: one Patient and `resources - 1` Observations of it, owned by the bench user.
pub fn build(client: &tokio::runtime::Runtime, resources: u64) -> anyhow::Result<Store> {
    anyhow::ensure!(
        resources >= 2,
        "W5-mem needs at least 2 resources: the Patient and one Observation"
    );
    let dir = tempfile::Builder::new()
        .prefix("hale-bench-w5mem-")
        .tempdir()?;
    let db = dir.path().join("hale.db");
    let server = BenchServer::start_at(&db, false)?;
    let target = server.user_target();
    let authorization = target.authorization.clone();
    let started = Instant::now();

    // The Patient first, to learn its id.
    let patient = transaction(std::iter::once(json!({
        "resourceType": "Patient",
        "name": [{ "family": "Everything", "given": ["Walk"] }],
        "gender": "female",
        "birthDate": "1970-01-01"
    })))?;
    let answer = client.block_on(async {
        let mut connection = Connection::open(&target).await?;
        connection.post_fhir(Uri::from_static("/r4"), patient).await
    })?;
    answer.ensure_ok("the Patient's transaction")?;
    let response: ResponseBundle =
        serde_json::from_slice(&answer.body).context("the Patient's transaction response")?;
    let patient_id = response
        .entry
        .first()
        .and_then(|e| e.response.as_ref())
        .and_then(|r| r.location.as_deref())
        .and_then(|l| l.split_once("/Patient/"))
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .context("no Patient location in the transaction response")?;

    let observations = resources - 1;
    let n_bundles = observations.div_ceil(BUNDLE_ENTRIES);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let tally = client.block_on(async {
        let mut tasks = Vec::with_capacity(LOAD_CONNECTIONS);
        for _ in 0..LOAD_CONNECTIONS {
            let mut connection = Connection::open(&target).await?;
            let (next, done, patient_id) = (next.clone(), done.clone(), patient_id.clone());
            tasks.push(tokio::spawn(async move {
                let mut tally = LoadTally::default();
                loop {
                    let bundle_idx = next.fetch_add(1, Ordering::Relaxed);
                    if bundle_idx >= n_bundles {
                        break;
                    }
                    let first = bundle_idx * BUNDLE_ENTRIES;
                    let last = (first + BUNDLE_ENTRIES).min(observations);
                    let name = format!("Observations {first}..{last}");
                    let answer =
                        match transaction((first..last).map(|i| observation(&patient_id, i))) {
                            Ok(body) => connection.post_fhir(Uri::from_static("/r4"), body).await,
                            Err(e) => Err(e),
                        };
                    tally.add(&name, answer);
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if finished % (n_bundles / 10).max(1) == 0 {
                        crate::progress(format!(
                            "W5-mem load: {} of {} Observations",
                            report::thousands((finished * BUNDLE_ENTRIES).min(observations) as f64),
                            report::thousands(observations as f64)
                        ));
                    }
                }
                tally
            }));
        }
        let mut total = LoadTally::default();
        for task in tasks {
            let tally = task.await?;
            total.failed_bundles += tally.failed_bundles;
            total.created += tally.created;
            total.failed_entries += tally.failed_entries;
            for sample in tally.samples {
                total.sample(sample);
            }
        }
        Ok::<_, anyhow::Error>(total)
    })?;
    let seconds = started.elapsed().as_secs_f64();

    let mut checks = RunChecks::default();
    let samples = if tally.samples.is_empty() {
        String::new()
    } else {
        format!("; {}", tally.samples.join("; "))
    };
    checks.check(
        "W5-mem load: every Bundle answered 200",
        tally.failed_bundles == 0,
        format!("{} failed{samples}", tally.failed_bundles),
    );
    checks.check(
        "W5-mem load: every entry answered 201",
        tally.failed_entries == 0,
        format!("{} failed{samples}", tally.failed_entries),
    );
    checks.equal(
        "W5-mem load: Observations created",
        tally.created,
        observations,
    );
    let by_type = server.count_by_type()?;
    let count_of = |t: &str| {
        by_type
            .iter()
            .find(|(name, _)| name == t)
            .map_or(0, |(_, n)| *n)
    };
    let stored: u64 = by_type.iter().map(|(_, n)| n).sum();
    checks.equal(
        "W5-mem load: the store holds the Patient and its Observations, nothing else",
        stored,
        resources,
    );
    checks.equal(
        "W5-mem load: Observations in the store",
        count_of("Observation"),
        observations,
    );
    server.stop()?;
    // The store checkpoints only passively; a truncating checkpoint leaves the data in the
    // database file, where `hale serve` finds it as a server that has run a while would.
    let conn =
        rusqlite::Connection::open(&db).with_context(|| format!("opening {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .context("checkpointing the WAL")?;
    drop(conn);
    let db_bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
    crate::progress(format!(
        "W5-mem load: {} resources in {seconds:.1} s, database {:.0} MB",
        report::thousands(resources as f64),
        db_bytes as f64 / 1e6
    ));
    Ok(Store {
        dir,
        patient_id,
        resources,
        authorization,
        seconds,
        db_bytes,
        checks,
    })
}

/// What one walk measured.
#[derive(Clone, Debug)]
pub struct MemoryWalk {
    /// The `_count` asked for.
    pub count: usize,
    /// Pages walked.
    pub pages: u64,
    /// The most match entries on one page: the page size the server used.
    pub largest_page: u64,
    /// The server's memory: at start, before the walk (after one small first page), at the
    /// walk's peak and after it.
    pub rss: RssSpan,
    /// The largest `VmRSS` sampled up to the end of the first 10% of pages, kB.
    pub first_tenth_vm_rss_kb: u64,
    /// The largest `RssAnon` sampled up to the end of the first 10% of pages, kB.
    pub first_tenth_anon_kb: u64,
    /// RSS samples taken.
    pub samples: u64,
    /// RSS read after each page.
    pub by_page: Vec<Rss>,
    /// Milliseconds the `_count=10` first page before the walk took.
    pub warm_up_ms: f64,
    /// Milliseconds the walk's first page took.
    pub first_page_ms: f64,
    /// Seconds from the first request to the last answer.
    pub seconds: f64,
    /// Match entries received.
    pub matches: u64,
    /// The checks.
    pub checks: RunChecks,
}

impl MemoryWalk {
    /// `VmRSS` growth over the whole walk over its growth in the first 10% of pages, each
    /// floored at [`FLAT_FLOOR_MB`].
    pub fn vm_flat_ratio(&self) -> f64 {
        flat_ratio(
            self.rss.vm_growth_mb(),
            mb(self.first_tenth_vm_rss_kb) - mb(self.rss.before.vm_rss_kb),
        )
    }

    /// The same ratio for `RssAnon`.
    pub fn anon_flat_ratio(&self) -> f64 {
        flat_ratio(
            self.rss.anon_growth_mb(),
            mb(self.first_tenth_anon_kb) - mb(self.rss.before.rss_anon_kb),
        )
    }
}

fn flat_ratio(whole_mb: f64, first_tenth_mb: f64) -> f64 {
    whole_mb.max(FLAT_FLOOR_MB) / first_tenth_mb.max(FLAT_FLOOR_MB)
}

/// Starts `hale serve` over the store and walks the patient's `$everything` with `_count=count`,
/// sampling the server's RSS.
pub fn walk(
    binary: &Path,
    store: &Store,
    client: &tokio::runtime::Runtime,
    count: usize,
) -> anyhow::Result<MemoryWalk> {
    let mut server = ServeProcess::start(binary, store.dir.path(), &[])?;
    let mut checks = RunChecks::default();
    std::thread::sleep(memory::SETTLE);
    let target = client::Target {
        addr: server
            .addr()
            .parse()
            .with_context(|| format!("the address {:?}", server.addr()))?,
        authorization: store.authorization.clone(),
    };
    let started = server.rss()?;
    let mut connection = client.block_on(Connection::open(&target))?;
    // One small first page before the baseline, so that what any first request sets up once
    // (the token's check, a reader connection, prepared statements) is in it.
    let warm_started = Instant::now();
    let warm =
        client.block_on(connection.get(everything::first_page_uri(&store.patient_id, 10)?))?;
    let warm_up_ms = warm_started.elapsed().as_secs_f64() * 1e3;
    checks.check(
        "W5-mem: a first page of _count=10 before the walk answers 200",
        warm.status == StatusCode::OK,
        format!("{}", warm.status),
    );
    std::thread::sleep(Duration::from_millis(200));
    let before = server.rss()?;
    let mut page_ends: Vec<Instant> = Vec::new();
    let mut by_page: Vec<Rss> = Vec::new();
    let mut walk_started = Instant::now();
    let sampled = server.sample_during(started, before, |samples| {
        walk_started = Instant::now();
        let walked = client.block_on(everything::walk(
            &mut connection,
            &store.patient_id,
            count,
            Some(store.resources),
            |_| {
                let now = Instant::now();
                if let Ok(rss) = server.rss() {
                    lock(samples).push((now, rss));
                    by_page.push(rss);
                }
                page_ends.push(now);
            },
        ));
        (walked, walk_started.elapsed().as_secs_f64())
    })?;
    let ((walked, seconds), samples, rss) = (sampled.output, sampled.samples, sampled.span);
    let first_tenth_end = page_ends
        .get((page_ends.len().div_ceil(10)).max(1) - 1)
        .copied()
        .or(Some(Instant::now()));
    let max_of = |until: Option<Instant>, field: fn(&Rss) -> u64| {
        samples
            .iter()
            .filter(|(at, _)| until.is_none_or(|end| *at <= end))
            .map(|(_, rss)| field(rss))
            .max()
            .unwrap_or(0)
    };
    let measured = MemoryWalk {
        count,
        pages: walked.pages,
        largest_page: walked.largest_page_matches,
        rss,
        first_tenth_vm_rss_kb: max_of(first_tenth_end, |r| r.vm_rss_kb).max(before.vm_rss_kb),
        first_tenth_anon_kb: max_of(first_tenth_end, |r| r.rss_anon_kb).max(before.rss_anon_kb),
        samples: samples.len() as u64,
        by_page,
        warm_up_ms,
        first_page_ms: page_ends
            .first()
            .map_or(f64::NAN, |end| (*end - walk_started).as_secs_f64() * 1e3),
        seconds,
        matches: walked.matches,
        checks: RunChecks::default(),
    };
    everything::record_walk_checks(&walked, &format!("W5-mem _count={count}"), &mut checks);
    server.check_still_serving("W5-mem", "walk", &mut checks);
    Ok(MemoryWalk { checks, ..measured })
}

/// The walks of one page size over the runs, and the result they make.
#[derive(Default)]
pub struct WalkSeries {
    walks: Vec<MemoryWalk>,
    checks: Vec<RunChecks>,
}

impl WalkSeries {
    /// Adds one run's walk, or its failure.
    pub fn push(
        &mut self,
        count: usize,
        run_idx: usize,
        runs: usize,
        walk: anyhow::Result<MemoryWalk>,
    ) {
        match walk {
            Ok(walk) => {
                crate::progress(format!(
                    "W5-mem _count={count} run {}/{runs}: {} pages in {:.1} s; VmRSS at start {:.1}, {:.1} -> peak {:.1} -> {:.1} MB, RssAnon at start {:.1}, {:.1} -> peak {:.1} -> {:.1} MB; flat ratio VmRSS {:.2}, RssAnon {:.2}",
                    run_idx + 1,
                    walk.pages,
                    walk.seconds,
                    mb(walk.rss.started.vm_rss_kb),
                    mb(walk.rss.before.vm_rss_kb),
                    mb(walk.rss.peak_vm_rss_kb),
                    mb(walk.rss.after.vm_rss_kb),
                    mb(walk.rss.started.rss_anon_kb),
                    mb(walk.rss.before.rss_anon_kb),
                    mb(walk.rss.peak_anon_kb),
                    mb(walk.rss.after.rss_anon_kb),
                    walk.vm_flat_ratio(),
                    walk.anon_flat_ratio(),
                ));
                self.checks.push(walk.checks.clone());
                self.walks.push(walk);
            }
            Err(e) => self.checks.push(crate::failed_run(&e)),
        }
    }

    /// The result `W5-mem-{count}`: the median `VmRSS` growth, with every figure's median in
    /// the details; the store's checks count in every run.
    pub fn result(
        &self,
        count: usize,
        store: Option<&Store>,
        store_checks: &RunChecks,
    ) -> WorkloadResult {
        let of = |f: &dyn Fn(&MemoryWalk) -> f64| -> f64 {
            median(&self.walks.iter().map(f).collect::<Vec<_>>())
        };
        let mut details = Map::new();
        details.insert("page_size_asked".into(), json!(count));
        details.insert(
            "page_size_served".into(),
            json!(self.walks.iter().map(|w| w.largest_page).max()),
        );
        details.insert("pages".into(), json!(of(&|w| w.pages as f64)));
        details.insert("resources".into(), json!(store.map(|s| s.resources)));
        details.insert(
            "db_mb".into(),
            json!(store.map(|s| s.db_bytes as f64 / 1e6)),
        );
        details.insert("load_seconds".into(), json!(store.map(|s| s.seconds)));
        details.insert("walk_seconds_median".into(), json!(of(&|w| w.seconds)));
        details.insert(
            "resources_per_sec_median".into(),
            json!(of(&|w| w.matches as f64 / w.seconds.max(1e-9))),
        );
        for (key, value) in [
            ("vm_rss_started_mb", of(&|w| mb(w.rss.started.vm_rss_kb))),
            ("vm_rss_before_mb", of(&|w| mb(w.rss.before.vm_rss_kb))),
            ("vm_rss_peak_mb", of(&|w| mb(w.rss.peak_vm_rss_kb))),
            ("vm_rss_after_mb", of(&|w| mb(w.rss.after.vm_rss_kb))),
            ("vm_rss_growth_mb", of(&|w| w.rss.vm_growth_mb())),
            (
                "vm_rss_growth_first_tenth_mb",
                of(&|w| mb(w.first_tenth_vm_rss_kb) - mb(w.rss.before.vm_rss_kb)),
            ),
            ("vm_rss_flat_ratio", of(&|w| w.vm_flat_ratio())),
            (
                "rss_anon_started_mb",
                of(&|w| mb(w.rss.started.rss_anon_kb)),
            ),
            ("rss_anon_before_mb", of(&|w| mb(w.rss.before.rss_anon_kb))),
            ("rss_anon_peak_mb", of(&|w| mb(w.rss.peak_anon_kb))),
            ("rss_anon_after_mb", of(&|w| mb(w.rss.after.rss_anon_kb))),
            ("rss_anon_growth_mb", of(&|w| w.rss.anon_growth_mb())),
            (
                "rss_anon_growth_first_tenth_mb",
                of(&|w| mb(w.first_tenth_anon_kb) - mb(w.rss.before.rss_anon_kb)),
            ),
            ("rss_anon_flat_ratio", of(&|w| w.anon_flat_ratio())),
            ("rss_file_before_mb", of(&|w| mb(w.rss.before.rss_file_kb))),
            ("rss_file_after_mb", of(&|w| mb(w.rss.after.rss_file_kb))),
        ] {
            details.insert(format!("{key}_median"), json!(value));
        }
        details.insert(
            "peak_from_vm_hwm".into(),
            json!(self.walks.iter().all(|w| w.rss.peak_from_vm_hwm)),
        );
        details.insert(
            "warm_up_page_ms_median".into(),
            json!(of(&|w| w.warm_up_ms)),
        );
        details.insert(
            "first_page_ms_median".into(),
            json!(of(&|w| w.first_page_ms)),
        );
        // The last run's RSS after each page, so a reader can see the shape of the growth.
        let by_page = |field: fn(&Rss) -> u64| -> Vec<f64> {
            self.walks.last().map_or_else(Vec::new, |w| {
                w.by_page
                    .iter()
                    .map(|rss| (mb(field(rss)) * 10.0).round() / 10.0)
                    .collect()
            })
        };
        details.insert(
            "vm_rss_mb_by_page_last_run".into(),
            json!(by_page(|r| r.vm_rss_kb)),
        );
        details.insert(
            "rss_anon_mb_by_page_last_run".into(),
            json!(by_page(|r| r.rss_anon_kb)),
        );
        details.insert("samples_median".into(), json!(of(&|w| w.samples as f64)));
        details.insert(
            "sample_every_ms".into(),
            json!(SAMPLE_EVERY.as_secs_f64() * 1e3),
        );
        let mut checks = vec![store_checks.clone()];
        checks.extend(self.checks.iter().cloned());
        let mut result = crate::workload_result(
            &format!("W5-mem-{count}"),
            &format!(
                "`$everything` of one patient of {} resources, `_count={count}`: peak VmRSS over the walk minus before",
                store.map_or("?".into(), |s| report::thousands(s.resources as f64))
            ),
            "MB",
            self.walks.iter().map(|w| w.rss.vm_growth_mb()).collect(),
            &checks,
            details,
        );
        let anon_ratio = of(&|w| w.anon_flat_ratio());
        result.target = Some(Target {
            text: format!(
                "flat: RssAnon growth over the walk ≤ {FLAT_RATIO} × over its first 10% of pages (ratio {anon_ratio:.2})"
            ),
            met: result.correct && anon_ratio <= FLAT_RATIO,
        });
        result
    }
}
