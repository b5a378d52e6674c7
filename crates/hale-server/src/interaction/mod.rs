//! One module per [FHIR RESTful interaction](https://hl7.org/fhir/R4/http.html). Handlers
//! extract, call one engine function and render; the FHIR rules live in `hale-engine`.

pub mod capabilities;
pub mod create;
pub mod delete;
pub mod everything;
pub mod export;
pub mod history;
pub mod patch;
pub mod permission;
pub mod read;
pub mod search;
pub mod smart;
pub mod transaction;
pub mod update;
pub mod vread;

use hale_fhir::outcome::IssueType;
use hale_fhir::{ResourceId, ResourceType};
use hale_search::query::SearchQuery;

use crate::error::ApiError;
use crate::request::FhirRequest;

/// Parses the resource type of the path.
pub(crate) fn resource_type(req: &FhirRequest, name: &str) -> Result<ResourceType, ApiError> {
    ResourceType::parse(req.ctx.fhir_version, name)
        .map_err(|_| ApiError::UnknownPath(format!("{}/{name}", req.base)))
}

/// Parses the id of the path.
pub(crate) fn resource_id(id: &str) -> Result<ResourceId, ApiError> {
    ResourceId::parse(id).map_err(|e| ApiError::bad_request(IssueType::Value, e.to_string()))
}

/// The request's query as the condition of a conditional interaction.
pub(crate) fn condition(resource_type: ResourceType, query: &str) -> Result<SearchQuery, ApiError> {
    Ok(hale_search::query::parse_conditional(
        resource_type.as_str(),
        query,
    )?)
}
