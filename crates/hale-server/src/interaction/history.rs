//! Implements the FHIR [history interaction](https://hl7.org/fhir/R4/http.html#history) at instance,
//! type and system level, newest first, with `_since`, `_count` and a `next` link whose cursor is
//! the sequence number of the last version on the page (so pages stay stable while others write).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use hale_fhir::Instant;
use hale_fhir::outcome::{BundleWriter, EntryParts, IssueType};
use hale_store::{HistoryQuery, Method};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::negotiate::FHIR_JSON;
use crate::request::FhirRequest;
use crate::response::{etag, resource_url};

/// `GET [base]/[type]/[id]/_history`.
pub async fn history_instance(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let id = super::resource_id(&id)?;
    history(
        &state,
        &req,
        Some(resource_type.as_str().to_owned()),
        Some(id.into_string()),
    )
    .await
}

/// `GET [base]/[type]/_history`.
pub async fn history_type(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    history(&state, &req, Some(resource_type.as_str().to_owned()), None).await
}

/// `GET [base]/_history`.
pub async fn history_system(
    State(state): State<AppState>,
    req: FhirRequest,
) -> Result<Response, ApiError> {
    history(&state, &req, None, None).await
}

async fn history(
    state: &AppState,
    req: &FhirRequest,
    resource_type: Option<String>,
    id: Option<String>,
) -> Result<Response, ApiError> {
    let count = match req.param("_count") {
        None => state.config.default_count,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| {
                ApiError::bad_request(
                    IssueType::Value,
                    format!("_count={text:?} is not a non-negative integer"),
                )
            })?
            .min(state.config.max_count),
    };
    let since = req
        .param("_since")
        .map(|text| {
            Instant::parse_lower_bound(text).ok_or_else(|| {
                ApiError::bad_request(
                    IssueType::Value,
                    format!("_since={text:?} is not an instant such as 2024-01-31T12:00:00Z"),
                )
            })
        })
        .transpose()?;
    let before_seq = req
        .param("_cursor")
        .map(|text| {
            text.parse::<i64>().map_err(|_| {
                ApiError::bad_request(
                    IssueType::Value,
                    format!("_cursor={text:?} is not a cursor this server wrote"),
                )
            })
        })
        .transpose()?;
    // One version more than the page tells whether a next page exists, so the last page never
    // links to an empty one.
    let query = HistoryQuery {
        fhir_version: req.ctx.fhir_version,
        resource_type: resource_type.clone(),
        id: id.clone(),
        since,
        count: count + 1,
        before_seq,
    };
    let mut page = state.engine.history(&req.ctx, query).await?;
    let has_next = page.versions.len() > count;
    page.versions.truncate(count);

    let mut path = req.base.clone();
    for part in [resource_type.as_deref(), id.as_deref()]
        .into_iter()
        .flatten()
    {
        path.push('/');
        path.push_str(part);
    }
    path.push_str("/_history");
    let kept: Vec<String> = req
        .params
        .iter()
        .filter(|(k, _)| k != "_cursor")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let self_url = if kept.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut links = vec![("self", self_url.clone())];
    if has_next && let Some(last) = page.versions.last() {
        let sep = if kept.is_empty() { '?' } else { '&' };
        links.push(("next", format!("{self_url}{sep}_cursor={}", last.seq)));
    }
    let now = crate::response::now().to_fhir();
    let mut writer = BundleWriter::new(
        &crate::error::outcome_id(),
        "history",
        Some(&now),
        Some(page.total),
        &links,
    );
    for version in &page.versions {
        let full_url = resource_url(&req.base, version);
        let request_url = match version.method {
            Method::Post => version.resource_type.clone(),
            _ => format!("{}/{}", version.resource_type, version.id),
        };
        let status = match version.method {
            Method::Post => "201 Created",
            Method::Delete => "204 No Content",
            Method::Put | Method::Patch if version.version_id == 1 => "201 Created",
            _ => "200 OK",
        };
        let request = json!({"method": version.method.as_str(), "url": request_url});
        let response = json!({"status": status, "etag": etag(version.version_id), "lastModified": version.last_updated.to_fhir()});
        writer.entry(EntryParts {
            full_url: Some(&full_url),
            resource: (!version.deleted).then_some(version.json.as_ref()),
            search: None,
            request: Some(&request),
            response: Some(&response),
        });
    }
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, FHIR_JSON)
        .body(Body::from(writer.finish()))
        .unwrap_or_default())
}

/// Percent-encodes a query component.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b'|' | b',')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
