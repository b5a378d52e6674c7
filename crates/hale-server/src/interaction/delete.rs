//! Implements the FHIR [delete interaction](https://hl7.org/fhir/R4/http.html#delete) and
//! [conditional delete](https://hl7.org/fhir/R4/http.html#cdelete) (single match).

use axum::extract::{Path, State};
use axum::response::Response;
use hale_engine::Preconditions;

use crate::AppState;
use crate::error::ApiError;
use crate::request::FhirRequest;
use crate::response::delete_response;

/// `DELETE [base]/[type]/[id]`.
pub async fn delete(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let id = super::resource_id(&id)?;
    let preconditions = Preconditions {
        if_match: req.if_match()?,
    };
    let outcome = state
        .engine
        .delete(&req.ctx, resource_type, id, preconditions)
        .await?;
    Ok(delete_response(Some(&outcome)))
}

/// `DELETE [base]/[type]?[search parameters]`.
pub async fn conditional_delete(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let query = super::condition(resource_type, &req.raw_query)?;
    let outcome = state.engine.conditional_delete(&req.ctx, query).await?;
    Ok(delete_response(outcome.as_ref()))
}
