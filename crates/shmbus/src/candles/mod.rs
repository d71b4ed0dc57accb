//! Candles: an OHLCV store byte-compatible with QuantNexus's "QNXS" region (seed 000), without
//! its bugs.
//!
//! * The header sequence is a real seqlock (atomic, fenced); readers copy a series and retry if
//!   it changed, so they never return a torn series.
//! * Series are keyed by (symbol, interval): writing `BTCUSDT 1d` never overwrites
//!   `BTCUSDT 1h`. Each series has its own index entry; a QNXS reader that looks up by symbol
//!   alone finds the first series written for that symbol.
//! * A growing series moves to a block twice as large (or just large enough, when twice does
//!   not fit) and its old block is reused; a full region is a clear error that says how big it
//!   must be.
//! * Writes are validated first and all-or-nothing.
//!
//! ```
//! use shmbus::candles::{Candle, CandleReader, CandleWriter};
//! # let name = format!("/tmp/shmbus-doc-candles-{}", std::process::id());
//! let mut w = CandleWriter::builder(&name).size(1 << 20).create()?;
//! let bars = [
//!     Candle::new(1_704_067_200_000, 42_000.0, 42_500.0, 41_800.0, 42_300.0, 125.5),
//!     Candle::new(1_704_070_800_000, 42_300.0, 42_400.0, 42_100.0, 42_200.0, 80.0),
//! ];
//! w.write_candles("BTCUSDT", "1h", &bars)?;
//! // The live bar: same timestamp as the last one, so it is replaced.
//! w.write_candles("BTCUSDT", "1h", &[Candle { close: 42_250.0, ..bars[1] }])?;
//! w.write_candles("BTCUSDT", "1d", &bars[..1])?; // another series
//!
//! let r = CandleReader::open(&name)?;
//! assert_eq!(r.read_series("BTCUSDT", "1h")?.len(), 2);
//! assert_eq!(r.latest("BTCUSDT", "1h")?.unwrap().close, 42_250.0);
//! assert_eq!(r.list_series()?.len(), 2);
//! assert_eq!(w.stats().total_candles, 3);
//! # drop(w); shmbus::Region::remove(&name, true)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod format;
mod reader;
mod writer;

pub use format::{
    BAR_TYPE, Bar, Candle, DEFAULT_MAX_CANDLES, DEFAULT_SIZE, INTERVAL_MAX, MAX_SERIES, MIN_SIZE,
    SYMBOL_MAX, layout,
};
pub use reader::{CandleReader, IndexSnapshot, SeriesInfo};
pub use writer::{CandleStats, CandleStoreBuilder, CandleWriter, WriteReport, validate_batch};
