//! Seed 000's `SharedMemoryWriter` (QuantNexus candle regions) and a reader, over
//! `shmbus::candles`.
//!
//! Candles cross the boundary in bulk as a `Float64Array` of 6 numbers per candle (timestamp in
//! ms, open, high, low, close, volume): one call per batch, no per-field property lookups.
//! `index.js` converts seed 000's arrays of candle objects to and from that form.

use napi::Env;
use napi::bindgen_prelude::{Float64Array, Float64ArraySlice};
use napi_derive::napi;
use shmbus::QnxsCode;
use shmbus::candles::{
    Candle as CoreCandle, CandleReader as CoreReader, CandleStats, CandleWriter as CoreWriter,
};

use crate::errors::{self, Facts, OrThrow};

/// Numbers per candle in the bulk (`Float64Array`) form.
const FIELDS: usize = 6;

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// One OHLCV candle, as seed 000 defines it.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct Candle {
    /// Unix time in milliseconds.
    pub timestamp: f64,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl From<&CoreCandle> for Candle {
    fn from(c: &CoreCandle) -> Self {
        Self {
            timestamp: c.timestamp as f64,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
        }
    }
}

/// Seed 000's `getStats()` result.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct WriterStats {
    /// Series in the region.
    pub total_symbols: u32,
    /// Candles stored, over all series.
    pub total_candles: f64,
    /// Bytes used: header, index and the series' blocks.
    pub memory_used: f64,
    /// Time of the last write, in microseconds since the Unix epoch.
    pub last_write_us: f64,
    /// Write operations since the region was created.
    pub write_count: f64,
}

impl From<CandleStats> for WriterStats {
    fn from(s: CandleStats) -> Self {
        Self {
            total_symbols: s.total_symbols,
            total_candles: s.total_candles as f64,
            memory_used: s.memory_used as f64,
            last_write_us: s.last_write_us as f64,
            write_count: s.write_count as f64,
        }
    }
}

/// What a write did.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct WriteReport {
    /// Candles appended.
    pub written: u32,
    /// Stored candles replaced (the live bar, or a replaced range).
    pub replaced: u32,
    /// Candles in the series afterwards.
    pub count: u32,
}

/// A series of a candle region.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct SeriesInfo {
    /// Symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Interval, e.g. `1h`.
    pub interval: String,
    /// Candles stored.
    pub count: u32,
    /// Candles its block can hold before it moves.
    pub capacity: u32,
    /// Timestamp (ms) of the first candle.
    pub start_ts: f64,
    /// Timestamp (ms) of the last candle.
    pub end_ts: f64,
    /// Time of its last update, in microseconds since the Unix epoch.
    pub last_update_us: f64,
}

/// Decodes the bulk form; a bad timestamp is QNXS error 5, as the core reports invalid candles.
fn candles_from(data: &[f64]) -> Result<Vec<CoreCandle>, Facts> {
    if data.len() % FIELDS != 0 {
        return Err(errors::invalid_arg(format!(
            "candle data holds {} numbers, not a multiple of {FIELDS} (timestamp, open, high, low, close, volume per candle)",
            data.len()
        )));
    }
    data.chunks_exact(FIELDS)
        .enumerate()
        .map(|(i, c)| {
            let ts = c[0];
            if !(ts.is_finite() && ts >= 0.0 && ts.fract() == 0.0 && ts <= MAX_SAFE) {
                return Err(Facts::new(
                    "INVALID_CANDLE",
                    format!(
                        "{}: candle {i} of the batch has timestamp {ts}, not a whole number of milliseconds since the Unix epoch; nothing was written",
                        QnxsCode::WriteFailed
                    ),
                )
                .num("index", i as f64)
                .stable(shmbus::ErrorCode::InvalidCandle)
                .qnxs(QnxsCode::WriteFailed));
            }
            Ok(CoreCandle::new(ts as u64, c[1], c[2], c[3], c[4], c[5]))
        })
        .collect()
}

/// Encodes candles in the bulk form.
fn candles_to(candles: &[CoreCandle]) -> Float64Array {
    let mut out = Vec::with_capacity(candles.len() * FIELDS);
    for c in candles {
        out.extend_from_slice(&[c.timestamp as f64, c.open, c.high, c.low, c.close, c.volume]);
    }
    Float64Array::new(out)
}

fn not_initialized() -> Facts {
    Facts::new(
        "NOT_INITIALIZED",
        format!(
            "{}: the writer has no region; call create(name, size) or open(name) first",
            QnxsCode::NotInitialized
        ),
    )
    .qnxs(QnxsCode::NotInitialized)
}

/// Converts a size given as a JavaScript number.
fn size_arg(size: f64, what: &str) -> Result<u64, Facts> {
    if size.is_finite() && size >= 0.0 && size.fract() == 0.0 && size <= MAX_SAFE {
        Ok(size as u64)
    } else {
        Err(errors::invalid_arg(format!(
            "{what} must be a whole number of bytes, got {size}"
        )))
    }
}

/// Seed 000's writer of a QuantNexus-compatible candle region (`create`, `writeCandles`,
/// `getStats`, `close`, `isInitialized`). The writer lock is held from `create`/`open` until
/// `close` (or until the object is garbage collected, or the process exits).
#[napi]
#[derive(Debug, Default)]
pub struct SharedMemoryWriter {
    inner: Option<CoreWriter>,
}

#[napi]
impl SharedMemoryWriter {
    /// A writer without a region yet.
    #[napi(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates the region `name` (a shm name such as `quantnexus_ohlcv`, or a file path) of
    /// `size` bytes (default 128 MiB), exclusively: an existing region is never re-initialised
    /// (`ALREADY_EXISTS`, QNXS code 3; `open(name)` continues it).
    #[napi]
    pub fn create(&mut self, env: &Env, name: String, size: Option<f64>) -> napi::Result<()> {
        if self.inner.is_some() {
            return Err(errors::invalid_arg(
                "this writer already has a region; close() it first",
            ))
            .or_throw(env);
        }
        let mut b = CoreWriter::builder(&name);
        if let Some(size) = size {
            b = b.size(size_arg(size, "size").or_throw(env)?);
        }
        self.inner = Some(b.create().or_throw(env)?);
        Ok(())
    }

    /// Opens an existing candle region as its writer (after a restart: the series continue).
    #[napi]
    pub fn open(&mut self, env: &Env, name: String) -> napi::Result<()> {
        if self.inner.is_some() {
            return Err(errors::invalid_arg(
                "this writer already has a region; close() it first",
            ))
            .or_throw(env);
        }
        self.inner = Some(CoreWriter::open(&name).or_throw(env)?);
        Ok(())
    }

    fn writer(&mut self) -> Result<&mut CoreWriter, Facts> {
        self.inner.as_mut().ok_or_else(not_initialized)
    }

    /// Writes candles given in the bulk form (6 numbers per candle). Newer candles are
    /// appended, one with the last stored timestamp replaces it (the live bar); all or nothing.
    #[napi]
    pub fn write_candles_array(
        &mut self,
        env: &Env,
        symbol: String,
        interval: String,
        #[napi(ts_arg_type = "Float64Array")] data: Float64ArraySlice,
    ) -> napi::Result<WriteReport> {
        let candles = candles_from(&data).or_throw(env)?;
        let w = self.writer().or_throw(env)?;
        let r = w
            .write_candles(&symbol, &interval, &candles)
            .or_throw(env)?;
        Ok(report(r))
    }

    /// As `writeCandlesArray`, but stored candles from the batch's first timestamp on are
    /// replaced by the batch (re-writing history).
    #[napi]
    pub fn replace_candles_array(
        &mut self,
        env: &Env,
        symbol: String,
        interval: String,
        #[napi(ts_arg_type = "Float64Array")] data: Float64ArraySlice,
    ) -> napi::Result<WriteReport> {
        let candles = candles_from(&data).or_throw(env)?;
        let w = self.writer().or_throw(env)?;
        let r = w
            .replace_candles(&symbol, &interval, &candles)
            .or_throw(env)?;
        Ok(report(r))
    }

    /// Seed 000's statistics.
    #[napi]
    pub fn get_stats(&mut self, env: &Env) -> napi::Result<WriterStats> {
        Ok(self.writer().or_throw(env)?.stats().into())
    }

    /// A copy of one series in the bulk form (the writer's own read).
    #[napi]
    pub fn read_series_array(
        &mut self,
        env: &Env,
        symbol: String,
        interval: String,
    ) -> napi::Result<Float64Array> {
        let w = self.writer().or_throw(env)?;
        let c = w.read_series(&symbol, &interval).or_throw(env)?;
        Ok(candles_to(&c))
    }

    /// The region's name, or `null` before `create`/`open`.
    #[napi(getter)]
    pub fn name(&self) -> Option<String> {
        self.inner.as_ref().map(|w| w.name().to_owned())
    }

    /// Releases the writer lock and unmaps the region (which stays for readers; remove it with
    /// `shmbus rm` or `removeRegion`). Safe to call twice.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
    }

    /// Whether `create` or `open` succeeded and `close` was not called since.
    #[napi]
    pub fn is_initialized(&self) -> bool {
        self.inner.is_some()
    }
}

fn report(r: shmbus::candles::WriteReport) -> WriteReport {
    WriteReport {
        written: r.written as u32,
        replaced: r.replaced as u32,
        count: r.count,
    }
}

/// A reader of a candle region (shmbus's, or one written by the original QuantNexus writer).
/// Maps it read-only; every read is a validated copy (never torn).
#[napi]
#[derive(Debug)]
pub struct CandleReader {
    inner: Option<CoreReader>,
    scratch: Vec<CoreCandle>,
}

#[napi]
impl CandleReader {
    /// Opens the region `name` for reading.
    #[napi(constructor)]
    pub fn new(env: &Env, name: String) -> napi::Result<Self> {
        Ok(Self {
            inner: Some(CoreReader::open(&name).or_throw(env)?),
            scratch: Vec::new(),
        })
    }

    fn reader(&self) -> Result<&CoreReader, Facts> {
        self.inner
            .as_ref()
            .ok_or_else(|| errors::closed("CandleReader"))
    }

    /// Every series.
    #[napi]
    pub fn list_series(&self, env: &Env) -> napi::Result<Vec<SeriesInfo>> {
        let list = self.reader().or_throw(env)?.list_series().or_throw(env)?;
        Ok(list
            .into_iter()
            .map(|s| SeriesInfo {
                symbol: s.symbol,
                interval: s.interval,
                count: s.count,
                capacity: s.capacity,
                start_ts: s.start_ts as f64,
                end_ts: s.end_ts as f64,
                last_update_us: s.last_update_us as f64,
            })
            .collect())
    }

    /// A copy of the series in the bulk form (6 numbers per candle).
    #[napi]
    pub fn read_series_array(
        &mut self,
        env: &Env,
        symbol: String,
        interval: String,
    ) -> napi::Result<Float64Array> {
        let r = self
            .inner
            .as_ref()
            .ok_or_else(|| errors::closed("CandleReader"))
            .or_throw(env)?;
        r.read_series_into(&symbol, &interval, &mut self.scratch)
            .or_throw(env)?;
        Ok(candles_to(&self.scratch))
    }

    /// The candles with `fromMs <= timestamp < toMs`, in the bulk form.
    #[napi]
    pub fn range_array(
        &self,
        env: &Env,
        symbol: String,
        interval: String,
        from_ms: f64,
        to_ms: f64,
    ) -> napi::Result<Float64Array> {
        let r = self.reader().or_throw(env)?;
        let from = size_arg(from_ms.max(0.0).floor(), "fromMs").or_throw(env)?;
        let to = size_arg(to_ms.max(0.0).ceil().min(MAX_SAFE), "toMs").or_throw(env)?;
        let c = r.range(&symbol, &interval, from, to).or_throw(env)?;
        Ok(candles_to(&c))
    }

    /// The last candle of the series (`null` if it is empty).
    #[napi]
    pub fn latest(
        &self,
        env: &Env,
        symbol: String,
        interval: String,
    ) -> napi::Result<Option<Candle>> {
        let r = self.reader().or_throw(env)?;
        Ok(r.latest(&symbol, &interval)
            .or_throw(env)?
            .as_ref()
            .map(Candle::from))
    }

    /// Seed 000's statistics, read from the region.
    #[napi]
    pub fn get_stats(&self, env: &Env) -> napi::Result<WriterStats> {
        Ok(self.reader().or_throw(env)?.stats().or_throw(env)?.into())
    }

    /// Whether the region was written by the original QuantNexus writer (no shmbus header).
    #[napi]
    pub fn is_foreign(&self, env: &Env) -> napi::Result<bool> {
        Ok(self.reader().or_throw(env)?.is_foreign())
    }

    /// Unmaps the region. Safe to call twice.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
    }
}
