-- Index rows name their parameter by the id of (FHIR version, resource type, code) instead of the
-- code's text. The id says which type and version wrote a row, and index rows exist only for
-- current, not deleted versions, so a count under `Scope::All` is answered from a value index
-- alone, without `resource`; and the rows are smaller. Ids are never deleted or reused (the store
-- keeps them in memory, see src/params.rs). The second index serves system searches, which ask
-- for a code on every type.
CREATE TABLE search_param (
    id           INTEGER PRIMARY KEY,
    fhir_version TEXT NOT NULL,
    type         TEXT NOT NULL,
    code         TEXT NOT NULL,
    UNIQUE (fhir_version, type, code)
);
CREATE INDEX search_param_code ON search_param (fhir_version, code);

-- The index tables are rebuilt empty in the new shape. `hale reindex` refills them from the
-- stored JSON; until then `hale serve` warns, because the fingerprint below is gone.
DROP TABLE idx_string;
DROP TABLE idx_token;
DROP TABLE idx_reference;
DROP TABLE idx_date;
DROP TABLE idx_number;
DROP TABLE idx_quantity;
DROP TABLE idx_uri;
DROP TABLE idx_composite;
DELETE FROM meta WHERE key = 'index_fingerprint';

-- Each table is clustered by (rid, ord), so the rows of a version are appended together and
-- removed together by one range delete; the value indexes serve queries. Where a test often fixes
-- the value but not a later column (a token's system, a reference's type), `rid` comes before
-- that column, so the test's rows stream in row order (see 0004).
CREATE TABLE idx_string (rid INTEGER NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, normalized TEXT NOT NULL, exact TEXT NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_string_value ON idx_string (param, normalized);

CREATE TABLE idx_token (rid INTEGER NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, system TEXT, value TEXT, text TEXT, of_type TEXT, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_token_value ON idx_token (param, value, rid, system);
CREATE INDEX idx_token_of_type ON idx_token (param, of_type, value) WHERE of_type IS NOT NULL;

CREATE TABLE idx_reference (rid INTEGER NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, target_type TEXT, target_id TEXT, url TEXT, version TEXT, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_reference_target ON idx_reference (param, target_id, rid, target_type);
CREATE INDEX idx_reference_url ON idx_reference (param, url) WHERE url IS NOT NULL;

CREATE TABLE idx_date (rid INTEGER NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_date_value ON idx_date (param, low, high);

CREATE TABLE idx_number (rid INTEGER NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_number_value ON idx_number (param, value);

CREATE TABLE idx_quantity (rid INTEGER NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, system TEXT, unit TEXT, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_quantity_value ON idx_quantity (param, value, unit, system);

CREATE TABLE idx_uri (rid INTEGER NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_uri_value ON idx_uri (param, value);

-- Composite rows keep their components' codes inside the JSON (`[{"code":"code",…},…]`).
CREATE TABLE idx_composite (rid INTEGER NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, components TEXT NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_composite_value ON idx_composite (param, components);
