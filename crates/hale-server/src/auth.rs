//! Who a FHIR request acts as: the credentials it carries, resolved once per request into the
//! engine [`Context`] whose scope every query then carries.
//!
//! Three ways to authenticate, as 1up clients use them: `Authorization: Bearer <token>`, the
//! same token as `?access_token=`, and client headers (`client_id`, `client_secret`,
//! `x-oneup-user-id: <oneup_user_id>|client`). The operator's token (`HALE_ADMIN_TOKEN`) is a
//! bearer token too. A request without any is refused: no FHIR data is public except operator
//! data, and that is readable by any authenticated principal.

use axum::http::{HeaderMap, header};
use hale_auth::AuthError;
use hale_engine::Context;
use hale_fhir::FhirVersion;

use crate::AppState;
use crate::error::ApiError;

/// The query parameter that carries an access token.
pub const ACCESS_TOKEN_PARAM: &str = "access_token";

/// The header that names the user client headers act as.
const ONEUP_USER_HEADER: &str = "x-oneup-user-id";

/// The context of a request's credentials for `fhir_version`: its principal's scope.
///
/// `access_token` is the value of the `access_token` query parameter, which the caller removes
/// from the search parameters so that it is neither a search parameter nor echoed in links.
pub async fn context(
    state: &AppState,
    headers: &HeaderMap,
    access_token: Option<&str>,
    fhir_version: FhirVersion,
) -> Result<Context, ApiError> {
    let identity = &state.identity;
    let version = fhir_version.as_str();
    if let Some(token) = bearer_token(headers)?.or(access_token) {
        let scope = identity.bearer(token, version).await?;
        return Ok(Context::new(fhir_version, scope));
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let principal = match (text("client_id"), text("client_secret")) {
        (Some(client_id), Some(client_secret)) => {
            let user = text(ONEUP_USER_HEADER).ok_or_else(|| {
                AuthError::InvalidRequest(
                    "client headers need x-oneup-user-id: a oneup_user_id, or \"client\" for all of the client's users".into(),
                )
            })?;
            identity
                .client_principal(client_id, client_secret, user)
                .await?
        }
        (None, None) => return Err(AuthError::MissingCredentials.into()),
        _ => {
            return Err(AuthError::InvalidRequest(
                "client headers need both client_id and client_secret".into(),
            )
            .into());
        }
    };
    let scope = identity.scope(&principal, version).await?;
    Ok(Context::new(fhir_version, scope))
}

/// The token of an `Authorization: Bearer` header; another scheme is an error rather than no
/// credentials, so that a client sending Basic learns why it is refused.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AuthError::InvalidRequest(
            "the Authorization header must be \"Bearer <access_token>\"".into(),
        )
        .into()),
    }
}
