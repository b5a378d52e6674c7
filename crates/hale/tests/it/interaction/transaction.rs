//! The [batch and transaction interactions](https://hl7.org/fhir/R4/http.html#transaction):
//! `POST [base]` with a Bundle.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::support::{
    Http, PREFIXES, Reply, SYSTEM, TestApp, id_of, mentions, observation, patient, token, unique,
    version_of,
};

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn post_entry(full_url: &str, resource: Value) -> Value {
    let resource_type = resource["resourceType"].as_str().unwrap_or("").to_owned();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": resource_type}})
}

/// A fresh `urn:uuid:` placeholder.
fn urn() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "urn:uuid:00000000-0000-4000-8000-{:012x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn post_bundle(http: &Http, prefix: &str, bundle: &Value) -> Reply {
    http.post(prefix, bundle).await
}

/// The numeric status of a response entry (`"201 Created"` → 201).
#[track_caller]
fn entry_status(entry: &Value) -> u16 {
    let status = entry["response"]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("an entry without response.status: {entry}"));
    status
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status {status:?}"))
}

/// The response entries, asserting the Bundle type.
#[track_caller]
fn response_entries(reply: &Reply, kind: &str) -> Vec<Value> {
    let bundle = reply.resource(200);
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], kind, "response bundle: {bundle}");
    bundle["entry"].as_array().cloned().unwrap_or_default()
}

/// `Type/id` from a response entry's `fullUrl`, checking that it echoes the request's prefix.
#[track_caller]
fn created_reference(http: &Http, prefix: &str, entry: &Value) -> String {
    let full_url = entry["fullUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("an entry without fullUrl: {entry}"));
    let base = format!("{}{prefix}/", http.base_url);
    let reference = full_url
        .strip_prefix(&base)
        .unwrap_or_else(|| panic!("fullUrl {full_url} does not start with {base}"));
    let location = entry["response"]["location"]
        .as_str()
        .unwrap_or_else(|| panic!("an entry without response.location: {entry}"));
    assert!(
        location.starts_with(&format!("{full_url}/_history/")),
        "location {location} does not extend fullUrl {full_url}"
    );
    reference.to_owned()
}

/// How many versions the whole server holds.
async fn n_versions(http: &Http) -> u64 {
    http.get("/r4/_history?_count=1").await.resource(200)["total"]
        .as_u64()
        .expect("a total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_gives_urn_uuid_placeholders_ids_and_rewrites_references() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let (patient_urn, first_urn) = (urn(), urn());
        let mut derived = observation(&patient_urn, &unique("derived"));
        derived["derivedFrom"] = json!([{"reference": first_urn}]);
        let request = bundle(
            "transaction",
            vec![
                post_entry(&patient_urn, patient(&unique("txn-patient"))),
                post_entry(&first_urn, observation(&patient_urn, &unique("first"))),
                post_entry(&urn(), derived),
            ],
        );
        let entries = response_entries(
            &post_bundle(&app, prefix, &request).await,
            "transaction-response",
        );
        assert_eq!(entries.len(), 3);
        assert!(
            entries.iter().all(|e| entry_status(e) == 201),
            "every entry is created: {entries:?}"
        );
        let patient_ref = created_reference(&app, prefix, &entries[0]);
        let first_ref = created_reference(&app, prefix, &entries[1]);
        let derived_ref = created_reference(&app, prefix, &entries[2]);
        assert!(
            patient_ref.starts_with("Patient/") && first_ref.starts_with("Observation/"),
            "{patient_ref} {first_ref}"
        );

        let first = app
            .get(&format!("{prefix}/{first_ref}"))
            .await
            .resource(200);
        assert_eq!(first["subject"]["reference"], patient_ref);
        let derived = app
            .get(&format!("{prefix}/{derived_ref}"))
            .await
            .resource(200);
        assert_eq!(derived["subject"]["reference"], patient_ref);
        assert_eq!(derived["derivedFrom"][0]["reference"], first_ref);
        app.get(&format!("{prefix}/{patient_ref}"))
            .await
            .resource(200);
        // The entry's resource is what is stored.
        assert_eq!(entries[1]["resource"], first);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_resolves_conditional_references_to_existing_resources() {
    let app = TestApp::start().await;
    let identifier = unique("npi");
    let practitioner = json!({"resourceType": "Practitioner", "identifier": [{"system": SYSTEM, "value": identifier}], "name": [{"family": "Who"}]});
    let practitioner_id = id_of(&app.create("/r4", &practitioner).await);
    for prefix in PREFIXES {
        let mut obs = observation("Patient/somebody", &unique("performed"));
        obs["performer"] =
            json!([{"reference": format!("Practitioner?identifier={}", token(&identifier))}]);
        let entries = response_entries(
            &post_bundle(
                &app,
                prefix,
                &bundle("transaction", vec![post_entry(&urn(), obs)]),
            )
            .await,
            "transaction-response",
        );
        let obs_ref = created_reference(&app, prefix, &entries[0]);
        let stored = app.get(&format!("{prefix}/{obs_ref}")).await.resource(200);
        assert_eq!(
            stored["performer"][0]["reference"],
            format!("Practitioner/{practitioner_id}")
        );
    }
}

/// A Practitioner with a fresh identifier, and a transaction that creates that Practitioner and
/// then an Observation whose performer is `Practitioner?identifier=…` of that identifier.
fn practitioner_and_its_performer_transaction() -> (Value, Value) {
    let identifier = unique("npi");
    let practitioner = json!({"resourceType": "Practitioner", "identifier": [{"system": SYSTEM, "value": identifier}]});
    let mut obs = observation("Patient/somebody", &unique("performed"));
    obs["performer"] =
        json!([{"reference": format!("Practitioner?identifier={}", token(&identifier))}]);
    let request = bundle(
        "transaction",
        vec![
            post_entry(&urn(), practitioner.clone()),
            post_entry(&urn(), obs),
        ],
    );
    (practitioner, request)
}

/// Posts `request` (from [`practitioner_and_its_performer_transaction`]) and returns the
/// reference of the Practitioner it created and its Observation's stored performer.
async fn post_and_read_performer(app: &TestApp, request: &Value) -> (String, Value) {
    let entries = response_entries(
        &post_bundle(app, "/r4", request).await,
        "transaction-response",
    );
    let practitioner_ref = created_reference(app, "/r4", &entries[0]);
    let obs_ref = created_reference(app, "/r4", &entries[1]);
    let stored = app.get(&format!("/r4/{obs_ref}")).await.resource(200);
    (
        practitioner_ref,
        stored["performer"][0]["reference"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_reference_resolves_to_a_resource_the_transaction_creates() {
    let app = TestApp::start().await;
    let (_, request) = practitioner_and_its_performer_transaction();
    let (practitioner_ref, performer) = post_and_read_performer(&app, &request).await;
    assert_eq!(performer, practitioner_ref);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_reference_resolves_against_the_resources_before_the_transaction() {
    // A transaction that only creates resolves its conditional references before it writes:
    // a second match it creates does not make the reference ambiguous.
    let app = TestApp::start().await;
    let (practitioner, request) = practitioner_and_its_performer_transaction();
    let existing = id_of(&app.create("/r4", &practitioner).await);
    let (_, performer) = post_and_read_performer(&app, &request).await;
    assert_eq!(performer, format!("Practitioner/{existing}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_reference_without_a_match_fails_the_transaction() {
    let app = TestApp::start().await;
    let mut obs = observation("Patient/somebody", &unique("unresolved"));
    obs["performer"] =
        json!([{"reference": format!("Practitioner?identifier={}", token("nobody"))}]);
    let request = bundle(
        "transaction",
        vec![
            post_entry(&urn(), patient(&unique("bystander"))),
            post_entry(&urn(), obs),
        ],
    );
    let outcome = post_bundle(&app, "/r4", &request)
        .await
        .outcome(400, "processing");
    assert!(
        mentions(&outcome, "Practitioner?identifier="),
        "the outcome names the reference: {outcome}"
    );
    assert_eq!(n_versions(&app).await, 0, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_none_exist_in_a_batch_makes_a_second_identical_batch_create_nothing() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let identifier = unique("batch-ine");
        let entry = json!({
            "fullUrl": urn(),
            "resource": patient(&identifier),
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": format!("identifier={}", token(&identifier))}
        });
        let request = bundle("batch", vec![entry]);
        let first = response_entries(&post_bundle(&app, prefix, &request).await, "batch-response");
        assert_eq!(entry_status(&first[0]), 201);
        let id = created_reference(&app, prefix, &first[0]);
        let versions = n_versions(&app).await;

        let second = response_entries(&post_bundle(&app, prefix, &request).await, "batch-response");
        assert_eq!(
            entry_status(&second[0]),
            200,
            "the existing resource answers: {second:?}"
        );
        assert_eq!(created_reference(&app, prefix, &second[0]), id);
        assert_eq!(
            n_versions(&app).await,
            versions,
            "the second batch wrote nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_of_a_matched_if_none_exist_stands_for_the_existing_resource() {
    let app = TestApp::start().await;
    let identifier = unique("txn-ine");
    let make = || {
        let patient_urn = urn();
        let patient_entry = json!({
            "fullUrl": patient_urn,
            "resource": patient(&identifier),
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": format!("identifier={}", token(&identifier))}
        });
        bundle(
            "transaction",
            vec![
                patient_entry,
                post_entry(&urn(), observation(&patient_urn, &unique("obs"))),
            ],
        )
    };
    let first = response_entries(
        &post_bundle(&app, "/r4", &make()).await,
        "transaction-response",
    );
    let patient_ref = created_reference(&app, "/r4", &first[0]);
    let second = response_entries(
        &post_bundle(&app, "/r4", &make()).await,
        "transaction-response",
    );
    assert_eq!(entry_status(&second[0]), 200);
    assert_eq!(created_reference(&app, "/r4", &second[0]), patient_ref);
    assert_eq!(entry_status(&second[1]), 201);
    let obs = app
        .get(&format!(
            "/r4/{}",
            created_reference(&app, "/r4", &second[1])
        ))
        .await
        .resource(200);
    assert_eq!(
        obs["subject"]["reference"], patient_ref,
        "the new Observation points at the existing Patient"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_processes_deletes_then_creates_then_updates_then_reads() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let doomed = id_of(&app.create(prefix, &patient(&unique("doomed"))).await);
        let kept = app.create(prefix, &patient(&unique("kept"))).await;
        let kept_id = id_of(&kept);
        let mut kept_v2 = kept.clone();
        kept_v2["gender"] = json!("unknown");
        // Listed in the reverse of FHIR's processing order; answered in request order.
        let request = bundle(
            "transaction",
            vec![
                json!({"request": {"method": "GET", "url": format!("Patient/{kept_id}")}}),
                json!({"resource": kept_v2, "request": {"method": "PUT", "url": format!("Patient/{kept_id}")}}),
                post_entry(&urn(), patient(&unique("newcomer"))),
                json!({"request": {"method": "DELETE", "url": format!("Patient/{doomed}")}}),
            ],
        );
        let entries = response_entries(
            &post_bundle(&app, prefix, &request).await,
            "transaction-response",
        );
        assert_eq!(entries.len(), 4);
        assert_eq!(entry_status(&entries[0]), 200);
        assert_eq!(
            entries[0]["resource"]["gender"], "unknown",
            "the GET sees the PUT in the same transaction"
        );
        assert_eq!(version_of(&entries[0]["resource"]), 2);
        assert_eq!(entry_status(&entries[1]), 200);
        assert_eq!(entry_status(&entries[2]), 201);
        assert!(
            (200..300).contains(&entry_status(&entries[3])),
            "the delete succeeded: {}",
            entries[3]
        );

        app.get(&format!("{prefix}/Patient/{doomed}"))
            .await
            .outcome(410, "deleted");
        assert_eq!(
            version_of(&app.get(&format!("{prefix}/Patient/{kept_id}")).await.json()),
            2
        );
        app.get(&format!(
            "{prefix}/{}",
            created_reference(&app, prefix, &entries[2])
        ))
        .await
        .resource(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_last_entry_is_invalid_writes_nothing() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let client_id = unique("txn-put");
        let mut put_resource = patient(&unique("txn-put-patient"));
        put_resource["id"] = json!(client_id);
        let mut invalid = patient(&unique("invalid"));
        invalid["birthDate"] = json!("not-a-date");
        let patient_urn = urn();
        let request = bundle(
            "transaction",
            vec![
                json!({"resource": put_resource, "request": {"method": "PUT", "url": format!("Patient/{client_id}")}}),
                post_entry(&patient_urn, patient(&unique("rolled-back"))),
                post_entry(
                    &urn(),
                    observation(&patient_urn, &unique("rolled-back-obs")),
                ),
                post_entry(&urn(), invalid),
            ],
        );
        let outcome = post_bundle(&app, prefix, &request)
            .await
            .outcome(400, "value");
        assert!(
            mentions(&outcome, "Bundle.entry[3]"),
            "the outcome names the failing entry: {outcome}"
        );
        assert!(
            mentions(&outcome, "birthDate"),
            "the outcome names the failing element: {outcome}"
        );
        app.get(&format!("{prefix}/Patient/{client_id}"))
            .await
            .outcome(404, "not-found");
        assert_eq!(n_versions(&app).await, 0, "nothing was written");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_fails_while_writing_rolls_back_the_entries_already_written() {
    let app = TestApp::start().await;
    let doomed = id_of(&app.create("/r4", &patient(&unique("not-doomed"))).await);
    let updated = app.create("/r4", &patient(&unique("not-updated"))).await;
    let updated_id = id_of(&updated);
    let guarded = id_of(&app.create("/r4", &patient(&unique("guarded"))).await);
    let versions = n_versions(&app).await;
    let mut updated_v2 = updated.clone();
    updated_v2["gender"] = json!("male");
    let request = bundle(
        "transaction",
        vec![
            json!({"request": {"method": "DELETE", "url": format!("Patient/{doomed}")}}),
            post_entry(&urn(), patient(&unique("not-created"))),
            json!({"resource": updated_v2, "request": {"method": "PUT", "url": format!("Patient/{updated_id}")}}),
            // Stale: the guarded Patient is at version 1.
            json!({"resource": {"resourceType": "Patient", "id": guarded, "active": false}, "request": {"method": "PUT", "url": format!("Patient/{guarded}"), "ifMatch": "W/\"7\""}}),
        ],
    );
    let outcome = post_bundle(&app, "/r4", &request)
        .await
        .outcome(412, "conflict");
    assert!(
        mentions(&outcome, "Bundle.entry[3]"),
        "the outcome names the failing entry: {outcome}"
    );
    assert_eq!(n_versions(&app).await, versions, "nothing was written");
    app.get(&format!("/r4/Patient/{doomed}")).await.expect(200);
    assert_eq!(
        app.get(&format!("/r4/Patient/{updated_id}"))
            .await
            .resource(200),
        updated
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_writes_one_resource_twice_is_400_and_writes_nothing() {
    // "If any resource identities (including resolved identities from conditional update/delete)
    // overlap in steps 1-3, then the transaction SHALL fail" (FHIR R4 http.html#trules).
    let app = TestApp::start().await;
    let created = app.create("/r4", &patient(&unique("twice"))).await;
    let id = id_of(&created);
    let put = |gender: &str| {
        let mut resource = created.clone();
        resource["gender"] = json!(gender);
        json!({"resource": resource, "request": {"method": "PUT", "url": format!("Patient/{id}")}})
    };
    let delete = json!({"request": {"method": "DELETE", "url": format!("Patient/{id}")}});
    for entries in [
        vec![put("male"), put("female")],
        vec![delete.clone(), put("male")],
        vec![put("other"), delete],
    ] {
        let reply = post_bundle(&app, "/r4", &bundle("transaction", entries)).await;
        assert_eq!(reply.status, 400, "{} {}", reply.status, reply.text());
        reply.outcome(400, "duplicate");
        assert_eq!(
            app.get(&format!("/r4/Patient/{id}")).await.resource(200),
            created,
            "nothing was written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_each_entry_on_its_own() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let existing = id_of(
            &app.create(prefix, &patient(&unique("batch-existing")))
                .await,
        );
        let mut invalid = patient(&unique("batch-invalid"));
        invalid["birthDate"] = json!("not-a-date");
        let request = bundle(
            "batch",
            vec![
                post_entry(&urn(), patient(&unique("batch-ok"))),
                post_entry(&urn(), invalid),
                post_entry(
                    &urn(),
                    observation(&format!("Patient/{existing}"), &unique("batch-obs")),
                ),
                json!({"resource": {"resourceType": "Patient", "id": existing, "active": false}, "request": {"method": "PUT", "url": format!("Patient/{existing}"), "ifMatch": "W/\"9\""}}),
                json!({"request": {"method": "GET", "url": "Patient/no-such-patient"}}),
            ],
        );
        let entries =
            response_entries(&post_bundle(&app, prefix, &request).await, "batch-response");
        let statuses: Vec<u16> = entries.iter().map(entry_status).collect();
        assert_eq!(statuses, [201, 400, 201, 412, 404], "entries: {entries:?}");
        for failed in [&entries[1], &entries[3], &entries[4]] {
            let outcome = &failed["response"]["outcome"];
            assert_eq!(
                outcome["resourceType"], "OperationOutcome",
                "a failed entry carries an outcome: {failed}"
            );
            assert!(outcome["issue"].as_array().is_some_and(|i| !i.is_empty()));
        }
        assert!(
            mentions(&entries[1]["response"]["outcome"], "birthDate"),
            "the outcome names the element: {}",
            entries[1]
        );
        app.get(&format!(
            "{prefix}/{}",
            created_reference(&app, prefix, &entries[0])
        ))
        .await
        .resource(200);
        app.get(&format!(
            "{prefix}/{}",
            created_reference(&app, prefix, &entries[2])
        ))
        .await
        .resource(200);
        assert_eq!(
            version_of(
                &app.get(&format!("{prefix}/Patient/{existing}"))
                    .await
                    .json()
            ),
            1,
            "the stale PUT wrote nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_transactions_with_the_same_if_none_exist_make_exactly_one_resource() {
    let app = TestApp::start().await;
    let identifier = unique("txn-race");
    let request = bundle(
        "transaction",
        vec![json!({
            "fullUrl": urn(),
            "resource": patient(&identifier),
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": format!("identifier={}", token(&identifier))}
        })],
    );
    let replies =
        futures::future::join_all((0..10).map(|_| post_bundle(&app, "/r4", &request))).await;
    let mut statuses = Vec::new();
    let mut ids = HashSet::new();
    for reply in &replies {
        let entries = response_entries(reply, "transaction-response");
        statuses.push(entry_status(&entries[0]));
        ids.insert(created_reference(&app, "/r4", &entries[0]));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "statuses: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        9,
        "statuses: {statuses:?}"
    );
    assert_eq!(
        ids.len(),
        1,
        "every transaction names the same Patient: {ids:?}"
    );
    assert_eq!(n_versions(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_patch_entry_applies_a_json_patch_from_a_binary() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("txn-patch"))).await);
    let patch = json!([{"op": "replace", "path": "/active", "value": false}]).to_string();
    let binary = json!({"resourceType": "Binary", "contentType": "application/json-patch+json", "data": base64(patch.as_bytes())});
    let request = bundle(
        "transaction",
        vec![
            json!({"resource": binary, "request": {"method": "PATCH", "url": format!("Patient/{id}")}}),
        ],
    );
    let entries = response_entries(
        &post_bundle(&app, "/r4", &request).await,
        "transaction-response",
    );
    assert_eq!(entry_status(&entries[0]), 200);
    let stored = app.get(&format!("/r4/Patient/{id}")).await.resource(200);
    assert_eq!(stored["active"], false);
    assert_eq!(version_of(&stored), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posting_something_other_than_a_batch_or_transaction_bundle_is_400() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        app.post(prefix, &patient("not-a-bundle"))
            .await
            .outcome(400, "invalid");
        app.post(prefix, &bundle("collection", vec![]))
            .await
            .outcome(400, "invalid");
        app.post(prefix, &json!({"resourceType": "Bundle", "entry": []}))
            .await
            .outcome(400, "invalid");
        app.post(
            prefix,
            &json!({"resourceType": "Bundle", "type": "batch", "entry": {}}),
        )
        .await
        .outcome(400, "structure");
        let no_request = bundle(
            "transaction",
            vec![json!({"fullUrl": urn(), "resource": patient("no-request")})],
        );
        let outcome = app.post(prefix, &no_request).await.outcome(400, "required");
        assert!(
            mentions(&outcome, "Bundle.entry[0]"),
            "the outcome names the entry: {outcome}"
        );
    }
    assert_eq!(n_versions(&app).await, 0);
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
