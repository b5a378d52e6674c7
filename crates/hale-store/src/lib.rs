//! The storage interface of Hale.
//!
//! [`ResourceStore`] is what the server and the engine see of a database; backends
//! (`hale-store-sqlite`, `hale-store-postgres`) implement it, and `contract` (feature `contract`)
//! is the test suite each of them must pass. Only the backend crates and the SQL they share
//! (`hale-store-sql`) hold SQL.
//!
//! Writes are closures run by the backend inside one database transaction ([`WriteTx`]), so the
//! FHIR rules of conditional and transactional writes stay in `hale-engine` while the backend
//! decides how to batch them (SQLite: one writer thread with group commit).
#![warn(missing_docs)]

#[cfg(feature = "contract")]
pub mod contract;
pub mod jobs;

use bytes::Bytes;
use hale_fhir::{FhirVersion, Instant};
use hale_search::index::IndexEntry;
use hale_search::query::{Include, SearchQuery, SortKey};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error; the text is for logs, never for clients.
    #[error("database error: {0}")]
    Backend(String),
    /// The store is shutting down or its writer has stopped.
    #[error("the store is closed")]
    Closed,
    /// The write queue is full; the client should retry later.
    #[error("the store is overloaded")]
    Overloaded,
    /// A query would need a feature the backend does not have yet.
    #[error("unsupported query: {0}")]
    Unsupported(String),
}

/// The owner of a stored resource: an app, and a user of that app. Resources without an owner
/// belong to the operator and are readable by everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The app's numeric id.
    pub app: i64,
    /// The app user's `oneup_user_id`, or none for data owned by the app itself.
    pub user: Option<i64>,
}

/// Which resources a request may see. Backends put it inside every query (every alias of a
/// resource: the match, chain targets, `_has` sources, include sources and targets, history, and
/// lookups inside writes) so that counts, paging and includes are exact and can never leak.
/// Operator data (no owner) is in every scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything: the operator (the CLI, `HALE_ADMIN_TOKEN`).
    All,
    /// Operator data and everything an app's users (and the app itself) own: client headers with
    /// `x-oneup-user-id: client`.
    App(i64),
    /// Operator data, one user's own data, and what other users of the same app granted it.
    User {
        /// The app the user belongs to.
        app: i64,
        /// The user's `oneup_user_id`.
        user: i64,
        /// Read access other users of `app` granted this user.
        grants: Vec<Grant>,
    },
}

/// Read access to another user's data, granted with
/// `PUT /{ver}/Patient/{id}/_permission/{oneup_user_id}`: the grantor's resources that are the
/// Patient or in its compartment, or all the grantor's resources when no patient is named.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    /// The grantor's `oneup_user_id` (a user of the same app); only resources it owns are shared.
    pub owner: i64,
    /// The Patient whose record is shared, or none for everything the grantor owns.
    pub patient: Option<String>,
}

impl Scope {
    /// The scope of one user of an app, without grants.
    pub fn user(owner: Owner) -> Self {
        match owner.user {
            Some(user) => Scope::User {
                app: owner.app,
                user,
                grants: Vec::new(),
            },
            None => Scope::App(owner.app),
        }
    }

    /// Whether a principal with this scope may change (update, patch, delete) a resource owned
    /// by `owner`. Operator data only by the operator; granted data is read-only.
    pub fn may_write(&self, owner: Option<Owner>) -> bool {
        match (self, owner) {
            (Scope::All, _) => true,
            (_, None) => false,
            (Scope::App(app), Some(owner)) => owner.app == *app,
            (Scope::User { app, user, .. }, Some(owner)) => {
                owner.app == *app && owner.user == Some(*user)
            }
        }
    }

    /// The owner of resources this principal creates: none for the operator, the app for an
    /// app-wide principal, the user for a user.
    pub fn new_owner(&self) -> Option<Owner> {
        match self {
            Scope::All => None,
            Scope::App(app) => Some(Owner {
                app: *app,
                user: None,
            }),
            Scope::User { app, user, .. } => Some(Owner {
                app: *app,
                user: Some(*user),
            }),
        }
    }
}

/// How a version came to be, recorded in history for `Bundle.entry.request.method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Created.
    Post,
    /// Updated (or created by update).
    Put,
    /// Patched.
    Patch,
    /// Deleted.
    Delete,
}

impl Method {
    /// The HTTP verb.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Parses what [`Method::as_str`] wrote.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

/// One stored version of a resource, as the store returns it.
#[derive(Clone, Debug)]
pub struct StoredResource {
    /// The FHIR version of the key.
    pub fhir_version: FhirVersion,
    /// The resource type.
    pub resource_type: String,
    /// The logical id.
    pub id: String,
    /// `meta.versionId`.
    pub version_id: u64,
    /// `meta.lastUpdated`.
    pub last_updated: Instant,
    /// Whether this version is a deletion.
    pub deleted: bool,
    /// The global write sequence number of this version.
    pub seq: i64,
    /// The owner, or none for operator data.
    pub owner: Option<Owner>,
    /// How this version was written.
    pub method: Method,
    /// The exact bytes Hale serves (empty for a deletion).
    pub json: Bytes,
}

/// A new version to write.
#[derive(Debug)]
pub struct NewVersion {
    /// The FHIR version of the key.
    pub fhir_version: FhirVersion,
    /// The resource type.
    pub resource_type: &'static str,
    /// The logical id.
    pub id: String,
    /// `meta.versionId`, one more than the current version (1 for a new resource).
    pub version_id: u64,
    /// `meta.lastUpdated`, as written into `json`.
    pub last_updated: Instant,
    /// The owner.
    pub owner: Option<Owner>,
    /// How this version is written.
    pub method: Method,
    /// The serialised resource, or empty for a deletion.
    pub json: Bytes,
    /// Index entries extracted from the resource (empty for a deletion). They come from
    /// [`hale_search::index::extract`], so a store may rely on what extraction guarantees, such
    /// as [`hale_search::index::at_most_one_reference`].
    pub index: Vec<IndexEntry>,
    /// Ids of the Patients whose compartment holds this resource.
    pub compartments: Vec<String>,
    /// The id was just assigned by the server, so no version of the resource exists and the
    /// store need not look for one.
    pub known_new: bool,
}

impl NewVersion {
    /// Whether this version is a deletion.
    pub fn is_delete(&self) -> bool {
        self.method == Method::Delete
    }
}

/// The view of the database that a write closure gets: everything it reads sees the writes made
/// before it in the same transaction.
pub trait WriteTx {
    /// The timestamp for versions written by this closure; strictly increasing across closures.
    fn now(&mut self) -> Instant;
    /// The current version of a resource (deleted or not), if it is in `scope`. The engine asks
    /// under `Scope::All` whether a resource exists at all, and under the principal's scope
    /// whether the principal may see it (which for grants only the database can tell).
    fn current(
        &mut self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// The current, not deleted resources in `scope` that match `query`, at most `limit`.
    fn find(
        &mut self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// Writes a version and returns its sequence number.
    fn put(&mut self, version: NewVersion) -> Result<i64, StoreError>;
    /// Every current resource of the record of Patient `patient` (the Patient, its compartment,
    /// the Medications and Devices of [`hale_fhir::record`] and the directory resources it
    /// references), in any scope, with what erasing it must know.
    fn record_members(
        &mut self,
        fhir_version: FhirVersion,
        patient: &str,
    ) -> Result<Vec<RecordMember>, StoreError>;
    /// Removes a resource with every version of it, its index rows and its compartments, as if it
    /// had never been written. Nothing of it can be read, searched or found in history after.
    fn purge(
        &mut self,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<(), StoreError>;
}

/// What a write closure decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteDecision {
    /// Keep everything the closure wrote.
    Commit,
    /// Undo everything the closure wrote.
    Rollback,
}

/// A unit of work for the writer. It must not block on anything but the [`WriteTx`]: the writer
/// may run many of them inside one database transaction.
pub type WriteFn = Box<dyn FnOnce(&mut dyn WriteTx) -> WriteDecision + Send>;

/// Which versions a history request covers.
#[derive(Clone, Debug)]
pub struct HistoryQuery {
    /// The FHIR version.
    pub fhir_version: FhirVersion,
    /// Restrict to one type (type and instance history).
    pub resource_type: Option<String>,
    /// Restrict to one resource (instance history).
    pub id: Option<String>,
    /// Only versions written at or after this time.
    pub since: Option<Instant>,
    /// Page size.
    pub count: usize,
    /// Only versions with a sequence number below this one (the paging cursor).
    pub before_seq: Option<i64>,
}

/// A page of history, newest first.
#[derive(Clone, Debug)]
pub struct HistoryPage {
    /// The versions on this page.
    pub versions: Vec<StoredResource>,
    /// How many versions match in all.
    pub total: u64,
}

/// One sort key's value for one resource, as the store computed it for ordering. Cursors carry
/// these back to resume after a resource.
#[derive(Clone, Debug, PartialEq)]
pub enum SortValue {
    /// An integer key (dates, `_lastUpdated`).
    Int(i64),
    /// A real key (numbers, quantities).
    Real(f64),
    /// A text key (strings, tokens, uris, references, `_id`).
    Text(String),
}

/// Where a resource stands in a search's order: its sort key values (one per
/// [`PageRequest::sort`] key) and its row, the store's key of the resource, unique, never reused
/// and increasing in creation order, which breaks ties and is the whole order when there are no
/// sort keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Position {
    /// The sort key values.
    pub keys: Vec<SortValue>,
    /// The row.
    pub row: i64,
}

/// Which page of a search to read.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// The sort keys; empty means row order.
    pub sort: Vec<SortKey>,
    /// At most this many matches.
    pub limit: usize,
    /// Skip this many matches first (`_skip`), after `after` or `before` if given.
    pub offset: usize,
    /// Only matches after this position (the next page).
    pub after: Option<Position>,
    /// Only matches before this position (the previous page): the `limit` matches closest
    /// to it, still returned in the search's order.
    pub before: Option<Position>,
    /// Only resources whose row is at most this, so that resources created after the first page
    /// neither appear on later pages nor change the total. `None` on the first page.
    pub horizon: Option<i64>,
    /// Also count every match up to the page's horizon, in the snapshot the page is read from,
    /// as [`ResourceStore::count`] would: a page and its `total` then cost one visit to the
    /// store, and they agree even while others write.
    pub total: bool,
}

/// A match and its position.
#[derive(Clone, Debug)]
pub struct Hit {
    /// The resource.
    pub resource: StoredResource,
    /// Its position in the search's order.
    pub position: Position,
}

/// One page of search matches.
#[derive(Clone, Debug)]
pub struct SearchPage {
    /// The matches, in the search's order.
    pub hits: Vec<Hit>,
    /// The horizon to pass with later pages: the request's, or on a first page the highest row
    /// in the store when it was read.
    pub horizon: i64,
    /// How many resources match up to `horizon`, when the request asked for the `total`.
    pub total: Option<u64>,
}

/// The key of a resource that includes start from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceKey {
    /// The resource type.
    pub resource_type: String,
    /// The logical id.
    pub id: String,
}

/// Which records [`ResourceStore::record`] reads, and what of them: Patient `$everything`, by
/// the rules of [`hale_fhir::record`].
#[derive(Clone, Debug)]
pub struct RecordQuery {
    /// The FHIR version.
    pub fhir_version: FhirVersion,
    /// The Patient whose record is read, or none for the records of every Patient in scope
    /// (each resource once, however many of them hold it).
    pub patient: Option<String>,
    /// Only resources of these types (`_type`); empty for every type.
    pub types: Vec<String>,
    /// Only resources last updated at or after this (`_since`).
    pub since: Option<Instant>,
    /// Only resources whose date of care ([`hale_fhir::record::care_date_param`]) overlaps this
    /// inclusive range in epoch microseconds (`start`, `end`); resources without one are kept.
    pub care: Option<(i64, i64)>,
}

/// Which page of a record [`ResourceStore::record`] reads. Members come ordered by type, then
/// id; a [`Position`] holds those two as its keys.
#[derive(Clone, Debug, Default)]
pub struct RecordPageRequest {
    /// At most this many members.
    pub limit: usize,
    /// Skip this many members first (`_skip`), after `after` if given.
    pub offset: usize,
    /// Only members after this position (the next page).
    pub after: Option<Position>,
    /// Only resources whose row is at most this, as in [`PageRequest::horizon`].
    pub horizon: Option<i64>,
    /// Whether to count the members.
    pub total: bool,
    /// Whether to read the directory resources the record references.
    pub directory: bool,
}

/// One page of a record.
#[derive(Clone, Debug)]
pub struct RecordPage {
    /// The members on this page, ordered by type, then id.
    pub hits: Vec<Hit>,
    /// The horizon to pass with later pages.
    pub horizon: i64,
    /// The number of members, when asked.
    pub total: Option<u64>,
    /// The directory resources (Practitioners, Organizations, Locations) the record's resources
    /// reference, each once, ordered by type then id, when asked; none of them a member.
    pub directory: Vec<StoredResource>,
}

/// A resource of a Patient's record as erasing it sees it ([`WriteTx::record_members`]).
#[derive(Clone, Debug)]
pub struct RecordMember {
    /// The resource type.
    pub resource_type: String,
    /// The logical id.
    pub id: String,
    /// The owner, or none for operator data.
    pub owner: Option<Owner>,
    /// Whether something outside this record needs the resource: a compartment member that is
    /// also in another Patient's compartment, or a referenced resource (a Medication, a
    /// Practitioner) that a resource outside the record references.
    pub shared: bool,
}

/// Computes the index entries and Patient compartments of a resource from its type and stored
/// JSON, for [`ResourceStore::reindex`]; `None` when the JSON cannot be read, which leaves the
/// resource without index rows rather than stopping the rebuild.
pub type Reindexer =
    std::sync::Arc<dyn Fn(&str, &[u8]) -> Option<(Vec<IndexEntry>, Vec<String>)> + Send + Sync>;

/// The storage interface of Hale.
#[async_trait::async_trait]
pub trait ResourceStore: Send + Sync + 'static {
    /// Runs `work` in a database transaction and resolves once its outcome is durable.
    async fn write(&self, work: WriteFn) -> Result<(), StoreError>;
    /// The current version of a resource, deleted or not, if it is in `scope`.
    async fn read(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// One version of a resource, if the resource is in `scope`.
    async fn vread(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        resource_type: &str,
        id: &str,
        version_id: u64,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// A page of history.
    async fn history(&self, scope: &Scope, query: &HistoryQuery)
    -> Result<HistoryPage, StoreError>;
    /// Current, not deleted resources in `scope` matching `query`, at most `limit`.
    async fn find(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// One page of the current, not deleted resources in `scope` matching `query`, in the order
    /// of `page.sort`, by the rules of [`hale_search::query::model`].
    async fn search(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        page: &PageRequest,
    ) -> Result<SearchPage, StoreError>;
    /// How many current, not deleted resources in `scope` match `query`, counting only rows up to
    /// `horizon` when given.
    async fn count(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        horizon: Option<i64>,
    ) -> Result<u64, StoreError>;
    /// The current, not deleted resources in `scope` that `include` adds to `sources`, each once,
    /// in one query: for `_include`, the targets of the references that `sources` (of
    /// `include.source_type`) hold; for `_revinclude` (`reverse`), the resources of
    /// `include.source_type` that reference one of `sources`.
    async fn include(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        include: &Include,
        reverse: bool,
        sources: &[ResourceKey],
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// Cuts the current, not deleted resources in `scope` matching `query`, with rows up to
    /// `horizon`, into runs of `every` in row order, for the files of a bulk export: returns how
    /// many match and the row of every `every`-th match (the last row of each full run). A file
    /// is then the matches after one cut up to the next, read page by page with
    /// [`ResourceStore::search`] in row order with `after` and `horizon`.
    async fn cuts(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        horizon: i64,
        every: usize,
    ) -> Result<(u64, Vec<i64>), StoreError>;
    /// The stored JSON of up to `limit` current, not deleted resources in `scope` matching
    /// `query` with rows after `after` up to `upto`, in row order, each with its row: a page of
    /// a bulk export file, without the rest of a [`StoredResource`].
    async fn export_rows(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
        query: &SearchQuery,
        after: i64,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Bytes)>, StoreError>;
    /// The highest row in the store now: the horizon of a bulk export.
    async fn horizon(&self) -> Result<i64, StoreError>;
    /// One page of the records of `query`, in `scope`: the members ordered by type, then id,
    /// and, as asked, their number and the directory resources they reference. Every resource of
    /// it, the references followed included, is in `scope`.
    async fn record(
        &self,
        scope: &Scope,
        query: &RecordQuery,
        page: &RecordPageRequest,
    ) -> Result<RecordPage, StoreError>;
    /// The number of current, not deleted resources per type, sorted by type.
    async fn count_by_type(
        &self,
        scope: &Scope,
        fhir_version: FhirVersion,
    ) -> Result<Vec<(String, u64)>, StoreError>;
    /// The highest write sequence number among the operator's resources (those without an
    /// owner) of `types`, deleted ones included, or 0 when there are none. It changes whenever
    /// the operator's data of those types changes, so a process that keeps something built from
    /// that data (the provider directory) can tell cheaply whether to rebuild it.
    async fn operator_seq(
        &self,
        fhir_version: FhirVersion,
        types: &[&str],
    ) -> Result<i64, StoreError>;
    /// Up to `limit` of the operator's current, not deleted resources of `resource_type` written
    /// after the sequence number `after`, in write order, each with its sequence number: pages of
    /// the operator's data, which everyone may read.
    async fn operator_resources(
        &self,
        fhir_version: FhirVersion,
        resource_type: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Bytes)>, StoreError>;
    /// The fingerprint of the index extraction that built the stored index
    /// ([`hale_search::index::fingerprint`]), or `None` when the store does not know (a database
    /// from before fingerprints were recorded).
    async fn index_fingerprint(&self) -> Result<Option<String>, StoreError>;
    /// Rebuilds the index rows, full text and compartments of every current resource with
    /// `reindexer`, in transactions of a bounded size that other writes interleave with, then
    /// records `fingerprint`. Returns how many resources it reindexed.
    async fn reindex(&self, reindexer: Reindexer, fingerprint: &str) -> Result<u64, StoreError>;
    /// Whether the store can answer queries now.
    async fn ready(&self) -> Result<(), StoreError>;
}

/// Runs a closure that produces a value through [`ResourceStore::write`], and returns the value
/// once the store has made the closure's outcome durable.
pub async fn write_with<T, F>(store: &dyn ResourceStore, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn WriteTx) -> (WriteDecision, T) + Send + 'static,
{
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot_in = slot.clone();
    store
        .write(Box::new(move |tx| {
            let (decision, value) = work(tx);
            if let Ok(mut guard) = slot_in.lock() {
                *guard = Some(value);
            }
            decision
        }))
        .await?;
    let value = slot.lock().ok().and_then(|mut guard| guard.take());
    value.ok_or(StoreError::Closed)
}
