//! `GET|POST /api/search`, `/api/systems/{zip}` and `/api/all-systems`: 1up's system search.
//!
//! Parameters come from the query string, a form or a JSON body (merged, as on every 1up
//! endpoint); the caller is an app user's access token (or the operator's), as
//! `Authorization: Bearer` or `access_token`. The answer is a JSON array of
//! [`SearchItem`]s, [`PAGE`] per page from `offset`, except `all-systems`, which lists every
//! system.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_auth::AuthError;
use hale_directory::view::SearchItem;
use hale_directory::{Directory, Query, Zip, query};
use hale_store::Scope;

use super::{PAGE, SearchFailure, default_logo_url};
use crate::AppState;
use crate::identity::params::{Merged, Params};
use crate::identity::user_management::json_response;

/// The scope of the request's access token: `Authorization: Bearer`, or else `access_token`.
/// System search answers every failure but a store's with the contract's 401
/// (`From<AuthError> for SearchFailure`).
pub(crate) async fn token_scope(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Scope, AuthError> {
    let token = crate::auth::bearer_token(headers)
        .map_err(|_| AuthError::InvalidToken)?
        .or(params.get("access_token"))
        .ok_or(AuthError::MissingCredentials)?;
    state.identity.bearer(token, "r4").await
}

/// The merged parameters, authenticated, and the query they ask for.
async fn request(
    state: &AppState,
    headers: &HeaderMap,
    merged: Merged,
) -> Result<(Params, Query), SearchFailure> {
    let params = merged
        .0
        .map_err(|e| SearchFailure::bad_request(e.to_string()))?;
    token_scope(state, headers, &params).await?;
    let query = Query {
        words: query::query_words(params.get("query"))?,
        system_type: query::system_type(params.get("system_type").or(params.get("systemType")))?,
        near: None,
    };
    Ok((params, query))
}

fn render(
    state: &AppState,
    directory: &Directory,
    query: &Query,
    offset: usize,
    limit: usize,
) -> Response {
    let logo = default_logo_url(state);
    let items: Vec<SearchItem<'_>> = directory
        .search(query, offset, limit)
        .into_iter()
        .map(|s| SearchItem::new(s, &logo))
        .collect();
    json_response(StatusCode::OK, &items)
}

/// `GET|POST /api/search?query=…&offset=…&system_type=…`.
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    merged: Merged,
) -> Result<Response, SearchFailure> {
    let (params, query) = request(&state, &headers, merged).await?;
    let offset = query::offset(params.get("offset"))?;
    let directory = state.directory.get().await?;
    Ok(render(&state, &directory, &query, offset, PAGE))
}

/// `GET|POST /api/systems/{zip}`: systems nearest the zip code first.
pub async fn near_zip(
    State(state): State<AppState>,
    Path(zip): Path<String>,
    headers: HeaderMap,
    merged: Merged,
) -> Result<Response, SearchFailure> {
    let (params, mut query) = request(&state, &headers, merged).await?;
    query.near = Some(Zip::parse(&zip)?);
    let offset = query::offset(params.get("offset"))?;
    let directory = state.directory.get().await?;
    Ok(render(&state, &directory, &query, offset, PAGE))
}

/// `GET|POST /api/all-systems`: every system (of `system_type`, matching `query`).
pub async fn all_systems(
    State(state): State<AppState>,
    headers: HeaderMap,
    merged: Merged,
) -> Result<Response, SearchFailure> {
    let (_, query) = request(&state, &headers, merged).await?;
    let directory = state.directory.get().await?;
    Ok(render(&state, &directory, &query, 0, usize::MAX))
}
