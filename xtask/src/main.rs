//! The `xtask` command line: `cargo run -p xtask -- gen-fhir [--package PATH] [--plan-net PATH]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use xtask::fhir_tables;

const USAGE: &str = "\
usage: cargo run -p xtask -- <task>

tasks:
  gen-fhir [--package PATH] [--plan-net PATH]
                              regenerate crates/hale-fhir/src/generated/ from the R4 core package
                              (default: $HALE_FHIR_R4_PACKAGE, else
                              ../shared/testdata/fhir/fhir/hl7.fhir.r4.core-4.0.1.tgz
                              relative to the workspace root) and the Plan-Net package
                              (default: $HALE_FHIR_PLAN_NET_PACKAGE, else
                              ../shared/testdata/fhir/fhir/hl7.fhir.us.davinci-pdex-plan-net-1.2.0.tgz)";

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
            let (mut package, mut plan_net) = (None, None);
            while let Some(arg) = args.next() {
                let slot = match arg.as_str() {
                    "--package" => &mut package,
                    "--plan-net" => &mut plan_net,
                    other => bail!("unknown argument `{other}` for gen-fhir\n\n{USAGE}"),
                };
                let path = args.next().with_context(|| format!("{arg} needs a PATH"))?;
                *slot = Some(PathBuf::from(path));
            }
            gen_fhir(package, plan_net)
        }
        Some("-h" | "--help") => {
            eprintln!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{USAGE}"),
        None => bail!("no task given\n\n{USAGE}"),
    }
}

fn gen_fhir(package: Option<PathBuf>, plan_net: Option<PathBuf>) -> anyhow::Result<()> {
    let workspace_root = fhir_tables::workspace_root();
    let package = package.unwrap_or_else(|| fhir_tables::package_path(&workspace_root));
    let tgz = std::fs::read(&package)
        .with_context(|| format!("reading the R4 core package {}", package.display()))?;
    let plan_net = plan_net.unwrap_or_else(|| fhir_tables::plan_net_package_path(&workspace_root));
    let plan_net_tgz = std::fs::read(&plan_net)
        .with_context(|| format!("reading the Plan-Net package {}", plan_net.display()))?;
    let files = fhir_tables::generate(&tgz, &plan_net_tgz)?;
    let generated_dir = workspace_root.join(fhir_tables::GENERATED_DIR);
    let n_written = fhir_tables::write_generated(&generated_dir, &files)?;
    eprintln!(
        "gen-fhir: {} files in {} ({n_written} changed)",
        files.len(),
        generated_dir.display()
    );
    Ok(())
}
