//! Pure FHIR search for Hale: no I/O, no HTTP, no SQL.
//!
//! [`index`] turns a resource into the index entries the store writes beside it, through the
//! FHIRPath subset in [`fhirpath`]; [`query`] parses the search part of a URL into a typed
//! [`query::SearchQuery`]; [`normalize`] is the string folding both sides share.
#![warn(missing_docs)]

pub mod fhirpath;
pub mod index;
pub mod normalize;
pub mod query;
pub mod ucum;
