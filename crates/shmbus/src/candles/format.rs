//! The QuantNexus ("QNXS" v1) candle region layout, byte for byte (docs/FORMAT.md, "Candles").
//!
//! ```text
//! 0      QNXS header (256 B): magic, version, writer pid, reader pid, last update (µs),
//!        sequence (seqlock), symbol count, flags, crc32; bytes 44..256 reserved, where shmbus
//!        keeps its common header (at 64) and its allocator state (at 192)
//! 256    symbol index: count u32, 4 bytes padding, 256 entries of 40 bytes from 264
//! 16640  data blocks: a 56-byte block header, then 48-byte candles
//! ```

use bytemuck::{Pod, Zeroable};

use crate::record::{Field, FieldType, Record, RecordLayout};

pub(crate) const QNXS_VERSION: u32 = 1;

// QNXS header fields.
pub(crate) const H_MAGIC: usize = 0;
pub(crate) const H_VERSION: usize = 4;
pub(crate) const H_WRITER_PID: usize = 8;
pub(crate) const H_LAST_UPDATE_US: usize = 16;
pub(crate) const H_SEQUENCE: usize = 24;
pub(crate) const H_SYMBOL_COUNT: usize = 32;
// 36 flags, 40 crc32 (left 0, see docs/FORMAT.md), 12 reader_pid (never used).

/// shmbus's own state in the reserved bytes, after its common header (64..192).
pub(crate) const S_ALLOC_TOP: usize = 192;
pub(crate) const S_WRITE_COUNT: usize = 200;
pub(crate) const S_MAX_CANDLES: usize = 208;

pub(crate) const INDEX_OFFSET: usize = 256;
pub(crate) const INDEX_ENTRIES: usize = 264;
pub(crate) const ENTRY_LEN: usize = 40;
/// Series the index holds.
pub const MAX_SERIES: usize = 256;
pub(crate) const DATA_OFFSET: usize = 16640;

// Index entry fields.
pub(crate) const E_SYMBOL: usize = 0;
pub(crate) const E_DATA_OFFSET: usize = 16;
pub(crate) const E_DATA_SIZE: usize = 24;
pub(crate) const E_COUNT: usize = 28;
pub(crate) const E_LAST_UPDATE_US: usize = 32;

// Block header fields.
pub(crate) const B_SYMBOL: usize = 0;
pub(crate) const B_INTERVAL: usize = 16;
pub(crate) const B_COUNT: usize = 24;
pub(crate) const B_CAPACITY: usize = 28;
pub(crate) const B_START_TS: usize = 32;
pub(crate) const B_END_TS: usize = 40;
pub(crate) const BLOCK_HEADER: usize = 56;

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

pub(crate) fn entry_offset(i: usize) -> usize {
    INDEX_ENTRIES + i * ENTRY_LEN
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
