//! `shmbus-bridge-bench`: the benchmark of `shmbus bridge` (issue 12, "Speed"). Every figure is
//! a median of runs, next to a baseline measured in the same run on the same server:
//!
//! 1. **Out throughput**, 64 B messages from a pre-filled journal: `shmbus bridge out` (a real
//!    process) against a plain async-nats JetStream publisher with the same window, the same
//!    server and the same stream settings (file storage, limits, one replica), also with the
//!    bridge's headers (`Nats-Msg-Id` makes the server check its duplicate window,
//!    `Nats-Expected-Last-Msg-Id` the chain).
//! 2. **End-to-end latency** at 1k and 10k msg/s: a paced writer stamps the time in each 64 B
//!    payload of A's journal, `bridge out` -> NATS JetStream -> `bridge in` -> B's journal, a
//!    reader on B; against a plain JetStream publish -> pull consumer (explicit acks) round trip
//!    at the same rate.
//! 3. **`--core`**: the same latency through `bridge out --core` -> `bridge in --core`, against a
//!    plain core-NATS publish -> subscribe; and the throughput of a pre-filled journal through
//!    both bridges into B against a plain publisher -> subscriber.
//!
//! The server is a real `nats-server -js` on a free loopback port with a temporary store
//! (`shmbus_bridge::nats_server`); the bridges are the `shmbus` binary next to this one. The
//! paths take turns in rounds, so that a change of the machine's state hits all of them.
//! Everything started or created is stopped and removed at the end, by an error too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus_bridge::nats_server::NatsServer;

/// Benchmark `shmbus bridge` against plain async-nats clients on the same nats-server.
#[derive(Debug, Parser)]
#[command(name = "shmbus-bridge-bench", version)]
struct Cli {
    /// A short run (one round, fewer messages): checks that everything works, its figures are
    /// rough.
    #[arg(long)]
    quick: bool,
    /// Rounds (each path once per round; the figures are medians). Default 5, 1 with --quick.
    #[arg(long)]
    runs: Option<usize>,
    /// Messages of the throughput measurements (default 300000, 50000 with --quick).
    #[arg(long)]
    messages: Option<u64>,
    /// Seconds of each latency measurement (default 5, 1 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Publishes awaiting their ack, at most (`bridge out --window`, and the plain publisher's).
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// The `shmbus` binary (default: the one next to this binary).
    #[arg(long, value_name = "PATH")]
    shmbus: Option<PathBuf>,
    /// The streams' duplicate window in seconds (`Nats-Msg-Id` dedupe; default: the server's,
    /// 2 minutes).
    #[arg(long)]
    duplicate_window: Option<f64>,
    /// Only these measurements (comma-separated: out, latency, core).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

const PAYLOAD: usize = 64;

/// What the benchmark created: journals in /dev/shm (and their state files), removed on drop.
struct Cleanup {
    names: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // `rm`'s removal: the journal, its reader registry and its bridges' status regions.
        for n in &self.names {
            let _ = shmbus::Region::remove(n, true);
        }
    }
}

impl Cleanup {
    /// A new ring journal of `size` bytes with a unique name.
    fn ring(&mut self, tag: &str, size: u64) -> Result<(String, JournalWriter)> {
        let name = format!(
            "shmbus-bridge-bench-{}-{tag}-{}",
            std::process::id(),
            self.names.len()
        );
        self.names.push(name.clone());
        let w = JournalWriter::builder(&name)
            .ring(size)
            .create()
            .with_context(|| format!("cannot create journal {name}"))?;
        Ok((name, w))
    }
}

/// A `shmbus bridge` process, killed when dropped.
struct Bridge {
    child: Child,
    log: PathBuf,
}

impl Bridge {
    /// Starts `shmbus bridge ARGS` and waits until its log says `ready` (or `ready` is empty).
    fn start(shmbus: &Path, args: &[&str], log: PathBuf, ready: &str) -> Result<Self> {
        let f = std::fs::File::create(&log)?;
        let child = Command::new(shmbus)
            .arg("bridge")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .with_context(|| format!("cannot start {}", shmbus.display()))?;
        let mut b = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.is_empty() && !b.text().contains(ready) {
            b.alive()?;
            if Instant::now() > deadline {
                bail!("shmbus bridge {args:?} did not start:\n{}", b.text());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(b)
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) -> Result<()> {
        if let Some(s) = self.child.try_wait()? {
            bail!("a bridge exited ({s}):\n{}", self.text());
        }
        Ok(())
    }

    /// SIGTERM, then its stop line.
    fn stop(mut self) -> Result<String> {
        // SAFETY: kill(2) on our own child's pid (not yet reaped, so not reused).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait()?;
        let t = self.text();
        Ok(t.lines()
            .rev()
            .find(|l| l.contains("stopped:"))
            .unwrap_or("")
            .to_owned())
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

struct Bench {
    cli: Cli,
    shmbus: PathBuf,
    server: NatsServer,
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    js: jetstream::Context,
    files: Cleanup,
    /// Unique names for streams and subjects.
    n: usize,
    messages: u64,
    seconds: f64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let shmbus = match &cli.shmbus {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark binary has no directory")?
            .join("shmbus"),
    };
    if !shmbus.is_file() {
        bail!(
            "no shmbus binary at {}: build it (cargo build --release -p shmbus-cli) or pass --shmbus",
            shmbus.display()
        );
    }
    if shmbus_bridge::nats_server::binary().is_none() {
        bail!("nats-server is not installed: run scripts/setup.sh");
    }
    let server = NatsServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (client, js) = rt.block_on(async {
        let c = shmbus_bridge::connect(&server.url()).await?;
        let js = jetstream::new(c.clone());
        anyhow::Ok((c, js))
    })?;
    let runs = cli.runs.unwrap_or(if cli.quick { 1 } else { 5 });
    let mut b = Bench {
        messages: cli
            .messages
            .unwrap_or(if cli.quick { 50_000 } else { 300_000 }),
        seconds: cli.seconds.unwrap_or(if cli.quick { 1.0 } else { 5.0 }),
        cli,
        shmbus,
        server,
        rt,
        client,
        js,
        files: Cleanup { names: Vec::new() },
        n: 0,
    };
    let want = |m: &str| b.cli.only.is_empty() || b.cli.only.iter().any(|o| o == m);
    let (out, lat, core) = (want("out"), want("latency"), want("core"));
    println!(
        "shmbus-bridge-bench: nats-server on {}, {runs} round(s), {} messages of {PAYLOAD} B per throughput run, {} s per latency run, window {}",
        b.server.url(),
        b.messages,
        b.seconds,
        b.cli.window
    );
    if out {
        b.out_throughput(runs)?;
    }
    if lat {
        b.latency(runs, false)?;
    }
    if core {
        b.latency(runs, true)?;
        b.core_throughput(runs)?;
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
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

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M msg/s", r / 1e6)
    } else {
        format!("{:.0} K msg/s", r / 1e3)
    }
}

fn fmt_us(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.0} µs", ns / 1e3)
    }
}

/// A payload stamped with the time now (ns since the Unix epoch) in its first 8 bytes.
fn stamped(buf: &mut [u8; PAYLOAD]) {
    buf[..8].copy_from_slice(&shmbus::now_unix_ns().to_le_bytes());
}

fn age(payload: &[u8]) -> Option<u64> {
    let t = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    Some(shmbus::now_unix_ns().saturating_sub(t))
}

/// Waits until `target`, sleeping (a spinning sender would take one of the machine's two cpus
/// from the processes measured); the schedule is absolute, so the rate holds.
fn pace(target: Instant) {
    let now = Instant::now();
    if target > now {
        std::thread::sleep(target - now);
    }
}

/// Latency percentiles of one run.
#[derive(Default, Clone, Copy)]
struct Lat {
    p50: f64,
    p99: f64,
    n: u64,
}

fn lat_of(h: &Histogram<u64>) -> Lat {
    Lat {
        p50: h.value_at_quantile(0.5) as f64,
        p99: h.value_at_quantile(0.99) as f64,
        n: h.len(),
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

impl Bench {
    fn unique(&mut self, tag: &str) -> String {
        self.n += 1;
        format!("{tag}{}x{}", std::process::id(), self.n)
    }

    /// `shmbus bridge out JOURNAL` into `stream` on `subject` with the bench's window, started.
    fn start_out(&self, journal: &str, stream: &str, subject: &str) -> Result<Bridge> {
        let (url, window) = (self.server.url(), self.cli.window.to_string());
        Bridge::start(
            &self.shmbus,
            &[
                "out",
                journal,
                "--nats",
                &url,
                "--stream",
                stream,
                "--subject",
                subject,
                "--window",
                &window,
            ],
            self.log("out"),
            " -> stream ",
        )
    }

    fn log(&self, tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "shmbus-bridge-bench-{}-{tag}-{}.log",
            std::process::id(),
            self.n
        ))
    }

    /// A stream with the bridge's settings (file storage, limits, one replica) on `subject`.
    fn create_stream(&self, name: &str, subject: &str) -> Result<stream::Stream> {
        self.rt
            .block_on(
                self.js.create_stream(stream::Config {
                    name: name.to_owned(),
                    subjects: vec![subject.to_owned()],
                    storage: stream::StorageType::File,
                    retention: stream::RetentionPolicy::Limits,
                    num_replicas: 1,
                    duplicate_window: self
                        .cli
                        .duplicate_window
                        .map(Duration::from_secs_f64)
                        .unwrap_or_default(),
                    ..Default::default()
                }),
            )
            .with_context(|| format!("cannot create stream {name}"))
    }

    fn delete_stream(&self, name: &str) {
        let _ = self.rt.block_on(self.js.delete_stream(name));
    }

    fn stream_last(&self, name: &str) -> Result<u64> {
        let mut s = self.rt.block_on(self.js.get_stream(name))?;
        Ok(self.rt.block_on(s.info())?.state.last_sequence)
    }

    // ---- 1. out throughput ------------------------------------------------------------------

    fn out_throughput(&mut self, runs: usize) -> Result<()> {
        let n = self.messages;
        // A pre-filled journal: n messages of 64 B.
        let (a, mut w) = self.files.ring("out", (n + 1) * 128 + (1 << 20))?;
        let buf = [7u8; PAYLOAD];
        for _ in 0..n {
            w.append(1, &buf)?;
        }
        w.commit();
        let kinds = [
            "bridge out",
            "plain",
            "plain + Nats-Msg-Id",
            "plain + bridge headers",
        ];
        let mut rates = vec![Vec::new(); kinds.len()];
        for round in 0..runs {
            for (k, kind) in kinds.iter().enumerate() {
                let stream = self.unique("BT");
                let subject = format!("bt.{stream}");
                let secs = if k == 0 {
                    self.bridge_out_run(&a, &stream, &subject, n)?
                } else {
                    self.plain_publish_run(&stream, &subject, n, k)?
                };
                self.delete_stream(&stream);
                let r = n as f64 / secs;
                println!("  round {round}: {kind:<24} {}", fmt_rate(r));
                rates[k].push(r);
            }
        }
        let m: Vec<f64> = rates.into_iter().map(median).collect();
        println!(
            "\nout throughput, {n} messages of {PAYLOAD} B from a pre-filled journal, window {} (median of {runs}):",
            self.cli.window
        );
        println!("| publisher | rate | bridge out / it |");
        println!("| --- | --- | --- |");
        for (k, kind) in kinds.iter().enumerate() {
            println!("| {kind} | {} | {:.2}x |", fmt_rate(m[k]), m[0] / m[k]);
        }
        println!(
            "bridge out: {:.2}x the plain publisher (target >= 0.8x), {:.1}x 10K msg/s (target >= 10x)\n",
            m[0] / m[1],
            m[0] / 10_000.0
        );
        Ok(())
    }

    /// Seconds from `bridge out`'s start line until the stream holds all `n` messages.
    fn bridge_out_run(&mut self, a: &str, stream: &str, subject: &str, n: u64) -> Result<f64> {
        // The same stream settings as the plain publisher's (the bridge accepts the stream).
        self.create_stream(stream, subject)?;
        let window = self.cli.window.to_string();
        let url = self.server.url();
        let log = self.log("out");
        let args = [
            "out",
            a,
            "--nats",
            &url,
            "--stream",
            stream,
            "--subject",
            subject,
            "--window",
            &window,
        ];
        let mut b = Bridge::start(&self.shmbus, &args, log, " -> stream ")?;
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(120);
        while self.stream_last(stream)? < n {
            b.alive()?;
            if Instant::now() > deadline {
                bail!(
                    "bridge out published {} of {n} in 120 s",
                    self.stream_last(stream)?
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let secs = t0.elapsed().as_secs_f64();
        b.stop()?;
        Ok(secs)
    }

    /// Seconds for a plain async-nats JetStream publisher with the same window to publish `n`
    /// messages and have them all acked. `kind`: 1 no headers, 2 `Nats-Msg-Id`, 3 the bridge's
    /// headers (chained).
    fn plain_publish_run(
        &mut self,
        stream: &str,
        subject: &str,
        n: u64,
        kind: usize,
    ) -> Result<f64> {
        self.create_stream(stream, subject)?;
        let js = self.js.clone();
        let window = self.cli.window;
        let subject = subject.to_owned();
        self.rt.block_on(async move {
            let payload = Bytes::from_static(&[7u8; PAYLOAD]);
            let mut inflight = std::collections::VecDeque::with_capacity(window);
            let t0 = Instant::now();
            let mut last: Option<String> = None;
            for seq in 0..n {
                if inflight.len() >= window {
                    let f: jetstream::context::PublishAckFuture =
                        inflight.pop_front().expect("window");
                    f.await?;
                }
                let f = if kind == 1 {
                    js.publish(subject.clone(), payload.clone()).await?
                } else {
                    let mut h = HeaderMap::new();
                    let id = shmbus_bridge::msg_id(0x1234_5678_9abc_def0, seq);
                    if kind == 3 {
                        h.insert(shmbus_bridge::H_JOURNAL, "123456789abcdef0");
                        h.insert(shmbus_bridge::H_SEQ, seq.to_string().as_str());
                        h.insert(shmbus_bridge::H_TYPE, "1");
                        h.insert(
                            shmbus_bridge::H_TIME,
                            shmbus::now_unix_ns().to_string().as_str(),
                        );
                        if let Some(l) = &last {
                            h.insert("Nats-Expected-Last-Msg-Id", l.as_str());
                        }
                    }
                    h.insert("Nats-Msg-Id", id.as_str());
                    last = Some(id);
                    js.publish_with_headers(subject.clone(), h, payload.clone())
                        .await?
                };
                inflight.push_back(f);
            }
            for f in inflight {
                f.await?;
            }
            anyhow::Ok(t0.elapsed().as_secs_f64())
        })
    }

    // ---- 2./3. latency ----------------------------------------------------------------------

    fn latency(&mut self, runs: usize, core: bool) -> Result<()> {
        let rates = [1_000.0, 10_000.0];
        let mut got = vec![[Vec::new(), Vec::new(), Vec::new()]; rates.len()];
        for round in 0..runs {
            for (i, &rate) in rates.iter().enumerate() {
                let bridge = self.bridge_latency_run(rate, core)?;
                let plain = if core {
                    self.core_latency_run(rate)?
                } else {
                    self.js_latency_run(rate)?
                };
                if !core {
                    let o = self.out_only_latency_run(rate)?;
                    println!(
                        "  round {round}: {rate:>6} msg/s  bridge out -> plain pull consumer p50 {} p99 {}",
                        fmt_us(o.p50),
                        fmt_us(o.p99)
                    );
                    got[i][2].push(o);
                }
                println!(
                    "  round {round}: {:>6} msg/s  bridge p50 {} p99 {} ({} samples)   plain p50 {} p99 {} ({} samples)",
                    rate,
                    fmt_us(bridge.p50),
                    fmt_us(bridge.p99),
                    bridge.n,
                    fmt_us(plain.p50),
                    fmt_us(plain.p99),
                    plain.n
                );
                got[i][0].push(bridge);
                got[i][1].push(plain);
            }
        }
        let (what, base) = if core {
            (
                "--core latency, A's journal -> bridge out --core -> NATS -> bridge in --core -> B's journal",
                "plain core publish -> subscribe",
            )
        } else {
            (
                "end-to-end latency, A's journal -> bridge out -> JetStream -> bridge in -> B's journal",
                "plain JetStream publish -> pull consumer",
            )
        };
        println!(
            "\n{what}, {PAYLOAD} B (median of {runs} runs of {} s):",
            self.seconds
        );
        println!("| rate | bridge p50 | bridge p99 | {base} p50 | p99 | p50 ratio |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for (i, &rate) in rates.iter().enumerate() {
            let med = |v: &Vec<Lat>, f: fn(&Lat) -> f64| median(v.iter().map(f).collect());
            let (b50, b99) = (med(&got[i][0], |l| l.p50), med(&got[i][0], |l| l.p99));
            let (p50, p99) = (med(&got[i][1], |l| l.p50), med(&got[i][1], |l| l.p99));
            println!(
                "| {} msg/s | {} | {} | {} | {} | {:.2}x |",
                rate as u64,
                fmt_us(b50),
                fmt_us(b99),
                fmt_us(p50),
                fmt_us(p99),
                b50 / p50
            );
        }
        if !core {
            println!("where it goes: bridge out -> the same plain pull consumer (no bridge in):");
            for (i, &rate) in rates.iter().enumerate() {
                let v = &got[i][2];
                println!(
                    "  {} msg/s: p50 {} p99 {}",
                    rate as u64,
                    fmt_us(median(v.iter().map(|l| l.p50).collect())),
                    fmt_us(median(v.iter().map(|l| l.p99).collect()))
                );
            }
        }
        println!();
        Ok(())
    }

    /// A paced writer on A, `bridge out` only, a plain pull consumer: where the end-to-end
    /// latency goes (the out side's share).
    fn out_only_latency_run(&mut self, rate: f64) -> Result<Lat> {
        let count = (rate * self.seconds) as u64;
        let (a, mut w) = self.files.ring("lo", 64 << 20)?;
        let stream = self.unique("BO");
        let subject = format!("bo.{stream}");
        let s = self.create_stream(&stream, &subject)?;
        let out = self.start_out(&a, &stream, &subject)?;
        let reader = self.pull_reader(&s, count)?;
        let t0 = Instant::now();
        let mut buf = [0u8; PAYLOAD];
        for i in 0..count {
            pace(t0 + Duration::from_secs_f64(i as f64 / rate));
            stamped(&mut buf);
            w.append_commit(1, &buf)?;
        }
        let h = self.rt.block_on(reader)??;
        out.stop()?;
        self.delete_stream(&stream);
        Ok(lat_of(&h))
    }

    /// A paced writer on A, both bridges, a reader on B: write-to-B latency.
    fn bridge_latency_run(&mut self, rate: f64, core: bool) -> Result<Lat> {
        let count = (rate * self.seconds) as u64;
        let (a, mut w) = self.files.ring("la", 64 << 20)?;
        let (b, _) = self.files.ring("lb", 64 << 20)?;
        let url = self.server.url();
        let stream = self.unique("BL");
        let subject = format!("bl.{stream}");
        let (out, inp) = if core {
            let inp = Bridge::start(
                &self.shmbus,
                &["in", &b, "--nats", &url, "--core", "--subject", &subject],
                self.log("in"),
                " (core NATS) -> ",
            )?;
            let out = Bridge::start(
                &self.shmbus,
                &["out", &a, "--nats", &url, "--core", "--subject", &subject],
                self.log("out"),
                " -> subject ",
            )?;
            (out, inp)
        } else {
            self.create_stream(&stream, &subject)?;
            let out = self.start_out(&a, &stream, &subject)?;
            let inp = Bridge::start(
                &self.shmbus,
                &["in", &b, "--nats", &url, "--stream", &stream],
                self.log("in"),
                "",
            )?;
            (out, inp)
        };
        // Warm up: one message through, so both bridges are connected and subscribed.
        let mut rb = JournalReader::open(&b, Start::Beginning)?;
        let mut buf = [0u8; PAYLOAD];
        stamped(&mut buf);
        w.append_commit(2, &buf)?;
        if rb.next_timeout(Duration::from_secs(20))?.is_none() {
            bail!("no message through the bridges in 20 s");
        }
        let reader = std::thread::spawn(move || -> Result<Histogram<u64>> {
            let mut h = new_hist();
            let warm = count / 10;
            for i in 0..count {
                let Some(m) = rb.next_timeout(Duration::from_secs(10))? else {
                    bail!("B received {i} of {count} messages");
                };
                if let (true, Some(ns)) = (i >= warm, age(m.payload)) {
                    h.record(ns.max(1))?;
                }
            }
            Ok(h)
        });
        let t0 = Instant::now();
        for i in 0..count {
            pace(t0 + Duration::from_secs_f64(i as f64 / rate));
            stamped(&mut buf);
            w.append_commit(1, &buf)?;
        }
        let h = reader.join().expect("reader thread")?;
        out.stop()?;
        inp.stop()?;
        if !core {
            self.delete_stream(&stream);
        }
        Ok(lat_of(&h))
    }

    /// A pull consumer with explicit acks (as `bridge in` has) on `s`, on a task: the ages of
    /// the stamped payloads of `count` messages (the first tenth is warm-up).
    fn pull_reader(
        &self,
        s: &stream::Stream,
        count: u64,
    ) -> Result<tokio::task::JoinHandle<Result<Histogram<u64>>>> {
        let messages = self.rt.block_on(async {
            let c = s
                .create_consumer(consumer::pull::Config {
                    durable_name: Some("bench".into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    max_ack_pending: 4096,
                    ..Default::default()
                })
                .await?;
            anyhow::Ok(c.stream().max_messages_per_batch(256).messages().await?)
        })?;
        Ok(self.rt.spawn(async move {
            let mut messages = messages;
            let mut h = new_hist();
            let warm = count / 10;
            for i in 0..count {
                let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
                    .await
                    .map_err(|_| anyhow::anyhow!("the consumer received {i} of {count}"))?
                    .context("the consumer ended")?
                    .map_err(|e| anyhow::anyhow!("pull failed: {e}"))?;
                if let (true, Some(ns)) = (i >= warm, age(&m.payload)) {
                    h.record(ns.max(1))?;
                }
                m.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
            }
            anyhow::Ok(h)
        }))
    }

    /// A paced plain JetStream publisher (acks awaited in order by a task) and a pull consumer
    /// with explicit acks, as `bridge in` has: publish-to-consumer latency.
    fn js_latency_run(&mut self, rate: f64) -> Result<Lat> {
        let count = (rate * self.seconds) as u64;
        let stream = self.unique("PL");
        let subject = format!("pl.{stream}");
        let s = self.create_stream(&stream, &subject)?;
        let reader = self.pull_reader(&s, count)?;
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<jetstream::context::PublishAckFuture>();
        let acks = self.rt.spawn(async move {
            while let Some(f) = rx.recv().await {
                f.await?;
            }
            anyhow::Ok(())
        });
        let handle = self.rt.handle().clone();
        let js = self.js.clone();
        let t0 = Instant::now();
        let mut buf = [0u8; PAYLOAD];
        for i in 0..count {
            pace(t0 + Duration::from_secs_f64(i as f64 / rate));
            stamped(&mut buf);
            let f = handle.block_on(js.publish(subject.clone(), Bytes::copy_from_slice(&buf)))?;
            let _ = tx.send(f);
        }
        drop(tx);
        let h = self.rt.block_on(reader)??;
        self.rt.block_on(acks)??;
        self.delete_stream(&stream);
        Ok(lat_of(&h))
    }

    /// A paced plain core-NATS publisher and a subscriber on another connection.
    fn core_latency_run(&mut self, rate: f64) -> Result<Lat> {
        let count = (rate * self.seconds) as u64;
        let subject = format!("pc.{}", self.unique("PC"));
        let url = self.server.url();
        let sub_client = self.rt.block_on(shmbus_bridge::connect(&url))?;
        let mut sub = self.rt.block_on(sub_client.subscribe(subject.clone()))?;
        self.rt
            .block_on(shmbus_bridge::server_round_trip(&sub_client))?;
        let reader = self.rt.spawn(async move {
            let mut h = new_hist();
            let warm = count / 10;
            for i in 0..count {
                let m = tokio::time::timeout(Duration::from_secs(10), sub.next())
                    .await
                    .map_err(|_| anyhow::anyhow!("the subscriber received {i} of {count}"))?
                    .context("the subscription ended")?;
                if let (true, Some(ns)) = (i >= warm, age(&m.payload)) {
                    h.record(ns.max(1))?;
                }
            }
            anyhow::Ok(h)
        });
        let handle = self.rt.handle().clone();
        let c = self.client.clone();
        let t0 = Instant::now();
        let mut buf = [0u8; PAYLOAD];
        for i in 0..count {
            pace(t0 + Duration::from_secs_f64(i as f64 / rate));
            stamped(&mut buf);
            handle.block_on(c.publish(subject.clone(), Bytes::copy_from_slice(&buf)))?;
        }
        let h = self.rt.block_on(reader)??;
        Ok(lat_of(&h))
    }

    // ---- 3. core throughput -------------------------------------------------------------------

    fn core_throughput(&mut self, runs: usize) -> Result<()> {
        let n = self.messages;
        let (a, mut w) = self.files.ring("ct", (n + 1) * 128 + (1 << 20))?;
        let buf = [7u8; PAYLOAD];
        for _ in 0..n {
            w.append(1, &buf)?;
        }
        w.commit();
        let mut rates = [Vec::new(), Vec::new()];
        let mut lost = [0u64, 0u64];
        for round in 0..runs {
            let (r, l) = self.core_bridge_throughput_run(&a, n)?;
            let (pr, pl) = self.core_plain_throughput_run(n)?;
            println!(
                "  round {round}: bridge --core {} ({l} lost)   plain {} ({pl} lost)",
                fmt_rate(r),
                fmt_rate(pr)
            );
            rates[0].push(r);
            rates[1].push(pr);
            lost[0] += l;
            lost[1] += pl;
        }
        let (b, p) = (median(rates[0].clone()), median(rates[1].clone()));
        println!(
            "\n--core throughput, {n} messages of {PAYLOAD} B from a pre-filled journal into B's journal (median of {runs}):"
        );
        println!("| path | rate | messages lost (all runs) |");
        println!("| --- | --- | --- |");
        println!(
            "| bridge out --core -> bridge in --core | {} | {} |",
            fmt_rate(b),
            lost[0]
        );
        println!(
            "| plain core publish -> subscribe | {} | {} |",
            fmt_rate(p),
            lost[1]
        );
        println!(
            "bridge --core: {:.2}x the plain publisher -> subscriber\n",
            b / p
        );
        Ok(())
    }

    /// Seconds from `bridge out --core`'s start until B holds a frame for each of A's `n`
    /// messages (gap frames count what was lost).
    fn core_bridge_throughput_run(&mut self, a: &str, n: u64) -> Result<(f64, u64)> {
        let (b, _) = self.files.ring("ctb", (n + 1) * 128 + (1 << 20))?;
        let url = self.server.url();
        let subject = format!("ct.{}", self.unique("CT"));
        let mut inp = Bridge::start(
            &self.shmbus,
            &["in", &b, "--nats", &url, "--core", "--subject", &subject],
            self.log("in"),
            " (core NATS) -> ",
        )?;
        let mut rb = JournalReader::open(&b, Start::Beginning)?;
        let out = Bridge::start(
            &self.shmbus,
            &["out", a, "--nats", &url, "--core", "--subject", &subject],
            self.log("out"),
            " -> subject ",
        )?;
        let t0 = Instant::now();
        let (mut covered, mut lost) = (0u64, 0u64);
        while covered < n {
            match rb.next_timeout(Duration::from_secs(10))? {
                Some(m) if m.ty == shmbus_bridge::GAP_TYPE && m.payload.len() == 16 => {
                    let from = u64::from_le_bytes(m.payload[..8].try_into()?);
                    let to = u64::from_le_bytes(m.payload[8..].try_into()?);
                    lost += to + 1 - from;
                    covered = to + 1;
                }
                Some(_) => covered += 1,
                None => {
                    inp.alive()?;
                    bail!("B covers {covered} of {n} after 10 s without a message");
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        out.stop()?;
        inp.stop()?;
        Ok((n as f64 / secs, lost))
    }

    /// A plain core publisher as fast as it goes, a subscriber on another connection counting.
    fn core_plain_throughput_run(&mut self, n: u64) -> Result<(f64, u64)> {
        let subject = format!("cp.{}", self.unique("CP"));
        let url = self.server.url();
        let c = self.client.clone();
        self.rt.block_on(async move {
            let sub_client = shmbus_bridge::connect(&url).await?;
            let mut sub = sub_client.subscribe(subject.clone()).await?;
            shmbus_bridge::server_round_trip(&sub_client).await?;
            let t0 = Instant::now();
            let publisher = tokio::spawn(async move {
                let payload = Bytes::from_static(&[7u8; PAYLOAD]);
                for _ in 0..n {
                    c.publish(subject.clone(), payload.clone()).await?;
                }
                c.flush().await?;
                anyhow::Ok(())
            });
            // The rate of what arrived, up to the last arrival (a dropped tail must not add the
            // 2 s of waiting for it).
            let (mut got, mut last) = (0u64, t0);
            while got < n {
                match tokio::time::timeout(Duration::from_secs(2), sub.next()).await {
                    Ok(Some(_)) => {
                        got += 1;
                        last = Instant::now();
                    }
                    _ => break,
                }
            }
            let secs = (last - t0).as_secs_f64().max(1e-6);
            publisher.await??;
            anyhow::Ok((got as f64 / secs, n - got))
        })
    }
}
