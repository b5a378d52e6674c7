//! `reindex`: rebuilds the index rows of every current resource from its stored JSON.
//!
//! Resources are read in `rid` order in batches on a reader connection, their entries computed
//! outside the writer (extraction is the expensive part), and each batch replaced in one writer
//! transaction, so ordinary writes interleave with a long rebuild. A resource that was written
//! again between the read and the replace already carries index rows from the new version, made
//! by this build's rules, and is left alone.

use hale_store::{Reindexer, StoreError};
use hale_store_sql::reindex::{
    BATCH, BATCH_ROWS, CURRENT_SEQ, FINGERPRINT, RECORD_FINGERPRINT, Rebuilt,
};
use rusqlite::params;

use crate::write::{IndexedResource, Work, delete_index, insert_index};
use crate::{SqliteStore, backend};

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
                    let mut stmt = conn.prepare_cached(BATCH_ROWS).map_err(backend)?;
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
                        Rebuilt::new((rid, seq, fhir_version, resource_type, id), &json, &extract)
                    })
                    .collect()
            })
            .await
            .map_err(|e| StoreError::Backend(format!("reindex task failed: {e}")))?;
            total += batch.len() as u64;
            self.writer
                .submit(Work::Raw(Box::new(move |conn, params| {
                    let mut current = conn.prepare_cached(CURRENT_SEQ).map_err(backend)?;
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
                conn.execute(RECORD_FINGERPRINT, [fingerprint])
                    .map(|_| ())
                    .map_err(backend)
            })))
            .await?;
        Ok(total)
    }

    pub(crate) async fn recorded_fingerprint(&self) -> Result<Option<String>, StoreError> {
        self.with_reader(
            |conn| match conn.query_row(FINGERPRINT, [], |row| row.get(0)) {
                Ok(value) => Ok(Some(value)),
                Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(backend(e)),
            },
        )
        .await
    }
}
