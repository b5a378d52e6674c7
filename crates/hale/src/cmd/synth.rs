//! `hale synth`: deterministic synthetic records as files, and the demo data for `hale serve --demo`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use hale_engine::{Context, Engine};
use hale_fhir::FhirVersion;
use hale_synth::SynthConfig;

/// The shape of the files `hale synth` writes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SynthFormat {
    /// One NDJSON file per resource type, resources with their ids (for `hale import` and W2).
    Ndjson,
    /// A batch Bundle of the shared resources and one transaction Bundle per patient with
    /// `urn:uuid` references (like Synthea's output; for W1).
    Bundle,
}

/// Settings of `hale synth`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// How many patients.
    #[arg(long, default_value_t = 100)]
    patients: u64,
    /// The random seed; the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The folder to write into.
    #[arg(long, default_value = "./synth")]
    out: PathBuf,
    /// NDJSON per type or transaction Bundles.
    #[arg(long, value_enum, default_value_t = SynthFormat::Ndjson)]
    format: SynthFormat,
}

/// Writes the records.
pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let config = SynthConfig::new(args.patients, args.seed);
    let mut n_resources = 0u64;
    match args.format {
        SynthFormat::Ndjson => {
            let mut files: std::collections::BTreeMap<String, std::io::BufWriter<std::fs::File>> =
                std::collections::BTreeMap::new();
            let mut write = |resource: &serde_json::Value| -> anyhow::Result<()> {
                let resource_type = resource
                    .get("resourceType")
                    .and_then(|v| v.as_str())
                    .unwrap_or("Unknown")
                    .to_owned();
                let file = match files.entry(resource_type.clone()) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let path = args.out.join(format!("{resource_type}.ndjson"));
                        e.insert(std::io::BufWriter::new(
                            std::fs::File::create(&path)
                                .with_context(|| format!("creating {}", path.display()))?,
                        ))
                    }
                };
                serde_json::to_writer(&mut *file, resource)?;
                file.write_all(b"\n")?;
                Ok(())
            };
            for resource in hale_synth::shared_resources(&config) {
                write(&resource)?;
                n_resources += 1;
            }
            for index in 0..config.patients {
                for resource in hale_synth::patient_records(&config, index) {
                    write(&resource)?;
                    n_resources += 1;
                }
            }
            for (_, mut file) in files {
                file.flush()?;
            }
        }
        SynthFormat::Bundle => {
            let shared = hale_synth::shared_batch_bundle(&config);
            n_resources += entry_count(&shared);
            std::fs::write(args.out.join("0-shared.json"), serde_json::to_vec(&shared)?)?;
            for index in 0..config.patients {
                let bundle = hale_synth::patient_transaction_bundle(&config, index);
                n_resources += entry_count(&bundle);
                std::fs::write(
                    args.out.join(format!("patient-{index:06}.json")),
                    serde_json::to_vec(&bundle)?,
                )?;
            }
        }
    }
    eprintln!(
        "Wrote {n_resources} resources for {} patients (seed {}) to {}",
        args.patients,
        args.seed,
        args.out.display()
    );
    Ok(())
}

fn entry_count(bundle: &serde_json::Value) -> u64 {
    bundle
        .get("entry")
        .and_then(|e| e.as_array())
        .map_or(0, |e| e.len() as u64)
}

/// The demo: patients loaded on first start of `hale serve --demo`.
const DEMO_PATIENTS: u64 = 25;
const DEMO_SEED: u64 = 2026;

/// Loads the demo data unless the store already holds data, and prints how to use it.
pub async fn load_demo(
    engine: &Engine,
    identity: &hale_auth::Identity,
    public_url: &str,
) -> anyhow::Result<()> {
    let ctx = Context::open(FhirVersion::R4);
    let counts = engine
        .store()
        .count_by_type(&ctx.scope, FhirVersion::R4)
        .await?;
    let config = SynthConfig::new(DEMO_PATIENTS, DEMO_SEED);
    if counts.is_empty() {
        // The flat records carry their ids, so the Patient named below is the one loaded.
        let mut n_resources = 0;
        let mut chunk = hale_synth::shared_resources(&config);
        for index in 0..config.patients {
            chunk.extend(hale_synth::patient_records(&config, index));
            if chunk.len() >= 1000 || index + 1 == config.patients {
                let results = engine
                    .import(&ctx, std::mem::take(&mut chunk))
                    .await
                    .map_err(|e| anyhow::anyhow!("loading demo data: {e}"))?;
                for result in results {
                    result.map_err(|e| anyhow::anyhow!("loading demo data: {e}"))?;
                    n_resources += 1;
                }
            }
        }
        let listed = hale_directory::list::parse_json(DEMO_DIRECTORY)?;
        let directory =
            hale::directory::import_list(engine, "the demo directory", listed, 1000).await?;
        if let Some(rejection) = directory.rejections.first() {
            anyhow::bail!("loading the demo directory: {}", rejection.reason);
        }
        eprintln!(
            "Loaded demo data: {n_resources} resources for {DEMO_PATIENTS} synthetic patients, and a directory of {} health systems and payers.",
            directory.created
        );
    }
    let patient = hale_synth::patient_records(&config, 0)
        .into_iter()
        .find(|r| r.get("resourceType").and_then(|v| v.as_str()) == Some("Patient"))
        .and_then(|r| r.get("id").and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let demo = identity.provision(DEMO_APP, DEMO_USER).await?;
    let auth = format!("-H 'Authorization: Bearer {}'", demo.tokens.access_token);
    eprintln!(
        "Demo app: client_id {} client_secret {}; demo user {} (oneup_user_id {}).",
        demo.app.client_id, demo.client_secret, DEMO_USER, demo.user.oneup_user_id
    );
    eprintln!(
        "Try:\n  curl {public_url}/r4/metadata\n  curl {auth} {public_url}/r4/Patient/{patient}\n  curl {auth} '{public_url}/r4/Observation?patient={patient}&_count=5'\n  curl {auth} {public_url}/r4/Patient/{patient}/_history\n  curl -X POST {auth} -H 'Content-Type: application/fhir+json' -d '{{\"resourceType\":\"Patient\",\"name\":[{{\"family\":\"Doe\"}}]}}' {public_url}/r4/Patient\n  curl -X POST -d client_id={} -d client_secret={} -d app_user_id=someone-else {public_url}/user-management/v1/user\n  curl {auth} '{public_url}/api/search?query=harbor'\n  curl '{public_url}/connect/system/clinical?client_id={}&client_secret={}&systemType=PayerPatientAccess'",
        demo.app.client_id, demo.client_secret, demo.app.client_id, demo.client_secret
    );
    Ok(())
}

/// The demo's directory: fictional health systems and payers (`hale directory import` list
/// format).
const DEMO_DIRECTORY: &str = include_str!("../demo/directory.json");

/// The name of the demo app.
const DEMO_APP: &str = "Hale demo";

/// The `app_user_id` of the demo user.
const DEMO_USER: &str = "demo-user";
