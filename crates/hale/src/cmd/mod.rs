//! The subcommands, one module each.

pub mod apps;
pub mod directory;
pub mod import;
pub mod migrate;
pub mod reindex;
pub mod serve;
pub mod synth;

use clap::{Parser, Subcommand};

/// Hale: a FHIR R4 server with the 1upHealth developer API.
#[derive(Parser, Debug)]
#[command(name = "hale", version, about)]
pub struct Cli {
    /// Log at debug level.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Load NDJSON and Bundle files (plain, .gz or .bz2; folders recursively) into the store.
    Import(import::ImportArgs),
    /// Write deterministic synthetic patient records.
    Synth(synth::SynthArgs),
    /// Rebuild the search index with this build's extraction rules.
    Reindex(reindex::ReindexArgs),
    /// Register developer apps (OAuth clients) and manage their credentials.
    Apps(apps::AppsArgs),
    /// Load the provider directory: health systems and payers apps connect patients to.
    Directory(directory::DirectoryArgs),
    /// Bring the database (SQLite, or PostgreSQL with `--database postgres://…`) to this
    /// build's schema.
    Migrate(migrate::MigrateArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Import(args) => import::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Reindex(args) => reindex::run(args),
        Command::Apps(args) => apps::run(args),
        Command::Directory(args) => directory::run(args),
        Command::Migrate(args) => migrate::run(args),
    }
}

/// A multi-threaded Tokio runtime for the subcommands that need one.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
