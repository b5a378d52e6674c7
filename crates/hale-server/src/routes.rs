//! The FHIR interactions Hale serves, declared once as data. The router and the
//! CapabilityStatement are both built from [`INTERACTIONS`].

use std::collections::BTreeMap;

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodRouter, on};

use crate::AppState;
use crate::error::ApiError;
use crate::export::status as export_jobs;
use crate::interaction::{
    capabilities, create, delete, everything, export, history, patch, permission, read, search,
    smart, transaction, update, vread,
};

/// Where an interaction applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// On one resource.
    Instance,
    /// On a resource type.
    Type,
    /// On the whole server.
    System,
}

/// One served interaction.
#[derive(Debug)]
pub struct InteractionDef {
    /// A name for the route (and the handler lookup).
    pub code: &'static str,
    /// The CapabilityStatement interaction code it implements, if it is one.
    pub capability_code: Option<&'static str>,
    /// Its level.
    pub level: Level,
    /// The HTTP method.
    pub method: &'static str,
    /// The path below the FHIR prefix.
    pub path: &'static str,
}

const fn def(
    code: &'static str,
    capability_code: Option<&'static str>,
    level: Level,
    method: &'static str,
    path: &'static str,
) -> InteractionDef {
    InteractionDef {
        code,
        capability_code,
        level,
        method,
        path,
    }
}

/// Every FHIR interaction Hale serves.
pub static INTERACTIONS: &[InteractionDef] = &[
    def(
        "read",
        Some("read"),
        Level::Instance,
        "GET",
        "/{ver}/{type}/{id}",
    ),
    def(
        "vread",
        Some("vread"),
        Level::Instance,
        "GET",
        "/{ver}/{type}/{id}/_history/{vid}",
    ),
    def(
        "update",
        Some("update"),
        Level::Instance,
        "PUT",
        "/{ver}/{type}/{id}",
    ),
    def(
        "patch",
        Some("patch"),
        Level::Instance,
        "PATCH",
        "/{ver}/{type}/{id}",
    ),
    def(
        "delete",
        Some("delete"),
        Level::Instance,
        "DELETE",
        "/{ver}/{type}/{id}",
    ),
    def(
        "history-instance",
        Some("history-instance"),
        Level::Instance,
        "GET",
        "/{ver}/{type}/{id}/_history",
    ),
    def(
        "history-type",
        Some("history-type"),
        Level::Type,
        "GET",
        "/{ver}/{type}/_history",
    ),
    def(
        "create",
        Some("create"),
        Level::Type,
        "POST",
        "/{ver}/{type}",
    ),
    def(
        "conditional-update",
        None,
        Level::Type,
        "PUT",
        "/{ver}/{type}",
    ),
    def(
        "conditional-delete",
        None,
        Level::Type,
        "DELETE",
        "/{ver}/{type}",
    ),
    def(
        "transaction",
        Some("transaction"),
        Level::System,
        "POST",
        "/{ver}",
    ),
    def("batch", Some("batch"), Level::System, "POST", "/{ver}"),
    def(
        "history-system",
        Some("history-system"),
        Level::System,
        "GET",
        "/{ver}/_history",
    ),
    def(
        "search-type",
        Some("search-type"),
        Level::Type,
        "GET",
        "/{ver}/{type}",
    ),
    def(
        "search-type-post",
        None,
        Level::Type,
        "POST",
        "/{ver}/{type}/_search",
    ),
    def(
        "search-compartment",
        None,
        Level::Instance,
        "GET",
        "/{ver}/{type}/{id}/{compartment_type}",
    ),
    def(
        "everything",
        None,
        Level::Instance,
        "GET",
        "/{ver}/Patient/{id}/$everything",
    ),
    def(
        "everything-erase",
        None,
        Level::Instance,
        "DELETE",
        "/{ver}/Patient/{id}/$everything",
    ),
    def(
        "everything-type",
        None,
        Level::Type,
        "GET",
        "/{ver}/Patient/$everything",
    ),
    def(
        "export-system",
        None,
        Level::System,
        "GET",
        "/{ver}/$export",
    ),
    def(
        "export-system",
        None,
        Level::System,
        "POST",
        "/{ver}/$export",
    ),
    def(
        "export-patient",
        None,
        Level::Type,
        "GET",
        "/{ver}/Patient/$export",
    ),
    def(
        "export-patient",
        None,
        Level::Type,
        "POST",
        "/{ver}/Patient/$export",
    ),
    def(
        "export-group",
        None,
        Level::Instance,
        "GET",
        "/{ver}/Group/{id}/$export",
    ),
    def(
        "export-group",
        None,
        Level::Instance,
        "POST",
        "/{ver}/Group/{id}/$export",
    ),
    def(
        "bulk-export",
        None,
        Level::System,
        "GET",
        "/bulk-data/{ver}/$export",
    ),
    def(
        "bulk-export",
        None,
        Level::System,
        "POST",
        "/bulk-data/{ver}/$export",
    ),
    def(
        "bulk-export-group",
        None,
        Level::Instance,
        "GET",
        "/bulk-data/{ver}/Group/{id}/$export",
    ),
    def(
        "bulk-export-group",
        None,
        Level::Instance,
        "POST",
        "/bulk-data/{ver}/Group/{id}/$export",
    ),
    def(
        "bulk-export-file",
        None,
        Level::System,
        "GET",
        "/bulk-data/{ver}/$export/{type}/{file}",
    ),
    def(
        "gateway-export",
        None,
        Level::System,
        "GET",
        "/v1/{customer}/bulk-export/bulk-data/{ver}/$export",
    ),
    def(
        "gateway-export",
        None,
        Level::System,
        "POST",
        "/v1/{customer}/bulk-export/bulk-data/{ver}/$export",
    ),
    def(
        "gateway-export-group",
        None,
        Level::Instance,
        "GET",
        "/v1/{customer}/bulk-export/bulk-data/{ver}/Group/{id}/$export",
    ),
    def(
        "gateway-export-group",
        None,
        Level::Instance,
        "POST",
        "/v1/{customer}/bulk-export/bulk-data/{ver}/Group/{id}/$export",
    ),
    def(
        "search-system",
        Some("search-system"),
        Level::System,
        "GET",
        "/{ver}",
    ),
    def(
        "search-system-post",
        None,
        Level::System,
        "POST",
        "/{ver}/_search",
    ),
    def(
        "permission-grant",
        None,
        Level::Instance,
        "PUT",
        "/{ver}/{type}/{id}/_permission/{user}",
    ),
    def(
        "permission-revoke",
        None,
        Level::Instance,
        "DELETE",
        "/{ver}/{type}/{id}/_permission/{user}",
    ),
    def(
        "smart-configuration",
        None,
        Level::System,
        "GET",
        "/{ver}/.well-known/smart-configuration",
    ),
    def(
        "capabilities",
        None,
        Level::System,
        "GET",
        "/{ver}/metadata",
    ),
    def(
        "export-status",
        None,
        Level::System,
        "GET",
        "/bulk-data/{ver}/$export/job/{id}",
    ),
    def(
        "export-cancel",
        None,
        Level::System,
        "DELETE",
        "/bulk-data/{ver}/$export/job/{id}",
    ),
    def(
        "export-file",
        None,
        Level::System,
        "GET",
        "/bulk-data/{ver}/$export/file/{id}/{name}",
    ),
];

fn handler(code: &str, method: Method) -> Option<MethodRouter<AppState>> {
    let filter = axum::routing::MethodFilter::try_from(method).ok()?;
    Some(match code {
        "read" => on(filter, read::read),
        "vread" => on(filter, vread::vread),
        "update" => on(filter, update::update),
        "patch" => on(filter, patch::patch),
        "delete" => on(filter, delete::delete),
        "history-instance" => on(filter, history::history_instance),
        "history-type" => on(filter, history::history_type),
        "create" => on(filter, create::create),
        "conditional-update" => on(filter, update::conditional_update),
        "conditional-delete" => on(filter, delete::conditional_delete),
        // One handler serves both: the Bundle's type decides.
        "transaction" | "batch" => on(filter, transaction::transaction),
        "history-system" => on(filter, history::history_system),
        "search-type" => on(filter, search::search_type),
        "search-type-post" => on(filter, search::search_type_post),
        "search-compartment" => on(filter, search::search_compartment),
        "search-system" => on(filter, search::search_system),
        "everything" => on(filter, everything::everything),
        "everything-erase" => on(filter, everything::erase),
        "everything-type" => on(filter, everything::everything_type),
        "export-system" => on(filter, export::system),
        "export-patient" => on(filter, export::patient),
        "export-group" => on(filter, export::group),
        "bulk-export" | "gateway-export" => on(filter, export::one_up_system),
        "bulk-export-group" | "gateway-export-group" => on(filter, export::one_up_group),
        "bulk-export-file" => on(filter, export::file),
        "search-system-post" => on(filter, search::search_system_post),
        "capabilities" => on(filter, capabilities::capabilities),
        "permission-grant" => on(filter, permission::grant),
        "permission-revoke" => on(filter, permission::revoke),
        "smart-configuration" => on(filter, smart::smart_configuration),
        "export-status" => on(filter, export_jobs::status),
        "export-cancel" => on(filter, export_jobs::cancel),
        "export-file" => on(filter, export_jobs::download),
        _ => return None,
    })
}

/// The FHIR routes, from [`INTERACTIONS`]; a method that a path does not serve answers 405.
pub fn fhir_router() -> Router<AppState> {
    let mut by_path: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for interaction in INTERACTIONS {
        if !seen.insert((interaction.path, interaction.method)) {
            continue;
        }
        let Ok(method) = Method::from_bytes(interaction.method.as_bytes()) else {
            continue;
        };
        let Some(route) = handler(interaction.code, method) else {
            continue;
        };
        let merged = match by_path.remove(interaction.path) {
            Some(existing) => existing.merge(route),
            None => route,
        };
        by_path.insert(interaction.path, merged);
    }
    let mut router = Router::new();
    for (path, route) in by_path {
        router = router.route(path, route.fallback(method_not_allowed));
    }
    router
}

/// A method the path does not serve is a 405, but only on a real FHIR path: `/{ver}` matches
/// any single segment (`/favicon.ico`), which is an unknown path, not a wrong method. Bulk Data
/// paths (`/bulk-data/{ver}/…`) are FHIR paths too.
async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    let path = uri.path();
    let rest = path.strip_prefix("/fhir").unwrap_or(path);
    let rest = rest.trim_start_matches('/');
    let rest = rest.strip_prefix("bulk-data/").unwrap_or(rest);
    let segment = rest.split('/').next().unwrap_or("");
    if hale_fhir::FhirVersion::from_path_segment(segment).is_ok() {
        ApiError::MethodNotAllowed(method.to_string())
    } else {
        ApiError::UnknownPath(path.to_owned())
    }
}
