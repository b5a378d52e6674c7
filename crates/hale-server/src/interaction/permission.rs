//! `PUT` and `DELETE /{ver}/Patient/{id}/_permission/{oneup_user_id}`: a user grants (revokes)
//! another user of the same app read access to its record of one Patient: the Patient and the
//! resources of its compartment that the granting user owns.
//!
//! 1up's SDK and docs send the literal id `patientid` (contract §15), which shares everything
//! the caller owns; Hale keeps that meaning so those clients work unchanged.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use hale_auth::{AuthError, Principal};
use hale_engine::EngineError;
use hale_fhir::outcome::{Issue, IssueType};
use hale_store::Scope;

use crate::AppState;
use crate::error::{ApiError, outcome_response};
use crate::request::FhirRequest;

/// The Patient id that 1up clients send to share everything they own.
const ALL_RECORDS: &str = "patientid";

/// `PUT [base]/Patient/[id]/_permission/[oneup_user_id]`.
pub async fn grant(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name, id, user)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    set(state, req, type_name, id, user, true).await
}

/// `DELETE [base]/Patient/[id]/_permission/[oneup_user_id]`.
pub async fn revoke(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name, id, user)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    set(state, req, type_name, id, user, false).await
}

async fn set(
    state: AppState,
    req: FhirRequest,
    type_name: String,
    id: String,
    grantee: String,
    granted: bool,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    if resource_type.as_str() != "Patient" {
        return Err(ApiError::UnknownPath(format!(
            "{}/{type_name}/{id}/_permission/{grantee}",
            req.base
        )));
    }
    let grantee: i64 = grantee.parse().map_err(|_| {
        ApiError::bad_request(
            IssueType::Value,
            "the oneup_user_id in the path must be an integer",
        )
    })?;
    let Scope::User { app, user, .. } = req.ctx.scope else {
        return Err(AuthError::Forbidden(
            "only a user's own credentials can share its records".into(),
        )
        .into());
    };
    let patient = if id == ALL_RECORDS {
        None
    } else {
        // Only the owner of a Patient shares it; another owner's Patient is as unknown as a
        // missing one.
        let id = super::resource_id(&id)?;
        match state.engine.read(&req.ctx, resource_type, &id).await {
            Ok(patient) if !req.ctx.scope.may_write(patient.owner) => {
                return Err(
                    AuthError::Forbidden(format!("Patient/{id} is not yours to share")).into(),
                );
            }
            Ok(_) => {}
            // A grant covers the Patient's compartment, which outlives the Patient, so a grant
            // must stay revocable after the Patient is deleted. The read is scoped: `Gone` means
            // the caller could see the Patient, and revoking only ever removes its own grants.
            Err(EngineError::Gone { .. }) if !granted => {}
            Err(e) => return Err(e.into()),
        }
        Some(id.to_string())
    };
    let principal = Principal::User { app, user };
    let what = patient.as_deref().map_or_else(
        || "all your records".to_owned(),
        |p| format!("the record of Patient/{p}"),
    );
    let result = state
        .identity
        .set_grant(
            &principal,
            req.ctx.fhir_version.as_str(),
            patient,
            grantee,
            granted,
        )
        .await;
    let changed = match result {
        Ok(changed) => changed,
        Err(AuthError::UserNotFound) => {
            return Err(ApiError::Engine(EngineError::NotFound {
                resource_type: "user".into(),
                id: grantee.to_string(),
            }));
        }
        Err(AuthError::InvalidRequest(text)) => {
            return Err(ApiError::bad_request(IssueType::Invalid, text));
        }
        Err(e) => return Err(e.into()),
    };
    let text = match (granted, changed) {
        (true, true) => format!("user {grantee} may now read {what}"),
        (true, false) => format!("user {grantee} could already read {what}"),
        (false, true) => format!("user {grantee} may no longer read {what}"),
        (false, false) => format!("user {grantee} had no access to {what}"),
    };
    Ok(outcome_response(
        StatusCode::OK,
        &[Issue::information(IssueType::Informational, text)],
    ))
}
