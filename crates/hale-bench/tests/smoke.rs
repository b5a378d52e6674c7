//! Runs every workload once at a tiny size (two hale-synth patients, or three Synthea patients for
//! W4; one run, 300 ms windows) and checks the report's structure and that every check passed.
//! The figures themselves mean nothing at this size or in a debug build.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hale_bench::server::Backend;
use hale_bench::{Options, Workload};

/// One run of `workloads` at the smallest sizes (two hale-synth patients, 300 ms windows), which
/// each test enlarges where its workload needs more.
fn small(workloads: Vec<Workload>) -> Options {
    Options {
        data: None,
        patients: 2,
        seed: 7,
        workloads,
        runs: 1,
        duration: Duration::from_millis(300),
        hale_bin: None,
        w4_resources: 0,
        w4_db: None,
        w4_pg_db: None,
        backends: vec![Backend::Sqlite],
        w5_mem_resources: 0,
        w8_systems: 0,
    }
}

#[test]
fn every_workload_runs_small_and_reports() {
    // M needs the `hale` binary, which `cargo test -p hale-bench` does not build; it runs when a
    // build left one next to the test binary's folder.
    let with_memory = hale_bench::workload::memory::find_hale_binary(None).is_ok();
    let mut workloads = vec![Workload::W1, Workload::W2, Workload::W3, Workload::Ceilings];
    if with_memory {
        workloads.push(Workload::M);
    }
    let options = small(workloads);
    let report = match hale_bench::run(&options) {
        Ok(report) => report,
        Err(e) => panic!("the harness failed: {e:#}"),
    };
    let markdown = report.to_markdown();
    assert!(report.all_correct, "a check failed:\n{markdown}");

    let mut expected = vec![
        "W1",
        "W2",
        "W3",
        "ceiling-http",
        "ceiling-storage-w1",
        "ceiling-storage-w2",
    ];
    if with_memory {
        expected.insert(3, "M");
    }
    let ids: Vec<&str> = report.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, expected);
    for result in &report.results {
        assert_eq!(result.runs.len(), 1, "{}", result.id);
        assert!(result.median > 0.0, "{} measured nothing", result.id);
        assert!(!result.checks.is_empty(), "{} checked nothing", result.id);
        assert!(
            markdown.contains(&format!("| {} ", result.id)),
            "{} is not in the table",
            result.id
        );
    }
    for (id, ceiling) in [
        ("W1", "ceiling-storage-w1"),
        ("W2", "ceiling-storage-w2"),
        ("W3", "ceiling-http"),
    ] {
        let ratio = report.result(id).and_then(|r| r.ceiling.as_ref());
        assert_eq!(ratio.map(|c| c.ceiling_id.as_str()), Some(ceiling), "{id}");
    }
    assert!(report.result("W3").and_then(|r| r.latency_ms).is_some());
    assert!(
        markdown.contains("| workload | figure | target | ratio to ceiling | runs | correct? |")
    );
    assert!(markdown.contains("load generator runs on the same machine"));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary folder: {e}"));
    let path = report
        .write_json(dir.path())
        .unwrap_or_else(|e| panic!("writing the JSON: {e:#}"));
    let written: serde_json::Value = json_file(&path);
    let latest: serde_json::Value = json_file(&dir.path().join("latest.json"));
    assert_eq!(written, latest);
    assert_eq!(written["schema_version"], 1);
    assert_eq!(written["results"][0]["id"], "W1");
    assert_eq!(written["results"][0]["unit"], "resources/s");
    assert!(written["results"][0]["target"]["met"].is_boolean());
    assert!(written["machine"]["cpus"].as_u64().is_some_and(|n| n > 0));
}

/// The synthea-120 folder: `HALE_SYNTHEA_DIR`, or `../shared/testdata/synthea-120` beside the
/// repository, as the other tests that read the shared test data find it.
fn synthea_dir() -> PathBuf {
    match std::env::var_os("HALE_SYNTHEA_DIR") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/synthea-120"),
    }
}

/// The W4 ids in report order.
const W4_IDS: &[&str] = &[
    "W4-obs-patient-code",
    "W4-obs-lab-date",
    "W4-patient-name",
    "W4-patient-birthdate",
    "W4-obs-count-male",
    "W4-condition-include",
    "W4-condition-plain",
    "W4-patient-revinclude",
    "W4-patient-plain",
    "W4-obs-code-value-quantity",
    "W4-condition-content",
    "W4-medreq-medication-code",
];

#[test]
fn the_search_mix_runs_small_and_checks_its_answers() {
    // W4 needs Synthea's Medication resources, which hale-synth does not write, so it runs over
    // the shared test data, and skips with a note without it, as the project's other tests that
    // read that data do.
    let dir = synthea_dir();
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let db_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary folder: {e}"));
    let db = db_dir.path().join("w4.db");
    // 5,000 resources are the shared Bundles (778 entries) and the first three patient Bundles
    // in file order: two women and a man born in 1991, so that the gender chain, the birth date
    // and the medication chain (the first Bundles hold Medications) all have matches.
    let options = |runs| Options {
        data: Some(dir.clone()),
        runs,
        w4_resources: 5_000,
        w4_db: Some(db.clone()),
        ..small(vec![Workload::W4])
    };
    let run = |runs| match hale_bench::run(&options(runs)) {
        Ok(report) => report,
        Err(e) => panic!("the harness failed: {e:#}"),
    };
    let built = run(1);
    let markdown = built.to_markdown();
    assert!(built.all_correct, "a check failed:\n{markdown}");
    let ids: Vec<&str> = built.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, W4_IDS);
    for result in &built.results {
        assert!(result.latency_ms.is_some(), "{} has no latency", result.id);
        assert!(!result.checks.is_empty(), "{} checked nothing", result.id);
        assert!(
            result.details["mean_total"].as_f64().is_some(),
            "{}",
            result.id
        );
        assert!(
            markdown.contains(&format!("| {} ", result.id)),
            "{} is not in the table",
            result.id
        );
        if result.id != "W4-obs-count-male" {
            assert!(result.median > 0.0, "{} measured nothing", result.id);
        }
    }
    let count = built.result("W4-obs-count-male");
    assert_eq!(count.map(|r| r.unit.as_str()), Some("matches/s"));
    assert!(
        count.is_some_and(|r| r.median > 0.0),
        "no male Observations counted"
    );
    for (id, plain) in [
        ("W4-condition-include", "W4-condition-plain"),
        ("W4-patient-revinclude", "W4-patient-plain"),
    ] {
        let ratio = built.result(id).and_then(|r| r.ceiling.as_ref());
        assert_eq!(ratio.map(|c| c.ceiling_id.as_str()), Some(plain), "{id}");
    }
    assert!(markdown.contains("W4 search mix"));
    let described = built.setup.w4_data.clone().unwrap_or_default();
    assert!(described.contains("5,"), "{described}");

    // A second run reuses the database the first one built and kept, and W6, when the `hale`
    // binary is there to serve it, exports the store W4 opened.
    assert!(db.with_extension("db.w4.json").is_file());
    let with_export = hale_bench::workload::memory::find_hale_binary(None).is_ok();
    let mut reuse = options(1);
    if with_export {
        reuse.workloads.push(Workload::W6);
    }
    let reused = match hale_bench::run(&reuse) {
        Ok(report) => report,
        Err(e) => panic!("the harness failed: {e:#}"),
    };
    assert!(
        reused.all_correct,
        "a check failed:\n{}",
        reused.to_markdown()
    );
    let described = reused.setup.w4_data.clone().unwrap_or_default();
    assert!(described.contains("reused from"), "{described}");
    if with_export {
        assert_export_reported(&reused, 5_000);
    }
}

/// The W6 rows of a report whose store held `at_least` resources.
fn assert_export_reported(report: &hale_bench::report::Report, at_least: u64) {
    let markdown = report.to_markdown();
    let w6 = report.result("W6");
    assert!(w6.is_some_and(|r| r.median > 0.0), "W6 measured nothing");
    assert_eq!(
        w6.and_then(|r| r.ceiling.as_ref())
            .map(|c| c.ceiling_id.as_str()),
        Some("ceiling-bytes")
    );
    let details = w6.map(|r| r.details.clone()).unwrap_or_default();
    assert!(
        details["resources"].as_u64().is_some_and(|n| n >= at_least),
        "{details:?}"
    );
    let modes = details["by_downloads"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(modes.len(), 2, "{details:?}");
    for mode in &modes {
        assert_eq!(mode["resources"], details["resources"], "{mode}");
    }
    assert!(
        report
            .result("ceiling-bytes")
            .is_some_and(|r| r.median > 0.0)
    );
    assert!(markdown.contains("### W6"), "{markdown}");
    assert!(markdown.contains("| W6 "), "{markdown}");
}

#[test]
fn the_export_runs_small_and_checks_its_files() {
    // W6 exports W4's store, built from the shared test data, through the `hale` binary; it
    // skips with a note without either, as W4 and M do.
    let dir = synthea_dir();
    if !dir.is_dir() || hale_bench::workload::memory::find_hale_binary(None).is_err() {
        eprintln!("skipped: {} or the hale binary is absent", dir.display());
        return;
    }
    let db_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary folder: {e}"));
    let options = Options {
        data: Some(dir),
        w4_resources: 3_000,
        w4_db: Some(db_dir.path().join("w6.db")),
        ..small(vec![Workload::W6])
    };
    let report = match hale_bench::run(&options) {
        Ok(report) => report,
        Err(e) => panic!("the harness failed: {e:#}"),
    };
    assert!(
        report.all_correct,
        "a check failed:\n{}",
        report.to_markdown()
    );
    let ids: Vec<&str> = report.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["W6", "ceiling-bytes"]);
    assert!(report.setup.w4_data.is_some());
    assert_export_reported(&report, 3_000);
}

#[test]
fn everything_runs_small_and_checks_its_pages() {
    // W5-mem needs the `hale` binary, as M does; it runs when a build left one beside the tests.
    let with_memory = hale_bench::workload::memory::find_hale_binary(None).is_ok();
    let mut workloads = vec![Workload::W5];
    if with_memory {
        workloads.push(Workload::W5Mem);
    }
    let options = Options {
        patients: 3,
        // Two pages of `_count=1000`, one of `_count=10000`.
        w5_mem_resources: 1_500,
        ..small(workloads)
    };
    let report = match hale_bench::run(&options) {
        Ok(report) => report,
        Err(e) => panic!("the harness failed: {e:#}"),
    };
    let markdown = report.to_markdown();
    assert!(report.all_correct, "a check failed:\n{markdown}");
    let mut expected = vec!["W5", "ceiling-http-w5"];
    if with_memory {
        expected.splice(1..1, ["W5-mem-1000", "W5-mem-10000"]);
    }
    let ids: Vec<&str> = report.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, expected);
    let w5 = report.result("W5");
    assert!(w5.is_some_and(|r| r.median > 0.0 && r.latency_ms.is_some()));
    assert_eq!(
        w5.and_then(|r| r.ceiling.as_ref())
            .map(|c| c.ceiling_id.as_str()),
        Some("ceiling-http-w5")
    );
    let sweep = w5.map(|r| r.details["sweep"].clone()).unwrap_or_default();
    assert_eq!(sweep["patients"], 3, "{sweep}");
    if with_memory {
        for (id, pages) in [("W5-mem-1000", 2.0), ("W5-mem-10000", 1.0)] {
            let details = report
                .result(id)
                .map(|r| r.details.clone())
                .unwrap_or_default();
            assert_eq!(details["pages"].as_f64(), Some(pages), "{id}");
            assert!(
                markdown.contains(&format!("| {id} ")),
                "{id} is not in the table"
            );
        }
        assert!(markdown.contains("### W5-mem"));
    }
}

#[test]
fn system_search_runs_small_and_checks_its_answers() {
    // W8 imports with `hale directory import` and searches a `hale serve`, so it needs the
    // `hale` binary, as M does, and one that has the directory; it skips with a note otherwise.
    let Ok(binary) = hale_bench::workload::memory::find_hale_binary(None) else {
        eprintln!("skipped: no hale binary beside the tests");
        return;
    };
    let has_directory = std::process::Command::new(&binary)
        .args(["directory", "import", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_directory {
        eprintln!("skipped: {} has no `directory import`", binary.display());
        return;
    }
    // A second of timed mix, so that a debug build's searches are measured at all.
    let options = Options {
        w8_systems: 2_000,
        duration: Duration::from_secs(1),
        ..small(vec![Workload::W8])
    };
    let report = match hale_bench::run(&options) {
        Ok(report) => report,
        Err(e) => panic!("the harness failed: {e:#}"),
    };
    let markdown = report.to_markdown();
    assert!(report.all_correct, "a check failed:\n{markdown}");
    let w8 = report.result("W8");
    assert!(w8.is_some_and(|r| r.median > 0.0 && r.latency_ms.is_some()));
    let kinds = w8
        .and_then(|r| r.details.get("by_kind"))
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    assert_eq!(kinds, 6);
    assert!(markdown.contains("### W8: system search by kind of query"));
}

/// The PostgreSQL server the tests run on, as `hale_store_postgres::testing` finds it
/// (`HALE_TEST_POSTGRES`, or the local default), or `None` outside CI when none answers. Under CI
/// (`CI` set) a missing server fails the test: CI must never pass by skipping PostgreSQL.
fn postgres_server() -> Option<String> {
    use hale_store_postgres::testing::{DEFAULT_TEST_SERVER, TEST_SERVER_VAR};

    let admin_url = std::env::var(TEST_SERVER_VAR).unwrap_or_else(|_| DEFAULT_TEST_SERVER.into());
    match hale_bench::pg::bench_databases(&admin_url) {
        Ok(_) => Some(admin_url),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL at {admin_url} is required under CI: {e:#}"
            );
            eprintln!("skipped: no PostgreSQL at {admin_url} ({e:#}); set {TEST_SERVER_VAR}");
            None
        }
    }
}

#[test]
fn ingest_and_read_run_small_on_postgres() {
    let Some(admin_url) = postgres_server() else {
        return;
    };
    let before = hale_bench::pg::bench_databases(&admin_url)
        .unwrap_or_else(|e| panic!("listing databases: {e:#}"));
    let options = Options {
        backends: vec![
            Backend::Sqlite,
            Backend::Postgres {
                admin_url: admin_url.clone(),
            },
        ],
        ..small(vec![Workload::W1, Workload::W3])
    };
    let report = match hale_bench::run(&options) {
        Ok(report) => report,
        Err(e) => panic!("the harness failed: {e:#}"),
    };
    let markdown = report.to_markdown();
    assert!(report.all_correct, "a check failed:\n{markdown}");
    let ids: Vec<(&str, &str)> = report
        .results
        .iter()
        .map(|r| (r.id.as_str(), r.backend.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("W1", "sqlite"),
            ("W3", "sqlite"),
            ("W1", "postgres"),
            ("W3", "postgres")
        ]
    );
    for id in ["W1", "W3"] {
        let result = report.result_on(id, "postgres");
        assert!(
            result.is_some_and(|r| r.median > 0.0),
            "{id} measured nothing"
        );
        assert!(
            markdown.contains(&format!("| {id} [PostgreSQL] ")),
            "{id} on PostgreSQL is not in the table"
        );
    }
    // W1 on PostgreSQL has its own target, and the side-by-side table compares both.
    let w1 = report.result_on("W1", "postgres");
    let target = w1.and_then(|r| r.target.as_ref()).map(|t| t.text.as_str());
    assert_eq!(target, Some("≥ 5,000 resources/s on PostgreSQL"));
    let compared: Vec<&str> = report.comparison.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(compared, ["W1", "W3"]);
    assert!(report.comparison.iter().all(|c| c.ratio > 0.0 && c.correct));
    assert!(markdown.contains("### SQLite and PostgreSQL side by side"));
    assert_eq!(report.setup.backends, ["sqlite", "postgres"]);

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary folder: {e}"));
    let path = report
        .write_json(dir.path())
        .unwrap_or_else(|e| panic!("writing the JSON: {e:#}"));
    let written: serde_json::Value = json_file(&path);
    assert_eq!(written["results"][2]["backend"], "postgres");
    assert_eq!(written["comparison"][0]["id"], "W1");
    assert!(written["comparison"][0]["target"]["met"].is_boolean());

    // Every database the run created is gone.
    let after = hale_bench::pg::bench_databases(&admin_url)
        .unwrap_or_else(|e| panic!("listing databases: {e:#}"));
    let left: Vec<&String> = after.iter().filter(|d| !before.contains(d)).collect();
    assert!(left.is_empty(), "databases left behind: {left:?}");
}

/// The JSON in the file at `path`, or `Null` when it is missing or not JSON, so that the
/// assertions on it fail with what they expected.
fn json_file(path: &std::path::Path) -> serde_json::Value {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}
