//! One module per workload of `benchmarks.md`, and one per ceiling. Each measures one run and
//! checks what it got; [`crate::run`] repeats them and takes medians.

pub mod directory;
pub mod everything;
pub mod everything_memory;
pub mod export;
pub mod import;
pub mod ingest;
pub mod memory;
pub mod read;
pub mod search;
pub mod storage;
