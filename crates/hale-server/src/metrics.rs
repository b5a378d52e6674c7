//! Prometheus metrics, kept in atomics and written in the text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the request latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OTHER"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Request counters and latency.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 5]; 6],
    buckets: [AtomicU64; 10],
    duration_micros: AtomicU64,
    count: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, method: &str, status: u16, elapsed: Duration) {
        let m = METHODS
            .iter()
            .position(|x| *x == method)
            .unwrap_or(METHODS.len() - 1);
        let c = usize::from((status / 100).clamp(1, 5) - 1);
        self.requests[m][c].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (idx, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[idx].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str(
            "# HELP hale_http_requests_total HTTP requests answered, by method and status class.\n",
        );
        out.push_str("# TYPE hale_http_requests_total counter\n");
        for (m, method) in METHODS.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let n = self.requests[m][c].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "hale_http_requests_total{{method=\"{method}\",status=\"{class}\"}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP hale_http_request_duration_seconds Time to answer HTTP requests.\n");
        out.push_str("# TYPE hale_http_request_duration_seconds histogram\n");
        for (idx, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "hale_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                self.buckets[idx].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "hale_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "hale_http_request_duration_seconds_sum {}",
            self.duration_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "hale_http_request_duration_seconds_count {count}");
        out
    }
}
