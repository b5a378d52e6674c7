//! Implements the FHIR [batch and transaction interactions](https://hl7.org/fhir/R4/http.html#transaction).

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use hale_engine::WriteStatus;
use hale_engine::bundle::{BundleKind, EntryOutcome};
use hale_fhir::outcome::{BundleWriter, EntryParts, operation_outcome};
use serde_json::json;

use crate::AppState;
use crate::body::RawBody;
use crate::error::{ApiError, engine_status, outcome_id};
use crate::negotiate::FHIR_JSON;
use crate::request::{FhirRequest, PreferReturn};
use crate::response::{etag, resource_url, version_url};

/// `POST [base]` with a Bundle of type `batch` or `transaction`.
pub async fn transaction(
    State(state): State<AppState>,
    req: FhirRequest,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = req.parse_body(&body, false)?;
    let response = state.engine.bundle(&req.ctx, body).await?;
    let bundle_type = match response.kind {
        BundleKind::Batch => "batch-response",
        BundleKind::Transaction => "transaction-response",
    };
    let mut writer = BundleWriter::new(&outcome_id(), bundle_type, None, None, &[]);
    for outcome in &response.entries {
        // Each entry has a response; writes and reads also name their resource.
        let (resource, with_body, entry_response) = match outcome {
            EntryOutcome::Write(write) => {
                let r = &write.resource;
                let status = match write.status {
                    WriteStatus::Created => "201 Created",
                    WriteStatus::Deleted | WriteStatus::NothingToDelete => "204 No Content",
                    WriteStatus::Updated | WriteStatus::Existing => "200 OK",
                };
                let with_body = !r.deleted && req.prefer == PreferReturn::Representation;
                let entry_response = json!({
                    "status": status,
                    "location": version_url(&req.base, r),
                    "etag": etag(r.version_id),
                    "lastModified": r.last_updated.to_fhir(),
                });
                (Some(r), with_body, entry_response)
            }
            EntryOutcome::Read(r) => {
                let entry_response = json!({"status": "200 OK", "etag": etag(r.version_id), "lastModified": r.last_updated.to_fhir()});
                (Some(r), true, entry_response)
            }
            EntryOutcome::NoMatch => (None, false, json!({"status": "204 No Content"})),
            EntryOutcome::Error(error) => {
                let (status, issues) = engine_status(error);
                let entry_response = json!({
                    "status": format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")),
                    "outcome": operation_outcome(&outcome_id(), &issues),
                });
                (None, false, entry_response)
            }
        };
        let full_url = resource.map(|r| resource_url(&req.base, r));
        writer.entry(EntryParts {
            full_url: full_url.as_deref(),
            resource: resource.filter(|_| with_body).map(|r| r.json.as_ref()),
            search: None,
            request: None,
            response: Some(&entry_response),
        });
    }
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, FHIR_JSON)
        .body(Body::from(writer.finish()))
        .unwrap_or_default())
}
