-- A bulk export page of one type reads that type's rows in row order along `resource_type_rid`
-- and then each row's current version in `history` by `seq`. With `seq` in the index, the page
-- reads the index alone and probes `history` directly, instead of probing `resource`'s key for
-- each row first: a page of 1,000 Observations took 0.9 ms instead of 1.75 ms under `EXPLAIN
-- ANALYZE` at a million resources. The index is rebuilt with the column rather than added
-- beside, so a write maintains as many indexes as before; `resource` is locked against writes
-- while it builds (seconds at a million resources).
DROP INDEX resource_type_rid;
CREATE INDEX resource_type_rid ON resource (fhir_version, type, deleted, rid) INCLUDE (seq);
