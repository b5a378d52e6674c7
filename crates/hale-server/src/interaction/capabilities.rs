//! Implements the FHIR [capabilities interaction](https://hl7.org/fhir/R4/http.html#capabilities).
//!
//! The CapabilityStatement is computed from [`crate::routes::INTERACTIONS`], the same declarations
//! that build the router, so it states exactly what is served.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::negotiate::FHIR_JSON;
use crate::request::PublicFhirRequest;
use crate::routes::{INTERACTIONS, Level};

/// `GET [base]/metadata`.
pub async fn capabilities(
    State(state): State<AppState>,
    PublicFhirRequest(req): PublicFhirRequest,
) -> Result<Response, ApiError> {
    let token_endpoint = format!("{}/oauth2/token", state.config.public_url);
    let statement = capability_statement(&req.base, &token_endpoint, req.ctx.fhir_version);
    let mut response = statement.to_string().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    Ok(response)
}

/// The search parameters of `resource_type` and the `_include` / `_revinclude` values that reach
/// it, from the generated search-parameter tables (R4's and the Plan-Net guide's, as
/// `hale_fhir::definitions` merges them) that the parser resolves against.
fn search_capabilities(entry: &mut Value, resource_type: &str) {
    if let Some(Value::Object(search)) = SEARCH_CAPABILITIES.get(resource_type) {
        for (key, value) in search {
            entry[key] = value.clone();
        }
    }
}

/// [`search_capabilities`] of every R4 type, computed once: they depend on the generated tables
/// alone, and the reverse includes need a pass over every type's parameters.
static SEARCH_CAPABILITIES: LazyLock<HashMap<&'static str, Value>> = LazyLock::new(|| {
    use hale_fhir::definitions::search_params_for;
    use hale_fhir::table::SearchParamType;
    let types = hale_fhir::generated::R4_RESOURCE_TYPES;
    let mut revincludes: HashMap<&str, Vec<String>> = HashMap::new();
    for source in types {
        for param in search_params_for(source).filter(|p| p.kind == SearchParamType::Reference) {
            for target in types {
                if param.targets.contains(target) || param.targets.contains(&"Resource") {
                    revincludes
                        .entry(target)
                        .or_default()
                        .push(format!("{source}:{}", param.code));
                }
            }
        }
    }
    types
        .iter()
        .map(|resource_type| {
            let params: Vec<Value> = search_params_for(resource_type)
                .filter(|p| !matches!(p.code, "_query" | "_filter" | "near"))
                .map(|p| json!({"name": p.code, "definition": p.url, "type": p.kind.as_str()}))
                .collect();
            let mut includes = vec!["*".to_owned()];
            includes.extend(
                search_params_for(resource_type)
                    .filter(|p| p.kind == SearchParamType::Reference)
                    .map(|p| format!("{resource_type}:{}", p.code)),
            );
            let search = json!({
                "searchParam": params,
                "searchInclude": includes,
                "searchRevInclude": revincludes.remove(resource_type).unwrap_or_default(),
            });
            (*resource_type, search)
        })
        .collect()
});

/// The CapabilityStatement for the server at `base`, whose tokens come from `token_endpoint`.
pub fn capability_statement(
    base: &str,
    token_endpoint: &str,
    fhir_version: hale_fhir::FhirVersion,
) -> Value {
    let codes_at = |level: Level| -> Vec<&'static str> {
        let mut codes: Vec<&'static str> = INTERACTIONS
            .iter()
            .filter(|i| i.level == level)
            .filter_map(|i| i.capability_code)
            .collect();
        codes.dedup();
        codes
    };
    let type_codes: Vec<&str> = codes_at(Level::Instance)
        .into_iter()
        .chain(codes_at(Level::Type))
        .collect();
    let has = |code: &str| INTERACTIONS.iter().any(|i| i.code == code);
    let resource_types: &[&str] = match fhir_version {
        hale_fhir::FhirVersion::R4 => hale_fhir::generated::R4_RESOURCE_TYPES,
    };
    let resources: Vec<Value> = resource_types
        .iter()
        .map(|rt| {
            let mut entry = json!({
                "type": rt,
                "interaction": type_codes.iter().map(|c| json!({"code": c})).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": has("vread"),
                "updateCreate": has("update"),
                "conditionalCreate": has("create"),
                "conditionalUpdate": has("conditional-update"),
                "conditionalDelete": if has("conditional-delete") { "single" } else { "not-supported" },
            });
            if has("patch") {
                entry["patchFormat"] = json!(["application/json-patch+json"]);
            }
            if has("search-type") {
                search_capabilities(&mut entry, rt);
            }
            if *rt == "Patient" && has("everything") {
                entry["operation"] = json!([{
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }]);
            }
            entry
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": env!("HALE_BUILD_DATE"),
        "kind": "instance",
        "software": {"name": "Hale", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Hale FHIR server", "url": base},
        "fhirVersion": fhir_version.release(),
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": true,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR",
                }]}],
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": token_endpoint}],
                }],
                "description": "Send Authorization: Bearer <access_token> (from the token endpoint), ?access_token=, or the client headers client_id, client_secret and x-oneup-user-id.",
            },
            "resource": resources,
            "interaction": codes_at(Level::System).iter().map(|c| json!({"code": c})).collect::<Vec<_>>(),
        }],
    })
}
