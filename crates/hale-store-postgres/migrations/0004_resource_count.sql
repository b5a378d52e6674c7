-- The number of current, not deleted resources of each FHIR version, type and owner, so that a
-- search without criteria (`GET /r4/Condition`) gets its `total` from a few rows here instead of
-- visiting every matching row of `resource`: PostgreSQL reads an index entry several times
-- slower than SQLite, and a first page of a type with tens of thousands of resources spent most
-- of its time counting them.
--
-- Triggers keep the counts, once per statement over its transition tables, so that every way a
-- row changes (a `COPY` of a Bundle's rows, an update, a purge, a statement typed by hand) moves
-- them in the same transaction: a reader's snapshot sees rows and counts that agree. Writers hold
-- the write lock (`WRITE_LOCK`), so two transactions never update one count at once.
--
-- An owner column is NULL for the operator's resources (and `owner_user` for an app's own), so
-- NULLs are not distinct in the key (PostgreSQL 15 and later).

CREATE TABLE resource_count (
    fhir_version TEXT   NOT NULL,
    type         TEXT   COLLATE "C" NOT NULL,
    owner_app    BIGINT,
    owner_user   BIGINT,
    n            BIGINT NOT NULL,
    UNIQUE NULLS NOT DISTINCT (fhir_version, type, owner_app, owner_user)
);

INSERT INTO resource_count (fhir_version, type, owner_app, owner_user, n)
SELECT fhir_version, type, owner_app, owner_user, count(*)
FROM resource
WHERE deleted = 0
GROUP BY fhir_version, type, owner_app, owner_user;

-- Moves the counts by the rows a statement added (`added`) and removed (`removed`, the old
-- versions of updated rows).
CREATE FUNCTION resource_count_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_count AS c (fhir_version, type, owner_app, owner_user, n)
        SELECT fhir_version, type, owner_app, owner_user, count(*)
        FROM added WHERE deleted = 0
        GROUP BY fhir_version, type, owner_app, owner_user
        ON CONFLICT (fhir_version, type, owner_app, owner_user) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO resource_count AS c (fhir_version, type, owner_app, owner_user, n)
        SELECT fhir_version, type, owner_app, owner_user, sum(delta)
        FROM (
            SELECT fhir_version, type, owner_app, owner_user, 1 AS delta FROM added WHERE deleted = 0
            UNION ALL
            SELECT fhir_version, type, owner_app, owner_user, -1 FROM removed WHERE deleted = 0
        ) moves
        GROUP BY fhir_version, type, owner_app, owner_user
        HAVING sum(delta) <> 0
        ON CONFLICT (fhir_version, type, owner_app, owner_user) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO resource_count AS c (fhir_version, type, owner_app, owner_user, n)
        SELECT fhir_version, type, owner_app, owner_user, -count(*)
        FROM removed WHERE deleted = 0
        GROUP BY fhir_version, type, owner_app, owner_user
        ON CONFLICT (fhir_version, type, owner_app, owner_user) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END
$$;

-- A trigger with transition tables handles one event, hence three.
CREATE TRIGGER resource_count_insert AFTER INSERT ON resource
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION resource_count_add();
CREATE TRIGGER resource_count_update AFTER UPDATE ON resource
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION resource_count_add();
CREATE TRIGGER resource_count_delete AFTER DELETE ON resource
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION resource_count_add();
