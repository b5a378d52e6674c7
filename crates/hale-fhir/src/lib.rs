//! Pure FHIR knowledge for Hale: no I/O, no HTTP, no SQL.
//!
//! The definition tables in [`generated`] are written from the official R4 package (and the
//! Plan-Net guide's package, for the search parameters it adds) by
//! `cargo run -p xtask -- gen-fhir`; [`definitions`] looks things up in them; [`validate`] checks a
//! resource against them; [`summary`] cuts a resource down for `_summary` and `_elements`. The small types here ([`FhirVersion`], [`ResourceId`], [`Instant`]) are
//! parsed once at the edge so the rest of Hale can trust them.
#![warn(missing_docs)]

pub mod definitions;
pub mod generated;
pub mod outcome;
pub mod record;
pub mod summary;
pub mod table;
mod types;
pub mod validate;

pub use types::{FhirVersion, Instant, ResourceId, ResourceType, TypeError, VersionId};
