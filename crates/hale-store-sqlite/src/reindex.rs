//! `reindex`: rebuilds the index rows of every current resource from its stored JSON.
//!
//! Resources are read in `rid` order in batches on a reader connection, their entries computed
//! outside the writer (extraction is the expensive part), and each batch replaced in one writer
//! transaction, so ordinary writes interleave with a long rebuild. A resource that was written
//! again between the read and the replace already carries index rows from the new version, made
//! by this build's rules, and is left alone.

use hale_store::{Reindexer, StoreError};
use rusqlite::params;

use crate::write::{IndexedResource, Work, delete_index, insert_index};
use crate::{SqliteStore, backend};

/// Resources per read and per writer transaction.
const BATCH: i64 = 500;

/// One resource of a batch: its row, the version it was read at, and its new entries.
struct Rebuilt {
    rid: i64,
    seq: i64,
    fhir_version: String,
    resource_type: String,
    id: String,
    index: Vec<hale_search::index::IndexEntry>,
    compartments: Vec<String>,
}

impl SqliteStore {
    pub(crate) async fn reindex_all(
        &self,
        reindexer: Reindexer,
        fingerprint: &str,
    ) -> Result<u64, StoreError> {
        let mut after = 0_i64;
        let mut total = 0_u64;
        loop {
            let rows: Vec<(i64, i64, String, String, String, Vec<u8>)> = self
                .with_reader(move |conn| {
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT r.rid, r.seq, r.fhir_version, r.type, r.id, h.json FROM resource r \
                             JOIN history h ON h.seq = r.seq \
                             WHERE r.rid > ?1 AND r.deleted = 0 ORDER BY r.rid LIMIT ?2",
                        )
                        .map_err(backend)?;
                    let rows = stmt
                        .query_map(params![after, BATCH], |row| {
                            Ok((
                                row.get(0)?,
                                row.get(1)?,
                                row.get(2)?,
                                row.get(3)?,
                                row.get(4)?,
                                row.get(5)?,
                            ))
                        })
                        .map_err(backend)?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
                })
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let extract = reindexer.clone();
            let batch: Vec<Rebuilt> = tokio::task::spawn_blocking(move || {
                rows.into_iter()
                    .map(|(rid, seq, fhir_version, resource_type, id, json)| {
                        let (index, compartments) =
                            extract(&resource_type, &json).unwrap_or_default();
                        Rebuilt {
                            rid,
                            seq,
                            fhir_version,
                            resource_type,
                            id,
                            index,
                            compartments,
                        }
                    })
                    .collect()
            })
            .await
            .map_err(|e| StoreError::Backend(format!("reindex task failed: {e}")))?;
            total += batch.len() as u64;
            self.writer
                .submit(Work::Raw(Box::new(move |conn, params| {
                    let mut current = conn
                        .prepare_cached("SELECT seq FROM resource WHERE rid = ?1")
                        .map_err(backend)?;
                    for resource in batch {
                        let seq: Option<i64> =
                            current.query_row([resource.rid], |row| row.get(0)).ok();
                        if seq != Some(resource.seq) {
                            continue;
                        }
                        delete_index(conn, resource.rid)?;
                        let indexed = IndexedResource {
                            rid: resource.rid,
                            fhir_version: &resource.fhir_version,
                            resource_type: &resource.resource_type,
                            id: &resource.id,
                        };
                        insert_index(
                            conn,
                            params,
                            &indexed,
                            &resource.index,
                            &resource.compartments,
                        )?;
                    }
                    Ok(())
                })))
                .await?;
        }
        let fingerprint = fingerprint.to_owned();
        self.writer
            .submit(Work::Raw(Box::new(move |conn, _| {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('index_fingerprint', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [fingerprint],
                )
                .map(|_| ())
                .map_err(backend)
            })))
            .await?;
        Ok(total)
    }

    pub(crate) async fn recorded_fingerprint(&self) -> Result<Option<String>, StoreError> {
        self.with_reader(|conn| {
            match conn.query_row(
                "SELECT value FROM meta WHERE key = 'index_fingerprint'",
                [],
                |row| row.get(0),
            ) {
                Ok(value) => Ok(Some(value)),
                Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(backend(e)),
            }
        })
        .await
    }
}
