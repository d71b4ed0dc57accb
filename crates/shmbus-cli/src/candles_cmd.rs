//! `shmbus candles import | show | stats`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use shmbus::candles::{Candle, CandleReader, CandleWriter, DEFAULT_SIZE};
use shmbus::{CandleError, RegionError};

use shmbus_gateway::json::{candle_json, series_json};

use crate::csv_import::{at_line, open_csv, parse_tz, read_csv};
use crate::output::{Out, esc};
use crate::size::{human_size, parse_size};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Candle region name (created with --size if it does not exist).
    name: String,
    /// The CSV file.
    file: PathBuf,
    /// Symbol of the series (at most 15 bytes).
    #[arg(long)]
    symbol: String,
    /// Interval of the series (e.g. 1m, 1h, 1d; at most 7 bytes).
    #[arg(long)]
    interval: String,
    /// Time zone of timestamps that carry none: UTC (default), +05:30, America/New_York...
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// Replace stored candles from the file's first timestamp on, instead of refusing older data.
    #[arg(long)]
    replace: bool,
    /// Size of the region if it has to be created.
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_SIZE)]
    size: u64,
    /// Accept a region owned by another user (a group member writing a `--group` region).
    #[arg(long)]
    allow_foreign_owner: bool,
}

pub fn import(a: &ImportArgs) -> Result<()> {
    let tz = parse_tz(&a.tz)?;
    let input = open_csv(&a.file)?;
    let bar = ProgressBar::with_draw_target(input.len, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("reading {}", a.file.display()));
    let t = Instant::now();
    let candles = read_csv(input, &tz, |pos| bar.set_position(pos));
    bar.finish_and_clear();
    let (lines, candles): (Vec<u64>, Vec<Candle>) = candles?.into_iter().unzip();
    let parse_secs = t.elapsed().as_secs_f64();
    let file = a.file.display().to_string();
    // Point at the row in the file.
    let at_line = |e: CandleError| at_line(&file, &lines, e);
    // Check the data before touching (or creating) the region.
    shmbus::candles::validate_batch(&candles).map_err(at_line)?;
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let mut w = match CandleWriter::open_with(&a.name, opts) {
        Err(CandleError::Region {
            error: RegionError::NotFound { .. },
        }) => {
            errln!(
                "creating candle region {} ({})",
                esc(&a.name),
                human_size(a.size)
            );
            CandleWriter::builder(&a.name).size(a.size).create()?
        }
        other => other?,
    };
    let t = Instant::now();
    let report = if a.replace {
        w.replace_candles(&a.symbol, &a.interval, &candles)
    } else {
        w.write_candles(&a.symbol, &a.interval, &candles)
    }
    .map_err(at_line)?;
    let write_secs = t.elapsed().as_secs_f64();
    let span = match (candles.first(), candles.last()) {
        (Some(f), Some(l)) => format!(", {} .. {}", fmt_ms(f.timestamp), fmt_ms(l.timestamp)),
        _ => String::new(),
    };
    writeln!(
        Out::lines(),
        "imported {} candles into {} {} {}{span} ({} replaced, {} in the series; parsed in {:.1} ms, written in {:.2} ms)",
        report.written,
        esc(&a.name),
        esc(&a.symbol),
        esc(&a.interval),
        report.replaced,
        report.count,
        parse_secs * 1e3,
        write_secs * 1e3
    )?;
    Ok(())
}

pub use shmbus_gateway::json::fmt_ms;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Candle region name (shmbus or an original QuantNexus region).
    name: String,
    /// Symbol; lists the series when left out.
    symbol: Option<String>,
    /// Interval (required with a symbol).
    interval: Option<String>,
    /// Only the last N candles.
    #[arg(long)]
    last: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Accept a region owned by another user.
    #[arg(long)]
    allow_foreign_owner: bool,
}

pub fn show(a: &ShowArgs) -> Result<()> {
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let r = CandleReader::open_with(&a.name, opts)?;
    let mut out = Out::buffered();
    let (Some(symbol), Some(interval)) = (&a.symbol, &a.interval) else {
        anyhow::ensure!(
            a.symbol.is_none(),
            "give the interval too: shmbus candles show NAME SYMBOL INTERVAL"
        );
        let series = r.list_series()?;
        if a.json {
            let docs: Vec<_> = series.iter().map(series_json).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?;
            return Ok(out.flush()?);
        }
        if r.is_foreign() {
            writeln!(
                out,
                "{} (written by the original QuantNexus writer)",
                esc(&a.name)
            )?;
        }
        if series.is_empty() {
            writeln!(out, "{}: no series", esc(&a.name))?;
        }
        for s in series {
            writeln!(
                out,
                "{:<16} {:<8} {:>8} candles  {} .. {}",
                esc(&s.symbol),
                esc(&s.interval),
                s.count,
                fmt_ms(s.start_ts),
                fmt_ms(s.end_ts)
            )?;
        }
        return Ok(out.flush()?);
    };
    let mut candles = r.read_series(symbol, interval)?;
    if let Some(n) = a.last {
        candles.drain(..candles.len().saturating_sub(n));
    }
    if a.json {
        let docs: Vec<_> = candles.iter().map(candle_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?;
        return Ok(out.flush()?);
    }
    writeln!(
        out,
        "{:<24} {:>12} {:>12} {:>12} {:>12} {:>16}",
        "TIME", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"
    )?;
    for c in &candles {
        writeln!(
            out,
            "{:<24} {:>12.4} {:>12.4} {:>12.4} {:>12.4} {:>16.4}",
            fmt_ms(c.timestamp),
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume
        )?;
    }
    Ok(out.flush()?)
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Candle region name.
    name: String,
    /// Print JSON (seed 000's getStats() field names).
    #[arg(long)]
    json: bool,
    /// Accept a region owned by another user.
    #[arg(long)]
    allow_foreign_owner: bool,
}

pub fn stats(a: &StatsArgs) -> Result<()> {
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let r = CandleReader::open_with(&a.name, opts)?;
    let s = r.stats()?;
    let mut out = Out::buffered();
    if a.json {
        let doc = json!({ "totalSymbols": s.total_symbols, "totalCandles": s.total_candles,
            "memoryUsed": s.memory_used, "lastWriteUs": s.last_write_us, "writeCount": s.write_count });
        writeln!(out, "{doc:#}")?;
        return Ok(out.flush()?);
    }
    writeln!(out, "series        {}", s.total_symbols)?;
    writeln!(out, "candles       {}", s.total_candles)?;
    writeln!(
        out,
        "memory used   {} ({} bytes)",
        human_size(s.memory_used),
        s.memory_used
    )?;
    writeln!(out, "last write    {}", fmt_ms(s.last_write_us / 1000))?;
    writeln!(out, "writes        {}", s.write_count)?;
    Ok(out.flush()?)
}
