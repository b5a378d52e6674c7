//! Implements the FHIR [patch interaction](https://hl7.org/fhir/R4/http.html#patch) with
//! [JSON Patch](https://datatracker.ietf.org/doc/html/rfc6902).

use axum::extract::{Path, State};
use axum::response::Response;
use hale_engine::Preconditions;

use crate::AppState;
use crate::body::RawBody;
use crate::error::ApiError;
use crate::request::FhirRequest;
use crate::response::write_response;

/// `PATCH [base]/[type]/[id]` with `Content-Type: application/json-patch+json`.
pub async fn patch(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name, id)): Path<(String, String, String)>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let id = super::resource_id(&id)?;
    let preconditions = Preconditions {
        if_match: req.if_match()?,
    };
    let body = req.parse_body(&body, true)?;
    let outcome = state
        .engine
        .patch(&req.ctx, resource_type, id, body, preconditions)
        .await?;
    Ok(write_response(&req, &outcome))
}
