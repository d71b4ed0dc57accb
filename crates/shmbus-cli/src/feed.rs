//! `shmbus feed`: a synthetic but realistic price feed (a random walk per symbol) into a slot
//! table, paced to a target update rate.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shmbus::journal::JournalWriter;
use shmbus::{RegionError, SlotError, SlotWriter, TRADE_TYPE, Trade, TradingData};

use crate::watch::stop_flag;

/// Symbols and rough starting prices.
const SYMBOLS: [(&str, f64); 16] = [
    ("BTCUSD", 97_000.0),
    ("ETHUSD", 3_150.0),
    ("SOLUSD", 240.0),
    ("AAPL", 228.0),
    ("MSFT", 415.0),
    ("GOOG", 175.0),
    ("TSLA", 350.0),
    ("NVDA", 145.0),
    ("EURUSD", 1.05),
    ("GBPUSD", 1.26),
    ("USDJPY", 154.0),
    ("XAUUSD", 2_650.0),
    ("AMZN", 200.0),
    ("META", 560.0),
    ("SPY", 590.0),
    ("QQQ", 505.0),
];

#[derive(Debug, clap::Args)]
pub struct FeedArgs {
    /// Slot table name.
    pub name: String,
    /// Number of symbols (the first N of a fixed list; more get generated names), at most the
    /// table's capacity.
    #[arg(long, default_value_t = 8)]
    pub symbols: usize,
    /// Total updates per second across all symbols (0.001 to 1e9).
    #[arg(long, default_value_t = 5000.0, value_parser = crate::size::parse_rate)]
    pub rate: f64,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_parser = crate::size::parse_seconds)]
    pub seconds: Option<f64>,
    /// Create the table (capacity 1024) if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Seed of the random walk.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also append every update as a `Trade` (seed 003's 128-byte record) to this journal,
    /// committing each one.
    #[arg(long)]
    pub journal: Option<String>,
    /// Write a JSON summary to this file at the end.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Accept a table or journal owned by another user (a group member writing `--group` ones).
    #[arg(long)]
    pub allow_foreign_owner: bool,
}

pub fn run(a: &FeedArgs) -> Result<()> {
    anyhow::ensure!(a.symbols > 0, "--symbols must be at least 1");
    let stop = stop_flag();
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let (mut writer, created) = match SlotWriter::<TradingData>::open_with(&a.name, opts.clone()) {
        Err(SlotError::Region(RegionError::NotFound { .. })) if a.create => {
            (SlotWriter::<TradingData>::builder(&a.name).create()?, true)
        }
        other => (other?, false),
    };
    // One slot per symbol: more than the table holds could never be registered (and a huge
    // count would exhaust memory before the first write).
    let capacity = writer.capacity();
    if !u32::try_from(a.symbols).is_ok_and(|n| n <= capacity) {
        if created {
            // Leave nothing behind for a command that did not run.
            drop(writer);
            let _ = shmbus::Region::remove(&a.name, true);
        }
        anyhow::bail!(
            "--symbols {}: the slot table {} has {capacity} slots; give at most {capacity}",
            a.symbols,
            a.name
        );
    }
    let mut journal = a
        .journal
        .as_deref()
        .map(|j| JournalWriter::open_with(j, opts))
        .transpose()?;
    let mut rng = SmallRng::seed_from_u64(a.seed);
    let mut book = Vec::with_capacity(a.symbols);
    for i in 0..a.symbols {
        let (name, price) = SYMBOLS.get(i).map_or_else(
            || (format!("SYM{i:04}"), 100.0),
            |&(n, p)| (n.to_owned(), p),
        );
        book.push((writer.slot(&name)?, price, name));
    }
    let period = Duration::from_secs_f64(1.0 / a.rate);
    let start = Instant::now();
    let deadline = a.seconds.map(|s| start + Duration::from_secs_f64(s));
    let mut next = start;
    let mut written = 0u64;
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        let i = rng.random_range(0..book.len());
        let (id, price, symbol) = &mut book[i];
        // Log-normal-ish step: about 2 basis points per update.
        let shock: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
        *price *= 1.0 + 0.0002 * shock;
        let volume = rng.random_range(1..=500);
        let now = shmbus::now_unix_ns();
        writer.write(*id, &TradingData::new(*price, volume, now))?;
        if let Some(j) = &mut journal {
            let side = u8::from(shock < 0.0);
            let trade_id = written.to_string();
            let trade = Trade::new(
                now,
                symbol,
                "SIM",
                *price,
                f64::from(volume),
                side,
                &trade_id,
            );
            j.append(TRADE_TYPE, bytemuck::bytes_of(&trade))?;
            j.commit();
        }
        written += 1;
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    outln!(
        "feed: wrote {written} updates across {} symbols in {secs:.1} s ({:.0}/s)",
        book.len(),
        written as f64 / secs.max(1e-9)
    );
    if let Some(path) = &a.summary_json {
        let doc = json!({ "written": written, "seconds": secs, "symbols": book.len() });
        std::fs::write(path, doc.to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
