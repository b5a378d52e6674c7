-- The rows of each owner, per type. A principal other than the operator sees a few owner groups
-- (operator data, its own, its grantors'); a search that no criterion narrows, its count,
-- `count_by_type` and history read those groups from this index instead of every resource of
-- the type (src/plan.rs, `Planner::owner_arms`). With the owner and `deleted = 0` fixed, the
-- index's implicit trailing `rid` puts a group's current resources in row order, so a page in row
-- order merges the groups and stops after `_count + 1` rows; history, which shows deleted
-- resources too, leaves `deleted` free. Operator data has no owner at all: a resource with no
-- app never has a user (`write.rs` takes both from one `Owner`), so `owner_app IS NULL AND
-- owner_user IS NULL` is the whole operator group, in row order.
CREATE INDEX resource_owner ON resource (fhir_version, type, owner_app, owner_user, deleted);
