//! The [create interaction](https://hl7.org/fhir/R4/http.html#create): `POST [base]/[type]`.

use serde_json::json;

use crate::support::{PREFIXES, TestApp, id_of, patient, unique};

/// `Last-Modified` is the HTTP date of `meta.lastUpdated`: the same day and second.
#[track_caller]
fn assert_last_modified_matches(last_modified: &str, last_updated: &str) {
    // `2024-05-06T07:08:09.123Z` against `Mon, 06 May 2024 07:08:09 GMT`.
    let (date, time) = last_updated
        .split_once('T')
        .expect("lastUpdated is an instant");
    let (year, rest) = date.split_once('-').expect("a year");
    let (_, day) = rest.split_once('-').expect("a month and day");
    assert!(
        last_modified.ends_with(" GMT"),
        "Last-Modified {last_modified:?} is not an HTTP date"
    );
    assert!(
        last_modified.contains(&format!(" {day} ")),
        "Last-Modified {last_modified:?} is not the day of {last_updated}"
    );
    assert!(
        last_modified.contains(&format!(" {year} {}", &time[..8])),
        "Last-Modified {last_modified:?} is not the time of {last_updated}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_answers_201_with_location_etag_last_modified_and_a_server_assigned_id() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let mut body = patient(&unique("create"));
        body["id"] = json!("client-chosen-id");
        let reply = app.post(&format!("{prefix}/Patient"), &body).await;
        let created = reply.resource(201);

        let id = id_of(&created);
        assert_ne!(
            id, "client-chosen-id",
            "create must ignore the id in the body"
        );
        assert_eq!(created["resourceType"], "Patient");
        assert_eq!(created["meta"]["versionId"], "1");
        assert!(
            created["meta"]["lastUpdated"].is_string(),
            "meta.lastUpdated is set: {created}"
        );
        assert_eq!(created["identifier"], body["identifier"]);
        assert_eq!(created["name"], body["name"]);

        let location = format!("{}{prefix}/Patient/{id}/_history/1", app.base_url);
        assert_eq!(
            reply.header("location"),
            Some(location.as_str()),
            "Location echoes the prefix {prefix}"
        );
        assert_eq!(reply.header("etag"), Some("W/\"1\""));
        let last_modified = reply
            .header("last-modified")
            .expect("a Last-Modified header");
        assert_last_modified_matches(
            last_modified,
            created["meta"]["lastUpdated"].as_str().unwrap_or(""),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_create_gets_a_new_id_even_for_identical_content() {
    let app = TestApp::start().await;
    let body = patient("same-content");
    let first = app.create("/r4", &body).await;
    let second = app.create("/r4", &body).await;
    assert_ne!(id_of(&first), id_of(&second));
    app.get(&format!("/r4/Patient/{}", id_of(&first)))
        .await
        .expect(200);
    app.get(&format!("/r4/Patient/{}", id_of(&second)))
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_prefer_return_minimal_answers_with_headers_and_no_body() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let request = app
            .with_body(
                reqwest::Method::POST,
                &format!("{prefix}/Patient"),
                &patient(&unique("minimal")),
            )
            .header("Prefer", "return=minimal");
        let reply = app.send(request).await;
        reply.expect(201);
        assert!(
            reply.body.is_empty(),
            "return=minimal has no body: {}",
            reply.text()
        );
        assert_eq!(reply.header("etag"), Some("W/\"1\""));
        assert!(reply.header("last-modified").is_some());
        let location = reply.header("location").expect("a Location header");
        let prefix_url = format!("{}{prefix}/Patient/", app.base_url);
        assert!(
            location.starts_with(&prefix_url) && location.ends_with("/_history/1"),
            "Location {location}"
        );
        // The resource was written: the Location reads back.
        let path = location.trim_start_matches(&app.base_url).to_owned();
        let stored = app.get(&path).await.resource(200);
        assert_eq!(stored["meta"]["versionId"], "1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_prefer_return_operation_outcome_answers_an_outcome() {
    let app = TestApp::start().await;
    let request = app
        .with_body(
            reqwest::Method::POST,
            "/r4/Patient",
            &patient(&unique("oo")),
        )
        .header("Prefer", "return=OperationOutcome");
    let reply = app.send(request).await;
    let outcome = reply.outcome(201, "informational");
    assert_eq!(outcome["issue"][0]["severity"], "information");
    assert_eq!(reply.header("etag"), Some("W/\"1\""));
    let location = reply
        .header("location")
        .expect("a Location header")
        .to_owned();
    app.get(location.trim_start_matches(&app.base_url))
        .await
        .resource(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_prefer_return_representation_answers_the_resource() {
    let app = TestApp::start().await;
    let request = app
        .with_body(
            reqwest::Method::POST,
            "/r4/Patient",
            &patient(&unique("repr")),
        )
        .header("Prefer", "return=representation");
    let reply = app.send(request).await;
    let created = reply.resource(201);
    assert_eq!(created["resourceType"], "Patient");
    let read = app.get(&format!("/r4/Patient/{}", id_of(&created))).await;
    assert_eq!(read.body, reply.body);
}
