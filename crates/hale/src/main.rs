//! The Hale binary: one subcommand per role.
//!
//! `hale serve` runs the FHIR server (SQLite in `./hale-data` by default), `hale import` loads
//! NDJSON and Bundle files, `hale synth` writes deterministic synthetic records, and `hale bench`
//! runs the benchmark harness.

mod cmd;
mod settings;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cmd::Cli::parse();
    settings::init_logging(cli.verbose);
    cmd::run(cli)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::cmd::Cli::command().debug_assert();
    }
}
