//! W1, transaction ingest: the shared batch Bundles are POSTed first, one at a time, then the
//! patient transaction Bundles by [`CLIENTS`] concurrent clients, each on its own connection,
//! to a fresh server over a fresh store (an SQLite file, or a PostgreSQL database). The figure is entries committed per second of wall time, from the first
//! request to the last answer.
//!
//! Checks: every Bundle is answered `200`, every entry `201` or `200`, and the store then holds
//! exactly one resource per created entry and one per entry of the data.
//!
//! W5 loads its data through the same function, untimed, as a user ([`Owner::User`]) instead of
//! the operator, so that the data it reads is that user's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hyper::{StatusCode, Uri};
use serde::Deserialize;

use crate::client::{Answer, Connection};
use crate::data::IngestData;
use crate::report::RunChecks;
use crate::server::{Backend, BenchServer};

/// Concurrent clients POSTing patient Bundles.
pub const CLIENTS: usize = 4;

/// A resource the server created, for W3 (and W5) to read.
#[derive(Clone, Debug)]
pub struct ReadTarget {
    /// Its type.
    pub resource_type: String,
    /// Its id.
    pub id: String,
}

/// Whose credentials the Bundles are POSTed with, and so who owns what they create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The operator: the data has no owner, and every user may read it (W1, W3).
    Operator,
    /// The bench user of [`BenchServer::user_target`]: the data is that user's (W5).
    User,
}

/// What one Bundle of the data created.
#[derive(Clone, Debug)]
pub struct CreatedByBundle {
    /// The Bundle's name (its file).
    pub name: String,
    /// Whether it is a patient Bundle rather than a shared one.
    pub patient_bundle: bool,
    /// The resources it created, in entry order.
    pub created: Vec<ReadTarget>,
}

/// What one W1 run measured.
pub struct IngestRun {
    /// Entries committed per second.
    pub rate: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Entries answered `201` or `200`.
    pub committed: u64,
    /// The checks.
    pub checks: RunChecks,
    /// Resources per type in the store afterwards.
    pub by_type: Vec<(String, u64)>,
    /// Every created resource.
    pub targets: Vec<ReadTarget>,
    /// What each Bundle created, Bundle by Bundle.
    pub bundles: Vec<CreatedByBundle>,
}

#[derive(Deserialize)]
struct ResponseBundle {
    #[serde(default)]
    entry: Vec<ResponseEntry>,
}

#[derive(Deserialize)]
struct ResponseEntry {
    response: Option<EntryResponse>,
}

#[derive(Deserialize)]
struct EntryResponse {
    status: String,
    location: Option<String>,
}

/// Loads `data` into a fresh server over `backend` with `owner`'s credentials, and returns the
/// measurements with the server, which W3 (or W5) goes on to read from.
pub fn run(
    data: &IngestData,
    client: &tokio::runtime::Runtime,
    owner: Owner,
    backend: &Backend,
) -> anyhow::Result<(IngestRun, BenchServer)> {
    let server = BenchServer::start_fresh(backend)?;
    let target = match owner {
        Owner::Operator => server.target(),
        Owner::User => server.user_target(),
    };
    let shared = data.shared.clone();
    let patients = Arc::new(data.patients.clone());
    let (answers, seconds) = client.block_on(async move {
        let mut connections = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            connections.push(Connection::open(&target).await?);
        }
        let started = Instant::now();
        let mut answers: Vec<(String, bool, anyhow::Result<Answer>)> =
            Vec::with_capacity(shared.len() + patients.len());
        if let Some(first) = connections.first_mut() {
            for bundle in &shared {
                let answer = first
                    .post_fhir(Uri::from_static("/r4"), bundle.body.clone())
                    .await;
                answers.push((bundle.name.clone(), false, answer));
            }
        }
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = connections
            .into_iter()
            .map(|mut connection| {
                let (next, patients) = (next.clone(), patients.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    loop {
                        let idx = next.fetch_add(1, Ordering::Relaxed);
                        let Some(bundle) = patients.get(idx) else {
                            break;
                        };
                        let answer = connection
                            .post_fhir(Uri::from_static("/r4"), bundle.body.clone())
                            .await;
                        answers.push((bundle.name.clone(), true, answer));
                    }
                    answers
                })
            })
            .collect();
        for task in tasks {
            answers.extend(task.await?);
        }
        Ok::<_, anyhow::Error>((answers, started.elapsed().as_secs_f64()))
    })?;

    let mut checks = RunChecks::default();
    let (mut not_ok, mut created, mut existing, mut other) = (0u64, 0u64, 0u64, 0u64);
    let mut samples: Vec<String> = Vec::new();
    let mut targets = Vec::with_capacity(data.entries() as usize);
    let mut bundles = Vec::with_capacity(answers.len());
    for (name, patient_bundle, answer) in &answers {
        let answer = match answer {
            Ok(answer) if answer.status == StatusCode::OK => answer,
            Ok(answer) => {
                not_ok += 1;
                if samples.len() < 3 {
                    samples.push(format!("{name}: {}", answer.describe()));
                }
                continue;
            }
            Err(e) => {
                not_ok += 1;
                if samples.len() < 3 {
                    samples.push(format!("{name}: {e:#}"));
                }
                continue;
            }
        };
        let bundle: ResponseBundle = match serde_json::from_slice(&answer.body) {
            Ok(bundle) => bundle,
            Err(e) => {
                not_ok += 1;
                samples.push(format!("{name}: the response is not a Bundle: {e}"));
                continue;
            }
        };
        let mut by_bundle = CreatedByBundle {
            name: name.clone(),
            patient_bundle: *patient_bundle,
            created: Vec::new(),
        };
        for entry in bundle.entry {
            let status = entry.response.as_ref().map_or("", |r| r.status.as_str());
            if status.starts_with("201") {
                created += 1;
                if let Some(target) = entry
                    .response
                    .as_ref()
                    .and_then(|r| r.location.as_deref())
                    .and_then(parse_location)
                {
                    by_bundle.created.push(target.clone());
                    targets.push(target);
                }
            } else if status.starts_with("200") {
                existing += 1;
            } else {
                other += 1;
                if samples.len() < 3 {
                    samples.push(format!("{name}: an entry answered {status:?}"));
                }
            }
        }
        bundles.push(by_bundle);
    }
    let detail = |n: u64| {
        if samples.is_empty() {
            format!("{n}")
        } else {
            format!("{n}; {}", samples.join("; "))
        }
    };
    checks.check("every Bundle answered 200", not_ok == 0, detail(not_ok));
    checks.check("every entry answered 201 or 200", other == 0, detail(other));
    let committed = created + existing;
    checks.equal("entries answered = entries sent", committed, data.entries());
    checks.equal(
        "locations of created resources",
        targets.len() as u64,
        created,
    );
    let by_type = server.count_by_type()?;
    let store_total: u64 = by_type.iter().map(|(_, n)| n).sum();
    checks.equal(
        "resources in the store = created entries",
        store_total,
        created,
    );
    checks.equal(
        "resources in the store = entries of the data",
        store_total,
        data.entries(),
    );
    Ok((
        IngestRun {
            rate: committed as f64 / seconds.max(1e-9),
            seconds,
            committed,
            checks,
            by_type,
            targets,
            bundles,
        },
        server,
    ))
}

/// `http://host/r4/Patient/123/_history/1` → `Patient`, `123`.
fn parse_location(location: &str) -> Option<ReadTarget> {
    let (_, rest) = location.split_once("/r4/")?;
    let mut parts = rest.split('/');
    let resource_type = parts.next()?.to_owned();
    let id = parts.next()?.to_owned();
    (!resource_type.is_empty() && !id.is_empty()).then_some(ReadTarget { resource_type, id })
}

#[cfg(test)]
mod tests {
    #[test]
    fn locations_name_type_and_id() {
        let target = super::parse_location("http://127.0.0.1:1/r4/Patient/abc/_history/1");
        assert_eq!(
            target.map(|t| (t.resource_type, t.id)),
            Some(("Patient".into(), "abc".into()))
        );
        assert!(super::parse_location("http://127.0.0.1:1/other").is_none());
    }
}
