//! Keeping the planner's statistics current while the store grows.
//!
//! PostgreSQL plans every search from its statistics, which only `ANALYZE` refreshes, and Hale
//! cannot count on autovacuum to run it: servers run with it off, and it lags behind a bulk load.
//! A table the planner believes empty gets plans that scan it whole, and a load that starts on an
//! empty database then slows down with every resource it adds (synthea-120 took twelve minutes
//! instead of seconds). So the store analyzes its tables itself: when it opens a database that was
//! never analyzed, and each time this process has written as many resources again as it had when
//! it last analyzed (at least [`FIRST`]), so that the cost stays a small share of the writing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use deadpool_postgres::Pool;

/// Resources written before the first `ANALYZE` of a process.
const FIRST: u64 = 1_000;

/// The tables whose statistics plans depend on.
const ANALYZE: &str = "ANALYZE resource, history, search_param, idx_string, idx_token, \
     idx_reference, idx_date, idx_number, idx_quantity, idx_uri, idx_composite, full_text, \
     compartment";

/// What this process has written, and when it analyzes next.
#[derive(Default)]
pub(crate) struct Statistics {
    written: AtomicU64,
    next: AtomicU64,
    running: AtomicBool,
}

impl Statistics {
    /// Counts `resources` newly written and, when an `ANALYZE` is due and none is running,
    /// starts one in the background: a write never waits for it.
    pub(crate) fn wrote(self: &Arc<Self>, resources: u64, pool: &Pool) {
        if resources == 0 {
            return;
        }
        let written = self.written.fetch_add(resources, Ordering::Relaxed) + resources;
        if written < self.next.load(Ordering::Relaxed).max(FIRST)
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.next.store(written * 2, Ordering::Relaxed);
        let (statistics, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move {
            if let Err(e) = analyze(&pool).await {
                tracing::warn!("refreshing PostgreSQL's statistics failed: {e}");
            }
            statistics.running.store(false, Ordering::Release);
        });
    }
}

async fn analyze(pool: &Pool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    client
        .batch_execute(ANALYZE)
        .await
        .map_err(|e| e.to_string())
}

/// Analyzes the tables of a database that has resources but no statistics yet, such as one
/// loaded with autovacuum off, before the store serves it.
pub(crate) async fn analyze_if_never(pool: &Pool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    // `reltuples` is -1 until the table is first analyzed or vacuumed.
    let never: bool = client
        .query_one(
            "SELECT c.reltuples < 0 AND EXISTS (SELECT 1 FROM resource) \
             FROM pg_class c WHERE c.oid = 'resource'::regclass",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    if never {
        client
            .batch_execute(ANALYZE)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
