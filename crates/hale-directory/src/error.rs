//! The directory's one error type.

/// Why a directory request or list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// A search parameter is malformed; the text says which and why.
    #[error("{0}")]
    Invalid(String),
    /// A row of a system list is unusable; the text says which row and why.
    #[error("{0}")]
    List(String),
}
