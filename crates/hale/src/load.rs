//! Loading resources into the store the way `hale import` does.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use hale_engine::{Context, Engine};
use serde_json::Value;

/// What went wrong with one resource or file.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// Where: the file, and the line or resource.
    pub location: String,
    /// Why.
    pub reason: String,
}

/// Counts shared by the loads of one import.
#[derive(Debug, Default)]
pub struct Tally {
    /// Resources written.
    pub resources: AtomicU64,
    /// Lines, resources or files refused.
    pub rejected: AtomicU64,
}

/// Loads NDJSON from the reader `open` gives, `chunk` resources per write transaction.
///
/// Reading and parsing run on a blocking thread and hand chunks to the writer side through a
/// bounded channel, so parsing the next chunk overlaps with committing the last one. A line that
/// is not JSON, or a resource that is refused, is a [`Rejection`] and does not stop the load
/// unless `strict` is set.
pub async fn load_ndjson<F>(
    engine: &Engine,
    ctx: &Context,
    display: &str,
    open: F,
    chunk: usize,
    strict: bool,
    tally: &Tally,
) -> anyhow::Result<Vec<Rejection>>
where
    F: FnOnce() -> anyhow::Result<Box<dyn BufRead + Send>> + Send + 'static,
{
    let display = display.to_owned();
    let (sender, mut receiver) =
        tokio::sync::mpsc::channel::<(usize, Vec<Value>, Vec<Rejection>)>(4);
    let display_in = display.clone();
    let reader_task = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let reader = open()?;
        let mut resources = Vec::with_capacity(chunk);
        let mut rejections = Vec::new();
        let mut first_line = 1;
        for (line_idx, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("reading {display_in}"))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(value) => resources.push(value),
                Err(e) => rejections.push(Rejection {
                    location: format!("{display_in} line {}", line_idx + 1),
                    reason: format!("not valid JSON: {e}"),
                }),
            }
            if resources.len() >= chunk {
                let full = std::mem::replace(&mut resources, Vec::with_capacity(chunk));
                if sender
                    .blocking_send((first_line, full, std::mem::take(&mut rejections)))
                    .is_err()
                {
                    return Ok(());
                }
                first_line = line_idx + 2;
            }
        }
        let _ = sender.blocking_send((first_line, resources, rejections));
        Ok(())
    });
    let mut rejections = Vec::new();
    while let Some((first_line, resources, parse_rejections)) = receiver.recv().await {
        tally
            .rejected
            .fetch_add(parse_rejections.len() as u64, Ordering::Relaxed);
        rejections.extend(parse_rejections);
        rejections.extend(import_chunk(engine, ctx, &display, first_line, resources, tally).await?);
        if strict && !rejections.is_empty() {
            break;
        }
    }
    drop(receiver);
    reader_task.await??;
    Ok(rejections)
}

/// Imports one chunk of parsed resources and reports the refused ones.
pub async fn import_chunk(
    engine: &Engine,
    ctx: &Context,
    display: &str,
    first_line: usize,
    resources: Vec<Value>,
    tally: &Tally,
) -> anyhow::Result<Vec<Rejection>> {
    if resources.is_empty() {
        return Ok(Vec::new());
    }
    let results = engine
        .import(ctx, resources)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rejections = Vec::new();
    for (idx, result) in results.into_iter().enumerate() {
        match result {
            Ok(_) => {
                tally.resources.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tally.rejected.fetch_add(1, Ordering::Relaxed);
                let location = if first_line == 0 {
                    format!("{display} resource {idx}")
                } else {
                    format!(
                        "{display} resource {} of the chunk from line {first_line}",
                        idx + 1
                    )
                };
                rejections.push(Rejection {
                    location,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(rejections)
}
