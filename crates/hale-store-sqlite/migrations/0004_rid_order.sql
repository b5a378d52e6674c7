-- Value indexes in row order per value. An index of a `WITHOUT ROWID` table ends in the primary
-- key (`rid`, `ord`), so its entries are in `rid` order only among rows that agree on every
-- column before it. A token test often fixes the value but not the system (`category=laboratory`),
-- and a reference test the id but not the type (`patient=123`), so those columns come after `rid`:
-- such a test then streams its rows in `rid` order, a first page without `_sort` stops after
-- `_count + 1` entries, and a count can drop duplicates without sorting. The columns after `rid`
-- keep the indexes covering for the tests that fix them too.
DROP INDEX idx_token_value;
CREATE INDEX idx_token_value ON idx_token (code, value, rid, system);
DROP INDEX idx_reference_target;
CREATE INDEX idx_reference_target ON idx_reference (code, target_id, rid, target_type);
