-- Identity (apps, users, codes, tokens, grants, rate windows) and Bulk Data export jobs: the
-- SQLite store's migrations 0006 and 0009 in PostgreSQL's dialect, implemented in
-- src/identity.rs and src/jobs.rs. Identity times are Unix seconds, job times microseconds, all
-- given by the caller. Codes and tokens are stored only as the SHA-256 hashes the caller gives.
--
-- Many processes write these tables at once, so no statement may rely on being the only writer:
-- every read-then-write runs in a transaction that first locks what it decides on (see the
-- module docs of src/identity.rs and src/jobs.rs).

-- Apps are disabled, never deleted, so their ids (the owner of every resource their users write)
-- are never reused. `redirect_uris` is a JSON array of strings.
CREATE TABLE app (
    id            BIGSERIAL PRIMARY KEY,
    client_id     TEXT    NOT NULL UNIQUE,
    secret_hash   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);

-- `oneup_user_id` comes from a sequence, which never hands out a number twice (a rolled-back or
-- conflicting insert spends its number too), as SQLite's AUTOINCREMENT does not: resources and
-- grants name users by it.
CREATE TABLE app_user (
    oneup_user_id BIGSERIAL PRIMARY KEY,
    app           BIGINT  NOT NULL,
    app_user_id   TEXT    NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (app, app_user_id)
);

-- A used code keeps its row and the family its redemption created, so that presenting it again
-- can revoke every token issued for it. A redemption locks the row (`FOR UPDATE`), so racing
-- redemptions of one code take turns and only the first finds it unused.
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

-- A family is the chain of tokens that descends from one redeemed code through refresh
-- rotations. Revocation is of a whole family, one flag here that every token lookup joins, so
-- tokens a racing rotation adds to a family being revoked are revoked with it.
CREATE TABLE token_family (
    id      BIGSERIAL PRIMARY KEY,
    app     BIGINT  NOT NULL,
    "user"  BIGINT  NOT NULL,
    scope   TEXT    NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);

-- Access and refresh tokens. `rotated` marks a refresh token that was exchanged once; presenting
-- it again is a replay. Expired rows stay, so an expired access token is told apart from an
-- unknown one.
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
-- No lookup reads this index today; it is here so that pruning the tokens of dead families, when
-- that comes, need not scan them all.
CREATE INDEX token_family_tokens ON token (family);

-- Read grants. A whole-record grant stores the empty string as its patient (no Patient id is
-- empty), because a NULL in the key would let the same grant be stored twice.
CREATE TABLE permission_grant (
    app          BIGINT NOT NULL,
    grantee      BIGINT NOT NULL,
    fhir_version TEXT   NOT NULL,
    owner        BIGINT NOT NULL,
    patient      TEXT   NOT NULL,
    PRIMARY KEY (app, grantee, fhir_version, owner, patient)
);

-- User-management calls per app and rate window (named by its first second). A call is counted
-- by one upsert, which PostgreSQL applies to the row under its lock, so racing processes never
-- lose a count. Counting a window deletes the app's earlier ones.
CREATE TABLE rate_window (
    app          BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (app, window_start)
);

-- Bulk Data export jobs. `principal`, `params`, `output` and `error` are the server's text, never
-- read here; `scope` is `hale_store::jobs::encode_scope`. `seq` orders the queue: a claim takes
-- the lowest `seq` that is queued or running with a stale heartbeat, skipping rows another
-- claim has locked (`FOR UPDATE SKIP LOCKED`).
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
-- What the per-app limit counts. Finished jobs pile up until they expire; the active indexes
-- never hold them.
CREATE INDEX export_job_active ON export_job (owner_app, seq) WHERE state IN ('queued', 'running');
-- What claims walk, oldest first.
CREATE INDEX export_job_claimable ON export_job (seq) WHERE state IN ('queued', 'running');
-- What the sweeper reads: jobs that have an expiry, soonest first.
CREATE INDEX export_job_expires ON export_job (expires) WHERE expires IS NOT NULL;
