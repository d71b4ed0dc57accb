//! `shmbus replay`: replays OHLCV bars from CSV files in timestamp order, across files, at X
//! times real speed (or as fast as possible), into a candle region and, as `Bar` messages, into
//! a journal, so consumers see a realistic live feed (seed 004's engine).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use shmbus::candles::{BAR_TYPE, Bar, Candle, CandleWriter};
use shmbus::journal::JournalWriter;
use shmbus::{CandleError, JournalError, OpenOptions, RegionError};

use crate::csv_import::{at_line, open_csv, parse_tz, read_csv};
use crate::output::esc;
use crate::size::{Speed, parse_seconds, parse_size, parse_speed};
use crate::watch::stop_flag;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// CSV files; each file's symbol is its name without extension, or give FILE.csv=SYMBOL or
    /// FILE.csv=SYMBOL:INTERVAL.
    #[arg(required = true)]
    files: Vec<String>,
    /// Candle region to write the bars into (created if missing).
    #[arg(long)]
    candles: Option<String>,
    /// Journal to publish each bar to as a 72-byte `Bar` message (type 3); a ring is created if
    /// missing.
    #[arg(long)]
    journal: Option<String>,
    /// Interval of the series.
    #[arg(long, default_value = "1d")]
    interval: String,
    /// Replay speed: a multiple of real time from 0.000001 to 1e12 (86400 = one day of bars per
    /// second), or `max`.
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    speed: Speed,
    /// Instead of --speed: pick the speed that makes the whole replay last this many seconds
    /// (0 to 1e9).
    #[arg(long, conflicts_with = "speed", value_parser = parse_seconds)]
    duration: Option<f64>,
    /// Time zone of timestamps without one.
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// Size of the candle region if it is created.
    #[arg(long, value_parser = parse_size, default_value = "64M")]
    size: u64,
    /// Print nothing but the summary.
    #[arg(long, short)]
    quiet: bool,
    /// Accept a candle region or journal owned by another user (a group member writing
    /// `--group` ones).
    #[arg(long)]
    allow_foreign_owner: bool,
}

/// `FILE[=SYMBOL[:INTERVAL]]`.
fn split_file(spec: &str) -> (PathBuf, String, Option<String>) {
    match spec.rsplit_once('=') {
        Some((f, rest)) if !rest.is_empty() => match rest.split_once(':') {
            Some((s, i)) => (PathBuf::from(f), s.to_owned(), Some(i.to_owned())),
            None => (PathBuf::from(f), rest.to_owned(), None),
        },
        _ => {
            let p = PathBuf::from(spec);
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (p, stem, None)
        }
    }
}

fn open_candles(name: &str, size: u64, opts: OpenOptions) -> Result<CandleWriter> {
    Ok(match CandleWriter::open_with(name, opts) {
        Err(CandleError::Region {
            error: RegionError::NotFound { .. },
        }) => CandleWriter::builder(name).size(size).create()?,
        other => other?,
    })
}

fn open_journal(name: &str, opts: OpenOptions) -> Result<JournalWriter> {
    Ok(match JournalWriter::open_with(name, opts) {
        Err(JournalError::Region(RegionError::NotFound { .. })) => {
            JournalWriter::builder(name).ring(16 << 20).create()?
        }
        other => other?,
    })
}

pub fn run(a: &ReplayArgs) -> Result<()> {
    if a.candles.is_none() && a.journal.is_none() {
        bail!("nothing to replay into: give --candles NAME and/or --journal NAME");
    }
    let tz = parse_tz(&a.tz)?;
    let mut bars: Vec<(u64, usize, Candle)> = Vec::new();
    let mut symbols = Vec::new();
    for (i, spec) in a.files.iter().enumerate() {
        let (path, symbol, interval) = split_file(spec);
        let rows = read_csv(open_csv(Path::new(&path))?, &tz, |_| {})?;
        let (lines, candles): (Vec<u64>, Vec<Candle>) = rows.into_iter().unzip();
        shmbus::candles::validate_batch(&candles)
            .map_err(|e| at_line(&path.display().to_string(), &lines, e))?;
        bars.extend(candles.into_iter().map(|c| (c.timestamp, i, c)));
        symbols.push((symbol, interval.unwrap_or_else(|| a.interval.clone())));
    }
    // Timestamp order across files (stable: same time keeps the files' order).
    bars.sort_by_key(|b| (b.0, b.1));
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        bail!("the files hold no bars");
    };
    let span_ms = (last.0 - first.0) as f64;
    let speed = match (a.duration, a.speed) {
        // Bars that all share one timestamp have nothing to pace.
        (Some(_), _) if span_ms == 0.0 => None,
        (Some(d), _) => Some(span_ms / (d.max(0.001) * 1000.0)),
        (None, Speed::Max) => None,
        (None, Speed::Times(s)) => Some(s),
    };
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let mut candles = a
        .candles
        .as_deref()
        .map(|n| open_candles(n, a.size, opts.clone()))
        .transpose()?;
    let mut journal = a
        .journal
        .as_deref()
        .map(|n| open_journal(n, opts.clone()))
        .transpose()?;
    let stop = stop_flag();
    let start = Instant::now();
    let t0 = first.0;
    let mut next_report = start + Duration::from_secs(1);
    let mut done = 0usize;
    for &(ts, file, candle) in &bars {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(speed) = speed {
            // A slow speed over a long span can put a bar centuries ahead: wait in steps, so
            // Ctrl-C still stops the replay, and never compute an instant past what fits.
            let wait = (ts - t0) as f64 / 1000.0 / speed;
            let due = Duration::try_from_secs_f64(wait)
                .ok()
                .and_then(|d| start.checked_add(d));
            loop {
                let now = Instant::now();
                let left = due.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
                if left.is_zero() || stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(100)));
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let (symbol, interval) = &symbols[file];
        if let Some(w) = &mut candles {
            w.write_candles(symbol, interval, &[candle])?;
        }
        if let Some(j) = &mut journal {
            let bar = Bar::new(symbol, interval, candle);
            j.append(BAR_TYPE, bytemuck::bytes_of(&bar))?;
            j.commit();
        }
        done += 1;
        if !a.quiet && Instant::now() >= next_report {
            outln!(
                "[{:>5.1}s] replayed {done}/{} bars, market time {}",
                start.elapsed().as_secs_f64(),
                bars.len(),
                crate::candles_cmd::fmt_ms(ts)
            );
            next_report += Duration::from_secs(1);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    outln!(
        "replay: {done} bars of {} symbols ({}) in {secs:.2} s ({}), into {}",
        symbols.len(),
        symbols
            .iter()
            .map(|(s, i)| format!("{} {}", esc(s), esc(i)))
            .collect::<Vec<_>>()
            .join(", "),
        speed.map_or_else(
            || "as fast as possible".to_owned(),
            |s| format!("{s:.0}x real time")
        ),
        [
            a.candles
                .as_ref()
                .map(|c| format!("candle region {}", esc(c))),
            a.journal.as_ref().map(|j| format!("journal {}", esc(j)))
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ")
    );
    Ok(())
}
