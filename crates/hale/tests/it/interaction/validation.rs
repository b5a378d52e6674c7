//! Request bodies that are not valid FHIR JSON: each is a 400 OperationOutcome that says where
//! the problem is, never a 5xx, and nothing is written. Bodies over the limit are 413.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{ADMIN_TOKEN, FHIR_JSON, PREFIXES, TestApp, id_of, mentions, patient, unique};

/// `(what is wrong, body, FHIRPath location that must be named, issue code)`.
fn invalid_bodies() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let with = |key: &str, value: Value| {
        let mut body = json!({"resourceType": "Patient"});
        body[key] = value;
        body
    };
    vec![
        (
            "unknown element",
            with("favouriteColour", json!("blue")),
            "Patient.favouriteColour",
            "structure",
        ),
        (
            "wrong primitive type",
            with("active", json!("yes")),
            "Patient.active",
            "value",
        ),
        (
            "number for a string",
            with("gender", json!(1)),
            "Patient.gender",
            "value",
        ),
        (
            "bad date",
            with("birthDate", json!("1990-13-45")),
            "Patient.birthDate",
            "value",
        ),
        (
            "array for a singleton",
            with("gender", json!(["male"])),
            "Patient.gender",
            "structure",
        ),
        (
            "object for a repeating element",
            with("name", json!({"family": "Single"})),
            "Patient.name",
            "structure",
        ),
        (
            "nested wrong shape",
            with("name", json!([{"given": "Ann"}])),
            "Patient.name[0].given",
            "structure",
        ),
        (
            "null",
            with("active", Value::Null),
            "Patient.active",
            "structure",
        ),
        (
            "empty object",
            with("maritalStatus", json!({})),
            "Patient.maritalStatus",
            "structure",
        ),
        (
            "unknown choice type",
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueFoo": 1}),
            "Observation.valueFoo",
            "structure",
        ),
        (
            "missing required element",
            json!({"resourceType": "Observation", "code": {"text": "x"}}),
            "Observation.status",
            "required",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_resources_are_400_naming_the_path_on_create_and_update() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        for (what, body, location, code) in invalid_bodies() {
            let resource_type = body["resourceType"].as_str().unwrap_or("").to_owned();
            let reply = app.post(&format!("{prefix}/{resource_type}"), &body).await;
            assert_eq!(
                reply.status,
                400,
                "create with {what}: {} {}",
                reply.status,
                reply.text()
            );
            let outcome = reply.outcome(400, code);
            assert!(
                mentions(&outcome, location),
                "create with {what}: the outcome should name {location}: {outcome}"
            );

            let id = unique("invalid");
            let mut update = body.clone();
            update["id"] = json!(id);
            let reply = app
                .put(&format!("{prefix}/{resource_type}/{id}"), &update)
                .await;
            assert_eq!(
                reply.status,
                400,
                "update with {what}: {} {}",
                reply.status,
                reply.text()
            );
            let outcome = reply.outcome(400, code);
            assert!(
                mentions(&outcome, location),
                "update with {what}: the outcome should name {location}: {outcome}"
            );
            app.get(&format!("{prefix}/{resource_type}/{id}"))
                .await
                .expect(404);
        }
    }
    assert_eq!(
        app.get("/r4/_history").await.resource(200)["total"],
        0,
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_does_not_echo_the_offending_value() {
    let app = TestApp::start().await;
    let body = json!({"resourceType": "Patient", "birthDate": "1961-02-31-secret"});
    let outcome = app.post("/r4/Patient", &body).await.outcome(400, "value");
    assert!(
        !outcome.to_string().contains("secret"),
        "the value may be patient data and must not be echoed: {outcome}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_type_that_differs_from_the_url_is_400() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let observation =
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
        let outcome = app
            .post(&format!("{prefix}/Patient"), &observation)
            .await
            .outcome(400, "invalid");
        assert!(mentions(&outcome, "resourceType"), "{outcome}");
        let mut with_id = observation.clone();
        with_id["id"] = json!("mismatch");
        let outcome = app
            .put(&format!("{prefix}/Patient/mismatch"), &with_id)
            .await
            .outcome(400, "invalid");
        assert!(mentions(&outcome, "resourceType"), "{outcome}");
        let outcome = app
            .post(&format!("{prefix}/Patient"), &json!({"active": true}))
            .await
            .outcome(400, "required");
        assert!(mentions(&outcome, "resourceType"), "{outcome}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_missing_json_is_400() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        for (what, body) in [
            ("truncated", "{\"resourceType\": \"Patient\","),
            ("trailing garbage", "{\"resourceType\": \"Patient\"} x"),
            ("not json", "resourceType=Patient"),
            (
                "invalid utf-8 escape",
                "{\"resourceType\": \"Patient\", \"gender\": \"\\ud800\"}",
            ),
        ] {
            let reply = app
                .send(
                    app.request(Method::POST, &format!("{prefix}/Patient"))
                        .header(CONTENT_TYPE, FHIR_JSON)
                        .body(body),
                )
                .await;
            assert_eq!(
                reply.status,
                400,
                "{what}: {} {}",
                reply.status,
                reply.text()
            );
            reply.outcome(400, "structure");
        }
        for body in ["", "   "] {
            let reply = app
                .send(
                    app.request(Method::POST, &format!("{prefix}/Patient"))
                        .header(CONTENT_TYPE, FHIR_JSON)
                        .body(body),
                )
                .await;
            reply.outcome(400, "required");
        }
        for body in ["[]", "\"Patient\"", "null"] {
            let reply = app
                .send(
                    app.request(Method::POST, &format!("{prefix}/Patient"))
                        .header(CONTENT_TYPE, FHIR_JSON)
                        .body(body),
                )
                .await;
            reply.outcome(400, "structure");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_nested_ten_thousand_deep_is_400_not_500() {
    let app = TestApp::start().await;
    let depth = 10_000;
    let nested = format!(
        "{{\"resourceType\": \"Patient\", \"extension\": {}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let nested_objects = format!(
        "{{\"resourceType\": \"Patient\", \"x\": {}1{}}}",
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    let id = id_of(&app.create("/r4", &patient(&unique("deep"))).await);
    for prefix in PREFIXES {
        for body in [&nested, &nested_objects] {
            for (method, path) in [
                (Method::POST, format!("{prefix}/Patient")),
                (Method::PUT, format!("{prefix}/Patient/{id}")),
                (Method::POST, prefix.to_owned()),
                (Method::PATCH, format!("{prefix}/Patient/{id}")),
            ] {
                let content_type = if method == Method::PATCH {
                    "application/json-patch+json"
                } else {
                    FHIR_JSON
                };
                let reply = app
                    .send(
                        app.request(method.clone(), &path)
                            .header(CONTENT_TYPE, content_type)
                            .body(body.clone()),
                    )
                    .await;
                assert_eq!(
                    reply.status,
                    400,
                    "{method} {path}: {} {}",
                    reply.status,
                    reply.text()
                );
                assert_eq!(reply.json()["resourceType"], "OperationOutcome");
            }
        }
    }
    // Deeply nested extensions that JSON parsing accepts reach the validator, which must answer
    // without exhausting its stack.
    let mut deep = json!({"url": "http://example.org/leaf", "valueString": "leaf"});
    for _ in 0..60 {
        deep = json!({"url": "http://example.org/level", "extension": [deep]});
    }
    let reply = app
        .post(
            "/r4/Patient",
            &json!({"resourceType": "Patient", "extension": [deep]}),
        )
        .await;
    assert!(
        matches!(reply.status, 201 | 400),
        "{} {}",
        reply.status,
        reply.text()
    );
    app.get("/healthz").await.expect(200);
}

/// A valid Patient of roughly `n_bytes`.
fn patient_of_size(n_bytes: usize) -> Value {
    let mut body = patient(&unique("large"));
    body["name"][0]["family"] = json!("x".repeat(n_bytes));
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413() {
    let app = TestApp::builder().max_body_bytes(4096).start().await;
    for prefix in PREFIXES {
        app.create(prefix, &patient_of_size(1000)).await;
        let large = patient_of_size(8000);
        app.post(&format!("{prefix}/Patient"), &large)
            .await
            .outcome(413, "too-costly");
        let mut large_update = large.clone();
        large_update["id"] = json!("large-update");
        app.put(&format!("{prefix}/Patient/large-update"), &large_update)
            .await
            .outcome(413, "too-costly");
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": large, "request": {"method": "POST", "url": "Patient"}}]});
        app.post(prefix, &bundle).await.outcome(413, "too-costly");
    }
    app.get("/r4/Patient/large-update").await.expect(404);
    assert_eq!(
        app.get("/r4/_history").await.resource(200)["total"],
        2,
        "only the small creates were written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_413() {
    let app = TestApp::builder().max_body_bytes(4096).start().await;
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let body = patient_of_size(16_000).to_string();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connecting");
    let head = format!(
        "POST /r4/Patient HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: {FHIR_JSON}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let mut request = head.into_bytes();
    // Six chunks exceed the limit; the terminating chunk is never sent, so the server must refuse
    // on the size alone, and having read everything sent it closes cleanly.
    for chunk in body.as_bytes().chunks(1024).take(6) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    stream
        .write_all(&request)
        .await
        .expect("sending the request");
    let mut response = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "no answer within 20 s");
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "expected a 413, got: {text}"
    );
    assert!(
        text.contains("OperationOutcome"),
        "the 413 is an OperationOutcome: {text}"
    );
    assert_eq!(
        app.get("/r4/_history").await.resource(200)["total"],
        0,
        "nothing was written"
    );
}
