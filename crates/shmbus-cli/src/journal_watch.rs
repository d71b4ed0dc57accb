//! `shmbus journal watch`: follows a journal of `Trade` messages and reports the trade rate and
//! the write-to-read latency (trade timestamp to the moment this reader has it), checking that
//! sequences are consecutive.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::json;
use shmbus::candles::{BAR_TYPE, Bar};
use shmbus::journal::{JournalReader, Start};
use shmbus::{ReadError, TRADE_TYPE, Trade};

use crate::output::esc_bytes;
use crate::size::human_ns;
use crate::watch::stop_flag;

#[derive(Debug, clap::Args)]
pub struct JournalWatchArgs {
    /// Journal name.
    name: String,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_parser = crate::size::parse_seconds)]
    seconds: Option<f64>,
    /// Busy-poll instead of sleeping on the futex between messages (one core busy).
    #[arg(long)]
    busy: bool,
    /// Start from the oldest stored message instead of only new ones.
    #[arg(long)]
    from_start: bool,
    /// Write a JSON summary to this file at the end.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Register as this reader: `shmbus top` and `inspect` then show its lag.
    #[arg(long = "name", value_name = "READER")]
    reader_name: Option<String>,
    /// Accept a journal owned by another user.
    #[arg(long)]
    allow_foreign_owner: bool,
}

pub fn run(a: &JournalWatchArgs) -> Result<()> {
    let stop = stop_flag();
    let start_at = if a.from_start {
        Start::Beginning
    } else {
        Start::End
    };
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let mut r = JournalReader::open_with(&a.name, start_at, opts)?;
    if let Some(reader) = &a.reader_name {
        r.register(reader)?;
    }
    let start = Instant::now();
    let deadline = a.seconds.map(|s| start + Duration::from_secs_f64(s));
    let mut total = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
    let mut window = total.clone();
    let (mut trades, mut window_trades, mut lost, mut other) = (0u64, 0u64, 0u64, 0u64);
    let mut bars = 0u64;
    let mut last: Option<Trade> = None;
    let mut next_report = start + Duration::from_secs(1);
    let mut draining = false;
    let mut window_start = start;
    loop {
        let now = Instant::now();
        let done = stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d);
        if now >= next_report || (done && !draining) {
            let secs = now.duration_since(window_start).as_secs_f64().max(1e-9);
            let q = |h: &Histogram<u64>, x| {
                if h.is_empty() {
                    "-".into()
                } else {
                    human_ns(h.value_at_quantile(x))
                }
            };
            let last_txt = last.map_or_else(String::new, |t| {
                let symbol = esc_bytes(crate::records::trim(&t.symbol));
                format!("  last {symbol} {:.2} x {}", t.price, t.volume)
            });
            let lat = if window.is_empty() {
                String::new()
            } else {
                format!(
                    "  latency p50 {:>9} p99 {:>9}",
                    q(&window, 0.5),
                    q(&window, 0.99)
                )
            };
            outln!(
                "[{:>5.1}s] journal {:>8.0} msg/s{lat}{last_txt}",
                start.elapsed().as_secs_f64(),
                window_trades as f64 / secs,
            );
            window.reset();
            window_trades = 0;
            window_start = now;
            next_report = now + Duration::from_secs(1);
        }
        // Asked to stop: take what is already committed, then leave.
        draining |= done;
        let got = if a.busy || draining {
            r.next()
        } else {
            r.next_timeout(Duration::from_millis(100))
        };
        match got {
            Ok(Some(m)) if m.ty == TRADE_TYPE && m.payload.len() == size_of::<Trade>() => {
                let t: Trade = bytemuck::pod_read_unaligned(m.payload);
                let lat = shmbus::now_unix_ns().saturating_sub(t.timestamp_ns).max(1);
                total.saturating_record(lat);
                window.saturating_record(lat);
                trades += 1;
                window_trades += 1;
                last = Some(t);
            }
            Ok(Some(m)) if m.ty == BAR_TYPE && m.payload.len() == size_of::<Bar>() => {
                window_trades += 1;
                bars += 1;
            }
            Ok(Some(_)) => other += 1,
            Ok(None) if draining => break,
            Ok(None) => std::hint::spin_loop(),
            Err(ReadError::Overrun { lost: n, .. }) => lost += n,
            Err(e) => return Err(e.into()),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let q = |x| {
        if total.is_empty() {
            0
        } else {
            total.value_at_quantile(x)
        }
    };
    let latency = if total.is_empty() {
        String::new()
    } else {
        format!(
            "; write-to-read latency ({}) p50 {} p99 {} p99.9 {} max {}",
            if a.busy {
                "busy-poll"
            } else {
                "blocking futex wait"
            },
            human_ns(q(0.5)),
            human_ns(q(0.99)),
            human_ns(q(0.999)),
            human_ns(total.max()),
        )
    };
    outln!(
        "journal reader: {trades} trades in {secs:.1} s ({:.0}/s), {bars} bars, {lost} lost, {other} other messages{latency}",
        trades as f64 / secs.max(1e-9),
    );
    if let Some(path) = &a.summary_json {
        let doc = json!({
            "trades": trades, "bars": bars, "lost": lost, "seconds": secs, "mode": if a.busy { "busy" } else { "blocking" },
            "latency_ns": { "p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": total.max() },
        });
        std::fs::write(path, doc.to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
