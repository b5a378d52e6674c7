//! The [read](https://hl7.org/fhir/R4/http.html#read) and
//! [vread](https://hl7.org/fhir/R4/http.html#vread) interactions.

use serde_json::json;

use crate::support::{PREFIXES, TestApp, id_of, mentions, patient, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_returns_exactly_the_bytes_that_create_returned() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app
            .post(&format!("{prefix}/Patient"), &patient(&unique("read")))
            .await;
        created.expect(201);
        let id = id_of(&created.json());
        // Both prefixes serve the same resource with the same bytes.
        for read_prefix in PREFIXES {
            let read = app.get(&format!("{read_prefix}/Patient/{id}")).await;
            read.resource(200);
            assert_eq!(
                read.body, created.body,
                "read under {read_prefix} differs from what create under {prefix} returned"
            );
            assert_eq!(read.header("etag"), Some("W/\"1\""));
            assert_eq!(
                read.header("last-modified"),
                created.header("last-modified")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_of_an_unknown_id_is_404_with_an_outcome() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let outcome = app
            .get(&format!("{prefix}/Patient/does-not-exist"))
            .await
            .outcome(404, "not-found");
        assert!(
            mentions(&outcome, "does-not-exist"),
            "the outcome names the id: {outcome}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_with_a_malformed_id_is_400() {
    let app = TestApp::start().await;
    let too_long = "a".repeat(65);
    for prefix in PREFIXES {
        for id in ["has_underscore", "with%20space", too_long.as_str()] {
            app.get(&format!("{prefix}/Patient/{id}"))
                .await
                .outcome(400, "value");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vread_returns_each_version_as_it_was() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let v1 = app
            .post(&format!("{prefix}/Patient"), &patient(&unique("vread")))
            .await;
        let created = v1.resource(201);
        let id = id_of(&created);
        let mut changed = created.clone();
        changed["active"] = json!(false);
        let v2 = app.put(&format!("{prefix}/Patient/{id}"), &changed).await;
        v2.resource(200);

        let old = app.get(&format!("{prefix}/Patient/{id}/_history/1")).await;
        old.resource(200);
        assert_eq!(
            old.body, v1.body,
            "vread of version 1 is version 1 as created"
        );
        assert_eq!(old.header("etag"), Some("W/\"1\""));
        let new = app.get(&format!("{prefix}/Patient/{id}/_history/2")).await;
        assert_eq!(new.body, v2.body);
        assert_eq!(new.header("etag"), Some("W/\"2\""));
        assert_eq!(
            app.get(&format!("{prefix}/Patient/{id}")).await.body,
            v2.body,
            "read is the latest version"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vread_of_a_missing_or_malformed_version_fails_precisely() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("vread-missing"))).await);
    for prefix in PREFIXES {
        app.get(&format!("{prefix}/Patient/{id}/_history/2"))
            .await
            .outcome(404, "not-found");
        app.get(&format!("{prefix}/Patient/unknown-id/_history/1"))
            .await
            .outcome(404, "not-found");
        for bad in ["abc", "0", "-1", "1.5"] {
            app.get(&format!("{prefix}/Patient/{id}/_history/{bad}"))
                .await
                .outcome(400, "value");
        }
    }
}
