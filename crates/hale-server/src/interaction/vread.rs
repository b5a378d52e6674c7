//! Implements the FHIR [vread interaction](https://hl7.org/fhir/R4/http.html#vread).

use axum::extract::{Path, State};
use axum::response::Response;
use hale_fhir::VersionId;
use hale_fhir::outcome::IssueType;

use crate::AppState;
use crate::error::ApiError;
use crate::request::FhirRequest;
use crate::response::read_response;

/// `GET [base]/[type]/[id]/_history/[vid]`.
pub async fn vread(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name, id, vid)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let id = super::resource_id(&id)?;
    let version_id = VersionId::parse(&vid)
        .map_err(|e| ApiError::bad_request(IssueType::Value, e.to_string()))?;
    let resource = state
        .engine
        .vread(&req.ctx, resource_type, &id, version_id)
        .await?;
    Ok(read_response(&resource))
}
