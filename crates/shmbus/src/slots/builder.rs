//! Creating a slot table: [`SlotTableBuilder`] (typed) and [`RawSlotTableBuilder`] (run-time
//! layout), both over the same [`TableOptions`], which sizes the region, writes the table header
//! and publishes it.

use std::marker::PhantomData;
use std::sync::atomic::Ordering;

use super::layout::{KEY_LEN, check_record, size_for_record, slots_offset, stride_for};
use super::table::{Shape, Table, table_header};
use super::writer::{RawSlotWriter, SlotWriter};
use crate::error::{RegionError, SlotError};
use crate::header::RegionKind;
use crate::record::{Record, RecordLayoutBuf};
use crate::region::{Region, RegionBuilder};

/// Options shared by both table builders.
#[derive(Debug, Clone)]
pub(super) struct TableOptions {
    name: String,
    size: Option<u64>,
    capacity: u32,
    group_shared: bool,
    populate: bool,
}

impl TableOptions {
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            size: None,
            capacity: 1024,
            group_shared: false,
            populate: false,
        }
    }

    /// Creates the region, writes the table header and publishes it.
    fn create(
        &self,
        shape: Shape,
        layout: impl FnOnce(RegionBuilder) -> RegionBuilder,
    ) -> Result<RawSlotWriter, SlotError> {
        let record = shape.size;
        let size = self.size.unwrap_or(size_for_record(record, self.capacity));
        let min = size_for_record(record, 1);
        let capacity = size.saturating_sub(slots_offset() as u64) / stride_for(record) as u64;
        if size < min || capacity == 0 {
            return Err(RegionError::SizeTooSmall {
                kind: RegionKind::Slots,
                requested: size,
                min,
            }
            .into());
        }
        let capacity = u32::try_from(capacity).unwrap_or(u32::MAX);
        let region = layout(Region::builder(&self.name))
            .kind(RegionKind::Slots)
            .size(size)
            .group_shared(self.group_shared)
            .populate(self.populate)
            .create_unpublished()?;
        let h = table_header(&region)?;
        // Relaxed: published with the region's magic (`Region::publish`, a Release store that
        // pairs with the Acquire load of the magic by every opener).
        h.capacity.store(capacity, Ordering::Relaxed);
        h.stride.store(stride_for(record) as u32, Ordering::Relaxed);
        h.record_size.store(record as u32, Ordering::Relaxed);
        h.key_len.store(KEY_LEN as u32, Ordering::Relaxed);
        region.publish();
        Ok(RawSlotWriter::created(Table::from_region(region, shape)?))
    }
}

/// Options for creating a slot table, made by [`SlotWriter::builder`].
#[derive(Debug, Clone)]
pub struct SlotTableBuilder<T> {
    opts: TableOptions,
    _record: PhantomData<fn() -> T>,
}

impl<T: Record> SlotTableBuilder<T> {
    pub(super) fn new(opts: TableOptions) -> Self {
        Self {
            opts,
            _record: PhantomData,
        }
    }

    /// Number of slots (default 1024).
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.opts.capacity = capacity;
        self.opts.size = None;
        self
    }

    /// Total region size in bytes: the capacity is as many slots as fit.
    pub fn size(mut self, bytes: u64) -> Self {
        self.opts.size = Some(bytes);
        self
    }

    /// Mode 0660 instead of 0600.
    pub fn group_shared(mut self, yes: bool) -> Self {
        self.opts.group_shared = yes;
        self
    }

    /// Pre-faults every page.
    pub fn populate(mut self, yes: bool) -> Self {
        self.opts.populate = yes;
        self
    }

    /// Creates the table (exclusive) and returns its writer.
    ///
    /// # Errors
    ///
    /// The region's create errors; [`RegionError::SizeTooSmall`] if not one slot fits.
    pub fn create(self) -> Result<SlotWriter<T>, SlotError> {
        const { check_record::<T>() };
        let raw = self
            .opts
            .create(Shape::of::<T>(), |b| b.layout(&T::LAYOUT))?;
        Ok(SlotWriter::from_raw(raw))
    }
}

/// Options for creating a table of records whose layout is known at run time, made by
/// [`RawSlotWriter::builder`].
#[derive(Debug, Clone)]
pub struct RawSlotTableBuilder {
    opts: TableOptions,
    layout: RecordLayoutBuf,
}

impl RawSlotTableBuilder {
    pub(super) fn new(opts: TableOptions, layout: RecordLayoutBuf) -> Self {
        Self { opts, layout }
    }

    /// Number of slots (default 1024).
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.opts.capacity = capacity;
        self.opts.size = None;
        self
    }

    /// Total region size in bytes: the capacity is as many slots as fit.
    pub fn size(mut self, bytes: u64) -> Self {
        self.opts.size = Some(bytes);
        self
    }

    /// Mode 0660 instead of 0600.
    pub fn group_shared(mut self, yes: bool) -> Self {
        self.opts.group_shared = yes;
        self
    }

    /// Pre-faults every page.
    pub fn populate(mut self, yes: bool) -> Self {
        self.opts.populate = yes;
        self
    }

    /// Creates the table (exclusive) and returns its writer.
    ///
    /// # Errors
    ///
    /// [`SlotError::InvalidLayout`] if the layout fails [`RecordLayoutBuf::check`]; then as
    /// [`SlotTableBuilder::create`].
    pub fn create(self) -> Result<RawSlotWriter, SlotError> {
        let shape = Shape::of_layout(&self.layout)?;
        let layout = &self.layout;
        self.opts.create(shape, |b| b.layout_buf(layout))
    }
}
