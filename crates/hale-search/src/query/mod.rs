//! The search part of a URL: [`model`] is its typed form and the matching rules stores
//! implement; [`parse`] turns parameters into it.

pub mod model;
pub mod parse;

pub use model::*;
pub use parse::{
    ParseOptions, QueryError, form_pairs, parse_conditional, parse_pairs, parse_search,
};
