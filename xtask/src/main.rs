//! The `xtask` command line: `cargo run -p xtask -- gen-fhir [--package PATH]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use xtask::fhir_tables;

const USAGE: &str = "\
usage: cargo run -p xtask -- <task>

tasks:
  gen-fhir [--package PATH]   regenerate crates/hale-fhir/src/generated/ from the R4 core package
                              (default: $HALE_FHIR_R4_PACKAGE, else
                              ../shared/testdata/fhir/fhir/hl7.fhir.r4.core-4.0.1.tgz
                              relative to the workspace root)";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("gen-fhir") => {
            let mut package = None;
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--package" => {
                        let path = args.next().context("--package needs a PATH")?;
                        package = Some(PathBuf::from(path));
                    }
                    other => bail!("unknown argument `{other}` for gen-fhir\n\n{USAGE}"),
                }
            }
            gen_fhir(package)
        }
        Some("-h" | "--help") => {
            eprintln!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{USAGE}"),
        None => bail!("no task given\n\n{USAGE}"),
    }
}

fn gen_fhir(package: Option<PathBuf>) -> anyhow::Result<()> {
    let workspace_root = fhir_tables::workspace_root();
    let package = package.unwrap_or_else(|| fhir_tables::package_path(&workspace_root));
    let tgz = std::fs::read(&package)
        .with_context(|| format!("reading the R4 core package {}", package.display()))?;
    let files = fhir_tables::generate(&tgz)?;
    let generated_dir = workspace_root.join(fhir_tables::GENERATED_DIR);
    let n_written = fhir_tables::write_generated(&generated_dir, &files)?;
    eprintln!(
        "gen-fhir: {} files in {} ({n_written} changed)",
        files.len(),
        generated_dir.display()
    );
    Ok(())
}
