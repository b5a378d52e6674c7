//! Implements the FHIR [search interaction](https://hl7.org/fhir/R4/search.html): type search by
//! GET and by POST `_search` (form body), system search (`/r4?_type=…`), and Patient compartment
//! search (`/r4/Patient/{id}/Observation?…`).
//!
//! Parameters are parsed by `hale-search`, run by the engine, and the matches' stored bytes are
//! spliced into a `searchset` Bundle. Links are absolute; `next` and `previous` carry a signed
//! cursor ([`crate::cursor`]) and repeat the other parameters, so following them is a plain GET
//! on any process of the server.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use hale_engine::{PageSpec, SearchResult};
use hale_fhir::outcome::{BundleWriter, EntryParts, Issue, IssueType, Severity};
use hale_search::query::{
    Criterion, ParseOptions, SearchRequest, Summary, form_pairs, parse_search,
};
use hale_store::StoredResource;
use serde_json::{Value, json};

use crate::AppState;
use crate::body::RawBody;
use crate::cursor::Cursor;
use crate::error::ApiError;
use crate::interaction::history::encode;
use crate::negotiate::FHIR_JSON;
use crate::request::FhirRequest;
use crate::response::resource_url;

/// The parameter that carries the paging cursor in `next` and `previous` links.
const CURSOR: &str = "_cursor";

/// `GET [base]/[type]`.
pub async fn search_type(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let path = format!("{}/{}", req.base, resource_type.as_str());
    let pairs = req.params.clone();
    search(&state, &req, resource_type.as_str(), pairs, None, path).await
}

/// `POST [base]/[type]/_search` with an `application/x-www-form-urlencoded` body.
pub async fn search_type_post(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, type_name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let resource_type = super::resource_type(&req, &type_name)?;
    let path = format!("{}/{}", req.base, resource_type.as_str());
    let pairs = post_pairs(&req, &body)?;
    search(&state, &req, resource_type.as_str(), pairs, None, path).await
}

/// `GET [base]?_type=…`: a search over every type, or the types of `_type`.
pub async fn search_system(
    State(state): State<AppState>,
    req: FhirRequest,
) -> Result<Response, ApiError> {
    let path = req.base.clone();
    let pairs = req.params.clone();
    search(&state, &req, "Resource", pairs, None, path).await
}

/// `POST [base]/_search`.
pub async fn search_system_post(
    State(state): State<AppState>,
    req: FhirRequest,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let path = req.base.clone();
    let pairs = post_pairs(&req, &body)?;
    search(&state, &req, "Resource", pairs, None, path).await
}

/// `GET [base]/Patient/[id]/[type]`: a search within one Patient's compartment.
pub async fn search_compartment(
    State(state): State<AppState>,
    req: FhirRequest,
    Path((_, compartment, id, type_name)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let compartment_type = super::resource_type(&req, &compartment)?;
    if compartment_type.as_str() != "Patient" {
        return Err(ApiError::bad_request(
            IssueType::NotSupported,
            format!(
                "compartment search is supported for the Patient compartment, not {}",
                compartment_type.as_str()
            ),
        ));
    }
    let id = super::resource_id(&id)?;
    let resource_type = super::resource_type(&req, &type_name)?;
    let path = format!(
        "{}/Patient/{}/{}",
        req.base,
        id.as_str(),
        resource_type.as_str()
    );
    let pairs = req.params.clone();
    let compartment = Criterion::Compartment {
        patient_id: id.as_str().to_owned(),
    };
    search(
        &state,
        &req,
        resource_type.as_str(),
        pairs,
        Some(compartment),
        path,
    )
    .await
}

/// The parameters of a POST search: those of the URL, then those of the form body.
fn post_pairs(req: &FhirRequest, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let form = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form && !body.is_empty() {
        return Err(ApiError::UnsupportedMediaType(
            req.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
        ));
    }
    let body = std::str::from_utf8(body).map_err(|_| {
        ApiError::bad_request(IssueType::Invalid, "the search form body is not UTF-8")
    })?;
    let mut pairs = req.params.clone();
    pairs.extend(form_pairs(body));
    Ok(pairs)
}

async fn search(
    state: &AppState,
    req: &FhirRequest,
    resource_type: &'static str,
    pairs: Vec<(String, String)>,
    compartment: Option<Criterion>,
    path: String,
) -> Result<Response, ApiError> {
    let mut request = parse_search(resource_type, &pairs, &parse_options(state, req))?;
    if let Some(compartment) = compartment {
        request.query.criteria.push(compartment);
    }
    let paging = Paging::read(state, &pairs, &request, state.config.max_count)?;
    let result = state
        .engine
        .search(&req.ctx, &request, &paging.spec)
        .await?;
    let links = paging.links(state, &path, &pairs, &result);
    Ok(render(req, &request, &result, &links))
}

/// How a request's search parameters are read.
pub(crate) fn parse_options(state: &AppState, req: &FhirRequest) -> ParseOptions {
    ParseOptions {
        strict: req.strict,
        // Either prefix names this server, whichever the request used.
        base_urls: ["", "/fhir"]
            .iter()
            .map(|prefix| {
                format!(
                    "{}{prefix}/{}",
                    state.config.public_url,
                    req.ctx.fhir_version.as_str()
                )
            })
            .collect(),
        now: crate::response::now().0,
    }
}

/// Which page a search-like request asks for: its [`PageSpec`], the cursor it followed, and the
/// parameters its links repeat.
pub(crate) struct Paging {
    pub(crate) spec: PageSpec,
    cursor: Option<Cursor>,
    /// Every parameter but the cursor and the offset, which the cursor replaces; the cursor is
    /// signed together with them.
    kept: String,
}

impl Paging {
    /// Reads `_count` (the server's default, at most `max_count`), `_skip` and `_cursor`.
    pub(crate) fn read(
        state: &AppState,
        pairs: &[(String, String)],
        request: &SearchRequest,
        max_count: usize,
    ) -> Result<Self, ApiError> {
        let config = &state.config;
        let count = request.count.unwrap_or(config.default_count).min(max_count);
        let skip = request.skip.unwrap_or(0);
        if skip > config.max_skip {
            return Err(ApiError::bad_request(
                IssueType::Invalid,
                format!(
                    "_skip={skip} is beyond the largest offset this server pages to ({}); follow the next links instead",
                    config.max_skip
                ),
            ));
        }
        let kept: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k != CURSOR && k != "_skip")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let kept = kept.join("&");
        let cursor = pairs
            .iter()
            .find(|(k, _)| k == CURSOR)
            .map(|(_, text)| {
                config.cursor_key.decode(text, &kept).ok_or_else(|| {
                    ApiError::bad_request(
                        IssueType::Invalid,
                        "_cursor is not a paging cursor this server issued for this search",
                    )
                })
            })
            .transpose()?;
        let spec = match &cursor {
            None => PageSpec {
                count,
                skip,
                max_included: config.max_included,
                ..PageSpec::default()
            },
            Some(cursor) => PageSpec {
                count,
                skip: 0,
                after: (!cursor.backwards).then(|| cursor.position.clone()),
                before: cursor.backwards.then(|| cursor.position.clone()),
                horizon: Some(cursor.horizon),
                known_total: cursor.total,
                max_included: config.max_included,
            },
        };
        Ok(Paging { spec, cursor, kept })
    }

    /// The page's links.
    pub(crate) fn links(
        &self,
        state: &AppState,
        path: &str,
        pairs: &[(String, String)],
        result: &SearchResult,
    ) -> Vec<(&'static str, String)> {
        links(state, path, pairs, &self.kept, result, self.cursor.as_ref())
    }
}

/// `self`, `first`, and `next` / `previous` where those pages exist.
fn links(
    state: &AppState,
    path: &str,
    pairs: &[(String, String)],
    kept: &str,
    result: &SearchResult,
    cursor: Option<&Cursor>,
) -> Vec<(&'static str, String)> {
    let with = |query: &str| {
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    };
    let all: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let mut links = vec![("self", with(&all.join("&"))), ("first", with(kept))];
    let total = cursor.and_then(|c| c.total).or(result.total);
    let page_link = |backwards: bool, hit: &hale_store::Hit| {
        let text = state.config.cursor_key.encode(
            &Cursor {
                backwards,
                position: hit.position.clone(),
                horizon: result.horizon,
                total,
            },
            kept,
        );
        let sep = if kept.is_empty() { "" } else { "&" };
        with(&format!("{kept}{sep}{CURSOR}={}", encode(&text)))
    };
    if result.has_previous
        && let Some(first) = result.matches.first()
    {
        links.push(("previous", page_link(true, first)));
    }
    if result.has_next
        && let Some(last) = result.matches.last()
    {
        links.push(("next", page_link(false, last)));
    }
    links
}

pub(crate) fn render(
    req: &FhirRequest,
    request: &SearchRequest,
    result: &SearchResult,
    links: &[(&'static str, String)],
) -> Response {
    let now = crate::response::now().to_fhir();
    let mut writer = BundleWriter::new(
        &crate::error::outcome_id(),
        "searchset",
        Some(&now),
        result.total,
        links,
    );
    let matched = json!({"mode": "match"});
    let included = json!({"mode": "include"});
    let entries = result
        .matches
        .iter()
        .map(|hit| (&hit.resource, &matched))
        .chain(result.included.iter().map(|r| (r, &included)));
    for (resource, mode) in entries {
        let full_url = resource_url(&req.base, resource);
        let shaped = shape(request, resource);
        writer.entry(EntryParts {
            full_url: Some(&full_url),
            resource: Some(shaped.as_deref().unwrap_or(resource.json.as_ref())),
            search: Some(mode),
            request: None,
            response: None,
        });
    }
    if !request.ignored.is_empty() {
        let issues: Vec<Issue> = request
            .ignored
            .iter()
            .map(|ignored| Issue {
                severity: Severity::Warning,
                code: IssueType::NotSupported,
                text: format!(
                    "the parameter {:?} was ignored: {}",
                    ignored.param, ignored.reason
                ),
                expression: Vec::new(),
            })
            .collect();
        let outcome =
            hale_fhir::outcome::operation_outcome(&crate::error::outcome_id(), &issues).to_string();
        writer.entry(EntryParts {
            full_url: None,
            resource: Some(outcome.as_bytes()),
            search: Some(&json!({"mode": "outcome"})),
            request: None,
            response: None,
        });
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, FHIR_JSON)
        .body(Body::from(writer.finish()))
        .unwrap_or_default()
}

/// The resource reshaped by `_summary` or `_elements`, or `None` to serve the stored bytes.
fn shape(request: &SearchRequest, resource: &StoredResource) -> Option<Vec<u8>> {
    let summary = request
        .summary
        .filter(|s| !matches!(s, Summary::False | Summary::Count));
    if summary.is_none() && request.elements.is_empty() {
        return None;
    }
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&resource.json) else {
        return None;
    };
    if let Some(summary) = summary {
        hale_fhir::summary::summarize(&mut object, summary);
    }
    if !request.elements.is_empty() {
        hale_fhir::summary::select_elements(&mut object, &request.elements);
    }
    serde_json::to_vec(&Value::Object(object)).ok()
}
