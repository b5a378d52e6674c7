//! The [patch interaction](https://hl7.org/fhir/R4/http.html#patch) with
//! [JSON Patch](https://datatracker.ietf.org/doc/html/rfc6902).

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::support::{
    FHIR_JSON, JSON_PATCH, PREFIXES, TestApp, id_of, mentions, patient, unique, version_of,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_applies_a_json_patch_as_a_new_version() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app.create(prefix, &patient(&unique("patch"))).await;
        let id = id_of(&created);
        let path = format!("{prefix}/Patient/{id}");
        let operations = json!([
            {"op": "replace", "path": "/active", "value": false},
            {"op": "add", "path": "/gender", "value": "female"},
            {"op": "add", "path": "/name/-", "value": {"family": "Added"}},
            {"op": "test", "path": "/birthDate", "value": "1970-01-01"}
        ]);
        let reply = app.patch(&path, &operations).await;
        let patched = reply.resource(200);
        assert_eq!(version_of(&patched), 2);
        assert_eq!(patched["active"], false);
        assert_eq!(patched["gender"], "female");
        assert_eq!(patched["name"][1]["family"], "Added");
        assert_eq!(
            patched["identifier"], created["identifier"],
            "untouched elements stay"
        );
        assert_eq!(reply.header("etag"), Some("W/\"2\""));
        let location = format!("{}{prefix}/Patient/{id}/_history/2", app.base_url);
        assert_eq!(reply.header("location"), Some(location.as_str()));
        assert_eq!(
            app.get(&path).await.body,
            reply.body,
            "read returns the patched version"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_accepts_plain_application_json() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("patch-json"))).await);
    let body = json!([{"op": "replace", "path": "/active", "value": false}]).to_string();
    let reply = app
        .send(
            app.request(Method::PATCH, &format!("/r4/Patient/{id}"))
                .header(CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await;
    assert_eq!(reply.resource(200)["active"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_a_json_patch_is_400_and_writes_nothing() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app
            .post(&format!("{prefix}/Patient"), &patient(&unique("bad-patch")))
            .await;
        let id = id_of(&created.json());
        let path = format!("{prefix}/Patient/{id}");
        let not_patches = [
            json!({"op": "replace", "path": "/active", "value": false}),
            json!([{"op": "frobnicate", "path": "/active"}]),
            json!([{"path": "/active", "value": false}]),
            json!([{"op": "replace", "value": false}]),
        ];
        for body in not_patches {
            let reply = app.patch(&path, &body).await;
            assert_eq!(
                reply.status,
                400,
                "{body} answered {} {}",
                reply.status,
                reply.text()
            );
            reply.outcome(400, "structure");
        }
        let reply = app
            .send(
                app.request(Method::PATCH, &path)
                    .header(CONTENT_TYPE, JSON_PATCH)
                    .body("[{\"op\": "),
            )
            .await;
        reply.outcome(400, "structure");
        assert_eq!(
            app.get(&path).await.body,
            created.body,
            "nothing was written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_that_cannot_be_applied_is_400_and_writes_nothing() {
    let app = TestApp::start().await;
    let created = app
        .post("/r4/Patient", &patient(&unique("unapplicable")))
        .await;
    let id = id_of(&created.json());
    let path = format!("/r4/Patient/{id}");
    let failing = [
        json!([{"op": "test", "path": "/active", "value": false}]),
        json!([{"op": "remove", "path": "/deceasedBoolean"}]),
        json!([{"op": "replace", "path": "/name/7/family", "value": "X"}]),
    ];
    for body in failing {
        let reply = app.patch(&path, &body).await;
        assert_eq!(
            reply.status,
            400,
            "{body} answered {} {}",
            reply.status,
            reply.text()
        );
        assert_eq!(reply.json()["resourceType"], "OperationOutcome");
    }
    // A failed test op must not leave the operations before it applied.
    let partly = json!([{"op": "replace", "path": "/active", "value": false}, {"op": "test", "path": "/gender", "value": "male"}]);
    app.patch(&path, &partly).await.expect(400);
    assert_eq!(
        app.get(&path).await.body,
        created.body,
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_that_makes_the_resource_invalid_is_400_naming_the_path() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app
            .post(
                &format!("{prefix}/Patient"),
                &patient(&unique("invalidating")),
            )
            .await;
        let id = id_of(&created.json());
        let path = format!("{prefix}/Patient/{id}");
        let cases = [
            (
                json!([{"op": "replace", "path": "/birthDate", "value": "not-a-date"}]),
                "Patient.birthDate",
            ),
            (
                json!([{"op": "add", "path": "/favouriteColour", "value": "blue"}]),
                "Patient.favouriteColour",
            ),
            (
                json!([{"op": "replace", "path": "/active", "value": "yes"}]),
                "Patient.active",
            ),
            (
                json!([{"op": "replace", "path": "/id", "value": "another-id"}]),
                "Patient.id",
            ),
            (
                json!([{"op": "replace", "path": "/resourceType", "value": "Observation"}]),
                "resourceType",
            ),
        ];
        for (body, location) in cases {
            let reply = app.patch(&path, &body).await;
            assert_eq!(
                reply.status,
                400,
                "{body} answered {} {}",
                reply.status,
                reply.text()
            );
            let outcome = reply.json();
            assert!(
                mentions(&outcome, location),
                "{body}: the outcome should name {location}: {outcome}"
            );
        }
        assert_eq!(
            app.get(&path).await.body,
            created.body,
            "nothing was written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_honours_if_match() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let id = id_of(
            &app.create(prefix, &patient(&unique("patch-if-match")))
                .await,
        );
        let path = format!("{prefix}/Patient/{id}");
        let body = json!([{"op": "replace", "path": "/active", "value": false}]).to_string();
        let with_if_match = |etag: &str| {
            app.request(Method::PATCH, &path)
                .header(CONTENT_TYPE, JSON_PATCH)
                .header("If-Match", etag)
                .body(body.clone())
        };

        let reply = app.send(with_if_match("W/\"1\"")).await;
        assert_eq!(version_of(&reply.resource(200)), 2);
        app.send(with_if_match("W/\"1\""))
            .await
            .outcome(412, "conflict");
        assert_eq!(
            version_of(&app.get(&path).await.json()),
            2,
            "the stale patch wrote nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_of_a_missing_or_deleted_resource_is_404_or_410() {
    let app = TestApp::start().await;
    let body = json!([{"op": "replace", "path": "/active", "value": false}]);
    app.patch("/r4/Patient/never-existed", &body)
        .await
        .outcome(404, "not-found");
    let id = id_of(&app.create("/r4", &patient(&unique("patch-deleted"))).await);
    app.delete(&format!("/r4/Patient/{id}")).await.expect(200);
    app.patch(&format!("/r4/Patient/{id}"), &body)
        .await
        .outcome(410, "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_with_a_fhir_json_body_is_415() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("patch-415"))).await);
    let body = json!([{"op": "replace", "path": "/active", "value": false}]).to_string();
    let reply = app
        .send(
            app.request(Method::PATCH, &format!("/r4/Patient/{id}"))
                .header(CONTENT_TYPE, FHIR_JSON)
                .body(body),
        )
        .await;
    reply.outcome(415, "not-supported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_with_prefer_return_minimal_answers_headers_only() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("patch-minimal"))).await);
    let body = json!([{"op": "replace", "path": "/active", "value": false}]).to_string();
    let request = app
        .request(Method::PATCH, &format!("/r4/Patient/{id}"))
        .header(CONTENT_TYPE, JSON_PATCH)
        .header("Prefer", "return=minimal")
        .body(body);
    let reply = app.send(request).await;
    reply.expect(200);
    assert!(
        reply.body.is_empty(),
        "return=minimal has no body: {}",
        reply.text()
    );
    assert_eq!(reply.header("etag"), Some("W/\"2\""));
}
