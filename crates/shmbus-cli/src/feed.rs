//! `shmbus feed`: a synthetic but realistic price feed (a random walk per symbol) into a slot
//! table, paced to a target update rate; optionally also as trades into a journal and as live
//! 1s and 1m bars into a candle store.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shmbus::candles::{BAR_TYPE, Bar, Candle, CandleWriter};
use shmbus::journal::JournalWriter;
use shmbus::{CandleError, RegionError, SlotError, SlotWriter, TRADE_TYPE, Trade, TradingData};

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
    /// Also aggregate the updates into 1s and 1m OHLCV bars per symbol in this candle store
    /// (created if it does not exist), written every 100 ms: the live bar is rewritten in place.
    #[arg(long)]
    pub candles: Option<String>,
    /// Also append every bar written to --candles to --journal as a `Bar` message (type 3), in
    /// the order written, so that the journal alone rebuilds the candles (what `shmbus bridge
    /// in --candles` does on another machine).
    #[arg(long, requires_all = ["journal", "candles"])]
    pub journal_bars: bool,
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
        .map(|j| JournalWriter::open_with(j, opts.clone()))
        .transpose()?;
    let mut candles = a
        .candles
        .as_deref()
        .map(|c| LiveBars::open(c, opts))
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
    if let Some(c) = &mut candles {
        // Every series starts now, at its symbol's first price, in the list's order (so the
        // store's first series is the first symbol's 1s bars).
        let now = shmbus::now_unix_ns();
        for (i, (_, price, symbol)) in book.iter().enumerate() {
            c.tick(i, symbol, *price, 0.0, now);
        }
        c.flush(&book, journal.as_mut().filter(|_| a.journal_bars))?;
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
        if let Some(c) = &mut candles {
            c.tick(i, symbol, *price, f64::from(volume), now);
            if c.due() {
                c.flush(&book, journal.as_mut().filter(|_| a.journal_bars))?;
            }
        }
        written += 1;
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    if let Some(c) = &mut candles {
        c.flush(&book, journal.as_mut().filter(|_| a.journal_bars))?;
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

/// The bar intervals `--candles` writes, with their length in ms.
const BAR_INTERVALS: [(&str, u64); 2] = [("1s", 1_000), ("1m", 60_000)];
/// How often `--candles` writes the bars that changed.
const BAR_FLUSH: Duration = Duration::from_millis(100);

/// One series' bars not yet written: the ones that closed since the last write, and the live one.
#[derive(Debug, Default)]
struct Pending {
    closed: Vec<Candle>,
    live: Option<Candle>,
    dirty: bool,
    /// Whether the stored series was looked at (to carry on its last bar).
    started: bool,
}

/// `--candles`: the updates aggregated into bars per (symbol, interval), written to a candle
/// store every [`BAR_FLUSH`] (the live bar replaces its stored self: same timestamp).
struct LiveBars {
    writer: CandleWriter,
    /// Per symbol (the book's order), per interval of [`BAR_INTERVALS`].
    series: Vec<[Pending; 2]>,
    last_flush: Instant,
}

impl LiveBars {
    fn open(name: &str, opts: shmbus::OpenOptions) -> Result<Self> {
        let writer = match CandleWriter::open_with(name, opts) {
            Err(CandleError::Region {
                error: RegionError::NotFound { .. },
            }) => CandleWriter::builder(name).create()?,
            other => other?,
        };
        Ok(Self {
            writer,
            series: Vec::new(),
            last_flush: Instant::now(),
        })
    }

    /// One update of symbol `i` (named `symbol`) at `now_ns`.
    fn tick(&mut self, i: usize, symbol: &str, price: f64, volume: f64, now_ns: u64) {
        if self.series.len() <= i {
            self.series.resize_with(i + 1, Default::default);
        }
        let ms = now_ns / 1_000_000;
        for (p, (interval, len)) in self.series[i].iter_mut().zip(BAR_INTERVALS) {
            let t = ms - ms % len;
            if !p.started {
                // A restarted feed carries on the stored bar of this second or minute.
                p.started = true;
                p.live = self
                    .writer
                    .read_series(symbol, interval)
                    .ok()
                    .and_then(|v| v.last().copied())
                    .filter(|b| b.timestamp == t);
            }
            match &mut p.live {
                // The same bar (or the clock went back: the bar in progress goes on).
                Some(b) if t <= b.timestamp => {
                    b.high = b.high.max(price);
                    b.low = b.low.min(price);
                    b.close = price;
                    b.volume += volume;
                }
                live => {
                    p.closed.extend(live.take());
                    *live = Some(Candle::new(t, price, price, price, price, volume));
                }
            }
            p.dirty = true;
        }
    }

    fn due(&self) -> bool {
        self.last_flush.elapsed() >= BAR_FLUSH
    }

    /// Writes every series that changed; each bar written also goes to `journal` as a `Bar`.
    fn flush(
        &mut self,
        book: &[(shmbus::SlotId, f64, String)],
        mut journal: Option<&mut JournalWriter>,
    ) -> Result<()> {
        self.last_flush = Instant::now();
        for (p2, (_, _, symbol)) in self.series.iter_mut().zip(book) {
            for (p, (interval, _)) in p2.iter_mut().zip(BAR_INTERVALS) {
                if !p.dirty {
                    continue;
                }
                p.dirty = false;
                let mut batch = std::mem::take(&mut p.closed);
                batch.extend(p.live);
                self.writer
                    .write_candles(symbol, interval, &batch)
                    .with_context(|| {
                        format!(
                            "cannot write the {interval} bars of {symbol} to candle store {}",
                            self.writer.name()
                        )
                    })?;
                if let Some(j) = journal.as_deref_mut() {
                    for c in &batch {
                        let bar = Bar::new(symbol, interval, *c);
                        j.append(BAR_TYPE, bytemuck::bytes_of(&bar))?;
                    }
                }
            }
        }
        if let Some(j) = journal {
            j.commit();
        }
        Ok(())
    }
}
