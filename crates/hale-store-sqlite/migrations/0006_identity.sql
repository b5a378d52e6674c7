-- Identity: developer apps, their users, authorization codes, tokens, read grants and rate windows
-- (`hale_auth::IdentityStore`, implemented in src/identity.rs). Times are Unix seconds. Codes and
-- tokens are stored only as the SHA-256 hashes the caller gives, so a copy of this database
-- holds no usable credential.

-- Apps are disabled, never deleted, so their ids (the owner of every resource their users write)
-- are never reused. `redirect_uris` is a JSON array of strings.
CREATE TABLE app (
    id            INTEGER PRIMARY KEY,
    client_id     TEXT    NOT NULL UNIQUE,
    secret_hash   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

-- `oneup_user_id` is server-wide and AUTOINCREMENT, so an id, once handed out, is never handed out
-- again even if its row were deleted: resources and grants name users by it.
CREATE TABLE app_user (
    oneup_user_id INTEGER PRIMARY KEY AUTOINCREMENT,
    app           INTEGER NOT NULL,
    app_user_id   TEXT    NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    UNIQUE (app, app_user_id)
);

-- A used code keeps its row and the family its redemption created, so that presenting it again
-- can revoke every token issued for it.
CREATE TABLE auth_code (
    hash       TEXT    PRIMARY KEY,
    app        INTEGER NOT NULL,
    user       INTEGER NOT NULL,
    scope      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0,
    family     INTEGER
) WITHOUT ROWID;

-- A family is the chain of tokens that descends from one redeemed code through refresh rotations.
-- Revocation is always of a whole family (a replayed code or refresh token), so it is one flag
-- here, which every token lookup joins, rather than one flag per token: revoking is then a single
-- row update however long the chain, and no token can be left out of it.
CREATE TABLE token_family (
    id      INTEGER PRIMARY KEY,
    app     INTEGER NOT NULL,
    user    INTEGER NOT NULL,
    scope   TEXT    NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);

-- Access and refresh tokens. `rotated` marks a refresh token that was exchanged once; presenting it
-- again is a replay. Expired rows stay, so an expired access token is told apart from an unknown one.
CREATE TABLE token (
    hash       TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    app        INTEGER NOT NULL,
    user       INTEGER NOT NULL,
    family     INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- No lookup reads this index today (tokens are found by hash and revoked by their family's row);
-- it is here so that pruning the tokens of dead families, when that comes, need not scan them all.
CREATE INDEX token_family_tokens ON token (family);

-- Read grants. A primary key column cannot usefully be NULL (NULLs are distinct, so the same
-- whole-record grant could be stored twice), so a whole-record grant stores the empty string as
-- its patient: no Patient id is empty (`[A-Za-z0-9\-\.]{1,64}`). The key's order serves the only
-- query, the grants of one grantee of one app under one FHIR version.
CREATE TABLE permission_grant (
    app          INTEGER NOT NULL,
    grantee      INTEGER NOT NULL,
    fhir_version TEXT    NOT NULL,
    owner        INTEGER NOT NULL,
    patient      TEXT    NOT NULL,
    PRIMARY KEY (app, grantee, fhir_version, owner, patient)
) WITHOUT ROWID;

-- User-management calls per app and rate window (named by its first second; `window` itself is an
-- SQL keyword). Counting a window deletes the app's earlier ones, so the table holds about one row
-- per app.
CREATE TABLE rate_window (
    app          INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    calls        INTEGER NOT NULL,
    PRIMARY KEY (app, window_start)
) WITHOUT ROWID;
