//! Migrations, embedded in the binary and applied in order on open.

use hale_store::StoreError;
use rusqlite::Connection;

use crate::backend;

/// The migrations, in order; `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_search.sql"),
    include_str!("../migrations/0003_meta.sql"),
    include_str!("../migrations/0004_rid_order.sql"),
    include_str!("../migrations/0005_search_param.sql"),
    include_str!("../migrations/0006_identity.sql"),
    include_str!("../migrations/0007_owner_index.sql"),
    include_str!("../migrations/0008_compartment_order.sql"),
    include_str!("../migrations/0009_export_jobs.sql"),
    include_str!("../migrations/0010_operator_index.sql"),
];

/// Applies the migrations the database does not have yet, each in its own transaction.
pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let applied: usize = conn
        .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .map_err(backend)? as usize;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {applied}, newer than this binary's {}",
            MIGRATIONS.len()
        )));
    }
    for (idx, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            idx + 1
        ))
        .map_err(backend)?;
    }
    Ok(())
}

/// Records this build's index fingerprint in a database that holds no resources yet, whose index
/// is therefore current by definition; a database with data keeps what built its index.
pub(crate) fn record_fingerprint_if_empty(conn: &Connection) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) SELECT 'index_fingerprint', ?1 \
         WHERE NOT EXISTS (SELECT 1 FROM resource) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [hale_search::index::fingerprint()],
    )
    .map_err(backend)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written before the compartment kept its members' type and id gets them from
    /// `resource`, so records written then page in order like new ones.
    #[test]
    fn the_compartment_gains_its_members_type_and_id() {
        let conn = Connection::open_in_memory().expect("an in-memory database");
        for (idx, sql) in MIGRATIONS.iter().enumerate().take(7) {
            conn.execute_batch(&format!("{sql}; PRAGMA user_version = {};", idx + 1))
                .expect("an earlier migration");
        }
        conn.execute_batch(
            "INSERT INTO resource (rid, fhir_version, type, id, version_id, last_updated, deleted, seq) \
             VALUES (1, 'r4', 'Patient', 'p', 1, 0, 0, 1), (2, 'r4', 'Observation', 'o', 1, 0, 0, 2); \
             INSERT INTO compartment (rid, patient_id) VALUES (1, 'p'), (2, 'p');",
        )
        .expect("rows of the old schema");
        migrate(&conn).expect("the new migrations");
        let rows: Vec<(String, String, i64)> = conn
            .prepare(
                "SELECT type, id, rid FROM compartment WHERE patient_id = 'p' ORDER BY type, id",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect()
            })
            .expect("the migrated compartment");
        assert_eq!(
            rows,
            [
                ("Observation".to_owned(), "o".to_owned(), 2),
                ("Patient".to_owned(), "p".to_owned(), 1)
            ]
        );
    }
}
