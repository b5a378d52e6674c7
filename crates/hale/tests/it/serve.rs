//! `hale serve` as a process: the port line, the public URL, and a clean stop on SIGTERM.

use std::time::Duration;

use crate::support::{PREFIXES, ServerProcess, id_of, patient, run_hale, unique};

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
    // The printed token is a demo user's, and the operator's demo data is readable with it.
    let token = |lines: &[String]| -> String {
        lines
            .iter()
            .find_map(|l| l.split("Authorization: Bearer ").nth(1))
            .and_then(|rest| rest.split('\'').next())
            .expect("the demo prints a bearer token")
            .to_owned()
    };
    let first_token = token(&lines);
    let as_user = server.as_bearer(&first_token);
    as_user.get(&path).await.resource(200);
    // The demo has a provider directory the printed system search reaches.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("a directory of 24 health systems and payers")),
        "{lines:?}"
    );
    let systems = as_user.get("/api/all-systems").await.expect(200).json();
    assert_eq!(systems.as_array().map(Vec::len), Some(24));
    let harbor = as_user
        .get("/api/search?query=harbor")
        .await
        .expect(200)
        .json();
    assert_eq!(harbor[0]["name"], "Cape Harbor Hospital");
    as_user.anonymous().get(&path).await.expect(401);
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
    server
        .as_bearer(&token(&lines))
        .get(&path)
        .await
        .resource(200);
    let again = server.get("/r4/_history?_count=1").await.resource(200);
    assert_eq!(again["total"].as_u64(), Some(total));
}

/// `hale apps` registers a client whose credentials work on a server over the same data
/// directory, rotates its secret and disables it; `--json` is for scripts and never lists
/// secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_cli_registers_rotates_and_disables_clients() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().to_str().expect("a UTF-8 path").to_owned();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["apps", "--data-dir", &data_dir];
        all.extend_from_slice(args);
        let finished = run_hale(all);
        assert!(
            finished.status.success(),
            "hale apps {args:?}: {}",
            finished.stderr
        );
        serde_json::from_str(&finished.stdout).expect("JSON on stdout")
    };
    let created = json(&[
        "create",
        "--name",
        "CLI app",
        "--redirect-uri",
        "https://app.example/cb",
        "--json",
    ]);
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let first_secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(client_id.len(), 32);
    assert_eq!(first_secret.len(), 32);
    let listed = json(&["list", "--json"]);
    assert_eq!(listed[0]["client_id"], client_id.as_str());
    assert_eq!(listed[0]["redirect_uris"][0], "https://app.example/cb");
    assert!(
        !listed.to_string().contains(&first_secret),
        "list never shows secrets"
    );
    let db = std::fs::read(dir.path().join("hale.db")).unwrap();
    assert!(
        !db.windows(first_secret.len())
            .any(|w| w == first_secret.as_bytes()),
        "the secret is stored only as a hash"
    );

    let create_user = |server: &ServerProcess, secret: &str, name: &str| {
        let http = server.anonymous();
        let form = [
            ("client_id", client_id.clone()),
            ("client_secret", secret.to_owned()),
            ("app_user_id", name.to_owned()),
        ];
        async move {
            http.send(
                http.request(reqwest::Method::POST, "/user-management/v1/user")
                    .form(&form),
            )
            .await
            .status
        }
    };
    let server = ServerProcess::start(dir.path(), &[]).await;
    assert_eq!(create_user(&server, &first_secret, "u1").await, 200);
    drop(server);

    let rotated = json(&["rotate-secret", &client_id, "--json"]);
    let second_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(second_secret, first_secret);
    let server = ServerProcess::start(dir.path(), &[]).await;
    assert_eq!(create_user(&server, &first_secret, "u2").await, 401);
    assert_eq!(create_user(&server, &second_secret, "u2").await, 200);
    drop(server);

    let finished = run_hale(["apps", "--data-dir", &data_dir, "disable", &client_id]);
    assert!(finished.status.success(), "{}", finished.stderr);
    let server = ServerProcess::start(dir.path(), &[]).await;
    assert_eq!(create_user(&server, &second_secret, "u3").await, 401);
    let unknown = run_hale(["apps", "--data-dir", &data_dir, "disable", "0123"]);
    assert!(!unknown.status.success());
}

/// `hale migrate` brings an empty SQLite data directory and an empty PostgreSQL database to this
/// build's schema, a second run finds nothing to do, and `hale serve` runs on the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hale_migrate_prepares_sqlite_and_postgres() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    for _ in 0..2 {
        let done = run_hale(["migrate".as_ref(), "--data-dir".as_ref(), data.as_os_str()]);
        assert!(done.status.success(), "{}", done.stderr);
        assert!(
            done.stderr.contains("has this build's schema"),
            "{}",
            done.stderr
        );
    }
    assert!(data.join("hale.db").is_file());
    let Some(url) = hale_store_postgres::testing::fresh_database().await else {
        return;
    };
    for _ in 0..2 {
        let done = run_hale(["migrate", "--database", &url]);
        assert!(done.status.success(), "{}", done.stderr);
        assert!(
            done.stderr
                .contains("PostgreSQL database has this build's schema"),
            "{}",
            done.stderr
        );
    }
    // `hale serve` runs on the migrated database, and what it writes is in PostgreSQL: a second
    // process on the same database reads it.
    let first = ServerProcess::start(&dir.path().join("a"), &["--database", &url]).await;
    let created = first.create("/r4", &patient(&unique("pg"))).await;
    let path = format!("/r4/Patient/{}", id_of(&created));
    drop(first);
    let second = ServerProcess::start(&dir.path().join("b"), &["--database", &url]).await;
    let read = second.get(&path).await.resource(200);
    assert_eq!(read["identifier"], created["identifier"]);
}
