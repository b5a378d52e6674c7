//! Importing a list of systems into the provider directory: the code `hale directory import`
//! and the demo share.

use std::sync::Arc;
use std::time::Duration;

use hale_directory::list::{ListedSystem, plan_import};
use hale_engine::{Context, Engine, Preconditions};
use hale_fhir::{FhirVersion, ResourceId, ResourceType};
use hale_server::directory::DirectoryCache;

use crate::load::{Rejection, Tally, import_chunk};

/// What importing a list did.
#[derive(Debug, Default)]
pub struct ListImport {
    /// Systems the list added to the directory.
    pub created: usize,
    /// Systems it updated.
    pub updated: usize,
    /// Resources written (Organizations, Endpoints, Locations).
    pub resources: u64,
    /// Locations removed because their system's new entry no longer names them.
    pub removed_locations: usize,
    /// Resources the store refused.
    pub rejections: Vec<Rejection>,
}

/// Writes `listed` into the directory as the operator: each system's Organization, Endpoint and
/// Locations, created or updated (matched by id or FHIR base URL), `chunk` resources per
/// transaction. A list with a bad row writes nothing.
pub async fn import_list(
    engine: &Engine,
    display: &str,
    listed: Vec<ListedSystem>,
    chunk: usize,
) -> anyhow::Result<ListImport> {
    let existing = DirectoryCache::new(engine.store().clone(), Duration::ZERO)
        .get()
        .await?;
    let plan = plan_import(listed, existing.systems())?;
    let ctx = Context::open(FhirVersion::R4);
    let tally = Arc::new(Tally::default());
    let mut rejections = Vec::new();
    // Organizations come first in the plan, so every chunk's references resolve to resources
    // written before or with it.
    for batch in plan.resources.chunks(chunk.max(1)) {
        rejections.extend(import_chunk(engine, &ctx, display, 0, batch.to_vec(), &tally).await?);
    }
    let location = ResourceType::parse(FhirVersion::R4, "Location")?;
    for id in &plan.stale_locations {
        engine
            .delete(
                &ctx,
                location,
                ResourceId::parse(id)?,
                Preconditions::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("removing Location {id}: {e}"))?;
    }
    Ok(ListImport {
        created: plan.created,
        updated: plan.updated,
        resources: tally.resources.load(std::sync::atomic::Ordering::Relaxed),
        removed_locations: plan.stale_locations.len(),
        rejections,
    })
}
