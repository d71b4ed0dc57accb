//! The readers of a slot table: [`RawSlotReader`] for records whose layout is known at run
//! time, and [`SlotReader`], the typed layer over it. Both map the region read-only and never
//! write to it.

use std::marker::PhantomData;
use std::time::Duration;

use super::layout::check_record;
use super::table::{Shape, Table, corrupt, table_header};
use super::{SlotId, Versioned};
use crate::error::{RegionCorruption, SlotError, SlotReadError};
use crate::header::RegionKind;
use crate::record::{Record, RecordLayoutBuf};
use crate::region::{OpenOptions, Region};

/// A reader of a slot table whose record layout is known only at run time. Maps the region
/// read-only; never writes to it.
#[derive(Debug)]
pub struct RawSlotReader {
    table: Table,
}

impl RawSlotReader {
    /// Opens a table for reading, checking that it holds records of `layout` (its fingerprint).
    /// With `None`, accepts any layout: records are then bytes of the size the table header
    /// states (for tools that only display them).
    ///
    /// # Errors
    ///
    /// As [`SlotReader::open`]; [`SlotError::InvalidLayout`].
    pub fn open(name: &str, layout: Option<&RecordLayoutBuf>) -> Result<Self, SlotError> {
        Self::open_with(name, layout, Region::open_options())
    }

    /// As [`RawSlotReader::open`] with explicit options (e.g. `allow_foreign_owner`).
    ///
    /// # Errors
    ///
    /// As [`RawSlotReader::open`].
    pub fn open_with(
        name: &str,
        layout: Option<&RecordLayoutBuf>,
        opts: OpenOptions,
    ) -> Result<Self, SlotError> {
        let mut opts = opts.kind(RegionKind::Slots).writer(false);
        if let Some(layout) = layout {
            opts = opts.layout_buf(layout);
        }
        let region = opts.open(name)?;
        let shape = match layout {
            Some(layout) => Shape::of_layout(layout)?,
            None => {
                let record = table_header(&region)?
                    .record_size
                    .load(std::sync::atomic::Ordering::Relaxed);
                if record == 0 || record % 8 != 0 {
                    return Err(
                        corrupt(&region, RegionCorruption::SlotRecordSize { record }).into(),
                    );
                }
                Shape {
                    size: record as usize,
                    name: region.header().layout_name.clone(),
                }
            }
        };
        Ok(Self {
            table: Table::from_region(region, shape)?,
        })
    }

    /// The record size in bytes.
    pub fn record_size(&self) -> usize {
        self.table.shape.size
    }

    /// Copies a consistent record of slot `id` into `out` (the record's size). Returns its
    /// sequence, `None` if never written.
    ///
    /// # Errors
    ///
    /// As [`SlotReader::read`]; [`SlotReadError::RecordSize`].
    pub fn read_into(&self, id: SlotId, out: &mut [u8]) -> Result<Option<u64>, SlotReadError> {
        self.table.check_len(out.len())?;
        self.table.read_into(id, out)
    }

    /// As [`RawSlotReader::read_into`] into a new vector.
    ///
    /// # Errors
    ///
    /// As [`RawSlotReader::read_into`].
    pub fn read(&self, id: SlotId) -> Result<Option<Versioned<Vec<u8>>>, SlotReadError> {
        let mut value = vec![0u8; self.table.shape.size];
        Ok(self
            .table
            .read_into(id, &mut value)?
            .map(|seq| Versioned { seq, value }))
    }

    /// As [`RawSlotReader::read_into`] if the slot's sequence differs from `since`; `None` if
    /// unchanged.
    ///
    /// # Errors
    ///
    /// As [`RawSlotReader::read_into`].
    pub fn read_into_if_changed(
        &self,
        id: SlotId,
        since: u64,
        out: &mut [u8],
    ) -> Result<Option<u64>, SlotReadError> {
        self.table.check_len(out.len())?;
        self.table.read_into_if_changed(id, since, out)
    }

    /// Reads by key.
    ///
    /// # Errors
    ///
    /// As [`RawSlotReader::find`] and [`RawSlotReader::read`].
    pub fn get(&self, key: &str) -> Result<Option<Versioned<Vec<u8>>>, SlotReadError> {
        self.read(self.find(key)?)
    }

    /// How long a read waits for a live writer that keeps a slot mid-write before
    /// [`SlotReadError::Busy`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.table.timeout = timeout;
    }

    /// The slot of `key`.
    ///
    /// # Errors
    ///
    /// [`SlotReadError::UnknownKey`], [`SlotReadError::InvalidKey`].
    pub fn find(&self, key: &str) -> Result<SlotId, SlotReadError> {
        self.table.find(key)
    }

    /// The current sequence of slot `id` (odd while a write is in progress).
    ///
    /// # Errors
    ///
    /// [`SlotReadError::BadSlot`].
    pub fn sequence(&self, id: SlotId) -> Result<u64, SlotReadError> {
        self.table.sequence(id)
    }

    /// Keys in use, with their slots.
    pub fn keys(&self) -> Vec<(String, SlotId)> {
        self.table.keys()
    }

    /// Number of keys in use.
    pub fn len(&self) -> u32 {
        self.table.len()
    }

    /// Whether no key is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.table.capacity
    }

    /// The underlying region.
    pub fn region(&self) -> &Region {
        &self.table.region
    }
}

/// A reader of a slot table. Maps the region read-only; never writes to it.
///
/// A typed layer over [`RawSlotReader`]: the table was checked at open to hold records of `T`
/// (layout fingerprint and size), so a read copies a constant number of words into a `T`.
#[derive(Debug)]
pub struct SlotReader<T> {
    raw: RawSlotReader,
    _record: PhantomData<fn() -> T>,
}

impl<T: Record> SlotReader<T> {
    /// Opens a table for reading.
    ///
    /// # Errors
    ///
    /// The region's open errors, e.g. [`crate::RegionError::LayoutMismatch`] if the table
    /// holds another record type.
    pub fn open(name: &str) -> Result<Self, SlotError> {
        Self::open_with(name, Region::open_options())
    }

    /// As [`SlotReader::open`] with explicit options (e.g. `allow_foreign_owner`).
    ///
    /// # Errors
    ///
    /// As [`SlotReader::open`].
    pub fn open_with(name: &str, opts: OpenOptions) -> Result<Self, SlotError> {
        const { check_record::<T>() };
        let region = opts
            .kind(RegionKind::Slots)
            .layout(&T::LAYOUT)
            .writer(false)
            .open(name)?;
        Ok(Self {
            raw: RawSlotReader {
                table: Table::from_region(region, Shape::of::<T>())?,
            },
            _record: PhantomData,
        })
    }

    /// A consistent copy of slot `id`, `None` if it was never written.
    ///
    /// # Errors
    ///
    /// [`SlotReadError::WriterDied`] if the writer died mid-write; [`SlotReadError::Busy`] if a live
    /// writer keeps it mid-write past the timeout; [`SlotReadError::BadSlot`].
    #[inline]
    pub fn read(&self, id: SlotId) -> Result<Option<Versioned<T>>, SlotReadError> {
        self.raw.table.read_as(id)
    }

    /// A copy of slot `id` if its sequence differs from `since` (cheap when unchanged).
    ///
    /// # Errors
    ///
    /// As [`SlotReader::read`].
    #[inline]
    pub fn read_if_changed(
        &self,
        id: SlotId,
        since: u64,
    ) -> Result<Option<Versioned<T>>, SlotReadError> {
        self.raw.table.read_as_if_changed(id, since)
    }

    /// Reads by key.
    ///
    /// # Errors
    ///
    /// As [`SlotReader::find`] and [`SlotReader::read`].
    pub fn get(&self, key: &str) -> Result<Option<Versioned<T>>, SlotReadError> {
        self.read(self.find(key)?)
    }

    /// How long a read waits for a live writer that keeps a slot mid-write before
    /// [`SlotReadError::Busy`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.raw.set_timeout(timeout);
    }

    /// The slot of `key`.
    ///
    /// # Errors
    ///
    /// [`SlotReadError::UnknownKey`], [`SlotReadError::InvalidKey`].
    pub fn find(&self, key: &str) -> Result<SlotId, SlotReadError> {
        self.raw.find(key)
    }

    /// The current sequence of slot `id` (odd while a write is in progress).
    ///
    /// # Errors
    ///
    /// [`SlotReadError::BadSlot`].
    pub fn sequence(&self, id: SlotId) -> Result<u64, SlotReadError> {
        self.raw.sequence(id)
    }

    /// Keys in use, with their slots.
    pub fn keys(&self) -> Vec<(String, SlotId)> {
        self.raw.keys()
    }

    /// Number of keys in use.
    pub fn len(&self) -> u32 {
        self.raw.len()
    }

    /// Whether no key is in use.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.raw.capacity()
    }

    /// The underlying region.
    pub fn region(&self) -> &Region {
        self.raw.region()
    }
}
