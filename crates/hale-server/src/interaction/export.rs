//! [Bulk Data `$export`](https://hl7.org/fhir/uv/bulkdata/export.html) kick-off and file
//! download.
//!
//! 1up's paths (`/bulk-data/{ver}/$export`, `/bulk-data/{ver}/Group/{id}/$export`, and the
//! gateway's `/v1/{customer}/bulk-export/bulk-data/{ver}/…`) answer at once with `200` and the
//! completed manifest, as 1up's do. Each `output` file URL is a signed token naming one slice of
//! the export ([`hale_engine::export::ExportSlice`]) and the principal it was issued to;
//! downloading it with the same credentials streams NDJSON from the database a page at a time,
//! so memory stays flat whatever the file's size and any process sharing the database serves it.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures::{StreamExt, TryStreamExt};
use hale_engine::export::{ExportLevel, ExportParams, ExportSlice};
use hale_engine::{Context, Engine, EngineError};
use hale_fhir::outcome::{Issue, IssueType, Severity};
use hale_store::Scope;
use hale_store::jobs::ExportJob;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::body::RawBody;
use crate::error::ApiError;
use crate::export::jobs::{JobError, JobFiles, JobOutput, JobRunner, ManifestFile};
use crate::request::FhirRequest;

/// Most resources read from the database per page while a file streams.
const PAGE: usize = 1000;

/// About how many bytes of JSON one page holds: resources run from under a kilobyte (an
/// Observation) to tens (a Provenance of a whole record), so the next page's size follows the
/// last one's, and a file of large resources streams in the memory of a file of small ones.
const PAGE_BYTES: usize = 2 * 1024 * 1024;

/// The first page's size, before the file's resources have a known size: small enough that 64
/// of the largest fit in a few megabytes.
const FIRST_PAGE: usize = 64;

/// What a file token signs, so that it names its export for one principal only.
const FILE_PURPOSE: &str = "bulk-export-file";

/// The NDJSON media type of export files.
pub const NDJSON: &str = "application/fhir+ndjson";

/// What a file URL's token holds.
#[derive(Debug, Serialize, Deserialize)]
struct FileToken {
    /// The principal the export was made for ([`principal_key`]).
    principal: String,
    /// The file: a slice of resources, or the warnings of the kick-off.
    file: FileContent,
}

#[derive(Debug, Serialize, Deserialize)]
enum FileContent {
    Resources(ExportSlice),
    Warnings(Vec<String>),
}

/// A key naming whom a scope belongs to (not what it may see now, which grants change): a file
/// issued to one principal is not found for another.
pub fn principal_key(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".to_owned(),
        Scope::App(app) => format!("app:{app}"),
        Scope::User { app, user, .. } => format!("user:{app}:{user}"),
    }
}

/// `GET|POST /bulk-data/{ver}/$export` and the gateway's
/// `/v1/{customer}/bulk-export/bulk-data/{ver}/$export`.
pub async fn one_up_system(
    State(state): State<AppState>,
    req: FhirRequest,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    kick_off(&state, &req, &body, ExportLevel::System, false).await
}

/// `GET|POST /bulk-data/{ver}/Group/{id}/$export` and the gateway's
/// `/v1/{customer}/bulk-export/bulk-data/{ver}/Group/{id}/$export`.
pub async fn one_up_group(
    State(state): State<AppState>,
    req: FhirRequest,
    Path(path): Path<HashMap<String, String>>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    kick_off(&state, &req, &body, group_level(&path)?, false).await
}

/// `GET|POST [base]/$export`.
pub async fn system(
    State(state): State<AppState>,
    req: FhirRequest,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    kick_off(&state, &req, &body, ExportLevel::System, true).await
}

/// `GET|POST [base]/Patient/$export`.
pub async fn patient(
    State(state): State<AppState>,
    req: FhirRequest,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    kick_off(&state, &req, &body, ExportLevel::Patient, true).await
}

/// `GET|POST [base]/Group/{id}/$export`.
pub async fn group(
    State(state): State<AppState>,
    req: FhirRequest,
    Path(path): Path<HashMap<String, String>>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    kick_off(&state, &req, &body, group_level(&path)?, true).await
}

/// The Group export of the path's `{id}`.
fn group_level(path: &HashMap<String, String>) -> Result<ExportLevel, ApiError> {
    let id = path.get("id").map(String::as_str).unwrap_or_default();
    Ok(ExportLevel::Group(
        super::resource_id(id)?.as_str().to_owned(),
    ))
}

/// Reads the parameters (query string, or a `Parameters` body on POST), then answers with the
/// manifest (1up's paths) or starts a job (`Prefer: respond-async`, which the standard paths
/// require).
async fn kick_off(
    state: &AppState,
    req: &FhirRequest,
    body: &[u8],
    level: ExportLevel,
    standard: bool,
) -> Result<Response, ApiError> {
    if standard && !req.respond_async {
        return Err(ApiError::bad_request(
            IssueType::Invalid,
            "$export here is asynchronous: send Prefer: respond-async",
        ));
    }
    let mut pairs = req.params.clone();
    if !body.is_empty() {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(IssueType::Invalid, format!("the kick-off body: {e}"))
        })?;
        pairs.extend(ExportParams::pairs_from_parameters(&value)?);
    }
    let params = ExportParams::parse(req.ctx.fhir_version, &pairs)?;
    if matches!(level, ExportLevel::System) && !params.patients.is_empty() {
        return Err(ApiError::bad_request(
            IssueType::Invalid,
            "patient applies to Patient and Group exports only",
        ));
    }
    let request_url = request_url(state, req);
    if req.respond_async {
        let horizon = state
            .engine
            .export_prepare(&req.ctx, &level, &params)
            .await?;
        let job = JobRequest {
            level,
            params,
            horizon,
        };
        let params_json = serde_json::to_string(&job)
            .map_err(|e| ApiError::Engine(EngineError::NotSupported(e.to_string())))?;
        return crate::export::status::submit(state, req, request_url, params_json).await;
    }
    let transaction_time = crate::response::now();
    let slices = state
        .engine
        .export_plan(
            &req.ctx,
            &level,
            &params,
            state.config.export_max_per_file,
            None,
        )
        .await?;
    let manifest = manifest(
        state,
        req,
        &request_url,
        transaction_time,
        &slices,
        &params.ignored,
    );
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(manifest.to_string()))
        .unwrap_or_default())
}

/// The kick-off's own URL, absolute, as the manifest's `request`.
fn request_url(state: &AppState, req: &FhirRequest) -> String {
    let path = req.path.as_str();
    if req.raw_query.is_empty() {
        format!("{}{path}", state.config.public_url)
    } else {
        format!("{}{path}?{}", state.config.public_url, req.raw_query)
    }
}

/// The completed manifest of an export whose files are `slices`, with the kick-off's warnings
/// as one OperationOutcome file in `error`.
pub fn manifest(
    state: &AppState,
    req: &FhirRequest,
    request_url: &str,
    transaction_time: hale_fhir::Instant,
    slices: &[ExportSlice],
    warnings: &[String],
) -> serde_json::Value {
    let principal = principal_key(&req.ctx.scope);
    let url = |resource_type: &str, file: FileContent| {
        let token = FileToken {
            principal: principal.clone(),
            file,
        };
        let payload = serde_json::to_vec(&token).unwrap_or_default();
        let signed = state.config.cursor_key.sign(&payload, FILE_PURPOSE);
        format!(
            "{}/bulk-data/{}/$export/{resource_type}/{signed}.ndjson",
            state.config.public_url,
            req.ctx.fhir_version.as_str()
        )
    };
    let output: Vec<serde_json::Value> = slices
        .iter()
        .map(|slice| {
            json!({
                "type": slice.resource_type,
                "url": url(&slice.resource_type, FileContent::Resources(slice.clone())),
                "count": slice.count,
            })
        })
        .collect();
    let error: Vec<serde_json::Value> = if warnings.is_empty() {
        Vec::new()
    } else {
        vec![json!({
            "type": "OperationOutcome",
            "url": url("OperationOutcome", FileContent::Warnings(warnings.to_vec())),
        })]
    };
    json!({
        "transactionTime": transaction_time.to_fhir(),
        "request": request_url,
        "requiresAccessToken": true,
        "output": output,
        "error": error,
    })
}

/// `GET /bulk-data/{ver}/$export/{type}/{token}.ndjson`: one file, streamed.
pub async fn file(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, resource_type, file)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    // A file that was never issued, was issued to another principal, or whose token was
    // changed is not found, and says nothing more.
    let not_found = || {
        ApiError::Engine(hale_engine::EngineError::NotFound {
            resource_type: "export file".into(),
            id: resource_type.clone(),
        })
    };
    let token = file.strip_suffix(".ndjson").unwrap_or(&file);
    let payload = state
        .config
        .cursor_key
        .verify(token, FILE_PURPOSE)
        .ok_or_else(not_found)?;
    let token: FileToken = serde_json::from_slice(&payload).map_err(|_| not_found())?;
    // Another principal's file is as unknown as one that never existed.
    if token.principal != principal_key(&req.ctx.scope) {
        return Err(not_found());
    }
    let body = match token.file {
        FileContent::Warnings(texts) => Body::from(warnings_ndjson(texts)),
        FileContent::Resources(slice) => {
            if slice.resource_type != resource_type {
                return Err(not_found());
            }
            let query = state.engine.export_query(&req.ctx, &slice).await?;
            let ndjson = pages(state.engine.clone(), req.ctx.clone(), slice, query)
                .map_ok(|(bytes, _)| bytes)
                .map_err(std::io::Error::other);
            Body::from_stream(read_ahead(ndjson))
        }
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, NDJSON)
        .body(body)
        .unwrap_or_default())
}

/// The NDJSON of a slice, a page at a time: each resource's stored bytes and a newline, with
/// the number of resources in the page.
fn pages(
    engine: Engine,
    ctx: Context,
    slice: ExportSlice,
    query: hale_search::query::SearchQuery,
) -> impl futures::Stream<Item = Result<(Bytes, u64), EngineError>> {
    futures::stream::try_unfold(Some((slice.after, FIRST_PAGE)), move |state| {
        let (engine, ctx, slice, query) =
            (engine.clone(), ctx.clone(), slice.clone(), query.clone());
        async move {
            let Some((after, limit)) = state else {
                return Ok(None);
            };
            let hits = engine
                .export_page(&ctx, &slice, &query, after, limit)
                .await?;
            let Some(last) = hits.last().map(|(row, _)| *row) else {
                return Ok(None);
            };
            let size: usize = hits.iter().map(|(_, json)| json.len() + 1).sum();
            let mut out = Vec::with_capacity(size);
            for (_, json) in &hits {
                out.extend_from_slice(json);
                out.push(b'\n');
            }
            let average = size / hits.len();
            let next_limit = (PAGE_BYTES / average.max(1)).clamp(1, PAGE);
            let next = (hits.len() == limit).then_some((last, next_limit));
            Ok(Some(((Bytes::from(out), hits.len() as u64), next)))
        }
    })
}

/// `stream`, read one item ahead on a task of its own: the database reads the next page while
/// the client receives this one, instead of the two taking turns. At most two pages wait beside
/// the one being sent. The task stops at the stream's end or when the client goes away (the
/// receiver is dropped and the send fails).
fn read_ahead<T: Send + 'static>(
    stream: impl futures::Stream<Item = T> + Send + 'static,
) -> impl futures::Stream<Item = T> {
    let (mut sender, receiver) = futures::channel::mpsc::channel(0);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if futures::SinkExt::send(&mut sender, item).await.is_err() {
                break;
            }
        }
    });
    receiver
}

/// An OperationOutcome line of warnings, for a kick-off's error file.
fn warnings_ndjson(texts: Vec<String>) -> String {
    let issues: Vec<Issue> = texts
        .into_iter()
        .map(|text| Issue {
            severity: Severity::Warning,
            code: IssueType::NotSupported,
            text,
            expression: Vec::new(),
        })
        .collect();
    let outcome = hale_fhir::outcome::operation_outcome(&crate::error::outcome_id(), &issues);
    format!("{outcome}\n")
}

/// What an export job's `params` hold: the kick-off's level and parameters, and the horizon that
/// pins what the export holds to what was there at the kick-off.
#[derive(Debug, Serialize, Deserialize)]
struct JobRequest {
    level: ExportLevel,
    params: ExportParams,
    horizon: i64,
}

/// Runs export jobs (`Prefer: respond-async`): the same plan and pages as the synchronous
/// export's files, written to the job's files one at a time.
pub struct ExportRunner {
    engine: Engine,
    max_per_file: usize,
}

impl ExportRunner {
    /// A runner over `engine` writing files of at most `max_per_file` resources.
    pub fn new(engine: Engine, max_per_file: usize) -> Self {
        ExportRunner {
            engine,
            max_per_file,
        }
    }
}

#[async_trait::async_trait]
impl JobRunner for ExportRunner {
    async fn run(&self, job: &ExportJob, files: &JobFiles) -> Result<JobOutput, JobError> {
        let request: JobRequest = serde_json::from_str(&job.params)
            .map_err(|e| JobError::Failed(format!("the job's parameters: {e}")))?;
        let ctx = Context::new(job.fhir_version, job.scope.clone());
        let slices = self
            .engine
            .export_plan(
                &ctx,
                &request.level,
                &request.params,
                self.max_per_file,
                Some(request.horizon),
            )
            .await
            .map_err(job_error)?;
        let mut output = Vec::new();
        // The files of one type share its query.
        let mut queries: HashMap<String, hale_search::query::SearchQuery> = HashMap::new();
        for (idx, slice) in slices.iter().enumerate() {
            files.check_cancelled()?;
            files.set_progress(format!("writing file {} of {}", idx + 1, slices.len()));
            // The same names on every attempt: a restarted job replaces what it wrote.
            let name = format!("{}-{idx:05}.ndjson", slice.resource_type);
            let query = match queries.get(&slice.resource_type) {
                Some(query) => query.clone(),
                None => {
                    let query = self
                        .engine
                        .export_query(&ctx, slice)
                        .await
                        .map_err(job_error)?;
                    queries.insert(slice.resource_type.clone(), query.clone());
                    query
                }
            };
            let mut writer = files.create(&name)?;
            let mut count = 0;
            let mut stream = std::pin::pin!(pages(
                self.engine.clone(),
                ctx.clone(),
                slice.clone(),
                query
            ));
            while let Some(page) = stream.next().await {
                let (bytes, n) = page.map_err(job_error)?;
                writer.write(bytes).await?;
                count += n;
            }
            writer.finish().await?;
            output.push(ManifestFile {
                resource_type: slice.resource_type.clone(),
                name,
                count,
            });
        }
        let mut error = Vec::new();
        if !request.params.ignored.is_empty() {
            let name = "warnings.ndjson".to_owned();
            let mut writer = files.create(&name)?;
            writer
                .write(Bytes::from(warnings_ndjson(request.params.ignored.clone())))
                .await?;
            writer.finish().await?;
            error.push(ManifestFile {
                resource_type: "OperationOutcome".into(),
                name,
                count: 1,
            });
        }
        Ok(JobOutput { output, error })
    }
}

/// A failed export: the database's failures are retried, anything else is the request's fault
/// (its Group is gone, say) and answers with the issues a synchronous export would have.
fn job_error(e: EngineError) -> JobError {
    match e {
        EngineError::Store(e) => JobError::Store(e),
        e => JobError::Invalid(crate::error::engine_status(&e).1),
    }
}
