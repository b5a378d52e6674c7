-- Facts about the database itself. `index_fingerprint` names the extraction rules that built the
-- index tables (`hale_search::index::fingerprint`); `hale reindex` rebuilds them and records it.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
