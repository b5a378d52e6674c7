//! The adversarial isolation suite (contract Part A §5, Part B §15): two apps with two users each,
//! every user holding data that overlaps everyone else's (the same identifier, name and birth
//! date), some of it pointing at other owners' Patients, beside operator data that everyone may
//! read. Every interaction is then tried across every boundary: another user of the same app, a
//! user of another app, and one app's client-wide principal (`x-oneup-user-id: client`) against
//! the other app's data.
//!
//! What each principal may see is computed from the world's own record of who created what, so
//! every search is checked for its exact result and count, not only for the absence of a leak.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Client, user};
use crate::support::{Http, Reply, SYSTEM, TestApp, id_of, link};

/// The identifier value every user's Patient carries.
const SHARED_IDENTIFIER: &str = "shared-mrn";

/// The family name of every user's Patient and Practitioner.
const SHARED_FAMILY: &str = "Overlap";

/// The code system of the per-owner Observation codes (`obs-a1`, …).
const CODES: &str = "urn:hale-it:code";

/// The owner label of data created with the operator's token.
const OPERATOR: &str = "operator";

/// The four users: `a1` and `a2` of app A, `b1` and `b2` of app B.
const USERS: [&str; 4] = ["a1", "a2", "b1", "b2"];

/// One user of the world: its id, its credentials and the references of what it created.
struct Member {
    oneup_user_id: i64,
    http: Http,
    /// `Patient/{id}` of its Patient.
    patient: String,
    /// `Observation/{id}` of the Observation about its own Patient.
    observation: String,
}

/// Two apps, four users, overlapping data, operator data; see the module docs.
struct World {
    app: TestApp,
    /// App A and app B.
    clients: [Client; 2],
    members: BTreeMap<&'static str, Member>,
    /// The owner label of every resource the world created, by `Type/id`.
    owners: BTreeMap<String, &'static str>,
    /// Every resource the world created as the server stored it, by `Type/id`.
    stored: BTreeMap<String, Value>,
    /// The subject of every Observation and Encounter, by `Type/id`.
    subjects: BTreeMap<String, String>,
    /// `Organization/{id}` created by the operator.
    organization: String,
    /// `Patient/{id}` created by the operator.
    operator_patient: String,
}

/// A principal reading the world: its credentials and the owners whose data it may see.
struct Viewer {
    name: &'static str,
    http: Http,
    sees: Vec<&'static str>,
}

fn shared_patient(owner: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [
            {"system": SYSTEM, "value": SHARED_IDENTIFIER},
            {"system": SYSTEM, "value": format!("own-{owner}")}
        ],
        "name": [{"family": SHARED_FAMILY, "given": ["Shared"]}],
        "birthDate": "1970-01-01"
    })
}

/// An Observation coded `obs-{owner}` (besides a shared LOINC code) about `subject`.
fn owned_observation(owner: &str, subject: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [
            {"system": "http://loinc.org", "code": "8867-4"},
            {"system": CODES, "code": format!("obs-{owner}")}
        ]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 72, "unit": "/min"}
    })
}

fn encounter(subject: &str) -> Value {
    json!({
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": subject}
    })
}

fn practitioner() -> Value {
    json!({
        "resourceType": "Practitioner",
        "identifier": [{"system": SYSTEM, "value": SHARED_IDENTIFIER}],
        "name": [{"family": SHARED_FAMILY}]
    })
}

/// `Type/id` of a resource.
fn reference(resource: &Value) -> String {
    format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap_or("?"),
        id_of(resource)
    )
}

/// The bare id of a `Type/id` reference.
fn bare(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// `Type/id` from an absolute resource URL (`fullUrl`, `location`), without `_history`.
fn reference_in_url(url: &str) -> String {
    let url = url.split("/_history").next().unwrap_or(url);
    let mut segments = url.rsplit('/');
    let id = segments.next().unwrap_or("");
    let resource_type = segments.next().unwrap_or("");
    format!("{resource_type}/{id}")
}

/// `Type/id` of the entries of a search Bundle with `search.mode` `mode`.
fn found(bundle: &Value, mode: &str) -> BTreeSet<String> {
    bundle["entry"]
        .as_array()
        .unwrap_or_else(|| panic!("entry is always present: {bundle}"))
        .iter()
        .filter(|entry| entry["search"]["mode"] == mode)
        .map(|entry| reference(&entry["resource"]))
        .collect()
}

/// `Type/id` of every entry of a history Bundle.
fn in_history(bundle: &Value) -> BTreeSet<String> {
    bundle["entry"]
        .as_array()
        .unwrap_or_else(|| panic!("entry is always present: {bundle}"))
        .iter()
        .map(|entry| reference_in_url(entry["fullUrl"].as_str().expect("a fullUrl")))
        .collect()
}

/// The numeric status of a batch or transaction response entry (`"404 Not Found"` → 404).
#[track_caller]
fn entry_status(entry: &Value) -> u16 {
    entry["response"]["status"]
        .as_str()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an entry without a numeric response.status: {entry}"))
}

/// The bearer token an [`Http`] sends.
fn token_of(http: &Http) -> String {
    http.credentials["authorization"]
        .to_str()
        .expect("an authorization header")
        .trim_start_matches("Bearer ")
        .to_owned()
}

/// A JSON Patch that any resource accepts.
fn harmless_patch() -> Value {
    json!([{"op": "add", "path": "/language", "value": "de"}])
}

/// `value` with `language` set, so that a PUT of it would be a real change.
fn changed(value: &Value) -> Value {
    let mut value = value.clone();
    value["language"] = json!("fr");
    value
}

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

impl World {
    async fn build() -> World {
        let app = TestApp::start().await;
        let mut world = World {
            clients: [
                Client::register(&app, "isolation-a").await,
                Client::register(&app, "isolation-b").await,
            ],
            members: BTreeMap::new(),
            owners: BTreeMap::new(),
            stored: BTreeMap::new(),
            subjects: BTreeMap::new(),
            organization: String::new(),
            operator_patient: String::new(),
            app,
        };
        let operator = Http::clone(&world.app);
        world.organization = world
            .record(
                &operator,
                OPERATOR,
                json!({"resourceType": "Organization", "name": "Overlap Clinic"}),
            )
            .await;
        let mut operator_patient = shared_patient(OPERATOR);
        operator_patient["identifier"] = json!([{"system": SYSTEM, "value": "own-operator"}]);
        operator_patient["name"] = json!([{"family": "Operator"}]);
        operator_patient["birthDate"] = json!("1950-01-01");
        world.operator_patient = world.record(&operator, OPERATOR, operator_patient).await;

        for label in USERS {
            let client = world.clients[usize::from(label.starts_with('b'))].clone();
            let (oneup_user_id, http) = user(&world.app, &client, label).await;
            let patient = world.record(&http, label, shared_patient(label)).await;
            let observation = world
                .record(&http, label, owned_observation(label, &patient))
                .await;
            world.record(&http, label, encounter(&patient)).await;
            world.record(&http, label, practitioner()).await;
            world.members.insert(
                label,
                Member {
                    oneup_user_id,
                    http,
                    patient,
                    observation,
                },
            );
        }
        // Writing a literal reference to another owner's Patient is allowed; it must never make
        // that Patient visible, nor make the Observation visible to the Patient's owner.
        for author in USERS {
            for target in USERS.into_iter().filter(|t| *t != author) {
                let http = world.member(author).http.clone();
                let subject = world.member(target).patient.clone();
                world
                    .record(&http, author, owned_observation(author, &subject))
                    .await;
            }
        }
        world
    }

    /// Creates `resource` as `owner` and records it.
    async fn record(&mut self, http: &Http, owner: &'static str, resource: Value) -> String {
        let created = http.create("/r4", &resource).await;
        let reference = reference(&created);
        if let Some(subject) = created["subject"]["reference"].as_str() {
            self.subjects.insert(reference.clone(), subject.to_owned());
        }
        self.owners.insert(reference.clone(), owner);
        self.stored.insert(reference.clone(), created);
        reference
    }

    fn member(&self, label: &str) -> &Member {
        &self.members[label]
    }

    fn client(&self, app: usize) -> &Client {
        &self.clients[app]
    }

    /// A user's own view: its data and the operator's.
    fn user_viewer(&self, label: &'static str) -> Viewer {
        Viewer {
            name: label,
            http: self.member(label).http.clone(),
            sees: vec![label, OPERATOR],
        }
    }

    /// An app's client-wide view (`x-oneup-user-id: client`): its users' data and the
    /// operator's.
    fn client_viewer(&self, app: usize) -> Viewer {
        let client = self.client(app);
        let (name, sees) = if app == 0 {
            ("client A", vec!["a1", "a2", OPERATOR])
        } else {
            ("client B", vec!["b1", "b2", OPERATOR])
        };
        Viewer {
            name,
            http: self
                .app
                .as_client(&client.client_id, &client.client_secret, "client"),
            sees,
        }
    }

    /// Every principal of the world except the operator.
    fn viewers(&self) -> Vec<Viewer> {
        let mut viewers: Vec<Viewer> = USERS.iter().map(|u| self.user_viewer(u)).collect();
        viewers.push(self.client_viewer(0));
        viewers.push(self.client_viewer(1));
        viewers
    }

    fn owner(&self, reference: &str) -> &'static str {
        self.owners
            .get(reference)
            .unwrap_or_else(|| panic!("{reference} is not in the world"))
    }

    fn visible(&self, viewer: &Viewer, reference: &str) -> bool {
        viewer.sees.contains(&self.owner(reference))
    }

    /// The world's resources of `resource_type` that `viewer` may see and `keep` accepts.
    fn expected(
        &self,
        viewer: &Viewer,
        resource_type: &str,
        keep: impl Fn(&str) -> bool,
    ) -> BTreeSet<String> {
        self.owners
            .keys()
            .filter(|r| r.starts_with(&format!("{resource_type}/")))
            .filter(|r| self.visible(viewer, r) && keep(r))
            .cloned()
            .collect()
    }

    /// The Patients of the users (not the operator's) that `viewer` may see.
    fn user_patients(&self, viewer: &Viewer) -> BTreeSet<String> {
        self.expected(viewer, "Patient", |p| self.owner(p) != OPERATOR)
    }

    fn subject(&self, reference: &str) -> &str {
        self.subjects.get(reference).map_or("", String::as_str)
    }

    /// Asserts that no resource in `references` belongs to an owner `viewer` may not see;
    /// resources the world does not know were created during the test by `viewer` itself.
    #[track_caller]
    fn assert_none_hidden<'a>(
        &self,
        viewer: &Viewer,
        what: &str,
        references: impl IntoIterator<Item = &'a String>,
    ) {
        for reference in references {
            if let Some(owner) = self.owners.get(reference) {
                assert!(
                    viewer.sees.contains(owner),
                    "{}: {what} returned {reference} of {owner}",
                    viewer.name
                );
            }
        }
    }

    /// Asserts, with the operator's token, that `reference` is exactly as the world created it.
    async fn assert_unchanged(&self, reference: &str, after: &str) {
        let now = self.app.get(&format!("/r4/{reference}")).await;
        assert_eq!(
            now.status,
            200,
            "{reference} is gone after {after}: {}",
            now.text()
        );
        assert_eq!(
            now.json(),
            self.stored[reference],
            "{reference} changed after {after}"
        );
    }
}

/// `GET /r4/{query}` (`/r4?…` for a query that starts with `?`) as `viewer`, asserting a 200.
async fn search(viewer: &Viewer, query: &str) -> Value {
    let slash = if query.starts_with('?') { "" } else { "/" };
    let reply = viewer.http.get(&format!("/r4{slash}{query}")).await;
    assert_eq!(
        reply.status,
        200,
        "{}: GET {query}: {}",
        viewer.name,
        reply.text()
    );
    reply.json()
}

/// Asserts that `query` matches exactly `expected` for `viewer`, that `total` counts them, and
/// that `_summary=count` agrees.
async fn check_matches(viewer: &Viewer, query: &str, expected: &BTreeSet<String>) {
    let bundle = search(viewer, query).await;
    assert_eq!(
        &found(&bundle, "match"),
        expected,
        "{}: the matches of {query}",
        viewer.name
    );
    assert_eq!(
        bundle["total"].as_u64(),
        Some(expected.len() as u64),
        "{}: the total of {query}",
        viewer.name
    );
    let separator = if query.contains('?') { '&' } else { '?' };
    let count = search(viewer, &format!("{query}{separator}_summary=count")).await;
    assert_eq!(
        count["total"].as_u64(),
        Some(expected.len() as u64),
        "{}: {query} with _summary=count",
        viewer.name
    );
}

#[tokio::test]
async fn another_owners_resources_are_404_to_read_and_absent_from_history() {
    let world = World::build().await;
    for viewer in world.viewers() {
        for reference in world.owners.keys() {
            let paths = [
                format!("/r4/{reference}"),
                format!("/r4/{reference}/_history/1"),
                format!("/r4/{reference}/_history"),
            ];
            for path in paths {
                let reply = viewer.http.get(&path).await;
                if world.visible(&viewer, reference) {
                    assert_eq!(
                        reply.status,
                        200,
                        "{}: GET {path}: {}",
                        viewer.name,
                        reply.text()
                    );
                } else {
                    assert_eq!(
                        reply.status,
                        404,
                        "{}: GET {path} of {}'s resource: {}",
                        viewer.name,
                        world.owner(reference),
                        reply.text()
                    );
                    reply.outcome(404, "not-found");
                }
            }
        }
        for resource_type in ["Patient", "Observation"] {
            let history = search(&viewer, &format!("{resource_type}/_history?_count=1000")).await;
            assert_eq!(
                in_history(&history),
                world.expected(&viewer, resource_type, |_| true),
                "{}: {resource_type} type history",
                viewer.name
            );
        }
        let history = search(&viewer, "_history?_count=1000").await;
        assert_eq!(
            in_history(&history),
            world
                .owners
                .keys()
                .filter(|r| world.visible(&viewer, r))
                .cloned()
                .collect::<BTreeSet<_>>(),
            "{}: system history",
            viewer.name
        );
    }
}

#[tokio::test]
async fn searches_match_and_count_only_what_the_principal_may_see() {
    let world = World::build().await;
    let all_patients: Vec<&str> = world
        .owners
        .keys()
        .filter(|r| r.starts_with("Patient/"))
        .map(|r| bare(r))
        .collect();
    for viewer in world.viewers() {
        let user_patients = world.user_patients(&viewer);
        let every_patient = world.expected(&viewer, "Patient", |_| true);
        // Token, string, date, full-text: the four users' Patients are indistinguishable, so
        // only the scope tells them apart.
        for query in [
            format!("Patient?identifier={SYSTEM}|{SHARED_IDENTIFIER}"),
            format!("Patient?identifier={SHARED_IDENTIFIER}"),
            format!("Patient?name={SHARED_FAMILY}"),
            format!("Patient?family={SHARED_FAMILY}&birthdate=1970-01-01"),
            format!("Patient?_content={SHARED_FAMILY}"),
        ] {
            check_matches(&viewer, &query, &user_patients).await;
        }
        check_matches(
            &viewer,
            &format!("Patient?_id={}", all_patients.join(",")),
            &every_patient,
        )
        .await;
        check_matches(&viewer, "Patient?_lastUpdated=gt2000-01-01", &every_patient).await;
        check_matches(
            &viewer,
            &format!("Practitioner?name={SHARED_FAMILY}"),
            &world.expected(&viewer, "Practitioner", |_| true),
        )
        .await;
        for label in USERS {
            let patient = &world.member(label).patient;
            // A reference search for another owner's Patient finds only the viewer's own
            // Observations that point at it.
            let about = |r: &str| world.subject(r) == patient.as_str();
            let observations = world.expected(&viewer, "Observation", about);
            check_matches(
                &viewer,
                &format!("Observation?subject={patient}"),
                &observations,
            )
            .await;
            check_matches(
                &viewer,
                &format!("Encounter?patient={patient}"),
                &world.expected(&viewer, "Encounter", about),
            )
            .await;
            // A chain never goes through a Patient the viewer may not see.
            let through_visible = if world.visible(&viewer, patient) {
                observations.clone()
            } else {
                BTreeSet::new()
            };
            check_matches(
                &viewer,
                &format!("Observation?patient.identifier={SYSTEM}|own-{label}"),
                &through_visible,
            )
            .await;
            // `_has` never counts another owner's Observation.
            let has = world.expected(&viewer, "Patient", |p| {
                world.owners.iter().any(|(o, owner)| {
                    o.starts_with("Observation/")
                        && *owner == label
                        && world.visible(&viewer, o)
                        && world.subject(o) == p
                })
            });
            check_matches(
                &viewer,
                &format!("Patient?_has:Observation:patient:code={CODES}|obs-{label}"),
                &has,
            )
            .await;
            // A compartment of a Patient the viewer may not see holds at most the viewer's own
            // resources that point into it.
            let compartment = viewer
                .http
                .get(&format!("/r4/{patient}/Observation?_count=100"))
                .await;
            if compartment.status == 404 && !world.visible(&viewer, patient) {
                compartment.outcome(404, "not-found");
            } else {
                assert_eq!(
                    compartment.status,
                    200,
                    "{}: compartment of {patient}: {}",
                    viewer.name,
                    compartment.text()
                );
                assert_eq!(
                    found(&compartment.json(), "match"),
                    observations,
                    "{}: the compartment of {patient}",
                    viewer.name
                );
            }
        }
        let with_visible_subject = world.expected(&viewer, "Observation", |o| {
            world.owners.contains_key(world.subject(o)) && world.visible(&viewer, world.subject(o))
        });
        check_matches(
            &viewer,
            &format!("Observation?subject:Patient.name={SHARED_FAMILY}"),
            &with_visible_subject,
        )
        .await;

        // `_include` brings only subjects the viewer may see.
        let observations = world.expected(&viewer, "Observation", |_| true);
        let bundle = search(
            &viewer,
            "Observation?_include=Observation:subject&_count=100",
        )
        .await;
        assert_eq!(found(&bundle, "match"), observations, "{}", viewer.name);
        let subjects: BTreeSet<String> = with_visible_subject
            .iter()
            .map(|o| world.subject(o).to_owned())
            .collect();
        assert_eq!(
            found(&bundle, "include"),
            subjects,
            "{}: Observation?_include=Observation:subject",
            viewer.name
        );
        // `_revinclude` brings only Observations the viewer may see, even those of others that
        // point at the viewer's Patients.
        let bundle = search(
            &viewer,
            &format!(
                "Patient?identifier={SYSTEM}|{SHARED_IDENTIFIER}&_revinclude=Observation:subject&_count=100"
            ),
        )
        .await;
        assert_eq!(found(&bundle, "match"), user_patients, "{}", viewer.name);
        assert_eq!(
            found(&bundle, "include"),
            world.expected(&viewer, "Observation", |o| user_patients
                .contains(world.subject(o))),
            "{}: Patient?_revinclude=Observation:subject",
            viewer.name
        );

        let mut both = every_patient.clone();
        both.extend(observations.iter().cloned());
        check_matches(&viewer, "?_type=Patient,Observation&_count=100", &both).await;
    }
}

#[tokio::test]
async fn paging_links_stay_inside_the_scope_of_whoever_follows_them() {
    let world = World::build().await;
    for viewer in world.viewers() {
        let expected = world.expected(&viewer, "Observation", |_| true);
        let mut seen = BTreeSet::new();
        let mut url = "/r4/Observation?_count=2".to_owned();
        for _ in 0..20 {
            let bundle = viewer.http.get(&url).await.resource(200);
            assert_eq!(bundle["total"].as_u64(), Some(expected.len() as u64));
            seen.extend(found(&bundle, "match"));
            match link(&bundle, "next") {
                Some(next) => {
                    assert!(
                        next.starts_with(&world.app.base_url),
                        "{}: next is absolute: {next}",
                        viewer.name
                    );
                    url = next;
                }
                None => break,
            }
        }
        assert_eq!(seen, expected, "{}: the pages of Observation", viewer.name);
    }
    // Another principal following a1's link gets its own scope, not a1's.
    let a1 = world.user_viewer("a1");
    let first = a1.http.get("/r4/Observation?_count=1").await.resource(200);
    let next = link(&first, "next").expect("a1 has more than one Observation");
    for thief in [
        world.user_viewer("a2"),
        world.user_viewer("b1"),
        world.client_viewer(1),
    ] {
        // Refusing someone else's cursor would do as well; answering with a1's data would not.
        let page = thief.http.get(&next).await;
        if page.status != 400 {
            let page = page.resource(200);
            world.assert_none_hidden(&thief, "a1's next link", &found(&page, "match"));
        }
    }
}

#[tokio::test]
async fn writes_to_another_owners_resources_are_404_and_change_nothing() {
    let world = World::build().await;
    let a1 = world.user_viewer("a1");
    let client_a = world.client_viewer(0);
    let attempts = [
        (&a1, "a2"),
        (&a1, "b1"),
        (&client_a, "b1"),
        (&client_a, "b2"),
    ];
    for (attacker, victim) in attempts {
        let member = world.member(victim);
        for target in [&member.patient, &member.observation] {
            let path = format!("/r4/{target}");
            let put = attacker
                .http
                .put(&path, &changed(&world.stored[target]))
                .await;
            assert_eq!(
                put.status,
                404,
                "{}: PUT {target} of {victim}: {}",
                attacker.name,
                put.text()
            );
            put.outcome(404, "not-found");
            attacker
                .http
                .patch(&path, &harmless_patch())
                .await
                .outcome(404, "not-found");
            attacker.http.delete(&path).await.outcome(404, "not-found");
            world
                .assert_unchanged(target, &format!("{}'s writes", attacker.name))
                .await;
        }
    }

    // A client-chosen id taken by a1 is not anybody else's to overwrite.
    let chosen = "Patient/chosen-by-a1";
    let mut mine = shared_patient("a1");
    mine["id"] = json!("chosen-by-a1");
    let created = a1
        .http
        .put(&format!("/r4/{chosen}"), &mine)
        .await
        .resource(201);
    for intruder in [
        world.user_viewer("a2"),
        world.user_viewer("b1"),
        world.client_viewer(1),
    ] {
        let mut theirs = shared_patient(intruder.name);
        theirs["id"] = json!("chosen-by-a1");
        let reply = intruder.http.put(&format!("/r4/{chosen}"), &theirs).await;
        assert_eq!(
            reply.status,
            404,
            "{}: PUT to a1's id: {}",
            intruder.name,
            reply.text()
        );
        intruder
            .http
            .get(&format!("/r4/{chosen}"))
            .await
            .outcome(404, "not-found");
    }
    let now = world.app.get(&format!("/r4/{chosen}")).await.resource(200);
    assert_eq!(now, created, "a1's Patient is as a1 wrote it");
    a1.http.get(&format!("/r4/{chosen}")).await.expect(200);
}

#[tokio::test]
async fn operator_data_is_readable_by_everyone_and_writable_only_by_the_operator() {
    let world = World::build().await;
    for viewer in world.viewers() {
        for target in [&world.organization, &world.operator_patient] {
            let path = format!("/r4/{target}");
            assert_eq!(
                viewer.http.get(&path).await.resource(200),
                world.stored[target],
                "{}: reads {target}",
                viewer.name
            );
            let put = viewer
                .http
                .put(&path, &changed(&world.stored[target]))
                .await;
            assert_eq!(
                put.status,
                403,
                "{}: PUT {target}: {}",
                viewer.name,
                put.text()
            );
            put.outcome(403, "forbidden");
            viewer
                .http
                .patch(&path, &harmless_patch())
                .await
                .outcome(403, "forbidden");
            viewer.http.delete(&path).await.outcome(403, "forbidden");
            world
                .assert_unchanged(target, &format!("{}'s writes", viewer.name))
                .await;
        }
        let bundle = search(&viewer, "Organization?name=Overlap").await;
        assert_eq!(
            found(&bundle, "match"),
            BTreeSet::from([world.organization.clone()])
        );
    }
    // The operator itself may change it, so the refusals above are about who asks.
    world
        .app
        .put(
            &format!("/r4/{}", world.organization),
            &changed(&world.stored[&world.organization]),
        )
        .await
        .expect(200);
}

#[tokio::test]
async fn conditional_writes_never_match_another_owners_resources() {
    let world = World::build().await;
    let a1 = world.user_viewer("a1");
    let client_a = world.client_viewer(0);
    let client_b = world.client_viewer(1);

    // Conditional delete: a condition only another owner's resource meets deletes nothing.
    for (deleter, condition) in [
        (&a1, format!("Patient?identifier={SYSTEM}|own-a2")),
        (&a1, format!("Patient?identifier={SYSTEM}|own-b1")),
        (&a1, format!("Observation?code={CODES}|obs-b1")),
        (
            &client_b,
            format!("Patient?_id={}", bare(&world.member("a1").patient)),
        ),
    ] {
        let reply = deleter.http.delete(&format!("/r4/{condition}")).await;
        assert!(
            (200..300).contains(&reply.status),
            "{}: conditional delete {condition}: {} {}",
            deleter.name,
            reply.status,
            reply.text()
        );
    }

    // Conditional update: creates the caller's own, never updates theirs.
    let reply = a1
        .http
        .put(
            &format!("/r4/Patient?identifier={SYSTEM}|own-b2"),
            &shared_patient("a1-by-conditional-update"),
        )
        .await;
    assert_eq!(
        reply.status,
        201,
        "a1: conditional update matching b2's Patient: {}",
        reply.text()
    );
    assert_ne!(reference(&reply.json()), world.member("b2").patient);

    // Conditional create: another owner's match is no match, so the caller gets a new resource.
    for (creator, victim) in [(&a1, "b1"), (&a1, "a2"), (&client_a, "b2")] {
        let reply = creator
            .http
            .send(
                creator
                    .http
                    .with_body(
                        reqwest::Method::POST,
                        "/r4/Patient",
                        &shared_patient(&format!("{}-by-if-none-exist", creator.name)),
                    )
                    .header("If-None-Exist", format!("identifier={SYSTEM}|own-{victim}")),
            )
            .await;
        assert_eq!(
            reply.status,
            201,
            "{}: If-None-Exist matching {victim}'s Patient: {}",
            creator.name,
            reply.text()
        );
        let created = reference(&reply.json());
        assert_ne!(created, world.member(victim).patient);
        creator
            .http
            .get(&format!("/r4/{created}"))
            .await
            .expect(200);
        world
            .member(victim)
            .http
            .get(&format!("/r4/{created}"))
            .await
            .outcome(404, "not-found");
    }

    for victim in USERS {
        world
            .assert_unchanged(&world.member(victim).patient, "conditional writes")
            .await;
    }
    world
        .assert_unchanged(&world.member("b1").observation, "conditional deletes")
        .await;
}

#[tokio::test]
async fn transactions_never_resolve_to_or_write_another_owners_resources() {
    let world = World::build().await;
    let a1 = world.user_viewer("a1");
    let b1 = world.member("b1");
    let n_visible_patients = || async {
        search(&a1, "Patient?_summary=count").await["total"]
            .as_u64()
            .expect("a total")
    };
    let before = n_visible_patients().await;

    // A conditional reference that only another owner's Patient satisfies does not resolve, so
    // the transaction fails and writes nothing.
    for victim in ["a2", "b1"] {
        let mut obs = owned_observation("a1", "Patient/placeholder");
        obs["subject"]["reference"] = json!(format!("Patient?identifier={SYSTEM}|own-{victim}"));
        let request = bundle(
            "transaction",
            vec![
                json!({"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": shared_patient("a1"), "request": {"method": "POST", "url": "Patient"}}),
                json!({"resource": obs, "request": {"method": "POST", "url": "Observation"}}),
            ],
        );
        a1.http
            .post("/r4", &request)
            .await
            .outcome(400, "processing");
        assert_eq!(
            n_visible_patients().await,
            before,
            "the transaction wrote nothing"
        );
    }
    // So does an update of another owner's Patient inside a transaction.
    let request = bundle(
        "transaction",
        vec![
            json!({"resource": shared_patient("a1"), "request": {"method": "POST", "url": "Patient"}}),
            json!({"resource": changed(&world.stored[&b1.patient]), "request": {"method": "PUT", "url": b1.patient}}),
        ],
    );
    a1.http
        .post("/r4", &request)
        .await
        .outcome(404, "not-found");
    assert_eq!(
        n_visible_patients().await,
        before,
        "the transaction wrote nothing"
    );
    world
        .assert_unchanged(&b1.patient, "a1's transaction")
        .await;

    // A literal reference to another owner's Patient is written as given and reveals nothing;
    // `ifNoneExist` matching only another owner's Patient creates one for the caller.
    let request = bundle(
        "transaction",
        vec![
            json!({"resource": owned_observation("a1", &b1.patient), "request": {"method": "POST", "url": "Observation"}}),
            json!({"resource": shared_patient("a1-in-transaction"), "request": {"method": "POST", "url": "Patient", "ifNoneExist": format!("identifier={SYSTEM}|own-a2")}}),
        ],
    );
    let reply = a1.http.post("/r4", &request).await;
    let response = reply.resource(200);
    let entries = response["entry"].as_array().expect("response entries");
    assert_eq!(
        entries.iter().map(entry_status).collect::<Vec<_>>(),
        [201, 201],
        "{response}"
    );
    let written: Vec<String> = entries
        .iter()
        .map(|e| reference_in_url(e["response"]["location"].as_str().expect("a location")))
        .collect();
    world.assert_none_hidden(&a1, "a transaction", &written);
    let obs = a1
        .http
        .get(&format!("/r4/{}", written[0]))
        .await
        .resource(200);
    assert_eq!(obs["subject"]["reference"], json!(b1.patient));
    let included = search(
        &a1,
        &format!(
            "Observation?_id={}&_include=Observation:subject",
            bare(&written[0])
        ),
    )
    .await;
    assert_eq!(found(&included, "include"), BTreeSet::new());
}

#[tokio::test]
async fn batch_entries_never_read_write_or_resolve_to_another_owners_resources() {
    let world = World::build().await;
    let a1 = world.user_viewer("a1");
    let (a2, b1, b2) = (world.member("a2"), world.member("b1"), world.member("b2"));
    // Every entry that touches another owner's resource fails on its own, and no entry answers
    // with their data.
    let patch = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(harmless_patch().to_string().as_bytes())
    };
    let mut conditional_subject = owned_observation("a1", "Patient/placeholder");
    conditional_subject["subject"]["reference"] =
        json!(format!("Patient?identifier={SYSTEM}|own-b2"));
    let request = bundle(
        "batch",
        vec![
            json!({"request": {"method": "GET", "url": b1.patient}}),
            json!({"request": {"method": "GET", "url": a2.observation}}),
            json!({"resource": changed(&world.stored[&a2.patient]), "request": {"method": "PUT", "url": a2.patient}}),
            json!({"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch}, "request": {"method": "PATCH", "url": b2.patient}}),
            json!({"request": {"method": "DELETE", "url": b1.observation}}),
            json!({"resource": conditional_subject, "request": {"method": "POST", "url": "Observation"}}),
            json!({"resource": shared_patient("a1-in-batch-1"), "request": {"method": "POST", "url": "Patient", "ifNoneExist": format!("identifier={SYSTEM}|own-b2")}}),
            json!({"resource": shared_patient("a1-in-batch-2"), "request": {"method": "PUT", "url": format!("Patient?identifier={SYSTEM}|own-b1")}}),
            json!({"request": {"method": "DELETE", "url": format!("Patient?identifier={SYSTEM}|own-a2")}}),
        ],
    );
    let response = a1.http.post("/r4", &request).await.resource(200);
    let entries = response["entry"].as_array().expect("response entries");
    let statuses: Vec<u16> = entries.iter().map(entry_status).collect();
    assert_eq!(
        statuses,
        [404, 404, 404, 404, 404, 400, 201, 201, 204],
        "{response}"
    );
    let returned: Vec<String> = entries
        .iter()
        .filter_map(|e| {
            e["fullUrl"]
                .as_str()
                .or(e["response"]["location"].as_str())
                .map(reference_in_url)
        })
        .chain(
            entries
                .iter()
                .filter(|e| e["resource"].is_object())
                .map(|e| reference(&e["resource"])),
        )
        .collect();
    world.assert_none_hidden(&a1, "a batch", &returned);
    for target in [
        &a2.patient,
        &a2.observation,
        &b1.patient,
        &b1.observation,
        &b2.patient,
    ] {
        world.assert_unchanged(target, "a1's batch").await;
    }
}

/// `PUT` (grant) or `DELETE` (revoke) `/r4/Patient/{patient}/_permission/{grantee}`.
async fn permission(http: &Http, grant: bool, patient: &str, grantee: i64) -> Reply {
    let path = format!("/r4/Patient/{patient}/_permission/{grantee}");
    if grant {
        http.send(http.request(reqwest::Method::PUT, &path)).await
    } else {
        http.delete(&path).await
    }
}

#[tokio::test]
async fn a_grant_shares_one_patient_record_read_only_with_a_user_of_the_same_app_until_revoked() {
    let mut world = World::build().await;
    let a1_http = world.member("a1").http.clone();
    // a1's second Patient, which the grant of the first must not share.
    let mut second = shared_patient("a1-second");
    second["name"] = json!([{"family": "Second"}]);
    let second = world.record(&a1_http, "a1", second).await;
    let second_observation = world
        .record(&a1_http, "a1", owned_observation("a1", &second))
        .await;
    let (a1, a2) = (world.member("a1"), world.member("a2"));
    let record = bare(&a1.patient).to_owned();
    let a2_viewer = world.user_viewer("a2");
    let a1_encounter = world
        .owners
        .iter()
        .find(|(r, owner)| r.starts_with("Encounter/") && **owner == "a1")
        .map(|(r, _)| r.clone())
        .expect("a1's Encounter");
    // a1's Observation about a2's Patient is a1's, but not in the shared record.
    let a1_about_a2 = world
        .owners
        .iter()
        .find(|(r, owner)| **owner == "a1" && world.subject(r) == a2.patient)
        .map(|(r, _)| r.clone())
        .expect("a1's Observation about a2's Patient");

    permission(&a1.http, true, &record, a2.oneup_user_id)
        .await
        .outcome(200, "informational");
    for shared in [&a1.patient, &a1.observation, &a1_encounter] {
        assert_eq!(
            a2.http.get(&format!("/r4/{shared}")).await.resource(200),
            world.stored[shared],
            "a2 reads the shared {shared}"
        );
    }
    for private in [&second, &second_observation, &a1_about_a2] {
        a2.http
            .get(&format!("/r4/{private}"))
            .await
            .outcome(404, "not-found");
    }
    // a2's own Observations about a1's Patient, and now a1's.
    let about_record = |o: &str| world.subject(o) == a1.patient;
    let mut expected = world.expected(&a2_viewer, "Observation", about_record);
    expected.insert(a1.observation.clone());
    check_matches(
        &a2_viewer,
        &format!("Observation?subject={}", a1.patient),
        &expected,
    )
    .await;
    check_matches(
        &a2_viewer,
        &format!("Patient?identifier={SYSTEM}|{SHARED_IDENTIFIER}"),
        &BTreeSet::from([a1.patient.clone(), a2.patient.clone()]),
    )
    .await;
    // Read only: visible but not a2's to change.
    for target in [&a1.patient, &a1.observation] {
        let path = format!("/r4/{target}");
        a2.http
            .put(&path, &changed(&world.stored[target]))
            .await
            .outcome(403, "forbidden");
        a2.http
            .patch(&path, &harmless_patch())
            .await
            .outcome(403, "forbidden");
        a2.http.delete(&path).await.outcome(403, "forbidden");
        world.assert_unchanged(target, "a2's writes").await;
    }
    // Nobody else gained anything.
    for other in ["b1", "b2"] {
        world
            .member(other)
            .http
            .get(&format!("/r4/{}", a1.patient))
            .await
            .outcome(404, "not-found");
    }

    permission(&a1.http, false, &record, a2.oneup_user_id)
        .await
        .outcome(200, "informational");
    for revoked in [&a1.patient, &a1.observation, &a1_encounter] {
        a2.http
            .get(&format!("/r4/{revoked}"))
            .await
            .outcome(404, "not-found");
    }
    check_matches(
        &a2_viewer,
        &format!("Patient?identifier={SYSTEM}|{SHARED_IDENTIFIER}"),
        &BTreeSet::from([a2.patient.clone()]),
    )
    .await;
}

/// A grant covers the Patient's compartment, which outlives the Patient: deleting the Patient
/// must not leave its Observations shared for good.
#[tokio::test]
async fn a_grant_can_be_revoked_after_its_patient_was_deleted() {
    let world = World::build().await;
    let (a1, a2) = (world.member("a1"), world.member("a2"));
    let record = bare(&a1.patient);
    permission(&a1.http, true, record, a2.oneup_user_id)
        .await
        .outcome(200, "informational");
    a1.http
        .delete(&format!("/r4/{}", a1.patient))
        .await
        .expect(200);
    permission(&a1.http, false, record, a2.oneup_user_id)
        .await
        .outcome(200, "informational");
    a2.http
        .get(&format!("/r4/{}", a1.observation))
        .await
        .outcome(404, "not-found");
    // A deleted Patient is still nobody else's to revoke: a2's revoking answers as for any
    // Patient it does not own.
    permission(&a2.http, false, record, a1.oneup_user_id)
        .await
        .outcome(404, "not-found");
}

#[tokio::test]
async fn only_a_user_grants_only_its_own_patients_only_within_its_app_and_patientid_shares_all() {
    let world = World::build().await;
    let (a1, a2, b1) = (world.member("a1"), world.member("a2"), world.member("b1"));
    let record = bare(&a1.patient);

    // Another app's user is as unknown as no user.
    permission(&a1.http, true, record, b1.oneup_user_id)
        .await
        .outcome(404, "not-found");
    b1.http
        .get(&format!("/r4/{}", a1.patient))
        .await
        .outcome(404, "not-found");
    // Another user's Patient is unknown; the operator's is visible but not a1's to share.
    permission(
        &a1.http,
        true,
        bare(&a2.patient),
        world.member("a2").oneup_user_id,
    )
    .await
    .outcome(404, "not-found");
    permission(
        &a1.http,
        true,
        bare(&world.member("b1").patient),
        a2.oneup_user_id,
    )
    .await
    .outcome(404, "not-found");
    permission(
        &a1.http,
        true,
        bare(&world.operator_patient),
        a2.oneup_user_id,
    )
    .await
    .outcome(403, "forbidden");
    // The client-wide principal is no user and shares nothing.
    let client_a = world.client_viewer(0);
    permission(&client_a.http, true, record, a2.oneup_user_id)
        .await
        .outcome(403, "forbidden");
    permission(&client_a.http, true, "patientid", a2.oneup_user_id)
        .await
        .outcome(403, "forbidden");
    // None of those refusals granted anything.
    a2.http
        .get(&format!("/r4/{}", a1.patient))
        .await
        .outcome(404, "not-found");

    // 1up's literal `patientid` shares everything a1 owns, and nothing a1 merely points at.
    permission(&a1.http, true, "patientid", a2.oneup_user_id)
        .await
        .outcome(200, "informational");
    let mut a2_with_grant = world.user_viewer("a2");
    a2_with_grant.sees = vec!["a1", "a2", OPERATOR];
    for (reference, owner) in &world.owners {
        let reply = a2.http.get(&format!("/r4/{reference}")).await;
        let expected = if a2_with_grant.sees.contains(owner) {
            200
        } else {
            404
        };
        assert_eq!(
            reply.status,
            expected,
            "a2 with a1's patientid grant reads {reference} of {owner}: {}",
            reply.text()
        );
    }
    check_matches(
        &world.user_viewer("a2"),
        "Observation?_count=100",
        &world.expected(&a2_with_grant, "Observation", |_| true),
    )
    .await;
    permission(&a1.http, false, "patientid", a2.oneup_user_id)
        .await
        .outcome(200, "informational");
    a2.http
        .get(&format!("/r4/{}", a1.patient))
        .await
        .outcome(404, "not-found");
}

#[tokio::test]
async fn credentials_never_act_across_apps_and_a_bearer_token_wins_over_client_headers() {
    let world = World::build().await;
    let (a1, a2, b1) = (world.member("a1"), world.member("a2"), world.member("b1"));
    let (app_a, app_b) = (world.client(0), world.client(1));
    let anonymous = world.app.anonymous();
    let refused = [
        // App B's credentials naming a user of app A, and the other way round.
        anonymous.as_client(
            &app_b.client_id,
            &app_b.client_secret,
            &a1.oneup_user_id.to_string(),
        ),
        anonymous.as_client(
            &app_a.client_id,
            &app_a.client_secret,
            &b1.oneup_user_id.to_string(),
        ),
        // One app's id with the other's secret.
        anonymous.as_client(&app_a.client_id, &app_b.client_secret, "client"),
        anonymous.as_client(
            &app_a.client_id,
            &app_b.client_secret,
            &a1.oneup_user_id.to_string(),
        ),
    ];
    for http in refused {
        for path in [
            "/r4/Patient".to_owned(),
            format!("/r4/{}", a1.patient),
            format!("/r4/{}", b1.patient),
        ] {
            let reply = http.get(&path).await;
            assert_eq!(
                reply.status,
                401,
                "{path} with {:?}: {}",
                http.credentials,
                reply.text()
            );
            reply.outcome(401, "login");
        }
    }

    // A bearer token decides who the request is, whatever client headers come with it.
    let a1_token = token_of(&a1.http);
    let a2_id = a2.oneup_user_id.to_string();
    let bearer_with_headers = [
        anonymous.with_credentials(&[
            ("authorization", &format!("Bearer {a1_token}")),
            ("x-oneup-user-id", &a2_id),
        ]),
        anonymous.with_credentials(&[
            ("authorization", &format!("Bearer {a1_token}")),
            ("client_id", &app_a.client_id),
            ("client_secret", &app_a.client_secret),
            ("x-oneup-user-id", &a2_id),
        ]),
        anonymous.with_credentials(&[
            ("authorization", &format!("Bearer {a1_token}")),
            ("client_id", &app_b.client_id),
            ("client_secret", &app_b.client_secret),
            ("x-oneup-user-id", "client"),
        ]),
    ];
    for http in &bearer_with_headers {
        http.get(&format!("/r4/{}", a1.patient)).await.expect(200);
        for other in [&a2.patient, &b1.patient] {
            http.get(&format!("/r4/{other}"))
                .await
                .outcome(404, "not-found");
        }
    }
    // So does the token in the query string.
    let with_query_token = anonymous.as_client(&app_a.client_id, &app_a.client_secret, &a2_id);
    let bundle = with_query_token
        .get(&format!(
            "/r4/Patient?identifier={SYSTEM}|{SHARED_IDENTIFIER}&access_token={a1_token}"
        ))
        .await
        .resource(200);
    assert_eq!(
        found(&bundle, "match"),
        BTreeSet::from([a1.patient.clone()])
    );
}
