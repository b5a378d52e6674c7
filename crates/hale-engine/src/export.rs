//! [Bulk Data `$export`](https://hl7.org/fhir/uv/bulkdata/export.html): which resources an
//! export holds and how they are cut into files.
//!
//! An export is planned at once: per type, the query its resources match (`_since`,
//! `_typeFilter`, the Patients of a Patient or Group export) and the store's rows cut into runs
//! of at most `max_per_file` ([`hale_store::ResourceStore::cuts`]), all up to the horizon of the
//! kick-off. A file is one run, an [`ExportSlice`]: small enough to name in a signed URL, and read
//! back page by page in row order, so a download holds one page in memory whatever the file's
//! size, and any process sharing the database can serve it.

use hale_fhir::outcome::IssueType;
use hale_fhir::record::{REFERENCED_DIRECTORY, REFERENCED_MEMBERS, member_types};
use hale_fhir::{Instant, ResourceId, ResourceType};
use hale_search::query::{Criterion, ParseOptions, SearchQuery, form_pairs, parse_search};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Context, Engine, EngineError};

/// The NDJSON media types `_outputFormat` may name.
const OUTPUT_FORMATS: &[&str] = &["application/fhir+ndjson", "application/ndjson", "ndjson"];

/// What an export covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportLevel {
    /// `[base]/$export`: every resource in scope.
    System,
    /// `[base]/Patient/$export`: the Patient compartment's types, or with `patient` the records
    /// of those Patients.
    Patient,
    /// `[base]/Group/{id}/$export`: the records of the Group's member Patients and the
    /// Practitioners, Organizations, Locations, Medications and Devices they reference.
    Group(String),
}

/// The parameters of a kick-off.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportParams {
    /// `_type`: only these types; empty for every type the level covers.
    pub types: Vec<String>,
    /// `_since`: only resources last updated at or after this, as given.
    pub since: Option<String>,
    /// `_typeFilter`: per type, search queries of which a resource must match one.
    pub type_filters: Vec<(String, String)>,
    /// `patient`: the Patients of a Patient or Group export, by id.
    pub patients: Vec<String>,
    /// Parameters read but not honoured, with why, for the manifest's warnings.
    pub ignored: Vec<String>,
}

impl ExportParams {
    /// Reads `_type`, `_since`, `_typeFilter`, `_outputFormat`, `patient` and
    /// `includeAssociatedData` (ignored, with a warning). A value a parameter cannot take, or
    /// `_elements`, which Hale does not support, is an error; other names are ignored.
    pub fn parse(
        fhir_version: hale_fhir::FhirVersion,
        pairs: &[(String, String)],
    ) -> Result<Self, EngineError> {
        let invalid = |text: String| EngineError::invalid(IssueType::Invalid, text);
        let mut params = ExportParams::default();
        for (name, value) in pairs {
            match name.as_str() {
                "_type" => {
                    for name in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        let resource_type =
                            ResourceType::parse(fhir_version, name).map_err(|_| {
                                invalid(format!("_type: {name:?} is not a resource type"))
                            })?;
                        params.types.push(resource_type.as_str().to_owned());
                    }
                }
                "_since" => {
                    Instant::parse_lower_bound(value).ok_or_else(|| {
                        invalid(format!(
                            "_since={value:?} is not an instant such as 2024-01-31T12:00:00Z"
                        ))
                    })?;
                    params.since = Some(value.clone());
                }
                "_typeFilter" => {
                    let (name, query) = value.split_once('?').ok_or_else(|| {
                        invalid(format!(
                            "_typeFilter={value:?} is not a search such as Observation?code=1234-5"
                        ))
                    })?;
                    let resource_type = ResourceType::parse(fhir_version, name).map_err(|_| {
                        invalid(format!("_typeFilter: {name:?} is not a resource type"))
                    })?;
                    params
                        .type_filters
                        .push((resource_type.as_str().to_owned(), query.to_owned()));
                }
                "_outputFormat" if !OUTPUT_FORMATS.contains(&value.as_str()) => {
                    return Err(invalid(format!(
                        "_outputFormat={value:?}: Hale writes NDJSON ({})",
                        OUTPUT_FORMATS.join(", ")
                    )));
                }
                "patient" => {
                    for reference in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let id = reference.strip_prefix("Patient/").unwrap_or(reference);
                        ResourceId::parse(id).map_err(|_| {
                            invalid(format!("patient: {reference:?} is not a Patient reference"))
                        })?;
                        params.patients.push(id.to_owned());
                    }
                }
                "includeAssociatedData" => params.ignored.push(format!(
                    "includeAssociatedData={value} was ignored: Hale exports no associated data"
                )),
                "_elements" => {
                    return Err(EngineError::invalid(
                        IssueType::NotSupported,
                        "_elements is not supported by this server's export",
                    ));
                }
                _ => {}
            }
        }
        // A filter must parse as a search of its type, whatever the level.
        for (resource_type, query) in &params.type_filters {
            let resource_type = ResourceType::parse(fhir_version, resource_type).map_err(|_| {
                invalid(format!(
                    "_typeFilter: {resource_type:?} is not a resource type"
                ))
            })?;
            filter_criteria(resource_type.as_str(), query)?;
        }
        Ok(params)
    }

    /// The same parameters as a `Parameters` resource's `parameter` list gives them, for a POST
    /// kick-off: `valueString`, `valueCode`, `valueInstant`, or `valueReference` for `patient`.
    pub fn pairs_from_parameters(body: &Value) -> Result<Vec<(String, String)>, EngineError> {
        let invalid = |text: &str| EngineError::invalid(IssueType::Invalid, text);
        if body["resourceType"] != "Parameters" {
            return Err(invalid("the kick-off body is not a Parameters resource"));
        }
        let mut pairs = Vec::new();
        for parameter in body["parameter"].as_array().into_iter().flatten() {
            let Some(name) = parameter["name"].as_str() else {
                return Err(invalid("a parameter without a name"));
            };
            let value = [
                "valueString",
                "valueCode",
                "valueInstant",
                "valueDateTime",
                "valueUri",
            ]
            .iter()
            .find_map(|key| parameter[key].as_str())
            .or_else(|| parameter["valueReference"]["reference"].as_str())
            .ok_or_else(|| invalid("a parameter without a value Hale reads"))?;
            pairs.push((name.to_owned(), value.to_owned()));
        }
        Ok(pairs)
    }
}

/// One file of an export: the resources of one type that match the export's query, with rows
/// after `after` up to `upto`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSlice {
    /// What the export covers.
    pub level: ExportLevel,
    /// The resource type.
    pub resource_type: String,
    /// The kick-off's parameters.
    pub params: ExportParams,
    /// The row before the file's first resource.
    pub after: i64,
    /// The row of the file's last resource, at most the export's horizon.
    pub upto: i64,
    /// How many resources the file holds.
    pub count: u64,
}

/// The criteria of one `_typeFilter` query of `resource_type`.
fn filter_criteria(
    resource_type: &'static str,
    query: &str,
) -> Result<Vec<Criterion>, EngineError> {
    let options = ParseOptions {
        strict: true,
        base_urls: Vec::new(),
        now: 0,
    };
    let request = parse_search(resource_type, &form_pairs(query), &options).map_err(|e| {
        EngineError::invalid(
            IssueType::Invalid,
            format!("_typeFilter {resource_type}?{query}: {e}"),
        )
    })?;
    if !request.sort.is_empty() || !request.includes.is_empty() || !request.revincludes.is_empty() {
        return Err(EngineError::invalid(
            IssueType::NotSupported,
            format!("_typeFilter {resource_type}?{query}: only search parameters filter an export"),
        ));
    }
    Ok(request.query.criteria)
}

/// The ids of the Patients a Group's `member.entity` references.
pub fn group_patients(group: &Value) -> Vec<String> {
    group["member"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|member| member["entity"]["reference"].as_str())
        .filter_map(|reference| {
            let (resource_type, id) = reference.rsplit_once('/')?;
            (resource_type == "Patient" || resource_type.ends_with("/Patient"))
                .then(|| id.to_owned())
        })
        .collect()
}

impl Engine {
    /// The types an export of `level` covers, each with the query its resources match.
    async fn export_queries(
        &self,
        ctx: &Context,
        level: &ExportLevel,
        params: &ExportParams,
    ) -> Result<Vec<SearchQuery>, EngineError> {
        // One type asked for is planned as it is (a file names its type); otherwise the types
        // with data in scope, which costs a count of every type.
        let present: Vec<String> = match params.types.as_slice() {
            [one] => vec![one.clone()],
            _ => self
                .store
                .count_by_type(&ctx.scope, ctx.fhir_version)
                .await?
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        };
        let members = member_types();
        let patients = match level {
            ExportLevel::System => None,
            ExportLevel::Patient if params.patients.is_empty() => None,
            ExportLevel::Patient => Some(params.patients.clone()),
            ExportLevel::Group(id) => Some(self.group_members(ctx, id).await?),
        };
        let mut queries = Vec::new();
        for name in present {
            if !params.types.is_empty() && !params.types.contains(&name) {
                continue;
            }
            let compartment =
                members.contains(&name.as_str()) && !REFERENCED_MEMBERS.contains(&name.as_str());
            let referenced = REFERENCED_MEMBERS.contains(&name.as_str())
                || REFERENCED_DIRECTORY.contains(&name.as_str());
            let covered = match level {
                ExportLevel::System => true,
                ExportLevel::Patient => compartment,
                ExportLevel::Group(_) => compartment || referenced,
            };
            if !covered {
                continue;
            }
            let Ok(resource_type) = ResourceType::parse(ctx.fhir_version, &name) else {
                continue;
            };
            let resource_type = resource_type.as_str();
            let mut criteria = Vec::new();
            if let Some(since) = &params.since {
                criteria.extend(filter_criteria(
                    resource_type,
                    &format!("_lastUpdated=ge{}", urlencoding(since)),
                )?);
            }
            let filters: Vec<&str> = params
                .type_filters
                .iter()
                .filter(|(t, _)| t == resource_type)
                .map(|(_, q)| q.as_str())
                .collect();
            if !filters.is_empty() {
                let alternatives = filters
                    .iter()
                    .map(|query| filter_criteria(resource_type, query).map(Criterion::All))
                    .collect::<Result<Vec<_>, _>>()?;
                criteria.push(Criterion::Any(alternatives));
            }
            if let Some(patients) = &patients {
                criteria.push(patient_criterion(resource_type, patients, compartment)?);
            }
            queries.push(SearchQuery::new(resource_type, criteria));
        }
        Ok(queries)
    }

    /// The Patients of Group `id`, which must be in the context's scope.
    async fn group_members(&self, ctx: &Context, id: &str) -> Result<Vec<String>, EngineError> {
        let group = self
            .store
            .read(&ctx.scope, ctx.fhir_version, "Group", id)
            .await?
            .filter(|g| !g.deleted)
            .ok_or_else(|| crate::write::not_found("Group", id))?;
        let value: Value = serde_json::from_slice(&group.json)
            .map_err(|e| EngineError::Store(hale_store::StoreError::Backend(e.to_string())))?;
        Ok(group_patients(&value))
    }

    /// Plans an export: its files, each at most `max_per_file` resources, of the resources in
    /// the context's scope with rows up to `horizon` (the store's highest row now when none).
    /// Types without data are left out.
    pub async fn export_plan(
        &self,
        ctx: &Context,
        level: &ExportLevel,
        params: &ExportParams,
        max_per_file: usize,
        horizon: Option<i64>,
    ) -> Result<Vec<ExportSlice>, EngineError> {
        let horizon = match horizon {
            Some(horizon) => horizon,
            None => self.store.horizon().await?,
        };
        let mut slices = Vec::new();
        for query in self.export_queries(ctx, level, params).await? {
            let (count, cuts) = self
                .store
                .cuts(&ctx.scope, ctx.fhir_version, &query, horizon, max_per_file)
                .await?;
            let mut after = 0;
            let mut left = count;
            for upto in cuts.into_iter().chain(std::iter::once(horizon)) {
                let in_file = left.min(max_per_file as u64);
                if in_file == 0 {
                    break;
                }
                slices.push(ExportSlice {
                    level: level.clone(),
                    resource_type: query.resource_type.to_owned(),
                    params: params.clone(),
                    after,
                    upto,
                    count: in_file,
                });
                left -= in_file;
                after = upto;
            }
        }
        Ok(slices)
    }

    /// Checks that an export can run (its Group is there and visible, its filters parse) and
    /// returns the horizon that pins what it holds: an asynchronous export runs later, but holds
    /// what was there at its kick-off.
    pub async fn export_prepare(
        &self,
        ctx: &Context,
        level: &ExportLevel,
        params: &ExportParams,
    ) -> Result<i64, EngineError> {
        let horizon = self.store.horizon().await?;
        self.export_queries(ctx, level, params).await?;
        Ok(horizon)
    }

    /// The query of one file of an export, to read its pages with [`Engine::export_page`].
    pub async fn export_query(
        &self,
        ctx: &Context,
        slice: &ExportSlice,
    ) -> Result<SearchQuery, EngineError> {
        let params = ExportParams {
            types: vec![slice.resource_type.clone()],
            ..slice.params.clone()
        };
        self.export_queries(ctx, &slice.level, &params)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| crate::write::not_found(&slice.resource_type, "(export file)"))
    }

    /// Up to `limit` resources of a file, in row order, after row `after`: each one's row and
    /// stored JSON.
    pub async fn export_page(
        &self,
        ctx: &Context,
        slice: &ExportSlice,
        query: &SearchQuery,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, bytes::Bytes)>, EngineError> {
        Ok(self
            .store
            .export_rows(
                &ctx.scope,
                ctx.fhir_version,
                query,
                after,
                slice.upto,
                limit,
            )
            .await?)
    }
}

/// The condition that puts a resource of `resource_type` in the records of `patients`: the
/// Patients themselves, their compartments, and what those reference.
fn patient_criterion(
    resource_type: &'static str,
    patients: &[String],
    compartment: bool,
) -> Result<Criterion, EngineError> {
    if resource_type == "Patient" {
        let ids = patients.join(",");
        let mut criteria = filter_criteria(resource_type, &format!("_id={}", urlencoding(&ids)))?;
        return Ok(criteria.pop().unwrap_or(Criterion::Any(Vec::new())));
    }
    if compartment {
        return Ok(Criterion::Any(
            patients
                .iter()
                .map(|p| Criterion::Compartment {
                    patient_id: p.clone(),
                })
                .collect(),
        ));
    }
    let referenced = Criterion::ReferencedFrom {
        patients: patients.to_vec(),
    };
    if resource_type == hale_fhir::record::DEVICE_PATIENT.0 && !patients.is_empty() {
        let named: Vec<String> = patients.iter().map(|p| format!("Patient/{p}")).collect();
        let query = format!(
            "{}={}",
            hale_fhir::record::DEVICE_PATIENT.1,
            urlencoding(&named.join(","))
        );
        let mut own = filter_criteria(resource_type, &query)?;
        if let Some(own) = own.pop() {
            return Ok(Criterion::Any(vec![referenced, own]));
        }
    }
    Ok(referenced)
}

/// `text` as a form value: what [`form_pairs`] decodes back.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hale_fhir::FhirVersion;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_are_read_and_bad_ones_refused() {
        let params = ExportParams::parse(
            FhirVersion::R4,
            &pairs(&[
                ("_type", "Patient,Observation"),
                ("_since", "2020-01-01T00:00:00Z"),
                ("_typeFilter", "Observation?code=1234-5&status=final"),
                ("_outputFormat", "application/fhir+ndjson"),
                ("patient", "Patient/a,b"),
                ("includeAssociatedData", "LatestProvenanceResources"),
            ]),
        )
        .unwrap();
        assert_eq!(params.types, ["Patient", "Observation"]);
        assert_eq!(params.patients, ["a", "b"]);
        assert_eq!(params.ignored.len(), 1);
        for bad in [
            ("_type", "Nope"),
            ("_since", "soon"),
            ("_typeFilter", "Observation"),
            ("_typeFilter", "Observation?nonsense=1"),
            ("_outputFormat", "text/csv"),
            ("_elements", "id"),
        ] {
            assert!(
                ExportParams::parse(FhirVersion::R4, &pairs(&[bad])).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_parameters_body_gives_the_same_pairs() {
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "_type", "valueString": "Patient"},
            {"name": "patient", "valueReference": {"reference": "Patient/a"}}
        ]});
        assert_eq!(
            ExportParams::pairs_from_parameters(&body).unwrap(),
            pairs(&[("_type", "Patient"), ("patient", "Patient/a")])
        );
        assert!(ExportParams::pairs_from_parameters(&json!({"resourceType": "Patient"})).is_err());
    }

    #[test]
    fn group_members_are_its_patients() {
        let group = json!({"resourceType": "Group", "member": [
            {"entity": {"reference": "Patient/a"}},
            {"entity": {"reference": "http://example.org/fhir/Patient/b"}},
            {"entity": {"reference": "Practitioner/c"}},
            {"entity": {"display": "no reference"}}
        ]});
        assert_eq!(group_patients(&group), ["a", "b"]);
    }
}
