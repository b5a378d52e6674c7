//! Patient `$everything` (contract Part A §7, Part B §9–10): the record in type and id order,
//! its directory resources once, paging by `next` links and `_skip`, `_type`, `_since`, `start`
//! and `end`, type level over the principal's Patients, isolation, and erasing a record.
//!
//! The synthea-120 record of the patient `X79746011X` (3,419 resources) is checked by
//! `.ci/synthea-search`, which CI runs on the loaded set.

use std::collections::BTreeSet;

use serde_json::json;

use crate::identity::{Client, user};
use crate::support::{Http, Key, PREFIXES, TestApp, entries, id_of, key, link, patient, unique};

/// Every page from `first` on by `next` links: the match keys in order, the included keys, the
/// total of the first page and the number of pages.
async fn walk(http: &Http, first: &str) -> (Vec<Key>, Vec<Key>, u64, usize) {
    let mut bundle = http.get(first).await.resource(200);
    let total = bundle["total"].as_u64().expect("a total");
    let (mut matches, mut included, mut pages) = (Vec::new(), Vec::new(), 0);
    loop {
        pages += 1;
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"].as_u64(), Some(total), "the total stays");
        let (m, i) = entries(&bundle);
        matches.extend(m);
        included.extend(i);
        match link(&bundle, "next") {
            Some(next) => {
                assert!(next.starts_with("http://"), "next is absolute: {next}");
                bundle = http.get(&next).await.resource(200);
            }
            None => return (matches, included, total, pages),
        }
    }
}

/// One Patient's record as the test built it.
struct Record {
    patient: String,
    /// Every member: the Patient, its compartment, its Medication and Device.
    members: BTreeSet<Key>,
    /// The directory resources its resources reference.
    directory: BTreeSet<Key>,
}

/// A Patient with two Observations (2019 and 2021), an Encounter at `organization` with
/// `practitioner`, a MedicationRequest for its own Medication, and a Device of its own.
async fn record(http: &Http, prefix: &str, practitioner: &str, organization: &str) -> Record {
    let created = http.create(prefix, &patient(&unique("everything"))).await;
    let patient_ref = format!("Patient/{}", id_of(&created));
    let mut members = BTreeSet::from([key(&created)]);
    for year in ["2019", "2021"] {
        let observation = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": patient_ref},
            "performer": [{"reference": practitioner}],
            "effectiveDateTime": format!("{year}-06-01T10:00:00Z"),
            "valueQuantity": {"value": 72, "unit": "/min"}
        });
        members.insert(key(&http.create(prefix, &observation).await));
    }
    let encounter = json!({
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": patient_ref},
        "participant": [{"individual": {"reference": practitioner}}],
        "serviceProvider": {"reference": organization},
        "period": {"start": "2020-03-01T10:00:00Z", "end": "2020-03-01T11:00:00Z"}
    });
    members.insert(key(&http.create(prefix, &encounter).await));
    let medication = http
        .create(
            prefix,
            &json!({"resourceType": "Medication", "code": {"text": "aspirin"}}),
        )
        .await;
    members.insert(key(&medication));
    let request = json!({
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": patient_ref},
        "medicationReference": {"reference": format!("Medication/{}", id_of(&medication))},
        "authoredOn": "2020-03-01"
    });
    members.insert(key(&http.create(prefix, &request).await));
    let device = json!({"resourceType": "Device", "patient": {"reference": patient_ref}});
    members.insert(key(&http.create(prefix, &device).await));
    let directory = [practitioner, organization]
        .iter()
        .map(|reference| {
            let (t, id) = reference.split_once('/').expect("Type/id");
            (t.to_owned(), id.to_owned())
        })
        .collect();
    Record {
        patient: id_of(&created),
        members,
        directory,
    }
}

async fn directory(http: &Http, prefix: &str) -> (String, String) {
    let practitioner = http
        .create(
            prefix,
            &json!({"resourceType": "Practitioner", "name": [{"family": "Shared"}]}),
        )
        .await;
    let organization = http
        .create(
            prefix,
            &json!({"resourceType": "Organization", "name": unique("clinic")}),
        )
        .await;
    (
        format!("Practitioner/{}", id_of(&practitioner)),
        format!("Organization/{}", id_of(&organization)),
    )
}

#[tokio::test]
async fn the_record_comes_in_type_and_id_order_with_its_directory_once() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let (practitioner, organization) = directory(&app, prefix).await;
        let mine = record(&app, prefix, &practitioner, &organization).await;
        let other = record(&app, prefix, &practitioner, &organization).await;
        let path = format!("{prefix}/Patient/{}/$everything", mine.patient);
        let bundle = app.get(&format!("{path}?_count=100")).await.resource(200);
        let (matches, included) = entries(&bundle);
        assert_eq!(bundle["total"].as_u64(), Some(mine.members.len() as u64));
        assert_eq!(
            matches,
            mine.members.iter().cloned().collect::<Vec<_>>(),
            "the Patient, its compartment, its Medication and Device, by type then id"
        );
        assert_eq!(
            included.iter().cloned().collect::<BTreeSet<_>>(),
            mine.directory
        );
        assert_eq!(
            included.len(),
            mine.directory.len(),
            "each directory resource once"
        );
        assert!(
            other
                .members
                .iter()
                .all(|k| !matches.contains(k) || k.0 == "Practitioner"),
            "nothing of the other patient's record"
        );
        assert!(link(&bundle, "next").is_none(), "one page holds it all");
        // 1up's operation name is lower case only.
        let shouting = format!("{prefix}/Patient/{}/$EVERYTHING", mine.patient);
        assert_eq!(app.get(&shouting).await.status, 404);
    }
}

#[tokio::test]
async fn pages_by_next_links_and_skip_repeat_nothing_and_miss_nothing() {
    let app = TestApp::start().await;
    let prefix = "/r4";
    let (practitioner, organization) = directory(&app, prefix).await;
    let mine = record(&app, prefix, &practitioner, &organization).await;
    let path = format!("{prefix}/Patient/{}/$everything", mine.patient);
    let all: Vec<Key> = mine.members.iter().cloned().collect();
    for count in [1, 2, 3, 10] {
        let (matches, included, total, pages) = walk(&app, &format!("{path}?_count={count}")).await;
        assert_eq!(total, all.len() as u64);
        assert_eq!(matches, all, "by {count}");
        assert_eq!(pages, all.len().div_ceil(count), "by {count}");
        assert_eq!(
            included.iter().cloned().collect::<BTreeSet<_>>(),
            mine.directory,
            "the directory comes once, on the first page"
        );
    }
    // The default page is ten; `_skip` pages the way older 1up clients do.
    let mut skipped = Vec::new();
    for skip in (0..all.len()).step_by(3) {
        let bundle = app
            .get(&format!("{path}?_count=3&_skip={skip}"))
            .await
            .resource(200);
        skipped.extend(entries(&bundle).0);
    }
    assert_eq!(skipped, all);
    // Resources written after the first page stay out of its later pages.
    let first = app.get(&format!("{path}?_count=2")).await.resource(200);
    let late = app
        .create(
            prefix,
            &crate::support::observation(&format!("Patient/{}", mine.patient), &unique("late")),
        )
        .await;
    let mut next = link(&first, "next");
    let mut seen = entries(&first).0;
    while let Some(url) = next {
        let page = app.get(&url).await.resource(200);
        seen.extend(entries(&page).0);
        next = link(&page, "next");
    }
    assert_eq!(seen, all);
    assert!(!seen.contains(&key(&late)));
}

#[tokio::test]
async fn type_since_start_and_end_narrow_the_record() {
    let app = TestApp::start().await;
    let prefix = "/r4";
    let (practitioner, organization) = directory(&app, prefix).await;
    let mine = record(&app, prefix, &practitioner, &organization).await;
    let path = format!("{prefix}/Patient/{}/$everything", mine.patient);
    let of_type = |types: &[&str]| -> Vec<Key> {
        mine.members
            .iter()
            .filter(|k| types.contains(&k.0.as_str()))
            .cloned()
            .collect()
    };

    let bundle = app
        .get(&format!("{path}?_type=Observation,Practitioner"))
        .await
        .resource(200);
    let (matches, included) = entries(&bundle);
    assert_eq!(matches, of_type(&["Observation"]));
    assert_eq!(included.len(), 1);
    assert_eq!(included[0].0, "Practitioner");

    let bundle = app
        .get(&format!("{path}?_since=2999-01-01T00:00:00Z"))
        .await
        .resource(200);
    assert_eq!(bundle["total"], 0);
    assert_eq!(bundle["entry"], json!([]));

    // `start` keeps care from then on; resources without a date of care (the Patient, the
    // Medication, the Device) stay.
    let bundle = app
        .get(&format!("{path}?start=2020-01-01"))
        .await
        .resource(200);
    let (matches, _) = entries(&bundle);
    let undated = ["Patient", "Medication", "Device"];
    assert_eq!(
        matches.len(),
        mine.members.len() - 1,
        "the 2019 Observation goes"
    );
    for k in of_type(&undated) {
        assert!(matches.contains(&k), "{k:?} has no date of care and stays");
    }
    let bundle = app
        .get(&format!("{path}?start=2020-01-01&end=2020-12-31"))
        .await
        .resource(200);
    let (matches, _) = entries(&bundle);
    let kept: BTreeSet<&str> = matches.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(
        kept,
        BTreeSet::from([
            "Device",
            "Encounter",
            "Medication",
            "MedicationRequest",
            "Patient"
        ]),
        "both Observations are outside 2020"
    );

    for (bad, code) in [
        ("_type=Nonsense", "invalid"),
        ("start=yesterday", "invalid"),
        ("end=2020-13-01", "invalid"),
        ("_since=soon", "invalid"),
        ("name=Test", "not-supported"),
        ("_sort=_id", "not-supported"),
    ] {
        app.get(&format!("{path}?{bad}")).await.outcome(400, code);
    }
    let count = app
        .get(&format!("{path}?_summary=count"))
        .await
        .resource(200);
    assert_eq!(count["total"].as_u64(), Some(mine.members.len() as u64));
    assert_eq!(count["entry"], json!([]));
}

#[tokio::test]
async fn users_see_their_own_records_and_referenced_data_in_scope_only() {
    let app = TestApp::start().await;
    let prefix = "/r4";
    let client = Client::register(&app, "everything").await;
    let (_, alice) = user(&app, &client, "alice").await;
    let (_, bob) = user(&app, &client, "bob").await;
    // Operator directory data is everyone's to read.
    let (practitioner, organization) = directory(&app, prefix).await;
    let alices = record(&alice, prefix, &practitioner, &organization).await;
    let bobs = record(&bob, prefix, &practitioner, &organization).await;
    // Alice's prescription of Bob's Medication: Bob's data stays out of Alice's record.
    let bobs_medication = bobs
        .members
        .iter()
        .find(|k| k.0 == "Medication")
        .expect("Bob's Medication")
        .clone();
    alice
        .create(
            prefix,
            &json!({
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "subject": {"reference": format!("Patient/{}", alices.patient)},
                "medicationReference": {"reference": format!("Medication/{}", bobs_medication.1)}
            }),
        )
        .await;

    let path = |p: &str| format!("{prefix}/Patient/{p}/$everything?_count=100");
    let bundle = alice.get(&path(&alices.patient)).await.resource(200);
    let (matches, included) = entries(&bundle);
    assert!(
        !matches.contains(&bobs_medication),
        "Bob's Medication is not Alice's"
    );
    assert_eq!(matches.len(), alices.members.len() + 1);
    assert_eq!(
        included.iter().cloned().collect::<BTreeSet<_>>(),
        alices.directory
    );

    // Another user's Patient is not found, to read and to erase.
    alice
        .get(&path(&bobs.patient))
        .await
        .outcome(404, "not-found");
    alice
        .delete(&format!("{prefix}/Patient/{}/$everything", bobs.patient))
        .await
        .outcome(404, "not-found");

    // Type level: every Patient the principal may see, each resource once.
    let (matches, _, total, _) =
        walk(&alice, &format!("{prefix}/Patient/$everything?_count=4")).await;
    let expected: BTreeSet<Key> = alices.members.iter().cloned().collect();
    let got: BTreeSet<Key> = matches.iter().cloned().collect();
    assert_eq!(matches.len(), got.len(), "no resource twice");
    assert!(expected.is_subset(&got));
    assert!(
        got.iter().all(|k| !bobs.members.contains(k)),
        "nothing of Bob's"
    );
    assert_eq!(total, matches.len() as u64);
    // The operator sees both records.
    let (matches, _, _, _) = walk(&app, &format!("{prefix}/Patient/$everything?_count=1000")).await;
    let got: BTreeSet<Key> = matches.into_iter().collect();
    assert!(alices.members.is_subset(&got) && bobs.members.is_subset(&got));
}

#[tokio::test]
async fn erasing_a_record_removes_it_with_its_history_and_keeps_what_others_need() {
    let app = TestApp::start().await;
    let prefix = "/r4";
    let client = Client::register(&app, "erase").await;
    let (_, alice) = user(&app, &client, "alice").await;
    let (_, bob) = user(&app, &client, "bob").await;
    let (carol_id, carol) = user(&app, &client, "carol").await;
    // Alice's own clinic, which only her record references, and the operator's Practitioner,
    // which Bob's record references too.
    let (practitioner, _) = directory(&app, prefix).await;
    let clinic = alice
        .create(
            prefix,
            &json!({"resourceType": "Organization", "name": unique("alice-clinic")}),
        )
        .await;
    let clinic_ref = format!("Organization/{}", id_of(&clinic));
    let alices = record(&alice, prefix, &practitioner, &clinic_ref).await;
    let bobs = record(&bob, prefix, &practitioner, &clinic_ref).await;
    // A second version of one member, to show that history goes too.
    let observation = alices
        .members
        .iter()
        .find(|k| k.0 == "Observation")
        .expect("an Observation")
        .clone();
    let mut changed = alice
        .get(&format!("{prefix}/Observation/{}", observation.1))
        .await
        .resource(200);
    changed["status"] = json!("amended");
    alice
        .put(&format!("{prefix}/Observation/{}", observation.1), &changed)
        .await
        .resource(200);

    // Bob may not erase Alice's record; Carol, who may read it, may not erase it either.
    let erase = format!("{prefix}/Patient/{}/$everything", alices.patient);
    bob.delete(&erase).await.outcome(404, "not-found");
    alice
        .send(alice.request(
            reqwest::Method::PUT,
            &format!("{prefix}/Patient/{}/_permission/{carol_id}", alices.patient),
        ))
        .await
        .expect(200);
    let granted = carol
        .get(&format!(
            "{prefix}/Patient/{}/$everything?_count=100",
            alices.patient
        ))
        .await
        .resource(200);
    assert_eq!(
        granted["total"].as_u64(),
        Some(alices.members.len() as u64 - 2)
    );
    carol.delete(&erase).await.outcome(403, "forbidden");

    let reply = alice.delete(&erase).await;
    let outcome = reply.resource(200);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "information");
    assert_eq!(outcome["issue"][0]["code"], "informational");
    assert_eq!(
        outcome["issue"][0]["details"]["text"],
        format!(
            "all resources for patient {} have been deleted",
            alices.patient
        )
    );

    for (resource_type, id) in &alices.members {
        alice
            .get(&format!("{prefix}/{resource_type}/{id}"))
            .await
            .outcome(404, "not-found");
        alice
            .get(&format!("{prefix}/{resource_type}/{id}/_history"))
            .await
            .outcome(404, "not-found");
    }
    alice
        .get(&format!(
            "{prefix}/Observation/{}/_history/1",
            observation.1
        ))
        .await
        .outcome(404, "not-found");
    // Search indexes hold nothing of them.
    let search = alice
        .get(&format!(
            "{prefix}/Observation?subject=Patient/{}&_total=accurate",
            alices.patient
        ))
        .await
        .resource(200);
    assert_eq!(search["total"], 0);
    let search = alice
        .get(&format!("{prefix}/Observation?performer={practitioner}"))
        .await
        .resource(200);
    assert!(
        entries(&search)
            .0
            .iter()
            .all(|k| !alices.members.contains(k)),
        "no erased Observation by its performer"
    );
    let history = alice
        .get(&format!("{prefix}/Observation/_history"))
        .await
        .resource(200);
    assert!(
        history["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| !alices.members.contains(&key(&e["resource"]))),
        "type history holds no erased version"
    );

    // The shared Practitioner (operator data, and Bob's) and the clinic Bob's record references
    // stay, as does Bob's record.
    app.get(&format!("{prefix}/{practitioner}"))
        .await
        .resource(200);
    app.get(&format!("{prefix}/{clinic_ref}"))
        .await
        .resource(200);
    let bundle = bob
        .get(&format!(
            "{prefix}/Patient/{}/$everything?_count=100",
            bobs.patient
        ))
        .await
        .resource(200);
    assert_eq!(bundle["total"].as_u64(), Some(bobs.members.len() as u64));

    // Erasing again finds no Patient.
    alice.delete(&erase).await.outcome(404, "not-found");
}

#[tokio::test]
async fn erasing_removes_directory_resources_only_this_record_references() {
    let app = TestApp::start().await;
    let prefix = "/r4";
    let own_practitioner = app
        .create(
            prefix,
            &json!({"resourceType": "Practitioner", "name": [{"family": "Solo"}]}),
        )
        .await;
    let own_organization = app
        .create(
            prefix,
            &json!({"resourceType": "Organization", "name": unique("solo")}),
        )
        .await;
    let (p, o) = (
        format!("Practitioner/{}", id_of(&own_practitioner)),
        format!("Organization/{}", id_of(&own_organization)),
    );
    let mine = record(&app, prefix, &p, &o).await;
    // A Practitioner referenced from outside the record stays: a PractitionerRole names it.
    app.create(
        prefix,
        &json!({"resourceType": "PractitionerRole", "practitioner": {"reference": p}}),
    )
    .await;
    app.delete(&format!("{prefix}/Patient/{}/$everything", mine.patient))
        .await
        .resource(200);
    app.get(&format!("{prefix}/{p}")).await.resource(200);
    app.get(&format!("{prefix}/{o}"))
        .await
        .outcome(404, "not-found");
}
