//! `hale migrate`: brings a database to this build's schema and exits.
//!
//! Every command migrates the database it opens, so this is for deployments that migrate once,
//! before starting many `hale serve` processes on a shared PostgreSQL database (they would also
//! agree among themselves: migrations run under an advisory lock).

use clap::Args;
use hale_store_postgres::{PgConfig, PgStore};

use crate::settings::StoreArgs;

/// Settings of `hale migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    store: StoreArgs,
}

/// Migrates the configured database.
pub fn run(args: MigrateArgs) -> anyhow::Result<()> {
    match args.store.postgres_url() {
        Some(url) => {
            let runtime = super::runtime()?;
            runtime.block_on(async {
                PgStore::connect(PgConfig::new(url))
                    .await
                    .map_err(|e| anyhow::anyhow!("migrating the PostgreSQL database: {e}"))
            })?;
            eprintln!("The PostgreSQL database has this build's schema.");
        }
        None => {
            let store = args.store.open()?;
            store.shutdown();
            eprintln!(
                "The SQLite database {} has this build's schema.",
                store.path().display()
            );
        }
    }
    Ok(())
}
