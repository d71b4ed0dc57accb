//! Candle stores (QuantNexus "QNXS" layout, seed 000): a writer of OHLCV series and a reader
//! that copies series into caller buffers, for regions of shmbus or of the original writer.

use std::ffi::c_char;
use std::mem::offset_of;

use shmbus::candles::{Candle, CandleReader, CandleStats, CandleWriter, SeriesInfo, WriteReport};

use crate::guard::{
    Handle, NO_DATA, OK, Out, OutSlice, borrow, call, close, give, in_slice, set_opt, str_arg,
};
use crate::region::{SHMBUS_CREATE_GROUP_SHARED, c_array, check_flags, open_options};
use crate::status::{Error, Result, ShmbusStatus};

/// Longest candle symbol in bytes.
pub const SHMBUS_SYMBOL_MAX: u32 = 15;
/// Longest candle interval in bytes (e.g. `1m`, `1h`, `1d`).
pub const SHMBUS_INTERVAL_MAX: u32 = 7;
/// The default candle region size of seed 000: 128 MiB.
pub const SHMBUS_CANDLES_DEFAULT_SIZE: u64 = 134_217_728;

/// One OHLCV bar: 48 bytes, exactly the QNXS candle.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ShmbusCandle {
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

// The C candle is the core's, field for field: arrays of one are arrays of the other.
const _: () = {
    assert!(size_of::<ShmbusCandle>() == size_of::<Candle>());
    assert!(align_of::<ShmbusCandle>() == align_of::<Candle>());
    assert!(offset_of!(ShmbusCandle, timestamp) == offset_of!(Candle, timestamp));
    assert!(offset_of!(ShmbusCandle, open) == offset_of!(Candle, open));
    assert!(offset_of!(ShmbusCandle, high) == offset_of!(Candle, high));
    assert!(offset_of!(ShmbusCandle, low) == offset_of!(Candle, low));
    assert!(offset_of!(ShmbusCandle, close) == offset_of!(Candle, close));
    assert!(offset_of!(ShmbusCandle, volume) == offset_of!(Candle, volume));
};

/// Views core candles as C candles (same layout, checked above).
fn as_c(candles: &[Candle]) -> &[ShmbusCandle] {
    // SAFETY: `ShmbusCandle` and `Candle` are both `#[repr(C)]` with the same fields, types,
    // offsets, size and alignment (asserted at compile time above), and both are plain data.
    unsafe { std::slice::from_raw_parts(candles.as_ptr().cast(), candles.len()) }
}

/// One series of a candle region.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShmbusSeriesInfo {
    /// Symbol, NUL-terminated.
    pub symbol: [c_char; 16],
    /// Interval, NUL-terminated.
    pub interval: [c_char; 8],
    /// Candles stored.
    pub count: u32,
    /// Candles its block can hold before it moves to a larger one.
    pub capacity: u32,
    /// Timestamp (ms) of the first candle.
    pub start_ts: u64,
    /// Timestamp (ms) of the last candle.
    pub end_ts: u64,
    /// When the series was last written (µs since the Unix epoch).
    pub last_update_us: u64,
}

impl From<&SeriesInfo> for ShmbusSeriesInfo {
    fn from(s: &SeriesInfo) -> Self {
        Self {
            symbol: c_array(&s.symbol),
            interval: c_array(&s.interval),
            count: s.count,
            capacity: s.capacity,
            start_ts: s.start_ts,
            end_ts: s.end_ts,
            last_update_us: s.last_update_us,
        }
    }
}

/// Statistics of a candle region, as seed 000's `getStats()`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShmbusCandleStats {
    /// Candles stored, over all series.
    pub total_candles: u64,
    /// Bytes in use: header, index and the blocks of every series.
    pub memory_used: u64,
    /// Time of the last write, µs since the Unix epoch.
    pub last_write_us: u64,
    /// Writes since the region was created (0 for a region of the original writer).
    pub write_count: u64,
    /// Series stored (a symbol with two intervals counts twice).
    pub total_symbols: u32,
}

impl From<CandleStats> for ShmbusCandleStats {
    fn from(s: CandleStats) -> Self {
        Self {
            total_candles: s.total_candles,
            memory_used: s.memory_used,
            last_write_us: s.last_write_us,
            write_count: s.write_count,
            total_symbols: s.total_symbols,
        }
    }
}

/// What a write did.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShmbusWriteReport {
    /// Candles of the batch written.
    pub written: usize,
    /// Stored candles replaced by the batch (the live bar, or a range with replace).
    pub replaced: usize,
    /// Candles in the series now.
    pub count: u32,
}

impl From<WriteReport> for ShmbusWriteReport {
    fn from(r: WriteReport) -> Self {
        Self {
            written: r.written,
            replaced: r.replaced,
            count: r.count,
        }
    }
}

/// The one writer of a candle region (holds its writer lock until closed).
// Opaque to C (not `repr(C)`): cbindgen declares it as an incomplete struct type.
#[derive(Debug)]
pub struct ShmbusCandleWriter {
    _opaque: [u8; 0],
}
/// A reader of a candle region (maps it read-only; never writes).
// Opaque to C (not `repr(C)`): cbindgen declares it as an incomplete struct type.
#[derive(Debug)]
pub struct ShmbusCandleReader {
    _opaque: [u8; 0],
}

impl Handle for CandleWriter {
    const TAG: u64 = 0x5348_4d42_4344_4c57; // "SHMBCDLW"
    const NAME: &'static str = "candle writer";
    type Opaque = ShmbusCandleWriter;
}

#[derive(Debug)]
struct ReaderState {
    r: CandleReader,
    /// Reused for every series read (a validated copy is made here, then into the caller's
    /// buffer).
    scratch: Vec<Candle>,
}

impl Handle for ReaderState {
    const TAG: u64 = 0x5348_4d42_4344_4c52; // "SHMBCDLR"
    const NAME: &'static str = "candle reader";
    type Opaque = ShmbusCandleReader;
}

/// Creates a candle region of `size` bytes (0: 128 MiB, seed 000's default; exclusive: a live
/// region is never re-initialised) whose series hold at most `max_candles` candles each (0:
/// 100000, the original writer's limit), and returns its writer.
/// `flags`: 0 or `SHMBUS_CREATE_GROUP_SHARED`.
///
/// # Safety
///
/// `name` is a NUL-terminated string; `out` points to writable memory for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candles_create(
    name: *const c_char,
    size: u64,
    max_candles: u32,
    flags: u32,
    out: *mut *mut ShmbusCandleWriter,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let out = Out::new(out, "out")?;
        check_flags(flags, SHMBUS_CREATE_GROUP_SHARED)?;
        let mut b = CandleWriter::builder(name)
            .size(if size == 0 {
                SHMBUS_CANDLES_DEFAULT_SIZE
            } else {
                size
            })
            .group_shared(flags & SHMBUS_CREATE_GROUP_SHARED != 0);
        if max_candles > 0 {
            b = b.max_candles(max_candles);
        }
        give(&out, b.create()?);
        OK
    })
}

/// Opens an existing shmbus candle region as its writer (after a crash too).
/// `SHMBUS_WRITER_BUSY` while another writer lives.
///
/// # Safety
///
/// As `shmbus_candles_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candles_open_writer(
    name: *const c_char,
    out: *mut *mut ShmbusCandleWriter,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let out = Out::new(out, "out")?;
        give(&out, CandleWriter::open(name)?);
        OK
    })
}

/// # Safety
///
/// As `shmbus_candle_writer_write`.
unsafe fn write(
    w: *mut ShmbusCandleWriter,
    symbol: *const c_char,
    interval: *const c_char,
    candles: *const ShmbusCandle,
    n: usize,
    report: *mut ShmbusWriteReport,
    replace: bool,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<CandleWriter>(w) }?;
        // SAFETY: the caller's contract for the strings.
        let (symbol, interval) =
            unsafe { (str_arg(symbol, "symbol")?, str_arg(interval, "interval")?) };
        // SAFETY: the caller's contract for `candles`; `Candle` has the layout of
        // `ShmbusCandle` (asserted above), so the cast array is the same candles.
        let candles = unsafe { in_slice(candles.cast::<Candle>(), n, "candles") }?;
        let report = Out::optional(report, "report")?;
        let r = if replace {
            w.replace_candles(symbol, interval, candles)?
        } else {
            w.write_candles(symbol, interval, candles)?
        };
        set_opt(&report, r.into());
        OK
    })
}

/// Writes `n` candles to series (`symbol`, `interval`): candles newer than the last stored one
/// are appended; one with the same timestamp as the last replaces it (the live bar). All or
/// nothing: `SHMBUS_INVALID_CANDLE` (NaN or negative prices, high < low, timestamps not
/// increasing), `SHMBUS_OUT_OF_ORDER` (older than the last stored candle),
/// `SHMBUS_TOO_MANY_SERIES`, `SHMBUS_TOO_MANY_CANDLES`, `SHMBUS_FULL` (the message says how big
/// the region must be), `SHMBUS_INVALID_NAME`. `report` may be NULL.
///
/// # Safety
///
/// `w` is a live candle writer; `symbol` and `interval` NUL-terminated strings; `candles`
/// points to `n` candles (NULL allowed when `n` is 0); `report` is NULL or points to a
/// `shmbus_write_report`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_writer_write(
    w: *mut ShmbusCandleWriter,
    symbol: *const c_char,
    interval: *const c_char,
    candles: *const ShmbusCandle,
    n: usize,
    report: *mut ShmbusWriteReport,
) -> ShmbusStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { write(w, symbol, interval, candles, n, report, false) }
}

/// As `shmbus_candle_writer_write`, but stored candles at or after the batch's first timestamp
/// are replaced by the batch (re-writing history).
///
/// # Safety
///
/// As `shmbus_candle_writer_write`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_writer_replace(
    w: *mut ShmbusCandleWriter,
    symbol: *const c_char,
    interval: *const c_char,
    candles: *const ShmbusCandle,
    n: usize,
    report: *mut ShmbusWriteReport,
) -> ShmbusStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { write(w, symbol, interval, candles, n, report, true) }
}

/// Statistics, as seed 000's `getStats()`.
///
/// # Safety
///
/// `w` is a live candle writer; `out` points to a `shmbus_candle_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_writer_stats(
    w: *mut ShmbusCandleWriter,
    out: *mut ShmbusCandleStats,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<CandleWriter>(w) }?;
        Out::new(out, "out")?.set(w.stats().into());
        OK
    })
}

/// Closes the writer and releases its writer lock. NULL is ignored.
///
/// # Safety
///
/// `w` is NULL or a live candle writer, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_writer_close(w: *mut ShmbusCandleWriter) -> ShmbusStatus {
    // SAFETY: the caller's contract for `w`.
    call(|| unsafe { close::<CandleWriter>(w) })
}

/// Opens a candle region for reading: one of shmbus, or one written by the original QuantNexus
/// writer (opened read-only, every bound checked). `flags`: 0 or
/// `SHMBUS_OPEN_ALLOW_FOREIGN_OWNER`.
///
/// # Safety
///
/// `name` is a NUL-terminated string; `out` points to writable memory for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candles_open_reader(
    name: *const c_char,
    flags: u32,
    out: *mut *mut ShmbusCandleReader,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let out = Out::new(out, "out")?;
        let r = CandleReader::open_with(name, open_options(flags)?)?;
        give(
            &out,
            ReaderState {
                r,
                scratch: Vec::new(),
            },
        );
        OK
    })
}

/// Copies `items` to an optional caller buffer with the size-query convention of this module.
fn deliver<T: Copy>(items: &[T], buf: Option<OutSlice<T>>, count: &Out<usize>) -> Result<()> {
    count.set(items.len());
    match buf {
        Some(b) => b.fill(items, "the buffer"),
        None => Ok(()),
    }
}

/// Every series of the region. Size query: with `buf` NULL, only `*count` is set. Otherwise
/// up to `cap` entries are copied and `*count` is the number of series; if they do not fit,
/// `SHMBUS_BUFFER_TOO_SMALL` (nothing copied; `*count` says how many are needed).
///
/// # Safety
///
/// `r` is a live candle reader; `buf` is NULL or points to `cap` writable entries; `count`
/// points to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_reader_list_series(
    r: *mut ShmbusCandleReader,
    buf: *mut ShmbusSeriesInfo,
    cap: usize,
    count: *mut usize,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        let buf = OutSlice::optional(buf, cap, "buf")?;
        let count = Out::new(count, "count")?;
        let series: Vec<ShmbusSeriesInfo> = r.r.list_series()?.iter().map(Into::into).collect();
        deliver(&series, buf, &count)?;
        OK
    })
}

/// The series (`symbol`, `interval`), without its candles (`SHMBUS_UNKNOWN_SERIES` if none).
///
/// # Safety
///
/// `r` is a live candle reader; `symbol` and `interval` NUL-terminated strings; `out` points to
/// a `shmbus_series_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_reader_find_series(
    r: *mut ShmbusCandleReader,
    symbol: *const c_char,
    interval: *const c_char,
    out: *mut ShmbusSeriesInfo,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        // SAFETY: the caller's contract for the strings.
        let (symbol, interval) =
            unsafe { (str_arg(symbol, "symbol")?, str_arg(interval, "interval")?) };
        let out = Out::new(out, "out")?;
        let info =
            r.r.list_series()?
                .into_iter()
                .find(|s| s.symbol == symbol && s.interval == interval)
                .ok_or_else(|| {
                    Error::new(
                        ShmbusStatus::ShmbusUnknownSeries,
                        format!("no series {symbol} {interval} in {}", r.r.name()),
                    )
                    .with_code(shmbus::ErrorCode::SeriesNotFound)
                })?;
        out.set((&info).into());
        OK
    })
}

/// Copies series (`symbol`, `interval`) into `buf`: a validated copy, never torn.
/// Size query: with `buf` NULL, only `*count` is set. If the series does not fit in `cap`
/// candles: `SHMBUS_BUFFER_TOO_SMALL` with `*count` the number needed (nothing copied; the
/// series may grow before the next call, so allow some room). `SHMBUS_UNKNOWN_SERIES` if none.
///
/// # Safety
///
/// `r` is a live candle reader; `symbol` and `interval` NUL-terminated strings; `buf` is NULL
/// or points to `cap` writable candles; `count` points to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_reader_read_series(
    r: *mut ShmbusCandleReader,
    symbol: *const c_char,
    interval: *const c_char,
    buf: *mut ShmbusCandle,
    cap: usize,
    count: *mut usize,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        // SAFETY: the caller's contract for the strings.
        let (symbol, interval) =
            unsafe { (str_arg(symbol, "symbol")?, str_arg(interval, "interval")?) };
        let buf = OutSlice::optional(buf, cap, "buf")?;
        let count = Out::new(count, "count")?;
        r.r.read_series_into(symbol, interval, &mut r.scratch)?;
        deliver(as_c(&r.scratch), buf, &count)?;
        OK
    })
}

/// As `shmbus_candle_reader_read_series`, for the candles with
/// `from_ms <= timestamp < to_ms` only.
///
/// # Safety
///
/// As `shmbus_candle_reader_read_series`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // a C function: the arguments are the API
pub unsafe extern "C" fn shmbus_candle_reader_range(
    r: *mut ShmbusCandleReader,
    symbol: *const c_char,
    interval: *const c_char,
    from_ms: u64,
    to_ms: u64,
    buf: *mut ShmbusCandle,
    cap: usize,
    count: *mut usize,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        // SAFETY: the caller's contract for the strings.
        let (symbol, interval) =
            unsafe { (str_arg(symbol, "symbol")?, str_arg(interval, "interval")?) };
        let buf = OutSlice::optional(buf, cap, "buf")?;
        let count = Out::new(count, "count")?;
        let candles = r.r.range(symbol, interval, from_ms, to_ms)?;
        deliver(as_c(&candles), buf, &count)?;
        OK
    })
}

/// The last candle of the series (the live bar); `SHMBUS_NO_DATA` if the series is empty.
///
/// # Safety
///
/// `r` is a live candle reader; `symbol` and `interval` NUL-terminated strings; `out` points to
/// a `shmbus_candle`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_reader_latest(
    r: *mut ShmbusCandleReader,
    symbol: *const c_char,
    interval: *const c_char,
    out: *mut ShmbusCandle,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        // SAFETY: the caller's contract for the strings.
        let (symbol, interval) =
            unsafe { (str_arg(symbol, "symbol")?, str_arg(interval, "interval")?) };
        let out = Out::new(out, "out")?;
        match r.r.latest(symbol, interval)? {
            Some(c) => {
                out.set(as_c(&[c])[0]);
                OK
            }
            None => NO_DATA,
        }
    })
}

/// Statistics, as seed 000's `getStats()`; `*foreign` (unless NULL) says whether the region
/// was written by the original QuantNexus writer.
///
/// # Safety
///
/// `r` is a live candle reader; `out` points to a `shmbus_candle_stats`; `foreign` is NULL or
/// points to a `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_reader_stats(
    r: *mut ShmbusCandleReader,
    out: *mut ShmbusCandleStats,
    foreign: *mut bool,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        let out = Out::new(out, "out")?;
        let foreign = Out::optional(foreign, "foreign")?;
        out.set(r.r.stats()?.into());
        set_opt(&foreign, r.r.is_foreign());
        OK
    })
}

/// Closes the reader. NULL is ignored.
///
/// # Safety
///
/// `r` is NULL or a live candle reader, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_candle_reader_close(r: *mut ShmbusCandleReader) -> ShmbusStatus {
    // SAFETY: the caller's contract for `r`.
    call(|| unsafe { close::<ReaderState>(r) })
}
