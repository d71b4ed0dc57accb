//! The journal writer: appends frames in place, commits (publishes each batch as `publish.rs`
//! says), wraps (ring) or rolls to a new segment file (persisted), enforces retention, and
//! recovers after a crash.

use std::path::PathBuf;

use super::format::*;
use super::frame::{Found, FrameInfo};
use super::publish;
use super::segment::{Mode, Segment, SegmentSpec};
use super::store::{io_err, journal_path, list_segments, seg_name};
use crate::error::{
    AppendError, JournalCorruption, JournalError, JournalLayoutProblem, ReadError, RegionError,
};
use crate::os;
use crate::region::{OpenOptions, Region};

/// The smallest data area of a ring or segment (one page): smaller sizes are refused.
pub const MIN_CAPACITY: u64 = 4096;

/// Options for creating a journal, made by [`JournalWriter::builder`].
#[derive(Debug, Clone)]
pub struct JournalBuilder {
    name: String,
    ring: Option<u64>,
    segment_size: u64,
    retain_segments: Option<u32>,
    retain_bytes: Option<u64>,
    crc: bool,
    group_shared: bool,
    populate: bool,
}

impl JournalBuilder {
    /// A ring of `capacity` data bytes in one file (for /dev/shm): the writer never blocks and
    /// wraps around; lapped readers get [`JournalError::Overrun`]. At least [`MIN_CAPACITY`];
    /// rounded up to a power of two.
    pub fn ring(mut self, capacity: u64) -> Self {
        self.ring = Some(capacity);
        self
    }

    /// A persisted journal: a directory of segment files of this data size (default 64 MiB; at
    /// least [`MIN_CAPACITY`], rounded up to whole pages).
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self.ring = None;
        self
    }

    /// Keep at most this many segment files (the oldest are removed when the writer rolls).
    pub fn retain_segments(mut self, n: u32) -> Self {
        self.retain_segments = Some(n.max(1));
        self
    }

    /// Keep at most about this many bytes of segment files.
    pub fn retain_bytes(mut self, bytes: u64) -> Self {
        self.retain_bytes = Some(bytes);
        self
    }

    /// Store a CRC32C in every frame, checked by readers.
    pub fn crc(mut self, yes: bool) -> Self {
        self.crc = yes;
        self
    }

    /// Mode 0660 (group may read and write) instead of 0600.
    pub fn group_shared(mut self, yes: bool) -> Self {
        self.group_shared = yes;
        self
    }

    /// Pre-fault every page (keeps page faults out of latency-critical loops).
    pub fn populate(mut self, yes: bool) -> Self {
        self.populate = yes;
        self
    }

    /// Creates the journal (exclusive) and returns its writer.
    ///
    /// # Errors
    ///
    /// The region errors of creating a file ([`RegionError::AlreadyExists`],
    /// [`RegionError::NoSpace`], ...), or an I/O error creating the directory.
    pub fn create(self) -> Result<JournalWriter, JournalError> {
        // A data area below one page is refused, not silently enlarged; a larger one is rounded
        // up (to a power of two for a ring, to pages for a segment): `capacity()` says to what.
        let requested = self.ring.unwrap_or(self.segment_size);
        if requested < MIN_CAPACITY {
            return Err(RegionError::SizeTooSmall {
                kind: crate::RegionKind::Journal,
                requested,
                min: MIN_CAPACITY,
            }
            .into());
        }
        let spec = |mode, capacity| SegmentSpec {
            mode,
            capacity,
            crc: self.crc,
            segment: 0,
            base_pos: 0,
            base_seq: 0,
            group_shared: self.group_shared,
            populate: self.populate,
        };
        if let Some(capacity) = self.ring {
            let seg = Segment::create(&self.name, &spec(Mode::Ring, capacity))?;
            return Ok(JournalWriter::new(self.name, None, seg));
        }
        let dir = journal_path(&self.name)?;
        let mode = if self.group_shared { 0o770 } else { 0o700 };
        match os::create_dir(&dir, mode) {
            Ok(()) => {}
            Err(e) if os::failure(&e) == os::Failure::Exists => {
                return Err(RegionError::AlreadyExists {
                    name: self.name.clone(),
                    path: dir,
                }
                .into());
            }
            Err(e) => return Err(io_err(&dir, "create directory", e).into()),
        }
        let lock = lock_dir(&self.name, &dir)?;
        let seg = Segment::create(&seg_name(&dir, 0), &spec(Mode::Segment, self.segment_size))
            .inspect_err(|_| {
                let _ = os::remove_dir(&dir);
            })?;
        let persisted = Persisted {
            dir,
            _lock: lock,
            segment_size: self.segment_size,
            retain_segments: self.retain_segments,
            retain_bytes: self.retain_bytes,
            crc: self.crc,
            group_shared: self.group_shared,
            populate: self.populate,
        };
        Ok(JournalWriter::new(self.name, Some(persisted), seg))
    }
}

fn lock_dir(name: &str, dir: &std::path::Path) -> Result<os::Handle, JournalError> {
    let fd = os::open_dir(dir).map_err(|e| match os::failure(&e) {
        os::Failure::NotFound => RegionError::NotFound {
            name: name.to_owned(),
            path: dir.to_path_buf(),
        },
        _ => io_err(dir, "open", e),
    })?;
    match os::try_lock_exclusive(&fd) {
        Ok(true) => Ok(fd),
        Ok(false) => Err(RegionError::WriterBusy {
            path: dir.to_path_buf(),
            pid: dir_writer_pid(dir),
        }
        .into()),
        Err(e) => Err(io_err(dir, "lock", e).into()),
    }
}

/// The pid of the live writer of the persisted journal in `dir`, if its newest readable segment
/// names one (the writer claims each segment it writes).
pub(crate) fn dir_writer_pid(dir: &std::path::Path) -> Option<u32> {
    let segs = list_segments(dir).ok()?;
    segs.iter().rev().find_map(|&i| {
        let r = Region::open_options()
            .allow_foreign_owner(true)
            .open(&seg_name(dir, i))
            .ok()?;
        let pid = r.read_header().writer_pid;
        (pid != 0 && os::pid_alive(pid)).then_some(pid)
    })
}

/// Whether segment `last` was left behind by a writer that died in `roll` before it held
/// anything: killed while creating it (empty or unpublished file), or before committing the batch
/// that spans the roll (so it starts past the end of `prev`). `prev` is then still unsealed, and
/// the journal continues in it.
fn orphan_segment(
    dir: &std::path::Path,
    prev: u32,
    last: u32,
    opts: &OpenOptions,
) -> Result<bool, JournalError> {
    let p = Segment::open(&seg_name(dir, prev), false, opts.clone())?;
    if p.sealed().is_some() {
        return Ok(false);
    }
    Ok(
        match Segment::open(&seg_name(dir, last), false, opts.clone()) {
            Err(RegionError::Truncated { .. } | RegionError::NotReady { .. }) => true,
            Ok(l) => l.commit() == l.base_pos() && l.base_pos() != p.commit(),
            Err(_) => false,
        },
    )
}

#[derive(Debug)]
struct Persisted {
    dir: PathBuf,
    _lock: os::Handle,
    segment_size: u64,
    retain_segments: Option<u32>,
    retain_bytes: Option<u64>,
    crc: bool,
    group_shared: bool,
    populate: bool,
}

/// The one writer of a journal. Holds the writer lock while it lives.
#[derive(Debug)]
pub struct JournalWriter {
    name: String,
    persisted: Option<Persisted>,
    seg: Segment,
    pos: u64,
    next_seq: u64,
    committed: u64,
    oldest: u64,
    oldest_seq: u64,
    removed_segments: u64,
    /// Position and sequence of the first frame appended since the last commit: its sequence
    /// word is stored last, at commit, and publishes the batch.
    batch_first: Option<(u64, u64)>,
    /// A position whose sequence word this writer has zeroed since it last wrote there (see
    /// `clear_next`): if it is the write position at commit, the word after the batch is zero.
    zeroed: u64,
    /// The frame a live [`Reservation`] fills (kept here, not in the reservation, so that
    /// `reserve` returns a single pointer: a wider value returned through memory is read back
    /// wider than it was written, a store-forwarding stall on every message).
    open: OpenFrame,
}

/// The frame being filled through a [`Reservation`].
#[derive(Debug, Clone, Copy, Default)]
struct OpenFrame {
    pos: u64,
    seq: u64,
    len: u32,
    ty: u16,
    /// Published with its header (not the first frame of its batch).
    publish: bool,
    finished: bool,
}

/// Space reserved for one message by [`JournalWriter::reserve`]: fill it in place, then drop it
/// (or call [`Reservation::finish`]). Invisible to readers until the next commit.
#[derive(Debug)]
pub struct Reservation<'a> {
    writer: &'a mut JournalWriter,
}

impl JournalWriter {
    /// Starts creating a journal named `name` (a shm name or a path). Persisted (a directory of
    /// segments) unless [`JournalBuilder::ring`] is called.
    pub fn builder(name: &str) -> JournalBuilder {
        JournalBuilder {
            name: name.to_owned(),
            ring: None,
            segment_size: 64 << 20,
            retain_segments: None,
            retain_bytes: None,
            crc: false,
            group_shared: false,
            populate: false,
        }
    }

    fn new(name: String, persisted: Option<Persisted>, seg: Segment) -> Self {
        let (pos, seq) = (seg.base_pos(), seg.base_seq());
        Self {
            name,
            persisted,
            seg,
            pos,
            next_seq: seq,
            committed: pos,
            oldest: pos,
            oldest_seq: seq,
            removed_segments: 0,
            batch_first: None,
            zeroed: u64::MAX,
            open: OpenFrame::default(),
        }
    }

    /// Opens an existing journal as its writer, after a crash too: the uncommitted tail of the
    /// previous writer is discarded and the sequence continues with no gap and no duplicate.
    ///
    /// # Errors
    ///
    /// [`RegionError::WriterBusy`] if a writer is alive; the open errors of its files.
    pub fn open(name: &str) -> Result<Self, JournalError> {
        Self::open_with(name, Region::open_options())
    }

    /// As [`JournalWriter::open`] with explicit options (e.g. `allow_foreign_owner`, for a
    /// group member writing a journal created with `group_shared`). The kind, layout and
    /// writer settings of `opts` are the journal's own.
    ///
    /// # Errors
    ///
    /// As [`JournalWriter::open`].
    pub fn open_with(name: &str, opts: OpenOptions) -> Result<Self, JournalError> {
        let (path, meta) = super::store::journal_meta(name)?;
        if meta.is_dir() {
            let lock = lock_dir(name, &path)?;
            let mut segs = list_segments(&path)?;
            // Everything is validated before the first store (a writer that refuses a corrupt
            // journal leaves it as it found it): which segment to continue in, that segment,
            // and the one before it if it needs sealing.
            let mut orphan = None;
            if let [.., prev, last] = segs[..] {
                if orphan_segment(&path, prev, last, &opts)? {
                    orphan = Some(super::store::segment_file(&path, last));
                    segs.pop();
                }
            }
            let Some(&last) = segs.last() else {
                return Err(JournalError::Layout {
                    journal: name.to_owned(),
                    what: Box::new(JournalLayoutProblem::NoSegmentFiles { dir: path.clone() }),
                });
            };
            let seg = Segment::open(&seg_name(&path, last), true, opts.clone())?;
            if seg.segment() != last {
                // It would roll into a wrongly numbered file.
                return Err(RegionError::Corrupt {
                    path: super::store::segment_file(&path, last),
                    what: crate::RegionCorruption::SegmentNumber {
                        file: last,
                        says: seg.segment(),
                    },
                }
                .into());
            }
            // A crash between creating a segment and sealing the one before leaves it open.
            let mut unsealed = None;
            if let Some(&prev) = segs.iter().rev().nth(1) {
                let p = Segment::open(&seg_name(&path, prev), false, opts.clone())?;
                if p.sealed().is_none() {
                    drop(p);
                    unsealed = Some(Segment::open(&seg_name(&path, prev), true, opts.clone())?);
                }
            }
            let persisted = Persisted {
                dir: path,
                _lock: lock,
                segment_size: seg.capacity(),
                retain_segments: None,
                retain_bytes: None,
                crc: seg.crc(),
                // Segments it rolls to stay as shared as the directory (0770 for a group
                // journal), whoever the writer is.
                group_shared: meta.mode() & 0o070 == 0o070,
                populate: false,
            };
            let mut w = Self::new(name.to_owned(), Some(persisted), seg);
            w.recover()?;
            if let Some(file) = orphan {
                os::unlink(&file).map_err(|e| io_err(&file, "remove", e))?;
            }
            if let Some(mut p) = unsealed {
                p.claim_writer();
                p.seal(p.commit());
            }
            w.resume();
            return Ok(w);
        }
        let mut w = Self::new(name.to_owned(), None, Segment::open(name, true, opts)?);
        w.recover()?;
        w.resume();
        Ok(w)
    }

    /// Finds where the last committed frame ends and what sequence comes next, validating the
    /// commit line and the frames before it. Reads only: [`JournalWriter::resume`] stores.
    fn recover(&mut self) -> Result<(), JournalError> {
        let commit = self.seg.commit();
        self.pos = commit;
        self.committed = commit;
        self.oldest = self.seg.oldest();
        self.oldest_seq = self.seg.oldest_seq();
        let lower = if self.seg.mode() == Mode::Ring {
            self.oldest
        } else {
            self.seg.base_pos()
        };
        // The writer writes at the commit position: it must be a frame boundary in the data
        // area (a damaged commit word would otherwise send it outside).
        if commit % 8 != 0
            || commit < lower
            || commit - lower > self.seg.capacity()
            || commit.checked_add(2 * self.seg.capacity()).is_none()
        {
            return Err(JournalError::Corrupt {
                journal: self.name.clone(),
                position: commit,
                what: JournalCorruption::CommitOutside {
                    from: lower,
                    capacity: self.seg.capacity(),
                },
            });
        }
        self.next_seq = if commit > lower {
            // The last committed frame says where the sequence stands (the commit_seq word may
            // be ahead of the commit if the writer died between the two stores).
            let (mut buf, mut f) = (Vec::new(), FrameInfo::default());
            let mut end = commit;
            loop {
                let start = self.seg.start_before(end)?;
                let at = self
                    .seg
                    .read(start, commit, &mut buf, &mut f)
                    .map_err(|e| match e {
                        // Before the horizon: the commit and the frames do not agree.
                        ReadError::Overrun { .. } => JournalError::Corrupt {
                            journal: self.name.clone(),
                            position: start,
                            what: JournalCorruption::LastFrameBeforeHorizon,
                        },
                        e => e.into(),
                    })?;
                match at {
                    Found::Frame if f.next == end => break f.seq + 1,
                    Found::Pad(next) if next == end && start > lower && start < end => end = start,
                    _ => break self.seg.commit_seq(),
                }
            }
        } else if self.seg.mode() == Mode::Ring {
            self.oldest_seq
        } else {
            self.seg.base_seq()
        };
        // A writer that died between publishing a batch (its first sequence word) and storing
        // the commit word: readers may have read that batch, so it is committed.
        let (mut buf, mut f) = (Vec::new(), FrameInfo::default());
        while self.seg.published(self.pos, self.next_seq) {
            let bound = self.seg.published_bound(self.pos);
            match self.seg.read(self.pos, bound, &mut buf, &mut f) {
                Ok(Found::Frame) if f.seq == self.next_seq => {
                    self.pos = f.next;
                    self.next_seq += 1;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Takes over where [`JournalWriter::recover`] found the end: claims the segment (writer
    /// generation and pid), then makes its end a clean place to write.
    fn resume(&mut self) {
        self.seg.claim_writer();
        // The dead writer's uncommitted tail may hold a published-looking word here (see
        // `publish.rs`).
        self.clear_end();
        self.committed = self.pos;
        self.publish(None);
    }

    /// The journal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sequence number the next message will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Data bytes of the ring, or of each segment: the size asked for, rounded up (a ring to a
    /// power of two, a segment to whole pages).
    pub fn capacity(&self) -> u64 {
        self.seg.capacity()
    }

    /// The largest message this journal accepts.
    pub fn max_message(&self) -> usize {
        self.seg.max_message() as usize
    }

    /// Bytes appended but not yet committed.
    pub fn pending_bytes(&self) -> u64 {
        self.pos - self.committed
    }

    /// Segment files removed by retention since this writer opened.
    pub fn removed_segments(&self) -> u64 {
        self.removed_segments
    }

    /// Appends `payload` with type tag `ty`; returns its sequence number. Invisible to readers
    /// until [`JournalWriter::commit`].
    ///
    /// # Errors
    ///
    /// [`AppendError::MessageTooLarge`]; [`AppendError::BatchTooLarge`] (ring);
    /// [`AppendError::Corrupt`] if the frames a ring overwrites are damaged; errors creating the
    /// next segment (persisted: [`AppendError::Region`], [`AppendError::Layout`]);
    /// [`RegionError::TruncatedWhileMapped`] once another process has truncated the file (what
    /// was appended since went nowhere).
    #[inline]
    pub fn append(&mut self, ty: u16, payload: &[u8]) -> Result<u64, AppendError> {
        let (pos, seq, first) = self
            .begin(payload.len())
            .map_err(|e| self.seg.or_truncated(e))?;
        let crc = if self.seg.crc() {
            frame_crc(payload.len() as u32, ty, 0, seq, payload)
        } else {
            0
        };
        // SAFETY: as in `JournalWriter::reserve`: [pos, pos + frame) is the writer's alone.
        unsafe { self.seg.write_frame(pos, ty, seq, !first, payload, crc) };
        self.end(pos, payload.len() as u32, seq);
        // The file truncated under us (by another process): the frame went to zero pages.
        self.seg.intact()?;
        Ok(seq)
    }

    /// Appends and commits at once.
    ///
    /// # Errors
    ///
    /// As [`JournalWriter::append`].
    pub fn append_commit(&mut self, ty: u16, payload: &[u8]) -> Result<u64, AppendError> {
        let seq = self.append(ty, payload)?;
        self.commit();
        Ok(seq)
    }

    /// Reserves `len` bytes for a message written in place (zero copy).
    ///
    /// # Errors
    ///
    /// As [`JournalWriter::append`].
    #[inline]
    pub fn reserve(&mut self, ty: u16, len: usize) -> Result<Reservation<'_>, AppendError> {
        let (pos, seq, first) = self.begin(len).map_err(|e| self.seg.or_truncated(e))?;
        self.seg.intact()?;
        // SAFETY: we hold the writer lock; [pos, pos + frame) lies beyond the committed end and,
        // in a ring, behind the `oldest` horizon that `make_room` advanced and fenced.
        let _ = unsafe { self.seg.reserve(pos, len as u32) };
        self.open = OpenFrame {
            pos,
            seq,
            len: len as u32,
            ty,
            publish: !first,
            finished: false,
        };
        Ok(Reservation { writer: self })
    }

    /// Makes room for a frame of `len` payload bytes at the write position (ring: frees old
    /// frames, pads to the end; persisted: rolls) and returns (position, sequence, whether it
    /// is the first frame of the batch).
    #[inline(always)]
    fn begin(&mut self, len: usize) -> Result<(u64, u64, bool), AppendError> {
        if len > self.seg.max_message() as usize {
            return Err(self.too_large(len));
        }
        let need = frame_len(len) as u64;
        // The first frame of a batch stays unpublished until the commit publishes the batch
        // (decided before any padding, which does not count as a frame).
        let mut first = self.pos == self.committed;
        match self.seg.mode() {
            Mode::Ring => {
                let cap = self.seg.capacity();
                let to_end = cap - self.seg.ring_offset(self.pos);
                if to_end < need {
                    self.make_room(self.pos + to_end)?;
                    self.seg.write_pad(self.pos, to_end);
                    self.pos += to_end;
                }
                if first {
                    // Room for the frame and the next frame's header, whose sequence word is
                    // zeroed now. (Never too large for a ring: a frame is at most a quarter of
                    // it, and padding is shorter than the frame.)
                    self.make_room(self.pos + need + FRAME_HEADER as u64)?;
                    self.clear_next(self.pos + need);
                } else {
                    self.make_room(self.pos + need)?;
                }
            }
            Mode::Segment => {
                if self.pos + need > self.seg.base_pos() + self.seg.capacity() {
                    // The roll commits what is pending: this frame starts a new batch.
                    self.roll()?;
                    first = true;
                }
                if first {
                    self.clear_next(self.pos + need);
                }
            }
        }
        let seq = self.next_seq;
        if first {
            self.batch_first = Some((self.pos, seq));
        }
        Ok((self.pos, seq, first))
    }

    /// Zeroes the sequence word at `pos`, where the batch being written will end (free already:
    /// past the commit, and in a ring behind the horizon), and remembers it in `zeroed`. Done for
    /// the first frame of a batch before its own bytes (`publish.rs` says why the word is zeroed;
    /// doing it this early means a batch of one frame stores nothing at commit but the
    /// publishing word after the frame, so a busy reader polling the frame's line gets it in one
    /// transfer).
    #[inline]
    fn clear_next(&mut self, pos: u64) {
        self.zeroed = pos;
        publish::clear_seq(&self.seg, pos);
    }

    /// Zeroes the sequence word at the write position, where the next batch starts, when
    /// `begin` did not (a batch of more than one frame, or a new writer at the end of what it
    /// adopts). In a ring, frees it first, up to `committed` at most; if that fails, leaves it
    /// alone: either the ring's old frames are damaged (the next append reports it), or the
    /// batch fills the ring to within 16 bytes and the word lies in the batch's own first header
    /// (see `publish.rs`).
    // Out of line: a batch of one frame (the latency path) has its word zeroed in `begin`.
    #[inline(never)]
    fn clear_end(&mut self) {
        if self.seg.mode() != Mode::Ring || self.make_room(self.pos + FRAME_HEADER as u64).is_ok() {
            self.clear_next(self.pos);
        }
    }

    #[cold]
    #[inline(never)]
    fn too_large(&self, len: usize) -> AppendError {
        AppendError::MessageTooLarge {
            journal: self.name.clone(),
            len,
            max: self.seg.max_message() as usize,
        }
    }

    /// Completes the frame written at `pos`: indexes it and moves the write position past it.
    #[inline]
    fn end(&mut self, pos: u64, len: u32, seq: u64) {
        if seq % INDEX_EVERY == 0 {
            self.seg.index_store(seq / INDEX_EVERY, pos);
        }
        self.pos = pos + frame_len(len as usize) as u64;
        self.next_seq = seq + 1;
    }

    /// Ring: moves the `oldest` horizon past every frame that writing up to `end` overwrites.
    ///
    /// It moves a chunk (1/32 of the ring) further than needed, so the walk over old frames and
    /// the horizon stores (on the commit line that readers poll) happen once per chunk rather
    /// than once per append; the ring keeps at least 31/32 of its capacity of history.
    #[inline(always)]
    fn make_room(&mut self, end: u64) -> Result<(), AppendError> {
        if end.saturating_sub(self.seg.capacity()) <= self.oldest {
            return Ok(());
        }
        self.free_to(end)
    }

    /// The slow part of [`JournalWriter::make_room`]: once per chunk of the ring.
    #[inline(never)]
    fn free_to(&mut self, end: u64) -> Result<(), AppendError> {
        // All or nothing: a failed walk must not leave `oldest` ahead of the horizon stored in
        // the region (a later `make_room` would take that room as freed and overwrite frames
        // readers still trust).
        let saved = (self.oldest, self.oldest_seq);
        let r = self.free_to_unchecked(end);
        if r.is_err() {
            (self.oldest, self.oldest_seq) = saved;
        }
        r
    }

    /// [`JournalWriter::free_to`], leaving `oldest` wherever the walk stopped on failure.
    fn free_to_unchecked(&mut self, end: u64) -> Result<(), AppendError> {
        let cap = self.seg.capacity();
        let floor = end.saturating_sub(cap);
        if floor > self.committed {
            return Err(AppendError::BatchTooLarge {
                journal: self.name.clone(),
                pending: end - self.committed,
                capacity: cap,
            });
        }
        let target = (floor + cap / 32).min(self.committed);
        self.jump_by_index(target);
        while self.oldest < target {
            let (next, seq) = self.seg.frame_span(self.oldest)?;
            if next > self.committed {
                break;
            }
            self.oldest = next;
            if let Some(seq) = seq {
                self.oldest_seq = seq + 1;
            }
        }
        if self.oldest < floor {
            return Err(AppendError::Corrupt {
                journal: self.name.clone(),
                position: self.oldest,
                what: JournalCorruption::OverwriteMissesCommit,
            });
        }
        // Before any overwriting store.
        publish::advance_horizon(&self.seg, self.oldest, self.oldest_seq);
        Ok(())
    }

    /// Ring: moves `oldest` to the last index point (every 64th message) at or before `target`,
    /// so freeing space reads one frame header per 64 messages instead of every one (the old
    /// frames are cold memory in a large ring). The point is checked against its frame; on any
    /// doubt the frame walk in `make_room` does the work.
    fn jump_by_index(&mut self, target: u64) {
        let mut best = None;
        let mut k = self.oldest_seq / INDEX_EVERY + 1;
        while let Some(p) = self.seg.index_lookup(k) {
            if p <= self.oldest || p > target || p % 8 != 0 {
                break;
            }
            best = Some((p, k * INDEX_EVERY));
            k += 1;
        }
        if let Some((p, seq)) = best {
            if let Ok((_, Some(s))) = self.seg.frame_span(p) {
                if s == seq {
                    self.oldest = p;
                    self.oldest_seq = seq;
                }
            }
        }
    }

    fn roll(&mut self) -> Result<(), AppendError> {
        let Some(p) = self.persisted.as_ref() else {
            // A segment file opened on its own, not as part of its journal's directory.
            return Err(AppendError::Layout {
                journal: self.name.clone(),
                what: Box::new(JournalLayoutProblem::NotInDirectory),
            });
        };
        let Some(next) = self.seg.segment().checked_add(1) else {
            return Err(AppendError::Layout {
                journal: self.name.clone(),
                what: Box::new(JournalLayoutProblem::SegmentNumbersExhausted {
                    segment: self.seg.segment(),
                }),
            });
        };
        let spec = SegmentSpec {
            mode: Mode::Segment,
            capacity: p.segment_size,
            crc: p.crc,
            segment: next,
            base_pos: self.pos,
            base_seq: self.next_seq,
            group_shared: p.group_shared,
            populate: p.populate,
        };
        let seg = Segment::create(&seg_name(&p.dir, next), &spec)?;
        // The next segment exists before this one is sealed, so a reader that sees the seal
        // always finds it. A batch that spans the roll is committed here, in two steps.
        self.commit();
        self.seg.seal(self.pos);
        self.seg = seg;
        self.committed = self.pos;
        self.apply_retention()
    }

    fn apply_retention(&mut self) -> Result<(), AppendError> {
        let Some(p) = &self.persisted else {
            return Ok(());
        };
        if p.retain_segments.is_none() && p.retain_bytes.is_none() {
            return Ok(());
        }
        let segs = list_segments(&p.dir)?;
        let size = |i: u32| os::file_len(&super::store::segment_file(&p.dir, i)).unwrap_or(0);
        let mut total: u64 = segs.iter().map(|&i| size(i)).sum();
        let mut count = segs.len() as u64;
        for &i in &segs {
            let over_count = p.retain_segments.is_some_and(|n| count > u64::from(n));
            let over_bytes = p.retain_bytes.is_some_and(|b| total > b);
            if i >= self.seg.segment() || !(over_count || over_bytes) {
                break;
            }
            let path = super::store::segment_file(&p.dir, i);
            total -= size(i);
            os::unlink(&path).map_err(|e| io_err(&path, "remove", e))?;
            count -= 1;
            self.removed_segments += 1;
        }
        Ok(())
    }

    /// Sets retention for a persisted journal opened with [`JournalWriter::open`].
    pub fn set_retention(&mut self, segments: Option<u32>, bytes: Option<u64>) {
        if let Some(p) = &mut self.persisted {
            p.retain_segments = segments.map(|n| n.max(1));
            p.retain_bytes = bytes;
        }
    }

    /// Publishes every message appended so far, at once: the word after the batch is zeroed,
    /// then the batch's first sequence word is stored (Release; busy readers poll it), then the
    /// commit word is swapped (blocking readers, tools); docs/FORMAT.md 5.5 gives the steps.
    /// Wakes blocked readers, paying a system call only if some reader sleeps.
    #[inline]
    pub fn commit(&mut self) {
        if self.pos != self.committed {
            // Before `committed` moves: freeing ring room for the zeroed word must stop at the
            // commit readers know (a horizon stored past it, and a crash before the commit
            // word, would leave a journal no writer can reopen).
            if self.zeroed != self.pos {
                self.clear_end();
            }
            self.committed = self.pos;
            let first = self.batch_first.take();
            self.publish(first);
        }
    }

    /// Publishes up to `self.pos`, whose sequence word is zero already (`clear_next`), and
    /// wakes sleepers (`Segment::publish`).
    #[inline]
    fn publish(&mut self, first: Option<(u64, u64)>) {
        self.seg.publish(first, self.pos, self.next_seq);
    }
}

impl Reservation<'_> {
    /// The payload bytes to fill.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let f = self.writer.open;
        // SAFETY: as in `JournalWriter::reserve`: the range is the writer's alone until commit.
        unsafe { self.writer.seg.payload_mut(f.pos, f.len) }
    }

    /// The sequence number of this message.
    pub fn seq(&self) -> u64 {
        self.writer.open.seq
    }

    /// Completes the message (appended, not yet committed) and returns its sequence number.
    #[inline]
    pub fn finish(mut self) -> u64 {
        self.complete();
        self.writer.open.seq
    }

    #[inline]
    fn complete(&mut self) {
        let w = &mut *self.writer;
        let f = w.open;
        if f.finished {
            return;
        }
        w.open.finished = true;
        let crc = if w.seg.crc() {
            // SAFETY: as above; read back the payload just written for its checksum.
            let payload = unsafe { w.seg.payload_mut(f.pos, f.len) };
            frame_crc(f.len, f.ty, 0, f.seq, payload)
        } else {
            0
        };
        w.seg
            .finish_frame(f.pos, f.len, f.ty, f.seq, f.publish, crc);
        w.end(f.pos, f.len, f.seq);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.complete();
    }
}
