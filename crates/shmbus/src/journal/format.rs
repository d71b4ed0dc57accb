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

use crate::record::{Field, FieldType, RecordLayout};

/// Journal header, relative to the body offset (128).
pub(crate) const J_MODE: usize = 0;
pub(crate) const J_FLAGS: usize = 4;
pub(crate) const J_CAPACITY: usize = 8;
pub(crate) const J_DATA_OFF: usize = 16;
pub(crate) const J_INDEX_OFF: usize = 24;
pub(crate) const J_INDEX_N: usize = 32;
pub(crate) const J_INDEX_EVERY: usize = 36;
pub(crate) const J_MAX_MSG: usize = 40;
pub(crate) const J_SEGMENT: usize = 44;
pub(crate) const J_BASE_POS: usize = 48;
pub(crate) const J_BASE_SEQ: usize = 56;
// The commit line (absolute offset 192), written by the writer only.
pub(crate) const J_COMMIT: usize = 64;
pub(crate) const J_COMMIT_SEQ: usize = 72;
pub(crate) const J_SEALED: usize = 96;
// The ring's overwrite horizon, on a cache line of its own (absolute offset 256): readers check
// it after every frame, and the writer moves it only once per 1/32 of the ring.
pub(crate) const J_OLDEST: usize = 128;
pub(crate) const J_OLDEST_SEQ: usize = 136;

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
/// The top bit of a frame's sequence word: set once the frame is published. The first frame of
/// a batch gets its sequence word last, at commit (Release), so a reader that polls that word
/// sees the whole batch at once. The word after a batch is zeroed before the batch is published
/// (as its first frame is written, for a batch of one; at commit otherwise), so it never looks
/// published.
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
