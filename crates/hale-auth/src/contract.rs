//! The contract test-suite every identity backend must pass (see [`crate::IdentityStore`]).
