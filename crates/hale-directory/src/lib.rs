//! The provider directory, as pure code: which health systems and payers the directory's FHIR
//! resources describe ([`system`]), the word search over them that forgives case, accents and a
//! typo per word, and the zip proximity order ([`index`]), the checked search parameters
//! ([`query`], [`zip`]), the JSON shapes 1up clients read ([`view`]), and the simple list of
//! systems that `hale directory import` turns into FHIR ([`list`]).
//!
//! No I/O: the server loads the resources from the store and keeps a [`Directory`] in memory.
#![warn(missing_docs)]

pub mod error;
pub mod index;
pub mod list;
pub mod query;
pub mod system;
pub mod text;
pub mod view;
pub mod zip;

pub use error::DirectoryError;
pub use index::{Directory, Query};
pub use system::{DirectoryResources, Place, System, SystemType};
pub use zip::Zip;
