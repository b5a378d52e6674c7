//! `hale reindex`: rebuilds the search index of every resource with this build's extraction
//! rules, after an upgrade that changed them (`hale serve` logs when that is needed).

use clap::Args;
use hale_engine::Engine;

use crate::settings::StoreArgs;

/// Settings of `hale reindex`.
#[derive(Args, Debug)]
pub struct ReindexArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Rebuilds the index, then prints how many resources it covered.
pub fn run(args: ReindexArgs) -> anyhow::Result<()> {
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let stores = args.store.stores().await?;
        let engine = Engine::new(stores.resources.clone());
        let started = std::time::Instant::now();
        let resources = engine.reindex().await?;
        let seconds = started.elapsed().as_secs_f64();
        stores.shutdown();
        if args.json {
            println!(
                "{}",
                serde_json::json!({"resources": resources, "seconds": seconds,
                    "fingerprint": hale_search::index::fingerprint()})
            );
        } else {
            println!("reindexed {resources} resources in {seconds:.1} s");
        }
        Ok(())
    })
}
