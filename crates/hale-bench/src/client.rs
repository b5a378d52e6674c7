//! The load generator: keep-alive HTTP/1.1 connections, one per task, on a Tokio runtime of its
//! own in the same process as the server, so on the same machine and sharing its CPUs.
//!
//! It uses hyper's connection API directly: no pool, no redirects, no decompression, so that
//! it spends as little of the shared CPU as a client can.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;

/// Worker threads of the load generator's runtime.
pub const CLIENT_WORKER_THREADS: usize = 2;

/// The load generator's runtime.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_WORKER_THREADS)
        .thread_name("hale-bench-client")
        .enable_all()
        .build()?)
}

/// Where to send requests, and the `Authorization` header they carry.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The `Authorization` header of every request.
    pub authorization: HeaderValue,
}

/// One keep-alive connection to the server.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    authorization: HeaderValue,
}

/// A response: status and whole body.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The status and the start of the body, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        )
    }

    /// An error saying what answered what, unless the status is `200 OK`.
    pub fn ensure_ok(&self, what: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.status == StatusCode::OK,
            "{what} answered {}",
            self.describe()
        );
        Ok(())
    }
}

impl Connection {
    /// Opens a connection; call on the load generator's runtime.
    pub async fn open(target: &Target) -> anyhow::Result<Self> {
        let addr = target.addr;
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection task drives the socket; it ends when the sender is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            host: HeaderValue::from_str(&addr.to_string())?,
            authorization: target.authorization.clone(),
        })
    }

    /// `GET uri`.
    pub async fn get(&mut self, uri: Uri) -> anyhow::Result<Answer> {
        let request = self.get_request(uri)?;
        self.send(request).await
    }

    fn get_request(&self, uri: Uri) -> anyhow::Result<Request<Full<Bytes>>> {
        Ok(Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(HOST, self.host.clone())
            .header(hyper::header::AUTHORIZATION, self.authorization.clone())
            .body(Full::new(Bytes::new()))?)
    }

    /// `GET uri`, handing the body to `on_chunk` frame by frame as it arrives instead of
    /// collecting it, so that a download of any size holds one frame at a time. Returns the
    /// status and the `Content-Type`.
    pub async fn get_streamed(
        &mut self,
        uri: Uri,
        mut on_chunk: impl FnMut(&[u8]),
    ) -> anyhow::Result<(StatusCode, Option<HeaderValue>)> {
        let request = self.get_request(uri)?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let content_type = response.headers().get(hyper::header::CONTENT_TYPE).cloned();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                on_chunk(data);
            }
        }
        Ok((status, content_type))
    }

    /// `POST uri` with a FHIR JSON body, asking for `Prefer: return=minimal`.
    pub async fn post_fhir(&mut self, uri: Uri, body: Bytes) -> anyhow::Result<Answer> {
        self.post(uri, "application/fhir+json", Some("return=minimal"), body)
            .await
    }

    /// `POST uri` with a form body (`application/x-www-form-urlencoded`).
    pub async fn post_form(&mut self, uri: Uri, body: String) -> anyhow::Result<Answer> {
        self.post(
            uri,
            "application/x-www-form-urlencoded",
            None,
            Bytes::from(body),
        )
        .await
    }

    async fn post(
        &mut self,
        uri: Uri,
        content_type: &'static str,
        prefer: Option<&'static str>,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(HOST, self.host.clone())
            .header(hyper::header::AUTHORIZATION, self.authorization.clone())
            .header(hyper::header::CONTENT_TYPE, content_type);
        if let Some(prefer) = prefer {
            request = request.header("prefer", prefer);
        }
        self.send(request.body(Full::new(body))?).await
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Answer> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }
}

/// What a duration-limited closed loop measured.
#[derive(Debug, Default)]
pub struct LoopResult {
    /// Requests that completed inside the measured window.
    pub requests: u64,
    /// Requests whose answer failed its check (wrong status or body), or that failed outright.
    pub failures: u64,
    /// The first failures, described.
    pub failure_samples: Vec<String>,
    /// Body bytes received in the window.
    pub body_bytes: u64,
    /// The measured window.
    pub window: Duration,
    /// Latencies of the measured requests, in microseconds.
    pub latencies_us: Vec<u32>,
}

impl LoopResult {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// The `q`-quantile of the latencies, in milliseconds (`latencies_us` must be sorted).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latencies_us, q)
    }
}

/// The `q`-quantile of latencies in microseconds, sorted, in milliseconds; NaN for none.
pub fn quantile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

/// Runs `connections` tasks, each on its own connection, sending `next(task, request_idx)`'s
/// request as soon as the previous answer arrived, for `warmup` (not measured) and then
/// `duration`. `check` judges each answer and returns a description of what is wrong with it.
pub async fn closed_loop<N, C>(
    target: Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    next: N,
    check: C,
) -> anyhow::Result<LoopResult>
where
    N: Fn(usize, u64) -> (Uri, usize) + Send + Sync + 'static,
    C: Fn(usize, &Answer) -> Option<String> + Send + Sync + 'static,
{
    let next = std::sync::Arc::new(next);
    let check = std::sync::Arc::new(check);
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(Connection::open(&target).await?);
    }
    let measure_from = Instant::now() + warmup;
    let measure_until = measure_from + duration;
    let mut tasks = Vec::with_capacity(connections);
    for (task_idx, mut connection) in opened.into_iter().enumerate() {
        let (next, check, server) = (next.clone(), check.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut result = LoopResult::default();
            let mut request_idx = 0u64;
            loop {
                let started = Instant::now();
                if started >= measure_until {
                    break;
                }
                let (uri, target) = next(task_idx, request_idx);
                request_idx += 1;
                let answer = connection.get(uri).await;
                let measured = started >= measure_from;
                if !measured {
                    continue;
                }
                let elapsed = started.elapsed();
                result.requests += 1;
                result
                    .latencies_us
                    .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                let problem = match &answer {
                    Ok(answer) => {
                        result.body_bytes += answer.body.len() as u64;
                        check(target, answer)
                    }
                    Err(e) => Some(format!("request failed: {e:#}")),
                };
                if let Some(problem) = problem {
                    result.failures += 1;
                    if result.failure_samples.len() < 3 {
                        result.failure_samples.push(problem);
                    }
                    if answer.is_err() {
                        // The connection is gone; a fresh one keeps the loop honest.
                        match Connection::open(&server).await {
                            Ok(fresh) => connection = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            result
        }));
    }
    let mut total = LoopResult {
        window: duration,
        ..LoopResult::default()
    };
    for task in tasks {
        let result = task.await?;
        total.requests += result.requests;
        total.failures += result.failures;
        total.body_bytes += result.body_bytes;
        total.latencies_us.extend(result.latencies_us);
        for sample in result.failure_samples {
            if total.failure_samples.len() < 5 {
                total.failure_samples.push(sample);
            }
        }
    }
    total.latencies_us.sort_unstable();
    Ok(total)
}
