//! Repository automation for Hale, run as `cargo run -p xtask -- <task>`.
//!
//! The tasks live in this library rather than in `main.rs` so that tests can call them directly; the
//! binary only parses arguments and writes files.

pub mod fhir_tables;
