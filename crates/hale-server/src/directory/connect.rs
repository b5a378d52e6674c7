//! `connect/system/clinical`: the health systems an app's users can connect, and the start of
//! connecting one.
//!
//! `GET|POST /connect/system/clinical` lists systems to a client (`client_id` and
//! `client_secret` from anywhere, `clientid`/`clientsecret` too), by `systemType` and `query`.
//! `GET /connect/system/clinical/{id}?client_id=…&access_token=…` sends the user's browser (302)
//! to the system's SMART authorize URL; `GET /api/clinical/{id}` answers the same URL as JSON.
//! The `state` in that URL is signed with the server's key and names the system, the app and the
//! user and when it was issued ([`ConnectState`]), so that the callback that receives the code
//! can trust it ([`ConnectState::verify`]) without storing anything, on any process.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_auth::AuthError;
use hale_directory::view::ClinicalItem;
use hale_directory::{Query, System, query};
use hale_store::Scope;
use serde::{Deserialize, Serialize};

use super::search::token_scope;
use super::{SearchFailure, default_logo_url};
use crate::AppState;
use crate::cursor::CursorKey;
use crate::identity::params::Merged;
use crate::identity::user_management::{Failure, json_response};

/// How long a `state` stays valid: the time a person has to sign in at the health system.
pub const STATE_TTL_SECS: i64 = 3600;

/// The purpose a `state` is signed for, so that no other token of this server passes for one.
const STATE_PURPOSE: &str = "connect-state";

/// The scopes Hale asks a health system for: the patient's record, read, for as long as the
/// patient allows.
const SCOPES: &str = "launch/patient openid fhirUser offline_access patient/*.read";

/// What a connect `state` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectState {
    /// The system's id.
    #[serde(rename = "s")]
    pub system: String,
    /// The app the user belongs to.
    #[serde(rename = "a")]
    pub app: i64,
    /// The user (`oneup_user_id`) whose record the system's data joins.
    #[serde(rename = "u")]
    pub user: i64,
    /// When it was issued, in seconds since the Unix epoch.
    #[serde(rename = "t")]
    pub issued: i64,
    /// Random, so that no two are alike.
    #[serde(rename = "n")]
    pub nonce: String,
}

impl ConnectState {
    /// A new state for `user` of `app` connecting `system`, issued `now`.
    pub fn new(system: &str, app: i64, user: i64, now: i64) -> Self {
        ConnectState {
            system: system.to_owned(),
            app,
            user,
            issued: now,
            nonce: format!("{:032x}", rand::random::<u128>()),
        }
    }

    /// The signed text.
    pub fn sign(&self, key: &CursorKey) -> String {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        key.sign(&payload, STATE_PURPOSE)
    }

    /// The state `text` says, if this server's `key` signed it and it is at most
    /// [`STATE_TTL_SECS`] old at `now`.
    pub fn verify(key: &CursorKey, text: &str, now: i64) -> Option<Self> {
        let payload = key.verify(text, STATE_PURPOSE)?;
        let state: ConnectState = serde_json::from_slice(&payload).ok()?;
        (state.issued <= now + 60 && now - state.issued <= STATE_TTL_SECS).then_some(state)
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Why a system cannot be connected.
enum Refusal {
    NotFound(String),
    NoAuthorizeUrl(String),
}

impl Refusal {
    fn text(&self) -> String {
        match self {
            Refusal::NotFound(id) => format!("system {id} is not in the directory"),
            Refusal::NoAuthorizeUrl(id) => {
                format!("system {id} publishes no authorize URL, so it cannot be connected")
            }
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Refusal::NotFound(_) => StatusCode::NOT_FOUND,
            Refusal::NoAuthorizeUrl(_) => StatusCode::CONFLICT,
        }
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::with_status(r.status(), r.text())
    }
}

impl From<Refusal> for SearchFailure {
    fn from(r: Refusal) -> Self {
        SearchFailure::with_status(r.status(), r.text())
    }
}

/// The URL that starts connecting `system` for `user` of `app`: the system's SMART authorize
/// URL with a signed `state`, Hale's callback as `redirect_uri` and the system's FHIR base as
/// `aud`.
fn authorization_url(
    state: &AppState,
    system: &System,
    app: i64,
    user: i64,
) -> Result<String, Refusal> {
    let authorize = system
        .authorize_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .ok_or_else(|| Refusal::NoAuthorizeUrl(system.id.clone()))?;
    let signed =
        ConnectState::new(&system.id, app, user, unix_now()).sign(&state.config.cursor_key);
    let mut url = authorize;
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("response_type", "code");
        if let Some(client_id) = &system.oauth_client_id {
            pairs.append_pair("client_id", client_id);
        }
        pairs.append_pair(
            "redirect_uri",
            &format!("{}/connect/callback", state.config.public_url),
        );
        pairs.append_pair("scope", SCOPES);
        pairs.append_pair("state", &signed);
        pairs.append_pair("aud", &system.resource_url);
    }
    Ok(url.into())
}

/// `GET|POST /connect/system/clinical`: the systems, as [`ClinicalItem`]s.
pub async fn list(State(state): State<AppState>, merged: Merged) -> Result<Response, Failure> {
    let params = merged.0.map_err(|e| Failure::bad_request(e.to_string()))?;
    state
        .identity
        .authenticate_client(params.get("client_id"), params.get("client_secret"))
        .await?;
    let invalid = |e: hale_directory::DirectoryError| Failure::bad_request(e.to_string());
    let query = Query {
        words: query::query_words(params.get("query")).map_err(invalid)?,
        system_type: query::system_type(params.get("systemType").or(params.get("system_type")))
            .map_err(invalid)?,
        near: None,
    };
    let directory = state.directory.get().await.map_err(AuthError::Store)?;
    let logo = default_logo_url(&state);
    let items: Vec<ClinicalItem<'_>> = directory
        .search(&query, 0, usize::MAX)
        .into_iter()
        .map(|s| ClinicalItem::new(s, &logo))
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}

/// The app and user of a user's access token, which `client_id`, when given, must name.
async fn user_of(
    state: &AppState,
    scope: &Scope,
    client_id: Option<&str>,
) -> Result<(i64, i64), AuthError> {
    let Scope::User { app, user, .. } = scope else {
        return Err(AuthError::InvalidRequest(
            "connecting a health system needs an app user's access token".into(),
        ));
    };
    if let Some(client_id) = client_id {
        let named = state.identity.app_by_client_id(client_id).await?;
        if named.is_none_or(|named| named.id != *app) {
            return Err(AuthError::InvalidToken);
        }
    }
    Ok((*app, *user))
}

/// `GET /connect/system/clinical/{id}?client_id=…&access_token=…`: 302 to the system's
/// authorize URL.
pub async fn redirect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    merged: Merged,
) -> Result<Response, Failure> {
    let params = merged.0.map_err(|e| Failure::bad_request(e.to_string()))?;
    let Some(client_id) = params.get("client_id") else {
        return Err(Failure::bad_request("client_id is required"));
    };
    let scope = token_scope(&state, &headers, &params).await?;
    let (app, user) = user_of(&state, &scope, Some(client_id)).await?;
    let directory = state.directory.get().await.map_err(AuthError::Store)?;
    let url = directory
        .get(&id)
        .ok_or_else(|| Refusal::NotFound(id.clone()))
        .and_then(|system| authorization_url(&state, system, app, user))?;
    let mut response = StatusCode::FOUND.into_response();
    let location = HeaderValue::from_str(&url)
        .map_err(|_| Failure::bad_request("the system's authorize URL is not usable"))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// `GET /api/clinical/{id}`: the same URL as JSON,
/// `{"system_id","system_name","authorization_url"}`, for apps that open it themselves.
pub async fn clinical_url(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    merged: Merged,
) -> Result<Response, SearchFailure> {
    let params = merged
        .0
        .map_err(|e| SearchFailure::bad_request(e.to_string()))?;
    let scope = token_scope(&state, &headers, &params).await?;
    let client_id = headers
        .get("x-client-id")
        .and_then(|v| v.to_str().ok())
        .or(params.get("client_id"));
    let (app, user) = user_of(&state, &scope, client_id).await?;
    let directory = state.directory.get().await?;
    let system = directory
        .get(&id)
        .ok_or_else(|| Refusal::NotFound(id.clone()))?;
    let url = authorization_url(&state, system, app, user)?;
    #[derive(Serialize)]
    struct Answer<'a> {
        system_id: &'a str,
        system_name: &'a str,
        authorization_url: String,
    }
    Ok(json_response(
        StatusCode::OK,
        &Answer {
            system_id: &system.id,
            system_name: &system.name,
            authorization_url: url,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_verifies_with_its_key_within_its_lifetime() {
        let key = CursorKey::new(vec![7u8; 32]);
        let state = ConnectState::new("4706", 3, 42, 1_000_000);
        let text = state.sign(&key);
        assert_eq!(
            ConnectState::verify(&key, &text, 1_000_010),
            Some(state.clone())
        );
        assert_eq!(
            ConnectState::verify(&key, &text, 1_000_000 + STATE_TTL_SECS),
            Some(state)
        );
        // Expired, from the future, another key, altered, another purpose.
        assert!(ConnectState::verify(&key, &text, 1_000_001 + STATE_TTL_SECS).is_none());
        assert!(ConnectState::verify(&key, &text, 999_000).is_none());
        assert!(ConnectState::verify(&CursorKey::new(vec![8u8; 32]), &text, 1_000_010).is_none());
        let mut altered = text.clone();
        altered.insert(3, 'x');
        assert!(ConnectState::verify(&key, &altered, 1_000_010).is_none());
        let other = key.sign(
            br#"{"s":"1","a":1,"u":1,"t":1000000,"n":""}"#,
            "export-file",
        );
        assert!(ConnectState::verify(&key, &other, 1_000_010).is_none());
        // No two states are alike.
        assert_ne!(
            ConnectState::new("1", 1, 1, 0).sign(&key),
            ConnectState::new("1", 1, 1, 0).sign(&key)
        );
    }
}
