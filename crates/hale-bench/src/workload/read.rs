//! W3, read by id, and the HTTP ceiling it is compared with: both are closed loops over
//! [`CONNECTIONS`] keep-alive connections, for a fixed time after a warm-up.
//!
//! W3 reads `GET /r4/{type}/{id}` of resources W1 created: half the requests a random Patient,
//! half a random resource of any type. The HTTP ceiling asks for the fixed 1 KB route of the same
//! server. Checks: every answer is `200`, and carries the resource asked for (W3) or the full
//! fixed body (ceiling).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{StatusCode, Uri};
use serde_json::Value;

use crate::client::{self, Answer, LoopResult};
use crate::report::RunChecks;
use crate::server::{BenchServer, CEILING_BODY_BYTES, CEILING_PATH};
use crate::workload::ingest::ReadTarget;

/// Concurrent connections.
pub const CONNECTIONS: usize = 32;

/// What one duration-limited run measured.
pub struct LoadRun {
    /// Requests per second.
    pub rate: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Requests measured.
    pub requests: u64,
    /// Body bytes per second.
    pub body_bytes_per_sec: f64,
    /// The checks.
    pub checks: RunChecks,
}

impl LoadRun {
    /// The figures and checks of a closed loop's result.
    pub(crate) fn from_loop(result: &LoopResult) -> Self {
        let mut checks = RunChecks::default();
        let samples = if result.failure_samples.is_empty() {
            String::new()
        } else {
            format!("; {}", result.failure_samples.join("; "))
        };
        checks.check(
            "requests measured",
            result.requests > 0,
            format!("{}", result.requests),
        );
        checks.check(
            "every answer 200 with the expected body",
            result.failures == 0,
            format!("{} failed{samples}", result.failures),
        );
        LoadRun {
            rate: result.rate(),
            p50_ms: result.quantile_ms(0.50),
            p99_ms: result.quantile_ms(0.99),
            requests: result.requests,
            body_bytes_per_sec: result.body_bytes as f64 / result.window.as_secs_f64().max(1e-9),
            checks,
        }
    }
}

struct Target {
    uri: Uri,
    /// How the stored JSON starts: Hale writes `resourceType`, `id` and `meta` first.
    prefix: Bytes,
    resource_type: String,
    id: String,
}

/// Reads random resources among `targets` from `server`.
pub fn read_by_id(
    server: &BenchServer,
    targets: &[ReadTarget],
    client: &tokio::runtime::Runtime,
    warmup: Duration,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<LoadRun> {
    let all: Vec<Target> = targets
        .iter()
        .map(|t| {
            Ok(Target {
                uri: Uri::try_from(format!("/r4/{}/{}", t.resource_type, t.id))?,
                prefix: Bytes::from(format!(
                    r#"{{"resourceType":"{}","id":"{}""#,
                    t.resource_type, t.id
                )),
                resource_type: t.resource_type.clone(),
                id: t.id.clone(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let patients: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, t)| t.resource_type == "Patient")
        .map(|(idx, _)| idx)
        .collect();
    anyhow::ensure!(
        !all.is_empty(),
        "W3 has no resources to read: the load created none"
    );
    let all = Arc::new(all);
    let (all_next, all_check) = (all.clone(), all.clone());
    let next = move |task: usize, request: u64| {
        let r = splitmix64(seed ^ ((task as u64) << 40) ^ request);
        let idx = if r & 1 == 0 && !patients.is_empty() {
            patients[((r >> 1) % patients.len() as u64) as usize]
        } else {
            ((r >> 1) % all_next.len() as u64) as usize
        };
        (all_next[idx].uri.clone(), idx)
    };
    let check = move |idx: usize, answer: &Answer| {
        let target = &all_check[idx];
        if answer.status != StatusCode::OK {
            return Some(format!(
                "{}/{}: {}",
                target.resource_type, target.id, answer.status
            ));
        }
        if answer.body.starts_with(&target.prefix) {
            return None;
        }
        // The prefix is a fast path; the JSON decides.
        let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let same = value["resourceType"] == target.resource_type.as_str()
            && value["id"] == target.id.as_str();
        (!same).then(|| {
            format!(
                "{}/{}: the body holds {}/{}",
                target.resource_type, target.id, value["resourceType"], value["id"]
            )
        })
    };
    let result = client.block_on(client::closed_loop(
        server.user_target(),
        CONNECTIONS,
        warmup,
        duration,
        next,
        check,
    ))?;
    Ok(LoadRun::from_loop(&result))
}

/// The fixed 1 KB route of `server`, with the same client as W3 and W5 and the connections of
/// the workload it is compared with ([`CONNECTIONS`] for W3).
pub fn http_ceiling(
    server: &BenchServer,
    client: &tokio::runtime::Runtime,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<LoadRun> {
    let uri = Uri::from_static(CEILING_PATH);
    let next = move |_: usize, _: u64| (uri.clone(), 0);
    let check = |_: usize, answer: &Answer| {
        if answer.status != StatusCode::OK {
            Some(format!("{CEILING_PATH}: {}", answer.status))
        } else if answer.body.len() != CEILING_BODY_BYTES {
            Some(format!("{CEILING_PATH}: {} bytes", answer.body.len()))
        } else {
            None
        }
    };
    let result = client.block_on(client::closed_loop(
        server.target(),
        connections,
        warmup,
        duration,
        next,
        check,
    ))?;
    Ok(LoadRun::from_loop(&result))
}

/// A well-mixed 64-bit hash, so each request's choice is random yet reproducible from the seed.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
