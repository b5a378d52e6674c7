//! Integration tests of `hale-synth`, through its public API only.
//!
//! One test binary, one module per property: determinism, reference
//! integrity of the flat form, the shape of the Bundles, the content of the
//! resources, and validation against the R4 definitions by `hale-fhir`.

mod bundles;
mod content;
mod determinism;
mod references;
mod support;
mod validation;
