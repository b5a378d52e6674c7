//! `GET`, `POST`, `PUT /user-management/v1/user` and `POST /user-management/v1/user/auth-code`.
//!
//! Every call authenticates the client, then counts against its hourly rate (429 beyond).
//! Answers are `{"success":true,…}` or `{"success":false,"error":"…"}` with 1up's exact keys,
//! key order and error strings; `oneup_user_id` is a JSON integer. Create and auth-code take an
//! optional `scope`; `openid` in it makes the token answers carry an ID token.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_auth::{App, AppUser, AuthError, UserFilter, UserRef};
use serde::Serialize;

use super::params::{Merged, Params};
use crate::AppState;

/// A user as the list shows it.
#[derive(Serialize)]
struct UserEntry<'a> {
    oneup_user_id: i64,
    app_user_id: &'a str,
    active: bool,
}

impl<'a> From<&'a AppUser> for UserEntry<'a> {
    fn from(user: &'a AppUser) -> Self {
        UserEntry {
            oneup_user_id: user.oneup_user_id,
            app_user_id: &user.app_user_id,
            active: user.active,
        }
    }
}

#[derive(Serialize)]
struct ListAnswer<'a> {
    success: bool,
    entry: Vec<UserEntry<'a>>,
}

/// A user and, after create and auth-code, its new code.
#[derive(Serialize)]
struct UserAnswer<'a> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    oneup_user_id: i64,
    app_user_id: &'a str,
    active: bool,
}

impl<'a> UserAnswer<'a> {
    fn new(user: &'a AppUser, code: Option<&'a str>) -> Self {
        UserAnswer {
            success: true,
            code,
            oneup_user_id: user.oneup_user_id,
            app_user_id: &user.app_user_id,
            active: user.active,
        }
    }
}

/// A failed call: its status and `{"success":false,"error":…}`.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    error: String,
    retry_after: Option<i64>,
}

impl Failure {
    /// A failure with `status` and `error`.
    pub(crate) fn with_status(status: StatusCode, error: impl Into<String>) -> Self {
        Failure {
            status,
            error: error.into(),
            retry_after: None,
        }
    }

    /// A 400 with `error`.
    pub(crate) fn bad_request(error: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            retry_after: None,
        }
    }
}

impl From<AuthError> for Failure {
    fn from(e: AuthError) -> Self {
        let status = match &e {
            AuthError::MissingClient
            | AuthError::InvalidClient
            | AuthError::MissingCredentials
            | AuthError::ExpiredToken
            | AuthError::InvalidToken => StatusCode::UNAUTHORIZED,
            AuthError::UserNotFound => StatusCode::NOT_FOUND,
            AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            AuthError::Store(
                hale_store::StoreError::Overloaded | hale_store::StoreError::Closed,
            ) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::InvalidRequest(_)
            | AuthError::UserExists
            | AuthError::InvalidGrant(_)
            | AuthError::UnsupportedGrantType(_) => StatusCode::BAD_REQUEST,
        };
        let retry_after = match &e {
            AuthError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let error = super::client_text(&e, status, "user management");
        Failure {
            status,
            error,
            retry_after,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            success: bool,
            error: &'a str,
        }
        let body = Body {
            success: false,
            error: &self.error,
        };
        let mut response = json_response(self.status, &body);
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// `body` as a JSON answer with `status`.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads the parameters, authenticates the client and counts the call.
async fn client(state: &AppState, merged: Merged) -> Result<(App, Params), Failure> {
    let params = merged.0.map_err(|e| Failure::bad_request(e.to_string()))?;
    let app = state
        .identity
        .authenticate_client(params.get("client_id"), params.get("client_secret"))
        .await?;
    state.identity.count_call(&app).await?;
    Ok((app, params))
}

fn oneup_user_id(params: &Params) -> Result<Option<i64>, Failure> {
    params
        .get("oneup_user_id")
        .map(|text| {
            text.trim()
                .parse::<i64>()
                .map_err(|_| Failure::bad_request("oneup_user_id must be an integer"))
        })
        .transpose()
}

/// `GET /user-management/v1/user`: the client's users, filtered by `app_user_id` and
/// `oneup_user_id`; no match is an empty `entry`.
pub async fn list(State(state): State<AppState>, merged: Merged) -> Result<Response, Failure> {
    let (app, params) = client(&state, merged).await?;
    let filter = UserFilter {
        app_user_id: params.get("app_user_id").map(str::to_owned),
        oneup_user_id: oneup_user_id(&params)?,
    };
    let users = state.identity.users(&app, &filter).await?;
    let answer = ListAnswer {
        success: true,
        entry: users.iter().map(UserEntry::from).collect(),
    };
    Ok(json_response(StatusCode::OK, &answer))
}

/// `POST /user-management/v1/user`: a new user and its first auth code.
pub async fn create(State(state): State<AppState>, merged: Merged) -> Result<Response, Failure> {
    let (app, params) = client(&state, merged).await?;
    let app_user_id = params.get("app_user_id").unwrap_or("");
    let (user, code) = state
        .identity
        .create_user(&app, app_user_id, params.get("scope"))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &UserAnswer::new(&user, Some(&code)),
    ))
}

/// `PUT /user-management/v1/user`: changes a user's `app_user_id`, the only field that changes.
pub async fn update(State(state): State<AppState>, merged: Merged) -> Result<Response, Failure> {
    let (app, params) = client(&state, merged).await?;
    let Some(id) = oneup_user_id(&params)? else {
        return Err(Failure::bad_request("oneup_user_id is required"));
    };
    let app_user_id = params.get("app_user_id").unwrap_or("");
    let user = state.identity.rename_user(&app, id, app_user_id).await?;
    Ok(json_response(StatusCode::OK, &UserAnswer::new(&user, None)))
}

/// `POST /user-management/v1/user/auth-code`: a new auth code for a user named by
/// `oneup_user_id` or `app_user_id`.
pub async fn auth_code(State(state): State<AppState>, merged: Merged) -> Result<Response, Failure> {
    let (app, params) = client(&state, merged).await?;
    let user = match (oneup_user_id(&params)?, params.get("app_user_id")) {
        (Some(id), _) => UserRef::OneupUserId(id),
        (None, Some(name)) => UserRef::AppUserId(name.to_owned()),
        (None, None) => {
            return Err(Failure::bad_request(
                "oneup_user_id or app_user_id is required",
            ));
        }
    };
    let (user, code) = state
        .identity
        .auth_code(&app, &user, params.get("scope"))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &UserAnswer::new(&user, Some(&code)),
    ))
}
