//! Hale's HTTP integration tests: the one integration test binary.
//!
//! Every test talks real HTTP to a server on a loopback port. [`support::TestApp`] runs the
//! server in-process over a fresh SQLite database per test; [`support::ServerProcess`] runs the
//! `hale` binary for the tests that kill, restart or signal it; [`support::run_hale`] runs the
//! other subcommands.

mod directory;
mod durability;
mod everything;
mod export;
mod export_jobs;
mod identity;
mod import;
mod interaction;
mod plannet;
mod scale_out;
mod serve;
mod support;
