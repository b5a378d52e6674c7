//! The HTTP side of asynchronous export: [`submit`] for kick-off handlers, and the status
//! and file URLs of the [Bulk Data IG](https://hl7.org/fhir/uv/bulkdata/export.html).
//!
//! - `GET /bulk-data/{ver}/$export/job/{id}`: 202 with `X-Progress` and `Retry-After` while the
//!   job waits or runs; 200 with the manifest (`application/json`) and `Expires` once complete;
//!   400 with the job's OperationOutcome when it could not run at all (the request cannot be
//!   honoured, see [`super::jobs`]). What went wrong while exporting is never a failed status:
//!   it is in the manifest's `error` files.
//! - `DELETE` on the same URL: 202 with an OperationOutcome; the job is cancelled and its files
//!   removed, and the status URL is 404 from then on.
//! - `GET /bulk-data/{ver}/$export/file/{id}/{name}`: the NDJSON (`application/fhir+ndjson`),
//!   streamed from object storage, for files of a complete job's manifest only.
//!
//! All take the credentials every FHIR request takes, and answer 404 to any principal but the
//! job's. They are served under `/fhir` too, and the URLs they write echo the prefix used. Their
//! paths do not start with the FHIR version, so they read the credentials themselves rather than
//! through [`FhirRequest`] (which would also refuse the `Accept: application/fhir+ndjson` of a
//! download).

use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hale_engine::EngineError;
use hale_fhir::FhirVersion;
use hale_fhir::outcome::{Issue, IssueType};
use hale_store::jobs::{Created, ExportJob, JobOwner, JobState, NewJob};
use serde_json::{Value, json};

use super::jobs::{ManifestFile, row};
use super::{Exports, job_principal_key, principal_app};
use crate::AppState;
use crate::error::{ApiError, outcome_response};
use crate::request::FhirRequest;

/// The media type of export files.
pub const NDJSON: &str = "application/fhir+ndjson";

/// Queues an export of the principal of `req`, with `request_url` (the kick-off URL, the
/// manifest's `request`) and `params_json` (what the runner will read), and answers the
/// kick-off: 202 with `Content-Location` (the status URL) and an OperationOutcome, or 429 with
/// `Retry-After` when the principal's app already has its allowance of jobs queued or running.
pub async fn submit(
    state: &AppState,
    req: &FhirRequest,
    request_url: String,
    params_json: String,
) -> Result<Response, ApiError> {
    let exports = state.exports.as_deref().ok_or_else(|| {
        EngineError::NotSupported(
            "asynchronous export (Prefer: respond-async) is not enabled on this server".into(),
        )
    })?;
    let scope = &req.ctx.scope;
    let fhir_version = req.ctx.fhir_version;
    let now = super::now();
    let job = NewJob {
        id: new_job_id(),
        owner: JobOwner {
            principal: job_principal_key(scope),
            app: principal_app(scope),
        },
        fhir_version,
        scope: scope.clone(),
        request: request_url,
        params: params_json,
        transaction_time: now,
        created: now,
    };
    let created = exports
        .jobs
        .create_job(job, exports.config.jobs_per_app)
        .await
        .map_err(EngineError::from)?;
    match created {
        Created::LimitReached { active } => {
            let retry_after = exports.config.limit_retry_after.as_secs().max(1);
            let text = format!(
                "this app already has {active} export jobs queued or running, as many as it may; \
                 retry after {retry_after} seconds, or cancel one"
            );
            let mut response = outcome_response(
                StatusCode::TOO_MANY_REQUESTS,
                &[Issue::error(IssueType::Throttled, text)],
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            Ok(response)
        }
        Created::Queued(job) => {
            exports.queued.notify_one();
            let prefix = if req
                .base
                .strip_prefix(state.config.public_url.as_str())
                .is_some_and(|path| path.starts_with("/fhir/"))
            {
                "/fhir"
            } else {
                ""
            };
            let location = format!(
                "{}{prefix}/bulk-data/{}/$export/job/{}",
                state.config.public_url,
                fhir_version.as_str(),
                job.id
            );
            tracing::info!(job.id = %job.id, "Queued export job {}", job.id);
            let text = format!("the export is queued; poll {location} for its status");
            let mut response = outcome_response(
                StatusCode::ACCEPTED,
                &[Issue::information(IssueType::Informational, text)],
            );
            if let Ok(value) = HeaderValue::from_str(&location) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LOCATION, value);
            }
            Ok(response)
        }
    }
}

/// `GET …/$export/job/{id}`: the job's status, or its manifest once complete.
pub async fn status(
    State(state): State<AppState>,
    Path((ver, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = Caller::of(&state, &ver, &uri, &headers).await?;
    let Some((exports, job)) = caller.job(&id).await? else {
        return Ok(not_found(format!("there is no export job {id}")));
    };
    let progress = match job.state {
        JobState::Queued => Some("queued".to_owned()),
        JobState::Running => Some(job.progress.clone().unwrap_or_else(|| "running".to_owned())),
        JobState::Complete | JobState::Failed | JobState::Cancelled => None,
    };
    if let Some(progress) = progress {
        let mut response = StatusCode::ACCEPTED.into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&progress) {
            headers.insert(HeaderName::from_static("x-progress"), value);
        }
        let retry_after = exports.config.poll_retry_after.as_secs().max(1);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return Ok(response);
    }
    if job.state == JobState::Failed {
        let outcome = job.error.as_deref().unwrap_or("");
        if serde_json::from_str::<Value>(outcome).is_ok() {
            return Ok(fhir_json(StatusCode::BAD_REQUEST, outcome.to_owned()));
        }
        return Err(stored_job_unreadable(&job));
    }
    let manifest = manifest(&job, &caller.export_url).ok_or_else(|| stored_job_unreadable(&job))?;
    let mut response = (StatusCode::OK, manifest.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(expires) = job.expires
        && let Ok(value) = HeaderValue::from_str(&expires.to_http_date())
    {
        headers.insert(header::EXPIRES, value);
    }
    Ok(response)
}

/// `DELETE …/$export/job/{id}`: cancels the job and removes its files.
pub async fn cancel(
    State(state): State<AppState>,
    Path((ver, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = Caller::of(&state, &ver, &uri, &headers).await?;
    let cancelled = match caller.exports {
        Some(exports) => exports
            .jobs
            .cancel_job(&id, &caller.principal, super::now())
            .await
            .map_err(EngineError::from)?
            .map(|_| exports),
        None => None,
    };
    let Some(exports) = cancelled else {
        return Ok(not_found(format!("there is no export job {id}")));
    };
    // A worker still running the job removes what it writes after this when its next heartbeat
    // is refused, and the sweeper removes the job with anything left.
    if let Err(e) = exports.files.remove_job(&id).await {
        tracing::warn!(job.id = %id, error = %e, "could not remove a cancelled export's files");
    }
    tracing::info!(job.id = %id, "Cancelled export job {id}");
    Ok(outcome_response(
        StatusCode::ACCEPTED,
        &[Issue::information(
            IssueType::Informational,
            format!("export job {id} is cancelled and its files removed"),
        )],
    ))
}

/// `GET …/$export/file/{id}/{name}`: one file of a complete job's manifest.
pub async fn download(
    State(state): State<AppState>,
    Path((ver, id, name)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = Caller::of(&state, &ver, &uri, &headers).await?;
    let no_file = || Ok(not_found(format!("there is no export file {name}")));
    let Some((exports, job)) = caller.job(&id).await? else {
        return no_file();
    };
    // Only what a manifest lists is served: a running job's files may be half written.
    let listed = job.state == JobState::Complete
        && [&job.output, &job.error]
            .into_iter()
            .flatten()
            .filter_map(|text| row::decode(text))
            .flatten()
            .any(|file| file.name == name);
    if !listed {
        return no_file();
    }
    let opened = exports.files.open(&id, &name).await.map_err(|e| {
        EngineError::Store(hale_store::StoreError::Backend(format!(
            "opening export file {id}/{name}: {e}"
        )))
    })?;
    let Some(file) = opened else {
        // Expired and swept between the lookup and the read.
        return no_file();
    };
    let mut response = Body::from_stream(file.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    Ok(response)
}

/// Who asks, and where their export URLs start.
struct Caller<'a> {
    exports: Option<&'a Exports>,
    principal: String,
    /// `{public_url}{prefix}/bulk-data/{ver}/$export`.
    export_url: String,
}

impl<'a> Caller<'a> {
    /// The principal of the request's credentials (a bearer token, `?access_token=`, or client
    /// headers), as every FHIR request reads them.
    async fn of(
        state: &'a AppState,
        ver: &str,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let fhir_version = FhirVersion::from_path_segment(ver)
            .map_err(|_| ApiError::UnknownPath(uri.path().to_owned()))?;
        let access_token = hale_search::query::form_pairs(uri.query().unwrap_or(""))
            .into_iter()
            .find(|(k, _)| k == crate::auth::ACCESS_TOKEN_PARAM)
            .map(|(_, v)| v);
        let ctx =
            crate::auth::context(state, headers, access_token.as_deref(), fhir_version).await?;
        let prefix = if uri.path().starts_with("/fhir/") {
            "/fhir"
        } else {
            ""
        };
        Ok(Caller {
            exports: state.exports.as_deref(),
            principal: job_principal_key(&ctx.scope),
            export_url: format!(
                "{}{prefix}/bulk-data/{}/$export",
                state.config.public_url,
                fhir_version.as_str()
            ),
        })
    }

    /// The caller's job `id`, if it has one (and export is set up).
    async fn job(&self, id: &str) -> Result<Option<(&'a Exports, ExportJob)>, ApiError> {
        let Some(exports) = self.exports else {
            return Ok(None);
        };
        let job = exports
            .jobs
            .job(id, &self.principal)
            .await
            .map_err(EngineError::from)?;
        Ok(job.map(|job| (exports, job)))
    }
}

/// The completion manifest of a complete job; `None` when its stored file lists do not read.
fn manifest(job: &ExportJob, export_url: &str) -> Option<Value> {
    let entries = |text: Option<&str>| -> Option<Vec<Value>> {
        let files: Vec<ManifestFile> = match text {
            Some(text) => row::decode(text)?,
            None => Vec::new(),
        };
        Some(
            files
                .into_iter()
                .map(|file| {
                    json!({
                        "type": file.resource_type,
                        "url": format!("{export_url}/file/{}/{}", job.id, file.name),
                        "count": file.count,
                    })
                })
                .collect(),
        )
    };
    Some(json!({
        "transactionTime": job.transaction_time.to_fhir(),
        "request": job.request,
        "requiresAccessToken": true,
        "output": entries(job.output.as_deref())?,
        "error": entries(job.error.as_deref())?,
    }))
}

fn stored_job_unreadable(job: &ExportJob) -> ApiError {
    EngineError::Store(hale_store::StoreError::Backend(format!(
        "export job {} has an unreadable outcome",
        job.id
    )))
    .into()
}

fn fhir_json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::negotiate::FHIR_JSON),
    );
    response
}

fn not_found(text: String) -> Response {
    outcome_response(
        StatusCode::NOT_FOUND,
        &[Issue::error(IssueType::NotFound, text)],
    )
}

/// A new job id: 128 random bits in hex.
fn new_job_id() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}
