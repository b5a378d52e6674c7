//! The write interactions as synchronous functions over a [`WriteTx`], shared by single requests
//! and Bundle entries.
//!
//! Every write first decides what the principal may do with the resource it names
//! (`writable_current`): a resource the principal cannot see is not found, even when the
//! request would create it (a `PUT` to another owner's id neither overwrites it nor makes a
//! second resource of that id); one it can see but not change (operator data for anyone but the
//! operator, another user's data shared through a grant) is forbidden. A new version keeps its
//! resource's owner, and a new resource belongs to [`hale_store::Scope::new_owner`].

use hale_fhir::{ResourceId, ResourceType};
use hale_search::query::SearchQuery;
use hale_store::{Method, NewVersion, Owner, Scope, StoredResource, WriteTx};

use crate::prepare::{self, Content};
use crate::{Context, EngineError, IdSource};

/// Conditions from request headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Preconditions {
    /// `If-Match`: the version the client last saw.
    pub if_match: Option<u64>,
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStatus {
    /// A new resource (201).
    Created,
    /// A new version of an existing resource (200).
    Updated,
    /// A conditional create found the resource already there and wrote nothing (200).
    Existing,
    /// The resource was deleted (200).
    Deleted,
    /// A delete found nothing to delete (a conditional delete without matches, or a resource
    /// already deleted).
    NothingToDelete,
}

/// The outcome of a write.
#[derive(Clone, Debug)]
pub struct WriteOutcome {
    /// What happened.
    pub status: WriteStatus,
    /// The version written (or found, for [`WriteStatus::Existing`]).
    pub resource: StoredResource,
}

/// Creates a resource with a new id, unless `if_none_exist` matches one already.
pub fn create(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    ids: &dyn IdSource,
    content: Content,
    if_none_exist: Option<&SearchQuery>,
) -> Result<WriteOutcome, EngineError> {
    if let Some(query) = if_none_exist
        && let Some(existing) = find_one(tx, ctx, query, &query_text(query))?
    {
        return Ok(WriteOutcome {
            status: WriteStatus::Existing,
            resource: existing,
        });
    }
    create_fresh(tx, ctx, content, ids.new_id(), Method::Post)
}

/// Creates a resource under an id the server has just assigned, so no version of it can exist
/// and no lookup is needed.
pub fn create_fresh(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    mut content: Content,
    id: ResourceId,
    method: Method,
) -> Result<WriteOutcome, EngineError> {
    let version = Spec {
        id: id.as_str(),
        version_id: 1,
        owner: ctx.scope.new_owner(),
        method,
        status: WriteStatus::Created,
        known_new: true,
    };
    put_version(tx, ctx, &mut content, version)
}

/// Creates or updates the resource with the given id.
pub fn update(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    mut content: Content,
    id: ResourceId,
    preconditions: Preconditions,
) -> Result<WriteOutcome, EngineError> {
    let current = writable_current(tx, ctx, content.resource_type.as_str(), id.as_str())?;
    check_if_match(
        &content.resource_type,
        id.as_str(),
        current.as_ref(),
        preconditions,
    )?;
    match current {
        Some(current) if !current.deleted && unchanged(&mut content, &current) => {
            // Content equal to the current version makes no new version, so that loading the same
            // data again (and clients that PUT unchanged resources) leave history as it was.
            Ok(WriteOutcome {
                status: WriteStatus::Updated,
                resource: current,
            })
        }
        Some(current) => {
            // Updating a deleted resource brings it back as a new version of the same history.
            let status = if current.deleted {
                WriteStatus::Created
            } else {
                WriteStatus::Updated
            };
            let version = Spec::next(&current, Method::Put, status);
            put_version(tx, ctx, &mut content, version)
        }
        None => {
            let version = Spec {
                id: id.as_str(),
                version_id: 1,
                owner: ctx.scope.new_owner(),
                method: Method::Put,
                status: WriteStatus::Created,
                known_new: false,
            };
            put_version(tx, ctx, &mut content, version)
        }
    }
}

/// Whether `content` renders to exactly the bytes of `current`, meta aside.
fn unchanged(content: &mut Content, current: &StoredResource) -> bool {
    let json = prepare::render(
        content,
        &current.id,
        current.version_id,
        current.last_updated,
    );
    json == current.json.as_ref()
}

/// Updates the single match of `query`, or creates the resource when nothing matches.
pub fn conditional_update(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    ids: &dyn IdSource,
    mut content: Content,
    query: &SearchQuery,
    preconditions: Preconditions,
) -> Result<WriteOutcome, EngineError> {
    let body_id = content
        .object
        .get("id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    match find_one(tx, ctx, query, &query_text(query))? {
        Some(existing) => {
            if let Some(body_id) = &body_id
                && body_id != &existing.id
            {
                return Err(EngineError::invalid(
                    hale_fhir::outcome::IssueType::Invalid,
                    format!(
                        "the resource id {body_id:?} does not match the id {:?} of the resource the condition matched",
                        existing.id
                    ),
                ));
            }
            check_writable(ctx, &existing)?;
            check_if_match(
                &content.resource_type,
                &existing.id,
                Some(&existing),
                preconditions,
            )?;
            let version = Spec::next(&existing, Method::Put, WriteStatus::Updated);
            put_version(tx, ctx, &mut content, version)
        }
        None => match body_id {
            // A client-chosen id for a conditional create-by-update is honoured like a plain update.
            Some(id) => {
                let id = ResourceId::parse(&id).map_err(|e| {
                    EngineError::invalid(hale_fhir::outcome::IssueType::Value, e.to_string())
                })?;
                update(tx, ctx, content, id, preconditions)
            }
            None => create_fresh(tx, ctx, content, ids.new_id(), Method::Put),
        },
    }
}

/// Applies a JSON Patch to the current version.
pub fn patch(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    resource_type: ResourceType,
    id: ResourceId,
    patch: &json_patch::Patch,
    preconditions: Preconditions,
) -> Result<WriteOutcome, EngineError> {
    let current = match writable_current(tx, ctx, resource_type.as_str(), id.as_str())? {
        Some(current) if current.deleted => {
            return Err(EngineError::Gone {
                resource_type: current.resource_type,
                id: current.id,
                version_id: current.version_id,
            });
        }
        Some(current) => current,
        None => return Err(not_found(resource_type.as_str(), id.as_str())),
    };
    check_if_match(&resource_type, id.as_str(), Some(&current), preconditions)?;
    let mut content = prepare::apply_patch(resource_type, &id, &current.json, patch)?;
    let version = Spec::next(&current, Method::Patch, WriteStatus::Updated);
    put_version(tx, ctx, &mut content, version)
}

/// Deletes a resource: a new version that marks it deleted. Deleting a deleted resource changes
/// nothing.
pub fn delete(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    resource_type: ResourceType,
    id: ResourceId,
    preconditions: Preconditions,
) -> Result<WriteOutcome, EngineError> {
    let Some(current) = writable_current(tx, ctx, resource_type.as_str(), id.as_str())? else {
        return Err(not_found(resource_type.as_str(), id.as_str()));
    };
    check_if_match(&resource_type, id.as_str(), Some(&current), preconditions)?;
    if current.deleted {
        return Ok(WriteOutcome {
            status: WriteStatus::NothingToDelete,
            resource: current,
        });
    }
    delete_version(tx, ctx, resource_type.as_str(), &current)
}

/// Deletes the single match of `query`; nothing matched is not an error.
pub fn conditional_delete(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    query: &SearchQuery,
) -> Result<Option<WriteOutcome>, EngineError> {
    match find_one(tx, ctx, query, &query_text(query))? {
        Some(existing) => {
            check_writable(ctx, &existing)?;
            delete_version(tx, ctx, query.resource_type, &existing).map(Some)
        }
        None => Ok(None),
    }
}

fn delete_version(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    resource_type: &'static str,
    current: &StoredResource,
) -> Result<WriteOutcome, EngineError> {
    let last_updated = tx.now();
    let version = NewVersion {
        fhir_version: ctx.fhir_version,
        resource_type,
        id: current.id.clone(),
        version_id: current.version_id + 1,
        last_updated,
        owner: current.owner,
        method: Method::Delete,
        json: bytes::Bytes::new(),
        index: Vec::new(),
        compartments: Vec::new(),
        known_new: false,
    };
    record(tx, version, WriteStatus::Deleted)
}

/// The single match of a condition, none, or an error for several.
pub(crate) fn find_one(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    query: &SearchQuery,
    condition: &str,
) -> Result<Option<StoredResource>, EngineError> {
    let mut matches = tx.find(&ctx.scope, ctx.fhir_version, query, 2)?;
    match matches.len() {
        0 => Ok(None),
        1 => Ok(matches.pop()),
        n_matches => Err(EngineError::MultipleMatches {
            condition: condition.to_owned(),
            n_matches,
        }),
    }
}

/// The current version of a resource (deleted or not) if the principal may change it, or none
/// when no version exists. A resource the principal cannot see is [`EngineError::NotFound`], so
/// that a write never reveals it exists; one it can see but not change is
/// [`EngineError::Forbidden`].
fn writable_current(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredResource>, EngineError> {
    let Some(current) = tx.current(&Scope::All, ctx.fhir_version, resource_type, id)? else {
        return Ok(None);
    };
    if ctx.scope.may_write(current.owner) {
        return Ok(Some(current));
    }
    // Operator data is visible to everyone. Whether a grant shows another user's resource
    // depends on the resource's compartments, which only the store knows, so it answers under
    // the principal's own scope.
    let visible = current.owner.is_none()
        || tx
            .current(&ctx.scope, ctx.fhir_version, resource_type, id)?
            .is_some();
    if visible {
        Err(read_only(&current))
    } else {
        Err(not_found(resource_type, id))
    }
}

/// Fails with [`EngineError::Forbidden`] unless the principal may change `resource`, which the
/// caller found within the principal's scope (so it is visible).
fn check_writable(ctx: &Context, resource: &StoredResource) -> Result<(), EngineError> {
    if ctx.scope.may_write(resource.owner) {
        Ok(())
    } else {
        Err(read_only(resource))
    }
}

fn read_only(resource: &StoredResource) -> EngineError {
    EngineError::Forbidden(format!(
        "{}/{} can be read but not changed by this client",
        resource.resource_type, resource.id
    ))
}

pub(crate) fn not_found(resource_type: &str, id: &str) -> EngineError {
    EngineError::NotFound {
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
    }
}

fn check_if_match(
    resource_type: &ResourceType,
    id: &str,
    current: Option<&StoredResource>,
    preconditions: Preconditions,
) -> Result<(), EngineError> {
    let Some(expected) = preconditions.if_match else {
        return Ok(());
    };
    let current_version = current.map_or(0, |c| c.version_id);
    if current_version == expected {
        Ok(())
    } else {
        Err(EngineError::VersionConflict {
            resource_type: resource_type.to_string(),
            id: id.to_string(),
            expected,
            current: current_version,
        })
    }
}

/// The version [`put_version`] writes, apart from its content.
struct Spec<'a> {
    id: &'a str,
    version_id: u64,
    owner: Option<Owner>,
    method: Method,
    status: WriteStatus,
    /// The id was just assigned, so no version of it exists.
    known_new: bool,
}

impl<'a> Spec<'a> {
    /// The version after `current`, with its owner.
    fn next(current: &'a StoredResource, method: Method, status: WriteStatus) -> Self {
        Spec {
            id: &current.id,
            version_id: current.version_id + 1,
            owner: current.owner,
            method,
            status,
            known_new: false,
        }
    }
}

fn put_version(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    content: &mut Content,
    spec: Spec<'_>,
) -> Result<WriteOutcome, EngineError> {
    let last_updated = tx.now();
    let stamped = prepare::stamp(content, spec.id, spec.version_id, last_updated);
    let version = NewVersion {
        fhir_version: ctx.fhir_version,
        resource_type: content.resource_type.as_str(),
        id: spec.id.to_owned(),
        version_id: spec.version_id,
        last_updated,
        owner: spec.owner,
        method: spec.method,
        json: bytes::Bytes::from(stamped.json),
        index: stamped.index,
        compartments: stamped.compartments,
        known_new: spec.known_new,
    };
    record(tx, version, spec.status)
}

/// Writes a version and describes it as the stored resource it now is.
fn record(
    tx: &mut dyn WriteTx,
    version: NewVersion,
    status: WriteStatus,
) -> Result<WriteOutcome, EngineError> {
    let resource = StoredResource {
        fhir_version: version.fhir_version,
        resource_type: version.resource_type.to_owned(),
        id: version.id.clone(),
        version_id: version.version_id,
        last_updated: version.last_updated,
        deleted: version.is_delete(),
        seq: 0,
        owner: version.owner,
        method: version.method,
        json: version.json.clone(),
    };
    let seq = tx.put(version)?;
    Ok(WriteOutcome {
        status,
        resource: StoredResource { seq, ..resource },
    })
}

/// A readable form of a parsed condition for error messages.
pub(crate) fn query_text(query: &SearchQuery) -> String {
    let codes: Vec<&str> = query
        .criteria
        .iter()
        .map(|c| match c {
            hale_search::query::Criterion::Param(p) => p.code,
            hale_search::query::Criterion::Chain { code, .. } => code,
            hale_search::query::Criterion::Has { .. } => "_has",
            hale_search::query::Criterion::Any(_) => "(chain)",
            hale_search::query::Criterion::All(_) => "(all)",
            hale_search::query::Criterion::ReferencedFrom { .. } => "(referenced)",
            hale_search::query::Criterion::Compartment { .. } => "(compartment)",
        })
        .collect();
    format!("{}?{}", query.resource_type, codes.join("&"))
}
