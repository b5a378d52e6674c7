//! Implements the FHIR [create interaction](https://hl7.org/fhir/R4/http.html#create), conditional
//! with `If-None-Exist`.

use axum::extract::{Path, State};
use axum::response::Response;

use crate::AppState;
use crate::body::RawBody;
use crate::error::ApiError;
use crate::request::FhirRequest;
use crate::response::write_response;

/// `POST [base]/[type]`.
pub async fn create(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let if_none_exist = match req.headers.get("if-none-exist") {
        Some(value) => {
            let query = value
                .to_str()
                .unwrap_or("")
                .trim_start_matches(&format!("{type_name}?")[..])
                .trim_start_matches('?')
                .to_owned();
            Some(super::condition(resource_type, &query)?)
        }
        None => None,
    };
    let body = req.parse_body(&body, false)?;
    let outcome = state
        .engine
        .create(&req.ctx, resource_type, body, if_none_exist)
        .await?;
    tracing::info!(resource.type = %outcome.resource.resource_type, resource.id = %outcome.resource.id, "create {:?}", outcome.status);
    Ok(write_response(&req, &outcome))
}
