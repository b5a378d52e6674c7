//! The operational endpoints, the [capabilities interaction](https://hl7.org/fhir/R4/http.html#capabilities),
//! and the answers to paths and methods Hale does not serve.

use std::collections::HashSet;

use reqwest::Method;

use crate::support::{PREFIXES, TestApp, patient, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_200() {
    let app = TestApp::start().await;
    app.get("/healthz").await.expect(200);
    app.get("/readyz").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_method_and_status_class() {
    let app = TestApp::start().await;
    app.create("/r4", &patient(&unique("metrics"))).await;
    app.get("/r4/Patient/missing").await.expect(404);
    let reply = app.get("/metrics").await;
    reply.expect(200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        reply.header("content-type")
    );
    let text = reply.text();
    assert!(
        text.contains("# TYPE hale_http_requests_total counter"),
        "{text}"
    );
    let count = |series: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
    };
    assert!(count("hale_http_requests_total{method=\"POST\",status=\"2xx\"}") >= 1);
    assert!(count("hale_http_requests_total{method=\"GET\",status=\"4xx\"}") >= 1);
    assert!(
        text.contains("hale_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_a_capability_statement_of_every_type_and_interaction() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let statement = app.get(&format!("{prefix}/metadata")).await.resource(200);
        assert_eq!(statement["resourceType"], "CapabilityStatement");
        assert_eq!(statement["fhirVersion"], "4.0.1");
        assert_eq!(statement["kind"], "instance");
        assert!(
            statement["format"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == "application/fhir+json")),
            "{}",
            statement["format"]
        );
        let implementation_url = statement["implementation"]["url"].as_str().unwrap_or("");
        assert_eq!(
            implementation_url,
            format!("{}{prefix}", app.base_url),
            "implementation.url echoes the prefix"
        );

        let rest = &statement["rest"][0];
        assert_eq!(rest["mode"], "server");
        let resources = rest["resource"].as_array().expect("rest[0].resource");
        assert_eq!(resources.len(), 146, "every R4 resource type");
        let types: HashSet<&str> = resources
            .iter()
            .filter_map(|r| r["type"].as_str())
            .collect();
        assert_eq!(types.len(), 146, "each type once");
        for expected in [
            "Patient",
            "Observation",
            "Bundle",
            "Binary",
            "CapabilityStatement",
            "VerificationResult",
        ] {
            assert!(types.contains(expected), "{expected} is listed");
        }
        for resource in resources {
            let codes: HashSet<&str> = resource["interaction"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["code"].as_str())
                .collect();
            for code in [
                "read",
                "vread",
                "update",
                "patch",
                "delete",
                "history-instance",
                "history-type",
                "create",
                "search-type",
            ] {
                assert!(
                    codes.contains(code),
                    "{} lacks {code}: {codes:?}",
                    resource["type"]
                );
            }
        }
        let system: HashSet<&str> = rest["interaction"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["code"].as_str())
            .collect();
        // Search parameters and include values come from the table the parser resolves against.
        let observation = resources
            .iter()
            .find(|r| r["type"] == "Observation")
            .expect("Observation");
        let params: HashSet<&str> = observation["searchParam"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for name in [
            "code",
            "date",
            "subject",
            "code-value-quantity",
            "_id",
            "_lastUpdated",
            "_content",
        ] {
            assert!(
                params.contains(name),
                "Observation lacks searchParam {name}"
            );
        }
        let includes = observation["searchInclude"].to_string();
        assert!(includes.contains("\"Observation:subject\"") && includes.contains("\"*\""));
        let patient_revincludes = resources
            .iter()
            .find(|r| r["type"] == "Patient")
            .map(|r| r["searchRevInclude"].to_string())
            .unwrap_or_default();
        assert!(patient_revincludes.contains("\"Observation:subject\""));
        assert!(patient_revincludes.contains("\"Provenance:target\""));
        for code in ["transaction", "batch", "history-system", "search-system"] {
            assert!(
                system.contains(code),
                "rest[0].interaction lacks {code}: {system:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resource_types_and_paths_are_404_outcomes() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        for path in [
            format!("{prefix}/NotAType/1"),
            format!("{prefix}/patient/1"),
            format!("{prefix}/NotAType/1/_history/1"),
        ] {
            app.get(&path).await.outcome(404, "not-supported");
        }
        app.post(&format!("{prefix}/NotAType"), &patient("x"))
            .await
            .outcome(404, "not-supported");
        app.put(&format!("{prefix}/NotAType/1"), &patient("x"))
            .await
            .outcome(404, "not-supported");
        app.delete(&format!("{prefix}/NotAType/1"))
            .await
            .outcome(404, "not-supported");
    }
    let mut wrong = Vec::new();
    // Paths that are no FHIR base at all are unknown, whatever their shape: a single segment such
    // as `/favicon.ico` is not a FHIR version and must not answer 405 as if it were one.
    for path in [
        "/r5/Patient/1",
        "/fhir/r5/Patient/1",
        "/r4x/metadata",
        "/nothing/here/at/all",
        "/favicon.ico",
        "/fhir",
        "/r5",
    ] {
        let reply = app.get(path).await;
        if reply.status == 404 {
            reply.outcome(404, "not-supported");
        } else {
            wrong.push(format!("GET {path}: {} {}", reply.status, reply.text()));
        }
    }
    assert!(
        wrong.is_empty(),
        "unknown paths must answer 404:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_methods_are_405_outcomes() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        for (method, path) in [
            (Method::POST, format!("{prefix}/Patient/some-id")),
            (Method::PUT, format!("{prefix}/metadata")),
            (Method::DELETE, format!("{prefix}/metadata")),
            (Method::PATCH, format!("{prefix}/Patient")),
            (Method::DELETE, prefix.to_owned()),
            (Method::POST, format!("{prefix}/Patient/_history")),
            (
                Method::DELETE,
                format!("{prefix}/Patient/some-id/_history/1"),
            ),
        ] {
            let reply = app.send(app.request(method.clone(), &path)).await;
            assert_eq!(
                reply.status,
                405,
                "{method} {path}: {} {}",
                reply.status,
                reply.text()
            );
            reply.outcome(405, "not-supported");
        }
    }
}
