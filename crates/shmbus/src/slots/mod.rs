//! Slot tables: seqlock latest-value records keyed by a short string (last price per symbol).
//!
//! One writer publishes; any number of readers, in any process, read a consistent copy that is
//! never torn ([`crate::seqlock`]), and can ask "has it changed since sequence `s`". A writer that
//! dies mid-write leaves an odd sequence: readers report [`SlotError::WriterDied`] instead of
//! spinning (the writer lock is free), and the next writer repairs the slot on open.
//!
//! ```
//! use shmbus::{SlotReader, SlotWriter, TradingData};
//! # let name = format!("/tmp/shmbus-doc-slots-{}", std::process::id());
//! let mut writer = SlotWriter::<TradingData>::builder(&name).capacity(64).create()?;
//! writer.put("BTCUSD", &TradingData::new(97_000.5, 3, shmbus::now_unix_ns()))?;
//!
//! let reader = SlotReader::<TradingData>::open(&name)?;
//! let btc = reader.find("BTCUSD")?;
//! let last = reader.read(btc)?.expect("written above");
//! assert_eq!(last.value.price, 97_000.5);
//! assert!(reader.read_if_changed(btc, last.seq)?.is_none());
//! # drop(writer); shmbus::Region::remove(&name, true)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The types: [`SlotWriter`] and [`SlotReader`] for a Rust record type, [`RawSlotWriter`] and
//! [`RawSlotReader`] for a layout known at run time (the bindings); the typed ones are a thin
//! layer over the raw ones. [`SlotTableBuilder`] and [`RawSlotTableBuilder`] create a table;
//! [`SlotId`] names a slot, [`Versioned`] is a record with its sequence, [`SlotGuard`] an
//! in-place update.
//!
//! The files: `layout.rs` (the table header and slot layout, docs/FORMAT.md §4), `table.rs` (a
//! table validated at open, key lookup, the seqlock reads with their retry policy),
//! `writer.rs`, `reader.rs`, `builder.rs`.
//!
//! Layout (docs/FORMAT.md): a 64-byte table header at the body offset (capacity, stride, record
//! size, key size, count), then `capacity` slots of `stride` bytes (a multiple of 64): sequence
//! u64 at 0, key (32 bytes, NUL-padded UTF-8) at 8, record at 40.

mod builder;
pub mod layout;
mod reader;
mod table;
mod writer;

#[cfg(doc)]
use crate::error::SlotError;

pub use builder::{RawSlotTableBuilder, SlotTableBuilder};
pub use layout::{KEY_MAX, size_for, size_for_record, stride_for, stride_of};
pub use reader::{RawSlotReader, SlotReader};
pub use table::DEFAULT_READ_TIMEOUT;
pub use writer::{RawSlotWriter, SlotGuard, SlotWriter};

/// The index of a slot in its table, found once by key and then used on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(u32);

impl SlotId {
    /// The id of the slot at `index` (as [`SlotId::index`] returned it, e.g. kept by a binding).
    /// Every access checks it against the table's capacity ([`SlotError::BadSlot`]).
    pub fn from_index(index: u32) -> Self {
        Self(index)
    }

    /// The slot's index.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// A record with the sequence number it was read at (even, > 0; bigger is newer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Versioned<T> {
    /// The slot's sequence: 2 × the number of writes so far.
    pub seq: u64,
    /// The record.
    pub value: T,
}
