//! The one mapping of every failure to an HTTP status and an OperationOutcome.
//!
//! | failure                                   | status | `issue.code`        |
//! |-------------------------------------------|--------|---------------------|
//! | `EngineError::Invalid`, malformed request | 400    | from the issue      |
//! | `EngineError::UnresolvedReference`        | 400    | `processing`        |
//! | `EngineError::NotSupported`               | 400    | `not-supported`     |
//! | `QueryError::InvalidValue`, `Empty`       | 400    | `invalid`           |
//! | `QueryError::UnknownParameter`, `Unsupported` (strict handling, conditions) | 400 | `not-supported` |
//! | `EngineError::Forbidden`                  | 403    | `forbidden`         |
//! | `EngineError::NotFound`, unknown version  | 404    | `not-found`         |
//! | unknown route                             | 404    | `not-supported`     |
//! | method not allowed                        | 405    | `not-supported`     |
//! | `Accept` asks for XML only                | 406    | `not-supported`     |
//! | `AuthError` (no, bad, expired credentials) | 401 | `login`, with `WWW-Authenticate` |
//! | `AuthError::Forbidden`                    | 403    | `forbidden`         |
//! | `EngineError::Gone`                       | 410    | `deleted`           |
//! | `EngineError::VersionConflict`            | 412    | `conflict`          |
//! | `EngineError::MultipleMatches`            | 412    | `multiple-matches`  |
//! | `EngineError::TooCostly`                  | 400    | `too-costly`        |
//! | body too large                            | 413    | `too-costly`        |
//! | XML or other request content type         | 415    | `not-supported`     |
//! | `StoreError::Overloaded`, `Closed`        | 503    | `throttled`/`transient` |
//! | `StoreError::Backend`, anything else      | 500    | `exception`         |
//!
//! A transaction entry's failure answers with the status of the entry's own failure. 5xx bodies
//! say nothing about the cause; the cause goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_auth::AuthError;
use hale_engine::EngineError;
use hale_fhir::outcome::{Issue, IssueType, operation_outcome};
use hale_search::query::QueryError;
use hale_store::StoreError;

/// A failure of a FHIR request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The search parameters could not be understood.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The request is malformed before it reaches the engine.
    #[error("{}", .0.text)]
    BadRequest(Issue),
    /// No such route.
    #[error("unknown path {0}")]
    UnknownPath(String),
    /// The route exists but not with this method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// The client accepts no format Hale writes.
    #[error("Hale answers in JSON only; the request asked for {0}")]
    NotAcceptable(String),
    /// The request body's content type is not JSON.
    #[error("the request content type {0} is not supported; send application/fhir+json")]
    UnsupportedMediaType(String),
    /// The request body is larger than allowed.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The request took too long.
    #[error("the request took longer than the server allows")]
    Timeout,
    /// The credentials are missing or not valid, or the principal may not do this.
    #[error(transparent)]
    Auth(#[from] hale_auth::AuthError),
}

impl ApiError {
    /// A 400 with one issue.
    pub fn bad_request(code: IssueType, text: impl Into<String>) -> Self {
        ApiError::BadRequest(Issue::error(code, text))
    }

    /// The status and issues that answer this failure.
    pub fn status_and_issues(&self) -> (StatusCode, Vec<Issue>) {
        match self {
            ApiError::Engine(e) => engine_status(e),
            ApiError::BadRequest(issue) => (StatusCode::BAD_REQUEST, vec![issue.clone()]),
            ApiError::Query(e) => {
                let code = match e {
                    QueryError::InvalidValue { .. } | QueryError::Empty => IssueType::Invalid,
                    QueryError::UnknownParameter { .. } | QueryError::Unsupported { .. } => {
                        IssueType::NotSupported
                    }
                };
                (
                    StatusCode::BAD_REQUEST,
                    vec![Issue::error(code, e.to_string())],
                )
            }
            ApiError::UnknownPath(_) => (
                StatusCode::NOT_FOUND,
                vec![Issue::error(IssueType::NotSupported, self.to_string())],
            ),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                vec![Issue::error(IssueType::NotSupported, self.to_string())],
            ),
            ApiError::NotAcceptable(_) => (
                StatusCode::NOT_ACCEPTABLE,
                vec![Issue::error(IssueType::NotSupported, self.to_string())],
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                vec![Issue::error(IssueType::NotSupported, self.to_string())],
            ),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                vec![Issue::error(IssueType::TooCostly, self.to_string())],
            ),
            ApiError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                vec![Issue::error(IssueType::Timeout, self.to_string())],
            ),
            ApiError::Auth(e) => auth_status(e),
        }
    }
}

/// The status and issues that answer an engine failure.
pub fn engine_status(e: &EngineError) -> (StatusCode, Vec<Issue>) {
    let one = |status, code| (status, vec![Issue::error(code, e.to_string())]);
    match e {
        EngineError::Invalid(issues) => (StatusCode::BAD_REQUEST, issues.clone()),
        EngineError::UnresolvedReference { .. } => {
            one(StatusCode::BAD_REQUEST, IssueType::Processing)
        }
        EngineError::NotSupported(_) => one(StatusCode::BAD_REQUEST, IssueType::NotSupported),
        EngineError::TooCostly(_) => one(StatusCode::BAD_REQUEST, IssueType::TooCostly),
        EngineError::Forbidden(_) => one(StatusCode::FORBIDDEN, IssueType::Forbidden),
        EngineError::NotFound { .. } | EngineError::VersionNotFound { .. } => {
            one(StatusCode::NOT_FOUND, IssueType::NotFound)
        }
        EngineError::Gone { .. } => one(StatusCode::GONE, IssueType::Deleted),
        EngineError::VersionConflict { .. } => {
            one(StatusCode::PRECONDITION_FAILED, IssueType::Conflict)
        }
        EngineError::MultipleMatches { .. } => {
            one(StatusCode::PRECONDITION_FAILED, IssueType::MultipleMatches)
        }
        EngineError::TransactionEntry { entry_idx, source } => {
            let (status, issues) = engine_status(source);
            let issues = issues
                .into_iter()
                .map(|mut issue| {
                    issue.text = format!(
                        "transaction failed at Bundle.entry[{entry_idx}]: {}",
                        issue.text
                    );
                    issue
                })
                .collect();
            (status, issues)
        }
        EngineError::Store(store) => store_status(store),
    }
}

/// The status and issues that answer a store failure, whoever met it.
fn store_status(e: &StoreError) -> (StatusCode, Vec<Issue>) {
    match e {
        StoreError::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            vec![Issue::error(
                IssueType::Throttled,
                "the server is busy; retry shortly",
            )],
        ),
        StoreError::Closed => (
            StatusCode::SERVICE_UNAVAILABLE,
            vec![Issue::error(
                IssueType::Throttled,
                "the server is shutting down",
            )],
        ),
        StoreError::Backend(_) | StoreError::Unsupported(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            vec![Issue::error(
                IssueType::Exception,
                "an internal error occurred",
            )],
        ),
    }
}

/// The status and issues that answer a failed authentication on a FHIR path. Every credential
/// problem is a 401, so that clients (1up's treat 401 as "token expired") refresh or re-ask.
fn auth_status(e: &AuthError) -> (StatusCode, Vec<Issue>) {
    match e {
        AuthError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            vec![Issue::error(IssueType::Forbidden, e.to_string())],
        ),
        AuthError::Store(store) => store_status(store),
        _ => (
            StatusCode::UNAUTHORIZED,
            vec![Issue::error(IssueType::Login, e.to_string())],
        ),
    }
}

/// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3).
fn challenge(e: &AuthError) -> String {
    let error = match e {
        AuthError::MissingCredentials => return "Bearer realm=\"hale\"".to_owned(),
        AuthError::InvalidRequest(_) => "invalid_request",
        _ => "invalid_token",
    };
    let description = e.to_string().replace('"', "'");
    format!("Bearer realm=\"hale\", error=\"{error}\", error_description=\"{description}\"")
}

/// A short random id in base 36, as 1up gives its OperationOutcomes.
pub fn outcome_id() -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n: u64 = rand::random();
    let mut id = String::with_capacity(10);
    for _ in 0..10 {
        id.push(DIGITS[(n % 36) as usize] as char);
        n /= 36;
    }
    id
}

/// An OperationOutcome response with the FHIR JSON content type.
pub fn outcome_response(status: StatusCode, issues: &[Issue]) -> Response {
    let body = operation_outcome(&outcome_id(), issues);
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::negotiate::FHIR_JSON),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, issues) = self.status_and_issues();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request refused");
        }
        let mut response = outcome_response(status, &issues);
        if let (ApiError::Auth(e), StatusCode::UNAUTHORIZED) = (&self, status)
            && let Ok(value) = HeaderValue::from_str(&challenge(e))
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
