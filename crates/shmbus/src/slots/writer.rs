//! The writer of a slot table: [`RawSlotWriter`] for records whose layout is known at run time,
//! and [`SlotWriter`], the typed layer over it, with [`SlotGuard`] for in-place updates.
//!
//! A writer that opens an existing table first repairs every slot a dead writer left mid-write
//! (odd sequence): it publishes the all-zero record at the next even sequence.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use super::builder::{RawSlotTableBuilder, SlotTableBuilder, TableOptions};
use super::layout::{check_record, encode_key};
use super::table::{Shape, Table};
use super::{SlotId, Versioned};
use crate::error::{SlotError, SlotReadError, SlotWriteError};
use crate::header::RegionKind;
use crate::record::{Record, RecordLayoutBuf};
use crate::region::{OpenOptions, Region};
use crate::seqlock;

/// The writer of a slot table whose record layout is known only at run time (a Python, Node
/// or C program's struct): records are byte slices of exactly the layout's size. Same
/// protocol and same guarantees as [`SlotWriter`]; a table made here with the fields of
/// [`crate::TradingData`] is opened by `SlotReader::<TradingData>` and the other way round.
#[derive(Debug)]
pub struct RawSlotWriter {
    pub(super) table: Table,
    index: HashMap<String, SlotId>,
    repaired: u32,
}

impl RawSlotWriter {
    /// Starts creating a table named `name` holding records of `layout`.
    pub fn builder(name: &str, layout: RecordLayoutBuf) -> RawSlotTableBuilder {
        RawSlotTableBuilder::new(TableOptions::new(name), layout)
    }

    /// Opens an existing table of `layout` records as its writer, repairing slots a dead writer
    /// left mid-write.
    ///
    /// # Errors
    ///
    /// As [`SlotWriter::open`]; [`SlotError::InvalidLayout`].
    pub fn open(name: &str, layout: &RecordLayoutBuf) -> Result<Self, SlotError> {
        let shape = Shape::of_layout(layout)?;
        let region = Region::open_options()
            .kind(RegionKind::Slots)
            .layout_buf(layout)
            .writer(true)
            .defer_claim()
            .open(name)?;
        Self::take_over(region, shape)
    }

    /// The writer of a table just created (and published) by a builder.
    pub(super) fn created(table: Table) -> Self {
        Self {
            table,
            index: HashMap::new(),
            repaired: 0,
        }
    }

    /// Takes over an opened table, repairing slots a dead writer left mid-write.
    pub(super) fn take_over(region: Region, shape: Shape) -> Result<Self, SlotError> {
        // The region was opened with `defer_claim`: nothing is stored before the table is valid.
        let mut table = Table::from_region(region, shape)?;
        table.region.claim_writer();
        let mut repaired = 0;
        let zero = vec![0u8; table.shape.size];
        for i in 0..table.len() {
            let (seq, words) = table.slot(SlotId(i))?;
            // Only the writer (who now holds the lock) stores the sequence.
            let s = seq.load(Ordering::Relaxed);
            if s & 1 == 1 {
                // The previous writer died mid-write: the record may be torn. Publish the
                // all-zero record (for TradingData: valid = 0) at the next even sequence.
                seqlock::store_words(words, &zero);
                seqlock::end_write(seq, s);
                repaired += 1;
            }
        }
        let index = table.keys().into_iter().collect();
        Ok(Self {
            table,
            index,
            repaired,
        })
    }

    /// The record size in bytes.
    pub fn record_size(&self) -> usize {
        self.table.shape.size
    }

    /// How many slots were repaired when this writer opened the table.
    pub fn repaired(&self) -> u32 {
        self.repaired
    }

    /// The slot for `key`, registering it if new.
    ///
    /// # Errors
    ///
    /// [`SlotWriteError::InvalidKey`], [`SlotWriteError::Full`].
    pub fn slot(&mut self, key: &str) -> Result<SlotId, SlotWriteError> {
        if let Some(&id) = self.index.get(key) {
            return Ok(id);
        }
        // A new key must print as itself: control characters (newlines, escapes) could forge
        // lines or drive the terminal of whoever lists the table. Keys already in a table
        // (written by another program) stay readable and writable.
        if key.chars().any(char::is_control) {
            return Err(SlotWriteError::InvalidKey {
                key: key.to_owned(),
                reason: crate::KeyProblem::ControlCharacter,
            });
        }
        let raw = encode_key(key)?;
        let id = self.table.register(&raw)?;
        self.index.insert(key.to_owned(), id);
        Ok(id)
    }

    /// Publishes `record` (exactly [`RawSlotWriter::record_size`] bytes) in slot `id`.
    ///
    /// # Errors
    ///
    /// [`SlotWriteError::RecordSize`], [`SlotWriteError::BadSlot`].
    pub fn write(&mut self, id: SlotId, record: &[u8]) -> Result<(), SlotWriteError> {
        self.table.check_len(record.len())?;
        self.table.write(id, record)
    }

    /// Publishes `record` under `key`, registering the key if new.
    ///
    /// # Errors
    ///
    /// As [`RawSlotWriter::slot`] and [`RawSlotWriter::write`].
    pub fn put(&mut self, key: &str, record: &[u8]) -> Result<SlotId, SlotWriteError> {
        self.table.check_len(record.len())?;
        let id = self.slot(key)?;
        self.table.write(id, record)?;
        Ok(id)
    }

    /// Copies slot `id` into `out` (the record's size); the sequence, `None` if never written.
    ///
    /// # Errors
    ///
    /// [`SlotReadError::RecordSize`], [`SlotReadError::BadSlot`].
    pub fn read_into(&self, id: SlotId, out: &mut [u8]) -> Result<Option<u64>, SlotReadError> {
        self.table.check_len(out.len())?;
        self.table.read_into(id, out)
    }

    /// Keys in use, with their slots.
    pub fn keys(&self) -> Vec<(String, SlotId)> {
        self.table.keys()
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

/// The writer of a slot table. Holds the region's writer lock while it lives.
///
/// A typed layer over [`RawSlotWriter`]: the table was checked at open to hold records of
/// `T`'s size, so records are written and read as `T` with a copy whose length is a constant.
#[derive(Debug)]
pub struct SlotWriter<T> {
    raw: RawSlotWriter,
    _record: PhantomData<fn() -> T>,
}

impl<T: Record> SlotWriter<T> {
    /// Starts creating a table named `name`.
    pub fn builder(name: &str) -> SlotTableBuilder<T> {
        SlotTableBuilder::new(TableOptions::new(name))
    }

    /// Wraps a raw writer whose table holds records of `T`'s size and layout.
    pub(super) fn from_raw(raw: RawSlotWriter) -> Self {
        const { check_record::<T>() };
        debug_assert_eq!(raw.record_size(), size_of::<T>());
        Self {
            raw,
            _record: PhantomData,
        }
    }

    /// Opens an existing table as its writer, repairing slots a dead writer left mid-write.
    ///
    /// # Errors
    ///
    /// The region's open errors, [`crate::RegionError::WriterBusy`] if a writer is alive.
    pub fn open(name: &str) -> Result<Self, SlotError> {
        Self::open_with(name, Region::open_options())
    }

    /// As [`SlotWriter::open`] with explicit options (e.g. `populate`).
    ///
    /// # Errors
    ///
    /// As [`SlotWriter::open`].
    pub fn open_with(name: &str, opts: OpenOptions) -> Result<Self, SlotError> {
        const { check_record::<T>() };
        let region = opts
            .kind(RegionKind::Slots)
            .layout(&T::LAYOUT)
            .writer(true)
            .defer_claim()
            .open(name)?;
        Ok(Self::from_raw(RawSlotWriter::take_over(
            region,
            Shape::of::<T>(),
        )?))
    }

    /// How many slots were repaired when this writer opened the table.
    pub fn repaired(&self) -> u32 {
        self.raw.repaired()
    }

    /// The slot for `key`, registering it if new.
    ///
    /// # Errors
    ///
    /// [`SlotWriteError::InvalidKey`], [`SlotWriteError::Full`].
    pub fn slot(&mut self, key: &str) -> Result<SlotId, SlotWriteError> {
        self.raw.slot(key)
    }

    /// Publishes `value` in slot `id`.
    ///
    /// # Errors
    ///
    /// [`SlotWriteError::BadSlot`] for an id of another table.
    #[inline]
    pub fn write(&mut self, id: SlotId, value: &T) -> Result<(), SlotWriteError> {
        // No length check: `bytes_of(value)` is the record size, checked at open.
        self.raw.table.write(id, bytemuck::bytes_of(value))
    }

    /// Publishes `value` under `key`, registering the key if new.
    ///
    /// # Errors
    ///
    /// As [`SlotWriter::slot`].
    pub fn put(&mut self, key: &str, value: &T) -> Result<SlotId, SlotWriteError> {
        let id = self.slot(key)?;
        self.write(id, value)?;
        Ok(id)
    }

    /// Starts an in-place update of slot `id`: readers see the old value (or wait) until the
    /// guard is dropped, which publishes the new one.
    ///
    /// # Errors
    ///
    /// [`SlotWriteError::BadSlot`].
    pub fn update(&mut self, id: SlotId) -> Result<SlotGuard<'_, T>, SlotWriteError> {
        let table = &self.raw.table;
        let (seq, words) = table.seq_and_words(id, size_of::<T>() / 8)?;
        // The sole writer reads its own slot without the seqlock: nobody else writes it (the
        // lock says so, and an odd slot left by a dead writer was repaired at open).
        let mut current = T::zeroed();
        seqlock::load_words(words, bytemuck::bytes_of_mut(&mut current));
        table.intact()?;
        let odd = seqlock::begin_write(seq);
        Ok(SlotGuard {
            seq,
            words,
            odd,
            value: current,
        })
    }

    /// Reads slot `id` (the writer's own view).
    ///
    /// # Errors
    ///
    /// [`SlotReadError::BadSlot`].
    pub fn read(&self, id: SlotId) -> Result<Option<Versioned<T>>, SlotReadError> {
        self.raw.table.read_as(id)
    }

    /// Keys in use, with their slots.
    pub fn keys(&self) -> Vec<(String, SlotId)> {
        self.raw.keys()
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

/// An update in progress (see [`SlotWriter::update`]); publishes on drop.
#[derive(Debug)]
pub struct SlotGuard<'a, T: Record> {
    seq: &'a AtomicU64,
    words: &'a [AtomicU64],
    odd: u64,
    value: T,
}

impl<T: Record> std::ops::Deref for SlotGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Record> std::ops::DerefMut for SlotGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: Record> Drop for SlotGuard<'_, T> {
    fn drop(&mut self) {
        seqlock::store_words(self.words, bytemuck::bytes_of(&self.value));
        seqlock::end_write(self.seq, self.odd);
    }
}
