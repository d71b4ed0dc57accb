//! The slot table's bytes (docs/FORMAT.md §4): the 64-byte table header at the region's body
//! offset, then `capacity` slots of `stride` bytes, each a sequence word, a 32-byte key and the
//! record. Layout only: what the fields mean at run time is in `table.rs`.
//!
//! ```text
//! body + 0    TableHeader: capacity, stride, record_size, key_len, count, 44 bytes reserved
//! body + 64   slot 0: seq u64 at 0, key [u8; 32] at 8, record at 40, padded to `stride`
//! body + 64 + i * stride   slot i
//! ```

use std::mem::offset_of;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::header::HEADER_LEN;
use crate::mapping::AtomicView;
use crate::record::Record;

/// Bytes of the key field, NUL included.
pub const KEY_LEN: usize = 32;
/// Longest key in bytes.
pub const KEY_MAX: usize = KEY_LEN - 1;

/// The table header (64 bytes at the region's body offset).
#[repr(C)]
#[derive(Debug)]
pub(super) struct TableHeader {
    /// Number of slots.
    pub(super) capacity: AtomicU32,
    /// Bytes per slot: `stride_for(record_size)`.
    pub(super) stride: AtomicU32,
    /// `size_of` the record.
    pub(super) record_size: AtomicU32,
    /// Bytes of the key field: [`KEY_LEN`].
    pub(super) key_len: AtomicU32,
    /// Slots in use (keys registered); stored with Release by the writer.
    pub(super) count: AtomicU32,
    _reserved: [AtomicU32; 11],
}

// SAFETY: `#[repr(C)]`, only `AtomicU32` fields and an array of them.
unsafe impl AtomicView for TableHeader {}

/// Bytes of the table header (at the region's body offset); slot 0 follows it.
pub const TABLE_HEADER_LEN: usize = size_of::<TableHeader>();
/// Table header, from the body offset: the number of slots (u32).
pub const TABLE_CAPACITY: usize = offset_of!(TableHeader, capacity);
/// Table header, from the body offset: bytes per slot (u32).
pub const TABLE_STRIDE: usize = offset_of!(TableHeader, stride);
/// Table header, from the body offset: the record size (u32).
pub const TABLE_RECORD_SIZE: usize = offset_of!(TableHeader, record_size);
/// Table header, from the body offset: bytes of the key field (u32).
pub const TABLE_KEY_LEN: usize = offset_of!(TableHeader, key_len);
/// Table header, from the body offset: slots in use (u32).
pub const TABLE_COUNT: usize = offset_of!(TableHeader, count);
const _: () = {
    assert!(TABLE_HEADER_LEN == 64);
    assert!(TABLE_CAPACITY == 0);
    assert!(TABLE_STRIDE == 4);
    assert!(TABLE_RECORD_SIZE == 8);
    assert!(TABLE_KEY_LEN == 12);
    assert!(TABLE_COUNT == 16);
};

/// The fixed head of every slot; the record follows it.
#[repr(C)]
#[derive(Debug)]
pub(super) struct SlotHead {
    /// The seqlock sequence ([`crate::seqlock`]): 0 never written, odd mid-write.
    pub(super) seq: AtomicU64,
    /// The key, NUL-padded UTF-8, compared as four words.
    pub(super) key: [AtomicU64; KEY_LEN / 8],
}

// SAFETY: `#[repr(C)]`, only `AtomicU64` fields and an array of them.
unsafe impl AtomicView for SlotHead {}

/// Slot, from its start: the seqlock sequence (u64).
pub const SLOT_SEQ: usize = offset_of!(SlotHead, seq);
/// Slot, from its start: the key ([`KEY_LEN`] bytes, NUL-padded).
pub const SLOT_KEY: usize = offset_of!(SlotHead, key);
/// Slot, from its start: the record.
pub const SLOT_RECORD: usize = size_of::<SlotHead>();
const _: () = {
    assert!(SLOT_SEQ == 0);
    assert!(SLOT_KEY == 8);
    assert!(SLOT_RECORD == 40);
};

/// Bytes one slot takes for records of type `T`.
pub const fn stride_of<T>() -> usize {
    stride_for(size_of::<T>())
}

/// Bytes one slot takes for records of `record` bytes.
pub const fn stride_for(record: usize) -> usize {
    (SLOT_RECORD + record).div_ceil(64) * 64
}

/// Where slot 0 starts in a region whose header is the common one.
pub(super) const fn slots_offset() -> usize {
    HEADER_LEN + TABLE_HEADER_LEN
}

/// Region size for a table of `capacity` slots of `T`.
pub const fn size_for<T>(capacity: u32) -> u64 {
    size_for_record(size_of::<T>(), capacity)
}

/// Region size for a table of `capacity` slots of `record` bytes.
pub const fn size_for_record(record: usize, capacity: u32) -> u64 {
    (slots_offset() + capacity as usize * stride_for(record)) as u64
}

/// What a compile-time record type must satisfy to live in a slot (checked in a `const` block,
/// so a wrong type fails to compile).
pub(super) const fn check_record<T: Record>() {
    assert!(
        size_of::<T>() % 8 == 0,
        "slot records must be a multiple of 8 bytes"
    );
    assert!(
        align_of::<T>() <= 8,
        "slot records must be aligned to at most 8"
    );
    assert!(size_of::<T>() > 0, "slot records must not be empty");
    assert!(
        T::LAYOUT.size as usize == size_of::<T>(),
        "Record::LAYOUT.size is wrong"
    );
}

/// The key field for `key`: NUL-padded UTF-8.
pub(super) fn encode_key(key: &str) -> Result<[u8; KEY_LEN], super::table::Fault> {
    let invalid = |reason| super::table::Fault::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid(crate::KeyProblem::Empty));
    }
    if key.len() > KEY_MAX {
        return Err(invalid(crate::KeyProblem::TooLong));
    }
    if key.contains('\0') {
        return Err(invalid(crate::KeyProblem::Nul));
    }
    let mut raw = [0u8; KEY_LEN];
    raw[..key.len()].copy_from_slice(key.as_bytes());
    Ok(raw)
}
