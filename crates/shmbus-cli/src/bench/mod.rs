//! `shmbus bench latency` and `shmbus bench throughput`: the journal measured between real
//! processes pinned to their own cpus, against the machine's floor measured in the same run.
//!
//! The tool re-executes itself for the other side of every measurement (hidden subcommands
//! `__latency-peer` and `__throughput-reader`), so each side is its own process with its own
//! mappings, as in production. Everything it creates in /dev/shm is removed when the benchmark
//! ends, by an error or Ctrl-C too.

mod floor;
mod latency;
mod throughput;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::watch::stop_flag;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// One-way journal latency between two pinned processes (ping-pong), against the cache-line
    /// floor (and, for blocking readers, the futex wake-up) measured in the same run.
    Latency(latency::LatencyArgs),
    /// Journal throughput: one writer process and N busy-polling reader processes.
    Throughput(throughput::ThroughputArgs),
    /// The echo side of `bench latency` (started by it).
    #[command(name = "__latency-peer", hide = true)]
    LatencyPeer(latency::PeerArgs),
    /// One reader of `bench throughput` (started by it).
    #[command(name = "__throughput-reader", hide = true)]
    ThroughputReader(throughput::ReaderArgs),
}

pub fn run(c: &BenchCommand) -> Result<()> {
    match c {
        BenchCommand::Latency(a) => latency::run(a),
        BenchCommand::Throughput(a) => throughput::run(a),
        BenchCommand::LatencyPeer(a) => latency::peer(a),
        BenchCommand::ThroughputReader(a) => throughput::reader(a),
    }
}

/// Where a process ended up after asking to be pinned to one cpu.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pinning {
    /// The cpu asked for.
    pub cpu: usize,
    /// Whether the affinity mask is exactly {cpu} and the thread was seen running there.
    pub pinned: bool,
    /// The cpu the thread ran on right after pinning.
    pub running_on: usize,
    /// Why pinning did not take, if it did not.
    pub note: Option<String>,
}

impl Pinning {
    fn describe(&self) -> String {
        if self.pinned {
            format!("cpu {} (pinned, checked)", self.cpu)
        } else {
            format!(
                "NOT pinned to cpu {} (running on cpu {}: {})",
                self.cpu,
                self.running_on,
                self.note.as_deref().unwrap_or("unknown reason")
            )
        }
    }
}

/// Pins the calling thread to `cpu` and checks that it took (affinity mask read back, and the
/// cpu the thread runs on after yielding).
pub fn pin_to(cpu: usize) -> Pinning {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    let mut want = CpuSet::new();
    if cpu >= CpuSet::MAX_CPU {
        return Pinning {
            cpu,
            pinned: false,
            running_on: sched_getcpu(),
            note: Some(format!("cpu {cpu} is beyond the largest cpu set")),
        };
    }
    want.set(cpu);
    if let Err(e) = sched_setaffinity(None, &want) {
        return Pinning {
            cpu,
            pinned: false,
            running_on: sched_getcpu(),
            note: Some(format!("sched_setaffinity failed: {e}")),
        };
    }
    std::thread::yield_now();
    let running_on = sched_getcpu();
    let note = match sched_getaffinity(None) {
        Err(e) => Some(format!("sched_getaffinity failed: {e}")),
        Ok(got) if got != want => Some("the affinity mask read back differs".into()),
        Ok(_) if running_on != cpu => Some(format!("running on cpu {running_on}")),
        Ok(_) => None,
    };
    Pinning {
        cpu,
        pinned: note.is_none(),
        running_on,
        note,
    }
}

/// The number of cpus this process may run on.
pub fn usable_cpus() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(1, |s| s.count() as usize)
}

/// The 1, 5 and 15-minute load averages (`/proc/loadavg`), to spot other work on the machine
/// disturbing a run; empty where there is no /proc.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A percentile summary, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Dist {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    pub count: u64,
}

impl Dist {
    /// One-way figures from a histogram of round trips (halved).
    pub fn one_way(rtt: &Histogram<u64>) -> Self {
        let q = |p| rtt.value_at_quantile(p) as f64 / 2.0;
        Self {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: rtt.max() as f64 / 2.0,
            mean: rtt.mean() / 2.0,
            count: rtt.len(),
        }
    }

    /// The median, field by field, of several summaries.
    pub fn median(all: &[Self]) -> Self {
        let m = |f: fn(&Self) -> f64| median(all.iter().map(f).collect());
        Self {
            p50: m(|d| d.p50),
            p90: m(|d| d.p90),
            p99: m(|d| d.p99),
            p999: m(|d| d.p999),
            max: m(|d| d.max),
            mean: m(|d| d.mean),
            count: all.iter().map(|d| d.count).sum(),
        }
    }
}

/// The median of `v` (the mean of the middle two for an even count); NaN if empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A histogram of durations in ns, from 1 ns to an hour, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Nanoseconds in `d`, saturated.
#[inline]
pub fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `85.5 ns`, `2.41 µs`, `1.20 ms`.
pub fn fmt_ns(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v < 1e3 {
        format!("{v:.1} ns")
    } else if v < 1e6 {
        format!("{:.2} µs", v / 1e3)
    } else {
        format!("{:.2} ms", v / 1e6)
    }
}

/// How long a wait may see no progress before the benchmark gives up (the other side died).
pub const STALL: Duration = Duration::from_secs(10);

/// Guards a busy-wait: every 65536 empty polls, checks Ctrl-C and how long the wait has lasted.
#[derive(Debug)]
pub struct Stall {
    spins: u32,
    since: Option<Instant>,
    what: &'static str,
}

impl Stall {
    #[inline]
    pub fn new(what: &'static str) -> Self {
        Self {
            spins: 0,
            since: None,
            what,
        }
    }

    /// Progress was made: the next wait starts afresh.
    #[inline]
    pub fn reset(&mut self) {
        self.spins = 0;
        self.since = None;
    }

    /// One empty poll: a `pause`, and now and then the slow checks.
    #[inline]
    pub fn spin(&mut self) -> Result<()> {
        self.spins = self.spins.wrapping_add(1);
        if self.spins & 0xffff == 0 {
            self.check()?;
        }
        std::hint::spin_loop();
        Ok(())
    }

    /// The slow checks: Ctrl-C, and no progress for [`STALL`].
    #[cold]
    pub fn check(&mut self) -> Result<()> {
        if stop_flag().load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        let now = Instant::now();
        match self.since {
            None => self.since = Some(now),
            Some(t) if now - t > STALL => {
                bail!(
                    "no progress for {} s while waiting for {} (did the other process die?)",
                    STALL.as_secs(),
                    self.what
                )
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// What a benchmark created and started; removed and stopped when it is dropped, whatever way
/// the benchmark ends.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub journals: Vec<String>,
    pub files: Vec<PathBuf>,
    pub children: Vec<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            if matches!(c.try_wait(), Ok(None)) {
                // Our own child, by its pid.
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        for j in &self.journals {
            let _ = shmbus::Region::remove(j, true);
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Starts `shmbus bench <args>` with its stdout piped (for its one-line JSON reports).
pub fn spawn_self(args: &[String]) -> Result<(Child, BufReader<ChildStdout>)> {
    let exe = std::env::current_exe().context("cannot find the shmbus binary")?;
    let mut child = Command::new(exe)
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `shmbus bench {}`", args.join(" ")))?;
    let out = BufReader::new(child.stdout.take().expect("stdout is piped"));
    Ok((child, out))
}

/// Reads one JSON line that a child process prints (blocking), or explains why there is none.
pub fn read_report<T: serde::de::DeserializeOwned>(
    out: &mut BufReader<ChildStdout>,
    child: &mut Child,
    what: &str,
) -> Result<T> {
    let mut line = String::new();
    let n = out
        .read_line(&mut line)
        .with_context(|| format!("reading the {what}'s report"))?;
    if n == 0 {
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        bail!("the {what} process ended without reporting ({status}); see its error above");
    }
    serde_json::from_str(line.trim()).with_context(|| format!("bad report from the {what}: {line}"))
}

/// Waits for a child to exit successfully, killing it after `timeout`.
pub fn wait_child(child: &mut Child, what: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.code() == Some(i32::from(crate::output::BROKEN_PIPE_EXIT)) {
                // The child shares our stdout, and its reader went away: so did ours. End as
                // quietly as any command on a closed pipe.
                let gone = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
                return Err(crate::output::StdoutError(gone).into());
            }
            if !status.success() {
                bail!("the {what} process failed ({status})");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the {what} process did not stop in time and was killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The directory for the benchmark's files: /dev/shm, else the temporary directory.
pub fn shm_dir() -> PathBuf {
    let shm = PathBuf::from(shmbus::SHM_DIR);
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// A journal name for the benchmark: a shm name (in /dev/shm) when there is one, else a path.
pub fn journal_name(file: &str) -> String {
    if PathBuf::from(shmbus::SHM_DIR).is_dir() {
        file.to_owned()
    } else {
        std::env::temp_dir()
            .join(file)
            .to_string_lossy()
            .into_owned()
    }
}

/// The payload pattern both sides agree on: byte `j` of a message is `j * 7 + 3`, except the
/// first 8 bytes (a counter or sequence) and, when there is room, the last 8 (its complement)
/// and bytes 8..16 (a timestamp, in the latency benchmark).
pub fn template(size: usize) -> Vec<u8> {
    (0..size)
        .map(|j| (j as u8).wrapping_mul(7).wrapping_add(3))
        .collect()
}
