//! Journal readers: independent cursors held in the reader's own process (never written into
//! the region), forward and backward iteration, seek by sequence through the sparse index, and
//! blocking waits on the commit word's futex.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::format::{INDEX_EVERY, frame_len};
use super::frame::{Found, FrameInfo};
use super::readers::{ReaderInfo, Registration, list_readers};
use super::segment::{Mode, Segment};
use super::store::{list_segments, seg_name};
use crate::error::{
    JournalCorruption, JournalError, JournalLayoutProblem, ReadError, RegionCorruption, RegionError,
};
use crate::region::{OpenOptions, Region};

/// Opens segment file `index` of `dir`, checking that it says it is segment `index`: readers move
/// between segments by their numbers, so one that lies about its own would send them in circles.
fn open_numbered(dir: &Path, index: u32, opts: OpenOptions) -> Result<Segment, RegionError> {
    let name = seg_name(dir, index);
    let seg = Segment::open(&name, false, opts)?;
    if seg.segment() != index {
        return Err(RegionError::Corrupt {
            path: name.into(),
            what: RegionCorruption::SegmentNumber {
                file: index,
                says: seg.segment(),
            },
        });
    }
    Ok(seg)
}

/// Whether opening a segment failed because its file is not finished: the writer is creating it
/// (or died doing so, and the next writer removes it). The journal still ends in the one before.
fn unfinished(e: &RegionError) -> bool {
    matches!(
        e,
        RegionError::Truncated { .. } | RegionError::NotReady { .. }
    )
}

/// Opens the oldest (or newest) segment of the journal in `dir`. Retention may remove the oldest
/// between the listing and the open (then list again), and the newest may still be being
/// created (then the journal ends in the one before).
fn first_or_last_segment(
    name: &str,
    dir: &Path,
    newest: bool,
    opts: &OpenOptions,
) -> Result<Segment, JournalError> {
    let mut attempts = 0;
    loop {
        let segs = list_segments(dir)?;
        let pick = if newest { segs.last() } else { segs.first() };
        let Some(&i) = pick else {
            return Err(JournalError::Layout {
                journal: name.to_owned(),
                what: Box::new(JournalLayoutProblem::NoSegmentFiles {
                    dir: dir.to_path_buf(),
                }),
            });
        };
        let seg = match open_numbered(dir, i, opts.clone()) {
            Err(e) if unfinished(&e) && newest && segs.len() > 1 => {
                open_numbered(dir, segs[segs.len() - 2], opts.clone())
            }
            other => other,
        };
        match seg {
            Err(RegionError::NotFound { .. }) if attempts < 100 => {
                attempts += 1;
            }
            other => return other.map_err(Into::into),
        }
    }
}

/// Where a new reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest message still stored.
    Beginning,
    /// After the last committed message: only new messages.
    End,
    /// The message with this sequence number (a saved [`JournalReader::next_seq`]).
    Seq(u64),
}

/// A message read from a journal. Its payload is 8-byte aligned, so a plain-data record can be
/// viewed in place (e.g. with `bytemuck::from_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Sequence number: 0 for the first message of the journal, then +1 each.
    pub seq: u64,
    /// The type tag given to `append`.
    pub ty: u16,
    /// Logical byte position of the frame in the journal.
    pub position: u64,
    /// The payload.
    pub payload: &'a [u8],
}

/// A snapshot of a journal's state, from [`JournalReader::info`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalInfo {
    /// Ring or persisted segments.
    pub mode: Mode,
    /// Data bytes of the ring, or of each segment.
    pub capacity: u64,
    /// Largest message accepted.
    pub max_message: u32,
    /// Whether frames carry a CRC32C.
    pub crc: bool,
    /// Sequence of the oldest stored message.
    pub oldest_seq: u64,
    /// Sequence the next committed message will get (= messages ever committed).
    pub next_seq: u64,
    /// Logical position of the oldest stored byte.
    pub oldest_position: u64,
    /// Logical position of the committed end.
    pub commit_position: u64,
    /// Segment files present (1 for a ring).
    pub segments: u32,
    /// Whether a writer holds the lock of the current segment.
    pub writer_alive: bool,
}

/// One independent reader of a journal. Maps the journal read-only.
#[derive(Debug)]
pub struct JournalReader {
    name: String,
    dir: Option<PathBuf>,
    opts: OpenOptions,
    seg: Arc<Segment>,
    pos: u64,
    next_seq: u64,
    buf: Vec<u64>,
    /// The frame `advance` found last (its payload is in `buf`).
    frame: FrameInfo,
    spin: Duration,
    /// The last commit position loaded: a lower bound of the real one (it only grows), so frames
    /// below it can be read without touching the writer's cache line again.
    commit_seen: u64,
    /// The next sequence at which a registered reader publishes its position; `u64::MAX` when
    /// not registered (one compare per message, never true).
    publish_at: u64,
    /// The position published last.
    published: u64,
    /// The reader's entry in the journal's reader registry, if it registered.
    registration: Option<Box<Registration>>,
}

/// A registered reader publishes its position at least every this many messages (and whenever
/// it has caught up), so its listed lag is exact when it idles and at most this much high
/// while it reads.
pub const PUBLISH_EVERY: u64 = 256;

impl JournalReader {
    /// Opens a reader of journal `name` (a ring file or a persisted journal directory).
    ///
    /// # Errors
    ///
    /// The region open errors; [`JournalError::TooOld`] / [`JournalError::NotYet`] for a
    /// [`Start::Seq`] that is not stored.
    pub fn open(name: &str, start: Start) -> Result<Self, JournalError> {
        Self::open_with(name, start, Region::open_options())
    }

    /// As [`JournalReader::open`] with explicit options (e.g. `allow_foreign_owner`).
    ///
    /// # Errors
    ///
    /// As [`JournalReader::open`].
    pub fn open_with(name: &str, start: Start, opts: OpenOptions) -> Result<Self, JournalError> {
        let (path, meta) = super::store::journal_meta(name)?;
        let (dir, seg) = if meta.is_dir() {
            let seg = first_or_last_segment(name, &path, start != Start::Beginning, &opts)?;
            (Some(path), seg)
        } else {
            (None, Segment::open(name, false, opts.clone())?)
        };
        let mut r = Self {
            name: name.to_owned(),
            dir,
            opts,
            pos: 0,
            next_seq: 0,
            seg: Arc::new(seg),
            buf: Vec::new(),
            frame: FrameInfo::default(),
            spin: Duration::ZERO,
            commit_seen: 0,
            publish_at: u64::MAX,
            published: 0,
            registration: None,
        };
        match start {
            Start::Beginning => r.seek_oldest(),
            Start::End => r.seek_end(),
            Start::Seq(seq) => r.seek(seq)?,
        }
        r.seg.intact()?;
        Ok(r)
    }

    /// Spin this long before sleeping in [`JournalReader::next_timeout`] (lower wake-up latency,
    /// one core busy meanwhile). Default 0.
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// The sequence number of the next message this reader will return: save it to resume
    /// later with [`Start::Seq`].
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The journal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers this reader as `name` in the journal's reader registry (`NAME.readers`, a
    /// separate region next to the journal, created on first use with the journal's permission
    /// bits): from now on it publishes its position (the next sequence it will read) every
    /// [`PUBLISH_EVERY`] messages and whenever it has caught up, and tools list it with its
    /// lag ([`list_readers`], `shmbus top`, `shmbus inspect`). The entry is released when the
    /// reader is dropped; a killed reader's entry is listed as dead until another reader
    /// reclaims it. Registering again releases the previous entry first.
    ///
    /// # Errors
    ///
    /// [`JournalError::InvalidReaderName`] (empty, over 31 bytes, control characters),
    /// [`JournalError::ReadersFull`] when every entry is held by a live process, and the region
    /// errors of creating or opening the registry (a corrupt one is refused, never repaired).
    pub fn register(&mut self, name: &str) -> Result<(), JournalError> {
        self.registration = None;
        self.publish_at = u64::MAX;
        let path = super::store::journal_path(&self.name)?;
        let reg = Registration::new(
            &self.name,
            &path,
            name,
            self.next_seq,
            self.opts.allows_foreign_owner(),
        )?;
        self.registration = Some(Box::new(reg));
        self.published = self.next_seq;
        self.publish_at = self.next_seq.saturating_add(PUBLISH_EVERY);
        Ok(())
    }

    /// Whether this reader is registered ([`JournalReader::register`]).
    pub fn is_registered(&self) -> bool {
        self.registration.is_some()
    }

    /// The journal's registered readers and their lag against the newest committed message.
    ///
    /// # Errors
    ///
    /// As [`JournalReader::info`] and [`list_readers`].
    pub fn readers(&self) -> Result<Vec<ReaderInfo>, JournalError> {
        list_readers(&self.name, self.info()?.next_seq, &self.opts)
    }

    /// Publishes the position now (registered readers only).
    #[cold]
    #[inline(never)]
    fn publish(&mut self) {
        if let Some(r) = &self.registration {
            r.publish(self.next_seq);
            self.published = self.next_seq;
            self.publish_at = self.next_seq.saturating_add(PUBLISH_EVERY);
        }
    }

    /// Nothing more to read: a registered reader publishes where it stands, so its lag is exact
    /// while it waits.
    #[inline]
    fn caught_up(&mut self) {
        if self.publish_at != u64::MAX && self.published != self.next_seq {
            self.publish();
        }
    }

    /// The cursor moved other than forward by one message: publish at the next message.
    fn moved(&mut self) {
        if self.publish_at != u64::MAX {
            self.publish_at = 0;
        }
    }

    /// The creation time (`created_ns` of its header) of the file the reader is in: the ring,
    /// or the segment of the message [`JournalReader::next`] returned last (after a
    /// [`JournalReader::seek`], the segment holding that sequence). A journal re-created under
    /// the same name has new files, so (this, sequence) names a message across re-creations
    /// (`shmbus bridge` uses it for message ids).
    pub fn file_created_ns(&self) -> u64 {
        self.seg.created_ns()
    }

    fn lower_bound(&self) -> u64 {
        match self.seg.mode() {
            Mode::Ring => self.seg.oldest(),
            Mode::Segment => self.seg.base_pos(),
        }
    }

    /// Moves to the oldest stored message. In a ring, the horizon moves under us: the sequence is
    /// taken from the frame found there, retrying while the writer laps us.
    fn seek_oldest(&mut self) {
        if self.seg.mode() == Mode::Segment {
            self.pos = self.seg.base_pos();
            self.next_seq = self.seg.base_seq();
            return;
        }
        for _ in 0..1000 {
            self.pos = self.seg.oldest();
            self.next_seq = self.seg.oldest_seq();
            let commit = self.seg.commit();
            let mut pos = self.pos;
            let mut f = FrameInfo::default();
            loop {
                match self.seg.read(pos, commit, &mut self.buf, &mut f) {
                    Ok(Found::Frame) => {
                        self.next_seq = f.seq;
                        return;
                    }
                    Ok(Found::Pad(next)) => pos = next,
                    Ok(Found::End) => return,
                    Err(_) => break,
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Moves to the committed end. Its sequence is read from the last committed frame, not from
    /// the `commit_seq` word: the writer stores that word just before the commit word, so next
    /// to a commit position loaded a moment earlier it may already count the next batch.
    fn seek_end(&mut self) {
        'again: for _ in 0..1000 {
            let commit = self.seg.commit();
            let (lower, lower_seq) = match self.seg.mode() {
                Mode::Ring => (self.seg.oldest(), self.seg.oldest_seq()),
                Mode::Segment => (self.seg.base_pos(), self.seg.base_seq()),
            };
            self.pos = commit;
            let mut end = commit;
            let mut f = FrameInfo::default();
            while end > lower {
                let at = self
                    .seg
                    .start_before(end)
                    .and_then(|s| Ok((s, self.seg.read(s, commit, &mut self.buf, &mut f)?)));
                match at {
                    Ok((_, Found::Frame)) if f.next == end => {
                        self.next_seq = f.seq + 1;
                        return;
                    }
                    Ok((s, Found::Pad(next))) if next == end => end = s,
                    // Lapped while looking (ring): look again.
                    Err(ReadError::Overrun { .. }) => continue 'again,
                    // Malformed: reading from here will say so.
                    _ => break 'again,
                }
            }
            if end == lower {
                // Nothing committed in this segment (or ring) yet.
                self.next_seq = lower_seq;
                return;
            }
            if self.seg.mode() == Mode::Segment {
                break;
            }
        }
        self.next_seq = self.seg.commit_seq();
    }

    #[inline]
    fn message(&self, f: FrameInfo) -> Message<'_> {
        let bytes: &[u8] = bytemuck::cast_slice(&self.buf[..]);
        Message {
            seq: f.seq,
            ty: f.ty,
            position: f.pos,
            payload: &bytes[..f.len as usize],
        }
    }

    /// The next committed message, or `None` if there is none yet. Never blocks.
    ///
    /// # Errors
    ///
    /// [`ReadError::Overrun`] if the writer lapped this reader (it then resumes at the oldest
    /// message); [`ReadError::Corrupt`] for a malformed frame; [`ReadError::Region`] if the
    /// segment was truncated while mapped or the next segment cannot be opened;
    /// [`ReadError::Layout`] if the next segment is gone without a later one.
    // Not `Iterator::next`: the message borrows the reader's buffer (a lending iterator).
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<Message<'_>>, ReadError> {
        Ok(if self.advance(false)? {
            Some(self.message(self.frame))
        } else {
            None
        })
    }

    /// As [`JournalReader::next`], and when there is nothing it leaves in
    /// [`JournalReader::wait_token`] the commit value to sleep on.
    #[cfg(feature = "tokio")]
    #[inline]
    pub(crate) fn next_or_token(&mut self) -> Result<Option<Message<'_>>, ReadError> {
        Ok(if self.advance(true)? {
            Some(self.message(self.frame))
        } else {
            None
        })
    }

    /// The next message, waiting up to `timeout` for one: spins for the configured time, then
    /// sleeps on the journal's futex (woken by the writer's commit). `None` on timeout.
    ///
    /// # Errors
    ///
    /// As [`JournalReader::next`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Message<'_>>, ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.advance(true)? {
                return Ok(Some(self.message(self.frame)));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            self.seg.wait_commit(self.wait_token(), deadline, self.spin);
        }
    }

    /// The journal's current state (reads the newest segment of a persisted journal).
    ///
    /// # Errors
    ///
    /// Errors opening the oldest or newest segment files.
    pub fn info(&self) -> Result<JournalInfo, JournalError> {
        let (first, last, segments) = match &self.dir {
            Some(dir) => {
                let segs = list_segments(dir)?;
                let open = |i: Option<&u32>| -> Result<Option<Segment>, RegionError> {
                    i.map(|&i| self.open_segment(i))
                        .transpose()
                        .map(Option::flatten)
                };
                let l = match open(segs.last()) {
                    Err(e) if unfinished(&e) => open(segs.iter().rev().nth(1))?,
                    other => other?,
                };
                let (f, l) = (open(segs.first())?, l);
                (f.map(Arc::new), l.map(Arc::new), segs.len() as u32)
            }
            None => (Some(self.seg.clone()), Some(self.seg.clone()), 1),
        };
        let first = first.unwrap_or_else(|| self.seg.clone());
        let last = last.unwrap_or_else(|| self.seg.clone());
        let (oldest_position, oldest_seq) = match first.mode() {
            Mode::Ring => (first.oldest(), first.oldest_seq()),
            Mode::Segment => (first.base_pos(), first.base_seq()),
        };
        Ok(JournalInfo {
            mode: last.mode(),
            capacity: last.capacity(),
            max_message: last.max_message(),
            crc: last.crc(),
            oldest_seq,
            next_seq: last.commit_seq(),
            oldest_position,
            commit_position: last.commit(),
            segments,
            writer_alive: last.writer_alive(),
        })
        .and_then(|info| {
            first.intact()?;
            last.intact()?;
            Ok(info)
        })
    }

    /// Whether a message is ready to read without waiting.
    pub fn has_next(&self) -> bool {
        self.seg.commit() > self.pos
            || self.seg.sealed() == Some(self.pos)
            || self.seg.published(self.pos, self.next_seq)
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn segment(&self) -> Arc<Segment> {
        self.seg.clone()
    }

    /// The commit value to sleep on after `advance` found nothing: the one it just loaded. (Not
    /// the reader's position: frames read through their published sequence words can be ahead
    /// of the commit word, and waiting for the commit word to differ from the position would
    /// then spin instead of sleeping.)
    pub(crate) fn wait_token(&self) -> u64 {
        self.commit_seen
    }

    /// Moves to the next committed frame. With `token`, a miss also loads the commit word for
    /// [`JournalReader::wait_token`]; without it (busy polling), a miss in a ring touches only
    /// the cache line of the next frame's header, never the commit word's line, so the writer's
    /// commit does not have to take that line back from every polling reader.
    #[inline]
    pub(crate) fn advance(&mut self, token: bool) -> Result<bool, ReadError> {
        loop {
            // One call site for the (inlined) frame decoder, which writes the frame's facts in
            // place: nothing wide is returned through memory.
            let bound = if self.pos < self.commit_seen {
                self.commit_seen
            } else if self.seg.published(self.pos, self.next_seq) {
                // Its batch is published: the frame is complete, whatever the commit word says.
                self.seg.published_bound(self.pos)
            } else if !token && self.seg.nothing_at(self.pos) {
                // Guess the next frame is as long as the last one (market data mostly is).
                self.seg
                    .touch_ahead(self.pos, frame_len(self.frame.len as usize));
                // "Nothing yet" must not be zeros of a truncated file either.
                self.seg.intact()?;
                self.caught_up();
                return Ok(false);
            } else {
                self.commit_seen = self.seg.commit();
                self.commit_seen
            };
            let step = match self
                .seg
                .read(self.pos, bound, &mut self.buf, &mut self.frame)
            {
                Err(e) => return Err(self.failed(e)),
                Ok(step) => step,
            };
            // Zeros from a truncated file are never returned as a frame or as "nothing yet".
            self.seg.intact()?;
            match step {
                Found::Frame => {
                    let (seq, next) = (self.frame.seq, self.frame.next);
                    if seq != self.next_seq {
                        return Err(self.gap(seq));
                    }
                    self.pos = next;
                    self.next_seq = seq + 1;
                    if self.next_seq >= self.publish_at {
                        self.publish();
                    }
                    return Ok(true);
                }
                Found::Pad(next) => self.pos = next,
                Found::End => {
                    if self.dir.is_some() && self.seg.sealed() == Some(self.pos) {
                        self.next_segment()?;
                        continue;
                    }
                    self.caught_up();
                    return Ok(false);
                }
            }
        }
    }

    /// A failed read: the truncation error if the segment was truncated (the failure came from
    /// zeros), else after a lap (ring) resynchronises, else `e`.
    #[cold]
    #[inline(never)]
    fn failed(&mut self, e: ReadError) -> ReadError {
        match self.seg.or_truncated(e) {
            ReadError::Overrun { .. } => self.resync(),
            e => e,
        }
    }

    #[cold]
    #[inline(never)]
    fn gap(&self, found: u64) -> ReadError {
        ReadError::Corrupt {
            journal: self.name.clone(),
            position: self.frame.pos,
            what: JournalCorruption::SequenceGap {
                expected: self.next_seq,
                found,
            },
        }
    }

    /// After a lap (ring): moves to the oldest message and builds the `Overrun` error.
    fn resync(&mut self) -> ReadError {
        let expected = self.next_seq;
        self.seek_oldest();
        self.moved();
        ReadError::Overrun {
            journal: self.name.clone(),
            lost: self.next_seq.saturating_sub(expected),
            expected_seq: expected,
            resume_seq: self.next_seq,
        }
    }

    /// Switches segment; the cached commit belonged to the old one.
    fn set_segment(&mut self, seg: Segment) {
        self.seg = Arc::new(seg);
        self.commit_seen = 0;
    }

    fn open_segment(&self, index: u32) -> Result<Option<Segment>, RegionError> {
        let dir = self.dir.as_ref().expect("persisted");
        match open_numbered(dir, index, self.opts.clone()) {
            Ok(s) => Ok(Some(s)),
            Err(RegionError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves into the segment after a sealed one; if retention removed it, to the oldest one.
    fn next_segment(&mut self) -> Result<(), ReadError> {
        let Some(want) = self.seg.segment().checked_add(1) else {
            return Err(ReadError::Layout {
                journal: self.name.clone(),
                what: Box::new(JournalLayoutProblem::LastSegmentSealed),
            });
        };
        if let Some(seg) = self.open_segment(want)? {
            self.set_segment(seg);
            return Ok(());
        }
        let dir = self.dir.clone().expect("persisted");
        let oldest = list_segments(&dir)?.into_iter().find(|&i| i > want);
        let Some(seg) = oldest.map(|i| self.open_segment(i)).transpose()?.flatten() else {
            return Err(ReadError::Layout {
                journal: self.name.clone(),
                what: Box::new(JournalLayoutProblem::SegmentMissing { segment: want }),
            });
        };
        let expected = self.next_seq;
        self.set_segment(seg);
        self.seek_oldest();
        self.moved();
        Err(ReadError::Overrun {
            journal: self.name.clone(),
            lost: self.next_seq.saturating_sub(expected),
            expected_seq: expected,
            resume_seq: self.next_seq,
        })
    }

    /// The message before the cursor, moving the cursor back onto it (so `next` returns it
    /// again). `None` at the oldest stored message.
    ///
    /// # Errors
    ///
    /// [`ReadError::Corrupt`] for a malformed frame; [`ReadError::Overrun`] if the
    /// writer overwrote it meanwhile (ring).
    pub fn prev(&mut self) -> Result<Option<Message<'_>>, ReadError> {
        self.moved();
        let found = self.prev_frame();
        // Zeros from a truncated file are never returned as a frame, "nothing" or corruption.
        self.seg.intact()?;
        Ok(found?.map(|f| self.message(f)))
    }

    fn prev_frame(&mut self) -> Result<Option<FrameInfo>, ReadError> {
        loop {
            if self.pos <= self.lower_bound() {
                if self.dir.is_none() || self.seg.segment() == 0 {
                    return Ok(None);
                }
                let Some(prev) = self.open_segment(self.seg.segment() - 1)? else {
                    return Ok(None);
                };
                let Some(end) = prev.sealed() else {
                    return Ok(None);
                };
                self.set_segment(prev);
                self.pos = end;
                continue;
            }
            let start = self.seg.start_before(self.pos)?;
            if start < self.lower_bound() {
                return Ok(None);
            }
            let commit = self.seg.commit();
            let mut f = FrameInfo::default();
            match self.seg.read(start, commit, &mut self.buf, &mut f)? {
                // The frame before the cursor carries the sequence before it: the gap check
                // of `advance`, backward (a damaged sequence word is corruption both ways).
                Found::Frame if f.next == self.pos && f.seq + 1 != self.next_seq => {
                    return Err(ReadError::Corrupt {
                        journal: self.name.clone(),
                        position: start,
                        what: JournalCorruption::SequenceGapBackward {
                            expected: self.next_seq.wrapping_sub(1),
                            found: f.seq,
                        },
                    });
                }
                Found::Frame if f.next == self.pos => {
                    self.pos = start;
                    self.next_seq = f.seq;
                    return Ok(Some(f));
                }
                Found::Pad(next) if next == self.pos => self.pos = start,
                _ => {
                    return Err(ReadError::Corrupt {
                        journal: self.name.clone(),
                        position: start,
                        what: JournalCorruption::NoFrameStart,
                    });
                }
            }
        }
    }

    /// Positions the cursor on the message with sequence `seq`, using the sparse index (one
    /// entry every 64 messages) and at most 63 frame hops.
    ///
    /// # Errors
    ///
    /// [`ReadError::TooOld`] if it is no longer stored, [`ReadError::NotYet`] if it is not
    /// committed yet (beyond the next sequence to be written, or in the batch the writer is
    /// committing at this instant: seek again).
    pub fn seek(&mut self, seq: u64) -> Result<(), ReadError> {
        self.moved();
        let r = self.seek_retry(seq);
        // What a truncated file's zeros said is not the answer.
        self.seg.intact()?;
        r
    }

    /// Whether the segment the reader is in holds committed message `seq` and is still the
    /// journal's: a persisted seek then stays in it (one `fstat`) instead of listing the
    /// directory and mapping segments again (`benches/journal.rs` `seek_persisted_64B`: 0.7 µs
    /// against 38 µs). A segment retention removed is not the journal's any more, even
    /// though its mapping still reads: a seek into it is `TooOld`, as from any other segment.
    fn holds_committed(&self, seq: u64) -> bool {
        (self.seg.base_seq()..self.seg.commit_seq()).contains(&seq) && !self.seg.removed()
    }

    /// The newest of the segments `segs` (the journal's file numbers, ascending) whose first
    /// sequence is at most `seq`, found by bisection: segments hold consecutive sequences, so
    /// their first sequences grow with their numbers, and a seek maps about log2(n) segments,
    /// not n. A segment removed since the listing counts as older than `seq` (retention
    /// removes the oldest first), except the newest: a writer taking over removes the empty
    /// segment its dead predecessor was rolling into, and the journal continues in the one
    /// before, as when the newest is still being created. In a corrupt journal whose first
    /// sequences do not grow, this finds some segment, which the walk then reads as it is.
    fn segment_holding(&self, segs: &[u32], seq: u64) -> Result<Option<Segment>, RegionError> {
        let mut chosen = None;
        // The answer is in `segs[lo..hi]` or is `chosen`.
        let (mut lo, mut hi) = (0, segs.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let newest = mid + 1 == segs.len();
            match self.open_segment(segs[mid]) {
                // Not (or no longer) part of the journal: it ends in the segment before.
                Err(e) if newest && unfinished(&e) => hi = mid,
                Ok(None) if newest => hi = mid,
                Err(e) => return Err(e),
                Ok(None) => lo = mid + 1,
                Ok(Some(s)) if s.base_seq() <= seq => {
                    chosen = Some(s);
                    lo = mid + 1;
                }
                Ok(Some(_)) => hi = mid,
            }
        }
        Ok(chosen)
    }

    fn seek_retry(&mut self, seq: u64) -> Result<(), ReadError> {
        // In a ring, the writer may lap the walk to `seq`: look again from the new horizon. A
        // sequence that fell behind it is `TooOld`, as if it had been gone before the seek. In
        // a persisted journal, the segment found may have been sealed since the listing: look
        // again, in the segments listed now.
        for _ in 0..8 {
            match self.seek_once(seq) {
                Err(ReadError::Overrun { resume_seq, .. }) if seq < resume_seq => {
                    return Err(ReadError::TooOld {
                        journal: self.name.clone(),
                        seq,
                        oldest: resume_seq,
                    });
                }
                Err(ReadError::Overrun { .. }) | Ok(Sought::Later) => continue,
                Ok(Sought::At) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        match self.seek_once(seq)? {
            Sought::At => Ok(()),
            // Sealed before `seq` with no later segment holding it (a damaged journal).
            Sought::Later => Err(ReadError::NotYet {
                journal: self.name.clone(),
                seq,
                next: self.next_seq,
            }),
        }
    }

    fn seek_once(&mut self, seq: u64) -> Result<Sought, ReadError> {
        if let Some(dir) = self.dir.clone().filter(|_| !self.holds_committed(seq)) {
            let segs = list_segments(&dir)?;
            let chosen = self.segment_holding(&segs, seq)?;
            let seg = match chosen {
                Some(s) => s,
                None => {
                    let oldest = match segs.first() {
                        Some(&i) => self.open_segment(i)?.map_or(0, |s| s.base_seq()),
                        None => 0,
                    };
                    return Err(ReadError::TooOld {
                        journal: self.name.clone(),
                        seq,
                        oldest,
                    });
                }
            };
            self.set_segment(seg);
        }
        let mut commit = self.seg.commit();
        let next = self.seg.commit_seq();
        let sealed = self.seg.sealed();
        let (lower, lower_seq) = match self.seg.mode() {
            Mode::Ring => (self.seg.oldest(), self.seg.oldest_seq()),
            Mode::Segment => (self.seg.base_pos(), self.seg.base_seq()),
        };
        if seq < lower_seq {
            return Err(ReadError::TooOld {
                journal: self.name.clone(),
                seq,
                oldest: lower_seq,
            });
        }
        if seq >= next && sealed.is_none() {
            if seq > next {
                return Err(ReadError::NotYet {
                    journal: self.name.clone(),
                    seq,
                    next,
                });
            }
            // `next` may count a batch that `commit` (loaded first) does not yet hold: take the
            // end's sequence from its frames; if that is not `seq`, walk to it (committed since)
            // or to the end (see below).
            self.seek_end();
            if self.next_seq == seq {
                return Ok(Sought::At);
            }
            commit = self.seg.commit();
        }
        // Start from the index entry at or before seq, if it is valid; else from the bottom.
        let k = seq / INDEX_EVERY;
        let mut start = (lower, lower_seq);
        let mut f = FrameInfo::default();
        if k * INDEX_EVERY >= lower_seq {
            if let Some(p) = self
                .seg
                .index_lookup(k)
                .filter(|p| (lower..commit).contains(p))
            {
                if let Ok(Found::Frame) = self.seg.read(p, commit, &mut self.buf, &mut f) {
                    if f.seq == k * INDEX_EVERY {
                        start = (p, f.seq);
                    }
                }
            }
        }
        self.pos = start.0;
        self.next_seq = start.1;
        let mut reloads = 0;
        while self.next_seq < seq {
            let at = self.seg.read(self.pos, commit, &mut self.buf, &mut f);
            match at {
                Ok(Found::Frame) => {
                    self.pos = f.next;
                    self.next_seq = f.seq + 1;
                }
                Ok(Found::Pad(next)) => self.pos = next,
                Ok(Found::End) => {
                    // The committed frames end before `seq`. Committed since `commit` was
                    // loaded: walk on. In a later segment if this one is sealed: look again.
                    // Else `next` counted the batch the writer is committing (it stores the
                    // sequence before the commit word), or one a dead writer never committed:
                    // `seq` is not readable yet, and a cursor left here would give an earlier
                    // message.
                    let now = self.seg.commit();
                    if now != commit && reloads < 16 {
                        // (Bounded: a commit word another process keeps changing, never
                        // reaching `seq`, cannot hold the seek.)
                        reloads += 1;
                        commit = now;
                        continue;
                    }
                    if self.seg.sealed().is_some() {
                        return Ok(Sought::Later);
                    }
                    return Err(ReadError::NotYet {
                        journal: self.name.clone(),
                        seq,
                        next: self.next_seq,
                    });
                }
                Err(ReadError::Overrun { .. }) => return Err(self.resync()),
                Err(e) => return Err(e),
            }
        }
        Ok(Sought::At)
    }
}

/// What one attempt of a seek found.
enum Sought {
    /// The cursor is on the sequence sought.
    At,
    /// The segment was sealed before it: a later segment holds it.
    Later,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::JournalWriter;
    use crate::journal::store::segment_file;

    /// The bisection over a listing that names segments which are gone (the newest: a writer
    /// taking over removed the empty segment its dead predecessor rolled into) or unfinished.
    #[test]
    fn the_segment_holding_a_sequence_despite_a_stale_listing() {
        let dir = std::env::temp_dir().join(format!("shmbus-unit-bisect-{}", std::process::id()));
        let name = dir.to_string_lossy().into_owned();
        let _ = crate::journal::remove(&name, true);
        let mut w = JournalWriter::builder(&name)
            .segment_size(8 * 1024)
            .create()
            .unwrap();
        for i in 0..400u64 {
            w.append_commit(0, &i.to_le_bytes().repeat(8)).unwrap();
        }
        drop(w);
        let segs = list_segments(&dir).unwrap();
        assert!(segs.len() >= 4, "{segs:?}");
        let r = JournalReader::open(&name, Start::Beginning).unwrap();
        let bases: Vec<u64> = segs
            .iter()
            .map(|&i| r.open_segment(i).unwrap().unwrap().base_seq())
            .collect();
        let last = *segs.last().unwrap();
        // Every segment's first and last sequence, with the listing as it is, with a vanished
        // newest segment after it, and with an unfinished one (an empty file) after it.
        std::fs::write(segment_file(&dir, last + 2), b"").unwrap();
        let listings = [
            segs.clone(),
            [&segs[..], &[last + 1]].concat(),
            [&segs[..], &[last + 2]].concat(),
        ];
        for listing in &listings {
            for (k, &base) in bases.iter().enumerate() {
                let end = bases.get(k + 1).map_or(400, |&b| b);
                for seq in [base, end - 1] {
                    let s = r.segment_holding(listing, seq).unwrap().unwrap();
                    assert_eq!(s.segment(), segs[k], "seq {seq} in {listing:?}");
                }
            }
        }
        std::fs::remove_file(segment_file(&dir, last + 2)).unwrap();
        // Retention removed the oldest after the listing: its sequences have no segment, the
        // next one's still do.
        std::fs::remove_file(segment_file(&dir, segs[0])).unwrap();
        assert!(r.segment_holding(&segs, bases[1] - 1).unwrap().is_none());
        let s = r.segment_holding(&segs, bases[1]).unwrap().unwrap();
        assert_eq!(s.segment(), segs[1]);
        drop(r);
        crate::journal::remove(&name, true).unwrap();
    }
}
