//! Byte layout of a journal segment (docs/FORMAT.md, "Journal"). All offsets are from the start
//! of the region file; every integer is little-endian.
//!
//! ```text
//! 0      common header (128 B)
//! 128    journal header: configuration (64 B), then the commit line (64 B, at 192)
//! 4096   doorbell page: futex word, waiter count (the only bytes a reader ever writes)
//! 8192   sparse index: u64 position of the frame with sequence k × INDEX_EVERY, at k mod N
//! D      data: frames, back to back, 8-aligned
//! ```
//!
//! A frame: `[u32 len][u16 type][u16 flags][u64 PUBLISHED | seq][payload, zero-padded to 8]
//! [u32 len][u32 crc]`.
//! A padding frame (ring wrap-around) is a lead word `PAD | bytes` with the same word in the last
//! 8 bytes it covers.

use core::mem::offset_of;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::mapping::Mapping;
use crate::record::{Field, FieldType, RecordLayout};

/// The journal header (docs/FORMAT.md 5.2 and 5.3), at the body offset (128): the configuration
/// line, written once before the region is published, then the commit line and the ring's
/// horizon line, written by the writer only (the protocol over them is in `publish.rs`).
///
/// A typed view over the mapping: [`JournalHeader::view`] checks once, at open, that it lies in
/// the region; every field is an atomic, because other processes read the header while the
/// writer stores into it.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct JournalHeader {
    /// [`MODE_SEGMENT`] or [`MODE_RING`].
    pub mode: AtomicU32,
    /// [`FLAG_CRC`].
    pub flags: AtomicU32,
    /// Bytes of the data area.
    pub capacity: AtomicU64,
    /// Where the data area starts (from the start of the region file).
    pub data_off: AtomicU64,
    /// Where the sparse index starts ([`INDEX_OFFSET`]).
    pub index_off: AtomicU64,
    /// Slots of the sparse index.
    pub index_n: AtomicU32,
    /// [`INDEX_EVERY`].
    pub index_every: AtomicU32,
    /// The largest payload.
    pub max_message: AtomicU32,
    /// This segment's number (0 for a ring).
    pub segment: AtomicU32,
    /// Logical position of the first data byte.
    pub base_pos: AtomicU64,
    /// Sequence of the first message of this segment.
    pub base_seq: AtomicU64,
    // The commit line (absolute offset 192), written by the writer only.
    /// End of the committed frames.
    pub commit: AtomicU64,
    /// The sequence the next message will get (informational).
    pub commit_seq: AtomicU64,
    _reserved0: [AtomicU64; 2],
    /// 0 while the segment is open; its final position + 1 once sealed.
    pub sealed: AtomicU64,
    _reserved1: [AtomicU64; 3],
    // The ring's overwrite horizon, on a cache line of its own (absolute offset 256): readers
    // check it after every frame, and the writer moves it only once per 1/32 of the ring.
    /// Ring: position of the oldest intact frame.
    pub oldest: AtomicU64,
    /// Ring: sequence of the frame at `oldest`.
    pub oldest_seq: AtomicU64,
    _reserved2: [AtomicU64; 6],
}

const _: () = {
    assert!(size_of::<JournalHeader>() == 192);
    assert!(align_of::<JournalHeader>() == 8);
    // docs/FORMAT.md 5.2 and 5.3, offsets from 128.
    assert!(offset_of!(JournalHeader, mode) == 0);
    assert!(offset_of!(JournalHeader, flags) == 4);
    assert!(offset_of!(JournalHeader, capacity) == 8);
    assert!(offset_of!(JournalHeader, data_off) == 16);
    assert!(offset_of!(JournalHeader, index_off) == 24);
    assert!(offset_of!(JournalHeader, index_n) == 32);
    assert!(offset_of!(JournalHeader, index_every) == 36);
    assert!(offset_of!(JournalHeader, max_message) == 40);
    assert!(offset_of!(JournalHeader, segment) == 44);
    assert!(offset_of!(JournalHeader, base_pos) == 48);
    assert!(offset_of!(JournalHeader, base_seq) == 56);
    assert!(BODY_OFFSET + offset_of!(JournalHeader, commit) == 192);
    assert!(offset_of!(JournalHeader, commit_seq) == 72);
    assert!(offset_of!(JournalHeader, sealed) == 96);
    assert!(BODY_OFFSET + offset_of!(JournalHeader, oldest) == 256);
    assert!(offset_of!(JournalHeader, oldest_seq) == 136);
    assert!(BODY_OFFSET + size_of::<JournalHeader>() <= DOORBELL_OFFSET);
};

impl JournalHeader {
    /// The header of the journal region mapped by `map`, or `None` if the mapping is too short
    /// to hold it.
    pub(crate) fn view(map: &Mapping) -> Option<&Self> {
        let bytes = map.bytes(BODY_OFFSET, size_of::<Self>())?;
        let p = bytes.as_ptr().cast::<Self>();
        if !p.is_aligned() {
            return None;
        }
        // SAFETY: (1) `bytes` covers exactly `size_of::<Self>()` bytes inside the mapping and
        // lives as long as `map`, and so does the returned reference; (2) `p` is aligned (checked
        // above); (3) `Self` is `repr(C)` of atomics only, for which every bit
        // pattern is valid, with no padding (the assertions above); (4) other processes change
        // these words concurrently, which the atomics allow (the `_reserved` words are never
        // read or written).
        Some(unsafe { &*p })
    }
}

/// Field offsets of [`JournalHeader`], relative to the body offset (128), for code that names
/// them by offset (tests, tools).
#[allow(dead_code)]
pub(crate) mod offsets {
    use super::JournalHeader;
    use core::mem::offset_of;
    pub(crate) const J_MODE: usize = offset_of!(JournalHeader, mode);
    pub(crate) const J_FLAGS: usize = offset_of!(JournalHeader, flags);
    pub(crate) const J_CAPACITY: usize = offset_of!(JournalHeader, capacity);
    pub(crate) const J_DATA_OFF: usize = offset_of!(JournalHeader, data_off);
    pub(crate) const J_INDEX_OFF: usize = offset_of!(JournalHeader, index_off);
    pub(crate) const J_INDEX_N: usize = offset_of!(JournalHeader, index_n);
    pub(crate) const J_INDEX_EVERY: usize = offset_of!(JournalHeader, index_every);
    pub(crate) const J_MAX_MSG: usize = offset_of!(JournalHeader, max_message);
    pub(crate) const J_SEGMENT: usize = offset_of!(JournalHeader, segment);
    pub(crate) const J_BASE_POS: usize = offset_of!(JournalHeader, base_pos);
    pub(crate) const J_BASE_SEQ: usize = offset_of!(JournalHeader, base_seq);
    pub(crate) const J_COMMIT: usize = offset_of!(JournalHeader, commit);
    pub(crate) const J_COMMIT_SEQ: usize = offset_of!(JournalHeader, commit_seq);
    pub(crate) const J_SEALED: usize = offset_of!(JournalHeader, sealed);
    pub(crate) const J_OLDEST: usize = offset_of!(JournalHeader, oldest);
    pub(crate) const J_OLDEST_SEQ: usize = offset_of!(JournalHeader, oldest_seq);
}
#[allow(unused_imports)]
pub(crate) use offsets::*;

pub(crate) const BODY_OFFSET: usize = 128;
pub(crate) const DOORBELL_OFFSET: usize = 4096;
pub(crate) const DOORBELL_LEN: usize = 4096;
pub(crate) const DB_FUTEX: usize = 0;
pub(crate) const DB_WAITERS: usize = 4;
pub(crate) const INDEX_OFFSET: usize = 8192;

/// A sparse index entry every this many messages.
pub(crate) const INDEX_EVERY: u64 = 64;
/// Index slot holding no position yet.
pub(crate) const INDEX_EMPTY: u64 = u64::MAX;

pub(crate) const MODE_SEGMENT: u32 = 1;
pub(crate) const MODE_RING: u32 = 2;
pub(crate) const FLAG_CRC: u32 = 1;

/// A cache line.
pub(crate) const LINE: usize = 64;
/// A busy reader keeps the lines of the next frame warm if it expects a frame of at most this
/// many bytes (see `touch_ahead`). For longer frames it does not: a reader holding many of the
/// writer's next lines makes the writer wait for each of them (1 KiB one-way p50 went from
/// 1.2x to 1.9x the message floor when it touched up to 2 KiB).
pub(crate) const TOUCH_MAX: usize = 128;
pub(crate) const FRAME_HEADER: usize = 16;
pub(crate) const FRAME_TRAILER: usize = 8;
/// The smallest frame (an empty message).
pub(crate) const MIN_FRAME: usize = FRAME_HEADER + FRAME_TRAILER;
/// Marks a padding word (lead and trailing) at the end of a ring's data area.
pub(crate) const PAD: u32 = 1 << 31;
/// The top bit of a frame's sequence word: set once the frame is published (how and when:
/// `publish.rs`).
pub(crate) const PUBLISHED: u64 = 1 << 63;

/// The sequence word of a published frame.
#[inline]
pub(crate) const fn publish_word(seq: u64) -> u64 {
    PUBLISHED | seq
}

/// Largest message shmbus accepts in any journal: 1 GiB (a journal's own limit may be lower:
/// a quarter of its data area).
pub const MAX_MESSAGE: usize = 1 << 30;

/// The layout of a frame header, whose fingerprint marks journal regions.
pub(crate) const FRAME_LAYOUT: RecordLayout = RecordLayout {
    name: "shmbus.frame.v1",
    size: FRAME_HEADER as u32,
    fields: &[
        Field::new("len", FieldType::U32, 0),
        Field::new("type", FieldType::U16, 4),
        Field::new("flags", FieldType::U16, 6),
        Field::new("seq", FieldType::U64, 8),
    ],
};

pub(crate) const fn round8(n: usize) -> usize {
    (n + 7) & !7
}

/// Bytes a frame with a payload of `len` bytes takes.
pub(crate) const fn frame_len(len: usize) -> usize {
    FRAME_HEADER + round8(len) + FRAME_TRAILER
}

pub(crate) const fn round_page(n: usize) -> usize {
    (n + 4095) & !4095
}

/// CRC32C of a frame: its 16-byte header, then its payload.
pub(crate) fn frame_crc(len: u32, ty: u16, flags: u16, seq: u64, payload: &[u8]) -> u32 {
    let mut head = [0u8; FRAME_HEADER];
    head[0..4].copy_from_slice(&len.to_le_bytes());
    head[4..6].copy_from_slice(&ty.to_le_bytes());
    head[6..8].copy_from_slice(&flags.to_le_bytes());
    head[8..16].copy_from_slice(&seq.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&head), payload)
}

/// Geometry of a segment: where the index and data go for a data area of `capacity` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub capacity: u64,
    pub index_n: u32,
    pub data_off: u64,
    pub total: u64,
    pub max_message: u32,
}

impl Geometry {
    /// The layout for a data area of (at least) `capacity` bytes, rounded up to pages.
    pub(crate) fn for_capacity(capacity: u64) -> Option<Self> {
        let capacity = round_page(usize::try_from(capacity).ok()?) as u64;
        // Enough index slots for every index point the data area can hold, plus slack.
        let index_n = u32::try_from(capacity / (MIN_FRAME as u64 * INDEX_EVERY) + 2).ok()?;
        let data_off = round_page(INDEX_OFFSET + index_n as usize * 8) as u64;
        let max_message = (capacity / 4)
            .saturating_sub(MIN_FRAME as u64)
            .min(MAX_MESSAGE as u64) as u32;
        Some(Self {
            capacity,
            index_n,
            data_off,
            total: data_off.checked_add(capacity)?,
            max_message,
        })
    }
}
