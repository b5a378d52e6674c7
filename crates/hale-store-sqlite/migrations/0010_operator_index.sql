-- The operator's data (no owner: the provider directory's Organizations, Endpoints and Locations,
-- shared Practitioners) by type and write sequence, so that a process can tell in one index probe
-- per type whether it changed (`ResourceStore::operator_seq`) and read it in write order
-- (`ResourceStore::operator_resources`). Partial, so that writes of users' data never touch it.
CREATE INDEX resource_operator ON resource (fhir_version, type, seq) WHERE owner_app IS NULL;
