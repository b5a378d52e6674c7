//! Durability of the real `hale serve` process: every write Hale acknowledged survives a SIGKILL
//! in the middle of a write storm, and every transaction is wholly present or wholly absent after
//! the restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Http, SYSTEM, ServerProcess, id_of, observation, patient, token, version_of};

/// Concurrent writers.
const N_CLIENTS: usize = 8;
/// Writes each client attempts at most.
const MAX_OPS_PER_CLIENT: usize = 150;
/// The server is killed once this many writes (a transaction counts once) were acknowledged, or
/// at the deadline.
const KILL_AFTER_ACKS: usize = 600;
/// Longest time the storm runs before the kill.
const STORM_DEADLINE: Duration = Duration::from_secs(20);

/// A write the server answered with 2xx: this version (or a later one) must survive.
#[derive(Clone, Debug)]
struct Ack {
    /// `Type/id`.
    reference: String,
    version_id: u64,
}

/// How a transaction names its resources.
#[derive(Clone, Copy, Debug)]
enum Style {
    /// `PUT Type/id` with ids the client chose: presence is checked by reading the ids.
    ClientIds,
    /// `POST` with `urn:uuid` placeholders: presence is checked through each resource's unique
    /// identifier.
    Placeholders,
}

/// A transaction of one Patient and three Observations about it, sent once.
#[derive(Debug)]
struct TransactionAttempt {
    tag: String,
    style: Style,
    acknowledged: bool,
}

impl TransactionAttempt {
    /// The client ids of [`Style::ClientIds`].
    fn ids(&self) -> [(String, String); 4] {
        let tag = &self.tag;
        [
            ("Patient".into(), format!("dur-{tag}-p")),
            ("Observation".into(), format!("dur-{tag}-o1")),
            ("Observation".into(), format!("dur-{tag}-o2")),
            ("Observation".into(), format!("dur-{tag}-o3")),
        ]
    }

    /// The identifiers of [`Style::Placeholders`].
    fn identifiers(&self) -> [(String, String); 4] {
        let tag = &self.tag;
        [
            ("Patient".into(), format!("txn-{tag}-p")),
            ("Observation".into(), format!("txn-{tag}-o1")),
            ("Observation".into(), format!("txn-{tag}-o2")),
            ("Observation".into(), format!("txn-{tag}-o3")),
        ]
    }

    fn bundle(&self) -> Value {
        let entries: Vec<Value> = match self.style {
            Style::ClientIds => {
                let ids = self.ids();
                let subject = format!("Patient/{}", ids[0].1);
                ids.iter()
                    .enumerate()
                    .map(|(idx, (resource_type, id))| {
                        let mut resource = if idx == 0 { patient(&format!("{}-identifier", self.tag)) } else { observation(&subject, &format!("{id}-identifier")) };
                        resource["id"] = json!(id);
                        json!({"resource": resource, "request": {"method": "PUT", "url": format!("{resource_type}/{id}")}})
                    })
                    .collect()
            }
            Style::Placeholders => {
                let identifiers = self.identifiers();
                let placeholder = format!("urn:uuid:{}", placeholder_uuid(&self.tag));
                identifiers
                    .iter()
                    .enumerate()
                    .map(|(idx, (resource_type, identifier))| {
                        let resource = if idx == 0 { patient(identifier) } else { observation(&placeholder, identifier) };
                        let full_url = if idx == 0 { placeholder.clone() } else { format!("urn:uuid:{}", placeholder_uuid(identifier)) };
                        json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": resource_type}})
                    })
                    .collect()
            }
        };
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    }
}

/// A UUID-shaped placeholder derived from `text` (unique per text, which is all a placeholder needs).
fn placeholder_uuid(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        hash >> 32,
        hash & 0xffff_ffff_ffff
    )
}

/// What one client saw.
#[derive(Debug, Default)]
struct Record {
    acks: Vec<Ack>,
    transactions: Vec<TransactionAttempt>,
}

/// `Type/id` and version from a `…/Type/id/_history/N` location.
fn parse_location(location: &str) -> Option<Ack> {
    let mut parts = location.rsplit('/');
    let version_id = parts.next()?.parse().ok()?;
    let _history = parts.next()?;
    let id = parts.next()?;
    let resource_type = parts.next()?;
    Some(Ack {
        reference: format!("{resource_type}/{id}"),
        version_id,
    })
}

/// The response body of a request the server answered with `status`; `None` for any other
/// answer or none at all (the server may be dead).
async fn acknowledged(http: &Http, request: reqwest::RequestBuilder, status: u16) -> Option<Value> {
    let reply = http.try_send(request).await.ok()?;
    (reply.status == status).then(|| reply.json())
}

/// One writer of the storm: creates, updates of its own resources, and transactions.
async fn client(
    http: Http,
    client_idx: usize,
    n_acks: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Record {
    let mut record = Record::default();
    let mut own: Vec<Value> = Vec::new();
    for op_idx in 0..MAX_OPS_PER_CLIENT {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let tag = format!("c{client_idx}-{op_idx}");
        match (op_idx % 4, own.last().cloned()) {
            (2, Some(mut current)) => {
                current["name"] = json!([{"family": format!("Update{op_idx}")}]);
                let path = format!("/r4/Patient/{}", current["id"].as_str().unwrap_or(""));
                if let Some(updated) =
                    acknowledged(&http, http.with_body(Method::PUT, &path, &current), 200).await
                {
                    record.acks.push(Ack {
                        reference: format!("Patient/{}", id_of(&updated)),
                        version_id: version_of(&updated),
                    });
                    n_acks.fetch_add(1, Ordering::Relaxed);
                    if let Some(last) = own.last_mut() {
                        *last = updated;
                    }
                }
            }
            (3, _) => {
                let style = if (op_idx / 4) % 2 == 0 {
                    Style::ClientIds
                } else {
                    Style::Placeholders
                };
                let mut attempt = TransactionAttempt {
                    tag,
                    style,
                    acknowledged: false,
                };
                if let Some(response) = acknowledged(
                    &http,
                    http.with_body(Method::POST, "/r4", &attempt.bundle()),
                    200,
                )
                .await
                {
                    let entries = response["entry"].as_array().cloned().unwrap_or_default();
                    assert_eq!(
                        entries.len(),
                        4,
                        "a transaction-response per entry: {response}"
                    );
                    for entry in &entries {
                        let location = entry["response"]["location"].as_str().unwrap_or("");
                        let ack = parse_location(location).unwrap_or_else(|| {
                            panic!("a response entry without a version location: {entry}")
                        });
                        record.acks.push(ack);
                    }
                    attempt.acknowledged = true;
                    n_acks.fetch_add(1, Ordering::Relaxed);
                }
                record.transactions.push(attempt);
            }
            _ => {
                let request = http.with_body(
                    Method::POST,
                    "/r4/Patient",
                    &patient(&format!("create-{tag}")),
                );
                if let Some(created) = acknowledged(&http, request, 201).await {
                    record.acks.push(Ack {
                        reference: format!("Patient/{}", id_of(&created)),
                        version_id: version_of(&created),
                    });
                    n_acks.fetch_add(1, Ordering::Relaxed);
                    own.push(created);
                }
            }
        }
    }
    record
}

/// Whether the resource with the given identifier exists, asked with a conditional create that
/// answers 200 for the single match and 201 (creating a probe resource with the same unique
/// identifier, which no later check looks at twice) when there is none.
async fn exists_by_identifier(http: &Http, resource_type: &str, identifier: &str) -> bool {
    let probe = if resource_type == "Patient" {
        patient(identifier)
    } else {
        observation("Patient/probe", identifier)
    };
    let condition = format!("identifier={}", token(identifier));
    let reply = http
        .send(
            http.with_body(Method::POST, &format!("/r4/{resource_type}"), &probe)
                .header("If-None-Exist", condition),
        )
        .await;
    match reply.status {
        200 => true,
        201 => false,
        other => panic!(
            "probing {resource_type} {SYSTEM}|{identifier}: {other} {}",
            reply.text()
        ),
    }
}

/// How many of a transaction's four resources exist after the restart.
async fn n_present(http: &Http, attempt: &TransactionAttempt) -> usize {
    let mut n = 0;
    match attempt.style {
        Style::ClientIds => {
            for (resource_type, id) in attempt.ids() {
                let reply = http.get(&format!("/r4/{resource_type}/{id}")).await;
                match reply.status {
                    200 => n += 1,
                    404 => {}
                    other => panic!("reading {resource_type}/{id}: {other} {}", reply.text()),
                }
            }
        }
        Style::Placeholders => {
            for (resource_type, identifier) in attempt.identifiers() {
                if exists_by_identifier(http, &resource_type, &identifier).await {
                    n += 1;
                }
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_and_transactions_stay_atomic() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = ServerProcess::start(dir.path(), &[]).await;
    let http: Http = (*server).clone();

    let n_acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..N_CLIENTS)
        .map(|idx| tokio::spawn(client(http.clone(), idx, n_acks.clone(), stop.clone())))
        .collect();

    // Kill in the middle of the storm, with writes in flight.
    let deadline = Instant::now() + STORM_DEADLINE;
    while n_acks.load(Ordering::Relaxed) < KILL_AFTER_ACKS
        && Instant::now() < deadline
        && !clients.iter().all(|c| c.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let records = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(clients))
        .await
        .expect("the clients stop after the kill");
    let records: Vec<Record> = records
        .into_iter()
        .map(|r| r.expect("a client task panicked"))
        .collect();
    let acks: Vec<&Ack> = records.iter().flat_map(|r| &r.acks).collect();
    let attempts: Vec<&TransactionAttempt> = records.iter().flat_map(|r| &r.transactions).collect();
    let n_acknowledged_transactions = attempts.iter().filter(|a| a.acknowledged).count();
    eprintln!(
        "killed after {} acknowledged versions; {} transactions sent, {n_acknowledged_transactions} acknowledged",
        acks.len(),
        attempts.len()
    );
    assert!(
        acks.len() >= 40,
        "the storm acknowledged only {} writes before the kill",
        acks.len()
    );
    assert!(
        n_acknowledged_transactions > 0,
        "no transaction was acknowledged before the kill"
    );

    let restarted = ServerProcess::start(dir.path(), &[]).await;
    let http: &Http = &restarted;

    let lost: Vec<String> = futures::stream::iter(acks.iter().map(|ack| async move {
        let reply = http.get(&format!("/r4/{}", ack.reference)).await;
        if reply.status != 200 {
            return Some(format!(
                "{} v{}: {} {}",
                ack.reference,
                ack.version_id,
                reply.status,
                reply.text()
            ));
        }
        let version_id = version_of(&reply.json());
        (version_id < ack.version_id).then(|| {
            format!(
                "{} v{} came back as v{version_id}",
                ack.reference, ack.version_id
            )
        })
    }))
    .buffer_unordered(8)
    .filter_map(|lost| async move { lost })
    .collect()
    .await;
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes were lost after SIGKILL:\n{}",
        lost.len(),
        acks.len(),
        lost.join("\n")
    );

    let torn: Vec<String> = futures::stream::iter(attempts.iter().map(|attempt| async move {
        let n = n_present(http, attempt).await;
        let whole = if attempt.acknowledged {
            n == 4
        } else {
            n == 0 || n == 4
        };
        (!whole).then(|| {
            format!(
                "transaction {} ({:?}, acknowledged: {}) has {n} of 4 resources",
                attempt.tag, attempt.style, attempt.acknowledged
            )
        })
    }))
    .buffer_unordered(8)
    .filter_map(|torn| async move { torn })
    .collect()
    .await;
    assert!(
        torn.is_empty(),
        "transactions are not all-or-nothing after SIGKILL:\n{}",
        torn.join("\n")
    );

    // The restarted server takes new writes.
    http.create("/r4", &patient("after-restart")).await;
}
