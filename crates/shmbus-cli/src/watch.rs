//! `shmbus slot watch`: a live table of a slot table, with update rate and write-to-read latency.
//!
//! Latency is measured from the record's timestamp (stamped by the writer just before it
//! publishes, `CLOCK_REALTIME`) to the moment this reader first sees the new sequence.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::json;
use shmbus::{SlotId, SlotReadError, SlotReader, TradingData};

use crate::output::{Out, esc};
use crate::size::human_ns;

/// Set by Ctrl-C (SIGINT) or SIGTERM.
pub fn stop_flag() -> &'static AtomicBool {
    static STOP: OnceLock<&'static AtomicBool> = OnceLock::new();
    STOP.get_or_init(|| {
        let flag: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        // If a handler is already installed (it cannot be, we install once), ignore.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
        flag
    })
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Slot table name.
    pub name: String,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_parser = crate::size::parse_seconds)]
    pub seconds: Option<f64>,
    /// Refresh the table every N milliseconds (1 to 3600000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub interval_ms: u64,
    /// Sleep N µs between polling passes (0 = busy-poll: lowest latency, one core busy; at most
    /// 1000000, so `--seconds` and Ctrl-C are noticed within a second).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub poll_us: u64,
    /// Write a JSON summary to this file at the end.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Accept a region owned by another user.
    #[arg(long)]
    pub allow_foreign_owner: bool,
}

struct Row {
    key: String,
    id: SlotId,
    seq: u64,
    last: Option<TradingData>,
    seen: u64,
    died_reported: bool,
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

fn pct(h: &Histogram<u64>, q: f64) -> String {
    if h.is_empty() {
        "-".into()
    } else {
        human_ns(h.value_at_quantile(q))
    }
}

pub fn run(a: &WatchArgs) -> Result<()> {
    let stop = stop_flag();
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let reader = SlotReader::<TradingData>::open_with(&a.name, opts)?;
    let tty = std::io::stdout().is_terminal();
    let start = Instant::now();
    let deadline = a.seconds.map(|s| start + Duration::from_secs_f64(s));
    let interval = Duration::from_millis(a.interval_ms.max(50));
    let mut rows: Vec<Row> = Vec::new();
    let mut total = new_hist();
    let mut window = new_hist();
    let (mut seen, mut written) = (0u64, 0u64);
    let mut window_seen = 0u64;
    let mut next_report = start + interval;
    let mut window_start = start;
    loop {
        if rows.len() < reader.len() as usize {
            for (key, id) in reader.keys().into_iter().skip(rows.len()) {
                rows.push(Row {
                    key,
                    id,
                    seq: 0,
                    last: None,
                    seen: 0,
                    died_reported: false,
                });
            }
        }
        for row in &mut rows {
            match reader.read_if_changed(row.id, row.seq) {
                Ok(Some(v)) => {
                    let lat = shmbus::now_unix_ns().saturating_sub(v.value.timestamp);
                    total.saturating_record(lat.max(1));
                    window.saturating_record(lat.max(1));
                    // Each write adds 2 to the sequence: the gap counts writes this reader missed.
                    written += if row.seq == 0 {
                        1
                    } else {
                        v.seq.saturating_sub(row.seq) / 2
                    };
                    row.seq = v.seq;
                    row.last = Some(v.value);
                    row.seen += 1;
                    seen += 1;
                    window_seen += 1;
                }
                Ok(None) => {}
                Err(SlotReadError::WriterDied { .. } | SlotReadError::Busy { .. })
                    if row.died_reported => {}
                Err(e @ (SlotReadError::WriterDied { .. } | SlotReadError::Busy { .. })) => {
                    errln!("shmbus: warning: {}", esc(&e.to_string()));
                    row.died_reported = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let now = Instant::now();
        let done = stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d);
        if now >= next_report || done {
            let secs = now.duration_since(window_start).as_secs_f64().max(1e-9);
            report(
                &a.name,
                tty,
                start.elapsed(),
                &rows,
                window_seen as f64 / secs,
                &window,
            )?;
            window.reset();
            window_seen = 0;
            window_start = now;
            next_report = now + interval;
        }
        if done {
            break;
        }
        if a.poll_us > 0 {
            std::thread::sleep(Duration::from_micros(a.poll_us));
        } else {
            std::hint::spin_loop();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    outln!(
        "reader: saw {seen} updates of {written} written ({} coalesced: overwritten before this reader looked) in {secs:.1} s, {:.0}/s; write-to-read latency p50 {} p99 {} p99.9 {} max {}",
        written.saturating_sub(seen),
        seen as f64 / secs.max(1e-9),
        pct(&total, 0.5),
        pct(&total, 0.99),
        pct(&total, 0.999),
        if total.is_empty() {
            "-".into()
        } else {
            human_ns(total.max())
        },
    );
    if let Some(path) = &a.summary_json {
        let q = |x: f64| {
            if total.is_empty() {
                0
            } else {
                total.value_at_quantile(x)
            }
        };
        let doc = json!({
            "seen": seen, "written": written, "seconds": secs, "symbols": rows.len(),
            "latency_ns": { "p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": total.max() },
        });
        std::fs::write(path, doc.to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn report(
    name: &str,
    tty: bool,
    elapsed: Duration,
    rows: &[Row],
    rate: f64,
    window: &Histogram<u64>,
) -> Result<()> {
    let mut out = Out::buffered();
    if tty {
        write!(out, "\x1b[H\x1b[2J")?;
        writeln!(
            out,
            "shmbus slot watch {}   {:.0} s   {rate:.0} updates/s   latency p50 {} p99 {}   (Ctrl-C to stop)\n",
            esc(name),
            elapsed.as_secs_f64(),
            pct(window, 0.5),
            pct(window, 0.99)
        )?;
        writeln!(
            out,
            "{:<12} {:>14} {:>8} {:>10} {:>7}",
            "SYMBOL", "PRICE", "VOLUME", "UPDATES", "VALID"
        )?;
        for r in rows {
            let (price, vol, valid) = r
                .last
                .map_or((f64::NAN, 0, false), |v| (v.price, v.volume, v.is_valid()));
            writeln!(
                out,
                "{:<12} {:>14.4} {:>8} {:>10} {:>7}",
                esc(&r.key),
                price,
                vol,
                r.seen,
                if valid { "yes" } else { "no" }
            )?;
        }
    } else {
        let prices: Vec<String> = rows
            .iter()
            .take(4)
            .filter_map(|r| Some(format!("{} {:.2}", esc(&r.key), r.last?.price)))
            .collect();
        writeln!(
            out,
            "[{:>5.1}s] {rate:>8.0} updates/s  latency p50 {:>9} p99 {:>9}  {}",
            elapsed.as_secs_f64(),
            pct(window, 0.5),
            pct(window, 0.99),
            prices.join("  ")
        )?;
    }
    Ok(out.flush()?)
}
