-- The full text of each resource carries a lexeme of its type (`@` and the type, as
-- `hale_store_sql::plan::type_lexeme` writes it) in both columns, so that `Condition?_content=x`
-- asks the GIN index for the rows that have the word and the Condition lexeme, instead of
-- reading the full text of every Condition to test the word (185 ms against 30 ms for a count at
-- a million resources). The `simple` configuration never makes a lexeme that starts with `@`
-- from text, so no search word matches it.
--
-- The rows written before get the lexeme here. Copying the table and building its indexes anew
-- is faster than updating every row in place, and leaves no dead rows behind. Run
-- `VACUUM ANALYZE full_text` afterwards where autovacuum is off.
SET LOCAL maintenance_work_mem = '256MB';

CREATE TABLE full_text_typed (
    rid       BIGINT PRIMARY KEY,
    content   TSVECTOR NOT NULL,
    narrative TSVECTOR NOT NULL
);

INSERT INTO full_text_typed (rid, content, narrative)
SELECT f.rid, f.content || t.lexeme, f.narrative || t.lexeme
FROM full_text f
JOIN resource r ON r.rid = f.rid
CROSS JOIN LATERAL (SELECT array_to_tsvector(ARRAY['@' || r.type]) AS lexeme) t;

DROP TABLE full_text;
ALTER TABLE full_text_typed RENAME TO full_text;
ALTER INDEX full_text_typed_pkey RENAME TO full_text_pkey;
CREATE INDEX full_text_content ON full_text USING GIN (content);
CREATE INDEX full_text_narrative ON full_text USING GIN (narrative);
