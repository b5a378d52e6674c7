//! Hale's identity: developer apps (OAuth clients), their users, authorization codes, access and
//! refresh tokens, read grants between users, and the [`Principal`] a request acts as.
//!
//! The rules live in [`Identity`] (pure logic over the [`IdentityStore`] trait and a clock);
//! backends keep the records and run [`contract`], the test suite that pins the trait's semantics;
//! `hale-server` maps [`AuthError`] to HTTP once. Nothing here does I/O except through the store
//! trait.
#![warn(missing_docs)]

pub mod contract;
pub mod model;
pub mod secret;
mod service;
mod store;

pub use model::*;
pub use service::*;
pub use store::{IdentityStore, UserFilter, UserWrite};
