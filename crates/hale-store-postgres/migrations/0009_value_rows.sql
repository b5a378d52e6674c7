-- A page or a count driven by a range of one value index (a string prefix, a date, number,
-- quantity or uri range) reads the `rid` of each entry in the range, which these indexes did not
-- carry, so each entry cost a visit to the table. With `rid` included they read the index alone,
-- as the token and reference indexes (whose keys hold `rid`) already did: a first page of
-- `Patient?name=m` (1,322 names) read them in 0.5 ms instead of 2.8 ms under `EXPLAIN ANALYZE`
-- at a million resources. Such a query is planned once for any values (`Plans::of_count` in
-- src/resources.rs), which is only cheap when the run it reads is.
DROP INDEX idx_string_value;
CREATE INDEX idx_string_value ON idx_string (param, normalized) INCLUDE (rid);
DROP INDEX idx_date_value;
CREATE INDEX idx_date_value ON idx_date (param, low, high) INCLUDE (rid);
DROP INDEX idx_number_value;
CREATE INDEX idx_number_value ON idx_number (param, value) INCLUDE (rid);
DROP INDEX idx_quantity_value;
CREATE INDEX idx_quantity_value ON idx_quantity (param, value, unit, system) INCLUDE (rid);
DROP INDEX idx_uri_value;
CREATE INDEX idx_uri_value ON idx_uri (param, value) INCLUDE (rid);
