//! [Patient `$everything`](https://hl7.org/fhir/R4/patient-operation-everything.html): one page
//! of a Patient's record (or of every Patient's in scope), and erasing a record.
//!
//! What a record holds is [`hale_fhir::record`]'s rule; the store pages through it in (type, id)
//! order. The directory resources the record references (Practitioners, Organizations,
//! Locations) come once, on the first page, as included resources outside `total`, so a client
//! that follows every `next` link gets each resource exactly once.

use hale_fhir::outcome::IssueType;
use hale_fhir::record::{REFERENCED_DIRECTORY, member_types};
use hale_fhir::{Instant, ResourceId};
use hale_store::{RecordPageRequest, RecordQuery};

use crate::{Context, Engine, EngineError, PageSpec, SearchResult};

/// The parameters of `$everything` other than paging.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EverythingParams {
    /// `_type`: only these resource types.
    pub types: Vec<String>,
    /// `_since`: only resources last updated at or after this.
    pub since: Option<Instant>,
    /// `start`: only care on or after this date (its lower bound, epoch microseconds).
    pub start: Option<i64>,
    /// `end`: only care on or before this date (its upper bound, epoch microseconds).
    pub end: Option<i64>,
}

impl EverythingParams {
    /// Reads `_type`, `_since`, `start` and `end` from the request's parameters; any other name
    /// is left to the caller. A value that is not what the parameter takes is an error.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, EngineError> {
        let mut params = EverythingParams::default();
        for (name, value) in pairs {
            match name.as_str() {
                "_type" => {
                    for resource_type in value.split(',').map(str::trim) {
                        if !hale_fhir::definitions::is_resource_type(resource_type) {
                            return Err(EngineError::invalid(
                                IssueType::Invalid,
                                format!("_type: {resource_type:?} is not a resource type"),
                            ));
                        }
                        params.types.push(resource_type.to_owned());
                    }
                }
                "_since" => {
                    params.since = Some(Instant::parse_lower_bound(value).ok_or_else(|| {
                        EngineError::invalid(
                            IssueType::Invalid,
                            format!(
                                "_since={value:?} is not an instant such as 2024-01-31T12:00:00Z"
                            ),
                        )
                    })?);
                }
                "start" | "end" => {
                    let (low, high) = hale_search::index::date_range(value).ok_or_else(|| {
                        EngineError::invalid(
                            IssueType::Invalid,
                            format!("{name}={value:?} is not a date such as 2024-01-31"),
                        )
                    })?;
                    if name == "start" {
                        params.start = Some(low);
                    } else {
                        params.end = Some(high);
                    }
                }
                _ => {}
            }
        }
        Ok(params)
    }

    /// Whether `name` is one of the parameters [`EverythingParams::parse`] reads.
    pub fn reads(name: &str) -> bool {
        matches!(name, "_type" | "_since" | "start" | "end")
    }
}

impl Engine {
    /// One page of `$everything`: the record of Patient `patient`, or with none the records of
    /// every Patient in the context's scope, with its total when `count_total` (the first page
    /// counts; later pages carry the count in `spec.known_total`). Another owner's Patient is not
    /// found.
    pub async fn everything(
        &self,
        ctx: &Context,
        patient: Option<&ResourceId>,
        params: &EverythingParams,
        spec: &PageSpec,
        count_total: bool,
    ) -> Result<SearchResult, EngineError> {
        if let Some(patient) = patient {
            let found = self
                .store
                .read(&ctx.scope, ctx.fhir_version, "Patient", patient.as_str())
                .await?;
            match found {
                None => return Err(crate::write::not_found("Patient", patient.as_str())),
                Some(found) if found.deleted => {
                    return Err(EngineError::Gone {
                        resource_type: "Patient".into(),
                        id: found.id,
                        version_id: found.version_id,
                    });
                }
                Some(_) => {}
            }
        }
        let query = RecordQuery {
            fhir_version: ctx.fhir_version,
            patient: patient.map(|id| id.as_str().to_owned()),
            types: params.types.clone(),
            since: params.since,
            care: (params.start.is_some() || params.end.is_some()).then(|| {
                (
                    params.start.unwrap_or(i64::MIN),
                    params.end.unwrap_or(i64::MAX),
                )
            }),
        };
        let first = spec.after.is_none() && spec.skip == 0;
        let wants_directory = params.types.is_empty()
            || params
                .types
                .iter()
                .any(|t| REFERENCED_DIRECTORY.contains(&t.as_str()));
        let wants_members = params.types.is_empty()
            || params
                .types
                .iter()
                .any(|t| member_types().contains(&t.as_str()));
        // One member more than the page tells whether another page lies beyond it.
        let page = RecordPageRequest {
            limit: if wants_members { spec.count + 1 } else { 0 },
            offset: spec.skip,
            after: spec.after.clone(),
            horizon: spec.horizon,
            total: count_total && spec.known_total.is_none(),
            directory: first && wants_directory && spec.count > 0,
        };
        let mut read = self.store.record(&ctx.scope, &query, &page).await?;
        let has_next = read.hits.len() > spec.count;
        read.hits.truncate(spec.count);
        Ok(SearchResult {
            matches: read.hits,
            included: read.directory,
            total: read.total.or(spec.known_total).filter(|_| count_total),
            has_next,
            has_previous: false,
            horizon: read.horizon,
        })
    }

    /// `DELETE …/Patient/{id}/$everything`: erases, in one transaction, every resource of the
    /// Patient's record that the principal owns, with all its versions, except what something
    /// outside the record still needs (a Practitioner other patients saw, an Observation also in
    /// another Patient's compartment). Returns how many resources were erased.
    pub async fn erase_record(
        &self,
        ctx: &Context,
        patient: ResourceId,
    ) -> Result<usize, EngineError> {
        let ctx = ctx.clone();
        self.run(move |tx| {
            let id = patient.as_str();
            let Some(current) = tx.current(&ctx.scope, ctx.fhir_version, "Patient", id)? else {
                return Err(crate::write::not_found("Patient", id));
            };
            if !ctx.scope.may_write(current.owner) {
                return Err(EngineError::Forbidden(format!(
                    "Patient/{id} can be read but not erased by this client"
                )));
            }
            let members = tx.record_members(ctx.fhir_version, id)?;
            // The Patient goes whoever else's compartment holds it (through `Patient.link`); a
            // deleted Patient has no compartment rows, so it is not among the members.
            let mut erased = 0;
            if current.deleted {
                tx.purge(ctx.fhir_version, "Patient", id)?;
                erased += 1;
            }
            for member in members {
                let is_patient = member.resource_type == "Patient" && member.id == id;
                if (member.shared && !is_patient) || !ctx.scope.may_write(member.owner) {
                    continue;
                }
                tx.purge(ctx.fhir_version, &member.resource_type, &member.id)?;
                erased += 1;
            }
            Ok(erased)
        })
        .await
    }
}
