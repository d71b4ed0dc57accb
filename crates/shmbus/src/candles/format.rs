//! The QuantNexus ("QNXS" v1) candle region layout, byte for byte (docs/FORMAT.md, "Candles").
//!
//! ```text
//! 0      QNXS header (256 B): magic, version, writer pid, reader pid, last update (µs),
//!        sequence (seqlock), symbol count, flags, crc32; bytes 44..256 reserved, where shmbus
//!        keeps its common header (at 64) and its allocator state (at 192)
//! 256    symbol index: count u32, 4 bytes padding, 256 entries of 40 bytes from 264
//! 16640  data blocks: a 56-byte block header, then 48-byte candles
//! ```

use std::mem::offset_of;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use bytemuck::{Pod, Zeroable};

use crate::mapping::{AtomicView, Mapping};
use crate::record::{Field, FieldType, Record, RecordLayout};

pub(crate) const QNXS_VERSION: u32 = 1;

/// The QNXS header (256 bytes at 0), with shmbus's own state in its reserved bytes: the common
/// header (section 2 of docs/FORMAT.md, region.rs's) at 64..192 and the allocator at 192.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct QnxsHeader {
    pub(crate) magic: AtomicU32,
    pub(crate) version: AtomicU32,
    pub(crate) writer_pid: AtomicU32,
    /// Never used (0), as in the original.
    pub(crate) reader_pid: AtomicU32,
    pub(crate) last_update_us: AtomicU64,
    /// The region's seqlock ([`crate::seqlock`]).
    pub(crate) sequence: AtomicU64,
    pub(crate) symbol_count: AtomicU32,
    /// 0.
    pub(crate) flags: AtomicU32,
    /// Left 0 (see docs/FORMAT.md).
    pub(crate) crc32: AtomicU32,
    _reserved: [AtomicU32; 5],
    /// The shmbus common header: region.rs reads and writes it, never through this view.
    _common_header: [AtomicU64; 16],
    /// End of the highest block in use.
    pub(crate) alloc_top: AtomicU64,
    /// Writes since creation.
    pub(crate) write_count: AtomicU64,
    /// Per-series limit (0 = [`DEFAULT_MAX_CANDLES`]).
    pub(crate) max_candles: AtomicU32,
    _reserved_end: [AtomicU32; 11],
}

/// One symbol index entry (40 bytes): one series.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct IndexEntry {
    /// NUL-terminated, at most [`SYMBOL_MAX`] bytes.
    pub(crate) symbol: [AtomicU8; 16],
    /// The series' block, from the region start.
    pub(crate) data_offset: AtomicU64,
    /// Bytes of the block: `block_len(capacity)`.
    pub(crate) data_size: AtomicU32,
    pub(crate) count: AtomicU32,
    pub(crate) last_update_us: AtomicU64,
}

/// The symbol index (at 256): the count, 4 bytes of padding, [`MAX_SERIES`] entries; the
/// area is padded to 16384 bytes, up to [`DATA_OFFSET`].
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SymbolIndex {
    /// Series in use (at most [`MAX_SERIES`]; readers refuse more).
    pub(crate) count: AtomicU32,
    _pad: AtomicU32,
    pub(crate) entries: [IndexEntry; MAX_SERIES],
}

/// The header of a data block (56 bytes), followed by `capacity` candles.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct BlockHeader {
    pub(crate) symbol: [AtomicU8; 16],
    /// NUL-terminated, at most [`INTERVAL_MAX`] bytes.
    pub(crate) interval: [AtomicU8; 8],
    pub(crate) count: AtomicU32,
    pub(crate) capacity: AtomicU32,
    /// Timestamp (ms) of the first candle.
    pub(crate) start_ts: AtomicU64,
    /// Timestamp (ms) of the last candle.
    pub(crate) end_ts: AtomicU64,
    _pad: AtomicU64,
}

// SAFETY: `#[repr(C)]`, made only of atomics and arrays of atomics.
unsafe impl AtomicView for QnxsHeader {}
// SAFETY: `#[repr(C)]`, made only of atomics and an array of `IndexEntry` (itself only
// atomics and an array of them).
unsafe impl AtomicView for SymbolIndex {}
// SAFETY: as above.
unsafe impl AtomicView for BlockHeader {}

// The QNXS layout, byte for byte (docs/FORMAT.md §6; `shm_protocol.h` of seed 000).
const _: () = {
    assert!(size_of::<QnxsHeader>() == 256);
    assert!(offset_of!(QnxsHeader, magic) == 0);
    assert!(offset_of!(QnxsHeader, version) == 4);
    assert!(offset_of!(QnxsHeader, writer_pid) == 8);
    assert!(offset_of!(QnxsHeader, reader_pid) == 12);
    assert!(offset_of!(QnxsHeader, last_update_us) == 16);
    assert!(offset_of!(QnxsHeader, sequence) == 24);
    assert!(offset_of!(QnxsHeader, symbol_count) == 32);
    assert!(offset_of!(QnxsHeader, flags) == 36);
    assert!(offset_of!(QnxsHeader, crc32) == 40);
    assert!(offset_of!(QnxsHeader, _common_header) == 64);
    assert!(offset_of!(QnxsHeader, _common_header) + crate::header::HEADER_LEN == 192);
    assert!(offset_of!(QnxsHeader, alloc_top) == 192);
    assert!(offset_of!(QnxsHeader, write_count) == 200);
    assert!(offset_of!(QnxsHeader, max_candles) == 208);
    assert!(size_of::<IndexEntry>() == 40);
    assert!(offset_of!(IndexEntry, symbol) == 0);
    assert!(offset_of!(IndexEntry, data_offset) == 16);
    assert!(offset_of!(IndexEntry, data_size) == 24);
    assert!(offset_of!(IndexEntry, count) == 28);
    assert!(offset_of!(IndexEntry, last_update_us) == 32);
    assert!(offset_of!(SymbolIndex, count) == 0);
    assert!(offset_of!(SymbolIndex, entries) == 8);
    assert!(INDEX_OFFSET + size_of::<SymbolIndex>() <= DATA_OFFSET);
    assert!(DATA_OFFSET == INDEX_OFFSET + 16384);
    assert!(size_of::<BlockHeader>() == 56);
    assert!(offset_of!(BlockHeader, symbol) == 0);
    assert!(offset_of!(BlockHeader, interval) == 16);
    assert!(offset_of!(BlockHeader, count) == 24);
    assert!(offset_of!(BlockHeader, capacity) == 28);
    assert!(offset_of!(BlockHeader, start_ts) == 32);
    assert!(offset_of!(BlockHeader, end_ts) == 40);
};

// QNXS header fields (for the checks at open, which read them one by one).
pub(crate) const H_MAGIC: usize = offset_of!(QnxsHeader, magic);
pub(crate) const H_VERSION: usize = offset_of!(QnxsHeader, version);

pub(crate) const INDEX_OFFSET: usize = 256;
/// Series the index holds.
pub const MAX_SERIES: usize = 256;
pub(crate) const DATA_OFFSET: usize = 16640;
pub(crate) const BLOCK_HEADER: usize = size_of::<BlockHeader>();

/// Byte offsets of the QNXS layout (docs/FORMAT.md §6), for tools and tests that read or forge
/// a candle region's bytes. They are taken (`offset_of!`, `size_of`) from the `#[repr(C)]`
/// views the crate reads and writes the region through, whose every field is pinned by a
/// compile-time assertion.
pub mod layout {
    use super::{BlockHeader, IndexEntry, QnxsHeader, SymbolIndex, offset_of};

    /// QNXS header: the magic (u32).
    pub const MAGIC: usize = offset_of!(QnxsHeader, magic);
    /// QNXS header: the version (u32).
    pub const VERSION: usize = offset_of!(QnxsHeader, version);
    /// QNXS header: the writer's pid (u32).
    pub const WRITER_PID: usize = offset_of!(QnxsHeader, writer_pid);
    /// QNXS header: the last update, µs since the Unix epoch (u64).
    pub const LAST_UPDATE_US: usize = offset_of!(QnxsHeader, last_update_us);
    /// QNXS header: the region's seqlock sequence (u64).
    pub const SEQUENCE: usize = offset_of!(QnxsHeader, sequence);
    /// QNXS header: series in the index (u32).
    pub const SYMBOL_COUNT: usize = offset_of!(QnxsHeader, symbol_count);
    /// shmbus state: the end of the highest block in use (u64).
    pub const ALLOC_TOP: usize = offset_of!(QnxsHeader, alloc_top);
    /// shmbus state: writes since creation (u64).
    pub const WRITE_COUNT: usize = offset_of!(QnxsHeader, write_count);
    /// shmbus state: the per-series limit (u32, 0 = the default).
    pub const MAX_CANDLES: usize = offset_of!(QnxsHeader, max_candles);

    /// The symbol index; its count (u32) is its first field.
    pub const INDEX: usize = super::INDEX_OFFSET;
    /// The symbol index's count (u32).
    pub const INDEX_COUNT: usize = INDEX + offset_of!(SymbolIndex, count);
    /// The first index entry.
    pub const INDEX_ENTRIES: usize = INDEX + offset_of!(SymbolIndex, entries);
    /// Bytes of one index entry.
    pub const ENTRY_LEN: usize = size_of::<IndexEntry>();
    /// Index entry: the symbol (16 bytes, NUL-padded).
    pub const ENTRY_SYMBOL: usize = offset_of!(IndexEntry, symbol);
    /// Index entry: the block's offset from the region start (u64).
    pub const ENTRY_DATA_OFFSET: usize = offset_of!(IndexEntry, data_offset);
    /// Index entry: the block's size in bytes (u32).
    pub const ENTRY_DATA_SIZE: usize = offset_of!(IndexEntry, data_size);
    /// Index entry: the candle count (u32).
    pub const ENTRY_COUNT: usize = offset_of!(IndexEntry, count);
    /// Index entry: the last update, µs since the Unix epoch (u64).
    pub const ENTRY_LAST_UPDATE_US: usize = offset_of!(IndexEntry, last_update_us);

    /// Where the data blocks start.
    pub const DATA_OFFSET: usize = super::DATA_OFFSET;
    /// Bytes of a block header; the candles follow it.
    pub const BLOCK_HEADER_LEN: usize = size_of::<BlockHeader>();
    /// Block header: the symbol (16 bytes, NUL-padded).
    pub const BLOCK_SYMBOL: usize = offset_of!(BlockHeader, symbol);
    /// Block header: the interval (8 bytes, NUL-padded).
    pub const BLOCK_INTERVAL: usize = offset_of!(BlockHeader, interval);
    /// Block header: the candle count (u32).
    pub const BLOCK_COUNT: usize = offset_of!(BlockHeader, count);
    /// Block header: the capacity in candles (u32).
    pub const BLOCK_CAPACITY: usize = offset_of!(BlockHeader, capacity);
    /// Block header: the first candle's timestamp, ms (u64).
    pub const BLOCK_START_TS: usize = offset_of!(BlockHeader, start_ts);
    /// Block header: the last candle's timestamp, ms (u64).
    pub const BLOCK_END_TS: usize = offset_of!(BlockHeader, end_ts);
    /// Bytes of one candle.
    pub const CANDLE_LEN: usize = size_of::<super::Candle>();
}

/// The fixed area of a candle region: the QNXS header and the symbol index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed<'a> {
    pub(crate) header: &'a QnxsHeader,
    pub(crate) index: &'a SymbolIndex,
}

impl<'a> Fixed<'a> {
    /// The fixed area of `map`, `None` if the mapping is shorter than it.
    #[inline]
    pub(crate) fn of(map: &'a Mapping) -> Option<Self> {
        Some(Self {
            header: map.view(0)?,
            index: map.view(INDEX_OFFSET)?,
        })
    }
}

/// The header of the block at `off`, `None` if it is outside `map` or misaligned.
#[inline]
pub(crate) fn block_header(map: &Mapping, off: u64) -> Option<&BlockHeader> {
    map.view(usize::try_from(off).ok()?)
}

/// Loads NUL-padded text of atomic bytes.
pub(crate) fn load_text(b: &[AtomicU8]) -> String {
    let raw: Vec<u8> = b.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    text(&raw)
}

/// Stores `s` NUL-padded (cut to the field) into atomic bytes.
pub(crate) fn store_text(dst: &[AtomicU8], s: &str) {
    let n = s.len().min(dst.len());
    for (i, d) in dst.iter().enumerate() {
        d.store(if i < n { s.as_bytes()[i] } else { 0 }, Ordering::Relaxed);
    }
}

/// Longest symbol (16 bytes with the NUL).
pub const SYMBOL_MAX: usize = 15;
/// Longest interval (8 bytes with the NUL).
pub const INTERVAL_MAX: usize = 7;
pub(crate) const CANDLE_LEN: usize = 48;

/// The default region size of seed 000: 128 MiB.
pub const DEFAULT_SIZE: u64 = 128 << 20;
/// The smallest region: the index and one block holding one candle.
pub const MIN_SIZE: u64 = (DATA_OFFSET + BLOCK_HEADER + CANDLE_LEN) as u64;
/// The original writer's limit of candles per series (its C++ readers may assume it).
pub const DEFAULT_MAX_CANDLES: u32 = 100_000;

/// One OHLCV bar: 48 bytes, timestamp in milliseconds since the Unix epoch.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default, Pod, Zeroable)]
pub struct Candle {
    /// Bar open time, ms since the Unix epoch.
    pub timestamp: u64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume (fractional volumes allowed).
    pub volume: f64,
}

const _: () = assert!(std::mem::size_of::<Candle>() == CANDLE_LEN);

impl Candle {
    /// A candle.
    pub fn new(timestamp: u64, open: f64, high: f64, low: f64, close: f64, volume: f64) -> Self {
        Self {
            timestamp,
            open,
            high,
            low,
            close,
            volume,
        }
    }
}

impl Record for Candle {
    const LAYOUT: RecordLayout = RecordLayout {
        name: "QNXS.Candle",
        size: 48,
        fields: &[
            Field::new("timestamp", FieldType::U64, 0),
            Field::new("open", FieldType::F64, 8),
            Field::new("high", FieldType::F64, 16),
            Field::new("low", FieldType::F64, 24),
            Field::new("close", FieldType::F64, 32),
            Field::new("volume", FieldType::F64, 40),
        ],
    };
}

/// Bytes a block of `capacity` candles takes.
pub(crate) const fn block_len(capacity: u32) -> usize {
    BLOCK_HEADER + capacity as usize * CANDLE_LEN
}

/// NUL-padded fixed-size text.
pub(crate) fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    out[..s.len().min(N)].copy_from_slice(&s.as_bytes()[..s.len().min(N)]);
    out
}

pub(crate) fn text(b: &[u8]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// A bar as a journal message (what `shmbus replay` publishes): 72 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Bar {
    /// Symbol, NUL-padded.
    pub symbol: [u8; 16],
    /// Interval, NUL-padded.
    pub interval: [u8; 8],
    /// The candle.
    pub candle: Candle,
}

const _: () = assert!(std::mem::size_of::<Bar>() == 72);

/// The journal type tag of [`Bar`] messages.
pub const BAR_TYPE: u16 = 3;

impl Bar {
    /// A bar; strings longer than their field are cut.
    pub fn new(symbol: &str, interval: &str, candle: Candle) -> Self {
        Self {
            symbol: fixed(symbol),
            interval: fixed(interval),
            candle,
        }
    }

    /// The symbol as text.
    pub fn symbol(&self) -> String {
        text(&self.symbol)
    }

    /// The interval as text.
    pub fn interval(&self) -> String {
        text(&self.interval)
    }
}

impl Record for Bar {
    const LAYOUT: RecordLayout = RecordLayout {
        name: "Bar",
        size: 72,
        fields: &[
            Field::new("symbol", FieldType::Bytes(16), 0),
            Field::new("interval", FieldType::Bytes(8), 16),
            Field::new("timestamp", FieldType::U64, 24),
            Field::new("open", FieldType::F64, 32),
            Field::new("high", FieldType::F64, 40),
            Field::new("low", FieldType::F64, 48),
            Field::new("close", FieldType::F64, 56),
            Field::new("volume", FieldType::F64, 64),
        ],
    };
}
