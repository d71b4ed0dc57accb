//! One journal region file (docs/FORMAT.md 5.1 and 5.2): creating it, validating its geometry
//! once at open, and mapping logical positions to bytes of its data area. The other rooms work
//! through it: the frame codec (`frame.rs`) on the offsets it computes, the publication protocol
//! (`publish.rs`) on its commit and horizon lines (it implements [`Shared`]), the doorbell
//! (`doorbell.rs`) on its doorbell page.
//!
//! What readers and the writer do with a segment is in `segment/read.rs` and
//! `segment/write.rs`.
//!
//! Rules it keeps: nothing is read from the header but through the view validated at open;
//! every position is checked against the data area before it becomes an offset (a damaged
//! position is a `Corrupt` error, never an access outside the mapping); the writer stores header
//! words only through named protocol operations.

use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use super::format::*;
use super::frame::{FrameFault, Limits};
use super::publish::{self, Line, Shared};
use crate::error::{ReadError, RegionCorruption, RegionError};
use crate::header::RegionKind;
use crate::mapping::Mapping;
use crate::region::{OpenOptions, Region};

mod read;
mod write;

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

/// The journal header in a segment's mapping: a `&JournalHeader` that lives as long as the
/// segment's region (see [`Segment::header`]).
#[derive(Debug)]
struct HeaderRef(NonNull<JournalHeader>);

// SAFETY: a `HeaderRef` stands for a shared reference to a `JournalHeader`, which is made of
// atomics only (`Sync`); such a reference may be sent to and shared between threads.
unsafe impl Send for HeaderRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for HeaderRef {}

#[derive(Debug)]
pub(crate) struct Segment {
    region: Region,
    header: HeaderRef,
    /// A reader's own writable mapping of the doorbell page, made when it first sleeps (a reader
    /// that never waits, e.g. one a seek opens to read a segment's first sequence, never pays
    /// the second open and mapping); `None` inside when that failed (no write permission to
    /// the file): it polls, and does not try again in this segment. Never made for the writer,
    /// which rings through its own mapping.
    doorbell: OnceLock<Option<Mapping>>,
    mode: Mode,
    limits: Limits,
    data_off: usize,
    index_off: usize,
    index_n: u32,
    segment: u32,
    base_pos: u64,
    base_seq: u64,
    /// `capacity - 1` for a ring whose capacity is a power of two (all rings shmbus creates),
    /// so a position maps to its place with a mask instead of a division; 0 otherwise.
    mask: u64,
}

impl Segment {
    pub(crate) fn create(name: &str, spec: &SegmentSpec) -> Result<Self, RegionError> {
        // Rings are a power of two bytes, so positions map to offsets with a mask.
        let capacity = match spec.mode {
            Mode::Ring => spec
                .capacity
                .max(4096)
                .checked_next_power_of_two()
                .unwrap_or(u64::MAX),
            Mode::Segment => spec.capacity,
        };
        let g = Geometry::for_capacity(capacity).ok_or(RegionError::SizeTooLarge {
            requested: spec.capacity,
            max: crate::region::MAX_REGION_SIZE,
        })?;
        let region = Region::builder_with_body(name, BODY_OFFSET as u32)
            .kind(RegionKind::Journal)
            .size(g.total)
            .layout(&FRAME_LAYOUT)
            .group_shared(spec.group_shared)
            .populate(spec.populate)
            .create_unpublished()?;
        let map = region.map();
        // The region is `g.total` bytes, past the index at 8192: the header lies inside.
        let h = JournalHeader::view(map).expect("the header fits the geometry");
        // Relaxed, all of them: published to other processes by `region.publish()` below.
        let mode = match spec.mode {
            Mode::Ring => MODE_RING,
            Mode::Segment => MODE_SEGMENT,
        };
        h.mode.store(mode, Ordering::Relaxed);
        let flags = if spec.crc { FLAG_CRC } else { 0 };
        h.flags.store(flags, Ordering::Relaxed);
        h.capacity.store(g.capacity, Ordering::Relaxed);
        h.data_off.store(g.data_off, Ordering::Relaxed);
        h.index_off.store(INDEX_OFFSET as u64, Ordering::Relaxed);
        h.index_n.store(g.index_n, Ordering::Relaxed);
        h.index_every.store(INDEX_EVERY as u32, Ordering::Relaxed);
        h.max_message.store(g.max_message, Ordering::Relaxed);
        h.segment.store(spec.segment, Ordering::Relaxed);
        h.base_pos.store(spec.base_pos, Ordering::Relaxed);
        h.base_seq.store(spec.base_seq, Ordering::Relaxed);
        for w in [&h.commit, &h.oldest] {
            w.store(spec.base_pos, Ordering::Relaxed);
        }
        for w in [&h.commit_seq, &h.oldest_seq] {
            w.store(spec.base_seq, Ordering::Relaxed);
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
    pub(crate) fn open(name: &str, writer: bool, opts: OpenOptions) -> Result<Self, RegionError> {
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

    fn from_region(region: Region) -> Result<Self, RegionError> {
        let corrupt = |what: RegionCorruption| RegionError::Corrupt {
            path: region.name().path().to_path_buf(),
            what,
        };
        let Some(h) = JournalHeader::view(region.map()) else {
            return Err(corrupt(RegionCorruption::JournalHeaderOutside));
        };
        // Relaxed: the configuration was published with the region header, which the open
        // loaded with Acquire (`Region::open`).
        let r32 = |w: &std::sync::atomic::AtomicU32| w.load(Ordering::Relaxed);
        let r64 = |w: &AtomicU64| w.load(Ordering::Relaxed);
        let (capacity, data_off, index_off) =
            (r64(&h.capacity), r64(&h.data_off), r64(&h.index_off));
        let (index_n, max_message) = (r32(&h.index_n), r32(&h.max_message));
        let (base_pos, base_seq) = (r64(&h.base_pos), r64(&h.base_seq));
        let mode = match r32(&h.mode) {
            MODE_RING => Mode::Ring,
            MODE_SEGMENT => Mode::Segment,
            mode => return Err(corrupt(RegionCorruption::JournalMode { mode })),
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
            return Err(corrupt(RegionCorruption::JournalGeometry {
                capacity,
                data_off,
                index_n,
                index_off,
                max_message,
                len,
            }));
        }
        Ok(Self {
            header: HeaderRef(NonNull::from(h)),
            doorbell: OnceLock::new(),
            mode,
            limits: Limits {
                max_message,
                capacity,
                crc: r32(&h.flags) & FLAG_CRC != 0,
            },
            data_off: data_off as usize,
            index_off: index_off as usize,
            index_n,
            segment: r32(&h.segment),
            base_pos,
            base_seq,
            mask: if mode == Mode::Ring && capacity.is_power_of_two() {
                capacity - 1
            } else {
                0
            },
            region,
        })
    }

    /// The journal header, validated at open.
    #[inline(always)]
    fn header(&self) -> &JournalHeader {
        // SAFETY: `from_region` took the pointer from `JournalHeader::view` of this region's
        // mapping, which stays mapped at the same address as long as `self.region` lives, so as
        // long as `&self`; shared references to its atomics are all anyone makes.
        unsafe { self.header.0.as_ref() }
    }

    #[inline]
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    #[inline]
    pub(crate) fn crc(&self) -> bool {
        self.limits.crc
    }

    /// Bytes of the data area.
    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.limits.capacity
    }

    #[inline]
    pub(crate) fn max_message(&self) -> u32 {
        self.limits.max_message
    }

    /// This segment's number (0 for a ring).
    #[inline]
    pub(crate) fn segment(&self) -> u32 {
        self.segment
    }

    #[inline]
    pub(crate) fn base_pos(&self) -> u64 {
        self.base_pos
    }

    #[inline]
    pub(crate) fn base_seq(&self) -> u64 {
        self.base_seq
    }

    /// Where logical position `pos` falls in a ring's data area (0..capacity).
    #[inline]
    pub(crate) fn ring_offset(&self, pos: u64) -> u64 {
        if self.mask != 0 {
            pos & self.mask
        } else {
            pos % self.limits.capacity
        }
    }

    /// Offset in the mapping of logical position `pos` (which must be in this segment).
    #[inline]
    fn phys(&self, pos: u64) -> Option<usize> {
        let rel = match self.mode {
            Mode::Ring => self.ring_offset(pos),
            Mode::Segment => pos
                .checked_sub(self.base_pos)
                .filter(|r| *r <= self.limits.capacity)?,
        };
        Some(self.data_off + rel as usize)
    }

    /// Offset of the frame at `pos` for the writer, which only writes inside the data area.
    #[inline]
    fn writer_phys(&self, pos: u64) -> usize {
        self.phys(pos).expect("writer positions are in the segment")
    }

    /// Bytes from `pos` to the end of a ring (`None` in a segment).
    #[inline]
    fn to_ring_end(&self, pos: u64) -> Option<u64> {
        (self.mode == Mode::Ring).then(|| self.limits.capacity - self.ring_offset(pos))
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

    /// Whether the segment's file was removed since it was opened (see `Region::removed`).
    pub(crate) fn removed(&self) -> bool {
        self.region.removed()
    }

    /// Whether the segment's file was truncated under its mapping or its doorbell's (by
    /// another process): what was read from them since is zeros, never data.
    #[inline]
    pub(crate) fn truncated(&self) -> bool {
        // As `Mapping::truncated` for both mappings: one fence and one load of the
        // process-wide counter on the fast path. The Acquire fence keeps the loads before it
        // (whose result this check vouches for) from moving after it; the handler's mark is
        // ordered with the replaced pages by `mmap` (see `Mapping::truncated`).
        fence(Ordering::Acquire);
        crate::sigbus::any_truncated()
            && (self.region.map().marked()
                || self
                    .doorbell
                    .get()
                    .and_then(Option::as_ref)
                    .is_some_and(Mapping::marked))
    }

    /// Fails with [`crate::RegionError::TruncatedWhileMapped`] if [`Segment::truncated`].
    #[inline]
    pub(crate) fn intact(&self) -> Result<(), RegionError> {
        if self.truncated() {
            return Err(self.region.truncated_error());
        }
        Ok(())
    }

    /// `e`, unless the segment was truncated (then `e` came from reading zeros): the
    /// truncation error instead.
    #[cold]
    #[inline(never)]
    pub(crate) fn or_truncated<E: From<RegionError>>(&self, e: E) -> E {
        self.intact().err().map_or(e, E::from)
    }

    /// End of the committed frames (`publish::committed`).
    #[inline]
    pub(crate) fn commit(&self) -> u64 {
        publish::committed(self)
    }

    #[inline]
    pub(crate) fn commit_seq(&self) -> u64 {
        publish::load(self, Line::CommitSeq)
    }

    #[inline]
    pub(crate) fn oldest(&self) -> u64 {
        publish::load(self, Line::Oldest)
    }

    #[inline]
    pub(crate) fn oldest_seq(&self) -> u64 {
        publish::load(self, Line::OldestSeq)
    }

    /// The final position, once the writer has rolled to the next segment.
    #[inline]
    pub(crate) fn sealed(&self) -> Option<u64> {
        publish::sealed(self)
    }

    #[cold]
    #[inline(never)]
    fn corrupt(&self, pos: u64, fault: FrameFault) -> ReadError {
        ReadError::Corrupt {
            journal: self.name(),
            position: pos,
            what: crate::JournalCorruption::Frame(fault),
        }
    }

    /// A fault found at `pos` in a ring: an overrun if the writer lapped it (the fault came from
    /// its new bytes), else corruption.
    #[cold]
    #[inline(never)]
    fn fault(&self, pos: u64, fault: FrameFault) -> ReadError {
        if publish::lapped(self, pos) {
            self.overrun_marker()
        } else {
            self.corrupt(pos, fault)
        }
    }

    /// A placeholder the reader turns into a full `Overrun` (it knows what it expected).
    #[cold]
    #[inline(never)]
    fn overrun_marker(&self) -> ReadError {
        ReadError::Overrun {
            journal: self.name(),
            lost: 0,
            expected_seq: 0,
            resume_seq: 0,
        }
    }

    /// The offset of the sequence word of a frame at `pos`, if a frame header fits there (not in
    /// the last 8 bytes of a ring, nor past the end of a segment).
    #[inline]
    fn seq_word_offset(&self, pos: u64) -> Option<usize> {
        let room = match self.mode {
            Mode::Ring => self.limits.capacity - self.ring_offset(pos),
            Mode::Segment => (self.base_pos + self.limits.capacity).checked_sub(pos)?,
        };
        if room < FRAME_HEADER as u64 || pos % 8 != 0 {
            return None;
        }
        Some(self.phys(pos)? + 8)
    }
}

impl Shared for Segment {
    type Word = AtomicU64;

    #[inline(always)]
    fn line(&self, w: Line) -> &AtomicU64 {
        let h = self.header();
        match w {
            Line::Commit => &h.commit,
            Line::CommitSeq => &h.commit_seq,
            Line::Sealed => &h.sealed,
            Line::Oldest => &h.oldest,
            Line::OldestSeq => &h.oldest_seq,
        }
    }

    #[inline(always)]
    fn seq_word(&self, pos: u64) -> Option<&AtomicU64> {
        self.region.map().u64_at(self.seq_word_offset(pos)?)
    }

    #[inline(always)]
    fn ring(&self) -> bool {
        self.mode == Mode::Ring
    }
}
