//! The developer API that 1up clients call before any FHIR request: user management
//! (`/user-management/v1/user`, `/user-management/v1/user/auth-code`) and the OAuth2 token
//! endpoint (`/oauth2/token`, `/fhir/oauth2/token`). Their JSON shapes and error strings are
//! 1up's, byte for byte (contract Part A §3–4); the rules are in `hale-auth`.

pub mod params;
pub mod token;
pub mod user_management;

use axum::Router;
use axum::routing::{get, post};

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
