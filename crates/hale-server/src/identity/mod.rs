//! The developer API that 1up clients call before any FHIR request: user management
//! (`/user-management/v1/user`, `/user-management/v1/user/auth-code`) and the OAuth2 token
//! endpoint (`/oauth2/token`, `/fhir/oauth2/token`). Their JSON shapes and error strings are
//! 1up's, byte for byte (contract Part A §3–4); the rules are in `hale-auth`.

pub mod params;
pub mod token;
pub mod user_management;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use hale_auth::AuthError;

use crate::AppState;

/// The identity routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/user-management/v1/user",
            get(user_management::list)
                .post(user_management::create)
                .put(user_management::update),
        )
        .route(
            "/user-management/v1/user/auth-code",
            post(user_management::auth_code),
        )
        .route("/oauth2/token", post(token::token))
        .route("/fhir/oauth2/token", post(token::token))
}

/// The text a client gets for `e` answered with `status`: its own words, except for a server
/// failure, whose cause goes to the log (as `endpoint`'s) and never to the client.
fn client_text(e: &AuthError, status: StatusCode, endpoint: &str) -> String {
    if status.is_server_error() {
        tracing::error!(error = %e, endpoint, "identity request failed");
        "service unavailable".to_owned()
    } else {
        e.to_string()
    }
}
