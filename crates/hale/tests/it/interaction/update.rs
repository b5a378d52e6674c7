//! The [update interaction](https://hl7.org/fhir/R4/http.html#update): `PUT [base]/[type]/[id]`,
//! also as create with a client-chosen id, with `If-Match`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{PREFIXES, TestApp, id_of, mentions, patient, unique, version_of, without};

/// The number of versions in the instance history of `Patient/{id}`.
async fn n_versions(app: &TestApp, id: &str) -> usize {
    let history = app
        .get(&format!("/r4/Patient/{id}/_history?_count=100"))
        .await
        .resource(200);
    history["entry"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_writes_a_new_version() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app.create(prefix, &patient(&unique("update"))).await;
        let id = id_of(&created);
        let mut changed = created.clone();
        changed["name"] = json!([{"family": "Changed"}]);
        let reply = app.put(&format!("{prefix}/Patient/{id}"), &changed).await;
        let updated = reply.resource(200);
        assert_eq!(id_of(&updated), id);
        assert_eq!(updated["meta"]["versionId"], "2");
        assert_eq!(updated["name"], json!([{"family": "Changed"}]));
        assert_eq!(reply.header("etag"), Some("W/\"2\""));
        assert!(reply.header("last-modified").is_some());
        let location = format!("{}{prefix}/Patient/{id}/_history/2", app.base_url);
        assert_eq!(reply.header("location"), Some(location.as_str()));
        assert_eq!(
            app.get(&format!("{prefix}/Patient/{id}")).await.body,
            reply.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_of_a_new_client_chosen_id_creates_the_resource() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let id = unique("client-id");
        let mut body = patient(&unique("upsert"));
        body["id"] = json!(id);
        let reply = app.put(&format!("{prefix}/Patient/{id}"), &body).await;
        let created = reply.resource(201);
        assert_eq!(id_of(&created), id, "the client's id is kept");
        assert_eq!(created["meta"]["versionId"], "1");
        assert_eq!(reply.header("etag"), Some("W/\"1\""));
        let location = format!("{}{prefix}/Patient/{id}/_history/1", app.base_url);
        assert_eq!(reply.header("location"), Some(location.as_str()));
        assert_eq!(
            app.get(&format!("{prefix}/Patient/{id}")).await.body,
            reply.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_whose_body_id_differs_from_the_url_or_is_missing_is_400_and_changes_nothing() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app
            .post(&format!("{prefix}/Patient"), &patient(&unique("mismatch")))
            .await;
        let id = id_of(&created.json());

        let mut other_id = created.json();
        other_id["id"] = json!("some-other-id");
        other_id["active"] = json!(false);
        let outcome = app
            .put(&format!("{prefix}/Patient/{id}"), &other_id)
            .await
            .outcome(400, "invalid");
        assert!(
            mentions(&outcome, "Patient.id"),
            "the outcome names Patient.id: {outcome}"
        );

        let mut no_id = without(created.json(), "id");
        no_id["active"] = json!(false);
        let outcome = app
            .put(&format!("{prefix}/Patient/{id}"), &no_id)
            .await
            .outcome(400, "required");
        assert!(
            mentions(&outcome, "Patient.id"),
            "the outcome names Patient.id: {outcome}"
        );

        assert_eq!(
            app.get(&format!("{prefix}/Patient/{id}")).await.body,
            created.body,
            "nothing changed"
        );
        app.get(&format!("{prefix}/Patient/some-other-id"))
            .await
            .expect(404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_with_a_malformed_id_in_the_url_is_400() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let mut body = patient("bad-url-id");
        body["id"] = json!("bad_id");
        app.put(&format!("{prefix}/Patient/bad_id"), &body)
            .await
            .outcome(400, "value");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_with_if_match_succeeds_on_the_current_version_and_fails_412_on_a_stale_one() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app.create(prefix, &patient(&unique("if-match"))).await;
        let id = id_of(&created);
        let path = format!("{prefix}/Patient/{id}");

        let mut v2 = created.clone();
        v2["active"] = json!(false);
        let reply = app
            .send(
                app.with_body(Method::PUT, &path, &v2)
                    .header("If-Match", "W/\"1\""),
            )
            .await;
        assert_eq!(version_of(&reply.resource(200)), 2);

        let mut stale = created.clone();
        stale["gender"] = json!("female");
        let outcome = app
            .send(
                app.with_body(Method::PUT, &path, &stale)
                    .header("If-Match", "W/\"1\""),
            )
            .await
            .outcome(412, "conflict");
        assert!(
            mentions(&outcome, &id),
            "the conflict names the resource: {outcome}"
        );
        let current = app.get(&path).await.resource(200);
        assert_eq!(version_of(&current), 2, "the stale update wrote nothing");
        assert!(current.get("gender").is_none());

        app.send(
            app.with_body(Method::PUT, &path, &stale)
                .header("If-Match", "not-an-etag"),
        )
        .await
        .outcome(400, "value");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_of_unchanged_content_makes_no_new_version() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app
            .post(&format!("{prefix}/Patient"), &patient(&unique("unchanged")))
            .await;
        let stored = created.json();
        let id = id_of(&stored);

        // The exact resource as read back, meta included.
        let reply = app.put(&format!("{prefix}/Patient/{id}"), &stored).await;
        assert_eq!(version_of(&reply.resource(200)), 1);
        assert_eq!(reply.header("etag"), Some("W/\"1\""));

        // The same content without meta.
        let bare = without(stored.clone(), "meta");
        let reply = app.put(&format!("{prefix}/Patient/{id}"), &bare).await;
        assert_eq!(version_of(&reply.resource(200)), 1);

        assert_eq!(
            app.get(&format!("{prefix}/Patient/{id}")).await.body,
            created.body,
            "the stored version is untouched"
        );
        assert_eq!(n_versions(&app, &id).await, 1, "history has one version");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_of_a_deleted_resource_brings_it_back_as_a_new_version() {
    let app = TestApp::start().await;
    let created = app.create("/r4", &patient(&unique("revive"))).await;
    let id = id_of(&created);
    app.delete(&format!("/r4/Patient/{id}")).await.expect(200);
    app.get(&format!("/r4/Patient/{id}")).await.expect(410);
    let reply = app.put(&format!("/r4/Patient/{id}"), &created).await;
    assert!(
        matches!(reply.status, 200 | 201),
        "update after delete: {} {}",
        reply.status,
        reply.text()
    );
    assert_eq!(
        version_of(&reply.json()),
        3,
        "versions continue after the deletion"
    );
    assert_eq!(
        version_of(&app.get(&format!("/r4/Patient/{id}")).await.resource(200)),
        3
    );
    assert_eq!(n_versions(&app, &id).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_with_prefer_return_minimal_answers_headers_only() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app
            .create(prefix, &patient(&unique("update-minimal")))
            .await;
        let id = id_of(&created);
        let mut changed = created.clone();
        changed["active"] = json!(false);
        let reply = app
            .send(
                app.with_body(Method::PUT, &format!("{prefix}/Patient/{id}"), &changed)
                    .header("Prefer", "return=minimal"),
            )
            .await;
        reply.expect(200);
        assert!(
            reply.body.is_empty(),
            "return=minimal has no body: {}",
            reply.text()
        );
        assert_eq!(reply.header("etag"), Some("W/\"2\""));
        let location = format!("{}{prefix}/Patient/{id}/_history/2", app.base_url);
        assert_eq!(reply.header("location"), Some(location.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_with_the_same_if_match_let_exactly_one_win() {
    let app = TestApp::start().await;
    let created = app.create("/r4", &patient(&unique("race"))).await;
    let id = id_of(&created);
    let path = format!("/r4/Patient/{id}");
    let requests = (0..10).map(|n| {
        let mut body: Value = created.clone();
        body["name"] = json!([{"family": format!("Writer{n}")}]);
        app.send(
            app.with_body(Method::PUT, &path, &body)
                .header("If-Match", "W/\"1\""),
        )
    });
    let replies = futures::future::join_all(requests).await;
    let n_ok = replies.iter().filter(|r| r.status == 200).count();
    let n_conflict = replies.iter().filter(|r| r.status == 412).count();
    assert_eq!(
        (n_ok, n_conflict),
        (1, 9),
        "statuses: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let winner = replies
        .iter()
        .find(|r| r.status == 200)
        .map(|r| r.json())
        .unwrap_or_default();
    let current = app.get(&path).await.resource(200);
    assert_eq!(version_of(&current), 2);
    assert_eq!(
        current["name"], winner["name"],
        "the stored version is the winner's"
    );
}
