-- Patient `$everything` pages through a record ordered by type, then id (src/record.rs). With
-- the member's type and id beside the Patient's id, one index gives the compartment in that
-- order, so a page is a range read that stops after `_count` rows, whatever the size of the
-- record, instead of sorting the whole compartment for every page. The primary key stays
-- `(rid, patient_id)`: writes remove a resource's rows by `rid`, and per-patient grants probe it.
CREATE TABLE compartment_ordered (
    rid        INTEGER NOT NULL,
    patient_id TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    PRIMARY KEY (rid, patient_id)
) WITHOUT ROWID;
INSERT INTO compartment_ordered (rid, patient_id, type, id)
    SELECT c.rid, c.patient_id, r.type, r.id FROM compartment c JOIN resource r ON r.rid = c.rid;
DROP TABLE compartment;
ALTER TABLE compartment_ordered RENAME TO compartment;
CREATE INDEX compartment_record ON compartment (patient_id, type, id);
