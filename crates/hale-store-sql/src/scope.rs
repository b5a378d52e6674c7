//! The scope condition and its owner groups, which every statement puts on every alias of
//! `resource`, and the statement of one version of a resource.

use hale_fhir::FhirVersion;
use hale_store::{Grant, Scope};

use crate::Sql;

/// The columns a backend reads into a [`crate::ResourceRow`], for `resource r JOIN history h`.
pub const COLUMNS: &str = "r.fhir_version, r.type, r.id, h.version_id, h.last_updated, h.method, h.seq, r.owner_app, r.owner_user, h.json";

/// Appends ` AND <the scope condition>` on the resource alias `alias`: nothing under
/// `Scope::All`, and otherwise a condition on the row's own columns, so that every statement
/// (search, count, chain, `_has`, include, history, read, and lookups inside writes) filters with
/// the same definition of what a principal sees.
///
/// Per row it costs an owner comparison and, for each per-patient grant of the row's owner, a
/// check of the Patient's own key and one probe of the `compartment` table's primary key
/// `(rid, patient_id)`. The statement's text depends on the number of grants of each kind only,
/// never on their values, so prepared statements are reused across principals.
pub fn push_scope(sql: &mut Sql, alias: &str, scope: &Scope) {
    let (app, user, grants) = match scope {
        Scope::All => return,
        Scope::App(app) => {
            sql.push(&format!(
                " AND ({alias}.owner_app IS NULL OR {alias}.owner_app = "
            ));
            sql.bind(*app);
            sql.push(")");
            return;
        }
        Scope::User { app, user, grants } => (*app, *user, grants),
    };
    let (owners, records) = split_grants(user, grants);
    sql.push(&format!(
        " AND ({alias}.owner_app IS NULL OR ({alias}.owner_app = "
    ));
    sql.bind(app);
    sql.push(&format!(" AND ({alias}.owner_user "));
    if let [only] = owners.as_slice() {
        sql.push("= ");
        sql.bind(*only);
    } else {
        sql.push("IN (");
        sql.bind_list(owners.iter().copied());
        sql.push(")");
    }
    for (owner, patient) in records {
        sql.push(&format!(" OR ({alias}.owner_user = "));
        sql.bind(owner);
        sql.push(" AND ");
        push_record(sql, alias, patient);
        sql.push(")");
    }
    sql.push(")))");
}

/// The users of the app whose resources a user sees whole (the user, then each whole-record
/// grantor), and the per-patient grants `(grantor, patient)` that add something to them.
/// Whole-record grants widen the set of owners; a per-patient grant of an owner already in that
/// set adds nothing, and repeated grants add nothing either.
fn split_grants(user: i64, grants: &[Grant]) -> (Vec<i64>, Vec<(i64, &str)>) {
    let mut owners = vec![user];
    for grant in grants {
        if grant.patient.is_none() && !owners.contains(&grant.owner) {
            owners.push(grant.owner);
        }
    }
    let mut records: Vec<(i64, &str)> = Vec::new();
    for grant in grants {
        if let Some(patient) = grant.patient.as_deref()
            && !owners.contains(&grant.owner)
            && !records.contains(&(grant.owner, patient))
        {
            records.push((grant.owner, patient));
        }
    }
    (owners, records)
}

/// The Patient `patient` itself, or a resource in its compartment. A deleted resource has no
/// compartment rows, so only the Patient's own deletion stays visible.
fn push_record(sql: &mut Sql, alias: &str, patient: &str) {
    sql.push(&format!("(({alias}.type = 'Patient' AND {alias}.id = "));
    sql.bind(patient);
    sql.push(&format!(
        ") OR EXISTS (SELECT 1 FROM compartment gc WHERE gc.rid = {alias}.rid AND gc.patient_id = "
    ));
    sql.bind(patient);
    sql.push("))");
}

/// The part of a scope other than `Scope::All` that one owner holds. The groups of a scope
/// ([`owner_groups`]) together are exactly the scope, and no row is in two of them, so a
/// statement may read each group on its own through the `resource_owner` index
/// (`migrations/0007_owner_index.sql`) and add up or merge what it finds.
#[derive(Debug)]
pub enum OwnerGroup<'s> {
    /// Operator data: no app, hence no user either.
    Operator,
    /// Everything an app owns, whichever of its users (or none) owns it.
    App(i64),
    /// Everything one user of an app owns: the principal, or a whole-record grantor.
    User {
        /// The app.
        app: i64,
        /// The user.
        user: i64,
    },
    /// What one grantor shared per patient: each of these Patients and the resources in its
    /// compartment, of the grantor's.
    Records {
        /// The app.
        app: i64,
        /// The grantor.
        user: i64,
        /// The Patients it shared.
        patients: Vec<&'s str>,
    },
}

/// The owner groups of `scope`, or `None` under `Scope::All`, whose statements need none.
pub fn owner_groups(scope: &Scope) -> Option<Vec<OwnerGroup<'_>>> {
    let (app, user, grants) = match scope {
        Scope::All => return None,
        Scope::App(app) => return Some(vec![OwnerGroup::Operator, OwnerGroup::App(*app)]),
        Scope::User { app, user, grants } => (*app, *user, grants),
    };
    let (owners, records) = split_grants(user, grants);
    let mut groups = vec![OwnerGroup::Operator];
    groups.extend(
        owners
            .into_iter()
            .map(|user| OwnerGroup::User { app, user }),
    );
    // One group per grantor, so that a resource in two granted Patients' compartments is read
    // (and counted) once.
    for (grantor, patient) in records {
        let group = groups.iter_mut().find_map(|group| match group {
            OwnerGroup::Records { user, patients, .. } if *user == grantor => Some(patients),
            _ => None,
        });
        match group {
            Some(patients) => patients.push(patient),
            None => groups.push(OwnerGroup::Records {
                app,
                user: grantor,
                patients: vec![patient],
            }),
        }
    }
    Some(groups)
}

/// Appends ` AND (<the group's condition>)` on the resource alias `alias`: an equality on each
/// owner column the group fixes, which the `resource_owner` index seeks, and for per-patient
/// grants the same Patient and compartment conditions as [`push_scope`].
///
/// Operator data is `owner_app IS NULL AND owner_user IS NULL`, where [`push_scope`] says
/// `owner_app IS NULL` alone: the two agree because a resource without an app has no user, and
/// fixing both columns keeps the group in row order in the index.
pub fn push_group(sql: &mut Sql, alias: &str, group: &OwnerGroup<'_>) {
    match group {
        OwnerGroup::Operator => sql.push(&format!(
            " AND ({alias}.owner_app IS NULL AND {alias}.owner_user IS NULL)"
        )),
        OwnerGroup::App(app) => {
            sql.push(&format!(" AND ({alias}.owner_app = "));
            sql.bind(*app);
            sql.push(")");
        }
        OwnerGroup::User { app, user } => {
            sql.push(&format!(" AND ({alias}.owner_app = "));
            sql.bind(*app);
            sql.push(&format!(" AND {alias}.owner_user = "));
            sql.bind(*user);
            sql.push(")");
        }
        OwnerGroup::Records {
            app,
            user,
            patients,
        } => {
            sql.push(&format!(" AND ({alias}.owner_app = "));
            sql.bind(*app);
            sql.push(&format!(" AND {alias}.owner_user = "));
            sql.bind(*user);
            sql.push(" AND (");
            for (idx, patient) in patients.iter().enumerate() {
                if idx > 0 {
                    sql.push(" OR ");
                }
                push_record(sql, alias, patient);
            }
            sql.push("))");
        }
    }
}

/// The resource types that have rows under `fhir_version`, deleted or not, as a subquery of one
/// column: each is found by one seek past the previous one in an index that starts with
/// (fhir_version, type), so the cost is a few seeks per type, whatever the number of resources.
/// Statements over every type of a principal's groups seek each type in `resource_owner` with it.
pub fn present_types(fhir_version: &str) -> Sql {
    let mut sql = Sql::default();
    sql.push(
        "WITH RECURSIVE present(type) AS (SELECT min(type) FROM resource WHERE fhir_version = ",
    );
    sql.bind(fhir_version);
    sql.push(" UNION ALL SELECT (SELECT min(type) FROM resource WHERE fhir_version = ");
    sql.bind(fhir_version);
    sql.push(
        " AND type > present.type) FROM present WHERE present.type IS NOT NULL) \
         SELECT type FROM present WHERE type IS NOT NULL",
    );
    sql
}

/// One version of a resource (the current one when `version_id` is none), deleted or not, if
/// the resource is in `scope`: a statement selecting [`COLUMNS`].
pub fn resource_version(
    scope: &Scope,
    fhir_version: FhirVersion,
    resource_type: &str,
    id: &str,
    version_id: Option<u64>,
) -> Sql {
    let mut sql = Sql::default();
    match version_id {
        None => sql.push(&format!(
            "SELECT {COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq"
        )),
        Some(version_id) => {
            sql.push(&format!(
                "SELECT {COLUMNS} FROM resource r JOIN history h ON h.rid = r.rid AND h.version_id = "
            ));
            sql.bind(version_id as i64);
        }
    }
    sql.push(" WHERE r.fhir_version = ");
    sql.bind(fhir_version.as_str());
    sql.push(" AND r.type = ");
    sql.bind(resource_type);
    sql.push(" AND r.id = ");
    sql.bind(id);
    push_scope(&mut sql, "r", scope);
    sql
}
