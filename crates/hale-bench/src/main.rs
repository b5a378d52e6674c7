//! `hale-bench`: runs the benchmark workloads, prints the Markdown table on stdout, writes the same
//! figures as JSON under `--out`, and exits non-zero when a correctness check failed.
//!
//! Build and run in release: `cargo run --release -p hale-bench -- --data ../shared/testdata/synthea-120`.
//! M needs the `hale` binary of the same profile: `cargo build --release -p hale` first.
//!
//! On PostgreSQL: `--database postgres://postgres@127.0.0.1:5432/test` runs W1, W3, W4, W5, W6
//! and the HTTP ceiling with the server over PostgreSQL, each run on a database the harness
//! creates on that server and drops afterwards; `--backends sqlite,postgres` runs them on both
//! and adds a side-by-side table (PostgreSQL over SQLite) to the Markdown and the JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hale_bench::server::Backend;
use hale_bench::{Options, Workload};

/// The backends `--backends` can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BackendName {
    /// SQLite, in a temporary folder (or `--w4-db`).
    Sqlite,
    /// PostgreSQL, on the server `--database` names.
    Postgres,
}

/// Hale's benchmark harness (`benchmarks.md`): W1 transaction ingest, W2 import, W3 read by id,
/// W4 search mix, W5 `$everything`, W5-mem memory while `$everything` streams a large patient,
/// W6 system bulk export, W8 system search over a provider directory, M idle memory, and the
/// HTTP, storage and Bytes ceilings, as medians over several runs.
#[derive(Parser, Debug)]
#[command(name = "hale-bench", version, about)]
struct Cli {
    /// A Synthea folder (`*.json.bz2` Bundles, `0-hospitalInformation*` and
    /// `0-practitionerInformation*` first) for W1, W3 and W5; without it, hale-synth Bundles.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Patients hale-synth generates for W2, and for W1 without --data (about 120 resources each).
    #[arg(long, default_value_t = 500)]
    patients: u64,
    /// The seed of hale-synth.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The workloads to run, comma-separated (`w4`, `w5`, `w5mem`, `w6` and `w8` run only when
    /// named).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "w1,w2,w3,m,ceilings"
    )]
    workloads: Vec<Workload>,
    /// Repetitions of each workload; figures are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Measured seconds of each W3, W5 and HTTP-ceiling run, and of each of W4's two loops per shape
    /// (after a warm-up of a fifth of it, at most 1 s).
    #[arg(long, default_value_t = 5.0)]
    duration_secs: f64,
    /// Where the JSON goes: `<date>-<git short sha>.json` and `latest.json`.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// The `hale` binary M, W5-mem, W6 and W8 start; by default the one next to this executable.
    #[arg(long)]
    hale_bin: Option<PathBuf>,
    /// Resources W4 loads (at least; whole patient Bundles), from the Synthea folder of --data;
    /// W6 exports the same store.
    #[arg(long, default_value_t = hale_bench::workload::search::DEFAULT_RESOURCES)]
    w4_resources: u64,
    /// A database file for W4 and W6: built there and kept (with a `.w4.json` marker) if absent,
    /// reused as it is if present, so that later runs skip the minutes a million resources take.
    #[arg(long)]
    w4_db: Option<PathBuf>,
    /// A PostgreSQL server to run on, as the URL of a database there through which the harness
    /// creates (and drops) databases named `hale_bench_<random>`, one per W1 run and one for W4,
    /// e.g. `postgres://postgres@127.0.0.1:5432/test`. Alone, it runs the workloads that run on
    /// PostgreSQL (W1, W3, W4, W5, W6, the HTTP ceiling) there; with `--backends`, where named.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The stores to run on, comma-separated, one after the other: `sqlite` (the default without
    /// --database), `postgres` (the default with it; needs --database), or both, which adds a
    /// side-by-side table. W2, W5-mem, W8, M and the storage ceiling run on SQLite only.
    #[arg(long, value_enum, value_delimiter = ',')]
    backends: Vec<BackendName>,
    /// A PostgreSQL database for W4 and W6 on PostgreSQL, on the server of --database: built
    /// there and kept (with a marker table) if absent, reused as it is if present, as --w4-db
    /// does for SQLite.
    #[arg(long, value_name = "URL")]
    w4_pg_db: Option<String>,
    /// Resources in the compartment of W5-mem's one patient (the Patient and its Observations).
    #[arg(long, default_value_t = hale_bench::workload::everything_memory::DEFAULT_RESOURCES)]
    w5_mem_resources: u64,
    /// Systems in W8's provider directory, generated from --seed and loaded with
    /// `hale directory import`.
    #[arg(long, default_value_t = hale_bench::workload::directory::DEFAULT_SYSTEMS)]
    w8_systems: usize,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    anyhow::ensure!(
        cli.duration_secs > 0.0 && cli.duration_secs.is_finite(),
        "--duration-secs must be positive"
    );
    let backends = backends(&cli)?;
    let options = Options {
        data: cli.data,
        patients: cli.patients,
        seed: cli.seed,
        workloads: cli.workloads,
        runs: cli.runs,
        duration: Duration::from_secs_f64(cli.duration_secs),
        hale_bin: cli.hale_bin,
        w4_resources: cli.w4_resources,
        w4_db: cli.w4_db,
        w4_pg_db: cli.w4_pg_db,
        backends,
        w5_mem_resources: cli.w5_mem_resources,
        w8_systems: cli.w8_systems,
    };
    let report = hale_bench::run(&options)?;
    print!("{}", report.to_markdown());
    let path = report.write_json(&cli.out)?;
    eprintln!("hale-bench: wrote {} and latest.json", path.display());
    if report.all_correct {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("hale-bench: a correctness check failed; see the table");
        Ok(ExitCode::FAILURE)
    }
}

/// The backends `--backends` and `--database` name.
fn backends(cli: &Cli) -> anyhow::Result<Vec<Backend>> {
    if let Some(url) = &cli.database {
        anyhow::ensure!(
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "--database takes a PostgreSQL URL (postgres://user@host:port/database); SQLite is the default and needs none"
        );
    }
    let names = match (cli.backends.is_empty(), cli.database.is_some()) {
        (false, _) => cli.backends.clone(),
        (true, true) => vec![BackendName::Postgres],
        (true, false) => vec![BackendName::Sqlite],
    };
    let mut backends = Vec::new();
    for name in names {
        let backend = match name {
            BackendName::Sqlite => Backend::Sqlite,
            BackendName::Postgres => Backend::Postgres {
                admin_url: cli.database.clone().ok_or_else(|| {
                    anyhow::anyhow!(
                        "--backends postgres needs --database postgres://user@host:port/database"
                    )
                })?,
            },
        };
        if !backends.contains(&backend) {
            backends.push(backend);
        }
    }
    Ok(backends)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
