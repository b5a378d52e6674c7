//! FHIR interaction semantics for Hale, over the store traits: no SQL, no HTTP.
//!
//! Every write interaction is a synchronous function over a [`hale_store::WriteTx`] (in
//! [`write`](mod@write)), so a single `POST`, a conditional update and each entry of a
//! transaction Bundle run the same code inside the store's transaction. [`Engine`] wraps them in
//! store writes and adds the reads. Content is parsed and validated before it reaches the writer,
//! so the single writer thread spends its time on SQL only.
#![warn(missing_docs)]

pub mod bundle;
mod error;
pub mod everything;
pub mod export;
pub mod prepare;
pub mod search;
pub mod write;

use std::sync::Arc;

use hale_fhir::{FhirVersion, Instant, ResourceId, ResourceType, VersionId};
use hale_search::query::SearchQuery;
use hale_store::{HistoryPage, HistoryQuery, ResourceStore, Scope, StoredResource, write_with};
use serde_json::Value;

pub use error::EngineError;
pub use everything::EverythingParams;
pub use search::{PageSpec, SearchResult};
pub use write::{Preconditions, WriteOutcome, WriteStatus};

/// Where new ids come from; tests inject a fixed sequence.
pub trait IdSource: Send + Sync {
    /// A fresh resource id.
    fn new_id(&self) -> ResourceId;
}

/// Random ids: 32 lower-case hex digits of a v4 UUID.
#[derive(Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn new_id(&self) -> ResourceId {
        ResourceId::from_random(*uuid::Uuid::new_v4().as_bytes())
    }
}

/// What the engine knows of the request: its FHIR version and the principal's scope, which says
/// what the principal may see and change and who owns what it creates
/// ([`Scope::new_owner`]).
#[derive(Clone, Debug)]
pub struct Context {
    /// The FHIR version of the request path.
    pub fhir_version: FhirVersion,
    /// What the principal may read and change.
    pub scope: Scope,
}

impl Context {
    /// The context of a principal with `scope`.
    pub fn new(fhir_version: FhirVersion, scope: Scope) -> Self {
        Context {
            fhir_version,
            scope,
        }
    }

    /// The operator's context: everything visible and writable, and what it creates has no
    /// owner.
    pub fn open(fhir_version: FhirVersion) -> Self {
        Context::new(fhir_version, Scope::All)
    }
}

/// The interactions of a FHIR server over one store.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn ResourceStore>,
    ids: Arc<dyn IdSource>,
}

impl Engine {
    /// An engine over `store` with random ids.
    pub fn new(store: Arc<dyn ResourceStore>) -> Self {
        Engine {
            store,
            ids: Arc::new(RandomIds),
        }
    }

    /// The same engine with another id source.
    pub fn with_ids(mut self, ids: Arc<dyn IdSource>) -> Self {
        self.ids = ids;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ResourceStore> {
        &self.store
    }

    /// Whether the store's search index was built by other extraction rules than this build's,
    /// so that searches would miss or mismatch resources until `hale reindex` runs.
    pub async fn index_is_stale(&self) -> Result<bool, EngineError> {
        let recorded = self.store.index_fingerprint().await?;
        Ok(recorded.as_deref() != Some(hale_search::index::fingerprint().as_str()))
    }

    /// Rebuilds the search index of every current resource with this build's extraction rules.
    pub async fn reindex(&self) -> Result<u64, EngineError> {
        let reindexer: hale_store::Reindexer = Arc::new(|resource_type: &str, json: &[u8]| {
            let value: Value = serde_json::from_slice(json).ok()?;
            Some((
                hale_search::index::extract(resource_type, &value),
                hale_search::index::compartment_patients(resource_type, &value),
            ))
        });
        Ok(self
            .store
            .reindex(reindexer, &hale_search::index::fingerprint())
            .await?)
    }

    /// [create](https://hl7.org/fhir/R4/http.html#create), conditional when `if_none_exist` is given.
    pub async fn create(
        &self,
        ctx: &Context,
        resource_type: ResourceType,
        body: Value,
        if_none_exist: Option<SearchQuery>,
    ) -> Result<WriteOutcome, EngineError> {
        let content = prepare::Content::from_body(resource_type, body, None)?;
        let (ctx, ids) = (ctx.clone(), self.ids.clone());
        self.run(move |tx| write::create(tx, &ctx, ids.as_ref(), content, if_none_exist.as_ref()))
            .await
    }

    /// [update](https://hl7.org/fhir/R4/http.html#update), which creates the resource when the id is new.
    pub async fn update(
        &self,
        ctx: &Context,
        resource_type: ResourceType,
        id: ResourceId,
        body: Value,
        preconditions: Preconditions,
    ) -> Result<WriteOutcome, EngineError> {
        let content = prepare::Content::from_body(resource_type, body, Some(&id))?;
        let ctx = ctx.clone();
        self.run(move |tx| write::update(tx, &ctx, content, id, preconditions))
            .await
    }

    /// [Conditional update](https://hl7.org/fhir/R4/http.html#cond-update).
    pub async fn conditional_update(
        &self,
        ctx: &Context,
        resource_type: ResourceType,
        query: SearchQuery,
        body: Value,
        preconditions: Preconditions,
    ) -> Result<WriteOutcome, EngineError> {
        let (ctx, ids) = (ctx.clone(), self.ids.clone());
        let body_id = body
            .get("id")
            .and_then(Value::as_str)
            .map(ResourceId::parse)
            .transpose()
            .map_err(|e| {
                EngineError::invalid(hale_fhir::outcome::IssueType::Value, e.to_string())
            })?;
        let content = prepare::Content::from_body(resource_type, body, body_id.as_ref())?;
        self.run(move |tx| {
            write::conditional_update(tx, &ctx, ids.as_ref(), content, &query, preconditions)
        })
        .await
    }

    /// [patch](https://hl7.org/fhir/R4/http.html#patch) with a JSON Patch document.
    pub async fn patch(
        &self,
        ctx: &Context,
        resource_type: ResourceType,
        id: ResourceId,
        patch: Value,
        preconditions: Preconditions,
    ) -> Result<WriteOutcome, EngineError> {
        let patch = prepare::parse_json_patch(patch)?;
        let ctx = ctx.clone();
        self.run(move |tx| write::patch(tx, &ctx, resource_type, id, &patch, preconditions))
            .await
    }

    /// [delete](https://hl7.org/fhir/R4/http.html#delete).
    pub async fn delete(
        &self,
        ctx: &Context,
        resource_type: ResourceType,
        id: ResourceId,
        preconditions: Preconditions,
    ) -> Result<WriteOutcome, EngineError> {
        let ctx = ctx.clone();
        self.run(move |tx| write::delete(tx, &ctx, resource_type, id, preconditions))
            .await
    }

    /// [Conditional delete](https://hl7.org/fhir/R4/http.html#cdelete) of the single match.
    pub async fn conditional_delete(
        &self,
        ctx: &Context,
        query: SearchQuery,
    ) -> Result<Option<WriteOutcome>, EngineError> {
        let ctx = ctx.clone();
        self.run(move |tx| write::conditional_delete(tx, &ctx, &query))
            .await
    }

    /// A [batch or transaction](https://hl7.org/fhir/R4/http.html#transaction) Bundle.
    pub async fn bundle(
        &self,
        ctx: &Context,
        body: Value,
    ) -> Result<bundle::BundleResponse, EngineError> {
        bundle::process(self, ctx, body).await
    }

    /// [read](https://hl7.org/fhir/R4/http.html#read): the current version, or `Gone` if deleted.
    pub async fn read(
        &self,
        ctx: &Context,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> Result<StoredResource, EngineError> {
        let found = self
            .store
            .read(
                &ctx.scope,
                ctx.fhir_version,
                resource_type.as_str(),
                id.as_str(),
            )
            .await?;
        match found {
            None => Err(EngineError::NotFound {
                resource_type: resource_type.to_string(),
                id: id.to_string(),
            }),
            Some(r) if r.deleted => Err(EngineError::Gone {
                resource_type: r.resource_type,
                id: r.id,
                version_id: r.version_id,
            }),
            Some(r) => Ok(r),
        }
    }

    /// [vread](https://hl7.org/fhir/R4/http.html#vread): one version, or `Gone` for a deletion.
    pub async fn vread(
        &self,
        ctx: &Context,
        resource_type: ResourceType,
        id: &ResourceId,
        version_id: VersionId,
    ) -> Result<StoredResource, EngineError> {
        let found = self
            .store
            .vread(
                &ctx.scope,
                ctx.fhir_version,
                resource_type.as_str(),
                id.as_str(),
                version_id.0,
            )
            .await?;
        match found {
            Some(r) if r.deleted => Err(EngineError::Gone {
                resource_type: r.resource_type,
                id: r.id,
                version_id: r.version_id,
            }),
            Some(r) => Ok(r),
            None => {
                // A version of an unknown resource is a plain 404; of a known one, it names the version.
                let exists = self
                    .store
                    .read(
                        &ctx.scope,
                        ctx.fhir_version,
                        resource_type.as_str(),
                        id.as_str(),
                    )
                    .await?;
                Err(match exists {
                    None => EngineError::NotFound {
                        resource_type: resource_type.to_string(),
                        id: id.to_string(),
                    },
                    Some(_) => EngineError::VersionNotFound {
                        resource_type: resource_type.to_string(),
                        id: id.to_string(),
                        version_id: version_id.0,
                    },
                })
            }
        }
    }

    /// [history](https://hl7.org/fhir/R4/http.html#history) at instance, type or system level.
    pub async fn history(
        &self,
        ctx: &Context,
        query: HistoryQuery,
    ) -> Result<HistoryPage, EngineError> {
        if let (Some(rt), Some(id)) = (&query.resource_type, &query.id) {
            let exists = self
                .store
                .read(&ctx.scope, ctx.fhir_version, rt, id)
                .await?;
            if exists.is_none() {
                return Err(EngineError::NotFound {
                    resource_type: rt.clone(),
                    id: id.clone(),
                });
            }
        }
        Ok(self.store.history(&ctx.scope, &query).await?)
    }

    /// The current, not deleted resources matching a conditional query, at most `limit`.
    pub async fn find(
        &self,
        ctx: &Context,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, EngineError> {
        Ok(self
            .store
            .find(&ctx.scope, ctx.fhir_version, query, limit)
            .await?)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn hale_store::WriteTx) -> Result<T, EngineError> + Send + 'static,
    {
        write_with(self.store.as_ref(), move |tx| {
            let result = work(tx);
            let decision = if result.is_ok() {
                hale_store::WriteDecision::Commit
            } else {
                hale_store::WriteDecision::Rollback
            };
            (decision, result)
        })
        .await?
    }
}

/// The `meta.lastUpdated` text of a version, as written into its JSON.
pub fn last_updated_text(instant: Instant) -> String {
    instant.to_fhir()
}

impl Engine {
    /// Loads resources as they are: each keeps its id (or gets a new one) and is created or
    /// updated, so loading the same data twice changes nothing. Resources are checked before the
    /// write, one result per input in order; the valid ones are written in one transaction.
    pub async fn import(
        &self,
        ctx: &Context,
        resources: Vec<Value>,
    ) -> Result<Vec<Result<WriteOutcome, EngineError>>, EngineError> {
        let mut results: Vec<Option<Result<WriteOutcome, EngineError>>> =
            Vec::with_capacity(resources.len());
        let mut valid = Vec::new();
        for (idx, resource) in resources.into_iter().enumerate() {
            match import_content(ctx, resource) {
                Ok((content, id)) => {
                    valid.push((idx, content, id));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let (ctx_in, ids) = (ctx.clone(), self.ids.clone());
        let written = self
            .run(move |tx| {
                valid
                    .into_iter()
                    .map(|(idx, content, id)| {
                        let id = id.unwrap_or_else(|| ids.new_id());
                        write::update(tx, &ctx_in, content, id, Preconditions::default())
                            .map(|o| (idx, o))
                    })
                    .collect::<Result<Vec<_>, EngineError>>()
            })
            .await?;
        for (idx, outcome) in written {
            results[idx] = Some(Ok(outcome));
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(EngineError::NotSupported(
                        "the resource was not written".into(),
                    ))
                })
            })
            .collect())
    }
}

fn import_content(
    ctx: &Context,
    resource: Value,
) -> Result<(prepare::Content, Option<ResourceId>), EngineError> {
    use hale_fhir::outcome::IssueType;
    let type_name = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            EngineError::invalid(IssueType::Required, "the resource has no resourceType")
        })?;
    let resource_type = ResourceType::parse(ctx.fhir_version, type_name)
        .map_err(|e| EngineError::invalid(IssueType::NotSupported, e.to_string()))?;
    let id = resource
        .get("id")
        .and_then(Value::as_str)
        .map(ResourceId::parse)
        .transpose()
        .map_err(|e| EngineError::invalid(IssueType::Value, e.to_string()))?;
    let content = prepare::Content::from_body(resource_type, resource, id.as_ref())?;
    Ok((content, id))
}
