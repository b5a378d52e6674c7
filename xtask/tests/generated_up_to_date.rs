//! Checks that the committed tables in `crates/hale-fhir/src/generated/` are exactly what the
//! generator makes from the R4 core package and the Plan-Net package, so that nobody edits them by
//! hand and a change to the generator cannot land without its output.

use std::path::Path;

use xtask::fhir_tables;

#[test]
fn generated_fhir_tables_are_up_to_date() {
    let workspace_root = fhir_tables::workspace_root();
    // The packages are test data outside the repository; without them there is nothing to compare.
    let (Some(tgz), Some(plan_net_tgz)) = (
        read_package(
            "R4 core",
            &fhir_tables::package_path(&workspace_root),
            fhir_tables::PACKAGE_ENV,
        ),
        read_package(
            "Plan-Net",
            &fhir_tables::plan_net_package_path(&workspace_root),
            fhir_tables::PLAN_NET_PACKAGE_ENV,
        ),
    ) else {
        return;
    };
    let files = fhir_tables::generate(&tgz, &plan_net_tgz)
        .expect("the generator fails on the R4 core or Plan-Net package");
    let generated_dir = workspace_root.join(fhir_tables::GENERATED_DIR);

    let mut stale = Vec::new();
    for (name, expected) in &files {
        let path = generated_dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != *expected {
            stale.push(format!(
                "{} ({})",
                name.display(),
                first_difference(&committed, expected)
            ));
        }
    }
    let mut extra = Vec::new();
    for entry in std::fs::read_dir(&generated_dir).expect("the generated directory exists") {
        let path = entry.unwrap().path();
        let file_name = path.file_name().map(Path::new);
        if !files
            .iter()
            .any(|(name, _)| Some(name.as_path()) == file_name)
        {
            extra.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty() && extra.is_empty(),
        "the generated FHIR tables are out of date; run `cargo run -p xtask -- gen-fhir`\n\
         differing: {stale:?}\nnot generated: {extra:?}"
    );
}

/// The bytes of the package at `path`, or `None`, said on stderr, when there is none.
fn read_package(name: &str, path: &Path, variable: &str) -> Option<Vec<u8>> {
    let tgz = std::fs::read(path).ok();
    if tgz.is_none() {
        eprintln!(
            "note: skipping the generated-tables check: no {name} package at {} (set {variable})",
            path.display()
        );
    }
    tgz
}

fn first_difference(committed: &str, expected: &str) -> String {
    if committed.is_empty() {
        return "missing or empty".to_owned();
    }
    let line = committed
        .lines()
        .zip(expected.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(expected.lines().count()));
    format!("first difference at line {}", line + 1)
}
