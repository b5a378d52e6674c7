//! W2, import: NDJSON into a fresh store through `hale::load::load_ndjson`, the code
//! `hale import` runs: up to [`PARALLEL_FILES`] files at once, each read line by line and parsed
//! on a blocking thread into chunks of [`CHUNK`] resources that a bounded channel hands to
//! `Engine::import`, so parsing the next chunk overlaps with committing the last. Parsing is timed; reading the files from
//! disk and decompressing them are not, because the files are already in memory.
//!
//! Checks: no resource is rejected, and the store then holds exactly the resources of the data,
//! type by type.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context as _;
use futures::StreamExt;
use hale::load::Tally;
use hale_engine::{Context, Engine};
use hale_fhir::FhirVersion;
use hale_store::{ResourceStore, Scope};
use hale_store_sqlite::{SqliteConfig, SqliteStore};

use crate::data::{ImportData, NdjsonFile};
use crate::report::RunChecks;

/// Resources per write transaction (`hale import --chunk`'s default).
pub const CHUNK: usize = 1000;

/// Files loaded at once (`hale import --parallel`'s default).
pub const PARALLEL_FILES: usize = 4;

/// What one W2 run measured.
pub struct ImportRun {
    /// Resources imported per second.
    pub rate: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Resources imported.
    pub imported: u64,
    /// The checks.
    pub checks: RunChecks,
    /// The folder holding the loaded database, for the storage ceiling.
    pub dir: tempfile::TempDir,
}

#[derive(Default)]
struct FileOutcome {
    imported: u64,
    rejected: u64,
    samples: Vec<String>,
}

/// Imports `data` into a fresh store.
pub fn run(data: &ImportData) -> anyhow::Result<ImportRun> {
    let dir = tempfile::Builder::new()
        .prefix("hale-bench-import-")
        .tempdir()?;
    let store = Arc::new(
        SqliteStore::open(SqliteConfig::new(dir.path().join("hale.db")))
            .context("opening the SQLite store")?,
    );
    let dyn_store: Arc<dyn ResourceStore> = store.clone();
    let engine = Engine::new(dyn_store);
    let ctx = Context::open(FhirVersion::R4);
    // The runtime `hale import` builds: multi-threaded, one worker per CPU.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let files = data.files.clone();

    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<FileOutcome>> = runtime.block_on(
        futures::stream::iter(
            files
                .into_iter()
                .map(|file| load_ndjson(engine.clone(), ctx.clone(), file)),
        )
        .buffer_unordered(PARALLEL_FILES)
        .collect(),
    );
    let seconds = started.elapsed().as_secs_f64();

    let mut checks = RunChecks::default();
    let mut total = FileOutcome::default();
    for outcome in outcomes {
        let outcome = outcome?;
        total.imported += outcome.imported;
        total.rejected += outcome.rejected;
        total.samples.extend(outcome.samples);
    }
    let rejected_detail = if total.samples.is_empty() {
        format!("{}", total.rejected)
    } else {
        format!("{}; {}", total.rejected, total.samples.join("; "))
    };
    checks.check("no resource rejected", total.rejected == 0, rejected_detail);
    checks.equal(
        "resources imported = resources of the data",
        total.imported,
        data.resources(),
    );
    let by_type: BTreeMap<String, u64> = runtime
        .block_on(store.count_by_type(&Scope::All, FhirVersion::R4))
        .map_err(|e| anyhow::anyhow!("counting resources: {e}"))?
        .into_iter()
        .collect();
    checks.equal(
        "resources in the store = resources of the data",
        by_type.values().sum(),
        data.resources(),
    );
    let mismatched: Vec<String> = data
        .by_type
        .iter()
        .filter(|(t, n)| by_type.get(*t) != Some(n))
        .map(|(t, n)| {
            format!(
                "{t} {} (expected {n})",
                by_type.get(t).copied().unwrap_or(0)
            )
        })
        .collect();
    checks.check(
        "resources per type",
        mismatched.is_empty(),
        if mismatched.is_empty() {
            format!("{} types", by_type.len())
        } else {
            mismatched.join(", ")
        },
    );
    store.shutdown();
    Ok(ImportRun {
        rate: total.imported as f64 / seconds.max(1e-9),
        seconds,
        imported: total.imported,
        checks,
        dir,
    })
}

async fn load_ndjson(
    engine: Engine,
    ctx: Context,
    file: NdjsonFile,
) -> anyhow::Result<FileOutcome> {
    let tally = Tally::default();
    let bytes = file.bytes;
    let open = move || -> anyhow::Result<Box<dyn std::io::BufRead + Send>> {
        Ok(Box::new(std::io::Cursor::new(bytes)))
    };
    let rejections =
        hale::load::load_ndjson(&engine, &ctx, &file.name, open, CHUNK, false, &tally).await?;
    Ok(FileOutcome {
        imported: tally.resources.load(Ordering::Relaxed),
        rejected: tally.rejected.load(Ordering::Relaxed),
        samples: rejections
            .into_iter()
            .take(3)
            .map(|r| format!("{}: {}", r.location, r.reason))
            .collect(),
    })
}
