//! `hale serve` as a process: the port line, the public URL, and a clean stop on SIGTERM.

use std::time::Duration;

use crate::support::{PREFIXES, ServerProcess, id_of, patient, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_writes_absolute_urls_from_the_public_url_and_the_prefix_used() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server =
        ServerProcess::start(dir.path(), &["--public-url", "https://hale.example.org/"]).await;
    for prefix in PREFIXES {
        let reply = server
            .post(
                &format!("{prefix}/Patient"),
                &patient(&unique("public-url")),
            )
            .await;
        let id = id_of(&reply.resource(201));
        let location = format!("https://hale.example.org{prefix}/Patient/{id}/_history/1");
        assert_eq!(reply.header("location"), Some(location.as_str()));
        let statement = server
            .get(&format!("{prefix}/metadata"))
            .await
            .resource(200);
        assert_eq!(
            statement["implementation"]["url"],
            format!("https://hale.example.org{prefix}")
        );
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly_and_keeps_its_data() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = ServerProcess::start(dir.path(), &[]).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(id_of(
            &server.create("/r4", &patient(&unique("sigterm"))).await,
        ));
    }
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("running kill");
    assert!(signalled.success());
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "hale serve exited with {status} on SIGTERM:\n{}",
        server.log()
    );

    let restarted = ServerProcess::start(dir.path(), &[]).await;
    for id in ids {
        restarted
            .get(&format!("/r4/Patient/{id}"))
            .await
            .resource(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_once_and_the_patient_it_names_is_there() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = ServerProcess::start(dir.path(), &["--demo"]).await;
    let lines = server.log_lines();
    assert!(
        lines.iter().any(|l| l.starts_with("Loaded demo data: ")),
        "the first start loads demo data: {lines:?}"
    );
    let patient_url = lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix("curl "))
        .find(|url| url.contains("/r4/Patient/") && !url.contains("_history"))
        .expect("the demo names a Patient to read")
        .to_owned();
    let path = patient_url
        .split_once("/r4/")
        .map(|(_, rest)| format!("/r4/{rest}"))
        .expect("an /r4 URL");
    let patient = server.get(&path).await.resource(200);
    assert_eq!(patient["resourceType"], "Patient");
    let history = server.get("/r4/_history?_count=1").await.resource(200);
    let total = history["total"].as_u64().expect("a history total");
    assert!(
        total > 1000,
        "the demo has a realistic amount of data: {total}"
    );
    server.kill();

    let server = ServerProcess::start(dir.path(), &["--demo"]).await;
    let lines = server.log_lines();
    assert!(
        !lines.iter().any(|l| l.starts_with("Loaded demo data: ")),
        "a second start keeps the data it has: {lines:?}"
    );
    server.get(&path).await.resource(200);
    let again = server.get("/r4/_history?_count=1").await.resource(200);
    assert_eq!(again["total"].as_u64(), Some(total));
}
