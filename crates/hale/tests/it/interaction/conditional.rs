//! [Conditional create](https://hl7.org/fhir/R4/http.html#ccreate),
//! [conditional update](https://hl7.org/fhir/R4/http.html#cond-update) and
//! [conditional delete](https://hl7.org/fhir/R4/http.html#cdelete).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    Http, PREFIXES, Reply, SYSTEM, TestApp, id_of, mentions, patient, token, unique, version_of,
};

/// The query `identifier=SYSTEM|value`, percent-encoded for a URL.
fn identifier_query(identifier: &str) -> String {
    format!("identifier={SYSTEM}%7C{identifier}")
}

/// How many Patient versions the server holds, from the type history's `total`.
async fn n_patient_versions(http: &Http) -> u64 {
    http.get("/r4/Patient/_history?_count=1")
        .await
        .resource(200)["total"]
        .as_u64()
        .expect("a total")
}

/// `POST {prefix}/Patient` with `If-None-Exist`.
async fn create_if_none_exist(http: &Http, prefix: &str, body: &Value, condition: &str) -> Reply {
    http.send(
        http.with_body(Method::POST, &format!("{prefix}/Patient"), body)
            .header("If-None-Exist", condition),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_create_creates_on_no_match_returns_the_single_match_and_refuses_several() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let identifier = unique("ccreate");
        let condition = format!("identifier={}", token(&identifier));

        let first = create_if_none_exist(&app, prefix, &patient(&identifier), &condition).await;
        let created = first.resource(201);
        let id = id_of(&created);

        let versions_before = n_patient_versions(&app).await;
        let mut different = patient(&identifier);
        different["gender"] = json!("male");
        let second = create_if_none_exist(&app, prefix, &different, &condition).await;
        let existing = second.resource(200);
        assert_eq!(id_of(&existing), id, "the existing resource is returned");
        assert_eq!(
            second.body, first.body,
            "the existing resource is returned as stored, unchanged"
        );
        assert_eq!(second.header("etag"), Some("W/\"1\""));
        let location = format!("{}{prefix}/Patient/{id}/_history/1", app.base_url);
        assert_eq!(second.header("location"), Some(location.as_str()));
        assert_eq!(
            n_patient_versions(&app).await,
            versions_before,
            "nothing new was written"
        );

        // A second resource with the identifier makes the condition ambiguous.
        app.create(prefix, &patient(&identifier)).await;
        let versions_before = n_patient_versions(&app).await;
        create_if_none_exist(&app, prefix, &patient(&identifier), &condition)
            .await
            .outcome(412, "multiple-matches");
        assert_eq!(
            n_patient_versions(&app).await,
            versions_before,
            "nothing was written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_resources_do_not_match_conditions() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let identifier = unique("deleted-match");
        let condition = format!("identifier={}", token(&identifier));
        let deleted = id_of(&app.create(prefix, &patient(&identifier)).await);
        app.delete(&format!("{prefix}/Patient/{deleted}"))
            .await
            .expect(200);

        let created = create_if_none_exist(&app, prefix, &patient(&identifier), &condition)
            .await
            .resource(201);
        assert_ne!(
            id_of(&created),
            deleted,
            "a new resource, not the deleted one"
        );
        // Only the live resource matches now, so the condition is not ambiguous.
        let updated = app
            .put(
                &format!("{prefix}/Patient?{}", identifier_query(&identifier)),
                &patient(&identifier),
            )
            .await;
        assert_eq!(id_of(&updated.resource(200)), id_of(&created));
        app.get(&format!("{prefix}/Patient/{deleted}"))
            .await
            .expect(410);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_create_accepts_a_condition_that_repeats_the_type() {
    let app = TestApp::start().await;
    let identifier = unique("typed-condition");
    let condition = format!("Patient?identifier={}", token(&identifier));
    let first = create_if_none_exist(&app, "/r4", &patient(&identifier), &condition)
        .await
        .resource(201);
    let second = create_if_none_exist(&app, "/r4", &patient(&identifier), &condition)
        .await
        .resource(200);
    assert_eq!(id_of(&first), id_of(&second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_create_with_an_unknown_parameter_is_400() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let outcome = create_if_none_exist(&app, prefix, &patient("x"), "no-such-param=1")
            .await
            .outcome(400, "not-supported");
        assert!(
            mentions(&outcome, "no-such-param"),
            "the outcome names the parameter: {outcome}"
        );
    }
    assert_eq!(n_patient_versions(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_creates_make_exactly_one_resource() {
    let app = TestApp::start().await;
    let identifier = unique("race");
    let condition = format!("identifier={}", token(&identifier));
    let body = patient(&identifier);
    let requests = (0..20).map(|n| create_if_none_exist(&app, PREFIXES[n % 2], &body, &condition));
    let replies = futures::future::join_all(requests).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "statuses: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        19,
        "statuses: {statuses:?}"
    );
    let ids: std::collections::HashSet<String> = replies.iter().map(|r| id_of(&r.json())).collect();
    assert_eq!(
        ids.len(),
        1,
        "every answer names the same resource: {ids:?}"
    );
    assert_eq!(n_patient_versions(&app).await, 1);
    // And the condition still has a single match.
    create_if_none_exist(&app, "/r4", &body, &condition)
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_updates_make_exactly_one_resource() {
    let app = TestApp::start().await;
    let identifier = unique("update-race");
    let path = format!("/r4/Patient?{}", identifier_query(&identifier));
    let requests = (0..10).map(|n| {
        let mut body = patient(&identifier);
        body["name"] = json!([{"family": format!("Writer{n}")}]);
        let path = path.clone();
        let app = &app;
        async move { app.put(&path, &body).await }
    });
    let replies = futures::future::join_all(requests).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
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
    let ids: std::collections::HashSet<String> = replies.iter().map(|r| id_of(&r.json())).collect();
    assert_eq!(
        ids.len(),
        1,
        "every update names the same resource: {ids:?}"
    );
    let versions: std::collections::HashSet<u64> =
        replies.iter().map(|r| version_of(&r.json())).collect();
    assert_eq!(
        versions.len(),
        10,
        "each update wrote its own version: {versions:?}"
    );
    assert_eq!(n_patient_versions(&app).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_update_creates_on_no_match_updates_the_single_match_and_refuses_several() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let identifier = unique("cupdate");
        let path = format!("{prefix}/Patient?{}", identifier_query(&identifier));

        let reply = app.put(&path, &patient(&identifier)).await;
        let created = reply.resource(201);
        let id = id_of(&created);
        assert_eq!(version_of(&created), 1);
        let location = format!("{}{prefix}/Patient/{id}/_history/1", app.base_url);
        assert_eq!(reply.header("location"), Some(location.as_str()));

        let mut changed = patient(&identifier);
        changed["gender"] = json!("female");
        let updated = app.put(&path, &changed).await.resource(200);
        assert_eq!(id_of(&updated), id, "the match is updated in place");
        assert_eq!(version_of(&updated), 2);
        assert_eq!(updated["gender"], "female");

        // A body id that differs from the match is refused.
        let mut wrong_id = changed.clone();
        wrong_id["id"] = json!("not-the-match");
        app.put(&path, &wrong_id).await.outcome(400, "invalid");

        app.create(prefix, &patient(&identifier)).await;
        app.put(&path, &changed)
            .await
            .outcome(412, "multiple-matches");
        assert_eq!(
            version_of(&app.get(&format!("{prefix}/Patient/{id}")).await.json()),
            2,
            "nothing was updated"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_delete_deletes_the_single_match_and_refuses_several() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let identifier = unique("cdelete");
        let path = format!("{prefix}/Patient?{}", identifier_query(&identifier));

        // Nothing matches: nothing is deleted, and that is not an error.
        let bystander = id_of(&app.create(prefix, &patient(&unique("bystander"))).await);
        let reply = app.delete(&path).await;
        assert!(
            (200..300).contains(&reply.status),
            "no match: {} {}",
            reply.status,
            reply.text()
        );
        app.get(&format!("{prefix}/Patient/{bystander}"))
            .await
            .expect(200);

        let id = id_of(&app.create(prefix, &patient(&identifier)).await);
        let outcome = app.delete(&path).await.outcome(200, "value");
        assert_eq!(
            outcome["issue"][0]["details"]["text"],
            format!("this resource with id {id} and version 2 has been deleted")
        );
        app.get(&format!("{prefix}/Patient/{id}"))
            .await
            .outcome(410, "deleted");
        app.get(&format!("{prefix}/Patient/{bystander}"))
            .await
            .expect(200);

        let one = id_of(&app.create(prefix, &patient(&identifier)).await);
        let two = id_of(&app.create(prefix, &patient(&identifier)).await);
        app.delete(&path).await.outcome(412, "multiple-matches");
        app.get(&format!("{prefix}/Patient/{one}"))
            .await
            .expect(200);
        app.get(&format!("{prefix}/Patient/{two}"))
            .await
            .expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_update_or_delete_without_criteria_is_400_and_touches_nothing() {
    let app = TestApp::start().await;
    let only = app.create("/r4", &patient(&unique("only"))).await;
    let id = id_of(&only);
    for prefix in PREFIXES {
        app.delete(&format!("{prefix}/Patient"))
            .await
            .outcome(400, "invalid");
        app.delete(&format!("{prefix}/Patient?_count=1"))
            .await
            .outcome(400, "invalid");
        app.delete(&format!("{prefix}/Patient?no-such-param=1"))
            .await
            .outcome(400, "not-supported");
        app.put(&format!("{prefix}/Patient"), &patient("no-criteria"))
            .await
            .outcome(400, "invalid");
    }
    let current = app.get(&format!("/r4/Patient/{id}")).await.resource(200);
    assert_eq!(
        current, only,
        "the only Patient was neither deleted nor updated"
    );
}
