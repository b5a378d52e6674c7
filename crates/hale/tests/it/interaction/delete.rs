//! The [delete interaction](https://hl7.org/fhir/R4/http.html#delete), answered with 1up's
//! OperationOutcome (api-contract §8).

use reqwest::Method;
use serde_json::json;

use crate::support::{PREFIXES, TestApp, id_of, patient, unique, version_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_answers_1ups_outcome_and_later_reads_are_410() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app.create(prefix, &patient(&unique("delete"))).await;
        let id = id_of(&created);
        let path = format!("{prefix}/Patient/{id}");
        let mut changed = created.clone();
        changed["active"] = json!(false);
        let v2 = app.put(&path, &changed).await;
        v2.expect(200);

        let reply = app.delete(&path).await;
        let outcome = reply.outcome(200, "value");
        let issue = &outcome["issue"][0];
        assert_eq!(issue["severity"], "information");
        // The deletion is version 3 of the resource; the text names it, as the ETag does.
        assert_eq!(reply.header("etag"), Some("W/\"3\""));
        assert_eq!(
            issue["details"]["text"],
            format!("this resource with id {id} and version 3 has been deleted")
        );
        assert!(
            outcome["id"].as_str().is_some_and(|id| !id.is_empty()),
            "the OperationOutcome has an id: {outcome}"
        );

        app.get(&path).await.outcome(410, "deleted");
        // Earlier versions stay readable; the deletion itself is gone.
        let old = app.get(&format!("{path}/_history/2")).await;
        old.resource(200);
        assert_eq!(old.body, v2.body);
        app.get(&format!("{path}/_history/1")).await.resource(200);
        app.get(&format!("{path}/_history/3"))
            .await
            .outcome(410, "deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_an_unknown_resource_is_404() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        app.delete(&format!("{prefix}/Patient/never-existed"))
            .await
            .outcome(404, "not-found");
        app.delete(&format!("{prefix}/Patient/bad_id"))
            .await
            .outcome(400, "value");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_again_succeeds_and_writes_no_new_version() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("delete-twice"))).await);
    let path = format!("/r4/Patient/{id}");
    app.delete(&path).await.expect(200);
    let again = app.delete(&path).await;
    again.outcome(200, "value");
    assert_eq!(again.header("etag"), Some("W/\"2\""), "no new version");
    let history = app.get(&format!("{path}/_history")).await.resource(200);
    assert_eq!(
        history["entry"].as_array().map(Vec::len),
        Some(2),
        "create and one deletion: {history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_honours_if_match() {
    let app = TestApp::start().await;
    let created = app
        .create("/r4", &patient(&unique("delete-if-match")))
        .await;
    let id = id_of(&created);
    let path = format!("/r4/Patient/{id}");
    app.put(
        &path,
        &json!({"resourceType": "Patient", "id": id, "active": false}),
    )
    .await
    .expect(200);

    app.send(
        app.request(Method::DELETE, &path)
            .header("If-Match", "W/\"1\""),
    )
    .await
    .outcome(412, "conflict");
    assert_eq!(
        version_of(&app.get(&path).await.resource(200)),
        2,
        "the stale delete deleted nothing"
    );

    app.send(
        app.request(Method::DELETE, &path)
            .header("If-Match", "W/\"2\""),
    )
    .await
    .expect(200);
    app.get(&path).await.expect(410);
}
