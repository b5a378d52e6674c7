-- Bulk Data export jobs (`hale_store::jobs::JobStore`, implemented in src/jobs.rs). Times are
-- microseconds since the Unix epoch, given by the caller. `principal`, `params`, `output` and
-- `error` are the server's text, never read here; `scope` is `hale_store::jobs::encode_scope`.
--
-- `seq` orders the queue: a claim takes the lowest `seq` that is queued or running with a stale
-- heartbeat. Claims, heartbeats and every state change run on the writer, so a claim (find and
-- mark) is atomic within a process, and `BEGIN IMMEDIATE` makes it atomic across processes that
-- share the database.
CREATE TABLE export_job (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    principal        TEXT    NOT NULL,
    owner_app        INTEGER,
    fhir_version     TEXT    NOT NULL,
    scope            TEXT    NOT NULL,
    request          TEXT    NOT NULL,
    params           TEXT    NOT NULL,
    state            TEXT    NOT NULL
        CHECK (state IN ('queued', 'running', 'complete', 'failed', 'cancelled')),
    progress         TEXT,
    transaction_time INTEGER NOT NULL,
    created          INTEGER NOT NULL,
    expires          INTEGER,
    output           TEXT,
    error            TEXT,
    claimed_by       TEXT,
    heartbeat        INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0
);

-- The active jobs: what claims look through and what the per-app limit counts. Finished jobs
-- pile up until they expire; this index never holds them.
CREATE INDEX export_job_active ON export_job (owner_app, seq)
    WHERE state IN ('queued', 'running');

-- What the sweeper reads: jobs that have an expiry, soonest first.
CREATE INDEX export_job_expires ON export_job (expires) WHERE expires IS NOT NULL;
