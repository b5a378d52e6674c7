//! The engine's integration tests, over a real SQLite store: the one integration test binary.

mod isolation;
