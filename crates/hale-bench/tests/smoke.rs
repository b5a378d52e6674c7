//! Runs every workload once at a tiny size (two hale-synth patients, one run, 300 ms windows) and
//! checks the report's structure and that every check passed. The figures themselves mean
//! nothing at this size or in a debug build.

use std::time::Duration;

use hale_bench::{Options, Workload};

#[test]
fn every_workload_runs_small_and_reports() {
    // M needs the `hale` binary, which `cargo test -p hale-bench` does not build; it runs when a
    // build left one next to the test binary's folder.
    let with_memory = hale_bench::workload::memory::find_hale_binary(None).is_ok();
    let mut workloads = vec![Workload::W1, Workload::W2, Workload::W3, Workload::Ceilings];
    if with_memory {
        workloads.push(Workload::M);
    }
    let options = Options {
        data: None,
        patients: 2,
        seed: 7,
        workloads,
        runs: 1,
        duration: Duration::from_millis(300),
        hale_bin: None,
    };
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
    let written: serde_json::Value = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let latest: serde_json::Value = std::fs::read(dir.path().join("latest.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    assert_eq!(written, latest);
    assert_eq!(written["schema_version"], 1);
    assert_eq!(written["results"][0]["id"], "W1");
    assert_eq!(written["results"][0]["unit"], "resources/s");
    assert!(written["results"][0]["target"]["met"].is_boolean());
    assert!(written["machine"]["cpus"].as_u64().is_some_and(|n| n > 0));
}
