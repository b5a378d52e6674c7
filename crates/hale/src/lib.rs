//! The library half of the `hale` package: loading code that both the `hale` binary and the
//! benchmark harness run, so that what is measured is what ships.

pub mod directory;
pub mod load;
