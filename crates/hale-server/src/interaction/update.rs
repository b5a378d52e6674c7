//! Implements the FHIR [update interaction](https://hl7.org/fhir/R4/http.html#update), also as
//! create with a client-chosen id, and [conditional update](https://hl7.org/fhir/R4/http.html#cond-update).

use axum::extract::{Path, State};
use axum::response::Response;
use hale_engine::Preconditions;

use crate::AppState;
use crate::body::RawBody;
use crate::error::ApiError;
use crate::request::FhirRequest;
use crate::response::write_response;

/// `PUT [base]/[type]/[id]`.
pub async fn update(
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
    let body = req.parse_body(&body, false)?;
    let outcome = state
        .engine
        .update(&req.ctx, resource_type, id, body, preconditions)
        .await?;
    Ok(write_response(&req, &outcome))
}

/// `PUT [base]/[type]?[search parameters]`.
pub async fn conditional_update(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let query = super::condition(resource_type, &req.raw_query)?;
    let preconditions = Preconditions {
        if_match: req.if_match()?,
    };
    let body = req.parse_body(&body, false)?;
    let outcome = state
        .engine
        .conditional_update(&req.ctx, resource_type, query, body, preconditions)
        .await?;
    Ok(write_response(&req, &outcome))
}
