//! Hale's scale-out store: PostgreSQL, shared by any number of stateless Hale processes.
//!
//! Every process keeps a pool of connections (`deadpool-postgres`). The schema is this crate's
//! own `migrations/`, applied in order on connect under an advisory lock, so that processes
//! starting together migrate once. It implements the same traits as the SQLite store, with the
//! same semantics, and passes the same contract test-suites.
#![warn(missing_docs)]

mod identity;
mod jobs;
mod pending;
mod resources;
mod schema;
mod sql;
mod statistics;
pub mod testing;

pub use resources::WRITE_LOCK;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use hale_store::StoreError;
use tokio_postgres::NoTls;

/// Settings of the PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// The connection URL (`postgres://user@host:port/database`).
    pub url: String,
    /// Most connections this process opens.
    pub pool_size: usize,
}

impl PgConfig {
    /// Connections a process opens at most unless told otherwise. More connections than the
    /// database has cores to run them only make its backends take turns: on two cores, W3 (32
    /// clients reading by id) ran at 4,866 requests/s with 32 connections and 7,136 with 8.
    pub const DEFAULT_POOL_SIZE: usize = 8;

    /// The defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            pool_size: Self::DEFAULT_POOL_SIZE,
        }
    }
}

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// The committed search parameter ids this process has seen.
    params: std::sync::Arc<resources::ParamIds>,
    /// When this process refreshes the planner's statistics.
    statistics: std::sync::Arc<statistics::Statistics>,
}

impl PgStore {
    /// Connects, and migrates the database to this build's schema.
    pub async fn connect(config: PgConfig) -> Result<Self, StoreError> {
        let pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| StoreError::Backend(format!("the database URL is not valid: {e}")))?;
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Backend(format!("building the connection pool: {e}")))?;
        let store = PgStore {
            pool,
            params: Default::default(),
            statistics: Default::default(),
        };
        let mut client = store.client().await?;
        schema::migrate(&mut client).await?;
        drop(client);
        store.record_fingerprint_if_empty().await?;
        statistics::analyze_if_never(&store.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("analyzing the tables: {e}")))?;
        Ok(store)
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Timeout(_) => StoreError::Overloaded,
            other => StoreError::Backend(format!("connecting to PostgreSQL: {other}")),
        })
    }
}

/// A PostgreSQL error as a store error.
pub(crate) fn backend(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(format!("PostgreSQL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two processes connecting to a new database at once migrate it once, and a third finds
    /// it migrated.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_connects_migrate_once() {
        let Some(url) = testing::fresh_database().await else {
            return;
        };
        let (a, b) = tokio::join!(
            PgStore::connect(PgConfig::new(&url)),
            PgStore::connect(PgConfig::new(&url))
        );
        let (a, _b) = (a.unwrap(), b.unwrap());
        let c = PgStore::connect(PgConfig::new(&url)).await.unwrap();
        let client = c.client().await.unwrap();
        let versions: Vec<i32> = client
            .query("SELECT version FROM schema_version ORDER BY version", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(
            versions,
            (1..=schema::MIGRATION_COUNT as i32).collect::<Vec<_>>()
        );
        drop(a);
    }

    /// Searches (with their total), counts and includes set how their statements are planned,
    /// and the connection goes back to the pool with PostgreSQL's default, so that the reads by
    /// id that follow on it keep their generic plan.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn searches_leave_the_connection_with_the_default_plan_mode() {
        use hale_fhir::FhirVersion;
        use hale_search::query::{Criterion, Include, SearchQuery, Test, TokenValue};
        use hale_store::{PageRequest, ResourceKey, ResourceStore, Scope};

        let Some(url) = testing::fresh_database().await else {
            return;
        };
        // One connection, so that every call below runs on the connection checked at the end.
        let store = PgStore::connect(PgConfig {
            pool_size: 1,
            ..PgConfig::new(&url)
        })
        .await
        .unwrap();
        let gender = Criterion::param(
            "gender",
            Test::Token {
                negate: false,
                values: vec![TokenValue::Code("male".into())],
            },
        );
        let (all, r4) = (Scope::All, FhirVersion::R4);
        // With criteria, the statements are planned for their values; without, they keep one
        // generic plan.
        for query in [
            SearchQuery::new("Patient", vec![gender]),
            SearchQuery::all("Patient"),
        ] {
            let page = store
                .search(
                    &all,
                    r4,
                    &query,
                    &PageRequest {
                        limit: 10,
                        total: true,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.total, Some(0));
            assert_eq!(store.count(&all, r4, &query, None).await.unwrap(), 0);
        }
        let include = Include {
            source_type: "Encounter",
            code: Some("subject"),
            target_type: None,
            iterate: false,
        };
        let sources = [ResourceKey {
            resource_type: "Patient".into(),
            id: "p".into(),
        }];
        assert!(
            store
                .include(&all, r4, &include, true, &sources)
                .await
                .unwrap()
                .is_empty()
        );
        let mode: String = store
            .client()
            .await
            .unwrap()
            .query_one("SHOW plan_cache_mode", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(mode, "auto");
    }

    /// The stored JSON is compressed with LZ4 on a server that has it, and a version written
    /// with it reads back whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn history_json_is_compressed_with_lz4() {
        let Some(store) = testing::fresh_store().await else {
            return;
        };
        let client = store.client().await.unwrap();
        let has_lz4 = client
            .batch_execute("SET default_toast_compression = 'lz4'")
            .await
            .is_ok();
        let method: i8 = client
            .query_one(
                "SELECT attcompression FROM pg_attribute \
                 WHERE attrelid = 'history'::regclass AND attname = 'json'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(method as u8, if has_lz4 { b'l' } else { 0 });
        // A value large and repetitive enough to be compressed, written and read back.
        let json: Vec<u8> = b"{\"resourceType\":\"Basic\"}"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b' ', 100_000))
            .collect();
        client
            .execute(
                "INSERT INTO history (seq, rid, version_id, last_updated, method, json) \
                 VALUES (1, 1, 1, 0, 'POST', $1)",
                &[&json],
            )
            .await
            .unwrap();
        let row = client
            .query_one(
                "SELECT json, pg_column_compression(json) FROM history WHERE seq = 1",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, Vec<u8>>(0), json);
        if has_lz4 {
            assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("lz4"));
        }
    }

    /// A probe of `resource` by row, with the conditions every search puts on it (version, type,
    /// not deleted, the scope's owners), the join to the current version (`seq`) and the id a
    /// page or an include returns, reads the primary key's index alone once the table is
    /// vacuumed (migrations 0005 and 0008).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn probes_by_row_read_the_key_alone() {
        let Some(store) = testing::fresh_store().await else {
            return;
        };
        let client = store.client().await.unwrap();
        testing::insert_resources(&client, 2000, "'Observation'", Some((1, 1))).await;
        testing::settle_for_plans(&client, &["resource"]).await;
        let plan = testing::explain(
            &client,
            "SELECT sum(r.seq), max(r.id) FROM resource r WHERE r.rid = ANY('{5,17,1999}') \
             AND r.fhir_version = 'r4' AND r.type = 'Observation' AND r.deleted = 0 \
             AND (r.owner_app IS NULL OR (r.owner_app = 1 AND r.owner_user = 1))",
            &[],
        )
        .await;
        assert!(
            plan.iter()
                .any(|line| line.contains("Index Only Scan using resource_pkey")),
            "{plan:#?}"
        );
    }

    /// Migration 0010 marks an index built before it as built by other rules, so that the
    /// server rebuilds the full text with Hale's words before it answers a search.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_text_from_before_hale_made_the_words_is_rebuilt() {
        use hale_store::ResourceStore;

        let Some(url) = testing::fresh_database().await else {
            return;
        };
        let store = testing::store_at(&url).await;
        let current = hale_search::index::fingerprint();
        assert_eq!(
            store.index_fingerprint().await.unwrap(),
            Some(current.clone())
        );
        store
            .client()
            .await
            .unwrap()
            .batch_execute("DELETE FROM schema_version WHERE version >= 10")
            .await
            .unwrap();
        drop(store);
        let store = testing::store_at(&url).await;
        let recorded = store.index_fingerprint().await.unwrap();
        assert!(recorded.is_some_and(|recorded| recorded != current));
    }

    /// Full text written before migration 0006 gets the type's lexeme from it, so that a search
    /// of one type, which asks for the lexeme, still finds it; another type's search does not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_text_from_before_the_type_lexeme_is_found_after_migrating() {
        use hale_fhir::FhirVersion;
        use hale_search::query::{Criterion, SearchQuery, Test};
        use hale_store::{ResourceStore, Scope};

        let Some(url) = testing::fresh_database().await else {
            return;
        };
        let store = testing::store_at(&url).await;
        // A row as the write path stored it before 0006, and the database back at version 5 (the
        // migrations after 0006 replay too; each can).
        store
            .client()
            .await
            .unwrap()
            .batch_execute(
                "INSERT INTO resource (rid, fhir_version, type, id, owner_app, owner_user, \
                 version_id, last_updated, deleted, seq) \
                 VALUES (1, 'r4', 'Condition', 'c1', NULL, NULL, 1, 0, 0, 1); \
                 INSERT INTO full_text (rid, content, narrative) \
                 VALUES (1, to_tsvector('simple', 'acute bronchitis'), to_tsvector('simple', '')); \
                 DELETE FROM schema_version WHERE version >= 6",
            )
            .await
            .unwrap();
        drop(store);
        let store = testing::store_at(&url).await;
        let content = |resource_type: &'static str| {
            SearchQuery::new(
                resource_type,
                vec![Criterion::param(
                    "_content",
                    Test::Text(vec!["bronch".into()]),
                )],
            )
        };
        for (resource_type, expected) in [("Condition", 1), ("Observation", 0)] {
            let count = store
                .count(&Scope::All, FhirVersion::R4, &content(resource_type), None)
                .await
                .unwrap();
            assert_eq!(count, expected, "{resource_type}");
        }
    }
}
