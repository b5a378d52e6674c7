//! Implements the FHIR [read interaction](https://hl7.org/fhir/R4/http.html#read).

use axum::extract::{Path, State};
use axum::response::Response;

use crate::AppState;
use crate::error::ApiError;
use crate::request::FhirRequest;
use crate::response::read_response;

/// `GET [base]/[type]/[id]`.
pub async fn read(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let id = super::resource_id(&id)?;
    let resource = state.engine.read(&req.ctx, resource_type, &id).await?;
    Ok(read_response(&resource))
}
