-- Resources, their versions, the search index and the Patient compartments: the SQLite store's
-- schema (its migrations 0001-0010) in PostgreSQL's dialect.
--
-- `resource` holds one row per logical resource (the current version's id, owner, time, deleted
-- flag and `seq`); `history` holds every version and is the only place the JSON bytes live.
-- Index tables are keyed by (rid, ord) like SQLite's, with one index on the searched columns.
--
-- The statements are `hale-store-sql`'s, shared with SQLite, so the columns keep SQLite's types
-- where the text of a statement depends on them: `deleted` is 0 or 1, as `deleted = 0` says.
-- Text compares and sorts by code point (`COLLATE "C"`), as in SQLite: prefix ranges end at
-- U+10FFFF, and `_sort`, cursors and `$everything`'s (type, id) order rely on that order.
-- A composite entry's components are `jsonb`, read with `->` and `->>`.

CREATE TABLE resource (
    rid          BIGINT  PRIMARY KEY,
    fhir_version TEXT    NOT NULL,
    type         TEXT    COLLATE "C" NOT NULL,
    id           TEXT    COLLATE "C" NOT NULL,
    owner_app    BIGINT,
    owner_user   BIGINT,
    version_id   BIGINT  NOT NULL,
    last_updated BIGINT  NOT NULL,
    deleted      SMALLINT NOT NULL,
    seq          BIGINT  NOT NULL,
    UNIQUE (fhir_version, type, id)
);
CREATE INDEX resource_type_seq ON resource (fhir_version, type, seq);
CREATE INDEX resource_type_rid ON resource (fhir_version, type, deleted, rid);
CREATE INDEX resource_last_updated ON resource (fhir_version, type, last_updated);
CREATE INDEX resource_owner ON resource (owner_app, owner_user, fhir_version, type, deleted, rid);
CREATE INDEX resource_operator ON resource (fhir_version, type, seq) WHERE owner_app IS NULL;

CREATE TABLE history (
    seq          BIGINT PRIMARY KEY,
    rid          BIGINT NOT NULL,
    version_id   BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    method       TEXT   NOT NULL,
    json         BYTEA  NOT NULL
);
CREATE INDEX history_rid ON history (rid, version_id);
CREATE INDEX history_last_updated ON history (last_updated);

-- Row and write sequence numbers.
CREATE SEQUENCE resource_rid;
CREATE SEQUENCE history_seq;

CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE search_param (
    id           SERIAL PRIMARY KEY,
    fhir_version TEXT NOT NULL,
    type         TEXT NOT NULL,
    code         TEXT NOT NULL,
    UNIQUE (fhir_version, type, code)
);
CREATE INDEX search_param_code ON search_param (fhir_version, code);

CREATE TABLE idx_string (rid BIGINT NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, normalized TEXT COLLATE "C" NOT NULL, exact TEXT COLLATE "C" NOT NULL, PRIMARY KEY (rid, ord));
CREATE INDEX idx_string_value ON idx_string (param, normalized);

CREATE TABLE idx_token (rid BIGINT NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, system TEXT COLLATE "C", value TEXT COLLATE "C", text TEXT COLLATE "C", of_type TEXT COLLATE "C", PRIMARY KEY (rid, ord));
CREATE INDEX idx_token_value ON idx_token (param, value, rid, system);
CREATE INDEX idx_token_of_type ON idx_token (param, of_type, value) WHERE of_type IS NOT NULL;

CREATE TABLE idx_reference (rid BIGINT NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, target_type TEXT COLLATE "C", target_id TEXT COLLATE "C", url TEXT COLLATE "C", version TEXT COLLATE "C", PRIMARY KEY (rid, ord));
CREATE INDEX idx_reference_target ON idx_reference (param, target_id, rid, target_type);
CREATE INDEX idx_reference_url ON idx_reference (param, url) WHERE url IS NOT NULL;

CREATE TABLE idx_date (rid BIGINT NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, low BIGINT NOT NULL, high BIGINT NOT NULL, PRIMARY KEY (rid, ord));
CREATE INDEX idx_date_value ON idx_date (param, low, high);

CREATE TABLE idx_number (rid BIGINT NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, value DOUBLE PRECISION NOT NULL, low DOUBLE PRECISION NOT NULL, high DOUBLE PRECISION NOT NULL, PRIMARY KEY (rid, ord));
CREATE INDEX idx_number_value ON idx_number (param, value);

CREATE TABLE idx_quantity (rid BIGINT NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, value DOUBLE PRECISION NOT NULL, low DOUBLE PRECISION NOT NULL, high DOUBLE PRECISION NOT NULL, system TEXT COLLATE "C", unit TEXT COLLATE "C", PRIMARY KEY (rid, ord));
CREATE INDEX idx_quantity_value ON idx_quantity (param, value, unit, system);

CREATE TABLE idx_uri (rid BIGINT NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, value TEXT COLLATE "C" NOT NULL, PRIMARY KEY (rid, ord));
CREATE INDEX idx_uri_value ON idx_uri (param, value);

CREATE TABLE idx_composite (rid BIGINT NOT NULL, ord INTEGER NOT NULL, param INTEGER NOT NULL, components JSONB NOT NULL, PRIMARY KEY (rid, ord));
CREATE INDEX idx_composite_param ON idx_composite (param, rid);

-- `_content` and `_text`: one row per resource, searched through GIN.
CREATE TABLE full_text (
    rid       BIGINT PRIMARY KEY,
    content   TSVECTOR NOT NULL,
    narrative TSVECTOR NOT NULL
);
CREATE INDEX full_text_content ON full_text USING GIN (content);
CREATE INDEX full_text_narrative ON full_text USING GIN (narrative);

-- Patient compartment membership, with the member's type and id for `$everything`'s order.
CREATE TABLE compartment (
    rid        BIGINT NOT NULL,
    patient_id TEXT   COLLATE "C" NOT NULL,
    type       TEXT   COLLATE "C" NOT NULL,
    id         TEXT   COLLATE "C" NOT NULL,
    PRIMARY KEY (rid, patient_id)
);
CREATE INDEX compartment_record ON compartment (patient_id, type, id);
