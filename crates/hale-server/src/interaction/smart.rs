//! `GET /{ver}/.well-known/smart-configuration`: SMART discovery
//! (<https://hl7.org/fhir/smart-app-launch/conformance.html>).
//!
//! Hale's codes come from user management rather than an interactive authorize step, so it
//! publishes the token endpoint and what it accepts, and no `authorization_endpoint`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::request::PublicFhirRequest;

/// `GET [base]/.well-known/smart-configuration`.
pub async fn smart_configuration(
    State(state): State<AppState>,
    PublicFhirRequest(_req): PublicFhirRequest,
) -> Result<Response, ApiError> {
    let body = json!({
        "token_endpoint": format!("{}/oauth2/token", state.config.public_url),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "scopes_supported": ["user/*.*"],
        "response_types_supported": ["code"],
        "capabilities": ["client-confidential-symmetric"],
    });
    let mut response = body.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
