//! The candle store writer: QNXS layout, real seqlock, series keyed by (symbol, interval),
//! blocks that grow by doubling and reuse freed space, validated all-or-nothing writes.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::format::*;
use super::reader::{IndexSnapshot, View};
use crate::error::{CandleError, RegionError};
use crate::header::{QNXS_MAGIC, RegionKind};
use crate::region::{OpenOptions, Region};
use crate::seqlock;

/// Options for creating a candle region, made by [`CandleWriter::builder`].
#[derive(Debug, Clone)]
pub struct CandleStoreBuilder {
    name: String,
    size: u64,
    max_candles: u32,
    group_shared: bool,
}

impl CandleStoreBuilder {
    /// Region size in bytes (default 128 MiB, as seed 000).
    pub fn size(mut self, bytes: u64) -> Self {
        self.size = bytes;
        self
    }

    /// Most candles one series may hold (default 100,000, the original writer's limit).
    pub fn max_candles(mut self, n: u32) -> Self {
        self.max_candles = n.max(1);
        self
    }

    /// Mode 0660 instead of 0600.
    pub fn group_shared(mut self, yes: bool) -> Self {
        self.group_shared = yes;
        self
    }

    /// Creates the region (exclusive: a live region is never re-initialised or shrunk).
    ///
    /// # Errors
    ///
    /// `QNXS error 2 INVALID_SIZE` for a size below the index plus one block; the region's
    /// create errors.
    pub fn create(self) -> Result<CandleWriter, CandleError> {
        if self.size < MIN_SIZE {
            return Err(RegionError::SizeTooSmall {
                kind: RegionKind::Candles,
                requested: self.size,
                min: MIN_SIZE,
            }
            .into());
        }
        let region = Region::builder_with_body(&self.name, INDEX_OFFSET as u32)
            .kind(RegionKind::Candles)
            .size(self.size)
            .layout(&<Candle as crate::Record>::LAYOUT)
            .group_shared(self.group_shared)
            .create_unpublished()?;
        let h = fixed_area(&self.name, &region)?.header;
        // Relaxed: published by the Release store of the QNXS magic below (pairs with the
        // Acquire load of the magic in `View::check_qnxs`) and then the shmbus magic.
        h.version.store(QNXS_VERSION, Ordering::Relaxed);
        h.writer_pid.store(std::process::id(), Ordering::Relaxed);
        h.last_update_us.store(now_us(), Ordering::Relaxed);
        h.alloc_top.store(DATA_OFFSET as u64, Ordering::Relaxed);
        h.max_candles.store(self.max_candles, Ordering::Relaxed);
        // The QNXS magic first (for QuantNexus readers), then the shmbus magic (publish).
        h.magic.store(QNXS_MAGIC, Ordering::Release);
        region.publish();
        CandleWriter::from_region(self.name, region, self.max_candles, false)
    }
}

fn now_us() -> u64 {
    crate::now_unix_ns() / 1000
}

/// A series as the writer knows it.
#[derive(Debug, Clone)]
struct Series {
    symbol: String,
    interval: String,
    entry: usize,
    block: u64,
    capacity: u32,
    count: u32,
    first_ts: u64,
    last_ts: u64,
}

/// Statistics, as seed 000's `getStats()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandleStats {
    /// Series stored (a symbol with two intervals counts twice).
    pub total_symbols: u32,
    /// Candles stored, over all series.
    pub total_candles: u64,
    /// Bytes in use: header, index and the blocks of every series.
    pub memory_used: u64,
    /// Time of the last write, µs since the Unix epoch.
    pub last_write_us: u64,
    /// Writes since the region was created.
    pub write_count: u64,
}

impl CandleStats {
    /// Totals over series given as (count, capacity).
    pub(crate) fn tally(
        series: impl Iterator<Item = (u32, u32)>,
        last_write_us: u64,
        write_count: u64,
    ) -> Self {
        let (mut symbols, mut candles, mut memory) = (0u32, 0u64, DATA_OFFSET as u64);
        for (count, capacity) in series {
            symbols += 1;
            candles += u64::from(count);
            memory += block_len(capacity) as u64;
        }
        Self {
            total_symbols: symbols,
            total_candles: candles,
            memory_used: memory,
            last_write_us,
            write_count,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteReport {
    /// Candles of the batch written.
    pub written: usize,
    /// Stored candles replaced by the batch (the live bar, or a range with `replace_candles`).
    pub replaced: usize,
    /// Candles in the series now.
    pub count: u32,
}

/// A series' key: symbol and interval, NUL-padded to 16 and 8 bytes. Injective for valid names
/// (at most 15 and 7 bytes, no NUL), and built without allocating.
type SeriesKey = [u8; 24];

fn series_key(symbol: &str, interval: &str) -> SeriesKey {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(&fixed::<16>(symbol));
    k[16..].copy_from_slice(&fixed::<8>(interval));
    k
}

/// The writer of a candle region. Holds the writer lock while it lives.
#[derive(Debug)]
pub struct CandleWriter {
    name: String,
    region: Region,
    series: Vec<Series>,
    by_key: HashMap<SeriesKey, usize>,
    /// The series written last: checked before `by_key` (a feed updating one live bar).
    last_series: usize,
    /// Free gaps (offset, length) in the data area, sorted, merged.
    free: Vec<(u64, u64)>,
    alloc_top: u64,
    max_candles: u32,
    write_count: u64,
    last_write_us: u64,
    clock: crate::clock::UnixClock,
}

impl CandleWriter {
    /// Starts creating a candle region named `name`.
    pub fn builder(name: &str) -> CandleStoreBuilder {
        CandleStoreBuilder {
            name: name.to_owned(),
            size: DEFAULT_SIZE,
            max_candles: DEFAULT_MAX_CANDLES,
            group_shared: false,
        }
    }

    /// Opens an existing shmbus candle region as its writer (after a crash too: a write cut
    /// short leaves an odd sequence, which this repairs; the series are as of the last complete
    /// write only if the crash hit between writes, see docs/FORMAT.md).
    ///
    /// # Errors
    ///
    /// [`RegionError::WriterBusy`] if a writer is alive; the open errors;
    /// [`CandleError::Corrupt`] for an inconsistent index.
    pub fn open(name: &str) -> Result<Self, CandleError> {
        Self::open_with(name, Region::open_options())
    }

    /// As [`CandleWriter::open`] with explicit options (e.g. `allow_foreign_owner`, for a group
    /// member writing a region created with `group_shared`). The kind, layout and writer
    /// settings of `opts` are the region's own.
    ///
    /// # Errors
    ///
    /// As [`CandleWriter::open`].
    pub fn open_with(name: &str, opts: OpenOptions) -> Result<Self, CandleError> {
        let region = opts
            .kind(RegionKind::Candles)
            .layout(&<Candle as crate::Record>::LAYOUT)
            .writer(true)
            .defer_claim()
            .open(name)?;
        let max =
            Fixed::of(region.map()).map_or(0, |f| f.header.max_candles.load(Ordering::Relaxed));
        let max = if max == 0 { DEFAULT_MAX_CANDLES } else { max };
        Self::from_region(name.to_owned(), region, max, true)
    }

    /// Takes over a region: validates its index and blocks, then (and only then: a writer that
    /// refuses a corrupt region leaves its bytes as they were) claims it (`claim`: opened with
    /// `defer_claim`), repairs an odd sequence and names itself in the QNXS header.
    fn from_region(
        name: String,
        region: Region,
        max_candles: u32,
        claim: bool,
    ) -> Result<Self, CandleError> {
        let size = region.len() as u64;
        // The index as it stands: we hold the lock, so nothing moves under us (and a sequence
        // left odd by a writer that died mid-write must not stop us reading it).
        let index = View {
            name: &name,
            map: region.map(),
        }
        .index_unlocked()?;
        let mut w = Self {
            name,
            series: Vec::new(),
            by_key: HashMap::new(),
            last_series: 0,
            free: Vec::new(),
            alloc_top: DATA_OFFSET as u64,
            max_candles,
            write_count: Fixed::of(region.map())
                .map_or(0, |f| f.header.write_count.load(Ordering::Relaxed)),
            last_write_us: index.last_update_us,
            clock: crate::clock::UnixClock::new(),
            region,
        };
        let mut live: Vec<(u64, u64)> = Vec::new();
        for s in index.series {
            let mut first_ts = s.start_ts;
            let mut last_ts = s.end_ts;
            if s.count == 0 {
                first_ts = 0;
                last_ts = 0;
            }
            live.push((s.block, block_len(s.capacity) as u64));
            w.by_key
                .insert(series_key(&s.symbol, &s.interval), w.series.len());
            w.series.push(Series {
                symbol: s.symbol,
                interval: s.interval,
                entry: s.index,
                block: s.block,
                capacity: s.capacity,
                count: s.count,
                first_ts,
                last_ts,
            });
        }
        // Free space is every gap between live blocks; the top is the end of the last one.
        live.sort_unstable();
        let mut cursor = DATA_OFFSET as u64;
        for (off, len) in live {
            if off < cursor {
                return Err(CandleError::Corrupt {
                    region: w.name.clone(),
                    what: Box::new(crate::CandleCorruption::BlocksOverlap { block: off }),
                });
            }
            if off > cursor {
                w.free.push((cursor, off - cursor));
            }
            cursor = off + len;
        }
        w.alloc_top = cursor.min(size);
        // Valid: from here on the writer stores.
        if claim {
            w.region.claim_writer();
        }
        let h = fixed_area(&w.name, &w.region)?.header;
        let seq = &h.sequence;
        // Only the writer (who now holds the lock) stores the sequence.
        let s = seq.load(Ordering::Relaxed);
        if s & 1 == 1 {
            // The previous writer died mid-write; the index is what it is: make it readable
            // (the Release store (W3) that ends a write).
            seqlock::end_write(seq, s);
        }
        // The QNXS header names the writer.
        h.writer_pid.store(std::process::id(), Ordering::Relaxed);
        Ok(w)
    }

    /// Statistics, as seed 000's `getStats()`.
    pub fn stats(&self) -> CandleStats {
        CandleStats::tally(
            self.series.iter().map(|s| (s.count, s.capacity)),
            self.last_write_us,
            self.write_count,
        )
    }

    fn view(&self) -> View<'_> {
        View {
            name: &self.name,
            map: self.region.map(),
        }
    }

    /// The index, as readers see it.
    ///
    /// # Errors
    ///
    /// [`CandleError::Corrupt`] if another process damaged it.
    pub fn index(&self) -> Result<IndexSnapshot, CandleError> {
        self.view().index()
    }

    /// A copy of a series (the writer's own read).
    ///
    /// # Errors
    ///
    /// [`CandleError::NotFound`].
    pub fn read_series(&self, symbol: &str, interval: &str) -> Result<Vec<Candle>, CandleError> {
        let mut out = Vec::new();
        self.view().read_series_into(symbol, interval, &mut out)?;
        Ok(out)
    }

    /// The region's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes `candles` to series (`symbol`, `interval`): candles newer than the last stored one
    /// are appended; one with the same timestamp as the last replaces it (the live bar). An
    /// older timestamp is [`CandleError::OutOfOrder`]. Nothing is written unless all is valid.
    ///
    /// # Errors
    ///
    /// [`CandleError::InvalidName`], [`CandleError::InvalidCandle`] (NaN or negative prices,
    /// high < low, non-increasing timestamps), [`CandleError::OutOfOrder`],
    /// [`CandleError::TooManySeries`], [`CandleError::TooManyCandles`], [`CandleError::Full`].
    pub fn write_candles(
        &mut self,
        symbol: &str,
        interval: &str,
        candles: &[Candle],
    ) -> Result<WriteReport, CandleError> {
        self.write(symbol, interval, candles, false)
    }

    /// As [`CandleWriter::write_candles`], but stored candles at or after the batch's first
    /// timestamp are replaced by the batch (re-writing history).
    ///
    /// # Errors
    ///
    /// As [`CandleWriter::write_candles`], without `OutOfOrder`.
    pub fn replace_candles(
        &mut self,
        symbol: &str,
        interval: &str,
        candles: &[Candle],
    ) -> Result<WriteReport, CandleError> {
        self.write(symbol, interval, candles, true)
    }

    fn write(
        &mut self,
        symbol: &str,
        interval: &str,
        candles: &[Candle],
        replace: bool,
    ) -> Result<WriteReport, CandleError> {
        // Read the clock first: the TSC read takes ~20 ns on this kind of VM, and issued here it
        // overlaps the validation and the lookup instead of delaying the stores that need it.
        let now = self.clock.now_us();
        validate_batch(candles)?;
        let existing = self.find(symbol, interval);
        if existing.is_none() {
            // Names of stored series were checked when they were created.
            validate_name("symbol", symbol, SYMBOL_MAX)?;
            validate_name("interval", interval, INTERVAL_MAX)?;
        }
        let (count, capacity, last_ts) = existing.map_or((0, 0, None), |i| {
            let s = &self.series[i];
            (s.count, s.capacity, (s.count > 0).then_some(s.last_ts))
        });
        let Some(first) = candles.first() else {
            return Ok(WriteReport {
                written: 0,
                replaced: 0,
                count,
            });
        };
        // How many stored candles are kept.
        let keep = match last_ts {
            None => 0,
            Some(last) if first.timestamp > last => count,
            Some(last) if first.timestamp == last => count - 1,
            Some(last) if !replace => {
                return Err(CandleError::OutOfOrder {
                    symbol: symbol.to_owned(),
                    interval: interval.to_owned(),
                    index: 0,
                    timestamp: first.timestamp,
                    last,
                });
            }
            Some(_) => self.lower_bound(existing.expect("stored"), first.timestamp)?,
        };
        let new_count = u64::from(keep) + candles.len() as u64;
        if new_count > u64::from(self.max_candles) {
            return Err(CandleError::TooManyCandles {
                symbol: symbol.to_owned(),
                interval: interval.to_owned(),
                count: new_count,
                max: self.max_candles,
            });
        }
        let new_count = new_count as u32;
        if existing.is_none() && self.series.len() >= MAX_SERIES {
            return Err(CandleError::TooManySeries {
                region: self.name.clone(),
                max: MAX_SERIES,
            });
        }
        // Grow by doubling into a new block (copied before the write becomes visible).
        let moved = if new_count > capacity {
            let new_cap = new_count
                .max(capacity.saturating_mul(2))
                .max(64)
                .min(self.max_candles.max(new_count));
            // Room to grow if it fits, else exactly what the series needs (a small region).
            let (block, new_cap) = match self.allocate(block_len(new_cap) as u64) {
                Ok(block) => (block, new_cap),
                Err(CandleError::Full { .. }) if new_cap > new_count => {
                    (self.allocate(block_len(new_count) as u64)?, new_count)
                }
                Err(e) => return Err(e),
            };
            if let Some(i) = existing {
                self.copy_block(&self.series[i], block, keep)?;
            }
            Some((block, new_cap))
        } else {
            None
        };
        // Every view the write needs, bounds-checked before the sequence turns odd (an error
        // past that point would leave it odd).
        let map = self.region.map();
        let fixed = fixed_area(&self.name, &self.region)?;
        let (entry_i, block) = match (existing, moved) {
            (_, Some((block, _))) => (
                existing.map_or(self.series.len(), |i| self.series[i].entry),
                block,
            ),
            (Some(i), None) => (self.series[i].entry, self.series[i].block),
            (None, None) => unreachable!("a new series always gets a block"),
        };
        let outside = |offset: u64| CandleError::Corrupt {
            region: self.name.clone(),
            what: Box::new(crate::CandleCorruption::OffsetOutside { offset }),
        };
        let entry = fixed.index.entries.get(entry_i).ok_or_else(|| {
            outside((super::layout::INDEX_ENTRIES + entry_i * super::layout::ENTRY_LEN) as u64)
        })?;
        let header = block_header(map, block).ok_or_else(|| outside(block))?;
        let off = block as usize + BLOCK_HEADER + keep as usize * CANDLE_LEN;
        let words = map
            .u64_slice(off, candles.len() * CANDLE_LEN / 8)
            .ok_or_else(|| outside(off as u64))?;
        let seq = &fixed.header.sequence;
        let odd = seqlock::begin_write(seq);
        let idx = match existing {
            Some(i) => i,
            None => {
                // `block` is the new one (a new series always gets a block).
                let cap = moved.map_or(0, |(_, cap)| cap);
                self.series.push(Series {
                    symbol: symbol.to_owned(),
                    interval: interval.to_owned(),
                    entry: entry_i,
                    block,
                    capacity: cap,
                    count: 0,
                    first_ts: 0,
                    last_ts: 0,
                });
                self.by_key.insert(series_key(symbol, interval), entry_i);
                entry_i
            }
        };
        let old_block = {
            let s = &mut self.series[idx];
            let old = (s.block, block_len(s.capacity) as u64);
            if let Some((block, cap)) = moved {
                s.block = block;
                s.capacity = cap;
            }
            seqlock::store_words(words, bytemuck::cast_slice(candles));
            s.count = new_count;
            if keep == 0 {
                s.first_ts = first.timestamp;
            }
            s.last_ts = candles.last().expect("non-empty").timestamp;
            (existing.is_some() && moved.is_some()).then_some(old)
        };
        self.last_series = idx;
        // Names are written with a new block only (they never change in place).
        publish_series(&self.series[idx], header, entry, now, moved.is_some());
        // Relaxed stores: published by `end_write` (W3) below.
        if existing.is_none() {
            let n = self.series.len() as u32;
            fixed.index.count.store(n, Ordering::Relaxed);
            fixed.header.symbol_count.store(n, Ordering::Relaxed);
        }
        fixed.header.last_update_us.store(now, Ordering::Relaxed);
        // Read from the region at open (any value): a count, never an overflow.
        self.write_count = self.write_count.saturating_add(1);
        fixed
            .header
            .write_count
            .store(self.write_count, Ordering::Relaxed);
        seqlock::end_write(seq, odd);
        self.last_write_us = now;
        if moved.is_some() {
            if let Some((off, len)) = old_block {
                self.release(off, len);
            }
            fixed_area(&self.name, &self.region)?
                .header
                .alloc_top
                .store(self.alloc_top, Ordering::Relaxed);
        }
        // Another process truncated the file: the write went to zero pages.
        self.region.check_intact()?;
        Ok(WriteReport {
            written: candles.len(),
            replaced: (count - keep) as usize,
            count: new_count,
        })
    }

    /// The position of series (`symbol`, `interval`) in `series`, if stored.
    #[inline]
    fn find(&self, symbol: &str, interval: &str) -> Option<usize> {
        if let Some(s) = self.series.get(self.last_series) {
            if s.symbol == symbol && s.interval == interval {
                return Some(self.last_series);
            }
        }
        self.by_key.get(&series_key(symbol, interval)).copied()
    }

    /// Copies the first `count` candles of series `from` into the block at `to`.
    fn copy_block(&self, from: &Series, to: u64, count: u32) -> Result<(), CandleError> {
        let map = self.region.map();
        let n = count as usize * CANDLE_LEN / 8;
        let src = map.u64_slice(from.block as usize + BLOCK_HEADER, n);
        let dst = map.u64_slice(to as usize + BLOCK_HEADER, n);
        let (Some(src), Some(dst)) = (src, dst) else {
            let offset = if src.is_none() { from.block } else { to };
            return Err(CandleError::Corrupt {
                region: self.name.clone(),
                what: Box::new(crate::CandleCorruption::OffsetOutside { offset }),
            });
        };
        for (d, s) in dst.iter().zip(src) {
            d.store(s.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        Ok(())
    }

    /// The index of the first stored candle of series `i` with timestamp >= `ts`.
    fn lower_bound(&self, i: usize, ts: u64) -> Result<u32, CandleError> {
        let s = &self.series[i];
        self.view().lower_bound(s.block, s.count, ts)
    }

    /// First fit in a freed gap, else from the top of the used area.
    fn allocate(&mut self, len: u64) -> Result<u64, CandleError> {
        if let Some(k) = self.free.iter().position(|&(_, l)| l >= len) {
            let (off, l) = self.free[k];
            if l == len {
                self.free.remove(k);
            } else {
                self.free[k] = (off + len, l - len);
            }
            return Ok(off);
        }
        let size = self.region.len() as u64;
        if self.alloc_top + len <= size {
            let off = self.alloc_top;
            self.alloc_top += len;
            return Ok(off);
        }
        let used = self.stats().memory_used;
        let free = size - used;
        let suggested = ((used + len) * 3 / 2).div_ceil(1 << 20) << 20;
        Err(CandleError::Full {
            region: self.name.clone(),
            needed: len,
            free,
            size,
            suggested,
        })
    }

    /// Returns a block's space, merging neighbours; space at the top lowers the top.
    fn release(&mut self, off: u64, len: u64) {
        let k = self.free.partition_point(|&(o, _)| o < off);
        self.free.insert(k, (off, len));
        // Merge with the next, then with the previous.
        if k + 1 < self.free.len() && self.free[k].0 + self.free[k].1 == self.free[k + 1].0 {
            self.free[k].1 += self.free[k + 1].1;
            self.free.remove(k + 1);
        }
        if k > 0 && self.free[k - 1].0 + self.free[k - 1].1 == self.free[k].0 {
            self.free[k - 1].1 += self.free[k].1;
            self.free.remove(k);
        }
        if let Some(&(o, l)) = self.free.last() {
            if o + l == self.alloc_top {
                self.alloc_top = o;
                self.free.pop();
            }
        }
    }
}

fn validate_name(what: &'static str, v: &str, max: usize) -> Result<(), CandleError> {
    let reason = if v.is_empty() {
        "it is empty"
    } else if v.len() > max {
        if what == "symbol" {
            "a symbol has at most 15 bytes"
        } else {
            "an interval has at most 7 bytes"
        }
    } else if v.contains('\0') {
        "it contains NUL"
    } else {
        return Ok(());
    };
    Err(CandleError::InvalidName {
        what,
        value: v.to_owned(),
        reason,
    })
}

/// Checks a batch as a write would (finite, non-negative prices and volume, high >= low,
/// strictly increasing timestamps), without writing.
///
/// # Errors
///
/// [`CandleError::InvalidCandle`] with the index of the first bad candle.
pub fn validate_batch(candles: &[Candle]) -> Result<(), CandleError> {
    // Fast pass: every value in [0, inf) (false for NaN too), high >= low, time increasing.
    let fine = |v: f64| (0.0..f64::INFINITY).contains(&v);
    let ok = candles.iter().enumerate().all(|(i, c)| {
        fine(c.open)
            && fine(c.high)
            && fine(c.low)
            && fine(c.close)
            && fine(c.volume)
            && c.high >= c.low
            && (i == 0 || c.timestamp > candles[i - 1].timestamp)
    });
    if ok {
        Ok(())
    } else {
        Err(explain_invalid(candles))
    }
}

/// The error for the first bad candle of a batch that failed the fast check.
#[cold]
#[inline(never)]
fn explain_invalid(candles: &[Candle]) -> CandleError {
    let bad = |index: usize, c: &Candle, reason: String| CandleError::InvalidCandle {
        index,
        timestamp: c.timestamp,
        reason,
    };
    for (i, c) in candles.iter().enumerate() {
        for (name, v) in [
            ("open", c.open),
            ("high", c.high),
            ("low", c.low),
            ("close", c.close),
            ("volume", c.volume),
        ] {
            if !v.is_finite() {
                return bad(i, c, format!("{name} is {v}"));
            }
            if v < 0.0 {
                return bad(i, c, format!("{name} is negative ({v})"));
            }
        }
        if c.high < c.low {
            return bad(i, c, format!("high {} < low {}", c.high, c.low));
        }
        if i > 0 && c.timestamp <= candles[i - 1].timestamp {
            return bad(
                i,
                c,
                format!(
                    "timestamp not after the previous candle's ({})",
                    candles[i - 1].timestamp
                ),
            );
        }
    }
    unreachable!("explain_invalid is called only for a batch that failed the fast check")
}

/// The QNXS header and symbol index of the writer's region (created or validated at open at
/// least [`MIN_SIZE`] bytes long, and a mapping never shrinks).
/// (Inlined: called on every write, where a call showed as 2% of a live-bar update.)
#[inline(always)]
fn fixed_area<'a>(name: &str, region: &'a Region) -> Result<Fixed<'a>, CandleError> {
    #[cold]
    #[inline(never)]
    fn shorter(name: &str) -> CandleError {
        CandleError::Corrupt {
            region: name.to_owned(),
            what: Box::new(crate::CandleCorruption::ShorterThanIndex),
        }
    }
    Fixed::of(region.map()).ok_or_else(|| shorter(name))
}

/// Writes the block header and index entry of series `s` from the writer's mirror (with
/// `names`, also the symbol and interval: for a new block). Relaxed stores, under the seqlock.
/// (Inlined into the write: as a call it was 4% of a live-bar update.)
#[inline(always)]
fn publish_series(s: &Series, b: &BlockHeader, e: &IndexEntry, now: u64, names: bool) {
    let relaxed = Ordering::Relaxed;
    if names {
        store_text(&b.symbol, &s.symbol);
        store_text(&b.interval, &s.interval);
        store_text(&e.symbol, &s.symbol);
        // A new block: where it is and how big.
        b.capacity.store(s.capacity, relaxed);
        e.data_offset.store(s.block, relaxed);
        e.data_size.store(block_len(s.capacity) as u32, relaxed);
    }
    b.count.store(s.count, relaxed);
    b.start_ts
        .store(if s.count > 0 { s.first_ts } else { 0 }, relaxed);
    b.end_ts
        .store(if s.count > 0 { s.last_ts } else { 0 }, relaxed);
    e.count.store(s.count, relaxed);
    e.last_update_us.store(now, relaxed);
}
