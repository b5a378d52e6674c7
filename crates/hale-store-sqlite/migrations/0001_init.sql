-- The resource table holds one row per logical resource (its current version); the history table
-- holds every version, including the current one, and is the only place the JSON bytes live, so
-- that each write stores them once. `seq` is the global write sequence: history's primary key.
CREATE TABLE resource (
    rid          INTEGER PRIMARY KEY,
    fhir_version TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    owner_app    INTEGER,
    owner_user   INTEGER,
    version_id   INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    UNIQUE (fhir_version, type, id)
);
CREATE INDEX resource_type_seq ON resource (fhir_version, type, seq);

CREATE TABLE history (
    seq          INTEGER PRIMARY KEY,
    rid          INTEGER NOT NULL,
    version_id   INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    method       TEXT    NOT NULL,
    json         BLOB    NOT NULL
);
CREATE INDEX history_rid ON history (rid, version_id);
CREATE INDEX history_last_updated ON history (last_updated);

-- One index table per search parameter type. Each is clustered by (rid, ord), the resource and
-- the entry's position among its entries, so the rows of a version are appended together and
-- removed together by one range delete; a second B-tree on the searched columns serves queries.
-- `_id` and `_lastUpdated` are not indexed here: the resource table answers them.
CREATE TABLE idx_string (rid INTEGER NOT NULL, ord INTEGER NOT NULL, code TEXT NOT NULL, normalized TEXT NOT NULL, exact TEXT NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_string_value ON idx_string (code, normalized);

CREATE TABLE idx_token (rid INTEGER NOT NULL, ord INTEGER NOT NULL, code TEXT NOT NULL, system TEXT, value TEXT, text TEXT, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_token_value ON idx_token (code, value, system);

CREATE TABLE idx_reference (rid INTEGER NOT NULL, ord INTEGER NOT NULL, code TEXT NOT NULL, target_type TEXT, target_id TEXT, url TEXT, version TEXT, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_reference_target ON idx_reference (code, target_id, target_type);
CREATE INDEX idx_reference_url ON idx_reference (code, url) WHERE url IS NOT NULL;

CREATE TABLE idx_date (rid INTEGER NOT NULL, ord INTEGER NOT NULL, code TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_date_value ON idx_date (code, low, high);

CREATE TABLE idx_number (rid INTEGER NOT NULL, ord INTEGER NOT NULL, code TEXT NOT NULL, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_number_value ON idx_number (code, low, high);

CREATE TABLE idx_quantity (rid INTEGER NOT NULL, ord INTEGER NOT NULL, code TEXT NOT NULL, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, system TEXT, unit TEXT, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_quantity_value ON idx_quantity (code, low, high);

CREATE TABLE idx_uri (rid INTEGER NOT NULL, ord INTEGER NOT NULL, code TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_uri_value ON idx_uri (code, value);

-- Composite parameters: each row is one combination of component values, as a JSON array of
-- the components' own index entries (`[{"code":"code","system":…,"value":…},{"code":"value-quantity","low":…}]`).
CREATE TABLE idx_composite (rid INTEGER NOT NULL, ord INTEGER NOT NULL, code TEXT NOT NULL, components TEXT NOT NULL, PRIMARY KEY (rid, ord)) WITHOUT ROWID;
CREATE INDEX idx_composite_value ON idx_composite (code, components);

-- Patient compartment membership: which patients' records hold each resource.
CREATE TABLE compartment (rid INTEGER NOT NULL, patient_id TEXT NOT NULL, PRIMARY KEY (rid, patient_id)) WITHOUT ROWID;
CREATE INDEX compartment_patient ON compartment (patient_id);
