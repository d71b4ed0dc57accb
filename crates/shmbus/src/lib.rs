//! # shmbus: a shared-memory market-data bus
//!
//! Named shared-memory regions that are created safely, validated on open and owned by one
//! writer at a time, and the data structures that live in them.
//!
//! ```
//! use shmbus::{SlotReader, SlotWriter, TradingData};
//! # let name = format!("/tmp/shmbus-doc-lib-{}", std::process::id());
//! // A writer process publishes the last trade per symbol...
//! let mut prices = SlotWriter::<TradingData>::builder(&name).capacity(256).create()?;
//! let eth = prices.slot("ETHUSD")?;
//! prices.write(eth, &TradingData::new(3150.25, 7, shmbus::now_unix_ns()))?;
//!
//! // ...and any number of reader processes read consistent copies.
//! let reader = SlotReader::<TradingData>::open(&name)?;
//! assert_eq!(reader.get("ETHUSD")?.unwrap().value.volume, 7);
//! # drop(prices); shmbus::Region::remove(&name, true)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Public types
//!
//! * [`Region`], [`RegionBuilder`], [`OpenOptions`], [`RegionName`], [`RegionKind`],
//!   [`HeaderInfo`]: regions and their common header.
//! * [`SlotWriter`], [`SlotReader`], [`SlotId`], [`Versioned`]: seqlock latest-value tables.
//! * [`Record`], [`RecordLayout`], [`Field`], [`FieldType`]: plain-data records and layout
//!   fingerprints.
//! * [`TradingData`]: the 24-byte record of seed 001; [`Trade`]: the 128-byte trade of seed 003.
//! * [`journal`]: the append-only message log ([`journal::JournalWriter`],
//!   [`journal::JournalReader`]), and its registry of known readers and their lag
//!   ([`journal::JournalReader::register`], [`journal::list_readers`]).
//! * [`RegionError`], [`SlotError`], [`JournalError`], [`CandleError`]: typed errors, each with
//!   a stable [`ErrorCode`] (`docs/ERRORS.md`).
//! * [`install_sigbus_handler`], [`NO_SIGBUS_HANDLER_ENV`]: a region that another process
//!   truncates while it is mapped is [`RegionError::TruncatedWhileMapped`], not a SIGBUS
//!   (`docs/SIGBUS.md`).
//!
//! The byte layout of every region kind is in `docs/FORMAT.md`.

#[cfg(target_endian = "big")]
compile_error!("shmbus regions are little-endian; big-endian targets are not supported");

pub mod bridge_status;
#[cfg(not(loom))]
pub mod candles;
mod clock;
mod error;
mod header;
pub mod journal;
#[doc(hidden)]
pub mod layout;
mod mapping;
mod name;
mod os;
mod record;
mod region;
#[doc(hidden)]
pub mod seqlock;
#[cfg(not(loom))]
pub mod slots;
mod sync;
mod trade;
mod trading;

pub use error::{
    AppendError, BridgeStatusFault, CandleCorruption, CandleError, ErrorCode, ForeignFileReason,
    JournalCorruption, JournalError, JournalLayoutProblem, KeyProblem, LayoutProblem,
    NotARegionReason, QnxsCode, ReadError, RegionCorruption, RegionError, RemoveError, SlotError,
    SlotReadError, SlotWriteError,
};
pub use header::{FORMAT_VERSION, HEADER_LEN, HeaderInfo, MAGIC, Probe, QNXS_MAGIC, RegionKind};
pub use name::{RegionName, SHM_DIR};
pub use os::now_unix_ns;
pub use os::sigbus::{NO_HANDLER_ENV as NO_SIGBUS_HANDLER_ENV, install as install_sigbus_handler};
pub use record::{Field, FieldBuf, FieldType, Record, RecordLayout, RecordLayoutBuf};
pub use region::{ListEntry, MAX_REGION_SIZE, OpenOptions, Region, RegionBuilder};
// (`crate::sigbus`, as the handler was known before it moved into the OS boundary.)
use os::sigbus;
#[cfg(not(loom))]
pub use slots::{
    RawSlotReader, RawSlotWriter, SlotGuard, SlotId, SlotReader, SlotWriter, Versioned,
};
pub use trade::{TRADE_TYPE, Trade};
pub use trading::TradingData;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
