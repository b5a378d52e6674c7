//! [Patient `$everything`](https://hl7.org/fhir/R4/patient-operation-everything.html) (lower case
//! only, as 1up's): `GET [base]/Patient/[id]/$everything` pages through one Patient's record,
//! `GET [base]/Patient/$everything` through the records of every Patient the principal may see,
//! and `DELETE [base]/Patient/[id]/$everything` erases a record.
//!
//! Pages are `searchset` Bundles like a search's: `_count` (up to
//! [`HttpConfig::max_everything_count`](crate::config::HttpConfig)), `_skip`, `_total`,
//! `_summary`, `_elements`, and absolute `next` links with a signed cursor.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use hale_engine::EverythingParams;
use hale_fhir::ResourceId;
use hale_fhir::outcome::{Issue, IssueType};
use hale_search::query::{Summary, TotalMode, parse_search};

use crate::AppState;
use crate::error::{ApiError, outcome_response};
use crate::interaction::search::{Paging, parse_options, render};
use crate::request::FhirRequest;

/// `GET [base]/Patient/[id]/$everything`.
pub async fn everything(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = super::resource_id(&id)?;
    let path = format!("{}/Patient/{}/$everything", req.base, id.as_str());
    page(&state, &req, Some(id), path).await
}

/// `GET [base]/Patient/$everything`.
pub async fn everything_type(
    State(state): State<AppState>,
    req: FhirRequest,
) -> Result<Response, ApiError> {
    let path = format!("{}/Patient/$everything", req.base);
    page(&state, &req, None, path).await
}

/// `DELETE [base]/Patient/[id]/$everything`: 200 and the contract's OperationOutcome.
pub async fn erase(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = super::resource_id(&id)?;
    let text = format!(
        "all resources for patient {} have been deleted",
        id.as_str()
    );
    state.engine.erase_record(&req.ctx, id).await?;
    Ok(outcome_response(
        StatusCode::OK,
        &[Issue::information(IssueType::Informational, text)],
    ))
}

async fn page(
    state: &AppState,
    req: &FhirRequest,
    patient: Option<ResourceId>,
    path: String,
) -> Result<Response, ApiError> {
    let pairs = &req.params;
    let (own, rest): (Vec<_>, Vec<_>) = pairs
        .iter()
        .cloned()
        .partition(|(name, _)| EverythingParams::reads(name));
    let params = EverythingParams::parse(&own)?;
    // Paging, `_total`, `_summary` and `_elements` are read as a search reads them; a search
    // parameter has no meaning here.
    let request = parse_search("Patient", &rest, &parse_options(state, req))?;
    if !request.query.criteria.is_empty()
        || !request.sort.is_empty()
        || !request.includes.is_empty()
        || !request.revincludes.is_empty()
    {
        let names: Vec<&str> = rest
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !name.starts_with('_'))
            .collect();
        return Err(ApiError::bad_request(
            IssueType::NotSupported,
            format!(
                "$everything takes _type, _since, start, end, _count, _skip, _total, _summary and _elements, not {}",
                if names.is_empty() {
                    "_sort, _include or _revinclude".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
    }
    let mut paging = Paging::read(state, pairs, &request, state.config.max_everything_count)?;
    if request.summary == Some(Summary::Count) {
        paging.spec.count = 0;
    }
    let count_total = request.total != Some(TotalMode::None);
    let result = state
        .engine
        .everything(
            &req.ctx,
            patient.as_ref(),
            &params,
            &paging.spec,
            count_total,
        )
        .await?;
    let links = paging.links(state, &path, pairs, &result);
    Ok(render(req, &request, &result, &links))
}
