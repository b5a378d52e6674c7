//! Bulk Data `$export` on 1up's synchronous paths (contract Part A §8, Part B §13): the manifest,
//! files cut by size and streamed as NDJSON to the principal they were issued to, the
//! parameters, Group export, and isolation.
//!
//! The synthea-120 export (every type's total) and the synthea-100-bulk Group export are checked
//! by `.ci/synthea-search` and `.ci/synthea-bulk-group`, which CI runs.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::identity::{Client, user};
use crate::support::{Http, Reply, TestApp, id_of, observation, patient, unique};

/// A downloaded export: every line of every file, by type, and each file's manifest count next to
/// its line count.
pub(crate) struct Export {
    manifest: Value,
    by_type: BTreeMap<String, Vec<Value>>,
}

impl Export {
    /// The ids of the downloaded resources of `resource_type`.
    pub(crate) fn ids(&self, resource_type: &str) -> BTreeSet<String> {
        self.by_type
            .get(resource_type)
            .into_iter()
            .flatten()
            .map(id_of)
            .collect()
    }
}

/// Kicks off `path` and downloads every output file with the same credentials.
async fn export(http: &Http, path: &str) -> Export {
    let manifest = http.get(path).await.resource_json(200);
    download(http, manifest).await
}

pub(crate) async fn download(http: &Http, manifest: Value) -> Export {
    assert_eq!(manifest["requiresAccessToken"], true);
    assert!(manifest["transactionTime"].is_string());
    assert!(
        manifest["request"]
            .as_str()
            .is_some_and(|r| r.starts_with("http"))
    );
    assert!(manifest["error"].is_array());
    let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for file in manifest["output"].as_array().expect("an output list") {
        let url = file["url"].as_str().expect("a file url");
        let reply = http.get(url).await;
        reply.expect(200);
        assert_eq!(
            reply.header("content-type"),
            Some("application/fhir+ndjson")
        );
        let text = reply.text();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "NDJSON lines end with a newline"
        );
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("every line is a resource"))
            .collect();
        assert_eq!(
            lines.len() as u64,
            file["count"].as_u64().unwrap(),
            "{file}"
        );
        for line in &lines {
            assert_eq!(line["resourceType"], file["type"]);
        }
        by_type
            .entry(file["type"].as_str().unwrap().to_owned())
            .or_default()
            .extend(lines);
    }
    for (resource_type, lines) in &by_type {
        let ids: BTreeSet<String> = lines.iter().map(id_of).collect();
        assert_eq!(ids.len(), lines.len(), "no {resource_type} twice");
    }
    Export { manifest, by_type }
}

trait Json {
    fn resource_json(&self, status: u16) -> Value;
}

impl Json for Reply {
    /// The JSON body, after checking the status (manifests are plain JSON, not resources).
    fn resource_json(&self, status: u16) -> Value {
        self.expect(status);
        self.json()
    }
}

/// A Patient with `n` Observations, created by `http`; returns the Patient's id and the
/// Observations' ids.
async fn patient_with(http: &Http, n: usize) -> (String, Vec<String>) {
    let created = http.create("/r4", &patient(&unique("export"))).await;
    let id = id_of(&created);
    let mut observations = Vec::new();
    for _ in 0..n {
        let o = http
            .create(
                "/r4",
                &observation(&format!("Patient/{id}"), &unique("obs")),
            )
            .await;
        observations.push(id_of(&o));
    }
    (id, observations)
}

#[tokio::test]
async fn the_manifest_lists_the_types_with_data_in_files_of_bounded_size() {
    let app = TestApp::builder().export_max_per_file(3).start().await;
    let (p1, o1) = patient_with(&app, 4).await;
    let (p2, o2) = patient_with(&app, 3).await;
    let got = export(&app, "/bulk-data/r4/$export").await;
    let files: Vec<(&str, u64)> = got.manifest["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["type"].as_str().unwrap(), f["count"].as_u64().unwrap()))
        .collect();
    // Seven Observations in files of at most three; types without data are left out.
    assert_eq!(
        files,
        [
            ("Observation", 3),
            ("Observation", 3),
            ("Observation", 1),
            ("Patient", 2)
        ]
    );
    let observations: BTreeSet<String> = o1.iter().chain(&o2).cloned().collect();
    assert_eq!(got.ids("Observation"), observations);
    assert_eq!(got.ids("Patient"), BTreeSet::from([p1.clone(), p2]));
    assert_eq!(got.manifest["error"], json!([]));

    // The same through the gateway path, by POST with a Parameters body, and on /fhir.
    let by_post = app
        .send(
            app.request(Method::POST, "/v1/example/bulk-export/bulk-data/r4/$export")
                .header("content-type", "application/fhir+json")
                .body(
                    json!({"resourceType": "Parameters", "parameter": [
                        {"name": "_type", "valueString": "Patient"}
                    ]})
                    .to_string(),
                ),
        )
        .await
        .resource_json(200);
    let by_post = download(&app, by_post).await;
    assert_eq!(by_post.by_type.keys().collect::<Vec<_>>(), ["Patient"]);

    // `_type`, `_since`, `_typeFilter`.
    let only = export(&app, "/bulk-data/r4/$export?_type=Patient").await;
    assert_eq!(only.by_type.keys().collect::<Vec<_>>(), ["Patient"]);
    let later = export(&app, "/bulk-data/r4/$export?_since=2999-01-01T00:00:00Z").await;
    assert_eq!(later.manifest["output"], json!([]));
    let filtered = export(
        &app,
        &format!(
            "/bulk-data/r4/$export?_type=Observation&_typeFilter={}",
            urlencode(&format!("Observation?subject=Patient/{p1}"))
        ),
    )
    .await;
    assert_eq!(filtered.ids("Observation"), o1.iter().cloned().collect());
    // Several filters of one type: a resource matching either, once.
    let either = export(
        &app,
        &format!(
            "/bulk-data/r4/$export?_typeFilter={}&_typeFilter={}&_type=Observation",
            urlencode(&format!("Observation?subject=Patient/{p1}&status=final")),
            urlencode(&format!("Observation?_id={}", o2[0]))
        ),
    )
    .await;
    let mut expected: BTreeSet<String> = o1.iter().cloned().collect();
    expected.insert(o2[0].clone());
    assert_eq!(either.ids("Observation"), expected);

    // A warning for what Hale does not honour, as an OperationOutcome file.
    let warned = app
        .get("/bulk-data/r4/$export?_type=Patient&includeAssociatedData=LatestProvenanceResources")
        .await
        .resource_json(200);
    let error = warned["error"][0]["url"].as_str().expect("a warning file");
    let outcome: Value = serde_json::from_str(app.get(error).await.text().trim()).unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "warning");
}

#[tokio::test]
async fn bad_parameters_are_a_400_and_the_standard_paths_want_respond_async() {
    let app = TestApp::start().await;
    for (query, code) in [
        ("_type=Nonsense", "invalid"),
        ("_since=soon", "invalid"),
        ("_typeFilter=Observation", "invalid"),
        ("_typeFilter=Observation%3Fnonsense%3D1", "invalid"),
        ("_outputFormat=text/csv", "invalid"),
        ("_elements=id", "not-supported"),
        ("patient=Patient/x", "invalid"),
    ] {
        app.get(&format!("/bulk-data/r4/$export?{query}"))
            .await
            .outcome(400, code);
    }
    for path in [
        "/r4/$export",
        "/r4/Patient/$export",
        "/fhir/r4/Group/g/$export",
    ] {
        app.get(path).await.outcome(400, "invalid");
    }
    // An unknown Group is not found.
    app.get("/bulk-data/r4/Group/nope/$export")
        .await
        .outcome(404, "not-found");
}

#[tokio::test]
async fn exports_and_files_belong_to_the_principal_that_asked() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "export").await;
    let other_app = Client::register(&app, "other").await;
    let (_, alice) = user(&app, &client, "alice").await;
    let (_, bob) = user(&app, &client, "bob").await;
    let (_, carol) = user(&app, &other_app, "carol").await;
    let (alices_patient, alices) = patient_with(&alice, 2).await;
    let (bobs_patient, _) = patient_with(&bob, 2).await;
    let (carols_patient, _) = patient_with(&carol, 1).await;
    let operator_org = app
        .create(
            "/r4",
            &json!({"resourceType": "Organization", "name": unique("directory")}),
        )
        .await;

    let got = export(&alice, "/bulk-data/r4/$export").await;
    assert_eq!(got.ids("Patient"), BTreeSet::from([alices_patient.clone()]));
    assert_eq!(got.ids("Observation"), alices.iter().cloned().collect());
    assert_eq!(
        got.ids("Organization"),
        BTreeSet::from([id_of(&operator_org)])
    );

    // The client-wide principal sees both users, not the other app's.
    let client_wide = alice.with_credentials(&[
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
        ("x-oneup-user-id", "client"),
    ]);
    let both = export(&client_wide, "/bulk-data/r4/$export?_type=Patient").await;
    assert_eq!(
        both.ids("Patient"),
        BTreeSet::from([alices_patient.clone(), bobs_patient])
    );
    assert!(!both.ids("Patient").contains(&carols_patient));

    // Alice's file is not Bob's, not Carol's, not anyone's without credentials, and a token
    // changed by a character is nobody's.
    let url = got.manifest["output"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.get(&url).await.outcome(404, "not-found");
    carol.get(&url).await.outcome(404, "not-found");
    alice.anonymous().get(&url).await.outcome(401, "login");
    let (head, tail) = url.split_at(url.len() - 12);
    let flipped = if tail.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}{flipped}{}", &tail[1..]);
    alice.get(&tampered).await.outcome(404, "not-found");
}

#[tokio::test]
async fn a_group_export_holds_its_members_records_and_what_they_reference() {
    let app = TestApp::start().await;
    let practitioner = app
        .create(
            "/r4",
            &json!({"resourceType": "Practitioner", "name": [{"family": "Export"}]}),
        )
        .await;
    let unrelated = app
        .create(
            "/r4",
            &json!({"resourceType": "Practitioner", "name": [{"family": "Elsewhere"}]}),
        )
        .await;
    let medication = app
        .create(
            "/r4",
            &json!({"resourceType": "Medication", "code": {"text": "aspirin"}}),
        )
        .await;
    let (p1, o1) = patient_with(&app, 2).await;
    let (p2, o2) = patient_with(&app, 1).await;
    let (outsider, _) = patient_with(&app, 2).await;
    let seen = app
        .create(
            "/r4",
            &json!({
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": format!("Patient/{p1}")},
                "participant": [{"individual": {"reference": format!("Practitioner/{}", id_of(&practitioner))}}]
            }),
        )
        .await;
    let prescribed = app
        .create(
            "/r4",
            &json!({
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "subject": {"reference": format!("Patient/{p2}")},
                "medicationReference": {"reference": format!("Medication/{}", id_of(&medication))}
            }),
        )
        .await;
    let device = app
        .create(
            "/r4",
            &json!({"resourceType": "Device", "patient": {"reference": format!("Patient/{p1}")}}),
        )
        .await;
    let group = app
        .create(
            "/r4",
            &json!({
                "resourceType": "Group",
                "type": "person",
                "actual": true,
                "member": [
                    {"entity": {"reference": format!("Patient/{p1}")}},
                    {"entity": {"reference": format!("Patient/{p2}")}}
                ]
            }),
        )
        .await;
    let path = format!("/bulk-data/r4/Group/{}/$export", id_of(&group));
    let got = export(&app, &path).await;
    assert_eq!(got.ids("Patient"), BTreeSet::from([p1.clone(), p2.clone()]));
    assert!(!got.ids("Patient").contains(&outsider));
    let observations: BTreeSet<String> = o1.iter().chain(&o2).cloned().collect();
    assert_eq!(got.ids("Observation"), observations);
    assert_eq!(got.ids("Encounter"), BTreeSet::from([id_of(&seen)]));
    assert_eq!(
        got.ids("MedicationRequest"),
        BTreeSet::from([id_of(&prescribed)])
    );
    assert_eq!(
        got.ids("Practitioner"),
        BTreeSet::from([id_of(&practitioner)])
    );
    assert!(!got.ids("Practitioner").contains(&id_of(&unrelated)));
    assert_eq!(got.ids("Medication"), BTreeSet::from([id_of(&medication)]));
    assert_eq!(got.ids("Device"), BTreeSet::from([id_of(&device)]));
    // The Group names its members, which puts it in their compartments.
    assert_eq!(got.ids("Group"), BTreeSet::from([id_of(&group)]));

    // `_type` narrows a Group export too; the Patient level takes `patient`.
    let patients = export(&app, &format!("{path}?_type=Patient")).await;
    assert_eq!(patients.by_type.keys().collect::<Vec<_>>(), ["Patient"]);

    // Another app's user's Group is not found; the operator's is everyone's to read.
    let client = Client::register(&app, "group").await;
    let (_, owner) = user(&app, &client, "owner").await;
    let stranger_app = Client::register(&app, "stranger").await;
    let (_, stranger) = user(&app, &stranger_app, "stranger").await;
    let owned = owner
        .create(
            "/r4",
            &json!({"resourceType": "Group", "type": "person", "actual": true,
                    "member": [{"entity": {"reference": format!("Patient/{p1}")}}]}),
        )
        .await;
    let owned_path = format!("/bulk-data/r4/Group/{}/$export", id_of(&owned));
    stranger.get(&owned_path).await.outcome(404, "not-found");
    owner.get(&owned_path).await.expect(200);
    stranger.get(&path).await.expect(200);
}

/// `text` percent-encoded for a query string value.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Kicks off `path` with `Prefer: respond-async` and returns the status URL.
pub(crate) async fn kick_off_async(http: &Http, path: &str) -> String {
    let reply = http
        .send(
            http.request(Method::GET, path)
                .header("prefer", "respond-async"),
        )
        .await;
    reply.expect(202);
    reply
        .header("content-location")
        .expect("the status URL in Content-Location")
        .to_owned()
}

/// Polls a status URL until the job is done (200), checking what the IG asks of the answers on
/// the way; returns the manifest.
pub(crate) async fn completed(http: &Http, status_url: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let reply = http.get(status_url).await;
        match reply.status {
            202 => {
                assert!(
                    reply.header("retry-after").is_some(),
                    "202 says when to ask again"
                );
                assert!(
                    reply.header("x-progress").is_some(),
                    "202 says how far it got"
                );
            }
            200 => {
                assert!(
                    reply.header("expires").is_some(),
                    "a manifest says when it expires"
                );
                return reply.json();
            }
            other => panic!("status {other}: {}", reply.text()),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the export never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The lines of every output file of a manifest, as (type, id) pairs.
pub(crate) fn keys(export: &Export) -> BTreeSet<(String, String)> {
    export
        .by_type
        .iter()
        .flat_map(|(t, lines)| lines.iter().map(move |l| (t.clone(), id_of(l))))
        .collect()
}

#[tokio::test]
async fn asynchronous_exports_hold_what_the_synchronous_ones_do() {
    let app = TestApp::builder()
        .export_max_per_file(2)
        .run_exports()
        .start()
        .await;
    let (p1, _) = patient_with(&app, 3).await;
    let (p2, _) = patient_with(&app, 1).await;
    let group = app
        .create(
            "/r4",
            &json!({"resourceType": "Group", "type": "person", "actual": true,
                    "member": [{"entity": {"reference": format!("Patient/{p1}")}}]}),
        )
        .await;
    let group_id = id_of(&group);
    for (asynchronous, synchronous) in [
        ("/r4/$export".to_owned(), "/bulk-data/r4/$export".to_owned()),
        (
            format!("/fhir/r4/Group/{group_id}/$export"),
            format!("/bulk-data/r4/Group/{group_id}/$export"),
        ),
        (
            "/bulk-data/r4/$export?_type=Patient".to_owned(),
            "/bulk-data/r4/$export?_type=Patient".to_owned(),
        ),
    ] {
        let status = kick_off_async(&app, &asynchronous).await;
        let manifest = completed(&app, &status).await;
        let got = download(&app, manifest).await;
        let expected = export(&app, &synchronous).await;
        assert_eq!(keys(&got), keys(&expected), "{asynchronous}");
        assert!(!keys(&got).is_empty());
        // Cancelling (deleting) a finished job removes it.
        app.delete(&status).await.expect(202);
        app.get(&status).await.expect(404);
    }
    // The Patient level takes `patient`, here from a Parameters body.
    let reply = app
        .send(
            app.request(Method::POST, "/r4/Patient/$export")
                .header("prefer", "respond-async")
                .header("content-type", "application/fhir+json")
                .body(
                    json!({"resourceType": "Parameters", "parameter": [
                        {"name": "patient", "valueReference": {"reference": format!("Patient/{p2}")}}
                    ]})
                    .to_string(),
                ),
        )
        .await;
    reply.expect(202);
    let status = reply.header("content-location").unwrap().to_owned();
    let got = download(&app, completed(&app, &status).await).await;
    assert_eq!(got.ids("Patient"), BTreeSet::from([p2]));
    assert_eq!(got.ids("Observation").len(), 1);
    // A Group that is not there is refused at the kick-off.
    app.send(
        app.request(Method::GET, "/r4/Group/missing/$export")
            .header("prefer", "respond-async"),
    )
    .await
    .outcome(404, "not-found");
}

#[tokio::test]
async fn a_job_survives_a_killed_server() {
    // One resource per file makes the job long enough to be killed in the middle of it.
    let args = ["--export-file-max", "1", "--export-stale-secs", "1"];
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = crate::support::ServerProcess::start(dir.path(), &args).await;
    let (patient_id, _) = patient_with(&server, 0).await;
    let entries: Vec<Value> = (0..500)
        .map(|_| {
            json!({
                "resource": observation(&format!("Patient/{patient_id}"), &unique("killed")),
                "request": {"method": "POST", "url": "Observation"}
            })
        })
        .collect();
    server
        .post(
            "/r4",
            &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
        )
        .await
        .expect(200);
    let status = kick_off_async(&server, "/r4/$export").await;
    // Wait until the job is writing its files, then kill the server without warning.
    loop {
        let reply = server.get(&status).await;
        assert_eq!(
            reply.status, 202,
            "the job finished before it could be interrupted"
        );
        if reply
            .header("x-progress")
            .is_some_and(|p| p.starts_with("writing file") && !p.starts_with("writing file 1 "))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server.kill();
    let restarted = crate::support::ServerProcess::start(dir.path(), &args).await;
    let status = status.replacen(&server.url(""), &restarted.url(""), 1);
    let manifest = completed(&restarted, &status).await;
    assert_eq!(manifest["output"].as_array().map(Vec::len), Some(501));
    let got = download(&restarted, manifest).await;
    assert_eq!(got.ids("Observation").len(), 500);
    assert_eq!(got.ids("Patient"), BTreeSet::from([patient_id]));
}
