//! `hale import` and `hale synth`: files load with their ids, bad lines are reported without
//! stopping the load (unless `--strict`), and loading the same files again changes nothing.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{ServerProcess, observation, patient, run_hale};

fn with_id(mut resource: Value, id: &str) -> Value {
    resource["id"] = json!(id);
    resource
}

fn ndjson(resources: &[Value]) -> String {
    resources.iter().map(|r| format!("{r}\n")).collect()
}

/// Writes the test data into `dir`: an NDJSON file with two bad lines, a gzipped NDJSON file and
/// a transaction Bundle with a `urn:uuid` reference. Seven resources load: 4 Patients, 3
/// Observations.
fn write_data(dir: &Path) {
    let mut bad_resource = with_id(patient("p-bad"), "p-bad");
    bad_resource["birthDate"] = json!("not-a-date");
    let patients = format!(
        "{}{}\n{}\n{}",
        ndjson(&[with_id(patient("p1"), "p1"), with_id(patient("p2"), "p2")]),
        "{\"resourceType\": \"Patient\", not json",
        bad_resource,
        ndjson(&[with_id(patient("p3"), "p3")]),
    );
    std::fs::write(dir.join("patients.ndjson"), patients).expect("writing patients.ndjson");

    let observations = ndjson(&[
        with_id(observation("Patient/p1", "o1"), "o1"),
        with_id(observation("Patient/p2", "o2"), "o2"),
    ]);
    let file = std::fs::File::create(dir.join("observations.ndjson.gz"))
        .expect("creating observations.ndjson.gz");
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gz.write_all(observations.as_bytes()).expect("compressing");
    gz.finish().expect("finishing the gzip stream");

    let placeholder = "urn:uuid:9b1f0c1e-5a2d-4c3b-8e7f-000000000001";
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": placeholder, "resource": with_id(patient("b-p1"), "b-p1"), "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": "urn:uuid:9b1f0c1e-5a2d-4c3b-8e7f-000000000002", "resource": with_id(observation(placeholder, "b-o1"), "b-o1"), "request": {"method": "POST", "url": "Observation"}}
        ]
    });
    std::fs::write(dir.join("bundle.json"), bundle.to_string()).expect("writing bundle.json");
}

fn import_json(data_dir: &Path, paths: &[&Path], extra: &[&str]) -> crate::support::Finished {
    let mut args: Vec<std::ffi::OsString> = vec![
        "import".into(),
        "--data-dir".into(),
        data_dir.into(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(Into::into));
    args.extend(paths.iter().map(Into::into));
    run_hale(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_loads_ndjson_gzip_and_bundles_reports_bad_lines_and_is_idempotent() {
    let input = tempfile::tempdir().expect("a temporary directory");
    let data = tempfile::tempdir().expect("a temporary directory");
    write_data(input.path());

    let first = tokio::task::block_in_place(|| import_json(data.path(), &[input.path()], &[]));
    first.success();
    let summary = first.json();
    assert_eq!(summary["files"], 3, "{summary}");
    assert_eq!(summary["resources"], 7, "{summary}");
    assert_eq!(summary["rejected"], 2, "{summary}");
    assert_eq!(
        summary["totals"],
        json!({"Observation": 3, "Patient": 4}),
        "{summary}"
    );
    let errors = summary["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 2, "{summary}");
    for error in &errors {
        let location = error["location"].as_str().unwrap_or("");
        assert!(
            location.contains("patients.ndjson"),
            "the error names the file: {error}"
        );
        assert!(
            error["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "the error says why: {error}"
        );
    }
    assert!(
        errors
            .iter()
            .any(|e| e["location"].as_str().is_some_and(|l| l.contains("line 3"))),
        "the JSON error names its line: {errors:?}"
    );

    let second = tokio::task::block_in_place(|| import_json(data.path(), &[input.path()], &[]));
    second.success();
    let again = second.json();
    assert_eq!(
        again["totals"], summary["totals"],
        "a second import creates no duplicates: {again}"
    );
    assert_eq!(again["rejected"], 2);

    // The data serves as loaded: ids kept, the placeholder resolved, one version each.
    let server = ServerProcess::start(data.path(), &[]).await;
    let obs = server.get("/r4/Observation/b-o1").await.resource(200);
    assert_eq!(obs["subject"]["reference"], "Patient/b-p1");
    for id in ["p1", "p2", "p3", "b-p1"] {
        let history = server
            .get(&format!("/r4/Patient/{id}/_history"))
            .await
            .resource(200);
        assert_eq!(
            history["total"], 1,
            "Patient/{id} was written once, not once per import: {history}"
        );
    }
    for id in ["o1", "o2"] {
        assert_eq!(
            server
                .get(&format!("/r4/Observation/{id}"))
                .await
                .resource(200)["meta"]["versionId"],
            "1"
        );
    }
    server.get("/r4/Patient/p-bad").await.expect(404);
}

#[test]
fn import_strict_stops_at_the_first_rejection_with_a_failure_exit() {
    let input = tempfile::tempdir().expect("a temporary directory");
    let data = tempfile::tempdir().expect("a temporary directory");
    let file = input.path().join("bad.ndjson");
    std::fs::write(
        &file,
        format!("{}\nnot json\n", with_id(patient("s1"), "s1")),
    )
    .expect("writing bad.ndjson");
    let finished = import_json(data.path(), &[&file], &["--strict"]);
    assert!(
        !finished.status.success(),
        "--strict must fail on a bad line:\nstdout:\n{}\nstderr:\n{}",
        finished.stdout,
        finished.stderr
    );

    // Without --strict the same file loads its good line and succeeds.
    let finished = import_json(data.path(), &[&file], &[]);
    finished.success();
    assert_eq!(finished.json()["rejected"], 1);
    assert_eq!(finished.json()["totals"]["Patient"], 1);
}

#[test]
fn import_of_a_missing_path_fails() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let missing = data.path().join("no-such-file.ndjson");
    let finished = import_json(data.path(), &[&missing], &[]);
    assert!(
        !finished.status.success(),
        "importing a missing file must fail:\n{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("no-such-file.ndjson"),
        "the error names the path: {}",
        finished.stderr
    );
}

/// Every line of every `.ndjson` file in `dir`, by file name.
fn ndjson_lines(dir: &Path) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("reading the synth folder")
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".ndjson") {
            let text = std::fs::read_to_string(entry.path()).expect("reading an NDJSON file");
            lines.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| (name.clone(), l.to_owned())),
            );
        }
    }
    lines
}

#[test]
fn synth_output_is_deterministic_and_imports_once() {
    let synth_a = tempfile::tempdir().expect("a temporary directory");
    let synth_b = tempfile::tempdir().expect("a temporary directory");
    let data = tempfile::tempdir().expect("a temporary directory");
    for out in [synth_a.path(), synth_b.path()] {
        let args: Vec<std::ffi::OsString> = vec![
            "synth".into(),
            "--patients".into(),
            "3".into(),
            "--seed".into(),
            "7".into(),
            "--out".into(),
            out.into(),
        ];
        run_hale(args).success();
    }
    let lines = ndjson_lines(synth_a.path());
    assert_eq!(
        lines,
        ndjson_lines(synth_b.path()),
        "the same seed gives the same records"
    );
    let n_patients = lines
        .iter()
        .filter(|(file, _)| file == "Patient.ndjson")
        .count();
    assert_eq!(n_patients, 3);

    let first = import_json(data.path(), &[synth_a.path()], &[]);
    first.success();
    let summary = first.json();
    assert_eq!(
        summary["rejected"], 0,
        "synthetic records are valid: {summary}"
    );
    assert_eq!(summary["resources"], lines.len(), "{summary}");
    let totals = summary["totals"].as_object().cloned().unwrap_or_default();
    assert_eq!(
        totals.values().filter_map(Value::as_u64).sum::<u64>(),
        lines.len() as u64,
        "every record is its own resource: {summary}"
    );
    assert_eq!(totals.get("Patient"), Some(&json!(3)));

    let second = import_json(data.path(), &[synth_a.path()], &[]);
    second.success();
    assert_eq!(
        second.json()["totals"],
        summary["totals"],
        "a second import creates no duplicates"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_the_search_index_of_every_resource() {
    let input = tempfile::tempdir().expect("a temporary directory");
    let data = tempfile::tempdir().expect("a temporary directory");
    write_data(input.path());
    tokio::task::block_in_place(|| import_json(data.path(), &[input.path()], &[])).success();
    let mut args: Vec<std::ffi::OsString> = vec!["reindex".into(), "--data-dir".into()];
    args.push(data.path().into());
    args.push("--json".into());
    let finished = tokio::task::block_in_place(|| run_hale(args));
    finished.success();
    let summary = finished.json();
    assert_eq!(
        summary["resources"], 7,
        "4 Patients and 3 Observations: {summary}"
    );
    // Searches answer from the rebuilt index, and the server does not call it stale.
    let server = ServerProcess::start(data.path(), &[]).await;
    let bundle = server
        .get("/r4/Observation?subject=Patient/p1&_include=Observation:subject")
        .await
        .resource(200);
    assert_eq!(bundle["total"], 1);
    assert_eq!(bundle["entry"].as_array().map(Vec::len), Some(2));
    let compartment = server
        .get("/r4/Patient/b-p1/Observation")
        .await
        .resource(200);
    assert_eq!(compartment["total"], 1);
    assert!(
        !server.log().contains("hale reindex"),
        "no stale-index warning after a reindex: {}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_rebuilds_an_index_built_by_other_rules_before_it_answers() {
    let input = tempfile::tempdir().expect("a temporary directory");
    let data = tempfile::tempdir().expect("a temporary directory");
    write_data(input.path());
    tokio::task::block_in_place(|| import_json(data.path(), &[input.path()], &[])).success();
    // What an upgrade leaves behind: index rows that this version's rules did not write (here,
    // none at all) and a fingerprint that is not this version's.
    {
        let db = rusqlite::Connection::open(data.path().join("hale.db")).expect("the database");
        db.execute_batch(
            "DELETE FROM idx_token; DELETE FROM idx_reference; \
             UPDATE meta SET value = 'older-rules' WHERE key = 'index_fingerprint';",
        )
        .expect("simulating an older index");
    }
    let server = ServerProcess::start(data.path(), &[]).await;
    let found = server
        .get("/r4/Observation?subject=Patient/p1")
        .await
        .resource(200);
    assert_eq!(found["total"], 1, "the rebuilt index answers: {found}");
    assert!(
        server.log().contains("rebuilding"),
        "the log says the index was rebuilt: {}",
        server.log()
    );
}
