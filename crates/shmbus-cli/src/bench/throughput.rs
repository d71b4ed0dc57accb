//! `shmbus bench throughput`: one writer process appending as fast as it can to a ring journal,
//! N reader processes busy-polling `next()`, each checking every payload and that sequences are
//! consecutive, counting the messages lost when the writer laps them.
//!
//! The writer is this process (pinned to the first usable cpu); each reader is a re-executed
//! `shmbus bench __throughput-reader`, pinned round-robin to the other cpus, then to the writer's
//! own cpu when there are more readers than cpus left (reported as shared cores).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::{ReadError, Region};

use super::{
    Cleanup, Pinning, Stall, journal_name, loadavg, pin_to, read_report, spawn_self, template,
    wait_child,
};
use crate::size::{human_size, parse_size};
use crate::watch::stop_flag;

const TY_DATA: u16 = 1;
const TY_END: u16 = 0xffff;

#[derive(Debug, clap::Args)]
pub struct ThroughputArgs {
    /// Payload bytes per message (at least 16: the sequence, its complement at the end, and a
    /// checked pattern in between).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(16..=1 << 20))]
    size: u32,
    /// How long the writer writes.
    #[arg(long, default_value_t = 3.0, value_parser = crate::size::parse_seconds)]
    seconds: f64,
    /// Commit every N messages (1 = every message is committed on its own).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Reader processes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    readers: u32,
    /// Run the three reference configurations: batch 1 with 1 reader, batch 64 with 1 reader,
    /// batch 64 with 4 readers (ignores --batch and --readers).
    #[arg(long)]
    preset: bool,
    /// Data bytes of the ring journal.
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    ring: u64,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReaderArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    size: u32,
    #[arg(long)]
    cpu: usize,
    #[arg(long)]
    index: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReaderReport {
    index: u32,
    pinning: Pinning,
    messages: u64,
    payload_bytes: u64,
    /// From the first message to the end marker.
    seconds: f64,
    msgs_per_sec: f64,
    mb_per_sec: f64,
    /// Messages overwritten before this reader got to them.
    lost: u64,
    /// Times the writer lapped this reader.
    overruns: u64,
    /// Sequence numbers that did not follow the previous one (outside overruns): must be 0.
    gaps: u64,
    /// Payloads that failed the check: must be 0.
    bad_payloads: u64,
}

/// Whether `p` is the payload the writer wrote for sequence `seq`.
#[inline]
fn payload_ok(p: &[u8], tpl: &[u8], seq: u64) -> bool {
    let n = tpl.len();
    p.len() == n
        && p[..8] == seq.to_le_bytes()
        && p[n - 8..] == (!seq).to_le_bytes()
        && p[8..n - 8] == tpl[8..n - 8]
}

/// `shmbus bench __throughput-reader`: one reader process.
pub fn reader(a: &ReaderArgs) -> Result<()> {
    stop_flag(); // Ctrl-C reaches the whole process group: stop cleanly.
    let pinning = pin_to(a.cpu);
    let mut r = JournalReader::open_with(
        &a.name,
        Start::Beginning,
        Region::open_options().populate(true),
    )
    .with_context(|| format!("cannot open journal {}", a.name))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(&pinning)?)?;
    out.flush()?;
    drop(out);

    let tpl = template(a.size as usize);
    let mut stall = Stall::new("messages from the writer");
    let mut first: Option<Instant> = None;
    let (mut messages, mut bytes, mut lost, mut overruns, mut gaps, mut bad) =
        (0u64, 0, 0, 0, 0, 0);
    let mut expected = r.next_seq();
    loop {
        match r.next() {
            Ok(Some(m)) => {
                if m.ty == TY_END {
                    break;
                }
                if first.is_none() {
                    first = Some(Instant::now());
                    stall.reset();
                }
                if m.seq != expected {
                    gaps += 1;
                }
                expected = m.seq + 1;
                if !payload_ok(m.payload, &tpl, m.seq) {
                    bad += 1;
                }
                messages += 1;
                bytes += m.payload.len() as u64;
            }
            Ok(None) => stall.spin()?,
            Err(ReadError::Overrun {
                lost: l,
                resume_seq,
                ..
            }) => {
                lost += l;
                overruns += 1;
                expected = resume_seq;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let seconds = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let rate = |v: u64| {
        if seconds > 0.0 {
            v as f64 / seconds
        } else {
            0.0
        }
    };
    let report = ReaderReport {
        index: a.index,
        pinning,
        messages,
        payload_bytes: bytes,
        seconds,
        msgs_per_sec: rate(messages),
        mb_per_sec: rate(bytes) / 1e6,
        lost,
        overruns,
        gaps,
        bad_payloads: bad,
    };
    outln!("{}", serde_json::to_string(&report)?);
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
struct Outcome {
    size: u32,
    frame_bytes: u64,
    batch: u32,
    readers: u32,
    ring: u64,
    usable_cpus: usize,
    /// Busy processes (writer + readers) per usable cpu; above 1, processes share cores.
    oversubscription: f64,
    writer_pinning: Pinning,
    writer_messages: u64,
    writer_seconds: f64,
    writer_msgs_per_sec: f64,
    writer_mb_per_sec: f64,
    reader_reports: Vec<ReaderReport>,
}

fn frame_bytes(size: u32) -> u64 {
    16 + u64::from(size).div_ceil(8) * 8 + 8
}

fn run_one(
    a: &ThroughputArgs,
    batch: u32,
    readers: u32,
    cpus: &[usize],
    writer_pin: &Pinning,
) -> Result<Outcome> {
    let name = journal_name(&format!(
        "shmbus-bench-tput-{}-b{batch}-r{readers}",
        std::process::id()
    ));
    let mut cleanup = Cleanup::default();
    cleanup.journals.push(name.clone());
    let mut w = JournalWriter::builder(&name)
        .ring(a.ring)
        .populate(true)
        .create()
        .with_context(|| format!("cannot create journal {name}"))?;
    let mut outs = Vec::new();
    for i in 0..readers {
        let cpu = cpus[(1 + i as usize) % cpus.len()];
        let args: Vec<String> = vec![
            "__throughput-reader".into(),
            "--name".into(),
            name.clone(),
            "--size".into(),
            a.size.to_string(),
            "--cpu".into(),
            cpu.to_string(),
            "--index".into(),
            i.to_string(),
        ];
        let (child, out) = spawn_self(&args)?;
        cleanup.children.push(child);
        outs.push(out);
    }
    let mut pins = Vec::new();
    for (i, out) in outs.iter_mut().enumerate() {
        let p: Pinning = read_report(out, &mut cleanup.children[i], "throughput reader")?;
        pins.push(p);
    }

    let size = a.size as usize;
    let tpl = template(size);
    let stop = stop_flag();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(a.seconds);
    let mut since_check = 0u32;
    loop {
        for _ in 0..batch {
            let mut m = w.reserve(TY_DATA, size)?;
            let seq = m.seq();
            let s = m.as_mut_slice();
            s.copy_from_slice(&tpl);
            s[..8].copy_from_slice(&seq.to_le_bytes());
            s[size - 8..].copy_from_slice(&(!seq).to_le_bytes());
            m.finish();
        }
        w.commit();
        since_check += batch;
        if since_check >= 1024 {
            since_check = 0;
            if Instant::now() >= deadline {
                break;
            }
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                bail!("interrupted");
            }
        }
    }
    let writer_seconds = start.elapsed().as_secs_f64();
    let writer_messages = w.next_seq();
    w.append(TY_END, &[])?;
    w.commit();

    let mut reports = Vec::new();
    for (i, out) in outs.iter_mut().enumerate() {
        let mut r: ReaderReport = read_report(out, &mut cleanup.children[i], "throughput reader")?;
        r.pinning = pins[i].clone();
        reports.push(r);
    }
    for c in &mut cleanup.children {
        wait_child(c, "throughput reader", Duration::from_secs(10))?;
    }
    drop(w);
    drop(cleanup);
    for r in &reports {
        if r.gaps > 0 || r.bad_payloads > 0 {
            bail!(
                "reader {} saw {} sequence gaps and {} bad payloads: the journal is broken",
                r.index,
                r.gaps,
                r.bad_payloads
            );
        }
    }

    let writer_msgs_per_sec = writer_messages as f64 / writer_seconds;
    Ok(Outcome {
        size: a.size,
        frame_bytes: frame_bytes(a.size),
        batch,
        readers,
        ring: a.ring,
        usable_cpus: cpus.len(),
        oversubscription: f64::from(readers + 1) / cpus.len() as f64,
        writer_pinning: writer_pin.clone(),
        writer_messages,
        writer_seconds,
        writer_msgs_per_sec,
        writer_mb_per_sec: writer_messages as f64 * f64::from(a.size) / writer_seconds / 1e6,
        reader_reports: reports,
    })
}

fn millions(v: f64) -> String {
    format!("{:.2}M", v / 1e6)
}

fn print_outcome(o: &Outcome, seconds: f64) -> anyhow::Result<()> {
    outln!(
        "\n{} B messages ({} B frames), commit every {}, {} reader{}, {seconds:.1} s, ring {}",
        o.size,
        o.frame_bytes,
        o.batch,
        o.readers,
        if o.readers == 1 { "" } else { "s" },
        human_size(o.ring)
    );
    outln!("  writer: {}", o.writer_pinning.describe());
    for r in &o.reader_reports {
        outln!("  reader {}: {}", r.index, r.pinning.describe());
    }
    if o.oversubscription > 1.0 {
        outln!(
            "  NOTE: {} busy processes on {} cpus: the writer and readers share cores (time-sliced), \
             so these figures measure sharing, not parallel capacity",
            o.readers + 1,
            o.usable_cpus
        );
    }
    outln!(
        "  {:<10}{:>12}{:>12}{:>11}{:>10}{:>10}",
        "",
        "messages",
        "msg/s",
        "MB/s",
        "lost",
        "overruns"
    );
    outln!(
        "  {:<10}{:>12}{:>12}{:>11.1}",
        "writer",
        millions(o.writer_messages as f64),
        millions(o.writer_msgs_per_sec),
        o.writer_mb_per_sec
    );
    for r in &o.reader_reports {
        outln!(
            "  {:<10}{:>12}{:>12}{:>11.1}{:>10}{:>10}",
            format!("reader {}", r.index),
            millions(r.messages as f64),
            millions(r.msgs_per_sec),
            r.mb_per_sec,
            r.lost,
            r.overruns
        );
    }
    Ok(())
}

pub fn run(a: &ThroughputArgs) -> Result<()> {
    stop_flag();
    let set = rustix::thread::sched_getaffinity(None).context("sched_getaffinity")?;
    let cpus: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .collect();
    if cpus.is_empty() {
        bail!("no usable cpu");
    }
    let load_start = loadavg();
    let writer_pin = pin_to(cpus[0]);
    let configs: Vec<(u32, u32)> = if a.preset {
        vec![(1, 1), (64, 1), (64, 4)]
    } else {
        vec![(a.batch, a.readers)]
    };
    if !a.json {
        outln!(
            "shmbus bench throughput: 1 writer process (this one) + reader processes busy-polling next(), \
             checking every payload and sequence; {} usable cpus",
            cpus.len()
        );
        outln!(
            "  MB/s counts payload bytes (10^6 B/s); msg/s of a reader counts the messages it received"
        );
        outln!(
            "  load average at start: {load_start} (other work on the machine disturbs the figures)"
        );
    }
    let mut outcomes = Vec::new();
    for (batch, readers) in configs {
        if a.json {
            errln!("batch {batch}, {readers} readers ...");
        }
        let o = run_one(a, batch, readers, &cpus, &writer_pin)?;
        if !a.json {
            print_outcome(&o, a.seconds)?;
        }
        outcomes.push(o);
    }
    let load_end = loadavg();
    if a.json {
        let doc = json!({
            "benchmark": "throughput",
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "config": { "size": a.size, "seconds": a.seconds, "ring": a.ring, "preset": a.preset },
            "results": outcomes,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        outln!("\nload average at end: {load_end}");
    }
    Ok(())
}
