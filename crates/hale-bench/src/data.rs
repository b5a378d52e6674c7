//! The inputs of the workloads, prepared before any timing starts: request bodies decompressed and
//! serialised, NDJSON files laid out in memory.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use hale_synth::SynthConfig;
use serde::Deserialize;
use serde_json::Value;

/// One Bundle to POST.
#[derive(Clone, Debug)]
pub struct PostBundle {
    /// Where it came from, for messages.
    pub name: String,
    /// The JSON bytes sent.
    pub body: Bytes,
    /// Its number of entries.
    pub entries: u64,
}

/// The Bundles of W1, in loading order.
#[derive(Clone, Debug)]
pub struct IngestData {
    /// What the data is, for the report.
    pub label: String,
    /// The batch Bundles of shared resources (organizations, practitioners), POSTed first and
    /// one at a time, because the patient Bundles reference them conditionally.
    pub shared: Vec<PostBundle>,
    /// The patient transaction Bundles, POSTed concurrently.
    pub patients: Vec<PostBundle>,
}

impl IngestData {
    /// Entries over all Bundles.
    pub fn entries(&self) -> u64 {
        self.shared
            .iter()
            .chain(&self.patients)
            .map(|b| b.entries)
            .sum()
    }

    /// Bytes over all Bundles.
    pub fn bytes(&self) -> u64 {
        self.shared
            .iter()
            .chain(&self.patients)
            .map(|b| b.body.len() as u64)
            .sum()
    }
}

#[derive(Deserialize)]
struct EntryCount {
    #[serde(default)]
    entry: Vec<serde::de::IgnoredAny>,
}

fn count_entries(name: &str, body: &[u8]) -> anyhow::Result<u64> {
    let counted: EntryCount =
        serde_json::from_slice(body).with_context(|| format!("{name} is not a JSON Bundle"))?;
    Ok(counted.entry.len() as u64)
}

/// A Synthea folder: `0-hospitalInformation*` and `0-practitionerInformation*` first, then every
/// other `*.json` or `*.json.bz2` as a patient Bundle. Decompression runs on every CPU.
pub fn synthea(dir: &Path) -> anyhow::Result<IngestData> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let name = file_name(path);
            name.ends_with(".json") || name.ends_with(".json.bz2")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no .json or .json.bz2 files", dir.display());
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = files.len().div_ceil(threads);
    let loaded: Vec<anyhow::Result<PostBundle>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|p| read_bundle(p)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err(anyhow::anyhow!("a decompression thread panicked"))]
                })
            })
            .collect()
    });
    let mut hospitals = Vec::new();
    let mut practitioners = Vec::new();
    let mut patients = Vec::new();
    for bundle in loaded {
        let bundle = bundle?;
        if bundle.name.starts_with("0-hospitalInformation") {
            hospitals.push(bundle);
        } else if bundle.name.starts_with("0-practitionerInformation") {
            practitioners.push(bundle);
        } else {
            patients.push(bundle);
        }
    }
    hospitals.extend(practitioners);
    Ok(IngestData {
        label: format!(
            "{} ({} Bundles)",
            dir.display(),
            hospitals.len() + patients.len()
        ),
        shared: hospitals,
        patients,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned()
}

fn read_bundle(path: &Path) -> anyhow::Result<PostBundle> {
    let name = file_name(path);
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut body = Vec::new();
    if name.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(std::io::BufReader::new(file)).read_to_end(&mut body)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut body)
    }
    .with_context(|| format!("reading {}", path.display()))?;
    let entries = count_entries(&name, &body)?;
    Ok(PostBundle {
        name,
        body: Bytes::from(body),
        entries,
    })
}

/// `hale-synth` Bundles: the shared batch Bundle, then one transaction Bundle per patient.
pub fn synth_bundles(config: &SynthConfig) -> anyhow::Result<IngestData> {
    let to_post = |name: String, bundle: Value| -> anyhow::Result<PostBundle> {
        let entries = bundle
            .get("entry")
            .and_then(Value::as_array)
            .map_or(0, |e| e.len() as u64);
        Ok(PostBundle {
            name,
            body: Bytes::from(serde_json::to_vec(&bundle)?),
            entries,
        })
    };
    let shared = vec![to_post(
        "shared".into(),
        hale_synth::shared_batch_bundle(config),
    )?];
    let patients = (0..config.patients)
        .map(|index| {
            to_post(
                format!("patient {index}"),
                hale_synth::patient_transaction_bundle(config, index),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(IngestData {
        label: format!(
            "hale-synth, {} patients, seed {}",
            config.patients, config.seed
        ),
        shared,
        patients,
    })
}

/// One NDJSON file in memory.
#[derive(Clone, Debug)]
pub struct NdjsonFile {
    /// Its name, `<type>.ndjson` as a bulk export writes.
    pub name: String,
    /// Its bytes: one resource per line.
    pub bytes: Bytes,
}

/// The input of W2.
#[derive(Clone, Debug)]
pub struct ImportData {
    /// What the data is, for the report.
    pub label: String,
    /// One file per resource type.
    pub files: Vec<NdjsonFile>,
    /// Resources per type.
    pub by_type: BTreeMap<String, u64>,
}

impl ImportData {
    /// Resources over all files.
    pub fn resources(&self) -> u64 {
        self.by_type.values().sum()
    }

    /// Bytes over all files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes.len() as u64).sum()
    }
}

/// `hale-synth`'s flat records (ids kept, literal references) as NDJSON, one file per type, the
/// layout of a FHIR bulk export.
pub fn synth_ndjson(config: &SynthConfig) -> anyhow::Result<ImportData> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for resource in hale_synth::records(config) {
        let resource_type = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let file = files.entry(resource_type.clone()).or_default();
        serde_json::to_writer(&mut *file, &resource)?;
        file.push(b'\n');
        *by_type.entry(resource_type).or_default() += 1;
    }
    Ok(ImportData {
        label: format!(
            "hale-synth flat records, {} patients, seed {}",
            config.patients, config.seed
        ),
        files: files
            .into_iter()
            .map(|(t, bytes)| NdjsonFile {
                name: format!("{t}.ndjson"),
                bytes: Bytes::from(bytes),
            })
            .collect(),
        by_type,
    })
}
