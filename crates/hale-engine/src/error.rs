//! The engine's error taxonomy. `hale-server` maps each variant once to an HTTP status and an
//! OperationOutcome `issue.code`.

use hale_fhir::outcome::Issue;
use hale_store::StoreError;

/// Why an interaction failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request content is invalid: bad JSON, failed validation, a mismatched `resourceType`
    /// or id. Each issue names its location.
    #[error("invalid request: {}", .0.first().map(|i| i.text.as_str()).unwrap_or(""))]
    Invalid(Vec<Issue>),
    /// No resource with this id is visible.
    #[error("{resource_type}/{id} is not known")]
    NotFound {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
    },
    /// The principal may see the resource but not change it: operator data, or data another
    /// user granted read access to. A resource the principal may not see is
    /// [`EngineError::NotFound`] instead, so that its existence never shows.
    #[error("{0}")]
    Forbidden(String),
    /// The version asked for does not exist.
    #[error("{resource_type}/{id} has no version {version_id}")]
    VersionNotFound {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
        /// The version asked for.
        version_id: u64,
    },
    /// The resource was deleted.
    #[error("{resource_type}/{id} was deleted in version {version_id}")]
    Gone {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
        /// The version that deleted it.
        version_id: u64,
    },
    /// `If-Match` named another version than the current one.
    #[error(
        "version conflict on {resource_type}/{id}: expected version {expected}, current is {current}"
    )]
    VersionConflict {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
        /// The version in `If-Match`.
        expected: u64,
        /// The current version.
        current: u64,
    },
    /// A conditional interaction or reference matched more than one resource.
    #[error("the condition {condition:?} matched {n_matches} resources")]
    MultipleMatches {
        /// The condition as given.
        condition: String,
        /// How many it matched (at least two).
        n_matches: usize,
    },
    /// A conditional reference matched nothing.
    #[error("the conditional reference {condition:?} matched no resource")]
    UnresolvedReference {
        /// The condition as given.
        condition: String,
    },
    /// The request asks for something Hale does not do.
    #[error("{0}")]
    NotSupported(String),
    /// One entry of a transaction failed, which failed the whole transaction.
    #[error("transaction entry {entry_idx} failed: {source}")]
    TransactionEntry {
        /// The 0-based index of the failed entry in the request Bundle.
        entry_idx: usize,
        /// What went wrong with it.
        source: Box<EngineError>,
    },
    /// The request would cost more than the server allows (too many included resources).
    #[error("{0}")]
    TooCostly(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EngineError {
    /// A single invalid-content issue.
    pub fn invalid(code: hale_fhir::outcome::IssueType, text: impl Into<String>) -> Self {
        EngineError::Invalid(vec![Issue::error(code, text)])
    }
}
