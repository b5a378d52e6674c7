//! Targeted search tests.
