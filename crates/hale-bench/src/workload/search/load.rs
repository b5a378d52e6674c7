//! Building W4's database: the Synthea folder's shared batch Bundles once, then its patient
//! transaction Bundles over and over, in file order, until the store holds the target number of
//! resources. Every POST of a transaction Bundle creates fresh ids, so each round adds a new copy
//! of every patient's record, linked within itself and to the shared Organizations and
//! Practitioners as the first round is.
//!
//! Loading is setup, not timed. It goes through [`hale_engine::Engine::bundle`] in process, the
//! call the server's transaction route makes, [`LOAD_TASKS`] Bundles at a time on the server's
//! runtime: skipping HTTP and the response Bundles leaves both CPUs to the engine and the store.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use hale_engine::bundle::EntryOutcome;
use hale_engine::{Context, WriteStatus};
use hale_fhir::FhirVersion;

use crate::data::{IngestData, PostBundle};
use crate::report::{RunChecks, thousands};
use crate::server::BenchServer;

/// Patient Bundles in flight at once: enough for the store's writer to commit several together.
pub const LOAD_TASKS: usize = 4;

/// Resources loaded between two checkpoints of the WAL (see [`load`]).
pub const STAGE_RESOURCES: u64 = 50_000;

/// What the load did.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Resources created.
    pub created: u64,
    /// Shared resources that already existed (none in a fresh store).
    pub existing: u64,
    /// Patient Bundles POSTed.
    pub patient_bundles: u64,
    /// Patient Bundles POSTed over the folder's patient Bundles: how many copies of the data.
    pub rounds: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// WAL checkpoints run between stages of the load.
    pub checkpoints: u64,
    /// The checks.
    pub checks: RunChecks,
}

/// How many of the patient Bundles, taken in order round after round, bring the shared
/// resources up to at least `target` entries. At least one, so every shape has data.
pub fn patient_bundles_for(data: &IngestData, target: u64) -> u64 {
    let shared: u64 = data.shared.iter().map(|b| b.entries).sum();
    let sizes: Vec<u64> = data.patients.iter().map(|b| b.entries.max(1)).collect();
    if sizes.is_empty() {
        return 0;
    }
    let mut planned = shared;
    let mut n = 0u64;
    while planned < target || n == 0 {
        planned += sizes[(n as usize) % sizes.len()];
        n += 1;
    }
    n
}

/// The patient Bundles `0..n_bundles`, cut into stages of about [`STAGE_RESOURCES`] entries.
fn stages(data: &IngestData, n_bundles: u64) -> Vec<std::ops::Range<usize>> {
    let mut stages = Vec::new();
    let (mut start, mut entries) = (0usize, 0u64);
    for idx in 0..n_bundles as usize {
        entries += data.patients[idx % data.patients.len()].entries;
        if entries >= STAGE_RESOURCES {
            stages.push(start..idx + 1);
            (start, entries) = (idx + 1, 0);
        }
    }
    if start < n_bundles as usize {
        stages.push(start..n_bundles as usize);
    }
    stages
}

/// Copies the whole WAL into the database file and truncates it; returns whether it could.
fn checkpoint(db: &std::path::Path) -> anyhow::Result<bool> {
    let conn = rusqlite::Connection::open(db)?;
    // The store's writer may hold the write lock for a moment after its last commit.
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    // The store's own checkpointer runs a passive checkpoint every 200 ms, and a checkpoint
    // that finds another one running gives up at once rather than wait: trying again a little
    // later finds it done.
    for _ in 0..200 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy == 0 {
            return Ok(true);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(false)
}

#[derive(Default)]
struct Tally {
    created: u64,
    existing: u64,
    failed_bundles: u64,
    failed_entries: u64,
    samples: Vec<String>,
}

impl Tally {
    fn sample(&mut self, text: String) {
        if self.samples.len() < 3 {
            self.samples.push(text);
        }
    }
}

/// Loads `data` into the empty store of `server` up to `target` resources.
pub fn load(server: &BenchServer, data: &IngestData, target: u64) -> anyhow::Result<Loaded> {
    anyhow::ensure!(
        !data.patients.is_empty(),
        "the data has no patient Bundles to load"
    );
    let n_bundles = patient_bundles_for(data, target);
    let engine = server.engine().clone();
    let shared = data.shared.clone();
    let patients = Arc::new(data.patients.clone());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let progress_step = (target / 10).max(1);
    let ctx = Context::open(FhirVersion::R4);
    server.block_on(async {
        for bundle in &shared {
            post(&engine, &ctx, bundle, true, &tally).await;
        }
    });
    let created_so_far = Arc::new(AtomicU64::new(lock(&tally).created));
    let mut checkpoints = 0u64;
    for stage in stages(data, n_bundles) {
        let next = Arc::new(AtomicUsize::new(stage.start));
        let end = stage.end;
        server.block_on(async {
            let tasks: Vec<_> = (0..LOAD_TASKS)
                .map(|_| {
                    let (engine, ctx, patients, tally, next, created_so_far) = (
                        engine.clone(),
                        ctx.clone(),
                        patients.clone(),
                        tally.clone(),
                        next.clone(),
                        created_so_far.clone(),
                    );
                    tokio::spawn(async move {
                        loop {
                            let idx = next.fetch_add(1, Ordering::Relaxed);
                            if idx >= end {
                                break;
                            }
                            let bundle = &patients[idx % patients.len()];
                            let created = post(&engine, &ctx, bundle, false, &tally).await;
                            let before = created_so_far.fetch_add(created, Ordering::Relaxed);
                            let after = before + created;
                            if before / progress_step != after / progress_step {
                                let seconds = started.elapsed().as_secs_f64();
                                eprintln!(
                                    "hale-bench: W4 load: {} resources in {seconds:.0} s ({} resources/s)",
                                    thousands(after as f64),
                                    thousands(after as f64 / seconds.max(1e-9)),
                                );
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await?;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        // The SQLite store checkpoints only passively, and under a writer that never pauses a
        // passive checkpoint never catches up, so the WAL is never restarted: at a million
        // resources it would grow past 30 GB. Between stages nothing writes, and a truncating
        // checkpoint from here empties it. PostgreSQL recycles its own WAL.
        if let Some(db) = server.sqlite_path() {
            if checkpoint(&db)? {
                checkpoints += 1;
            } else {
                eprintln!("hale-bench: W4 load: a WAL checkpoint could not finish; loading on");
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    let tally = std::mem::take(&mut *lock(&tally));
    let mut checks = RunChecks::default();
    let samples = if tally.samples.is_empty() {
        String::new()
    } else {
        format!("; {}", tally.samples.join("; "))
    };
    checks.check(
        "W4 load: every Bundle accepted",
        tally.failed_bundles == 0,
        format!("{} failed{samples}", tally.failed_bundles),
    );
    checks.check(
        "W4 load: every entry created (or, for shared resources, found)",
        tally.failed_entries == 0,
        format!("{} failed{samples}", tally.failed_entries),
    );
    let by_type = server.count_by_type()?;
    let stored: u64 = by_type.iter().map(|(_, n)| n).sum();
    checks.equal(
        "W4 load: resources in the store = created entries",
        stored,
        tally.created,
    );
    checks.check(
        "W4 load: the store reached the target size",
        stored >= target,
        format!("{stored} of {target}"),
    );
    Ok(Loaded {
        created: tally.created,
        existing: tally.existing,
        patient_bundles: n_bundles,
        rounds: n_bundles as f64 / data.patients.len() as f64,
        seconds,
        checkpoints,
        checks,
    })
}

/// Locks the tally, whose updates cannot leave it half-written, so a poisoned lock is still
/// good to read.
fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// POSTs one Bundle through the engine and tallies its entries; returns the resources created.
async fn post(
    engine: &hale_engine::Engine,
    ctx: &Context,
    bundle: &PostBundle,
    shared: bool,
    tally: &Mutex<Tally>,
) -> u64 {
    let body = match serde_json::from_slice(&bundle.body) {
        Ok(body) => body,
        Err(e) => {
            let mut tally = lock(tally);
            tally.failed_bundles += 1;
            tally.sample(format!("{}: not JSON: {e}", bundle.name));
            return 0;
        }
    };
    let response = match engine.bundle(ctx, body).await {
        Ok(response) => response,
        Err(e) => {
            let mut tally = lock(tally);
            tally.failed_bundles += 1;
            tally.sample(format!("{}: {e}", bundle.name));
            return 0;
        }
    };
    let mut tally = lock(tally);
    let mut created = 0;
    for outcome in &response.entries {
        match outcome {
            EntryOutcome::Write(write) if write.status == WriteStatus::Created => created += 1,
            EntryOutcome::Write(write) if shared && write.status == WriteStatus::Existing => {
                tally.existing += 1;
            }
            EntryOutcome::Error(e) => {
                tally.failed_entries += 1;
                tally.sample(format!("{}: an entry failed: {e}", bundle.name));
            }
            other => {
                tally.failed_entries += 1;
                let kind = match other {
                    EntryOutcome::Write(w) => format!("{:?}", w.status),
                    EntryOutcome::NoMatch => "no match".into(),
                    EntryOutcome::Read(_) => "a read".into(),
                    EntryOutcome::Error(_) => "an error".into(),
                };
                tally.sample(format!("{}: an entry answered {kind}", bundle.name));
            }
        }
    }
    tally.created += created;
    created
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bundle(entries: u64) -> PostBundle {
        PostBundle {
            name: format!("{entries}"),
            body: Bytes::new(),
            entries,
        }
    }

    #[test]
    fn bundles_are_taken_round_after_round_up_to_the_target() {
        let data = IngestData {
            label: "test".into(),
            shared: vec![bundle(10)],
            patients: vec![bundle(100), bundle(50)],
        };
        assert_eq!(patient_bundles_for(&data, 0), 1);
        assert_eq!(patient_bundles_for(&data, 110), 1);
        assert_eq!(patient_bundles_for(&data, 111), 2);
        assert_eq!(patient_bundles_for(&data, 1000), 13);
    }

    #[test]
    fn stages_cut_the_bundles_by_entries() {
        let data = IngestData {
            label: "test".into(),
            shared: Vec::new(),
            patients: vec![bundle(STAGE_RESOURCES / 2 + 1), bundle(1)],
        };
        assert_eq!(stages(&data, 5), vec![0..3, 3..5]);
        assert_eq!(stages(&data, 1), vec![0..1]);
        assert!(stages(&data, 0).is_empty());
    }
}
