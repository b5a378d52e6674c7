//! `hale directory import FILE…`: loads the provider directory.
//!
//! A `.csv` file, or a `.json` file holding an array of systems, is a list of systems
//! ([`hale_directory::list`]) that becomes Organizations, Endpoints and Locations; any other
//! file (a FHIR Bundle, NDJSON, plain or compressed) is loaded as FHIR resources, as
//! `hale import` loads it. Everything is operator data, which every app may read.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use hale_engine::{Context, Engine};
use hale_fhir::FhirVersion;
use serde_json::json;

use hale::directory::{ListImport, import_list};
use hale::load::{Rejection, Tally};

use crate::settings::StoreArgs;

/// `hale directory`.
#[derive(Args, Debug)]
pub struct DirectoryArgs {
    #[command(subcommand)]
    command: DirectoryCommand,
}

#[derive(Subcommand, Debug)]
enum DirectoryCommand {
    /// Load systems from lists (CSV, JSON) or FHIR files (Bundle, NDJSON) into the directory.
    Import(ImportArgs),
}

/// Settings of `hale directory import`.
#[derive(Args, Debug)]
struct ImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The files to load, in order.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Resources per write transaction.
    #[arg(long, default_value_t = 1000)]
    chunk: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long, default_value_t = false)]
    json: bool,
}

/// Runs `hale directory`.
pub fn run(args: DirectoryArgs) -> anyhow::Result<()> {
    match args.command {
        DirectoryCommand::Import(args) => import(args),
    }
}

/// Whether `path` is a list of systems rather than FHIR: CSV, or JSON whose top level is an
/// array.
fn list_kind(path: &Path, text: Option<&str>) -> Option<ListKind> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".csv") {
        return Some(ListKind::Csv);
    }
    let text = text?;
    (name.ends_with(".json") && text.trim_start().starts_with('[')).then_some(ListKind::Json)
}

#[derive(Clone, Copy, Debug)]
enum ListKind {
    Csv,
    Json,
}

fn import(args: ImportArgs) -> anyhow::Result<()> {
    for path in &args.paths {
        if !path.is_file() {
            bail!("{} is not a file", path.display());
        }
    }
    let runtime = super::runtime()?;
    let stores = runtime.block_on(args.store.stores())?;
    let engine = Engine::new(stores.resources.clone());
    let started = std::time::Instant::now();
    let result = runtime.block_on(async {
        let mut total = ListImport::default();
        let tally = Arc::new(Tally::default());
        let ctx = Context::open(FhirVersion::R4);
        for path in &args.paths {
            let display = path.display().to_string();
            let plain = display.to_ascii_lowercase();
            let text = if plain.ends_with(".csv") || plain.ends_with(".json") {
                Some(std::fs::read_to_string(path).with_context(|| format!("reading {display}"))?)
            } else {
                None
            };
            match list_kind(path, text.as_deref()) {
                Some(kind) => {
                    let text = text.unwrap_or_default();
                    let listed = match kind {
                        ListKind::Csv => hale_directory::list::parse_csv(&text),
                        ListKind::Json => hale_directory::list::parse_json(&text),
                    }
                    .with_context(|| format!("reading {display}"))?;
                    let done = import_list(&engine, &display, listed, args.chunk)
                        .await
                        .with_context(|| format!("importing {display}"))?;
                    total.created += done.created;
                    total.updated += done.updated;
                    total.resources += done.resources;
                    total.removed_locations += done.removed_locations;
                    total.rejections.extend(done.rejections);
                }
                None => {
                    let rejections: Vec<Rejection> =
                        super::import::load_file(&engine, &ctx, path, args.chunk, false, &tally)
                            .await;
                    total.rejections.extend(rejections);
                }
            }
        }
        total.resources += tally.resources.load(Ordering::Relaxed);
        anyhow::Ok(total)
    });
    stores.shutdown();
    let total = result?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            json!({
                "systems_created": total.created,
                "systems_updated": total.updated,
                "resources": total.resources,
                "locations_removed": total.removed_locations,
                "rejected": total.rejections.len(),
                "seconds": seconds,
                "errors": total.rejections.iter().take(100)
                    .map(|r| json!({"location": r.location, "reason": r.reason}))
                    .collect::<Vec<_>>(),
            })
        );
    } else {
        for rejection in total.rejections.iter().take(100) {
            eprintln!("rejected {}: {}", rejection.location, rejection.reason);
        }
        eprintln!(
            "Directory: {} systems added, {} updated, {} locations removed; {} resources written in {seconds:.1} s; {} rejected.",
            total.created,
            total.updated,
            total.removed_locations,
            total.resources,
            total.rejections.len()
        );
    }
    if !total.rejections.is_empty() {
        bail!("{} resources were rejected", total.rejections.len());
    }
    Ok(())
}
