//! The [search interaction](https://hl7.org/fhir/R4/search.html) over the store: one page of
//! matches, the total the request asks for, and the `_include` / `_revinclude` resources of the
//! page, each path resolved in one store query.
//!
//! Paging is keyset: a page starts after (or, going back, before) the [`Position`] of a resource
//! in the search's order, so pages never repeat or skip a resource while others write. The
//! horizon of the first page travels with the cursor, so resources created later stay out of
//! later pages and out of the total.

use std::collections::HashSet;

use hale_search::query::{SearchRequest, Summary, TotalMode};
use hale_store::{Hit, PageRequest, Position, ResourceKey, StoredResource};

use crate::{Context, Engine, EngineError};

/// How many rounds of `:iterate` includes a page follows at most; a reference cycle ends much
/// earlier, since resources already on the page are not fetched again.
const MAX_ITERATE_ROUNDS: usize = 8;

/// Which page to read.
#[derive(Clone, Debug)]
pub struct PageSpec {
    /// The page size (`_count`, after the server's default and maximum).
    pub count: usize,
    /// `_skip`.
    pub skip: usize,
    /// Resume after this position (the `next` link).
    pub after: Option<Position>,
    /// Resume before this position (the `previous` link).
    pub before: Option<Position>,
    /// The horizon of the first page, on later pages.
    pub horizon: Option<i64>,
    /// The total counted on the first page, which `_total=estimate` reuses.
    pub known_total: Option<u64>,
    /// Most resources `_include` and `_revinclude` may add to one page; beyond it the search
    /// fails as too costly rather than holding an unbounded page in memory.
    pub max_included: usize,
}

impl Default for PageSpec {
    /// The first page of ten, with the server's default bound on included resources.
    fn default() -> Self {
        PageSpec {
            count: 10,
            skip: 0,
            after: None,
            before: None,
            horizon: None,
            known_total: None,
            max_included: 10_000,
        }
    }
}

/// One page of a search.
#[derive(Clone, Debug)]
pub struct SearchResult {
    /// The matches, in the search's order.
    pub matches: Vec<Hit>,
    /// The included resources, each once, none of them a match.
    pub included: Vec<StoredResource>,
    /// The total, unless `_total=none`.
    pub total: Option<u64>,
    /// Whether a page follows this one.
    pub has_next: bool,
    /// Whether a page precedes this one.
    pub has_previous: bool,
    /// The horizon to carry to the other pages.
    pub horizon: i64,
}

impl Engine {
    /// Reads one page of `request` in the context's scope.
    pub async fn search(
        &self,
        ctx: &Context,
        request: &SearchRequest,
        spec: &PageSpec,
    ) -> Result<SearchResult, EngineError> {
        let query = &request.query;
        let count_only = request.summary == Some(Summary::Count) || spec.count == 0;
        let backwards = spec.before.is_some();
        let wants_total = match request.total {
            Some(TotalMode::None) => count_only,
            Some(TotalMode::Estimate) => spec.known_total.is_none(),
            _ => true,
        };
        let (mut hits, horizon, counted) = if count_only {
            (Vec::new(), spec.horizon, None)
        } else {
            // One match more than the page tells whether another page lies beyond it.
            let page = PageRequest {
                sort: request.sort.clone(),
                limit: spec.count + 1,
                offset: spec.skip,
                after: spec.after.clone(),
                before: spec.before.clone(),
                horizon: spec.horizon,
                total: wants_total,
            };
            let page = self
                .store
                .search(&ctx.scope, ctx.fhir_version, query, &page)
                .await?;
            (page.hits, Some(page.horizon), page.total)
        };
        let more = hits.len() > spec.count;
        if more {
            if backwards {
                hits.remove(0);
            } else {
                hits.truncate(spec.count);
            }
        }
        let (has_next, has_previous) = if backwards {
            (true, more)
        } else {
            (more, spec.after.is_some() || spec.skip > 0)
        };
        // A page brings its total along; a count-only request asks the store for it alone.
        let total = match (wants_total, counted) {
            (false, _) if request.total == Some(TotalMode::None) => None,
            // An estimate the first page counted and the cursor carries.
            (false, _) => spec.known_total,
            (true, Some(total)) => Some(total),
            (true, None) => Some(
                self.store
                    .count(&ctx.scope, ctx.fhir_version, query, horizon)
                    .await?,
            ),
        };
        // A count-only request reads no page and has no later pages, so its horizon is moot.
        let horizon = horizon.unwrap_or(0);
        let included = self
            .includes(ctx, request, &hits, spec.max_included)
            .await?;
        Ok(SearchResult {
            matches: hits,
            included,
            total,
            has_next,
            has_previous,
            horizon,
        })
    }

    /// The resources that the includes and revincludes of `request` add to `hits`.
    async fn includes(
        &self,
        ctx: &Context,
        request: &SearchRequest,
        hits: &[Hit],
        max_included: usize,
    ) -> Result<Vec<StoredResource>, EngineError> {
        if hits.is_empty() || (request.includes.is_empty() && request.revincludes.is_empty()) {
            return Ok(Vec::new());
        }
        let key = |r: &StoredResource| ResourceKey {
            resource_type: r.resource_type.clone(),
            id: r.id.clone(),
        };
        let mut seen: HashSet<ResourceKey> = hits.iter().map(|h| key(&h.resource)).collect();
        let mut included = Vec::new();
        let mut round: Vec<ResourceKey> = hits.iter().map(|h| key(&h.resource)).collect();
        for depth in 0..MAX_ITERATE_ROUNDS {
            let mut found = Vec::new();
            let paths = request
                .includes
                .iter()
                .map(|i| (i, false))
                .chain(request.revincludes.iter().map(|i| (i, true)));
            for (include, reverse) in paths {
                if depth > 0 && !include.iterate {
                    continue;
                }
                // A forward include starts from resources of its source type only; skipping
                // the store when none are on the page saves a query.
                let sources: Vec<ResourceKey> = if reverse {
                    round.clone()
                } else {
                    round
                        .iter()
                        .filter(|k| k.resource_type == include.source_type)
                        .cloned()
                        .collect()
                };
                if sources.is_empty() {
                    continue;
                }
                let resources = self
                    .store
                    .include(&ctx.scope, ctx.fhir_version, include, reverse, &sources)
                    .await?;
                for resource in resources {
                    if seen.insert(key(&resource)) {
                        found.push(resource);
                    }
                }
            }
            if found.is_empty() {
                break;
            }
            if included.len() + found.len() > max_included {
                // 1up's words for the same limit, which its clients may already look for.
                return Err(EngineError::TooCostly(format!(
                    "Resource references within a _revinclude query have exceeded inner query \
                     limit: the includes of this page add more than {max_included} resources; \
                     ask for a smaller _count"
                )));
            }
            round = found.iter().map(key).collect();
            included.extend(found);
        }
        Ok(included)
    }
}
