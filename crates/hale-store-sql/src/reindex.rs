//! `reindex`: the statements of a rebuild of the index rows, and what one resource of a batch
//! becomes. Resources are read in `rid` order in batches, their entries computed outside any
//! write transaction, and each batch replaced in one; a resource written again since it was read
//! already has rows made by this build's rules and is left alone.

use hale_search::index::IndexEntry;
use hale_store::Reindexer;

/// Resources per read and per write transaction.
pub const BATCH: i64 = 500;

/// The current, not deleted resources after a row (parameters: the row, [`BATCH`]):
/// `(rid, seq, fhir_version, type, id, json)`.
pub const BATCH_ROWS: &str = "SELECT r.rid, r.seq, r.fhir_version, r.type, r.id, h.json FROM resource r \
     JOIN history h ON h.seq = r.seq \
     WHERE r.rid > ? AND r.deleted = 0 ORDER BY r.rid LIMIT ?";

/// The current write sequence number of a row (parameter: the row).
pub const CURRENT_SEQ: &str = "SELECT seq FROM resource WHERE rid = ?";

/// Records the fingerprint of the extraction that built the index (parameter: the fingerprint).
pub const RECORD_FINGERPRINT: &str = "INSERT INTO meta (key, value) VALUES ('index_fingerprint', ?) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// The recorded fingerprint, if any.
pub const FINGERPRINT: &str = "SELECT value FROM meta WHERE key = 'index_fingerprint'";

/// One resource of a batch: its row, the version it was read at, and its new entries.
pub struct Rebuilt {
    /// The row.
    pub rid: i64,
    /// The write sequence number of the version read.
    pub seq: i64,
    /// The FHIR version.
    pub fhir_version: String,
    /// The resource type.
    pub resource_type: String,
    /// The logical id.
    pub id: String,
    /// The index entries this build extracts.
    pub index: Vec<IndexEntry>,
    /// The Patients whose compartment holds it.
    pub compartments: Vec<String>,
}

impl Rebuilt {
    /// The rebuilt entries of a row of [`BATCH_ROWS`]; a resource whose JSON cannot be read gets
    /// none rather than stopping the rebuild.
    pub fn new(
        (rid, seq, fhir_version, resource_type, id): (i64, i64, String, String, String),
        json: &[u8],
        reindexer: &Reindexer,
    ) -> Self {
        let (index, compartments) = reindexer(&resource_type, json).unwrap_or_default();
        Rebuilt {
            rid,
            seq,
            fhir_version,
            resource_type,
            id,
            index,
            compartments,
        }
    }
}
