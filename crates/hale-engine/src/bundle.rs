//! [batch and transaction](https://hl7.org/fhir/R4/http.html#transaction) Bundles.
//!
//! A transaction runs as one write closure, so it commits or rolls back whole. A batch runs one
//! closure per entry; the closures are queued in processing order, so they run one after another
//! in the writer and each sees what the ones before it wrote. Entries are processed in FHIR's
//! order (DELETE, POST, PUT/PATCH, GET) and answered in request order.
//!
//! Before anything is written, every `fullUrl` that a POST or PUT entry will give a resource
//! (`urn:uuid:…` placeholders included) is mapped to its final `Type/id`, and references to those
//! URLs are rewritten. Conditional references (`Practitioner?identifier=…`) are resolved inside
//! the same transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hale_fhir::outcome::IssueType;
use hale_fhir::{ResourceId, ResourceType, VersionId};
use hale_search::query::{SearchQuery, parse_conditional};
use hale_store::{Method, StoredResource, WriteTx};
use serde_json::Value;

use crate::prepare::Content;
use crate::write::{self, Preconditions, WriteOutcome, find_one};
use crate::{Context, Engine, EngineError, IdSource};

/// Most entries in one Bundle.
pub const MAX_ENTRIES: usize = 10_000;

/// The kind of Bundle processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleKind {
    /// `batch`: entries succeed or fail one by one.
    Batch,
    /// `transaction`: all entries or none.
    Transaction,
}

/// How ids of created resources are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IdPolicy {
    /// The server assigns ids to POSTed resources, as FHIR's create requires.
    #[default]
    Assign,
    /// POSTed resources that carry a valid id keep it and are upserted, so that loading the same
    /// data twice creates no duplicates. `hale import` uses this.
    Keep,
}

/// What one entry produced.
#[derive(Debug)]
pub enum EntryOutcome {
    /// A write happened (or a conditional create found a match).
    Write(WriteOutcome),
    /// A conditional delete matched nothing.
    NoMatch,
    /// A read.
    Read(StoredResource),
    /// The entry failed (batch only; a failed transaction entry fails the whole Bundle).
    Error(EngineError),
}

/// The response to a Bundle, one outcome per request entry, in request order.
#[derive(Debug)]
pub struct BundleResponse {
    /// Batch or transaction.
    pub kind: BundleKind,
    /// The outcomes.
    pub entries: Vec<EntryOutcome>,
}

#[derive(Debug)]
enum Action {
    Create {
        content: Content,
        if_none_exist: Option<SearchQuery>,
        keep_id: Option<ResourceId>,
        /// Whether `keep_id` was just assigned by the server (no version can exist).
        fresh: bool,
    },
    Update {
        content: Content,
        id: ResourceId,
        preconditions: Preconditions,
    },
    ConditionalUpdate {
        content: Content,
        query: SearchQuery,
        preconditions: Preconditions,
    },
    Patch {
        resource_type: ResourceType,
        id: ResourceId,
        patch: json_patch::Patch,
        preconditions: Preconditions,
    },
    Delete {
        resource_type: ResourceType,
        id: ResourceId,
        preconditions: Preconditions,
    },
    ConditionalDelete {
        query: SearchQuery,
    },
    Read {
        resource_type: ResourceType,
        id: ResourceId,
        version_id: Option<VersionId>,
    },
    /// A conditional create whose condition matched this resource.
    Existing(StoredResource),
}

impl Action {
    /// FHIR's processing order: DELETE, POST, PUT/PATCH, GET.
    fn order(&self) -> u8 {
        match self {
            Action::Delete { .. } | Action::ConditionalDelete { .. } => 0,
            Action::Create { .. } => 1,
            Action::Update { .. } | Action::ConditionalUpdate { .. } | Action::Patch { .. } => 2,
            Action::Read { .. } | Action::Existing(_) => 3,
        }
    }
}

#[derive(Debug)]
struct Entry {
    entry_idx: usize,
    full_url: Option<String>,
    action: Action,
}

/// Processes a Bundle with server-assigned ids.
pub async fn process(
    engine: &Engine,
    ctx: &Context,
    body: Value,
) -> Result<BundleResponse, EngineError> {
    process_with(engine, ctx, body, IdPolicy::Assign).await
}

/// Processes a Bundle with the given id policy.
pub async fn process_with(
    engine: &Engine,
    ctx: &Context,
    body: Value,
    policy: IdPolicy,
) -> Result<BundleResponse, EngineError> {
    let (kind, raw_entries) = split_bundle(body)?;
    let n_entries = raw_entries.len();
    let mut parsed: Vec<Result<Entry, EngineError>> = raw_entries
        .into_iter()
        .enumerate()
        .map(|(entry_idx, raw)| parse_entry(ctx, entry_idx, raw, policy))
        .collect();
    match kind {
        BundleKind::Transaction => {
            let mut entries = Vec::with_capacity(n_entries);
            for result in parsed.drain(..) {
                entries.push(result.map_err(|e| match e {
                    EngineError::TransactionEntry { .. } => e,
                    other => EngineError::TransactionEntry {
                        entry_idx: entries.len(),
                        source: Box::new(other),
                    },
                })?);
            }
            let (ctx, ids) = (ctx.clone(), engine.ids.clone());
            let outcomes = engine
                .run(move |tx| run_transaction(tx, &ctx, ids.as_ref(), entries))
                .await?;
            Ok(BundleResponse {
                kind,
                entries: outcomes,
            })
        }
        BundleKind::Batch => {
            let mut outcomes: Vec<Option<EntryOutcome>> = (0..n_entries).map(|_| None).collect();
            let mut entries = Vec::new();
            for (entry_idx, result) in parsed.drain(..).enumerate() {
                match result {
                    Ok(entry) => entries.push(entry),
                    Err(e) => outcomes[entry_idx] = Some(EntryOutcome::Error(e)),
                }
            }
            entries.sort_by_key(|e| e.action.order());
            let references = Arc::new(Mutex::new(References::default()));
            // Queue every entry's closure before awaiting any, so they share group commits; the
            // writer runs them in this order.
            let futures = entries.into_iter().map(|entry| {
                let (ctx, ids, references) = (ctx.clone(), engine.ids.clone(), references.clone());
                let entry_idx = entry.entry_idx;
                async move {
                    let outcome = engine
                        .run(move |tx| {
                            let mut references = references.lock().map_err(|_| {
                                EngineError::NotSupported("a batch entry failed".into())
                            })?;
                            let entry = references
                                .plan(tx, &ctx, ids.as_ref(), vec![entry])?
                                .pop()
                                .ok_or_else(|| {
                                    EngineError::NotSupported("lost a batch entry".into())
                                })?;
                            execute(tx, &ctx, ids.as_ref(), &mut references, entry)
                        })
                        .await;
                    (entry_idx, outcome)
                }
            });
            for (entry_idx, outcome) in futures::future::join_all(futures).await {
                outcomes[entry_idx] = Some(match outcome {
                    Ok(outcome) => outcome,
                    Err(e) => EntryOutcome::Error(e),
                });
            }
            let entries = outcomes
                .into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| {
                        EntryOutcome::Error(EngineError::NotSupported(
                            "entry was not processed".into(),
                        ))
                    })
                })
                .collect();
            Ok(BundleResponse { kind, entries })
        }
    }
}

fn split_bundle(body: Value) -> Result<(BundleKind, Vec<Value>), EngineError> {
    let Value::Object(mut object) = body else {
        return Err(EngineError::invalid(
            IssueType::Structure,
            "the request body must be a Bundle",
        ));
    };
    if object.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(EngineError::invalid(
            IssueType::Invalid,
            "only a Bundle of type batch or transaction can be posted to the base URL",
        ));
    }
    let kind = match object.get("type").and_then(Value::as_str) {
        Some("batch") => BundleKind::Batch,
        Some("transaction") => BundleKind::Transaction,
        other => {
            return Err(EngineError::invalid(
                IssueType::Invalid,
                format!(
                    "Bundle.type must be batch or transaction, not {}",
                    other.map_or("missing".into(), |t| format!("{t:?}"))
                ),
            ));
        }
    };
    let entries = match object.remove("entry") {
        None => Vec::new(),
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            return Err(EngineError::invalid(
                IssueType::Structure,
                "Bundle.entry must be an array",
            ));
        }
    };
    if entries.len() > MAX_ENTRIES {
        return Err(EngineError::invalid(
            IssueType::TooCostly,
            format!("a Bundle may have at most {MAX_ENTRIES} entries"),
        ));
    }
    Ok((kind, entries))
}

fn entry_error(entry_idx: usize, code: IssueType, text: impl Into<String>) -> EngineError {
    let text = text.into();
    EngineError::Invalid(vec![
        hale_fhir::outcome::Issue::error(code, text).at(format!("Bundle.entry[{entry_idx}]")),
    ])
}

fn parse_entry(
    ctx: &Context,
    entry_idx: usize,
    raw: Value,
    policy: IdPolicy,
) -> Result<Entry, EngineError> {
    let Value::Object(mut raw) = raw else {
        return Err(entry_error(
            entry_idx,
            IssueType::Structure,
            "a Bundle entry must be an object",
        ));
    };
    let full_url = raw
        .get("fullUrl")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let request = raw
        .remove("request")
        .ok_or_else(|| entry_error(entry_idx, IssueType::Required, "the entry has no request"))?;
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches('/');
    if url.is_empty() {
        return Err(entry_error(
            entry_idx,
            IssueType::Required,
            "the entry's request has no url",
        ));
    }
    let if_match = request
        .get("ifMatch")
        .and_then(Value::as_str)
        .map(|v| VersionId::parse_etag(v).map(|v| v.0))
        .transpose()
        .map_err(|e| entry_error(entry_idx, IssueType::Value, format!("ifMatch: {e}")))?;
    let preconditions = Preconditions { if_match };
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let segments: Vec<&str> = path.split('/').collect();
    let resource_type = ResourceType::parse(ctx.fhir_version, segments[0])
        .map_err(|e| entry_error(entry_idx, IssueType::NotSupported, e.to_string()))?;
    let id_at = |idx: usize| -> Result<ResourceId, EngineError> {
        ResourceId::parse(segments.get(idx).copied().unwrap_or(""))
            .map_err(|e| entry_error(entry_idx, IssueType::Value, e.to_string()))
    };
    let condition = |q: &str| -> Result<SearchQuery, EngineError> {
        parse_conditional(resource_type.as_str(), q)
            .map_err(|e| entry_error(entry_idx, IssueType::Invalid, e.to_string()))
    };
    let mut body = raw.remove("resource");
    // Each arm below uses the body once, so taking it moves the resource without copying.
    let mut content = |expected_id: Option<&ResourceId>| -> Result<Content, EngineError> {
        let body = body.take().ok_or_else(|| {
            entry_error(entry_idx, IssueType::Required, "the entry has no resource")
        })?;
        Content::from_body(resource_type, body, expected_id).map_err(|e| match e {
            EngineError::Invalid(issues) => EngineError::Invalid(
                issues
                    .into_iter()
                    .map(|mut i| {
                        i.expression = i
                            .expression
                            .into_iter()
                            .map(|x| format!("Bundle.entry[{entry_idx}].resource.{x}"))
                            .collect();
                        i
                    })
                    .collect(),
            ),
            other => other,
        })
    };
    let action = match (method, segments.len(), query) {
        ("POST", 1, None) => {
            let content = content(None)?;
            let keep_id = match policy {
                IdPolicy::Keep => content
                    .object
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| ResourceId::parse(id).ok()),
                IdPolicy::Assign => None,
            };
            let if_none_exist = request
                .get("ifNoneExist")
                .and_then(Value::as_str)
                .map(|q| condition(q.trim_start_matches('?')))
                .transpose()?;
            Action::Create {
                content,
                if_none_exist,
                keep_id,
                fresh: false,
            }
        }
        ("PUT", 2, None) => {
            let id = id_at(1)?;
            Action::Update {
                content: content(Some(&id))?,
                id,
                preconditions,
            }
        }
        ("PUT", 1, Some(q)) => Action::ConditionalUpdate {
            content: content(None)?,
            query: condition(q)?,
            preconditions,
        },
        ("PATCH", 2, None) => {
            let id = id_at(1)?;
            let patch = patch_from_binary(entry_idx, body.as_ref())?;
            Action::Patch {
                resource_type,
                id,
                patch,
                preconditions,
            }
        }
        ("DELETE", 2, None) => Action::Delete {
            resource_type,
            id: id_at(1)?,
            preconditions,
        },
        ("DELETE", 1, Some(q)) => Action::ConditionalDelete {
            query: condition(q)?,
        },
        ("GET", 2, None) => Action::Read {
            resource_type,
            id: id_at(1)?,
            version_id: None,
        },
        ("GET", 4, None) if segments[2] == "_history" => {
            let version_id = VersionId::parse(segments[3])
                .map_err(|e| entry_error(entry_idx, IssueType::Value, e.to_string()))?;
            Action::Read {
                resource_type,
                id: id_at(1)?,
                version_id: Some(version_id),
            }
        }
        ("GET" | "HEAD", _, _) => {
            return Err(entry_error(
                entry_idx,
                IssueType::NotSupported,
                format!(
                    "GET {url} in a Bundle: only read and vread are supported in Bundles so far"
                ),
            ));
        }
        _ => {
            return Err(entry_error(
                entry_idx,
                IssueType::NotSupported,
                format!("{method} {url} is not a supported Bundle request"),
            ));
        }
    };
    Ok(Entry {
        entry_idx,
        full_url,
        action,
    })
}

/// A PATCH entry carries its JSON Patch as a Binary resource, as FHIR prescribes for Bundles.
fn patch_from_binary(
    entry_idx: usize,
    body: Option<&Value>,
) -> Result<json_patch::Patch, EngineError> {
    let binary = body.ok_or_else(|| {
        entry_error(
            entry_idx,
            IssueType::Required,
            "a PATCH entry needs a Binary resource holding the JSON Patch",
        )
    })?;
    if binary.get("resourceType").and_then(Value::as_str) != Some("Binary") {
        return Err(entry_error(
            entry_idx,
            IssueType::NotSupported,
            "a PATCH entry needs a Binary resource holding a JSON Patch (FHIRPath Patch is not supported)",
        ));
    }
    let data = binary.get("data").and_then(Value::as_str).unwrap_or("");
    let decoded = base64_decode(data).ok_or_else(|| {
        entry_error(
            entry_idx,
            IssueType::Value,
            "Binary.data is not valid base64",
        )
    })?;
    let patch: Value = serde_json::from_slice(&decoded).map_err(|e| {
        entry_error(
            entry_idx,
            IssueType::Structure,
            format!("the JSON Patch is not JSON: {e}"),
        )
    })?;
    crate::prepare::parse_json_patch(patch)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b'\n' | b'\r' | b' ' => continue,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// The references a Bundle's entries resolve to: fullUrl placeholders and conditional references.
#[derive(Default)]
struct References {
    by_full_url: HashMap<String, String>,
    conditional: HashMap<String, String>,
}

impl References {
    /// Resolves, before anything is written, the conditional references of a transaction that
    /// only creates resources (and reads), and keeps those that match exactly one resource.
    ///
    /// A reference resolved while the entries run must first send every write still waiting
    /// (the search has to see them), which on PostgreSQL drains the stream of inserts each time:
    /// a Synthea patient's Bundle names 6 to 12 practitioners, organizations and locations this
    /// way. Resolving them first, in a row, costs one search each and drains nothing.
    ///
    /// Nothing such a transaction does can make a resource stop matching, so a single match
    /// now is the one every entry would see, with one exception: an entry creating a second
    /// match. The reference then resolves to the resource that was on the server before the
    /// transaction, as FHIR's transaction rules read (conditional references are resolved
    /// against the server's content). A condition without a single match now is left to be
    /// resolved when an entry names it, as before, so that it can find a resource the
    /// transaction creates, or fail with the reference named.
    fn prefetch(
        &mut self,
        tx: &mut dyn WriteTx,
        ctx: &Context,
        entries: &[Entry],
    ) -> Result<(), EngineError> {
        let only_creates = entries.iter().all(|entry| {
            matches!(
                entry.action,
                Action::Create { keep_id: None, .. } | Action::Read { .. }
            )
        });
        if !only_creates {
            return Ok(());
        }
        let mut conditions = Vec::new();
        for entry in entries {
            if let Action::Create { content, .. } = &entry.action {
                for value in content.object.values() {
                    collect_references(value, &mut |reference| {
                        if reference.contains('?') && !conditions.contains(&reference) {
                            conditions.push(reference);
                        }
                    });
                }
            }
        }
        for reference in conditions {
            // A malformed condition fails where an entry names it, with that entry's message.
            let Some(Ok(query)) = conditional_query(ctx, reference) else {
                continue;
            };
            match find_one(tx, ctx, &query, reference) {
                Ok(Some(found)) => {
                    self.remember(reference, &found);
                }
                Ok(None) | Err(EngineError::MultipleMatches { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Records that the conditional reference `reference` stands for `found`, and returns the
    /// `Type/id` it is rewritten to.
    fn remember(&mut self, reference: &str, found: &StoredResource) -> String {
        let target = format!("{}/{}", found.resource_type, found.id);
        self.conditional
            .insert(reference.to_owned(), target.clone());
        target
    }

    /// Decides the id of every entry that will create or update a resource, and records which
    /// `Type/id` its fullUrl stands for. Conditional creates that match and conditional updates
    /// become the plain interactions they resolve to.
    fn plan(
        &mut self,
        tx: &mut dyn WriteTx,
        ctx: &Context,
        ids: &dyn IdSource,
        entries: Vec<Entry>,
    ) -> Result<Vec<Entry>, EngineError> {
        let mut planned = Vec::with_capacity(entries.len());
        for Entry {
            entry_idx,
            full_url,
            action,
        } in entries
        {
            let (action, target) = match action {
                Action::Create {
                    content,
                    if_none_exist,
                    keep_id,
                    ..
                } => {
                    let matched = match &if_none_exist {
                        Some(query) => find_one(tx, ctx, query, &entry_condition(entry_idx, query))
                            .map_err(|e| wrap(entry_idx, e))?,
                        None => None,
                    };
                    match matched {
                        Some(existing) => {
                            // The placeholder now stands for the resource that already exists,
                            // and the entry answers with it.
                            let target = format!("{}/{}", existing.resource_type, existing.id);
                            (Action::Existing(existing), target)
                        }
                        None => {
                            let fresh = keep_id.is_none();
                            let id = keep_id.unwrap_or_else(|| ids.new_id());
                            let target = format!("{}/{}", content.resource_type, id);
                            (
                                Action::Create {
                                    content,
                                    if_none_exist: None,
                                    keep_id: Some(id),
                                    fresh,
                                },
                                target,
                            )
                        }
                    }
                }
                Action::Update {
                    content,
                    id,
                    preconditions,
                } => {
                    let target = format!("{}/{}", content.resource_type, id);
                    (
                        Action::Update {
                            content,
                            id,
                            preconditions,
                        },
                        target,
                    )
                }
                Action::ConditionalUpdate {
                    mut content,
                    query,
                    preconditions,
                } => {
                    let existing = find_one(tx, ctx, &query, &entry_condition(entry_idx, &query))
                        .map_err(|e| wrap(entry_idx, e))?;
                    let body_id = content
                        .object
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let id = match (existing, body_id) {
                        (Some(existing), Some(body_id)) if body_id != existing.id => {
                            return Err(wrap(
                                entry_idx,
                                EngineError::invalid(
                                    IssueType::Invalid,
                                    format!(
                                        "the resource id {body_id:?} does not match the id {:?} of the resource the condition matched",
                                        existing.id
                                    ),
                                ),
                            ));
                        }
                        (Some(existing), _) => existing.id,
                        (None, Some(body_id)) => body_id,
                        (None, None) => ids.new_id().into_string(),
                    };
                    let id = ResourceId::parse(&id).map_err(|e| {
                        wrap(
                            entry_idx,
                            EngineError::invalid(IssueType::Value, e.to_string()),
                        )
                    })?;
                    content
                        .object
                        .insert("id".into(), Value::String(id.to_string()));
                    let target = format!("{}/{}", content.resource_type, id);
                    (
                        Action::Update {
                            content,
                            id,
                            preconditions,
                        },
                        target,
                    )
                }
                other => {
                    planned.push(Entry {
                        entry_idx,
                        full_url,
                        action: other,
                    });
                    continue;
                }
            };
            if let Some(full_url) = &full_url {
                self.by_full_url.insert(full_url.clone(), target);
            }
            planned.push(Entry {
                entry_idx,
                full_url,
                action,
            });
        }
        Ok(planned)
    }

    /// Rewrites every `reference` in `value` that names a planned fullUrl or a condition.
    fn rewrite(
        &mut self,
        tx: &mut dyn WriteTx,
        ctx: &Context,
        value: &mut Value,
    ) -> Result<(), EngineError> {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match child {
                        Value::String(reference) if key == "reference" => {
                            if let Some(resolved) = self.resolve(tx, ctx, reference)? {
                                *reference = resolved;
                            }
                        }
                        _ => self.rewrite(tx, ctx, child)?,
                    }
                }
                Ok(())
            }
            Value::Array(items) => items
                .iter_mut()
                .try_for_each(|item| self.rewrite(tx, ctx, item)),
            _ => Ok(()),
        }
    }

    fn resolve(
        &mut self,
        tx: &mut dyn WriteTx,
        ctx: &Context,
        reference: &str,
    ) -> Result<Option<String>, EngineError> {
        if let Some(target) = self.by_full_url.get(reference) {
            return Ok(Some(target.clone()));
        }
        if let Some(target) = self.conditional.get(reference) {
            return Ok(Some(target.clone()));
        }
        let Some(parsed) = conditional_query(ctx, reference) else {
            return Ok(None);
        };
        match find_one(tx, ctx, &parsed?, reference)? {
            Some(found) => Ok(Some(self.remember(reference, &found))),
            None => Err(EngineError::UnresolvedReference {
                condition: reference.to_owned(),
            }),
        }
    }
}

/// The search a conditional reference (`Type?criteria`) stands for, or `None` when `reference`
/// is not one.
fn conditional_query(ctx: &Context, reference: &str) -> Option<Result<SearchQuery, EngineError>> {
    let (type_name, query) = reference.split_once('?')?;
    let resource_type = ResourceType::parse(ctx.fhir_version, type_name).ok()?;
    Some(
        parse_conditional(resource_type.as_str(), query).map_err(|e| {
            EngineError::invalid(
                IssueType::Invalid,
                format!("conditional reference {reference:?}: {e}"),
            )
        }),
    )
}

/// Calls `found` with every `reference` string in `value`, as [`References::rewrite`] visits
/// them.
fn collect_references<'a>(value: &'a Value, found: &mut impl FnMut(&'a str)) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match child {
                    Value::String(reference) if key == "reference" => found(reference),
                    _ => collect_references(child, found),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, found)),
        _ => {}
    }
}

fn entry_condition(entry_idx: usize, query: &SearchQuery) -> String {
    format!("Bundle.entry[{entry_idx}]: {}", write::query_text(query))
}

fn wrap(entry_idx: usize, e: EngineError) -> EngineError {
    match e {
        EngineError::TransactionEntry { .. } => e,
        other => EngineError::TransactionEntry {
            entry_idx,
            source: Box::new(other),
        },
    }
}

/// A transaction [fails](https://hl7.org/fhir/R4/http.html#trules) when two of its entries write
/// the same resource, since their order would decide the outcome.
fn reject_overlapping_writes(entries: &[Entry]) -> Result<(), EngineError> {
    let mut targets: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        let target = match &entry.action {
            Action::Create {
                content,
                keep_id: Some(id),
                ..
            }
            | Action::Update { content, id, .. } => {
                format!("{}/{}", content.resource_type, id)
            }
            Action::Patch {
                resource_type, id, ..
            }
            | Action::Delete {
                resource_type, id, ..
            } => {
                format!("{resource_type}/{id}")
            }
            _ => continue,
        };
        if let Some(first_idx) = targets.insert(target.clone(), entry.entry_idx) {
            return Err(wrap(
                entry.entry_idx,
                EngineError::invalid(
                    IssueType::Duplicate,
                    format!(
                        "entries {first_idx} and {} of the transaction both write {target}",
                        entry.entry_idx
                    ),
                ),
            ));
        }
    }
    Ok(())
}

fn run_transaction(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    ids: &dyn IdSource,
    mut entries: Vec<Entry>,
) -> Result<Vec<EntryOutcome>, EngineError> {
    let n_entries = entries.len();
    entries.sort_by_key(|e| e.action.order());
    let mut references = References::default();
    references.prefetch(tx, ctx, &entries)?;
    let entries = references.plan(tx, ctx, ids, entries)?;
    reject_overlapping_writes(&entries)?;
    let mut outcomes: Vec<Option<EntryOutcome>> = (0..n_entries).map(|_| None).collect();
    for entry in entries {
        let entry_idx = entry.entry_idx;
        let outcome =
            execute(tx, ctx, ids, &mut references, entry).map_err(|e| wrap(entry_idx, e))?;
        outcomes[entry_idx] = Some(outcome);
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(EntryOutcome::NoMatch))
        .collect())
}

fn execute(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    ids: &dyn IdSource,
    references: &mut References,
    entry: Entry,
) -> Result<EntryOutcome, EngineError> {
    match entry.action {
        Action::Create {
            mut content,
            keep_id,
            fresh,
            ..
        } => {
            for value in content.object.values_mut() {
                references.rewrite(tx, ctx, value)?;
            }
            let outcome = match keep_id {
                Some(id) if fresh => write::create_fresh(tx, ctx, content, id, Method::Post),
                // With a kept id that already exists this is an upsert, which is what import wants.
                Some(id) => write::update(tx, ctx, content, id, Preconditions::default()),
                None => write::create_fresh(tx, ctx, content, ids.new_id(), Method::Post),
            };
            outcome.map(EntryOutcome::Write)
        }
        Action::Update {
            mut content,
            id,
            preconditions,
        } => {
            for value in content.object.values_mut() {
                references.rewrite(tx, ctx, value)?;
            }
            write::update(tx, ctx, content, id, preconditions).map(EntryOutcome::Write)
        }
        Action::ConditionalUpdate {
            mut content,
            query,
            preconditions,
        } => {
            for value in content.object.values_mut() {
                references.rewrite(tx, ctx, value)?;
            }
            write::conditional_update(tx, ctx, ids, content, &query, preconditions)
                .map(EntryOutcome::Write)
        }
        Action::Patch {
            resource_type,
            id,
            patch,
            preconditions,
        } => {
            write::patch(tx, ctx, resource_type, id, &patch, preconditions).map(EntryOutcome::Write)
        }
        Action::Delete {
            resource_type,
            id,
            preconditions,
        } => write::delete(tx, ctx, resource_type, id, preconditions).map(EntryOutcome::Write),
        Action::ConditionalDelete { query } => {
            Ok(match write::conditional_delete(tx, ctx, &query)? {
                Some(outcome) => EntryOutcome::Write(outcome),
                None => EntryOutcome::NoMatch,
            })
        }
        Action::Read {
            resource_type,
            id,
            version_id,
        } => read_in_tx(tx, ctx, resource_type, &id, version_id),
        Action::Existing(existing) => Ok(EntryOutcome::Write(WriteOutcome {
            status: write::WriteStatus::Existing,
            resource: existing,
        })),
    }
}

fn read_in_tx(
    tx: &mut dyn WriteTx,
    ctx: &Context,
    resource_type: ResourceType,
    id: &ResourceId,
    version_id: Option<VersionId>,
) -> Result<EntryOutcome, EngineError> {
    let current = tx.current(
        &ctx.scope,
        ctx.fhir_version,
        resource_type.as_str(),
        id.as_str(),
    )?;
    match current {
        None => Err(EngineError::NotFound {
            resource_type: resource_type.to_string(),
            id: id.to_string(),
        }),
        Some(c) if version_id.is_some_and(|v| v.0 != c.version_id) => {
            Err(EngineError::NotSupported(format!(
                "vread of an older version of {}/{} inside a Bundle is not supported; read it with GET {}/{}/_history/{}",
                c.resource_type,
                c.id,
                c.resource_type,
                c.id,
                version_id.map_or(0, |v| v.0)
            )))
        }
        Some(c) if c.deleted => Err(EngineError::Gone {
            resource_type: c.resource_type,
            id: c.id,
            version_id: c.version_id,
        }),
        Some(c) => Ok(EntryOutcome::Read(c)),
    }
}
