//! `hale import PATH…`: loads NDJSON files and Bundles (plain, `.gz` or `.bz2`; folders
//! recursively) straight into the store, keeping resource ids so that a second load of the same
//! data creates no duplicates.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use futures::StreamExt;
use hale_engine::bundle::{EntryOutcome, IdPolicy};
use hale_engine::{Context, Engine};
use hale_fhir::FhirVersion;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use hale::load::{Rejection, Tally, import_chunk, load_ndjson};

use crate::settings::StoreArgs;

/// Settings of `hale import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Files or folders to load. Folders are walked recursively; files load in path order, so
    /// name shared data (practitioners, organizations) to sort first.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Stop at the first rejected resource or file.
    #[arg(long, default_value_t = false)]
    strict: bool,
    /// Files loaded at the same time.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Resources per write transaction for NDJSON.
    #[arg(long, default_value_t = 1000)]
    chunk: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long, default_value_t = false)]
    json: bool,
}

/// Runs the import and prints a summary.
pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let files = collect_files(&args.paths)?;
    let runtime = super::runtime()?;
    let stores = runtime.block_on(args.store.stores())?;
    let engine = Engine::new(stores.resources.clone());
    let ctx = Context::open(FhirVersion::R4);
    let started = Instant::now();
    let tally = Arc::new(Tally::default());
    let progress = ProgressBar::new(files.len() as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let rejections: Vec<Rejection> = runtime.block_on(async {
        let mut all = Vec::new();
        // Files that hold shared data sort first; the others load concurrently after them, so
        // conditional references to shared resources resolve.
        let (first, rest): (Vec<_>, Vec<_>) = files.iter().partition(|p| is_shared_file(p));
        for group in [first, rest] {
            let mut results = futures::stream::iter(group.into_iter().map(|path| {
                let (engine, ctx, tally, progress) =
                    (engine.clone(), ctx.clone(), tally.clone(), progress.clone());
                let (chunk, strict) = (args.chunk, args.strict);
                async move {
                    let result = load_file(&engine, &ctx, path, chunk, strict, &tally).await;
                    progress.inc(1);
                    let n = tally.resources.load(Ordering::Relaxed);
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    progress
                        .set_message(format!("{n} resources, {:.0} resources/s", n as f64 / secs));
                    result
                }
            }))
            .buffer_unordered(args.parallel.max(1));
            while let Some(result) = results.next().await {
                all.extend(result);
                if args.strict && !all.is_empty() {
                    break;
                }
            }
            if args.strict && !all.is_empty() {
                break;
            }
        }
        all
    });
    progress.finish_and_clear();

    let totals = runtime.block_on(
        engine
            .store()
            .count_by_type(&hale_store::Scope::All, FhirVersion::R4),
    )?;
    stores.shutdown();
    let elapsed = started.elapsed().as_secs_f64();
    let n_resources = tally.resources.load(Ordering::Relaxed);
    let n_rejected = tally.rejected.load(Ordering::Relaxed);
    let rate = n_resources as f64 / elapsed.max(0.001);
    if args.json {
        let summary = json!({
            "files": files.len(),
            "resources": n_resources,
            "rejected": n_rejected,
            "seconds": elapsed,
            "resources_per_second": rate,
            "totals": totals.iter().map(|(t, n)| (t.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "errors": rejections.iter().take(100).map(|r| json!({"location": r.location, "reason": r.reason})).collect::<Vec<_>>(),
        });
        println!("{summary}");
    } else {
        for rejection in rejections.iter().take(100) {
            eprintln!("rejected {}: {}", rejection.location, rejection.reason);
        }
        eprintln!(
            "Imported {n_resources} resources from {} files in {elapsed:.1} s ({rate:.0} resources/s); {n_rejected} rejected.",
            files.len()
        );
        let by_type: BTreeMap<_, _> = totals.into_iter().collect();
        eprintln!(
            "The store now holds: {}",
            by_type
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if args.strict && !rejections.is_empty() {
        bail!("stopped at the first rejection (--strict)");
    }
    Ok(())
}

fn is_shared_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with("hospitalInformation")
        || name.starts_with("practitionerInformation")
        || name.starts_with("0-")
        || name.starts_with("shared")
}

fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                let entry = entry?;
                if entry.file_type().is_file() && is_data_file(entry.path()) {
                    files.push(entry.into_path());
                }
            }
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("{} does not exist", path.display());
        }
    }
    files.sort();
    Ok(files)
}

fn is_data_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let base = name.trim_end_matches(".gz").trim_end_matches(".bz2");
    base.ends_with(".json") || base.ends_with(".ndjson")
}

fn open(path: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let name = path.to_string_lossy().to_ascii_lowercase();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else if name.ends_with(".bz2") {
        Box::new(bzip2::read::MultiBzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

/// Loads one NDJSON or JSON file (a Bundle or a resource), reporting what was refused.
pub(crate) async fn load_file(
    engine: &Engine,
    ctx: &Context,
    path: &Path,
    chunk: usize,
    strict: bool,
    tally: &Tally,
) -> Vec<Rejection> {
    let display = path.display().to_string();
    let name = display.to_ascii_lowercase();
    let is_ndjson = name
        .trim_end_matches(".gz")
        .trim_end_matches(".bz2")
        .ends_with(".ndjson");
    let result = if is_ndjson {
        let path_buf = path.to_owned();
        let open_file = move || -> anyhow::Result<Box<dyn BufRead + Send>> {
            Ok(Box::new(BufReader::with_capacity(
                1 << 20,
                open(&path_buf)?,
            )))
        };
        load_ndjson(engine, ctx, &display, open_file, chunk, strict, tally).await
    } else {
        load_json(engine, ctx, path, tally).await
    };
    match result {
        Ok(rejections) => rejections,
        Err(e) => {
            tally.rejected.fetch_add(1, Ordering::Relaxed);
            vec![Rejection {
                location: display,
                reason: format!("{e:#}"),
            }]
        }
    }
}

async fn load_json(
    engine: &Engine,
    ctx: &Context,
    path: &Path,
    tally: &Tally,
) -> anyhow::Result<Vec<Rejection>> {
    let path_buf = path.to_owned();
    let value: Value = tokio::task::spawn_blocking(move || -> anyhow::Result<Value> {
        let reader = open(&path_buf)?;
        serde_json::from_reader(reader)
            .with_context(|| format!("{} is not valid JSON", path_buf.display()))
    })
    .await??;
    let display = path.display().to_string();
    let is_bundle = value.get("resourceType").and_then(Value::as_str) == Some("Bundle");
    let bundle_type = value.get("type").and_then(Value::as_str).unwrap_or("");
    if is_bundle && matches!(bundle_type, "batch" | "transaction") {
        let response = hale_engine::bundle::process_with(engine, ctx, value, IdPolicy::Keep)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut rejections = Vec::new();
        for (entry_idx, outcome) in response.entries.iter().enumerate() {
            match outcome {
                EntryOutcome::Error(e) => {
                    tally.rejected.fetch_add(1, Ordering::Relaxed);
                    rejections.push(Rejection {
                        location: format!("{display} entry {entry_idx}"),
                        reason: e.to_string(),
                    });
                }
                _ => {
                    tally.resources.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        return Ok(rejections);
    }
    // A collection or searchset Bundle, or a single resource, is loaded as its resources.
    let resources = if is_bundle {
        value
            .get("entry")
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e.get("resource").cloned())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![value]
    };
    import_chunk(engine, ctx, &display, 0, resources, tally).await
}
