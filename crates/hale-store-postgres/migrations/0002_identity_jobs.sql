-- Identity (apps, users, codes, tokens, grants, rate windows) and Bulk Data export jobs: the
-- SQLite store's migrations 0006 and 0009 in PostgreSQL's dialect.

CREATE TABLE app (
    id            BIGSERIAL PRIMARY KEY,
    client_id     TEXT    NOT NULL UNIQUE,
    secret_hash   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);

-- A sequence never hands out a number twice, as SQLite's AUTOINCREMENT does not.
CREATE TABLE app_user (
    oneup_user_id BIGSERIAL PRIMARY KEY,
    app           BIGINT  NOT NULL,
    app_user_id   TEXT    NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (app, app_user_id)
);

CREATE TABLE auth_code (
    hash       TEXT    PRIMARY KEY,
    app        BIGINT  NOT NULL,
    "user"     BIGINT  NOT NULL,
    scope      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used       BOOLEAN NOT NULL DEFAULT FALSE,
    family     BIGINT
);

CREATE TABLE token_family (
    id      BIGSERIAL PRIMARY KEY,
    app     BIGINT  NOT NULL,
    "user"  BIGINT  NOT NULL,
    scope   TEXT    NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE token (
    hash       TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    app        BIGINT  NOT NULL,
    "user"     BIGINT  NOT NULL,
    family     BIGINT  NOT NULL,
    issued_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    rotated    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX token_family_tokens ON token (family);

CREATE TABLE permission_grant (
    app          BIGINT NOT NULL,
    grantee      BIGINT NOT NULL,
    fhir_version TEXT   NOT NULL,
    owner        BIGINT NOT NULL,
    patient      TEXT   NOT NULL,
    PRIMARY KEY (app, grantee, fhir_version, owner, patient)
);

CREATE TABLE rate_window (
    app          BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (app, window_start)
);

CREATE TABLE export_job (
    seq              BIGSERIAL PRIMARY KEY,
    id               TEXT   NOT NULL UNIQUE,
    principal        TEXT   NOT NULL,
    owner_app        BIGINT,
    fhir_version     TEXT   NOT NULL,
    scope            TEXT   NOT NULL,
    request          TEXT   NOT NULL,
    params           TEXT   NOT NULL,
    state            TEXT   NOT NULL
        CHECK (state IN ('queued', 'running', 'complete', 'failed', 'cancelled')),
    progress         TEXT,
    transaction_time BIGINT NOT NULL,
    created          BIGINT NOT NULL,
    expires          BIGINT,
    output           TEXT,
    error            TEXT,
    claimed_by       TEXT,
    heartbeat        BIGINT,
    attempts         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX export_job_active ON export_job (owner_app, seq) WHERE state IN ('queued', 'running');
CREATE INDEX export_job_expires ON export_job (expires) WHERE expires IS NOT NULL;
