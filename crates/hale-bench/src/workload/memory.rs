//! M, idle memory: the resident set of the real `hale serve` binary over an empty data folder,
//! [`SETTLE`] after it says it listens. The harness's own RSS would say nothing about Hale: it
//! holds the load generator, the test data and every answer, so it is not reported.
//! [`ServeProcess`] starts the binary and reads its memory; W5-mem uses it too.
//!
//! Checks: the server starts, and answers `GET /healthz` with `200` after the measurement.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::report::RunChecks;

/// How long the server idles before its RSS is read.
pub const SETTLE: Duration = Duration::from_secs(2);

/// How often a sampling thread reads a server's RSS while work is measured (W5-mem, W6).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// How long after measured work the RSS reported as "after" is read (W5-mem, W6).
pub const AFTER_SETTLE: Duration = Duration::from_secs(1);

/// How long the server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What one run measured.
pub struct MemoryRun {
    /// `VmRSS`, MB (10^6 bytes).
    pub rss_mb: f64,
    /// `VmHWM` (peak RSS so far), MB.
    pub peak_mb: f64,
    /// The checks.
    pub checks: RunChecks,
}

/// The `hale` binary: `explicit`, or else `hale` next to this executable, or one folder up (where
/// it is for a test binary in `target/*/deps/`).
pub fn find_hale_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            bail!("{} is not a file", path.display())
        };
    }
    let exe = std::env::current_exe()?;
    let name = format!("hale{}", std::env::consts::EXE_SUFFIX);
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .collect();
    candidates.iter().find(|p| p.is_file()).cloned().with_context(|| {
        format!(
            "the hale binary is not at {}; build it first (`cargo build --release -p hale`) or pass --hale-bin",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        )
    })
}

/// Starts `hale serve` over a fresh data folder, lets it settle, and reads its RSS.
pub fn run(binary: &Path) -> anyhow::Result<MemoryRun> {
    let data_dir = tempfile::Builder::new()
        .prefix("hale-bench-serve-")
        .tempdir()?;
    let server = ServeProcess::start(binary, data_dir.path(), &[])?;
    let mut checks = RunChecks::default();
    checks.check("hale serve started", true, server.listening_line());
    std::thread::sleep(SETTLE);
    let rss = server.rss()?;
    match server.healthz() {
        Ok(status_line) => checks.check(
            "GET /healthz answers 200",
            status_line.contains(" 200 "),
            status_line,
        ),
        Err(e) => checks.check("GET /healthz answers 200", false, format!("{e:#}")),
    }
    Ok(MemoryRun {
        rss_mb: mb(rss.vm_rss_kb),
        peak_mb: mb(rss.vm_hwm_kb),
        checks,
    })
}

/// kB (as `/proc` counts them, 1024 bytes) to MB (10^6 bytes).
pub fn mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

/// What `/proc/<pid>/status` says of a process's memory, in kB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rss {
    /// `VmRSS`: the resident set, anonymous and file-backed.
    pub vm_rss_kb: u64,
    /// `VmHWM`: the peak of `VmRSS` since the start, or since [`ServeProcess::reset_peak`].
    pub vm_hwm_kb: u64,
    /// `RssAnon`: the resident anonymous memory (heap, stacks), which the process allocated.
    pub rss_anon_kb: u64,
    /// `RssFile`: resident pages of mapped files, such as the SQLite database the store maps
    /// (`mmap_size`); the kernel shares them with its page cache and can drop them.
    pub rss_file_kb: u64,
}

/// A server's memory around one measured stretch of work (W5-mem's walk, W6's export).
#[derive(Clone, Copy, Debug, Default)]
pub struct RssSpan {
    /// [`SETTLE`] after the server said it listens, before any request.
    pub started: Rss,
    /// Before the work, after one small warm-up request.
    pub before: Rss,
    /// [`AFTER_SETTLE`] after the work.
    pub after: Rss,
    /// The peak `VmRSS` over the work, kB: `VmHWM` after it (reset before it), or the largest
    /// sample where the kernel did not allow the reset; at least `before`'s.
    pub peak_vm_rss_kb: u64,
    /// Whether `peak_vm_rss_kb` is the kernel's `VmHWM`.
    pub peak_from_vm_hwm: bool,
    /// The largest `RssAnon` sampled during the work, kB; at least `before`'s.
    pub peak_anon_kb: u64,
}

impl RssSpan {
    /// Peak `VmRSS` minus `VmRSS` before, MB.
    pub fn vm_growth_mb(&self) -> f64 {
        mb(self.peak_vm_rss_kb) - mb(self.before.vm_rss_kb)
    }

    /// Peak `RssAnon` minus `RssAnon` before, MB.
    pub fn anon_growth_mb(&self) -> f64 {
        mb(self.peak_anon_kb) - mb(self.before.rss_anon_kb)
    }
}

/// What [`ServeProcess::sample_during`] saw.
pub struct Sampled<T> {
    /// What the work returned.
    pub output: T,
    /// Every RSS reading taken during the work, the sampling thread's and the work's own.
    pub samples: Vec<(Instant, Rss)>,
    /// The memory around the work.
    pub span: RssSpan,
}

/// A `hale serve` process the harness started over a data folder, stopped when dropped.
pub struct ServeProcess {
    child: std::process::Child,
    addr: String,
    listening_line: String,
}

impl ServeProcess {
    /// Starts `hale serve --listen 127.0.0.1:0 --data-dir data_dir`, with `extra_args`, and
    /// waits until it says it listens.
    pub fn start(binary: &Path, data_dir: &Path, extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_env(binary, data_dir, extra_args, &[])
    }

    /// [`ServeProcess::start`], with environment variables set for the server (such as
    /// `HALE_ADMIN_TOKEN`, which then appears on no command line).
    pub fn start_with_env(
        binary: &Path,
        data_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env_remove("HALE_DATABASE_URL")
            .env_remove("HALE_DEMO")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        match wait_listening(&mut child) {
            Ok((listening_line, addr)) => Ok(ServeProcess {
                child,
                addr,
                listening_line,
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// The line in which it said it listens.
    pub fn listening_line(&self) -> String {
        self.listening_line.clone()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Its memory now.
    pub fn rss(&self) -> anyhow::Result<Rss> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading /proc/<pid>/status")?;
        Ok(Rss {
            vm_rss_kb: status_kb(&status, "VmRSS:").context("no VmRSS")?,
            vm_hwm_kb: status_kb(&status, "VmHWM:").unwrap_or(0),
            rss_anon_kb: status_kb(&status, "RssAnon:").unwrap_or(0),
            rss_file_kb: status_kb(&status, "RssFile:").unwrap_or(0),
        })
    }

    /// The CPU time it has used so far, user and system, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Resets its `VmHWM` to its current `VmRSS` (`echo 5 > /proc/<pid>/clear_refs`), so that a
    /// later `VmHWM` is the peak since now; returns whether the kernel allowed it.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), b"5").is_ok()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Runs `work` while a thread reads the server's RSS every [`SAMPLE_EVERY`] into the samples
    /// `work` is handed too (to add readings of its own, such as one per page), with `VmHWM`
    /// reset just before; then reads the RSS once more [`AFTER_SETTLE`] later. `started` and
    /// `before` are the caller's readings before the work.
    pub fn sample_during<T>(
        &self,
        started: Rss,
        before: Rss,
        work: impl FnOnce(&Mutex<Vec<(Instant, Rss)>>) -> T,
    ) -> anyhow::Result<Sampled<T>> {
        let peak_from_vm_hwm = self.reset_peak();
        let stop = AtomicBool::new(false);
        let samples: Mutex<Vec<(Instant, Rss)>> = Mutex::new(Vec::new());
        let (output, hwm_after) = std::thread::scope(|scope| {
            let sampler = scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(rss) = self.rss() {
                        lock(&samples).push((Instant::now(), rss));
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            });
            let output = work(&samples);
            let hwm_after = self.rss().map(|r| r.vm_hwm_kb).unwrap_or(0);
            stop.store(true, Ordering::Relaxed);
            let _ = sampler.join();
            (output, hwm_after)
        });
        std::thread::sleep(AFTER_SETTLE);
        let after = self.rss()?;
        let samples = samples.into_inner().unwrap_or_else(|p| p.into_inner());
        let sampled_peak = |field: fn(&Rss) -> u64| samples.iter().map(|(_, r)| field(r)).max();
        let sampled_peak_vm = sampled_peak(|r| r.vm_rss_kb).unwrap_or(0);
        let peak_vm_rss_kb = if peak_from_vm_hwm {
            hwm_after.max(sampled_peak_vm)
        } else {
            sampled_peak_vm
        };
        let span = RssSpan {
            started,
            before,
            after,
            peak_vm_rss_kb: peak_vm_rss_kb.max(before.vm_rss_kb),
            peak_from_vm_hwm,
            peak_anon_kb: sampled_peak(|r| r.rss_anon_kb)
                .unwrap_or(0)
                .max(before.rss_anon_kb),
        };
        Ok(Sampled {
            output,
            samples,
            span,
        })
    }

    /// Records that it still runs and answers `GET /healthz` with 200 after `work`, as checks
    /// named for `workload`.
    pub fn check_still_serving(&mut self, workload: &str, work: &str, checks: &mut RunChecks) {
        checks.check(
            &format!("{workload}: hale serve still runs after the {work}"),
            self.running(),
            format!("checked after the {work}"),
        );
        let name = format!("{workload}: GET /healthz answers 200 after the {work}");
        match self.healthz() {
            Ok(status_line) => checks.check(&name, status_line.contains(" 200 "), status_line),
            Err(e) => checks.check(&name, false, format!("{e:#}")),
        }
    }

    /// `GET /healthz`, over a connection of its own; the status line of the answer.
    pub fn healthz(&self) -> anyhow::Result<String> {
        get_healthz(&self.addr)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `Hale listening on http://…`; returns the line and the address in it.
fn wait_listening(child: &mut std::process::Child) -> anyhow::Result<(String, String)> {
    let stderr = child.stderr.take().context("no stderr")?;
    let (sender, receiver) = std::sync::mpsc::channel::<String>();
    // The reader keeps draining stderr after the line it looks for, so the server never blocks
    // on a full pipe; it ends when the server does.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Hale listening") {
                let _ = sender.send(line);
            }
        }
    });
    let line = match receiver.recv_timeout(START_TIMEOUT) {
        Ok(line) => line,
        Err(_) => bail!(
            "hale serve did not say `Hale listening` within {} s",
            START_TIMEOUT.as_secs()
        ),
    };
    let addr = listening_addr(&line).with_context(|| format!("no address in {line:?}"))?;
    Ok((line, addr))
}

/// Locks samples that a sampling thread and the measuring one share; a poisoned lock still holds
/// good samples.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The CPU time (user and system) of the process whose `stat` file is `stat_path`
/// (`/proc/self/stat` for this one), in seconds.
pub fn cpu_seconds(stat_path: &str) -> anyhow::Result<f64> {
    let stat =
        std::fs::read_to_string(stat_path).with_context(|| format!("reading {stat_path}"))?;
    stat_cpu_seconds(&stat).with_context(|| format!("no CPU times in {stat_path}"))
}

/// `utime` + `stime` of a `/proc/<pid>/stat` line, in seconds. They are fields 14 and 15, counted
/// after the command name, which is in parentheses and may hold spaces; their unit is the clock
/// tick, which is 100 per second on every Linux this runs on (`getconf CLK_TCK`).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    const TICKS_PER_SEC: f64 = 100.0;
    let (_, after_name) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |idx: usize| fields.get(idx)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / TICKS_PER_SEC)
}

/// The value in kB of a `/proc/<pid>/status` field such as `VmRSS:`.
fn status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// `Hale listening on http://127.0.0.1:PORT (…)` → `127.0.0.1:PORT`.
fn listening_addr(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("http://")?;
    Some(
        rest.split(|c: char| c.is_whitespace() || c == '/')
            .next()?
            .to_owned(),
    )
}

/// One plain HTTP/1.1 request, so that the measured process's only client is this one.
fn get_healthz(addr: &str) -> anyhow::Result<String> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or("").to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_status_fields_and_the_listening_line() {
        let status = "Name:\thale\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(super::status_kb(status, "VmRSS:"), Some(10240));
        assert_eq!(super::status_kb(status, "VmHWM:"), Some(20480));
        let line = "Hale listening on http://127.0.0.1:4321 (FHIR R4 at http://127.0.0.1:4321/r4)";
        assert_eq!(
            super::listening_addr(line).as_deref(),
            Some("127.0.0.1:4321")
        );
        let stat = "4321 (hale serve) S 1 4321 4321 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 6 0";
        assert_eq!(super::stat_cpu_seconds(stat), Some(3.25));
    }
}
