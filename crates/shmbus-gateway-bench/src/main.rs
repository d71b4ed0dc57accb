//! `shmbus-gateway-bench`: the benchmark of `shmbus serve` (issue 11, "Speed"), all three
//! measurements in one run so that the ratios compare like with like:
//!
//! 1. **Latency**, one client, 10k msg/s: write-to-WebSocket-client latency (arrival - the
//!    trade's write timestamp) through (g) the gateway (a writer process appending `Trade`s to a
//!    journal, a real `shmbus serve`), (f) the transport floor (a minimal tokio + axum WebSocket
//!    server pushing ready-made frames of the same size), (w) the floor plus the gateway's two
//!    wake-ups (a bumper process wakes the server's thread through a futex on shared memory,
//!    which wakes the connection's task) and (r) seed 003's path (a real `redis-server`, a
//!    publisher process, a minimal redis-to-WebSocket relay). The paths take turns, in rounds,
//!    so that a change of the machine's state hits all four.
//! 2. **Fan-out**: one journal at 100k msg/s to 100 clients, JSON and binary frames: the rate
//!    each client received, p99 latency, messages lost (gap notices, counted exactly), the
//!    gateway's cpu and peak memory; then the same for the floor (ready-made frames of the same
//!    sizes at the same rate to as many clients): the machine's limit, measured.
//! 3. **Peak rate**: the most messages per second one client receives (JSON and binary), the
//!    writer running faster than that.
//!
//! Every other process is this binary re-executed with a hidden subcommand (peers.rs), or
//! `shmbus serve`, or `redis-server`; the clients run in this process. Everything started or
//! created is stopped and removed when the benchmark ends, by an error too.
//!
//! A crate of its own rather than a `shmbus bench` subcommand: the `redis` crate brings `url`,
//! `idna` and the ICU crates (about 75 crates in all), which the shipped `shmbus` binary and
//! its build should not carry for one benchmark.

mod client;
mod peers;
mod procs;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use client::{Outcome, connect, new_hist, receive, subscribe};
use procs::{Cleanup, ProcStat, Redis, Serve, spawn_peer};

/// Benchmark `shmbus serve` against the WebSocket transport floor and a Redis pub/sub relay,
/// measured in the same run; then fan-out to many clients and the peak rate to one.
#[derive(Debug, Parser)]
#[command(name = "shmbus-gateway-bench", version)]
struct Cli {
    #[command(subcommand)]
    peer: Option<Peer>,
    /// A short run (a few seconds per measurement, 10 fan-out clients): checks that everything
    /// works, its figures are rough.
    #[arg(long)]
    quick: bool,
    /// Also write the figures to FILE, as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The `shmbus` binary to serve with (default: the one next to this binary).
    #[arg(long, value_name = "PATH")]
    shmbus: Option<PathBuf>,
    /// The `redis-server` binary (scripts/setup.sh installs it).
    #[arg(long, value_name = "PATH", default_value = "redis-server")]
    redis_server: PathBuf,
    /// Fan-out clients (default 100; 10 with --quick).
    #[arg(long)]
    clients: Option<usize>,
    /// The writer's rate in the peak-rate measurement, messages/s (above what one client gets).
    #[arg(long, default_value_t = 1_000_000.0)]
    peak_writer_rate: f64,
}

#[derive(Debug, Subcommand)]
enum Peer {
    /// Appends trades to a journal at a pace (started by the benchmark).
    #[command(name = "__writer", hide = true)]
    Writer {
        journal: String,
        rate: f64,
        count: u64,
        first: u64,
    },
    /// The transport floor's WebSocket server.
    #[command(name = "__floor", hide = true)]
    Floor { rate: f64, count: u64 },
    /// The transport floor for many clients (starts sending when a line arrives on stdin).
    #[command(name = "__floor_fanout", hide = true)]
    FloorFanout {
        rate: f64,
        count: u64,
        #[arg(long)]
        binary: bool,
    },
    /// The floor woken through a futex on the wake-up area AREA.
    #[command(name = "__wake_floor", hide = true)]
    WakeFloor { area: PathBuf, count: u64 },
    /// Publishes timestamps to the wake-up area at a pace, ringing its doorbell.
    #[command(name = "__bumper", hide = true)]
    Bumper {
        area: PathBuf,
        rate: f64,
        count: u64,
    },
    /// Publishes ready-made frames to redis at a pace.
    #[command(name = "__publisher", hide = true)]
    Publisher {
        port: u16,
        channel: String,
        rate: f64,
        count: u64,
    },
    /// The redis-to-WebSocket relay.
    #[command(name = "__relay", hide = true)]
    Relay { port: u16, channel: String },
}

/// The durations and sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    latency_rate: f64,
    latency_secs: f64,
    rounds: u32,
    fanout_rate: f64,
    fanout_secs: f64,
    clients: usize,
    peak_secs: f64,
    peak_rate: f64,
}

/// Ring of every benchmark journal: 64 MiB, about 430k trades (a client that falls further
/// behind than that gets a gap notice).
const RING: u64 = 64 << 20;
/// A client that receives nothing for this long has got all it will get.
const IDLE: Duration = Duration::from_secs(5);
/// In the fan-out and peak-rate runs, clients stop this long after the writer's last message
/// was due; what they have not received by then is counted as behind (neither received nor
/// lost), so that a backlog cannot stretch the run.
const GRACE: Duration = Duration::from_secs(2);

fn main() {
    let cli = Cli::parse();
    let r = match &cli.peer {
        Some(Peer::Writer {
            journal,
            rate,
            count,
            first,
        }) => peers::writer(journal, *rate, *count, *first),
        Some(Peer::Floor { rate, count }) => peers::floor(*rate, *count),
        Some(Peer::FloorFanout {
            rate,
            count,
            binary,
        }) => peers::floor_fanout(*rate, *count, *binary),
        Some(Peer::WakeFloor { area, count }) => peers::wake_floor(area.clone(), *count),
        Some(Peer::Bumper { area, rate, count }) => peers::bumper(area, *rate, *count),
        Some(Peer::Publisher {
            port,
            channel,
            rate,
            count,
        }) => peers::publisher(*port, channel, *rate, *count, 0),
        Some(Peer::Relay { port, channel }) => peers::relay(*port, channel.clone()),
        None => run(&cli),
    };
    if let Err(e) = r {
        eprintln!("shmbus-gateway-bench: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    let peak_rate = peers::check_rate(cli.peak_writer_rate)?;
    let plan = if cli.quick {
        Plan {
            latency_rate: 10_000.0,
            latency_secs: 2.0,
            rounds: 1,
            fanout_rate: 100_000.0,
            fanout_secs: 2.0,
            clients: cli.clients.unwrap_or(10),
            peak_secs: 1.0,
            peak_rate,
        }
    } else {
        Plan {
            latency_rate: 10_000.0,
            latency_secs: 4.0,
            rounds: 3,
            fanout_rate: 100_000.0,
            fanout_secs: 10.0,
            clients: cli.clients.unwrap_or(100),
            peak_secs: 5.0,
            peak_rate,
        }
    };
    if plan.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let shmbus = match &cli.shmbus {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark binary has no directory")?
            .join("shmbus"),
    };
    if !shmbus.is_file() {
        bail!(
            "no shmbus binary at {}: build it (cargo build --release -p shmbus-cli) or pass --shmbus PATH",
            shmbus.display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut cleanup = Cleanup::default();
    println!(
        "shmbus-gateway-bench{}: {} cpus, load {}",
        if cli.quick { " --quick" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        procs::loadavg()
    );
    let latency = rt.block_on(latency(&plan, &shmbus, &cli.redis_server, &mut cleanup))?;
    let mut fanout = Vec::new();
    for binary in [false, true] {
        fanout.push(rt.block_on(fan_out(&plan, &shmbus, binary, &mut cleanup))?);
    }
    let mut peak = Vec::new();
    for binary in [false, true] {
        peak.push(rt.block_on(peak_rate_run(&plan, &shmbus, binary, &mut cleanup))?);
    }
    println!("load after: {}", procs::loadavg());
    if let Some(f) = &cli.json {
        let doc = json!({
            "quick": cli.quick,
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "latency": latency, "fanout": fanout, "peak": peak,
        });
        std::fs::write(f, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("cannot write {}", f.display()))?;
    }
    Ok(())
}

fn us(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn dist(h: &Histogram<u64>) -> Value {
    let q = |p| h.value_at_quantile(p) as f64;
    json!({
        "count": h.len(), "p50_ns": q(0.5), "p99_ns": q(0.99), "p999_ns": q(0.999),
        "max_ns": h.max() as f64, "mean_ns": h.mean(),
    })
}

/// One path of the latency measurement: its merged histogram and counts.
#[derive(Debug)]
struct PathResult {
    name: &'static str,
    hist: Histogram<u64>,
    received: u64,
    lost: u64,
    out_of_order: u64,
    expected: u64,
    frame_bytes: usize,
}

impl PathResult {
    fn new(name: &'static str, frame_bytes: usize) -> Self {
        Self {
            name,
            hist: new_hist(),
            received: 0,
            lost: 0,
            out_of_order: 0,
            expected: 0,
            frame_bytes,
        }
    }

    fn add(&mut self, o: &Outcome, expected: u64) -> Result<()> {
        self.hist.add(&o.hist).context("merging histograms")?;
        self.received += o.received;
        self.lost += o.lost;
        self.out_of_order += o.out_of_order;
        self.expected += expected;
        if let Some(why) = &o.stopped {
            eprintln!(
                "  {}: stopped after {} of {expected} messages: {why}",
                self.name, o.received
            );
        }
        Ok(())
    }

    fn json(&self) -> Value {
        json!({
            "path": self.name, "frame_bytes": self.frame_bytes, "expected": self.expected,
            "received": self.received, "lost": self.lost, "out_of_order": self.out_of_order,
            "latency": dist(&self.hist),
        })
    }
}

/// Measurement 1.
async fn latency(
    plan: &Plan,
    shmbus: &std::path::Path,
    redis_server: &std::path::Path,
    cleanup: &mut Cleanup,
) -> Result<Value> {
    let n = (plan.latency_rate * plan.latency_secs) as u64;
    let warmup = n / 10;
    let rate = plan.latency_rate.to_string();
    let frame_bytes = peers::Template::new("b", n).len();
    println!(
        "\n1. write-to-client latency, one client, {} msg/s: {} rounds of {} s per path, taking turns ({} messages each, the first {warmup} untimed); frames of {frame_bytes} bytes",
        plan.latency_rate, plan.rounds, plan.latency_secs, n
    );
    let journal = cleanup.journal("lat", RING)?;
    let area = cleanup.wake_area("wake")?;
    let area_arg = area.to_string_lossy().into_owned();
    let serve = Serve::start(shmbus, cleanup)?;
    let redis = Redis::start(redis_server, cleanup)?;
    let channel = format!("shmbus-gwbench-{}", std::process::id());
    let (relay_port, _relay_out) = {
        let (child, mut out) = spawn_peer(&["__relay", &redis.port.to_string(), &channel])?;
        let idx = cleanup.child(child);
        let v: Value = procs::read_report(&mut out, cleanup.get(idx), "relay")?;
        (procs::port_of(&v)?, out)
    };
    let mut g = PathResult::new("gateway", frame_bytes);
    let mut f = PathResult::new("floor", frame_bytes);
    let mut w = PathResult::new("floor+wake", frame_bytes);
    let mut r = PathResult::new("redis", frame_bytes);
    let mut written = 0u64;
    for _ in 0..plan.rounds {
        // (g) the gateway.
        let mut ws = connect(serve.port).await?;
        subscribe(
            &mut ws,
            &json!({ "op": "subscribe", "id": "b", "journal": journal, "from": "end" }).to_string(),
        )
        .await?;
        let (child, mut out) = spawn_peer(&[
            "__writer",
            &journal,
            &rate,
            &n.to_string(),
            &written.to_string(),
        ])?;
        let idx = cleanup.child(child);
        let o = receive(&mut ws, n, warmup, IDLE, None).await;
        let _: Value = procs::read_report(&mut out, cleanup.get(idx), "writer")?;
        written += n;
        g.add(&o, n)?;
        drop(ws);
        // (f) the floor.
        let (child, mut out) = spawn_peer(&["__floor", &rate, &n.to_string()])?;
        let idx = cleanup.child(child);
        let port = procs::port_of(&procs::read_report(&mut out, cleanup.get(idx), "floor")?)?;
        let mut ws = connect(port).await?;
        subscribe(&mut ws, "{\"op\":\"subscribe\",\"id\":\"b\"}").await?;
        let o = receive(&mut ws, n, warmup, IDLE, None).await;
        f.add(&o, n)?;
        drop(ws);
        cleanup.stop(idx);
        // (w) the floor + the gateway's two wake-ups.
        let (child, mut out) = spawn_peer(&["__wake_floor", &area_arg, &n.to_string()])?;
        let server = cleanup.child(child);
        let port = procs::port_of(&procs::read_report(
            &mut out,
            cleanup.get(server),
            "wake floor",
        )?)?;
        let mut ws = connect(port).await?;
        subscribe(&mut ws, "{\"op\":\"subscribe\",\"id\":\"b\"}").await?;
        let (child, mut bout) = spawn_peer(&["__bumper", &area_arg, &rate, &n.to_string()])?;
        let idx = cleanup.child(child);
        let o = receive(&mut ws, n, warmup, IDLE, None).await;
        let _: Value = procs::read_report(&mut bout, cleanup.get(idx), "bumper")?;
        w.add(&o, n)?;
        drop(ws);
        cleanup.stop(server);
        // (r) redis.
        let mut ws = connect(relay_port).await?;
        subscribe(&mut ws, "{\"op\":\"subscribe\",\"id\":\"b\"}").await?;
        let (child, mut out) = spawn_peer(&[
            "__publisher",
            &redis.port.to_string(),
            &channel,
            &rate,
            &n.to_string(),
        ])?;
        let idx = cleanup.child(child);
        let o = receive(&mut ws, n, warmup, IDLE, None).await;
        let _: Value = procs::read_report(&mut out, cleanup.get(idx), "publisher")?;
        r.add(&o, n)?;
        drop(ws);
    }
    println!(
        "  {:<10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>6}",
        "path", "p50", "p99", "p99.9", "max", "received", "lost"
    );
    for p in [&g, &f, &w, &r] {
        let h = &p.hist;
        println!(
            "  {:<10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>6}",
            p.name,
            us(h.value_at_quantile(0.5) as f64),
            us(h.value_at_quantile(0.99) as f64),
            us(h.value_at_quantile(0.999) as f64),
            us(h.max() as f64),
            p.received,
            p.lost
        );
    }
    let ratio = |a: &PathResult, b: &PathResult, q: f64| {
        a.hist.value_at_quantile(q) as f64 / b.hist.value_at_quantile(q).max(1) as f64
    };
    let ratios = json!({
        "gateway_over_floor": { "p50": ratio(&g, &f, 0.5), "p99": ratio(&g, &f, 0.99) },
        "gateway_over_floor_wakeups": { "p50": ratio(&g, &w, 0.5), "p99": ratio(&g, &w, 0.99) },
        "floor_wakeups_over_floor": { "p50": ratio(&w, &f, 0.5), "p99": ratio(&w, &f, 0.99) },
        "gateway_over_redis": { "p50": ratio(&g, &r, 0.5), "p99": ratio(&g, &r, 0.99) },
    });
    println!(
        "  gateway / floor: p50 {:.2}x, p99 {:.2}x    gateway / (floor+wake): p50 {:.2}x, p99 {:.2}x",
        ratio(&g, &f, 0.5),
        ratio(&g, &f, 0.99),
        ratio(&g, &w, 0.5),
        ratio(&g, &w, 0.99),
    );
    println!(
        "  (floor+wake) / floor: p50 {:.2}x, p99 {:.2}x    gateway / redis: p50 {:.3}x, p99 {:.3}x",
        ratio(&w, &f, 0.5),
        ratio(&w, &f, 0.99),
        ratio(&g, &r, 0.5),
        ratio(&g, &r, 0.99)
    );
    cleanup.stop(serve.idx);
    Ok(json!({
        "rate": plan.latency_rate, "rounds": plan.rounds, "secs_per_round": plan.latency_secs,
        "paths": [g.json(), f.json(), w.json(), r.json()], "ratios": ratios,
    }))
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

/// The gateway's subscribe request for `journal` from its end.
fn gateway_request(journal: &str, binary: bool) -> String {
    let mut req = json!({ "op": "subscribe", "id": "b", "journal": journal, "from": "end" });
    if binary {
        req["format"] = json!("binary");
    }
    req.to_string()
}

/// Connects `n` clients to the server on `port`, each subscribing with `request`.
async fn clients(port: u16, request: &str, n: usize) -> Result<Vec<client::Ws>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut ws = connect(port).await?;
        subscribe(&mut ws, request).await?;
        out.push(ws);
    }
    Ok(out)
}

/// The outcomes of [`run_clients`], when the source started, and the cpu time of the server
/// and of this process (the clients) over the run.
struct Run {
    outcomes: Vec<Outcome>,
    start: Instant,
    server: (ProcStat, ProcStat),
    clients: (ProcStat, ProcStat),
}

/// What the messages of a run come from.
enum Source<'a> {
    /// A writer process, started by the run, appending to this journal.
    Writer(&'a str),
    /// The fan-out floor, told to start on its stdin.
    Floor(std::process::ChildStdin),
}

/// Runs the clients `wss` at once while the source sends `n` messages at `rate`; `server` is
/// the pid of the process that serves them.
async fn run_clients(
    server: u32,
    wss: Vec<client::Ws>,
    rate: f64,
    n: u64,
    source: Source<'_>,
    cleanup: &mut Cleanup,
) -> Result<Run> {
    let mut tasks = Vec::new();
    let before = ProcStat::read(server)?;
    let own_before = ProcStat::read(std::process::id())?;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(n as f64 / rate) + GRACE;
    for mut ws in wss {
        tasks.push(tokio::spawn(async move {
            receive(&mut ws, n, 0, IDLE, Some(until)).await
        }));
    }
    let writer = match source {
        Source::Writer(journal) => {
            let (child, out) =
                spawn_peer(&["__writer", journal, &rate.to_string(), &n.to_string(), "0"])?;
            Some((cleanup.child(child), out))
        }
        Source::Floor(mut stdin) => {
            use std::io::Write as _;
            writeln!(stdin, "go")
                .and_then(|()| stdin.flush())
                .context("cannot tell the floor to start")?;
            None
        }
    };
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.context("a client task failed")?);
    }
    let after = ProcStat::read(server)?;
    let own_after = ProcStat::read(std::process::id())?;
    if let Some((idx, mut out)) = writer {
        let _: Value = procs::read_report(&mut out, cleanup.get(idx), "writer")?;
    }
    Ok(Run {
        outcomes,
        start,
        server: (before, after),
        clients: (own_before, own_after),
    })
}

/// Summary of many clients' outcomes.
fn clients_json(outcomes: &[Outcome], start: Instant, n: u64) -> Result<(Value, String)> {
    let mut hist = new_hist();
    let mut rates = Vec::new();
    let mut lost = Vec::new();
    let mut complete = 0;
    let mut out_of_order = 0;
    for o in outcomes {
        hist.add(&o.hist).context("merging histograms")?;
        let secs = o.last_at.map_or(f64::NAN, |t| (t - start).as_secs_f64());
        rates.push(o.received as f64 / secs);
        lost.push(o.lost as f64);
        complete += u64::from(o.received + o.lost == n);
        out_of_order += o.out_of_order;
    }
    let total_received: u64 = outcomes.iter().map(|o| o.received).sum();
    let total_lost: u64 = outcomes.iter().map(|o| o.lost).sum();
    let behind: u64 = outcomes
        .iter()
        .map(|o| n.saturating_sub(o.received + o.lost))
        .sum();
    let min_rate = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let total_rate: f64 = rates.iter().copied().filter(|r| r.is_finite()).sum();
    let max_lost = lost.iter().copied().fold(0.0, f64::max);
    let text = format!(
        "per client {:.0} msg/s min, {:.0} median ({:.2}M frames/s in all); p50 {}, p99 {}; lost {} in total (at most {:.0} per client), {} still behind at the end; {}/{} clients got every message or its gap notice, {} out of order",
        min_rate,
        median(rates.clone()),
        total_rate / 1e6,
        us(hist.value_at_quantile(0.5) as f64),
        us(hist.value_at_quantile(0.99) as f64),
        total_lost,
        max_lost,
        behind,
        complete,
        outcomes.len(),
        out_of_order
    );
    Ok((
        json!({
            "clients": outcomes.len(), "expected_per_client": n,
            "rate_min": min_rate, "rate_median": median(rates), "rate_total": total_rate,
            "received": total_received, "lost": total_lost, "lost_max_per_client": max_lost, "behind": behind,
            "complete_clients": complete, "out_of_order": out_of_order,
            "latency": dist(&hist),
        }),
        text,
    ))
}

/// The server's cpu and peak memory over a run, printed after `name` and added to `doc`.
fn server_figures(name: &str, run: &Run, pid: u32, doc: &mut Value) -> Result<()> {
    let (before, after) = run.server;
    let cpu = after.cpu_percent_since(&before);
    let clients_cpu = run.clients.1.cpu_percent_since(&run.clients.0);
    let hwm = ProcStat::vm_hwm_kib(pid)?;
    println!(
        "  {:<8} {cpu:.0}% of one core over {:.1} s, max RSS {:.1} MiB; the clients' process: {clients_cpu:.0}%",
        format!("{name}:"),
        after.secs_since(&before),
        hwm as f64 / 1024.0
    );
    doc[format!("{name}_cpu_percent")] = json!(cpu);
    doc[format!("{name}_secs")] = json!(after.secs_since(&before));
    doc[format!("{name}_max_rss_kib")] = json!(hwm);
    doc["clients_cpu_percent"] = json!(clients_cpu);
    Ok(())
}

/// Measurement 2, for one frame format: the gateway, then the floor with the same clients,
/// rate and frame sizes.
async fn fan_out(
    plan: &Plan,
    shmbus: &std::path::Path,
    binary: bool,
    cleanup: &mut Cleanup,
) -> Result<Value> {
    let format = if binary { "binary" } else { "json" };
    let n = (plan.fanout_rate * plan.fanout_secs) as u64;
    let frame_bytes = if binary {
        peers::BinaryTemplate::new().len()
    } else {
        peers::Template::new("b", n).len()
    };
    println!(
        "\n2. fan-out, {format} frames ({frame_bytes} bytes): {} msg/s for {} s to {} clients",
        plan.fanout_rate, plan.fanout_secs, plan.clients
    );
    // The gateway: one journal.
    let journal = cleanup.journal(&format!("fan-{format}"), RING)?;
    let serve = Serve::start(shmbus, cleanup)?;
    let wss = clients(serve.port, &gateway_request(&journal, binary), plan.clients).await?;
    let run = run_clients(
        serve.pid,
        wss,
        plan.fanout_rate,
        n,
        Source::Writer(&journal),
        cleanup,
    )
    .await?;
    let (mut gw, text) = clients_json(&run.outcomes, run.start, n)?;
    println!("  gateway: {text}");
    server_figures("gateway", &run, serve.pid, &mut gw)?;
    cleanup.stop(serve.idx);
    // The floor: ready-made frames of the same size, at the same rate, to as many clients.
    let (rate, count) = (plan.fanout_rate.to_string(), n.to_string());
    let mut args = vec!["__floor_fanout", &rate, &count];
    if binary {
        args.push("--binary");
    }
    let (child, mut out, stdin) = procs::spawn_peer_piped(&args)?;
    let pid = child.id();
    let idx = cleanup.child(child);
    let port = procs::port_of(&procs::read_report(&mut out, cleanup.get(idx), "floor")?)?;
    let wss = clients(port, "{\"op\":\"subscribe\",\"id\":\"b\"}", plan.clients).await?;
    let run = run_clients(pid, wss, plan.fanout_rate, n, Source::Floor(stdin), cleanup).await?;
    let (mut fl, text) = clients_json(&run.outcomes, run.start, n)?;
    println!("  floor:   {text}");
    server_figures("floor", &run, pid, &mut fl)?;
    cleanup.stop(idx);
    let ratio =
        |key: &str| gw[key].as_f64().unwrap_or(f64::NAN) / fl[key].as_f64().unwrap_or(f64::NAN);
    let ratios = json!({
        "rate_median": ratio("rate_median"), "rate_min": ratio("rate_min"),
        "rate_total": ratio("rate_total"),
    });
    println!(
        "  gateway / floor, delivered: per client median {:.2}x, min {:.2}x, in all {:.2}x",
        ratio("rate_median"),
        ratio("rate_min"),
        ratio("rate_total")
    );
    // The gateway's figures stay at the top level (as before the floor was added).
    let mut doc = gw;
    doc["format"] = json!(format);
    doc["frame_bytes"] = json!(frame_bytes);
    doc["writer_rate"] = json!(plan.fanout_rate);
    doc["floor"] = fl;
    doc["gateway_over_floor"] = ratios;
    Ok(doc)
}

/// Measurement 3, for one frame format.
async fn peak_rate_run(
    plan: &Plan,
    shmbus: &std::path::Path,
    binary: bool,
    cleanup: &mut Cleanup,
) -> Result<Value> {
    let format = if binary { "binary" } else { "json" };
    let n = (plan.peak_rate * plan.peak_secs) as u64;
    println!(
        "\n3. peak rate to one client, {format} frames: the writer appends {} messages at {} msg/s",
        n, plan.peak_rate
    );
    let journal = cleanup.journal(&format!("peak-{format}"), RING)?;
    let serve = Serve::start(shmbus, cleanup)?;
    let wss = clients(serve.port, &gateway_request(&journal, binary), 1).await?;
    let run = run_clients(
        serve.pid,
        wss,
        plan.peak_rate,
        n,
        Source::Writer(&journal),
        cleanup,
    )
    .await?;
    let o = &run.outcomes[0];
    let secs = o
        .last_at
        .map_or(f64::NAN, |t| (t - run.start).as_secs_f64());
    let rate = o.received as f64 / secs;
    let cpu = run.server.1.cpu_percent_since(&run.server.0);
    let client_cpu = run.clients.1.cpu_percent_since(&run.clients.0);
    cleanup.stop(serve.idx);
    println!(
        "  delivered {:.0} msg/s ({} messages in {secs:.2} s), lost {} in {} gap notices, {} behind at the end; gateway {cpu:.0}% of one core, client {client_cpu:.0}%",
        rate,
        o.received,
        o.lost,
        o.gap_notices,
        n.saturating_sub(o.received + o.lost)
    );
    Ok(json!({
        "format": format, "writer_rate": plan.peak_rate, "written": n,
        "received": o.received, "lost": o.lost, "gap_notices": o.gap_notices,
        "behind": n.saturating_sub(o.received + o.lost),
        "out_of_order": o.out_of_order, "secs": secs, "delivered_rate": rate,
        "gateway_cpu_percent": cpu, "client_cpu_percent": client_cpu, "latency": dist(&o.hist),
    }))
}
