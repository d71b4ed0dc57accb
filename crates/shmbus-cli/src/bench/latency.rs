//! `shmbus bench latency`: one-way journal latency between two pinned processes.
//!
//! Process A (this one, cpu 0) appends a message to ring journal AB and commits; process B (a
//! re-executed `shmbus bench __latency-peer`, cpu 1) reads it, checks every byte, and appends it
//! to ring journal BA; A waits for the echo and checks it too. One-way = round trip / 2, one
//! histogram entry per round trip. In busy mode both sides poll `next()`; in blocking mode both
//! sides wait in `next_timeout` with no spin, so they really sleep on the journal's futex.
//!
//! Around the journal, in the same pair of processes: the cache-line floor before and after
//! (and, in busy mode, the message floor: the same ping-pong carrying the payload; in blocking
//! mode, the raw futex wake-up), so the journal's figures are quoted as ratios to what the
//! machine can do at that moment (the host moves the two vCPUs between a "near" and a "far"
//! placement every 10–30 s).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shmbus::Region;
use shmbus::journal::{JournalReader, JournalWriter, Start};

use super::floor::Shared;
use super::{
    Cleanup, Dist, Pinning, Stall, fmt_ns, journal_name, loadavg, median, new_hist, ns, pin_to,
    read_report, shm_dir, spawn_self, template, usable_cpus, wait_child,
};
use crate::size::{human_size, parse_size};
use crate::watch::stop_flag;

/// Type tag of the ping (A to B) and pong (B to A) messages.
const TY_PING: u16 = 1;
const TY_PONG: u16 = 2;
/// Each blocking wait gives up after this long and looks again (Ctrl-C, a dead peer).
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// Floor p50 below this: "near" placement; above `FAR_NS`: "far" (benchmarking notes: near is
/// about 55 ns one-way, far about 250 ns).
const NEAR_NS: f64 = 120.0;
const FAR_NS: f64 = 180.0;
/// Floors before and after that differ by more than this factor: the placement changed.
const DRIFT: f64 = 1.3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Readers busy-poll `next()`.
    Busy,
    /// Readers sleep in `next_timeout` (no spin) until the writer's commit wakes them.
    Blocking,
    /// Busy, then blocking.
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitMode {
    Busy,
    Blocking,
}

impl WaitMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Blocking => "blocking",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Busy => "busy-poll (both sides spin on next())",
            Self::Blocking => {
                "blocking (both sides sleep in next_timeout, no spin; the commit wakes them)"
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// Payload bytes per message (at least 16: a counter and a timestamp; the rest is filled
    /// and checked).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(16..=1 << 20))]
    size: u32,
    /// Measured round trips per measurement (the floors use as many).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    messages: u64,
    /// Unmeasured round trips before each measurement.
    #[arg(long, default_value_t = 200_000)]
    warmup: u64,
    /// How the readers wait.
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    mode: ModeArg,
    /// Repeat everything this many times (the median of the runs is printed too).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Print one JSON document with every figure instead of tables.
    #[arg(long)]
    json: bool,
    /// Data bytes of each of the two ring journals.
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    ring: u64,
    /// Cpu of process A (this one).
    #[arg(long, default_value_t = 0)]
    cpu_a: usize,
    /// Cpu of process B (the echo).
    #[arg(long, default_value_t = 1)]
    cpu_b: usize,
}

#[derive(Debug, clap::Args)]
pub struct PeerArgs {
    #[arg(long)]
    shared: PathBuf,
    #[arg(long)]
    ab: String,
    #[arg(long)]
    ba: String,
    #[arg(long)]
    size: u32,
    #[arg(long)]
    messages: u64,
    #[arg(long)]
    warmup: u64,
    #[arg(long, value_enum)]
    mode: WaitMode,
    #[arg(long)]
    ring: u64,
    #[arg(long)]
    cpu: usize,
}

/// What both processes do, in order. They agree on it, which keeps their counters in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Floor,
    MsgFloor,
    Futex,
    Journal,
}

fn phases(mode: WaitMode) -> &'static [Phase] {
    match mode {
        WaitMode::Busy => &[
            Phase::Floor,
            Phase::MsgFloor,
            Phase::Journal,
            Phase::MsgFloor,
            Phase::Floor,
        ],
        WaitMode::Blocking => &[
            Phase::Floor,
            Phase::Futex,
            Phase::Journal,
            Phase::Futex,
            Phase::Floor,
        ],
    }
}

// ----- the payload -----

fn fill(buf: &mut [u8], tpl: &[u8], counter: u64, ts: u64) {
    buf.copy_from_slice(tpl);
    buf[..8].copy_from_slice(&counter.to_le_bytes());
    buf[8..16].copy_from_slice(&ts.to_le_bytes());
    let n = buf.len();
    if n >= 24 {
        buf[n - 8..].copy_from_slice(&(!counter).to_le_bytes());
    }
}

fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Checks every byte of a message: its counter, its timestamp (if `ts` is known), the
/// complement of the counter at the end and the pattern in between. Returns the timestamp.
fn check(p: &[u8], tpl: &[u8], counter: u64, ts: Option<u64>, who: &str) -> Result<u64> {
    let n = tpl.len();
    if p.len() != n {
        bail!("{who}: message {counter} has {} bytes, sent {n}", p.len());
    }
    let (c, t) = (word(p, 0), word(p, 8));
    if c != counter {
        bail!("{who}: expected message {counter}, got {c}");
    }
    if ts.is_some_and(|ts| ts != t) {
        bail!("{who}: message {counter} came back with another timestamp");
    }
    let body_end = if n >= 24 { n - 8 } else { n };
    if n >= 24 && word(p, n - 8) != !counter {
        bail!("{who}: message {counter} has a bad trailing word");
    }
    if p[16..body_end] != tpl[16..body_end] {
        bail!("{who}: message {counter} has a corrupt payload");
    }
    Ok(t)
}

fn open_reader(name: &str) -> Result<JournalReader> {
    JournalReader::open_with(name, Start::End, Region::open_options().populate(true))
        .with_context(|| format!("cannot open journal {name}"))
}

fn create_ring(name: &str, ring: u64) -> Result<JournalWriter> {
    JournalWriter::builder(name)
        .ring(ring)
        .populate(true)
        .create()
        .with_context(|| format!("cannot create journal {name}"))
}

/// Side A of the journal ping-pong.
#[allow(clippy::too_many_arguments)]
fn journal_a(
    w: &mut JournalWriter,
    r: &mut JournalReader,
    mode: WaitMode,
    size: usize,
    warmup: u64,
    n: u64,
    rtt: &mut Histogram<u64>,
) -> Result<()> {
    let tpl = template(size);
    let epoch = Instant::now();
    for c in 1..=warmup + n {
        let t0 = Instant::now();
        let ts = ns(t0 - epoch);
        {
            let mut m = w.reserve(TY_PING, size)?;
            fill(m.as_mut_slice(), &tpl, c, ts);
            m.finish();
        }
        w.commit();
        let mut stall = Stall::new("the journal echo");
        match mode {
            WaitMode::Busy => loop {
                if let Some(m) = r.next()? {
                    check(m.payload, &tpl, c, Some(ts), "echo")?;
                    break;
                }
                stall.spin()?;
            },
            WaitMode::Blocking => loop {
                if let Some(m) = r.next_timeout(WAIT_SLICE)? {
                    check(m.payload, &tpl, c, Some(ts), "echo")?;
                    break;
                }
                stall.check()?;
            },
        }
        let t1 = Instant::now();
        if c > warmup {
            rtt.saturating_record(ns(t1 - t0).max(1));
        }
    }
    Ok(())
}

/// Side B of the journal ping-pong: read, check, send the same bytes back.
fn journal_b(
    w: &mut JournalWriter,
    r: &mut JournalReader,
    mode: WaitMode,
    size: usize,
    total: u64,
) -> Result<()> {
    let tpl = template(size);
    for c in 1..=total {
        let mut stall = Stall::new("the journal ping");
        match mode {
            WaitMode::Busy => loop {
                if let Some(m) = r.next()? {
                    check(m.payload, &tpl, c, None, "peer")?;
                    w.append(TY_PONG, m.payload)?;
                    break;
                }
                stall.spin()?;
            },
            WaitMode::Blocking => loop {
                if let Some(m) = r.next_timeout(WAIT_SLICE)? {
                    check(m.payload, &tpl, c, None, "peer")?;
                    w.append(TY_PONG, m.payload)?;
                    break;
                }
                stall.check()?;
            },
        }
        w.commit();
    }
    Ok(())
}

/// `shmbus bench __latency-peer`: process B.
pub fn peer(a: &PeerArgs) -> Result<()> {
    stop_flag(); // Ctrl-C reaches the whole process group: stop cleanly.
    let pin = pin_to(a.cpu);
    let mut shared = Shared::open(&a.shared, a.size as usize)?;
    let mut w = create_ring(&a.ba, a.ring)?;
    let mut r = open_reader(&a.ab)?;
    // Ready: A opens our journal and starts once it reads this line.
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(&pin)?)?;
    out.flush()?;
    drop(out);
    let total = a.warmup + a.messages;
    for ph in phases(a.mode) {
        match ph {
            Phase::Floor => shared.spin_b(total)?,
            Phase::MsgFloor => shared.msg_b(total)?,
            Phase::Futex => shared.futex_b(total)?,
            Phase::Journal => journal_b(&mut w, &mut r, a.mode, a.size as usize, total)?,
        }
    }
    Ok(())
}

// ----- results -----

#[derive(Debug, Clone, Serialize)]
struct Ratios {
    p50_vs_floor_before: f64,
    p50_vs_floor_after: f64,
    p999_vs_floor_before: f64,
    p999_vs_floor_after: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_vs_futex_before: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_vs_futex_after: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_vs_msg_floor_before: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_vs_msg_floor_after: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p999_vs_msg_floor_before: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p999_vs_msg_floor_after: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct Measurement {
    run: u32,
    mode: WaitMode,
    pinning_a: Pinning,
    pinning_b: Pinning,
    floor_before: Dist,
    floor_after: Dist,
    #[serde(skip_serializing_if = "Option::is_none")]
    futex_before: Option<Dist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    futex_after: Option<Dist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg_floor_before: Option<Dist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg_floor_after: Option<Dist>,
    journal: Dist,
    placement_before: &'static str,
    placement_after: &'static str,
    /// The placement, or "changed" if before and after disagree (see also `reliable`).
    placement: &'static str,
    /// max / min of the two floor p50s.
    floor_drift: f64,
    reliable: bool,
    ratios: Ratios,
    seconds: f64,
}

fn placement(floor_p50: f64) -> &'static str {
    if floor_p50 < NEAR_NS {
        "near"
    } else if floor_p50 > FAR_NS {
        "far"
    } else {
        "unclear"
    }
}

/// The baselines around the journal: the floor, and the futex or the message floor.
struct Around<'a> {
    floor: (&'a Dist, &'a Dist),
    futex: (Option<&'a Dist>, Option<&'a Dist>),
    msg: (Option<&'a Dist>, Option<&'a Dist>),
}

fn ratios(j: &Dist, b: &Around<'_>) -> Ratios {
    Ratios {
        p50_vs_floor_before: j.p50 / b.floor.0.p50,
        p50_vs_floor_after: j.p50 / b.floor.1.p50,
        p999_vs_floor_before: j.p999 / b.floor.0.p999,
        p999_vs_floor_after: j.p999 / b.floor.1.p999,
        p50_vs_futex_before: b.futex.0.map(|x| j.p50 / x.p50),
        p50_vs_futex_after: b.futex.1.map(|x| j.p50 / x.p50),
        p50_vs_msg_floor_before: b.msg.0.map(|x| j.p50 / x.p50),
        p50_vs_msg_floor_after: b.msg.1.map(|x| j.p50 / x.p50),
        p999_vs_msg_floor_before: b.msg.0.map(|x| j.p999 / x.p999),
        p999_vs_msg_floor_after: b.msg.1.map(|x| j.p999 / x.p999),
    }
}

/// One measurement: a fresh peer process, fresh journals, the phases of `mode`.
fn measure(a: &LatencyArgs, run: u32, mode: WaitMode, pin_a: &Pinning) -> Result<Measurement> {
    let started = Instant::now();
    let tag = format!(
        "shmbus-bench-lat-{}-{run}-{}",
        std::process::id(),
        mode.as_str()
    );
    let mut cleanup = Cleanup::default();
    let shared_path = shm_dir().join(format!("{tag}-floor"));
    let (ab, ba) = (
        journal_name(&format!("{tag}-ab")),
        journal_name(&format!("{tag}-ba")),
    );
    cleanup.files.push(shared_path.clone());
    cleanup.journals.push(ab.clone());
    cleanup.journals.push(ba.clone());
    let mut shared = Shared::create(&shared_path, a.size as usize)?;
    let mut w = create_ring(&ab, a.ring)?;
    let args: Vec<String> = vec![
        "__latency-peer".into(),
        "--shared".into(),
        shared_path.to_string_lossy().into_owned(),
        "--ab".into(),
        ab.clone(),
        "--ba".into(),
        ba.clone(),
        "--size".into(),
        a.size.to_string(),
        "--messages".into(),
        a.messages.to_string(),
        "--warmup".into(),
        a.warmup.to_string(),
        "--mode".into(),
        mode.as_str().into(),
        "--ring".into(),
        a.ring.to_string(),
        "--cpu".into(),
        a.cpu_b.to_string(),
    ];
    let (child, mut out) = spawn_self(&args)?;
    cleanup.children.push(child);
    let pin_b: Pinning = read_report(&mut out, &mut cleanup.children[0], "latency peer")?;
    let mut r = open_reader(&ba)?;

    let (size, warmup, n) = (a.size as usize, a.warmup, a.messages);
    let mut floors = Vec::new();
    let mut futexes = Vec::new();
    let mut msgs = Vec::new();
    let mut journal = None;
    for ph in phases(mode) {
        let mut h = new_hist();
        match ph {
            Phase::Floor => {
                shared.spin_a(warmup, n, &mut h)?;
                floors.push(Dist::one_way(&h));
            }
            Phase::MsgFloor => {
                shared.msg_a(warmup, n, &mut h)?;
                msgs.push(Dist::one_way(&h));
            }
            Phase::Futex => {
                shared.futex_a(warmup, n, &mut h)?;
                futexes.push(Dist::one_way(&h));
            }
            Phase::Journal => {
                journal_a(&mut w, &mut r, mode, size, warmup, n, &mut h)?;
                journal = Some(Dist::one_way(&h));
            }
        }
    }
    wait_child(
        &mut cleanup.children[0],
        "latency peer",
        Duration::from_secs(30),
    )?;
    drop((w, r, shared));
    drop(cleanup);

    let journal = journal.expect("every mode measures the journal");
    let (fb, fa) = (floors[0], floors[1]);
    let (xb, xa) = (futexes.first().copied(), futexes.get(1).copied());
    let (mb, ma) = (msgs.first().copied(), msgs.get(1).copied());
    let ratios = ratios(
        &journal,
        &Around {
            floor: (&fb, &fa),
            futex: (xb.as_ref(), xa.as_ref()),
            msg: (mb.as_ref(), ma.as_ref()),
        },
    );
    let drift = fb.p50.max(fa.p50) / fb.p50.min(fa.p50);
    let (pb, pa) = (placement(fb.p50), placement(fa.p50));
    let reliable = drift <= DRIFT;
    Ok(Measurement {
        run,
        mode,
        pinning_a: pin_a.clone(),
        pinning_b: pin_b,
        floor_before: fb,
        floor_after: fa,
        futex_before: xb,
        futex_after: xa,
        msg_floor_before: mb,
        msg_floor_after: ma,
        journal,
        placement_before: pb,
        placement_after: pa,
        placement: if pb == pa { pb } else { "changed" },
        floor_drift: drift,
        reliable,
        ratios,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[derive(Debug, Serialize)]
struct Summary {
    mode: WaitMode,
    runs: usize,
    reliable_runs: usize,
    placements: Vec<&'static str>,
    floor_before: Dist,
    floor_after: Dist,
    #[serde(skip_serializing_if = "Option::is_none")]
    futex_before: Option<Dist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    futex_after: Option<Dist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg_floor_before: Option<Dist>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg_floor_after: Option<Dist>,
    journal: Dist,
    /// Medians of the per-run ratios.
    ratios: Ratios,
}

fn summarize(mode: WaitMode, ms: &[&Measurement]) -> Summary {
    let d =
        |f: fn(&Measurement) -> Dist| Dist::median(&ms.iter().map(|m| f(m)).collect::<Vec<_>>());
    let od = |f: fn(&Measurement) -> Option<Dist>| {
        let v: Vec<Dist> = ms.iter().filter_map(|m| f(m)).collect();
        (!v.is_empty()).then(|| Dist::median(&v))
    };
    let r = |f: fn(&Ratios) -> f64| median(ms.iter().map(|m| f(&m.ratios)).collect());
    let or = |f: fn(&Ratios) -> Option<f64>| {
        let v: Vec<f64> = ms.iter().filter_map(|m| f(&m.ratios)).collect();
        (!v.is_empty()).then(|| median(v))
    };
    let ratios = Ratios {
        p50_vs_floor_before: r(|r| r.p50_vs_floor_before),
        p50_vs_floor_after: r(|r| r.p50_vs_floor_after),
        p999_vs_floor_before: r(|r| r.p999_vs_floor_before),
        p999_vs_floor_after: r(|r| r.p999_vs_floor_after),
        p50_vs_futex_before: or(|r| r.p50_vs_futex_before),
        p50_vs_futex_after: or(|r| r.p50_vs_futex_after),
        p50_vs_msg_floor_before: or(|r| r.p50_vs_msg_floor_before),
        p50_vs_msg_floor_after: or(|r| r.p50_vs_msg_floor_after),
        p999_vs_msg_floor_before: or(|r| r.p999_vs_msg_floor_before),
        p999_vs_msg_floor_after: or(|r| r.p999_vs_msg_floor_after),
    };
    let journal = d(|m| m.journal);
    Summary {
        mode,
        runs: ms.len(),
        reliable_runs: ms.iter().filter(|m| m.reliable).count(),
        placements: ms.iter().map(|m| m.placement).collect(),
        floor_before: d(|m| m.floor_before),
        floor_after: d(|m| m.floor_after),
        futex_before: od(|m| m.futex_before),
        futex_after: od(|m| m.futex_after),
        msg_floor_before: od(|m| m.msg_floor_before),
        msg_floor_after: od(|m| m.msg_floor_after),
        journal,
        ratios,
    }
}

// ----- printing -----

fn row(name: &str, d: &Dist) -> anyhow::Result<()> {
    outln!(
        "  {name:<14}{:>11}{:>11}{:>11}{:>11}{:>11}",
        fmt_ns(d.p50),
        fmt_ns(d.p90),
        fmt_ns(d.p99),
        fmt_ns(d.p999),
        fmt_ns(d.max)
    );
    Ok(())
}

/// The one-way table: floors around the journal, and the message floor (busy) or the raw
/// futex (blocking) around it.
fn table(journal: &Dist, b: &Around<'_>) -> anyhow::Result<()> {
    header()?;
    row("floor before", b.floor.0)?;
    if let Some(x) = b.msg.0 {
        row("msg floor bef.", x)?;
    }
    if let Some(x) = b.futex.0 {
        row("futex before", x)?;
    }
    row("journal", journal)?;
    if let Some(x) = b.futex.1 {
        row("futex after", x)?;
    }
    if let Some(x) = b.msg.1 {
        row("msg floor aft.", x)?;
    }
    row("floor after", b.floor.1)?;
    Ok(())
}

fn header() -> anyhow::Result<()> {
    outln!(
        "  {:<14}{:>11}{:>11}{:>11}{:>11}{:>11}",
        "one-way",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max"
    );
    Ok(())
}

fn print_ratios(r: &Ratios) -> anyhow::Result<()> {
    outln!(
        "  journal / floor      p50 {:.2}x (before) {:.2}x (after)    p99.9 {:.2}x (before) {:.2}x (after)",
        r.p50_vs_floor_before,
        r.p50_vs_floor_after,
        r.p999_vs_floor_before,
        r.p999_vs_floor_after
    );
    if let (Some(b), Some(a)) = (r.p50_vs_futex_before, r.p50_vs_futex_after) {
        outln!("  journal / futex      p50 {b:.2}x (before) {a:.2}x (after)");
    }
    if let (Some(b), Some(a), Some(b9), Some(a9)) = (
        r.p50_vs_msg_floor_before,
        r.p50_vs_msg_floor_after,
        r.p999_vs_msg_floor_before,
        r.p999_vs_msg_floor_after,
    ) {
        outln!(
            "  journal / msg floor  p50 {b:.2}x (before) {a:.2}x (after)    p99.9 {b9:.2}x (before) {a9:.2}x (after)"
        );
    }
    Ok(())
}

fn print_measurement(m: &Measurement, runs: u32) -> anyhow::Result<()> {
    outln!(
        "\nrun {}/{runs}: {} ({:.1} s)",
        m.run,
        m.mode.title(),
        m.seconds
    );
    outln!(
        "  pinning: A {}; B {}",
        m.pinning_a.describe(),
        m.pinning_b.describe()
    );
    table(
        &m.journal,
        &Around {
            floor: (&m.floor_before, &m.floor_after),
            futex: (m.futex_before.as_ref(), m.futex_after.as_ref()),
            msg: (m.msg_floor_before.as_ref(), m.msg_floor_after.as_ref()),
        },
    )?;
    outln!(
        "  placement: {} (floor p50 {} before: {}, {} after: {})",
        m.placement,
        fmt_ns(m.floor_before.p50),
        m.placement_before,
        fmt_ns(m.floor_after.p50),
        m.placement_after
    );
    if !m.reliable {
        outln!(
            "  UNRELIABLE: the floor moved {:.2}x between before and after (the host moved the vCPUs mid-run)",
            m.floor_drift
        );
    }
    print_ratios(&m.ratios)?;
    Ok(())
}

fn print_summary(s: &Summary) -> anyhow::Result<()> {
    outln!(
        "\nmedian of {} runs: {}\n  placements: {} ({} of {} runs reliable)",
        s.runs,
        s.mode.title(),
        s.placements.join(", "),
        s.reliable_runs,
        s.runs
    );
    let mut modes = s.placements.clone();
    modes.dedup();
    if modes.len() > 1 {
        outln!(
            "  note: the runs span placements, so medians of absolute figures mix modes; the ratios are comparable"
        );
    }
    table(
        &s.journal,
        &Around {
            floor: (&s.floor_before, &s.floor_after),
            futex: (s.futex_before.as_ref(), s.futex_after.as_ref()),
            msg: (s.msg_floor_before.as_ref(), s.msg_floor_after.as_ref()),
        },
    )?;
    print_ratios(&s.ratios)?;
    Ok(())
}

pub fn run(a: &LatencyArgs) -> Result<()> {
    stop_flag();
    let modes: &[WaitMode] = match a.mode {
        ModeArg::Busy => &[WaitMode::Busy],
        ModeArg::Blocking => &[WaitMode::Blocking],
        ModeArg::Both => &[WaitMode::Busy, WaitMode::Blocking],
    };
    let cpus = usable_cpus();
    let load_start = loadavg();
    let pin_a = pin_to(a.cpu_a);
    if !a.json {
        outln!(
            "shmbus bench latency: {} B messages, {} measured round trips (+{} warm-up) per measurement, rings of {}; \
             one-way = round trip / 2",
            a.size,
            a.messages,
            a.warmup,
            human_size(a.ring)
        );
        outln!(
            "  A = this process (cpu {}), B = `shmbus bench __latency-peer` (cpu {}); {cpus} usable cpus",
            a.cpu_a,
            a.cpu_b
        );
        outln!(
            "  placement from the floor p50: near < {NEAR_NS} ns, far > {FAR_NS} ns; floors before/after differing by > 30% = unreliable"
        );
        outln!(
            "  load average at start: {load_start} (other work on the machine disturbs the figures)"
        );
    }
    let mut all = Vec::new();
    for run in 1..=a.runs {
        for &mode in modes {
            if a.json {
                errln!("run {run}/{}: {} ...", a.runs, mode.as_str());
            }
            let m = measure(a, run, mode, &pin_a)?;
            if !a.json {
                print_measurement(&m, a.runs)?;
            }
            all.push(m);
        }
    }
    let summaries: Vec<Summary> = modes
        .iter()
        .map(|&mode| {
            let ms: Vec<&Measurement> = all.iter().filter(|m| m.mode == mode).collect();
            summarize(mode, &ms)
        })
        .collect();
    let load_end = loadavg();
    if a.json {
        let doc = json!({
            "benchmark": "latency",
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "config": {
                "size": a.size,
                "messages": a.messages,
                "warmup": a.warmup,
                "runs": a.runs,
                "ring": a.ring,
                "cpu_a": a.cpu_a,
                "cpu_b": a.cpu_b,
                "usable_cpus": cpus,
                "near_below_ns": NEAR_NS,
                "far_above_ns": FAR_NS,
            },
            "units": "one-way nanoseconds (round trip / 2)",
            "measurements": all,
            "median": summaries,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for s in &summaries {
            print_summary(s)?;
        }
        outln!("\nload average at end: {load_end}");
    }
    Ok(())
}
