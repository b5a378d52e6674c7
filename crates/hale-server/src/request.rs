//! What every FHIR request carries, extracted once: the FHIR version, the absolute base URL that
//! the request used, the `Prefer` header, the query parameters, and the engine context of the
//! request's principal ([`crate::auth`]).

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use hale_engine::Context;
use hale_fhir::FhirVersion;
use hale_fhir::outcome::IssueType;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;

/// `Prefer: return=…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PreferReturn {
    /// `return=representation`, the default: the resource.
    #[default]
    Representation,
    /// `return=minimal`: headers only.
    Minimal,
    /// `return=OperationOutcome`: an outcome about the interaction.
    OperationOutcome,
}

/// The parts of a FHIR request every interaction needs.
#[derive(Debug)]
pub struct FhirRequest {
    /// The engine context (version, scope, owner).
    pub ctx: Context,
    /// The absolute base that echoes the prefix the request used, such as
    /// `http://127.0.0.1:8080/fhir/r4`.
    pub base: String,
    /// `Prefer: return=…`.
    pub prefer: PreferReturn,
    /// `Prefer: handling=strict`: unknown search parameters are errors rather than ignored.
    pub strict: bool,
    /// `Prefer: respond-async`: a bulk export kick-off that starts a job.
    pub respond_async: bool,
    /// The decoded query parameters, in order.
    pub params: Vec<(String, String)>,
    /// The raw query string.
    pub raw_query: String,
    /// The path as the client sent it (`/fhir/r4/Patient/1`), for echoing a request's own URL.
    pub path: String,
    /// The request headers that interactions read (`Content-Type`, `If-Match`,
    /// `If-None-Exist`); copying only these keeps reads from cloning every header.
    pub headers: HeaderMap,
}

impl FhirRequest {
    /// The value of a query parameter given once.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `If-Match` version, if any.
    pub fn if_match(&self) -> Result<Option<u64>, ApiError> {
        match self.headers.get(header::IF_MATCH) {
            None => Ok(None),
            Some(value) => {
                let text = value.to_str().unwrap_or("");
                hale_fhir::VersionId::parse_etag(text)
                    .map(|v| Some(v.0))
                    .map_err(|_| {
                        ApiError::bad_request(
                            IssueType::Value,
                            format!("If-Match {text:?} is not a version ETag such as W/\"1\""),
                        )
                    })
            }
        }
    }

    /// Reads a JSON request body.
    pub fn parse_body(&self, body: &[u8], patch: bool) -> Result<Value, ApiError> {
        crate::negotiate::request_content_type(&self.headers, patch)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                IssueType::Required,
                "the request has no body",
            ));
        }
        // serde_json refuses nesting deeper than 128 levels, which bounds the recursion of
        // everything that walks the value later.
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                IssueType::Structure,
                format!("the body is not valid JSON: {e}"),
            )
        })
    }
}

impl FromRequestParts<AppState> for FhirRequest {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (mut req, access_token) = FhirRequest::from_parts(parts, state)?;
        req.ctx = crate::auth::context(
            state,
            &parts.headers,
            access_token.as_deref(),
            req.ctx.fhir_version,
        )
        .await?;
        Ok(req)
    }
}

/// A FHIR request that needs no credentials (`metadata`, SMART discovery). Its context is the
/// operator's, so its handlers must read nothing from the store.
#[derive(Debug)]
pub struct PublicFhirRequest(pub FhirRequest);

impl FromRequestParts<AppState> for PublicFhirRequest {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PublicFhirRequest(FhirRequest::from_parts(parts, state)?.0))
    }
}

impl FhirRequest {
    /// Everything but the principal; also returns the `access_token` query parameter, which is
    /// taken out of the parameters (and the raw query) so that it is neither a search parameter
    /// nor repeated in the links Hale writes.
    fn from_parts(parts: &Parts, state: &AppState) -> Result<(Self, Option<String>), ApiError> {
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
        let path = uri.path();
        let (prefix, rest) = match path.strip_prefix("/fhir/") {
            Some(rest) => ("/fhir", rest),
            None => ("", path.trim_start_matches('/')),
        };
        // 1up's bulk export paths name the FHIR version after their own prefix:
        // `/bulk-data/r4/$export`, `/v1/{customer}/bulk-export/bulk-data/r4/$export`.
        let rest = bulk_data_rest(rest).unwrap_or(rest);
        let segment = rest.split('/').next().unwrap_or("");
        let fhir_version = FhirVersion::from_path_segment(segment)
            .map_err(|_| ApiError::UnknownPath(path.to_owned()))?;
        let mut raw_query = uri.query().unwrap_or("").to_owned();
        let mut params = hale_search::query::form_pairs(&raw_query);
        let mut access_token = None;
        if params
            .iter()
            .any(|(k, _)| k == crate::auth::ACCESS_TOKEN_PARAM)
        {
            params.retain(|(k, v)| {
                let is_token = k == crate::auth::ACCESS_TOKEN_PARAM;
                if is_token && access_token.is_none() {
                    access_token = Some(v.clone());
                }
                !is_token
            });
            raw_query = raw_query
                .split('&')
                .filter(|pair| pair.split('=').next() != Some(crate::auth::ACCESS_TOKEN_PARAM))
                .collect::<Vec<_>>()
                .join("&");
        }
        let format = params
            .iter()
            .find(|(k, _)| k == "_format")
            .map(|(_, v)| v.as_str());
        crate::negotiate::response_format(&parts.headers, format)?;
        let prefer = parse_prefer(&parts.headers);
        let strict = prefer_parts(&parts.headers).any(|part| part == "handling=strict");
        let respond_async = prefer_parts(&parts.headers).any(|part| part == "respond-async");
        let req = FhirRequest {
            ctx: Context::open(fhir_version),
            base: format!(
                "{}{prefix}/{}",
                state.config.public_url,
                fhir_version.as_str()
            ),
            prefer,
            strict,
            respond_async,
            params,
            raw_query,
            path: path.to_owned(),
            headers: interaction_headers(&parts.headers),
        };
        Ok((req, access_token))
    }
}

/// The part of a 1up bulk export path after its prefix, which starts with the FHIR version.
fn bulk_data_rest(path: &str) -> Option<&str> {
    if let Some(rest) = path.strip_prefix("bulk-data/") {
        return Some(rest);
    }
    let rest = path.strip_prefix("v1/")?;
    let (_customer, rest) = rest.split_once('/')?;
    rest.strip_prefix("bulk-export/bulk-data/")
}

fn interaction_headers(all: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in [
        header::CONTENT_TYPE,
        header::IF_MATCH,
        header::HeaderName::from_static("if-none-exist"),
    ] {
        if let Some(value) = all.get(&name) {
            kept.insert(name, value.clone());
        }
    }
    kept
}

/// The `Prefer` preferences, trimmed (`return=minimal`, `handling=strict`, `respond-async`).
fn prefer_parts(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .map(str::trim)
}

fn parse_prefer(headers: &HeaderMap) -> PreferReturn {
    prefer_parts(headers)
        .find_map(
            |part| match part.strip_prefix("return=")?.trim_matches('"') {
                "minimal" => Some(PreferReturn::Minimal),
                "representation" => Some(PreferReturn::Representation),
                "OperationOutcome" => Some(PreferReturn::OperationOutcome),
                _ => None,
            },
        )
        .unwrap_or_default()
}
