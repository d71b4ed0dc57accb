//! One journal region file: its validated geometry, its commit line, frame decoding with every
//! bound checked, and the doorbell (futex) that wakes blocked readers.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use super::format::*;
use crate::error::{JournalError, RegionError};
use crate::header::RegionKind;
use crate::mapping::Mapping;
use crate::os;
use crate::region::{OpenOptions, Region};

/// How a segment's data area is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fills up once; the journal then rolls to the next segment file.
    Segment,
    /// Wraps around: the writer never blocks; lapped readers get `Overrun`.
    Ring,
}

/// Parameters of a new segment.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSpec {
    pub mode: Mode,
    pub capacity: u64,
    pub crc: bool,
    pub segment: u32,
    pub base_pos: u64,
    pub base_seq: u64,
    pub group_shared: bool,
    pub populate: bool,
}

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

/// What lies at a position, for [`Segment::read_frame`] (the frame's facts go elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A frame, its payload copied into the caller's buffer.
    Frame,
    /// Ring padding up to this position.
    Pad(u64),
    /// Nothing committed there yet.
    End,
}

/// What lies at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// A frame, its payload copied into the caller's buffer.
    Frame(FrameInfo),
    /// Ring padding up to `next`.
    Pad { next: u64 },
    /// Nothing committed there yet.
    End,
}

#[derive(Debug)]
pub(crate) struct Segment {
    region: Region,
    doorbell: Option<Mapping>,
    pub mode: Mode,
    pub crc: bool,
    pub capacity: u64,
    data_off: usize,
    index_off: usize,
    pub index_n: u32,
    pub max_message: u32,
    pub segment: u32,
    pub base_pos: u64,
    pub base_seq: u64,
    /// `capacity - 1` for a ring whose capacity is a power of two (all rings shmbus creates),
    /// so a position maps to its place with a mask instead of a division; 0 otherwise.
    mask: u64,
}

const JH: usize = BODY_OFFSET;

impl Segment {
    pub(crate) fn create(name: &str, spec: &SegmentSpec) -> Result<Self, JournalError> {
        // Rings are a power of two bytes, so positions map to offsets with a mask.
        let capacity = match spec.mode {
            Mode::Ring => spec
                .capacity
                .max(4096)
                .checked_next_power_of_two()
                .unwrap_or(u64::MAX),
            Mode::Segment => spec.capacity,
        };
        let g = Geometry::for_capacity(capacity).ok_or(JournalError::Region(
            RegionError::SizeTooLarge {
                requested: spec.capacity,
                max: crate::region::MAX_REGION_SIZE,
            },
        ))?;
        let region = Region::builder_with_body(name, BODY_OFFSET as u32)
            .kind(RegionKind::Journal)
            .size(g.total)
            .layout(&FRAME_LAYOUT)
            .group_shared(spec.group_shared)
            .populate(spec.populate)
            .create_unpublished()?;
        let map = region.map();
        let w32 = |f: usize, v: u32| map.store_u32(JH + f, v).expect("in header");
        let w64 = |f: usize, v: u64| map.store_u64(JH + f, v).expect("in header");
        w32(
            J_MODE,
            if spec.mode == Mode::Ring {
                MODE_RING
            } else {
                MODE_SEGMENT
            },
        );
        w32(J_FLAGS, if spec.crc { FLAG_CRC } else { 0 });
        w64(J_CAPACITY, g.capacity);
        w64(J_DATA_OFF, g.data_off);
        w64(J_INDEX_OFF, INDEX_OFFSET as u64);
        w32(J_INDEX_N, g.index_n);
        w32(J_INDEX_EVERY, INDEX_EVERY as u32);
        w32(J_MAX_MSG, g.max_message);
        w32(J_SEGMENT, spec.segment);
        w64(J_BASE_POS, spec.base_pos);
        w64(J_BASE_SEQ, spec.base_seq);
        for f in [J_COMMIT, J_OLDEST] {
            w64(f, spec.base_pos);
        }
        for f in [J_COMMIT_SEQ, J_OLDEST_SEQ] {
            w64(f, spec.base_seq);
        }
        for slot in map
            .u64_slice(INDEX_OFFSET, g.index_n as usize)
            .expect("index in region")
        {
            slot.store(INDEX_EMPTY, Ordering::Relaxed);
        }
        region.publish();
        Self::from_region(region)
    }

    /// Opens a journal region. A writer's open stores nothing until [`Segment::claim_writer`]:
    /// the journal writer validates first.
    pub(crate) fn open(name: &str, writer: bool, opts: OpenOptions) -> Result<Self, JournalError> {
        let opts = if writer { opts.defer_claim() } else { opts };
        let region = opts
            .kind(RegionKind::Journal)
            .layout(&FRAME_LAYOUT)
            .writer(writer)
            .open(name)?;
        Self::from_region(region)
    }

    /// Makes the lock holder the writer (generation and pid, see `Region::claim_writer`): the
    /// first store of a writer that opened this segment, once it has validated it.
    pub(crate) fn claim_writer(&mut self) {
        self.region.claim_writer();
    }

    fn from_region(region: Region) -> Result<Self, JournalError> {
        let map = region.map();
        let corrupt = |what: String| {
            JournalError::Region(RegionError::Corrupt {
                path: region.name().path().to_path_buf(),
                what,
            })
        };
        let r32 = |f: usize| map.u32_at(JH + f).map(|w| w.load(Ordering::Relaxed));
        let r64 = |f: usize| map.u64_at(JH + f).map(|w| w.load(Ordering::Relaxed));
        let (Some(mode), Some(flags), Some(capacity), Some(data_off), Some(index_off)) = (
            r32(J_MODE),
            r32(J_FLAGS),
            r64(J_CAPACITY),
            r64(J_DATA_OFF),
            r64(J_INDEX_OFF),
        ) else {
            return Err(corrupt("the journal header lies outside the region".into()));
        };
        let (index_n, max_message, segment) = (
            r32(J_INDEX_N).unwrap_or(0),
            r32(J_MAX_MSG).unwrap_or(0),
            r32(J_SEGMENT).unwrap_or(0),
        );
        let (base_pos, base_seq) = (r64(J_BASE_POS).unwrap_or(0), r64(J_BASE_SEQ).unwrap_or(0));
        let mode = match mode {
            MODE_RING => Mode::Ring,
            MODE_SEGMENT => Mode::Segment,
            m => return Err(corrupt(format!("unknown journal mode {m}"))),
        };
        let len = region.len() as u64;
        let index_end = index_off.checked_add(u64::from(index_n) * 8);
        let sane = capacity > 0
            && capacity % 8 == 0
            && index_off == INDEX_OFFSET as u64
            && index_n > 0
            && index_end.is_some_and(|e| e <= data_off)
            && data_off % 8 == 0
            && data_off.checked_add(capacity) == Some(len)
            && u64::from(max_message) <= capacity / 4
            && base_pos.checked_add(capacity).is_some();
        if !sane {
            return Err(corrupt(format!(
                "impossible journal geometry: capacity {capacity}, data at {data_off}, index of \
                 {index_n} at {index_off}, max message {max_message}, in {len} bytes"
            )));
        }
        let doorbell = if region.is_writer() {
            None
        } else {
            // Without write permission a reader still works; it polls instead of sleeping.
            region
                .map_writable_page(DOORBELL_OFFSET as u64, DOORBELL_LEN)
                .ok()
        };
        Ok(Self {
            region,
            doorbell,
            mode,
            crc: flags & FLAG_CRC != 0,
            capacity,
            data_off: data_off as usize,
            index_off: index_off as usize,
            index_n,
            max_message,
            segment,
            base_pos,
            base_seq,
            mask: if mode == Mode::Ring && capacity.is_power_of_two() {
                capacity - 1
            } else {
                0
            },
        })
    }

    /// Where logical position `pos` falls in a ring's data area (0..capacity).
    #[inline]
    pub(crate) fn ring_offset(&self, pos: u64) -> u64 {
        if self.mask != 0 {
            pos & self.mask
        } else {
            pos % self.capacity
        }
    }

    pub(crate) fn writer_alive(&self) -> bool {
        self.region.writer_alive().unwrap_or(false)
    }

    pub(crate) fn name(&self) -> String {
        self.region.name().to_string()
    }

    /// The region header's creation time: with a sequence, it names a message for good (a
    /// journal re-created under the same name gets new files, so new times).
    pub(crate) fn created_ns(&self) -> u64 {
        self.region.header().created_ns
    }

    /// Whether the segment's file was truncated under its mapping or its doorbell's (by
    /// another process): what was read from them since is zeros, never data.
    #[inline]
    pub(crate) fn truncated(&self) -> bool {
        // As `Mapping::truncated` for both mappings: one fence and one load of the
        // process-wide counter on the fast path.
        fence(Ordering::Acquire);
        crate::sigbus::any_truncated()
            && (self.region.map().marked() || self.doorbell.as_ref().is_some_and(Mapping::marked))
    }

    /// Fails with [`crate::RegionError::TruncatedWhileMapped`] if [`Segment::truncated`].
    #[inline]
    pub(crate) fn intact(&self) -> Result<(), JournalError> {
        if self.truncated() {
            return Err(self.region.truncated_error().into());
        }
        Ok(())
    }

    /// `e`, unless the segment was truncated (then `e` came from reading zeros): the
    /// truncation error instead.
    #[cold]
    #[inline(never)]
    pub(crate) fn or_truncated(&self, e: JournalError) -> JournalError {
        self.intact().err().unwrap_or(e)
    }

    #[inline]
    fn word(&self, field: usize) -> &AtomicU64 {
        self.region
            .map()
            .u64_at(JH + field)
            .expect("validated at open")
    }

    /// End of the committed frames. SYNC POINT: Acquire pairs with the writer's commit swap.
    #[inline]
    pub(crate) fn commit(&self) -> u64 {
        self.word(J_COMMIT).load(Ordering::Acquire)
    }

    pub(crate) fn commit_seq(&self) -> u64 {
        self.word(J_COMMIT_SEQ).load(Ordering::Acquire)
    }

    pub(crate) fn oldest(&self) -> u64 {
        self.word(J_OLDEST).load(Ordering::Acquire)
    }

    pub(crate) fn oldest_seq(&self) -> u64 {
        self.word(J_OLDEST_SEQ).load(Ordering::Acquire)
    }

    /// The final position, once the writer has rolled to the next segment.
    pub(crate) fn sealed(&self) -> Option<u64> {
        match self.word(J_SEALED).load(Ordering::Acquire) {
            0 => None,
            v => Some(v - 1),
        }
    }

    /// Offset in the mapping of logical position `pos` (which must be in this segment).
    #[inline]
    fn phys(&self, pos: u64) -> Option<usize> {
        let rel = match self.mode {
            Mode::Ring => self.ring_offset(pos),
            Mode::Segment => pos
                .checked_sub(self.base_pos)
                .filter(|r| *r <= self.capacity)?,
        };
        Some(self.data_off + rel as usize)
    }

    #[cold]
    #[inline(never)]
    fn corrupt(&self, pos: u64, what: impl Into<String>) -> JournalError {
        JournalError::Corrupt {
            journal: self.name(),
            position: pos,
            what: what.into(),
        }
    }

    /// In a ring, whether the writer has overwritten `pos` (checked after reading it).
    #[inline]
    fn lapped(&self, pos: u64) -> bool {
        if self.mode != Mode::Ring {
            return false;
        }
        // SYNC POINT: pairs with the writer's Release fence after it advances `oldest` and
        // before it overwrites: if anything read above came from the overwrite, we see it here.
        fence(Ordering::Acquire);
        self.word(J_OLDEST).load(Ordering::Relaxed) > pos
    }

    /// Decodes the frame at `pos`, copying its payload into `buf` (8-aligned words).
    ///
    /// `commit` is the reader's snapshot of the commit position (pos < commit).
    // Inlined into the reader: returned through memory, the frame facts would be written with
    // narrow stores and read back wide (a store-forwarding stall of ~10 ns per message).
    #[inline]
    pub(crate) fn read_at(
        &self,
        pos: u64,
        commit: u64,
        buf: &mut Vec<u64>,
    ) -> Result<At, JournalError> {
        let mut f = FrameInfo::default();
        Ok(match self.read_frame(pos, commit, buf, &mut f)? {
            Step::Frame => At::Frame(f),
            Step::Pad(next) => At::Pad { next },
            Step::End => At::End,
        })
    }

    /// As [`Segment::read_at`], for the reader's hot path: the frame's facts go to `out`, so
    /// only a small step is returned (a frame description returned through memory is written
    /// narrow and read back wide: a store-forwarding stall on every message).
    #[inline(always)]
    pub(crate) fn read_frame(
        &self,
        pos: u64,
        commit: u64,
        buf: &mut Vec<u64>,
        out: &mut FrameInfo,
    ) -> Result<Step, JournalError> {
        if pos >= commit {
            return Ok(Step::End);
        }
        let overrun_or = |e: JournalError| {
            if self.lapped(pos) {
                Err(self.overrun_marker())
            } else {
                Err(e)
            }
        };
        if self.mode == Mode::Ring {
            let oldest = self.word(J_OLDEST).load(Ordering::Acquire);
            if oldest > pos {
                return Err(self.overrun_marker());
            }
            // The writer advances `oldest` before it commits past it, so a commit loaded before
            // this load is never more than a ring ahead. One that is would make the ring look
            // endless (every lap reads the same bytes again).
            if commit - oldest > self.capacity {
                return Err(self.corrupt(pos, "commit position is more than a ring ahead"));
            }
        }
        if pos % 8 != 0 {
            return Err(self.corrupt(pos, "misaligned position"));
        }
        let map = self.region.map();
        let Some(off) = self.phys(pos) else {
            return Err(self.corrupt(pos, "position outside the segment"));
        };
        let (Some(w0), Some(w1)) = (map.u64_at(off), map.u64_at(off + 8)) else {
            // A pad of 8 bytes at the very end has no room for the second word.
            return self
                .read_pad(pos, commit, off)
                .map(Step::Pad)
                .or_else(overrun_or);
        };
        let w0 = w0.load(Ordering::Relaxed);
        let w1 = w1.load(Ordering::Relaxed);
        let len = w0 as u32;
        if len & PAD != 0 {
            return self
                .read_pad(pos, commit, off)
                .map(Step::Pad)
                .or_else(overrun_or);
        }
        if w1 & PUBLISHED == 0 {
            return overrun_or(self.corrupt(pos, "committed frame is not marked published"));
        }
        let seq = w1 & !PUBLISHED;
        let (ty, flags) = ((w0 >> 32) as u16, (w0 >> 48) as u16);
        let total = frame_len(len as usize) as u64;
        if len > self.max_message || total > commit - pos {
            return overrun_or(self.corrupt(
                pos,
                format!("frame length {len} exceeds the committed data or the maximum message"),
            ));
        }
        if self.mode == Mode::Ring && self.ring_offset(pos) + total > self.capacity {
            return overrun_or(self.corrupt(pos, "frame crosses the end of the ring"));
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
            return overrun_or(self.corrupt(pos, "payload outside the region"));
        }
        let trailer = map
            .u64_at(off + FRAME_HEADER + words * 8)
            .map(|w| w.load(Ordering::Relaxed));
        if self.lapped(pos) {
            return Err(self.overrun_marker());
        }
        let Some(trailer) = trailer else {
            return Err(self.corrupt(pos, "trailer outside the region"));
        };
        if trailer as u32 != len {
            return Err(self.corrupt(
                pos,
                format!("leading length {len} != trailing length {}", trailer as u32),
            ));
        }
        if self.crc {
            let bytes: &[u8] = bytemuck::cast_slice(&buf[..words]);
            let want = (trailer >> 32) as u32;
            if frame_crc(len, ty, flags, seq, &bytes[..len as usize]) != want {
                return Err(self.corrupt(pos, format!("CRC32C mismatch (seq {seq})")));
            }
        }
        out.len = len;
        out.ty = ty;
        out.flags = flags;
        out.seq = seq;
        out.pos = pos;
        out.next = pos + total;
        Ok(Step::Frame)
    }

    /// The end of the padding at `pos`.
    fn read_pad(&self, pos: u64, commit: u64, off: usize) -> Result<u64, JournalError> {
        let w = self
            .region
            .map()
            .u32_at(off)
            .map(|w| w.load(Ordering::Relaxed));
        let pad = w.filter(|w| w & PAD != 0).map(|w| u64::from(w & !PAD));
        let to_end = self.capacity - self.ring_offset(pos);
        match pad {
            Some(p) if self.mode == Mode::Ring && p == to_end && p <= commit - pos => Ok(pos + p),
            _ => Err(self.corrupt(pos, "bad padding word")),
        }
    }

    /// A placeholder the reader turns into a full `Overrun` (it knows what it expected).
    #[cold]
    #[inline(never)]
    fn overrun_marker(&self) -> JournalError {
        JournalError::Overrun {
            journal: self.name(),
            lost: 0,
            expected_seq: 0,
            resume_seq: 0,
        }
    }

    /// The start of the frame (or pad) that ends at `end`, read from its trailing word.
    pub(crate) fn start_before(&self, end: u64) -> Result<u64, JournalError> {
        let map = self.region.map();
        let off = end
            .checked_sub(8)
            .and_then(|p| self.phys(p).map(|o| (p, o)))
            .filter(|(p, _)| self.mode == Mode::Ring || *p >= self.base_pos);
        let Some((_, off)) = off else {
            return Err(self.corrupt(end, "no frame before this position"));
        };
        let Some(word) = map.u32_at(off).map(|w| w.load(Ordering::Relaxed)) else {
            return Err(self.corrupt(end, "trailer outside the region"));
        };
        let total = if word & PAD != 0 {
            let bytes = u64::from(word & !PAD);
            if bytes < 8 || bytes % 8 != 0 || bytes > self.capacity {
                return Err(self.corrupt(end, "bad padding word"));
            }
            bytes
        } else if word <= self.max_message {
            frame_len(word as usize) as u64
        } else {
            return Err(self.corrupt(end, format!("trailing length {word} is impossible")));
        };
        end.checked_sub(total)
            .ok_or_else(|| self.corrupt(end, "frame starts before the journal"))
    }

    /// The writer's walk over its own old frames (ring): where the frame or padding at `pos`
    /// ends, and the sequence of a frame. Reads only the leading words; still bounds-checked,
    /// since another process could have damaged them.
    #[inline]
    pub(crate) fn frame_span(&self, pos: u64) -> Result<(u64, Option<u64>), JournalError> {
        let map = self.region.map();
        let off = self
            .phys(pos)
            .ok_or_else(|| self.corrupt(pos, "position outside the segment"))?;
        let lead = map
            .u32_at(off)
            .ok_or_else(|| self.corrupt(pos, "frame outside the region"))?
            .load(Ordering::Relaxed);
        if lead & PAD != 0 {
            let bytes = u64::from(lead & !PAD);
            if bytes < 8 || bytes % 8 != 0 || bytes > self.capacity {
                return Err(self.corrupt(pos, "bad padding word"));
            }
            return Ok((pos + bytes, None));
        }
        if lead > self.max_message {
            return Err(self.corrupt(
                pos,
                format!("frame length {lead} exceeds the maximum message"),
            ));
        }
        let seq = map
            .u64_at(off + 8)
            .ok_or_else(|| self.corrupt(pos, "frame outside the region"))?
            .load(Ordering::Relaxed)
            & !PUBLISHED;
        Ok((pos + frame_len(lead as usize) as u64, Some(seq)))
    }

    /// The position of the frame with sequence `k * INDEX_EVERY`, if the index has it.
    pub(crate) fn index_lookup(&self, k: u64) -> Option<u64> {
        let slot = self.index_off + (k % u64::from(self.index_n)) as usize * 8;
        let v = self.region.map().u64_at(slot)?.load(Ordering::Relaxed);
        (v != INDEX_EMPTY).then_some(v)
    }

    // ----- writer side -----

    #[inline]
    pub(crate) fn store(&self, field: usize, v: u64) {
        self.word(field).store(v, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn index_store(&self, k: u64, pos: u64) {
        let slot = self.index_off + (k % u64::from(self.index_n)) as usize * 8;
        if let Some(w) = self.region.map().u64_at(slot) {
            w.store(pos, Ordering::Relaxed);
        }
    }

    /// The payload bytes of a frame of `len` bytes at `pos`, its padding zeroed. The header is
    /// stored last, by [`Segment::finish_frame`] (see [`Segment::write_frame`] for why).
    ///
    /// # Safety
    ///
    /// Only the writer-lock holder calls this, for a range beyond the committed end (and, in a
    /// ring, past the `oldest` horizon already advanced and fenced), so nobody else uses it.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn frame_mut(&self, pos: u64, len: u32) -> &mut [u8] {
        let off = self.phys(pos).expect("writer positions are in the segment");
        let padded = round8(len as usize);
        // SAFETY: per this function's contract the range is the writer's alone.
        let bytes = unsafe { self.region.map().bytes_mut(off + FRAME_HEADER, padded) }
            .expect("checked by the writer");
        if padded > len as usize {
            bytes[len as usize..].fill(0);
        }
        &mut bytes[..len as usize]
    }

    /// Stores the two header words of the frame at mapping offset `off`. They are atomic stores:
    /// busy readers poll the sequence word of the next frame before it is published. The first
    /// frame of a batch stays unpublished (0) until `publish_batch`.
    #[inline]
    fn store_header(&self, off: usize, len: u32, ty: u16, flags: u16, seq: u64, publish: bool) {
        let map = self.region.map();
        let w0 = u64::from(len) | (u64::from(ty) << 32) | (u64::from(flags) << 48);
        map.u64_at(off)
            .expect("checked by the writer")
            .store(w0, Ordering::Relaxed);
        map.u64_at(off + 8).expect("checked by the writer").store(
            if publish { publish_word(seq) } else { 0 },
            Ordering::Relaxed,
        );
    }

    /// Zeroes the sequence word of a frame at `pos` (if a header fits there), so that nothing a
    /// reader finds there looks published before the writer publishes it. The writer zeroes the
    /// word after each batch before publishing the batch (see `JournalWriter::commit`), once
    /// `pos` is free.
    #[inline]
    pub(crate) fn zero_seq(&self, pos: u64) {
        if let Some(w) = self
            .seq_word_offset(pos)
            .and_then(|off| self.region.map().u64_at(off))
        {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Writes a whole frame at `pos`: payload, zero padding and trailer, then the header (the
    /// path of `append`: one offset computation and one bounds check for the body).
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
    /// As [`Segment::frame_mut`].
    #[inline]
    pub(crate) unsafe fn write_frame(
        &self,
        pos: u64,
        ty: u16,
        seq: u64,
        publish: bool,
        payload: &[u8],
        crc: u32,
    ) {
        let off = self.phys(pos).expect("writer positions are in the segment");
        let len = payload.len();
        let padded = round8(len);
        let map = self.region.map();
        // SAFETY: per this function's contract the payload, padding and trailer are the
        // writer's alone (readers load them only once the frame is published).
        let body = unsafe { map.bytes_mut(off + FRAME_HEADER, padded + 8) }
            .expect("checked by the writer");
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
        self.store_header(off, len as u32, ty, 0, seq, publish);
    }

    /// The payload bytes of the frame being written at `pos`.
    ///
    /// # Safety
    ///
    /// As [`Segment::frame_mut`].
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn frame_payload(&self, pos: u64, len: u32) -> &mut [u8] {
        let off = self.phys(pos).expect("writer positions are in the segment");
        // SAFETY: per this function's contract the range is the writer's alone.
        unsafe {
            self.region
                .map()
                .bytes_mut(off + FRAME_HEADER, len as usize)
        }
        .expect("checked by the writer")
    }

    /// Completes the frame reserved at `pos` after its payload is written: the trailer, then
    /// the header (last, as in [`Segment::write_frame`]).
    #[inline]
    pub(crate) fn finish_frame(
        &self,
        pos: u64,
        len: u32,
        ty: u16,
        seq: u64,
        publish: bool,
        crc: u32,
    ) {
        let off = self.phys(pos).expect("writer positions are in the segment");
        let w = u64::from(len) | (u64::from(crc) << 32);
        self.region
            .map()
            .u64_at(off + FRAME_HEADER + round8(len as usize))
            .expect("checked by the writer")
            .store(w, Ordering::Relaxed);
        self.store_header(off, len, ty, 0, seq, publish);
    }

    /// Writes a padding of `bytes` at `pos` (ring only).
    pub(crate) fn write_pad(&self, pos: u64, bytes: u64) {
        let off = self.phys(pos).expect("in ring");
        let map = self.region.map();
        let word = PAD | bytes as u32;
        map.u32_at(off)
            .expect("in ring")
            .store(word, Ordering::Relaxed);
        map.u32_at(off + bytes as usize - 8)
            .expect("in ring")
            .store(word, Ordering::Relaxed);
    }

    /// The offset of the sequence word of a frame at `pos`, if a frame header fits there (not in
    /// the last 8 bytes of a ring, nor past the end of a segment).
    #[inline]
    fn seq_word_offset(&self, pos: u64) -> Option<usize> {
        let room = match self.mode {
            Mode::Ring => self.capacity - self.ring_offset(pos),
            Mode::Segment => (self.base_pos + self.capacity).checked_sub(pos)?,
        };
        if room < FRAME_HEADER as u64 || pos % 8 != 0 {
            return None;
        }
        Some(self.phys(pos)? + 8)
    }

    /// Whether the frame at `pos` is published with sequence `seq` (its whole batch is then
    /// visible). SYNC POINT: the Acquire load pairs with the Release store in `publish_batch`.
    #[inline]
    pub(crate) fn published(&self, pos: u64, seq: u64) -> bool {
        self.seq_word_offset(pos)
            .and_then(|off| self.region.map().u64_at(off))
            .is_some_and(|w| w.load(Ordering::Acquire) == publish_word(seq))
    }

    /// Ring: whether the unpublished position `pos` certainly holds nothing to read yet, judged
    /// from its own header line alone. Every committed frame is published through its sequence
    /// word, so only a padding word (the wrap), the ring's last 8 bytes or a lap (the horizon
    /// passed `pos`) need the slow path.
    #[inline]
    pub(crate) fn nothing_at(&self, pos: u64) -> bool {
        if self.mode != Mode::Ring {
            return false;
        }
        let Some(off) = self.seq_word_offset(pos) else {
            return false;
        };
        let quiet = self
            .region
            .map()
            .u32_at(off - 8)
            .is_some_and(|w| w.load(Ordering::Relaxed) & PAD == 0);
        // A lapped reader must go the slow way, which reports the overrun. The horizon sits on
        // its own line, written once per 1/32 of the ring. SYNC POINT: as in `lapped`.
        quiet && !self.lapped(pos)
    }

    /// Busy-poll companion of [`Segment::nothing_at`]: if a frame of `guess` bytes at `pos` is
    /// small (at most [`TOUCH_MAX`]), loads one word from each further cache line it would cover,
    /// so that when the writer publishes, those lines travel to this core alongside the header's
    /// instead of one after it (64 B payloads: one-way p50 1.29x the message floor against 1.48x
    /// without, interleaved runs). The loaded values are discarded: this is a prefetch, the frame
    /// is read (and validated) by `read_frame` as always.
    #[inline]
    pub(crate) fn touch_ahead(&self, pos: u64, guess: usize) {
        if guess > TOUCH_MAX {
            return;
        }
        let Some(off) = self.phys(pos) else {
            return;
        };
        let map = self.region.map();
        let end = off + guess;
        let mut line = (off | (LINE - 1)) + 1;
        while line < end {
            // Out of the mapping (the ring's end): nothing to touch.
            if let Some(w) = map.u64_at(line) {
                std::hint::black_box(w.load(Ordering::Relaxed));
            }
            line += LINE;
        }
    }

    /// Reads the frame at `pos` after [`Segment::published`] said its batch is published (so
    /// the commit word may not cover it yet).
    #[inline]
    pub(crate) fn read_published(&self, pos: u64, buf: &mut Vec<u64>) -> Result<At, JournalError> {
        self.read_at(pos, self.published_bound(pos), buf)
    }

    /// How far a published frame at `pos` may reach, for [`Segment::read_at`]: bounded by the
    /// largest frame and, in a ring, by one ring past the horizon.
    #[inline]
    pub(crate) fn published_bound(&self, pos: u64) -> u64 {
        let bound = pos.saturating_add(frame_len(self.max_message as usize) as u64);
        match self.mode {
            Mode::Ring => bound.min(
                self.word(J_OLDEST)
                    .load(Ordering::Acquire)
                    .saturating_add(self.capacity),
            ),
            Mode::Segment => bound.min(self.base_pos + self.capacity),
        }
    }

    /// Publishes a batch: stores its first frame's sequence word with Release: a reader that
    /// sees it sees every frame of the batch. (The word after the batch is already zero: the
    /// writer has zeroed the word after the batch, see `zero_seq`.)
    #[inline]
    pub(crate) fn publish_batch(&self, pos: u64, seq: u64) {
        if let Some(w) = self
            .seq_word_offset(pos)
            .and_then(|off| self.region.map().u64_at(off))
        {
            // SYNC POINT: pairs with the Acquire load in `published`.
            w.store(publish_word(seq), Ordering::Release);
        }
    }

    /// Publishes everything up to `pos`; wakes sleeping readers if there are any.
    #[inline]
    pub(crate) fn publish_commit(&self, pos: u64, next_seq: u64) {
        self.word(J_COMMIT_SEQ).store(next_seq, Ordering::Relaxed);
        // SYNC POINT: the swap is a Release store that pairs with the readers' Acquire loads of
        // the commit word, and a full fence (Dekker) against the waiters' increment below: either
        // we see their count, or they see this commit before they sleep.
        self.word(J_COMMIT).swap(pos, Ordering::SeqCst);
        self.ring_doorbell();
    }

    /// Marks the segment final at `pos` (the journal continues in the next segment file).
    pub(crate) fn seal(&self, pos: u64) {
        self.word(J_SEALED).swap(pos + 1, Ordering::SeqCst);
        self.ring_doorbell();
    }

    fn ring_doorbell(&self) {
        let map = self.region.map();
        let waiters = map
            .u32_at(DOORBELL_OFFSET + DB_WAITERS)
            .expect("doorbell in region");
        if waiters.load(Ordering::SeqCst) > 0 {
            let futex = map
                .u32_at(DOORBELL_OFFSET + DB_FUTEX)
                .expect("doorbell in region");
            futex.fetch_add(1, Ordering::SeqCst);
            os::futex_wake_all(futex);
        }
    }

    fn doorbell_words(&self) -> Option<(&AtomicU32, &AtomicU32)> {
        let (map, base) = match &self.doorbell {
            Some(m) => (m, 0),
            None if self.region.is_writer() => (self.region.map(), DOORBELL_OFFSET),
            None => return None,
        };
        Some((map.u32_at(base + DB_FUTEX)?, map.u32_at(base + DB_WAITERS)?))
    }

    /// Blocks until the commit word differs from `seen`, the segment is sealed, or `deadline`.
    /// Spins for `spin` first. Never sleeps past the deadline, so a dead writer cannot hang us.
    pub(crate) fn wait_commit(&self, seen: u64, deadline: Instant, spin: Duration) {
        // A truncated segment reads zeros: stop waiting, the caller's check reports it.
        let changed = || self.commit() != seen || self.sealed().is_some() || self.truncated();
        let spin_until = Instant::now() + spin;
        while Instant::now() < spin_until.min(deadline) {
            for _ in 0..64 {
                if changed() {
                    return;
                }
                std::hint::spin_loop();
            }
        }
        match self.doorbell_words() {
            Some((futex, waiters)) => {
                waiters.fetch_add(1, Ordering::SeqCst);
                loop {
                    let f = futex.load(Ordering::SeqCst);
                    let now = Instant::now();
                    if changed() || now >= deadline {
                        break;
                    }
                    os::futex_wait(futex, f, deadline - now);
                }
                waiters.fetch_sub(1, Ordering::SeqCst);
            }
            None => {
                // No write access to the doorbell: poll gently.
                while !changed() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_micros(200).min(deadline - Instant::now()));
                }
            }
        }
    }
}
