//! The frame codec (docs/FORMAT.md 5.5): how one frame or padding word is laid out in a data area,
//! encoded by the writer and decoded, with every bound checked, by readers.
//!
//! ```text
//! [u32 len][u16 type][u16 flags][u64 PUBLISHED | seq][payload, zero-padded to 8][u32 len][u32 crc]
//! padding (ring wrap-around): lead word PAD | bytes, and the same word in its last 8 bytes
//! ```
//!
//! Pure: it works on a [`Mapping`] at offsets the caller computed, knows nothing of segments,
//! commits or horizons, and stores nothing but the frame's own bytes. Rules it keeps:
//! * it never reads or writes outside the mapping, and reports a [`FrameFault`] (never panics) for
//!   whatever another process may have written;
//! * the header words are stored last, with atomic stores (busy readers poll them); whether the
//!   sequence word is stored published or 0 is the publication protocol's decision
//!   (`publish.rs`);
//! * the decoder copies payloads with atomic loads and validates nothing that a ring lap could
//!   invalidate without the caller checking the horizon afterwards (`publish::lapped`).

use std::fmt;
use std::sync::atomic::Ordering;

use super::format::*;
use crate::mapping::Mapping;

/// A decoded frame header.
///
/// The decoder stores each field on its own, and the reader builds a [`Message`] from `seq` and
/// `pos` right after. Were the two adjacent, the compiler would copy them with one 16-byte load
/// spanning two 8-byte stores, which store forwarding cannot serve (a stall on every message:
/// ~20% of a streaming reader's time). `repr(C)` keeps `next` between them.
///
/// [`Message`]: super::Message
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FrameInfo {
    pub seq: u64,
    pub next: u64,
    pub pos: u64,
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
}

/// What lies at a position (the frame's facts go to a [`FrameInfo`] the caller passes: a frame
/// description returned through memory is written narrow and read back wide, a
/// store-forwarding stall on every message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// A frame, its payload copied into the caller's buffer.
    Frame,
    /// Ring padding up to this position.
    Pad(u64),
    /// Nothing committed there yet.
    End,
}

/// What is wrong with the bytes at a position, as the frame decoder finds it (docs/FORMAT.md
/// 5.8; [`crate::JournalCorruption::Frame`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameFault {
    /// The position is not 8-aligned.
    Misaligned,
    /// The position lies outside the segment's data area.
    OutsideSegment,
    /// The commit position is more than a ring ahead of the position.
    CommitAheadOfRing,
    /// A committed frame is not marked published.
    NotPublished,
    /// The frame's length exceeds the committed data or the maximum message.
    TooLong {
        /// The length found.
        len: u32,
    },
    /// The frame crosses the end of the ring.
    CrossesRingEnd,
    /// The payload lies outside the region.
    PayloadOutside,
    /// The trailer lies outside the region.
    TrailerOutside,
    /// The frame lies outside the region.
    FrameOutside,
    /// The leading and trailing lengths differ.
    LengthMismatch {
        /// The leading length.
        lead: u32,
        /// The trailing length.
        trail: u32,
    },
    /// The frame's CRC32C does not match its bytes.
    Crc {
        /// The frame's sequence.
        seq: u64,
    },
    /// A padding word where none may be, or a malformed one.
    BadPad,
    /// A trailing length no frame can have.
    ImpossibleTrailer {
        /// The length found.
        len: u32,
    },
    /// The frame's length exceeds the journal's maximum message.
    ExceedsMaxMessage {
        /// The length found.
        len: u32,
    },
    /// Walking backward: no frame before this position.
    NothingBefore,
    /// Walking backward: the frame would start before the journal.
    BeforeJournal,
}

impl fmt::Display for FrameFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameFault::Misaligned => f.write_str("misaligned position"),
            FrameFault::OutsideSegment => f.write_str("position outside the segment"),
            FrameFault::CommitAheadOfRing => {
                f.write_str("commit position is more than a ring ahead")
            }
            FrameFault::NotPublished => f.write_str("committed frame is not marked published"),
            FrameFault::TooLong { len } => write!(
                f,
                "frame length {len} exceeds the committed data or the maximum message"
            ),
            FrameFault::CrossesRingEnd => f.write_str("frame crosses the end of the ring"),
            FrameFault::PayloadOutside => f.write_str("payload outside the region"),
            FrameFault::TrailerOutside => f.write_str("trailer outside the region"),
            FrameFault::FrameOutside => f.write_str("frame outside the region"),
            FrameFault::LengthMismatch { lead, trail } => {
                write!(f, "leading length {lead} != trailing length {trail}")
            }
            FrameFault::Crc { seq } => write!(f, "CRC32C mismatch (seq {seq})"),
            FrameFault::BadPad => f.write_str("bad padding word"),
            FrameFault::ImpossibleTrailer { len } => {
                write!(f, "trailing length {len} is impossible")
            }
            FrameFault::ExceedsMaxMessage { len } => {
                write!(f, "frame length {len} exceeds the maximum message")
            }
            FrameFault::NothingBefore => f.write_str("no frame before this position"),
            FrameFault::BeforeJournal => f.write_str("frame starts before the journal"),
        }
    }
}

/// What a decoder checks a frame against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest payload.
    pub max_message: u32,
    /// The data area's size.
    pub capacity: u64,
    /// Whether frames carry a CRC.
    pub crc: bool,
}

/// Decodes the frame at mapping offset `off` (logical position `pos`), copying its payload into
/// `buf` (8-aligned words, grown as needed, never shrunk) and its facts into `out`.
///
/// `avail` is how many bytes from `pos` may be read (up to the commit, or one maximum frame for a
/// published one); `to_end`, in a ring, how many bytes remain before its end (`None` in a
/// segment, where padding is never valid).
// Inlined into the reader: returned through memory, the frame facts would be written with
// narrow stores and read back wide (a store-forwarding stall of ~10 ns per message).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn decode(
    map: &Mapping,
    off: usize,
    pos: u64,
    avail: u64,
    to_end: Option<u64>,
    limits: Limits,
    buf: &mut Vec<u64>,
    out: &mut FrameInfo,
) -> Result<Found, FrameFault> {
    let (Some(w0), Some(w1)) = (map.u64_at(off), map.u64_at(off + 8)) else {
        // A pad of 8 bytes at the very end has no room for the second word.
        return decode_pad(map, off, pos, avail, to_end).map(Found::Pad);
    };
    // Relaxed, every load of the decoder: the caller's Acquire load of the frame's sequence word
    // or of the commit (`publish::published`, `publish::committed`) came before and pairs with
    // the writer's publishing store; in a ring, `publish::lapped` validates the copy after.
    let w0 = w0.load(Ordering::Relaxed);
    let w1 = w1.load(Ordering::Relaxed);
    let len = w0 as u32;
    if len & PAD != 0 {
        return decode_pad(map, off, pos, avail, to_end).map(Found::Pad);
    }
    if w1 & PUBLISHED == 0 {
        return Err(FrameFault::NotPublished);
    }
    let seq = w1 & !PUBLISHED;
    let (ty, flags) = ((w0 >> 32) as u16, (w0 >> 48) as u16);
    let total = frame_len(len as usize) as u64;
    if len > limits.max_message || total > avail {
        return Err(FrameFault::TooLong { len });
    }
    if to_end.is_some_and(|e| total > e) {
        return Err(FrameFault::CrossesRingEnd);
    }
    let words = round8(len as usize) / 8;
    // The buffer only ever grows: no reallocation or zeroing per frame.
    if buf.len() < words {
        buf.resize(words, 0);
    }
    if map
        .copy_words(off + FRAME_HEADER, &mut buf[..words])
        .is_none()
    {
        return Err(FrameFault::PayloadOutside);
    }
    let Some(trailer) = map
        .u64_at(off + FRAME_HEADER + words * 8)
        // Relaxed: as the header loads above.
        .map(|w| w.load(Ordering::Relaxed))
    else {
        return Err(FrameFault::TrailerOutside);
    };
    if trailer as u32 != len {
        return Err(FrameFault::LengthMismatch {
            lead: len,
            trail: trailer as u32,
        });
    }
    if limits.crc {
        let bytes: &[u8] = bytemuck::cast_slice(&buf[..words]);
        let want = (trailer >> 32) as u32;
        if frame_crc(len, ty, flags, seq, &bytes[..len as usize]) != want {
            return Err(FrameFault::Crc { seq });
        }
    }
    out.len = len;
    out.ty = ty;
    out.flags = flags;
    out.seq = seq;
    out.pos = pos;
    out.next = pos + total;
    Ok(Found::Frame)
}

/// The end of the padding at `off` (`pos`): valid only in a ring, reaching exactly its end.
fn decode_pad(
    map: &Mapping,
    off: usize,
    pos: u64,
    avail: u64,
    to_end: Option<u64>,
) -> Result<u64, FrameFault> {
    // Relaxed: as in `decode`.
    let w = map.u32_at(off).map(|w| w.load(Ordering::Relaxed));
    let pad = w.filter(|w| w & PAD != 0).map(|w| u64::from(w & !PAD));
    match (pad, to_end) {
        (Some(p), Some(to_end)) if p == to_end && p <= avail => Ok(pos + p),
        _ => Err(FrameFault::BadPad),
    }
}

/// The length of the frame or padding whose trailing word is at `off` (walking backward).
pub(crate) fn len_before(map: &Mapping, off: usize, limits: Limits) -> Result<u64, FrameFault> {
    // Relaxed: a committed frame's trailer, below a commit loaded with Acquire by the caller.
    let Some(word) = map.u32_at(off).map(|w| w.load(Ordering::Relaxed)) else {
        return Err(FrameFault::TrailerOutside);
    };
    if word & PAD != 0 {
        pad_len(word, limits)
    } else if word <= limits.max_message {
        Ok(frame_len(word as usize) as u64)
    } else {
        Err(FrameFault::ImpossibleTrailer { len: word })
    }
}

/// The length of the frame or padding at `off`, and the frame's sequence (the writer's walk over
/// its own old frames): reads only the leading words.
#[inline]
pub(crate) fn span_at(
    map: &Mapping,
    off: usize,
    limits: Limits,
) -> Result<(u64, Option<u64>), FrameFault> {
    // Relaxed: the writer reads frames it wrote itself (program order), both loads.
    let lead = map
        .u32_at(off)
        .ok_or(FrameFault::FrameOutside)?
        .load(Ordering::Relaxed);
    if lead & PAD != 0 {
        return Ok((pad_len(lead, limits)?, None));
    }
    if lead > limits.max_message {
        return Err(FrameFault::ExceedsMaxMessage { len: lead });
    }
    let seq = map
        .u64_at(off + 8)
        .ok_or(FrameFault::FrameOutside)?
        .load(Ordering::Relaxed)
        & !PUBLISHED;
    Ok((frame_len(lead as usize) as u64, Some(seq)))
}

fn pad_len(word: u32, limits: Limits) -> Result<u64, FrameFault> {
    let bytes = u64::from(word & !PAD);
    if bytes < 8 || bytes % 8 != 0 || bytes > limits.capacity {
        return Err(FrameFault::BadPad);
    }
    Ok(bytes)
}

// ----- encoder (the writer-lock holder only) -----

/// The payload bytes of a frame of `len` bytes at `off`, its padding zeroed (a reservation). The
/// header is stored last, by [`finish`].
///
/// # Safety
///
/// Only the writer-lock holder calls this, for a range beyond the committed end (and, in a ring,
/// past the `oldest` horizon already advanced and fenced), so nobody else uses it.
#[allow(clippy::mut_from_ref)]
#[inline]
pub(crate) unsafe fn reserve(map: &Mapping, off: usize, len: u32) -> &mut [u8] {
    let padded = round8(len as usize);
    // SAFETY: per this function's contract the range is the writer's alone.
    let bytes =
        unsafe { map.bytes_mut(off + FRAME_HEADER, padded) }.expect("checked by the writer");
    if padded > len as usize {
        bytes[len as usize..].fill(0);
    }
    &mut bytes[..len as usize]
}

/// The payload bytes of the frame being written at `off`.
///
/// # Safety
///
/// As [`reserve`].
#[allow(clippy::mut_from_ref)]
#[inline]
pub(crate) unsafe fn payload_mut(map: &Mapping, off: usize, len: u32) -> &mut [u8] {
    // SAFETY: per this function's contract the range is the writer's alone.
    unsafe { map.bytes_mut(off + FRAME_HEADER, len as usize) }.expect("checked by the writer")
}

/// Stores the two header words of the frame at `off`. They are atomic stores: busy readers poll
/// the sequence word of the next frame before it is published. `publish`: the word is stored
/// published, else 0 (the first frame of a batch, published by `publish::publish_batch`).
#[inline]
fn store_header(map: &Mapping, off: usize, len: u32, ty: u16, seq: u64, publish: bool) {
    let w0 = u64::from(len) | (u64::from(ty) << 32);
    // Relaxed, both: published to readers by the batch's publishing store (Release) or the
    // commit swap that follows (`publish.rs`), which readers pair with Acquire loads.
    map.u64_at(off)
        .expect("checked by the writer")
        .store(w0, Ordering::Relaxed);
    map.u64_at(off + 8).expect("checked by the writer").store(
        if publish { publish_word(seq) } else { 0 },
        Ordering::Relaxed,
    );
}

/// Writes a whole frame at `off`: payload, zero padding and trailer, then the header (the path
/// of `append`: one bounds check for the body).
///
/// For the first frame of a batch, the one a busy reader polls, the header's line is stored
/// last and in one burst (the payload bytes on it, then the header words), and the commit
/// stores the sequence word right after, into a line the writer owns by then. Stored first,
/// that line would be pulled back by the polling reader while later lines wait for
/// ownership, and the publishing store would have to fetch it again. Interleaved runs of
/// `shmbus bench latency` (64 B): one-way p50 1.21x the message floor against 1.51x with the
/// header's line stored in plain order, and 1.40x before.
///
/// # Safety
///
/// As [`reserve`].
#[inline]
pub(crate) unsafe fn encode(
    map: &Mapping,
    off: usize,
    ty: u16,
    seq: u64,
    publish: bool,
    payload: &[u8],
    crc: u32,
) {
    let len = payload.len();
    let padded = round8(len);
    // SAFETY: per this function's contract the payload, padding and trailer are the
    // writer's alone (readers load them only once the frame is published).
    let body =
        unsafe { map.bytes_mut(off + FRAME_HEADER, padded + 8) }.expect("checked by the writer");
    // The payload bytes on the header's line: for the first frame of a batch (the one a
    // busy reader polls), stored after every other line, together with the header.
    let head = if publish {
        0
    } else {
        // 0 if the header ends its line: no payload byte shares it.
        ((LINE - (off + FRAME_HEADER) % LINE) % LINE).min(len)
    };
    body[head..len].copy_from_slice(&payload[head..]);
    if padded > len {
        body[len..padded].fill(0);
    }
    let trailer = len as u64 | (u64::from(crc) << 32);
    body[padded..].copy_from_slice(&trailer.to_le_bytes());
    body[..head].copy_from_slice(&payload[..head]);
    store_header(map, off, len as u32, ty, seq, publish);
}

/// Completes the frame reserved at `off` after its payload is written: the trailer, then the
/// header (last, as in [`encode`]).
#[inline]
pub(crate) fn finish(
    map: &Mapping,
    off: usize,
    len: u32,
    ty: u16,
    seq: u64,
    publish: bool,
    crc: u32,
) {
    let w = u64::from(len) | (u64::from(crc) << 32);
    // Relaxed: published as the header words are (see `store_header`).
    map.u64_at(off + FRAME_HEADER + round8(len as usize))
        .expect("checked by the writer")
        .store(w, Ordering::Relaxed);
    store_header(map, off, len, ty, seq, publish);
}

/// Writes a padding of `bytes` at `off` (ring only): the lead word and the same word in its
/// last 8 bytes.
pub(crate) fn encode_pad(map: &Mapping, off: usize, bytes: u64) {
    let word = PAD | bytes as u32;
    // Relaxed, both: published by the next commit, as a frame's words (see `store_header`).
    map.u32_at(off)
        .expect("in ring")
        .store(word, Ordering::Relaxed);
    map.u32_at(off + bytes as usize - 8)
        .expect("in ring")
        .store(word, Ordering::Relaxed);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A writable mapping of a fresh 4 KiB file (removed on drop).
    struct Scratch {
        path: std::path::PathBuf,
        map: Mapping,
    }

    impl Scratch {
        fn new(tag: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("shmbus-frame-{}-{tag}", std::process::id()));
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .expect("create the scratch file");
            file.set_len(4096).expect("size the scratch file");
            let map = Mapping::new(&file, 4096, true, false).expect("map the scratch file");
            Self { path, map }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    const LIMITS: Limits = Limits {
        max_message: 1024,
        capacity: 4096,
        crc: true,
    };

    fn write(s: &Scratch, off: usize, seq: u64, publish: bool, payload: &[u8]) {
        let crc = frame_crc(payload.len() as u32, 7, 0, seq, payload);
        // SAFETY: the scratch mapping is this test's alone.
        unsafe { encode(&s.map, off, 7, seq, publish, payload, crc) };
    }

    fn decode_at(
        s: &Scratch,
        off: usize,
        avail: u64,
        to_end: Option<u64>,
        limits: Limits,
    ) -> Result<(Found, FrameInfo, Vec<u64>), FrameFault> {
        let (mut buf, mut out) = (Vec::new(), FrameInfo::default());
        let found = decode(
            &s.map,
            off,
            1000 + off as u64,
            avail,
            to_end,
            limits,
            &mut buf,
            &mut out,
        )?;
        Ok((found, out, buf))
    }

    #[test]
    fn a_frame_decodes_as_it_was_encoded() {
        let s = Scratch::new("roundtrip");
        write(&s, 64, 42, true, b"hello");
        let (found, f, buf) = decode_at(&s, 64, 4000, None, LIMITS).expect("a valid frame");
        assert_eq!(found, Found::Frame);
        let total = frame_len(5) as u64;
        assert_eq!(
            (f.seq, f.len, f.ty, f.pos, f.next),
            (42, 5, 7, 1064, 1064 + total)
        );
        assert_eq!(&bytemuck::cast_slice::<u64, u8>(&buf)[..5], b"hello");
        // Walking back from its end, and the writer's walk over its leading words.
        let trailer = 64 + total as usize - 8;
        assert_eq!(len_before(&s.map, trailer, LIMITS), Ok(total));
        assert_eq!(span_at(&s.map, 64, LIMITS), Ok((total, Some(42))));
    }

    #[test]
    fn every_fault_is_reported() {
        let s = Scratch::new("faults");
        write(&s, 0, 1, false, b"unpublished");
        assert_eq!(
            decode_at(&s, 0, 4000, None, LIMITS).err(),
            Some(FrameFault::NotPublished)
        );
        write(&s, 0, 1, true, b"0123456789");
        let total = frame_len(10) as u64;
        let small = Limits {
            max_message: 9,
            ..LIMITS
        };
        assert_eq!(
            decode_at(&s, 0, 4000, None, small).err(),
            Some(FrameFault::TooLong { len: 10 })
        );
        assert_eq!(
            decode_at(&s, 0, total - 8, None, LIMITS).err(),
            Some(FrameFault::TooLong { len: 10 })
        );
        assert_eq!(
            decode_at(&s, 0, 4000, Some(total - 8), LIMITS).err(),
            Some(FrameFault::CrossesRingEnd)
        );
        // A payload byte changed: the CRC says so.
        s.map
            .write_bytes(FRAME_HEADER, b"X")
            .expect("in the scratch mapping");
        assert_eq!(
            decode_at(&s, 0, 4000, None, LIMITS).err(),
            Some(FrameFault::Crc { seq: 1 })
        );
        // The trailing length changed.
        let trailer = total as usize - 8;
        s.map.store_u32(trailer, 3).expect("in the scratch mapping");
        assert_eq!(
            decode_at(&s, 0, 4000, None, LIMITS).err(),
            Some(FrameFault::LengthMismatch { lead: 10, trail: 3 })
        );
        // A frame whose payload would run past the mapping.
        write(&s, 4096 - 32, 2, true, b"");
        s.map
            .store_u32(4096 - 32, 100)
            .expect("in the scratch mapping");
        assert_eq!(
            decode_at(&s, 4096 - 32, 4000, None, LIMITS).err(),
            Some(FrameFault::PayloadOutside)
        );
        assert_eq!(
            span_at(
                &s.map,
                4096 - 32,
                Limits {
                    max_message: 99,
                    ..LIMITS
                }
            ),
            Err(FrameFault::ExceedsMaxMessage { len: 100 })
        );
    }

    #[test]
    fn padding_is_valid_only_to_the_end_of_a_ring() {
        let s = Scratch::new("pad");
        encode_pad(&s.map, 4096 - 32, 32);
        let off = 4096 - 32;
        let (found, ..) = decode_at(&s, off, 4000, Some(32), LIMITS).expect("a valid pad");
        assert_eq!(found, Found::Pad(1000 + off as u64 + 32));
        assert_eq!(
            decode_at(&s, off, 4000, None, LIMITS).err(),
            Some(FrameFault::BadPad)
        );
        assert_eq!(
            decode_at(&s, off, 4000, Some(40), LIMITS).err(),
            Some(FrameFault::BadPad)
        );
        assert_eq!(
            decode_at(&s, off, 16, Some(32), LIMITS).err(),
            Some(FrameFault::BadPad)
        );
        assert_eq!(len_before(&s.map, 4096 - 8, LIMITS), Ok(32));
        // The last 8 bytes: a pad of 8 has no room for a second header word.
        encode_pad(&s.map, 4096 - 8, 8);
        let (found, ..) = decode_at(&s, 4096 - 8, 8, Some(8), LIMITS).expect("a valid pad");
        assert_eq!(found, Found::Pad(1000 + 4096));
    }
}
