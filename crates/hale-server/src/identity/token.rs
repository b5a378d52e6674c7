//! `POST /oauth2/token` (and `/fhir/oauth2/token`): the `authorization_code` and
//! `refresh_token` grants of RFC 6749, with 1up's answer shape and RFC 6749 §5.2 errors.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_auth::AuthError;
use serde::Serialize;

use super::params::Merged;
use crate::AppState;

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
pub struct TokenFailure {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl From<AuthError> for TokenFailure {
    fn from(e: AuthError) -> Self {
        let (status, error) = match &e {
            AuthError::MissingClient | AuthError::InvalidClient => {
                (StatusCode::UNAUTHORIZED, "invalid_client")
            }
            AuthError::InvalidGrant(_) => (StatusCode::BAD_REQUEST, "invalid_grant"),
            AuthError::UnsupportedGrantType(_) => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type")
            }
            AuthError::Store(
                hale_store::StoreError::Overloaded | hale_store::StoreError::Closed,
            ) => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
            AuthError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
            _ => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        let description = super::client_text(&e, status, "token");
        TokenFailure {
            status,
            error,
            description,
        }
    }
}

impl IntoResponse for TokenFailure {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            error_description: &'a str,
        }
        let body = Body {
            error: self.error,
            error_description: &self.description,
        };
        let mut response = token_response(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"hale\""),
            );
        }
        response
    }
}

/// A JSON answer that no cache may keep (RFC 6749 §5.1).
fn token_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<AppState>,
    merged: Merged,
) -> Result<Response, TokenFailure> {
    let params = merged
        .0
        .map_err(|e| TokenFailure::from(AuthError::InvalidRequest(e.to_string())))?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| AuthError::InvalidRequest("grant_type is required".into()))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(AuthError::UnsupportedGrantType(grant_type.to_owned()).into());
    }
    let client_secret = params.get("client_secret").unwrap_or("");
    let app = state
        .identity
        .authenticate_client(params.get("client_id"), params.get("client_secret"))
        .await?;
    let answer = if grant_type == "authorization_code" {
        let code = params
            .get("code")
            .ok_or_else(|| AuthError::InvalidRequest("code is required".into()))?;
        state
            .identity
            .exchange_code(&app, client_secret, code)
            .await?
    } else {
        let refresh_token = params
            .get("refresh_token")
            .ok_or_else(|| AuthError::InvalidRequest("refresh_token is required".into()))?;
        state
            .identity
            .refresh(&app, client_secret, refresh_token)
            .await?
    };
    Ok(token_response(StatusCode::OK, &answer))
}
