//! The provider directory over HTTP (contract Part A §9, Part B §11–12): 1up's system search
//! (`/api/search`, `/api/systems/{zip}`, `/api/all-systems`, `/api/clinical/{id}`) and
//! `connect/system/clinical`, over the in-memory directory of [`cache`]. The matching and the
//! JSON shapes are `hale-directory`'s; these handlers read parameters, authenticate and render.
//!
//! System search answers errors as 1up's system search does, `{"success":false,"message":…}`,
//! with the exact text clients match to refresh a token on 401; `connect/…` answers them as the
//! rest of 1up's developer API does, `{"success":false,"error":…}`.

pub mod cache;
pub mod connect;
pub mod search;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hale_directory::DirectoryError;
use hale_store::StoreError;

use crate::AppState;

pub use cache::DirectoryCache;

/// Systems per page of system search, as 1up pages.
pub const PAGE: usize = 20;

/// The path of the logo of systems that have none.
pub const DEFAULT_LOGO_PATH: &str = "/api/logo/health-system-default.svg";

/// The message of a 401 from system search, which 1up clients match to refresh their token.
pub const TOKEN_ERROR: &str = "An error occurred when processing the access token.";

/// The directory routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/search", get(search::search).post(search::search))
        .route(
            "/api/systems/{zip}",
            get(search::near_zip).post(search::near_zip),
        )
        .route(
            "/api/all-systems",
            get(search::all_systems).post(search::all_systems),
        )
        .route("/api/clinical/{id}", get(connect::clinical_url))
        .route(DEFAULT_LOGO_PATH, get(default_logo))
        .route(
            "/connect/system/clinical",
            get(connect::list).post(connect::list),
        )
        .route("/connect/system/clinical/{id}", get(connect::redirect))
}

/// A failed system search: `{"success":false,"message":…}`.
#[derive(Debug)]
pub struct SearchFailure {
    status: StatusCode,
    message: String,
}

impl SearchFailure {
    /// A failure with `status` and `message`.
    fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        SearchFailure {
            status,
            message: message.into(),
        }
    }

    /// A 400 with `message`.
    fn bad_request(message: impl Into<String>) -> Self {
        SearchFailure::with_status(StatusCode::BAD_REQUEST, message)
    }

    /// The 401 of a missing, unknown or expired token.
    fn token() -> Self {
        SearchFailure::with_status(StatusCode::UNAUTHORIZED, TOKEN_ERROR)
    }
}

impl From<DirectoryError> for SearchFailure {
    fn from(e: DirectoryError) -> Self {
        SearchFailure::bad_request(e.to_string())
    }
}

/// A malformed request is 400; a store failure is the store's; every other identity failure
/// (no, unknown, expired or revoked token, another app's client id) is the contract's 401.
impl From<hale_auth::AuthError> for SearchFailure {
    fn from(e: hale_auth::AuthError) -> Self {
        match e {
            hale_auth::AuthError::InvalidRequest(text) => SearchFailure::bad_request(text),
            hale_auth::AuthError::Store(e) => SearchFailure::from(e),
            _ => SearchFailure::token(),
        }
    }
}

impl From<StoreError> for SearchFailure {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "reading the directory failed");
        SearchFailure::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            "the directory is not available right now; try again",
        )
    }
}

impl IntoResponse for SearchFailure {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"success": false, "message": self.message});
        crate::identity::user_management::json_response(self.status, &body)
    }
}

/// The URL of the default logo on this server.
fn default_logo_url(state: &AppState) -> String {
    format!("{}{DEFAULT_LOGO_PATH}", state.config.public_url)
}

/// A plain building: the logo of systems that publish none, so that apps always have an image.
async fn default_logo() -> Response {
    const SVG: &str = concat!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">"##,
        r##"<rect width="96" height="96" rx="16" fill="#e8eef6"/>"##,
        r##"<rect x="24" y="30" width="48" height="42" fill="#5b7fa8"/>"##,
        r##"<rect x="42" y="16" width="12" height="36" fill="#d9534f"/>"##,
        r##"<rect x="30" y="28" width="36" height="12" fill="#d9534f"/>"##,
        r##"<rect x="42" y="56" width="12" height="16" fill="#e8eef6"/></svg>"##
    );
    let mut response = SVG.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}
