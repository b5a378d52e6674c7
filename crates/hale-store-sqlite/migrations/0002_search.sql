-- Search: what the planner (src/plan.rs) needs beyond the first schema.

-- `:of-type` compares an Identifier's type coding (`system|code`) and its value. Few token rows
-- have a type, so a partial index keeps the cost of the column to those rows.
ALTER TABLE idx_token ADD COLUMN of_type TEXT;
CREATE INDEX idx_token_of_type ON idx_token (code, of_type, value) WHERE of_type IS NOT NULL;

-- Number and quantity prefixes compare the entry's value (the model's rules never look at the
-- entry's implied range), so the searched index is on the value; the unit columns ride along so
-- that a quantity test never leaves the index.
DROP INDEX idx_number_value;
CREATE INDEX idx_number_value ON idx_number (code, value);
DROP INDEX idx_quantity_value;
CREATE INDEX idx_quantity_value ON idx_quantity (code, value, unit, system);

-- Full text for `_content` and `_text`: one row per resource, `rowid` = `rid`. The table keeps no
-- copy of the text (`content=''`), and `contentless_delete` lets a new version delete the old
-- version's row, as it deletes the old index rows.
CREATE VIRTUAL TABLE full_text USING fts5(content_text, narrative_text, content = '', contentless_delete = 1);

-- A search without criteria reads one type in `rid` order; with the deleted flag in the key the
-- index's implicit trailing `rid` is that order, and a count of the type never leaves the index.
CREATE INDEX resource_type_rid ON resource (fhir_version, type, deleted);

-- `_lastUpdated` criteria and sorting.
CREATE INDEX resource_last_updated ON resource (fhir_version, type, last_updated);
