//! Reading a candle region: shmbus's own, or one written by the original QuantNexus writer.
//!
//! Every read runs under the region's seqlock (the QNXS header sequence), with the one read
//! loop of [`crate::seqlock`] (`read_retrying`): load it (Acquire; odd means a write is in
//! progress), copy with atomic loads, fence (Acquire), load it again; a change means the copy
//! may be torn, so it is retried. Every offset and count read from the
//! region is bounds-checked before use, so a corrupt index gives [`CandleError::Corrupt`].

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::format::*;
use crate::error::{CandleError, RegionError};
use crate::header::{QNXS_MAGIC, RegionKind};
use crate::mapping::Mapping;
use crate::name::RegionName;
use crate::region::{OpenOptions, Region};
use crate::seqlock::{self, Contended};

/// One series of a candle region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    /// Symbol.
    pub symbol: String,
    /// Interval (e.g. `1h`, `1d`).
    pub interval: String,
    /// Candles stored.
    pub count: u32,
    /// Candles the block can hold.
    pub capacity: u32,
    /// Timestamp (ms) of the first candle.
    pub start_ts: u64,
    /// Timestamp (ms) of the last candle.
    pub end_ts: u64,
    /// When the series was last written (µs since the Unix epoch).
    pub last_update_us: u64,
    /// Position in the symbol index.
    pub index: usize,
    /// Offset of its block.
    pub block: u64,
}

/// A consistent view of the whole index at one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSnapshot {
    /// The region's sequence when read.
    pub sequence: u64,
    /// When the region was last written (µs since the Unix epoch).
    pub last_update_us: u64,
    /// Every series, in index order.
    pub series: Vec<SeriesInfo>,
}

#[derive(Debug)]
enum Source {
    Shmbus(Region),
    Foreign(Mapping),
}

/// A read-only view of a candle region. Never writes to it.
#[derive(Debug)]
pub struct CandleReader {
    name: String,
    src: Source,
}

/// Reads give up after this many torn attempts (a writer stuck mid-write, or one that died).
const MAX_ATTEMPTS: u32 = 1_000_000;

impl CandleReader {
    /// Opens a candle region: one created by shmbus (validated like every region), or, failing
    /// that, one written by the original QuantNexus writer (QNXS magic, version 1, no shmbus
    /// header), which is opened read-only with every bound checked.
    ///
    /// # Errors
    ///
    /// The region errors for a missing, foreign-owned or non-candle file;
    /// [`CandleError::Corrupt`] for a QNXS file with an impossible layout.
    pub fn open(name: &str) -> Result<Self, CandleError> {
        Self::open_with(name, Region::open_options())
    }

    /// As [`CandleReader::open`] with explicit options (e.g. `allow_foreign_owner`).
    ///
    /// # Errors
    ///
    /// As [`CandleReader::open`].
    pub fn open_with(name: &str, opts: OpenOptions) -> Result<Self, CandleError> {
        let allow = opts.allows_foreign_owner();
        match opts.kind(RegionKind::Candles).writer(false).open(name) {
            Ok(region) => {
                let r = Self {
                    name: name.to_owned(),
                    src: Source::Shmbus(region),
                };
                r.check_qnxs()?;
                Ok(r)
            }
            // No shmbus header: perhaps the original writer's region.
            Err(RegionError::BadMagic { path, .. } | RegionError::NotReady { path }) => {
                // A shmbus region of another kind is not a foreign candle region.
                let other = Region::open_options().allow_foreign_owner(allow).open(name);
                if let Ok(other) = other {
                    return Err(RegionError::KindMismatch {
                        path,
                        expected: RegionKind::Candles,
                        found: other.header().kind_name(),
                    }
                    .into());
                }
                let (_, map) = Region::map_foreign(name, allow, DATA_OFFSET as u64)?;
                let r = Self {
                    name: name.to_owned(),
                    src: Source::Foreign(map),
                };
                r.check_qnxs()?;
                Ok(r)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the region was written by the original QuantNexus writer (no shmbus header).
    pub fn is_foreign(&self) -> bool {
        matches!(self.src, Source::Foreign(_))
    }

    /// The region's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn map(&self) -> &Mapping {
        match &self.src {
            Source::Shmbus(r) => r.map(),
            Source::Foreign(m) => m,
        }
    }

    fn view(&self) -> View<'_> {
        View {
            name: &self.name,
            map: self.map(),
        }
    }

    fn check_qnxs(&self) -> Result<(), CandleError> {
        self.view().check_qnxs()
    }

    /// Every series, read consistently.
    ///
    /// # Errors
    ///
    /// [`CandleError::Corrupt`] for an index entry pointing outside the region;
    /// [`CandleError::Busy`] if no stable copy could be taken.
    pub fn index(&self) -> Result<IndexSnapshot, CandleError> {
        self.view().index()
    }

    /// Every series.
    ///
    /// # Errors
    ///
    /// As [`CandleReader::index`].
    pub fn list_series(&self) -> Result<Vec<SeriesInfo>, CandleError> {
        Ok(self.view().index()?.series)
    }

    /// Copies the series into `out` (reusing its allocation): a validated, never torn copy.
    /// The first series with this symbol and interval is used (a region written by the
    /// original writer, keyed by symbol only, holds one series per symbol).
    ///
    /// # Errors
    ///
    /// [`CandleError::NotFound`], [`CandleError::Corrupt`], [`CandleError::Busy`].
    pub fn read_series_into(
        &self,
        symbol: &str,
        interval: &str,
        out: &mut Vec<Candle>,
    ) -> Result<SeriesInfo, CandleError> {
        self.view().read_series_into(symbol, interval, out)
    }

    /// A copy of the series.
    ///
    /// # Errors
    ///
    /// As [`CandleReader::read_series_into`].
    pub fn read_series(&self, symbol: &str, interval: &str) -> Result<Vec<Candle>, CandleError> {
        let mut out = Vec::new();
        self.view().read_series_into(symbol, interval, &mut out)?;
        Ok(out)
    }

    /// Statistics as seed 000's `getStats()` (`write_count` is 0 for a region written by the
    /// original writer, which does not record it).
    ///
    /// # Errors
    ///
    /// As [`CandleReader::index`].
    pub fn stats(&self) -> Result<super::CandleStats, CandleError> {
        let index = self.index()?;
        let write_count = match &self.src {
            Source::Shmbus(_) => self
                .view()
                .fixed()
                .map_or(0, |f| f.header.write_count.load(Ordering::Relaxed)),
            Source::Foreign(_) => 0,
        };
        self.view().intact()?;
        Ok(super::CandleStats::tally(
            index.series.iter().map(|s| (s.count, s.capacity)),
            index.last_update_us,
            write_count,
        ))
    }

    /// The last candle of the series (`None` if it is empty).
    ///
    /// # Errors
    ///
    /// As [`CandleReader::read_series_into`].
    pub fn latest(&self, symbol: &str, interval: &str) -> Result<Option<Candle>, CandleError> {
        self.view().latest(symbol, interval)
    }

    /// The candles with `from_ms <= timestamp < to_ms` (found by binary search).
    ///
    /// # Errors
    ///
    /// As [`CandleReader::read_series_into`].
    pub fn range(
        &self,
        symbol: &str,
        interval: &str,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<Candle>, CandleError> {
        self.view().range(symbol, interval, from_ms, to_ms)
    }
}

/// The read logic over one mapping: used by readers and by the writer for its own reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) name: &'a str,
    pub(crate) map: &'a Mapping,
}

impl<'a> View<'a> {
    fn map(&self) -> &Mapping {
        self.map
    }

    fn corrupt(&self, what: crate::CandleCorruption) -> CandleError {
        CandleError::Corrupt {
            region: self.name.to_owned(),
            what: Box::new(what),
        }
    }

    pub(crate) fn check_qnxs(&self) -> Result<(), CandleError> {
        let map = self.map();
        let magic = map.u32_at(H_MAGIC).map(|w| w.load(Ordering::Acquire));
        let version = map.u32_at(H_VERSION).map(|w| w.load(Ordering::Relaxed));
        if magic != Some(QNXS_MAGIC) {
            return Err(self.corrupt(crate::CandleCorruption::Magic {
                found: magic.unwrap_or(0),
                expected: QNXS_MAGIC,
            }));
        }
        if version != Some(QNXS_VERSION) {
            return Err(self.corrupt(crate::CandleCorruption::Version {
                found: version.unwrap_or(0),
                expected: QNXS_VERSION,
            }));
        }
        if map.len() < DATA_OFFSET {
            return Err(self.corrupt(crate::CandleCorruption::ShorterThanIndex));
        }
        Ok(())
    }

    /// Fails if another process truncated the file under the mapping.
    #[inline]
    pub(crate) fn intact(&self) -> Result<(), CandleError> {
        if self.map.truncated() {
            return Err(self.truncated());
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self) -> CandleError {
        let path = RegionName::parse(self.name).map_or_else(
            |_| std::path::PathBuf::from(self.name),
            |n| n.path().to_path_buf(),
        );
        RegionError::TruncatedWhileMapped { path }.into()
    }

    /// The QNXS header and symbol index: in bounds since open (`check_qnxs`; a mapping never
    /// shrinks), so this fails only for a region that was never a candle region.
    #[inline]
    pub(crate) fn fixed(&self) -> Result<Fixed<'a>, CandleError> {
        Fixed::of(self.map).ok_or_else(|| self.corrupt(crate::CandleCorruption::ShorterThanIndex))
    }

    /// Runs `read` under the seqlock ([`seqlock::read_retrying`]) until it sees a stable copy:
    /// spins while a write is in progress, yields after 1000 attempts, and gives up with
    /// [`CandleError::Busy`] after [`MAX_ATTEMPTS`] (a writer stuck mid-write, or one that died).
    pub(crate) fn consistent<R>(
        &self,
        mut read: impl FnMut(&Self) -> Result<R, CandleError>,
    ) -> Result<R, CandleError> {
        let fixed = self.fixed()?;
        let (_, result) = seqlock::read_retrying(
            &fixed.header.sequence,
            || read(self),
            |attempt, why| {
                if attempt + 1 >= MAX_ATTEMPTS {
                    return Err(CandleError::Busy {
                        region: self.name.to_owned(),
                        attempts: MAX_ATTEMPTS,
                    });
                }
                if let Contended::InProgress(_) = why {
                    if attempt > 1000 {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                Ok(())
            },
        )?;
        // A truncated file reads zeros, a plausible empty region: never return them.
        self.intact()?;
        result
    }

    fn u64_at(&self, off: usize) -> Result<u64, CandleError> {
        self.map()
            .u64_at(off)
            .map(|w| w.load(Ordering::Relaxed))
            .ok_or_else(|| {
                self.corrupt(crate::CandleCorruption::OffsetOutside { offset: off as u64 })
            })
    }

    /// Whether the NUL-padded text `field` is `want`, compared in place (as `load_text`
    /// would, without allocating).
    fn name_is(field: &[AtomicU8], want: &str) -> bool {
        let w = want.as_bytes();
        if w.len() > field.len() || w.contains(&0) {
            return false;
        }
        let same = w
            .iter()
            .zip(field)
            .all(|(x, y)| *x == y.load(Ordering::Relaxed));
        same && field
            .get(w.len())
            .is_none_or(|c| c.load(Ordering::Relaxed) == 0)
    }

    /// Reads index entry `i` and its block header, checking every bound (no seqlock).
    fn series_at(&self, fixed: Fixed<'_>, i: usize) -> Result<SeriesInfo, CandleError> {
        let e = fixed.index.entries.get(i).ok_or_else(|| {
            self.corrupt(crate::CandleCorruption::IndexCount {
                count: i + 1,
                max: MAX_SERIES,
            })
        })?;
        let symbol = load_text(&e.symbol);
        let block = e.data_offset.load(Ordering::Relaxed);
        let last_update_us = e.last_update_us.load(Ordering::Relaxed);
        let len = self.map().len() as u64;
        // Checked: a forged offset near u64::MAX must not wrap around into the header.
        let header_end = block.checked_add(BLOCK_HEADER as u64);
        let outside = || {
            self.corrupt(crate::CandleCorruption::BlockOutside {
                series: i,
                symbol: symbol.clone(),
                block,
                len,
            })
        };
        if block < DATA_OFFSET as u64 || block % 8 != 0 || header_end.is_none_or(|e| e > len) {
            return Err(outside());
        }
        let h = block_header(self.map(), block).ok_or_else(outside)?;
        let interval = load_text(&h.interval);
        let count = h.count.load(Ordering::Relaxed);
        let capacity = h.capacity.load(Ordering::Relaxed);
        let end = block + block_len(capacity) as u64;
        if count > capacity || end > len {
            return Err(self.corrupt(crate::CandleCorruption::BlockOverflow {
                series: i,
                symbol,
                interval,
                count,
                capacity,
                block,
                len,
            }));
        }
        Ok(SeriesInfo {
            symbol,
            interval,
            count,
            capacity,
            start_ts: h.start_ts.load(Ordering::Relaxed),
            end_ts: h.end_ts.load(Ordering::Relaxed),
            last_update_us,
            index: i,
            block,
        })
    }

    /// The index's series count, refused (as every lookup is) when it exceeds the index.
    fn index_count(&self, fixed: Fixed<'_>) -> Result<usize, CandleError> {
        let count = fixed.index.count.load(Ordering::Relaxed) as usize;
        if count > MAX_SERIES {
            return Err(self.corrupt(crate::CandleCorruption::IndexCount {
                count,
                max: MAX_SERIES,
            }));
        }
        Ok(count)
    }

    pub(crate) fn index_unlocked(&self) -> Result<IndexSnapshot, CandleError> {
        let fixed = self.fixed()?;
        let count = self.index_count(fixed)?;
        let series = (0..count)
            .map(|i| self.series_at(fixed, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IndexSnapshot {
            sequence: fixed.header.sequence.load(Ordering::Relaxed),
            last_update_us: fixed.header.last_update_us.load(Ordering::Relaxed),
            series,
        })
    }

    /// Every series, read consistently.
    ///
    /// # Errors
    ///
    /// [`CandleError::Corrupt`] for an index entry pointing outside the region;
    /// [`CandleError::Busy`] if no stable copy could be taken.
    pub(crate) fn index(&self) -> Result<IndexSnapshot, CandleError> {
        self.consistent(Self::index_unlocked)
    }

    /// The first series with this symbol and interval (a region written by the original writer,
    /// keyed by symbol only, holds at most one series per symbol).
    fn find_unlocked(&self, symbol: &str, interval: &str) -> Result<SeriesInfo, CandleError> {
        let fixed = self.fixed()?;
        let count = self.index_count(fixed)?;
        for (i, e) in fixed.index.entries[..count].iter().enumerate() {
            if Self::name_is(&e.symbol, symbol) {
                let s = self.series_at(fixed, i)?;
                if s.interval == interval {
                    return Ok(s);
                }
            }
        }
        Err(CandleError::NotFound {
            region: self.name.to_owned(),
            symbol: symbol.to_owned(),
            interval: interval.to_owned(),
        })
    }

    /// Copies candles `from..to` of series `s` into `out`, in one pass (no zero-fill first).
    fn copy_candles(
        &self,
        s: &SeriesInfo,
        from: u32,
        to: u32,
        out: &mut Vec<Candle>,
    ) -> Result<(), CandleError> {
        const WORDS: usize = CANDLE_LEN / 8;
        let n = to.saturating_sub(from) as usize;
        let off = s.block as usize + BLOCK_HEADER + from as usize * CANDLE_LEN;
        let words = self
            .map()
            .u64_slice(off, n * WORDS)
            .ok_or_else(|| self.corrupt(crate::CandleCorruption::CandlesOutside))?;
        let load = |w: &AtomicU64| w.load(Ordering::Relaxed);
        out.clear();
        out.extend(words.chunks_exact(WORDS).map(|w| Candle {
            timestamp: load(&w[0]),
            open: f64::from_bits(load(&w[1])),
            high: f64::from_bits(load(&w[2])),
            low: f64::from_bits(load(&w[3])),
            close: f64::from_bits(load(&w[4])),
            volume: f64::from_bits(load(&w[5])),
        }));
        Ok(())
    }

    /// Copies the series into `out` (reusing its allocation): a validated, never torn copy.
    ///
    /// # Errors
    ///
    /// [`CandleError::NotFound`], [`CandleError::Corrupt`], [`CandleError::Busy`].
    pub(crate) fn read_series_into(
        &self,
        symbol: &str,
        interval: &str,
        out: &mut Vec<Candle>,
    ) -> Result<SeriesInfo, CandleError> {
        self.consistent(|r| {
            let s = r.find_unlocked(symbol, interval)?;
            r.copy_candles(&s, 0, s.count, out)?;
            Ok(s)
        })
    }

    /// The last candle of the series (`None` if it is empty).
    ///
    /// # Errors
    ///
    /// As [`CandleReader::read_series_into`].
    pub(crate) fn latest(
        &self,
        symbol: &str,
        interval: &str,
    ) -> Result<Option<Candle>, CandleError> {
        let mut out = Vec::with_capacity(1);
        self.consistent(|r| {
            let s = r.find_unlocked(symbol, interval)?;
            r.copy_candles(&s, s.count.saturating_sub(1), s.count, &mut out)
        })?;
        Ok(out.pop())
    }

    /// The candles with `from_ms <= timestamp < to_ms` (found by binary search).
    ///
    /// # Errors
    ///
    /// As [`CandleReader::read_series_into`].
    pub(crate) fn range(
        &self,
        symbol: &str,
        interval: &str,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<Candle>, CandleError> {
        let mut out = Vec::new();
        self.consistent(|r| {
            let s = r.find_unlocked(symbol, interval)?;
            let a = r.lower_bound(s.block, s.count, from_ms)?;
            let b = r.lower_bound(s.block, s.count, to_ms)?;
            r.copy_candles(&s, a, b.max(a), &mut out)
        })?;
        Ok(out)
    }

    /// The index of the first of the `count` candles of the block at `block` whose timestamp is
    /// >= `ts` (binary search; timestamps increase).
    pub(crate) fn lower_bound(&self, block: u64, count: u32, ts: u64) -> Result<u32, CandleError> {
        let at = |i: u32| self.u64_at(block as usize + BLOCK_HEADER + i as usize * CANDLE_LEN);
        let (mut lo, mut hi) = (0u32, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if at(mid)? < ts {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}
