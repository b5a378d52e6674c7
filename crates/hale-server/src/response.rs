//! Rendering stored resources and write outcomes: bytes go out as stored, headers come from columns.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hale_engine::{WriteOutcome, WriteStatus};
use hale_fhir::outcome::{Issue, IssueType};
use hale_store::StoredResource;

use crate::error::outcome_response;
use crate::negotiate::FHIR_JSON;
use crate::request::{FhirRequest, PreferReturn};

/// `W/"3"`.
pub fn etag(version_id: u64) -> String {
    format!("W/\"{version_id}\"")
}

/// The absolute URL of a resource, `entry.fullUrl`: `{base}/{type}/{id}`.
pub fn resource_url(base: &str, resource: &StoredResource) -> String {
    format!("{base}/{}/{}", resource.resource_type, resource.id)
}

/// The absolute URL of a version: `{base}/{type}/{id}/_history/{vid}`.
pub fn version_url(base: &str, resource: &StoredResource) -> String {
    format!(
        "{base}/{}/{}/_history/{}",
        resource.resource_type, resource.id, resource.version_id
    )
}

fn with_version_headers(mut response: Response, resource: &StoredResource) -> Response {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag(resource.version_id)) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&resource.last_updated.to_http_date()) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    response
}

/// The stored bytes as a 200 response (read, vread).
pub fn read_response(resource: &StoredResource) -> Response {
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, FHIR_JSON)
        .body(Body::from(resource.json.clone()))
        .unwrap_or_default();
    with_version_headers(response, resource)
}

/// The answer to a create, update or patch, honouring `Prefer: return`.
pub fn write_response(req: &FhirRequest, outcome: &WriteOutcome) -> Response {
    let resource = &outcome.resource;
    let status = match outcome.status {
        WriteStatus::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    let mut response = match req.prefer {
        PreferReturn::Representation => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, FHIR_JSON)
            .body(Body::from(resource.json.clone()))
            .unwrap_or_default(),
        PreferReturn::Minimal => Response::builder()
            .status(status)
            .body(Body::empty())
            .unwrap_or_default(),
        PreferReturn::OperationOutcome => {
            let text = match outcome.status {
                WriteStatus::Created => format!(
                    "created {}/{} version {}",
                    resource.resource_type, resource.id, resource.version_id
                ),
                WriteStatus::Existing => format!(
                    "{}/{} already exists and matches the condition; nothing was created",
                    resource.resource_type, resource.id
                ),
                _ => format!(
                    "updated {}/{} to version {}",
                    resource.resource_type, resource.id, resource.version_id
                ),
            };
            outcome_response(
                status,
                &[Issue::information(IssueType::Informational, text)],
            )
        }
    };
    if let Ok(location) = HeaderValue::from_str(&version_url(&req.base, resource)) {
        response
            .headers_mut()
            .insert(header::LOCATION, location.clone());
        response
            .headers_mut()
            .insert(header::CONTENT_LOCATION, location);
    }
    with_version_headers(response, resource)
}

/// The answer to a delete: 1up's OperationOutcome, with the text its clients know.
pub fn delete_response(outcome: Option<&WriteOutcome>) -> Response {
    match outcome {
        Some(outcome) => {
            let r = &outcome.resource;
            let text = format!(
                "this resource with id {} and version {} has been deleted",
                r.id, r.version_id
            );
            let response = outcome_response(
                StatusCode::OK,
                &[Issue::information(IssueType::Value, text)],
            );
            with_version_headers(response, r)
        }
        None => outcome_response(
            StatusCode::OK,
            &[Issue::information(
                IssueType::NotFound,
                "no resource matched the condition; nothing was deleted",
            )],
        ),
    }
}

/// The current time, for Bundle timestamps and the `ap` search prefix.
pub fn now() -> hale_fhir::Instant {
    hale_fhir::Instant(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64),
    )
}
