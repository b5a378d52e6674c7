//! [Content negotiation](https://hl7.org/fhir/R4/http.html#mime-type): Hale reads and writes FHIR
//! JSON only, and answers anything else with a precise 406 or 415 OperationOutcome.

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use crate::support::{PREFIXES, TestApp, id_of, patient, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_xml_is_406() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("format"))).await);
    for prefix in PREFIXES {
        for format in ["xml", "application/fhir%2Bxml", "text/xml", "turtle"] {
            app.get(&format!("{prefix}/Patient/{id}?_format={format}"))
                .await
                .outcome(406, "not-supported");
            app.get(&format!("{prefix}/metadata?_format={format}"))
                .await
                .outcome(406, "not-supported");
            app.post(
                &format!("{prefix}/Patient?_format={format}"),
                &patient("refused"),
            )
            .await
            .outcome(406, "not-supported");
        }
        for format in ["json", "application/json", "application/fhir%2Bjson"] {
            app.get(&format!("{prefix}/Patient/{id}?_format={format}"))
                .await
                .resource(200);
        }
    }
    let history = app.get("/r4/Patient/_history").await.resource(200);
    assert_eq!(history["total"], 1, "the refused creates wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_parameter_wins_over_accept() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("format-wins"))).await);
    for prefix in PREFIXES {
        let json_wins = app
            .request(Method::GET, &format!("{prefix}/Patient/{id}?_format=json"))
            .header(ACCEPT, "application/fhir+xml");
        assert_eq!(app.send(json_wins).await.resource(200)["id"], id.as_str());
        let xml_wins = app
            .request(Method::GET, &format!("{prefix}/Patient/{id}?_format=xml"))
            .header(ACCEPT, "application/fhir+json");
        app.send(xml_wins).await.outcome(406, "not-supported");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_xml_is_406_and_accept_json_works() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("accept"))).await);
    for prefix in PREFIXES {
        let path = format!("{prefix}/Patient/{id}");
        for accept in ["application/fhir+xml", "application/xml", "text/html"] {
            app.send(app.request(Method::GET, &path).header(ACCEPT, accept))
                .await
                .outcome(406, "not-supported");
        }
        for accept in [
            "application/fhir+json",
            "application/json",
            "application/json+fhir",
            "*/*",
            "application/fhir+xml, application/fhir+json;q=0.5",
            "application/fhir+json; fhirVersion=4.0",
        ] {
            let reply = app
                .send(app.request(Method::GET, &path).header(ACCEPT, accept))
                .await;
            assert_eq!(
                reply.status,
                200,
                "Accept: {accept} answered {} {}",
                reply.status,
                reply.text()
            );
            assert_eq!(reply.json()["id"], id.as_str());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xml_or_other_request_body_is_415() {
    let app = TestApp::start().await;
    let xml = "<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"true\"/></Patient>";
    for prefix in PREFIXES {
        for content_type in ["application/fhir+xml", "application/xml", "text/plain"] {
            let reply = app
                .send(
                    app.request(Method::POST, &format!("{prefix}/Patient"))
                        .header(CONTENT_TYPE, content_type)
                        .body(xml),
                )
                .await;
            reply.outcome(415, "not-supported");
        }
        let reply = app
            .send(
                app.request(Method::PUT, &format!("{prefix}/Patient/x1"))
                    .header(CONTENT_TYPE, "application/fhir+xml")
                    .body(xml),
            )
            .await;
        reply.outcome(415, "not-supported");
        let reply = app
            .send(
                app.request(Method::POST, prefix)
                    .header(CONTENT_TYPE, "application/fhir+xml")
                    .body("<Bundle/>"),
            )
            .await;
        reply.outcome(415, "not-supported");
    }
    let history = app.get("/r4/_history").await.resource(200);
    assert_eq!(history["total"], 0, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_application_json_bodies_are_accepted() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        for content_type in [
            "application/json",
            "application/fhir+json; charset=utf-8",
            "application/json; charset=UTF-8",
        ] {
            let body = patient(&unique("plain-json")).to_string();
            let reply = app
                .send(
                    app.request(Method::POST, &format!("{prefix}/Patient"))
                        .header(CONTENT_TYPE, content_type)
                        .body(body),
                )
                .await;
            let created = reply.resource(201);
            assert_eq!(
                created["resourceType"], "Patient",
                "Content-Type: {content_type}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fhir_answer_is_fhir_json() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("content-type"))).await);
    for path in [
        format!("/r4/Patient/{id}"),
        format!("/fhir/r4/Patient/{id}/_history"),
        "/r4/metadata".to_owned(),
        "/r4/Patient/missing".to_owned(),
    ] {
        let reply = app.get(&path).await;
        let content_type = reply.header("content-type").unwrap_or("");
        assert!(
            content_type.starts_with("application/fhir+json"),
            "{path}: Content-Type {content_type:?}"
        );
    }
}
