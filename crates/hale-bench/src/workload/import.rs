//! W2, import: NDJSON into a fresh store through [`Engine::import`], the way `hale import` loads
//! NDJSON files. Its loop is mirrored here (that command lives in the binary crate): up to
//! [`PARALLEL_FILES`] files at once, each read line by line and parsed on a blocking thread into
//! chunks of [`CHUNK`] resources that a bounded channel hands to `Engine::import`, so parsing
//! the next chunk overlaps with committing the last. Parsing is timed; reading the files from
//! disk and decompressing them are not, because the files are already in memory.
//!
//! Checks: no resource is rejected, and the store then holds exactly the resources of the data,
//! type by type.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use futures::StreamExt;
use hale_engine::{Context, Engine};
use hale_fhir::FhirVersion;
use hale_store::{ResourceStore, Scope};
use hale_store_sqlite::{SqliteConfig, SqliteStore};
use serde_json::Value;

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
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<(Vec<Value>, u64)>(4);
    let name = file.name.clone();
    let reader_task = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let reader = std::io::Cursor::new(file.bytes);
        let mut resources = Vec::with_capacity(CHUNK);
        let mut unparsed = 0u64;
        for line in reader.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(value) => resources.push(value),
                Err(_) => unparsed += 1,
            }
            if resources.len() >= CHUNK {
                let full = std::mem::replace(&mut resources, Vec::with_capacity(CHUNK));
                if sender
                    .blocking_send((full, std::mem::take(&mut unparsed)))
                    .is_err()
                {
                    return Ok(());
                }
            }
        }
        let _ = sender.blocking_send((resources, unparsed));
        Ok(())
    });
    let mut outcome = FileOutcome::default();
    while let Some((resources, unparsed)) = receiver.recv().await {
        outcome.rejected += unparsed;
        if resources.is_empty() {
            continue;
        }
        let results = engine
            .import(&ctx, resources)
            .await
            .map_err(|e| anyhow::anyhow!("importing {name}: {e}"))?;
        for result in results {
            match result {
                Ok(_) => outcome.imported += 1,
                Err(e) => {
                    outcome.rejected += 1;
                    if outcome.samples.len() < 3 {
                        outcome.samples.push(format!("{name}: {e}"));
                    }
                }
            }
        }
    }
    reader_task.await??;
    Ok(outcome)
}
