//! A segment seen by readers: what lies at a position (the one decoder, `frame::decode`, with the
//! ring's horizon checked around it), walking backward, the sparse index, and waiting for the
//! writer (`doorbell.rs`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Segment;
use crate::error::ReadError;
use crate::journal::doorbell::{self, Doorbell};
use crate::journal::format::*;
use crate::journal::frame::{self, Found, FrameFault, FrameInfo};
use crate::journal::publish;
use crate::journal::segment::Mode;

impl Segment {
    /// What lies at `pos`: the journal's one decoder (`frame::decode`), with the ring's horizon
    /// checked before and after the copy. A frame's facts go to `out`, its payload to `buf`.
    ///
    /// `bound` is how far a frame at `pos` may reach: the reader's snapshot of the commit
    /// position (nothing lies at or past it), or [`Segment::published_bound`] for a frame
    /// [`Segment::published`] said is published.
    #[inline(always)]
    pub(crate) fn read(
        &self,
        pos: u64,
        bound: u64,
        buf: &mut Vec<u64>,
        out: &mut FrameInfo,
    ) -> Result<Found, ReadError> {
        if pos >= bound {
            return Ok(Found::End);
        }
        if self.mode == Mode::Ring {
            let oldest = self.oldest();
            if oldest > pos {
                return Err(self.overrun_marker());
            }
            // The writer advances `oldest` before it commits past it, so a commit loaded before
            // this load is never more than a ring ahead. One that is would make the ring look
            // endless (every lap reads the same bytes again).
            if bound - oldest > self.limits.capacity {
                return Err(self.corrupt(pos, FrameFault::CommitAheadOfRing));
            }
        }
        if pos % 8 != 0 {
            return Err(self.corrupt(pos, FrameFault::Misaligned));
        }
        let Some(off) = self.phys(pos) else {
            return Err(self.corrupt(pos, FrameFault::OutsideSegment));
        };
        let map = self.region.map();
        let to_end = self.to_ring_end(pos);
        match frame::decode(map, off, pos, bound - pos, to_end, self.limits, buf, out) {
            // Validates the copy: the writer did not overwrite it meanwhile.
            Ok(found) if !publish::lapped(self, pos) => Ok(found),
            Ok(_) => Err(self.overrun_marker()),
            Err(fault) => Err(self.fault(pos, fault)),
        }
    }

    /// How far a published frame at `pos` may reach, for [`Segment::read`]: bounded by the
    /// largest frame and, in a ring, by one ring past the horizon.
    #[inline]
    pub(crate) fn published_bound(&self, pos: u64) -> u64 {
        let bound = pos.saturating_add(frame_len(self.limits.max_message as usize) as u64);
        match self.mode {
            Mode::Ring => bound.min(self.oldest().saturating_add(self.limits.capacity)),
            Mode::Segment => bound.min(self.base_pos + self.limits.capacity),
        }
    }

    /// Whether the frame at `pos` is published with sequence `seq` (`publish::published`).
    #[inline]
    pub(crate) fn published(&self, pos: u64, seq: u64) -> bool {
        publish::published(self, pos, seq)
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
            // Relaxed: a hint only; a frame is read after an Acquire (`publish::published`).
            .is_some_and(|w| w.load(Ordering::Relaxed) & PAD == 0);
        // A lapped reader must go the slow way, which reports the overrun. The horizon sits on
        // its own line, written once per 1/32 of the ring.
        quiet && !publish::lapped(self, pos)
    }

    /// Busy-poll companion of [`Segment::nothing_at`]: if a frame of `guess` bytes at `pos` is
    /// small (at most [`TOUCH_MAX`]), loads one word from each further cache line it would cover,
    /// so that when the writer publishes, those lines travel to this core alongside the header's
    /// instead of one after it (64 B payloads: one-way p50 1.29x the message floor against 1.48x
    /// without, interleaved runs). The loaded values are discarded: this is a prefetch, the frame
    /// is read (and validated) by [`Segment::read`] as always.
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
                // Relaxed: a prefetch, the value is discarded (no partner).
                std::hint::black_box(w.load(Ordering::Relaxed));
            }
            line += LINE;
        }
    }

    /// The start of the frame (or pad) that ends at `end`, read from its trailing word.
    pub(crate) fn start_before(&self, end: u64) -> Result<u64, ReadError> {
        let off = end
            .checked_sub(8)
            .and_then(|p| self.phys(p).map(|o| (p, o)))
            .filter(|(p, _)| self.mode == Mode::Ring || *p >= self.base_pos);
        let Some((_, off)) = off else {
            return Err(self.corrupt(end, FrameFault::NothingBefore));
        };
        // A trailing word that a lapping writer overwrote is no corruption: the reader was
        // overrun (a ring reader walking back from a commit it loaded before being descheduled
        // for a lap took such garbage for a damaged ring, and fell back on a sequence that did
        // not belong to its position).
        let fault = |f| {
            if publish::lapped(self, end - 8) {
                self.overrun_marker()
            } else {
                self.corrupt(end, f)
            }
        };
        let total = frame::len_before(self.region.map(), off, self.limits).map_err(fault)?;
        end.checked_sub(total)
            .ok_or_else(|| fault(FrameFault::BeforeJournal))
    }

    /// The writer's walk over its own old frames (ring): where the frame or padding at `pos`
    /// ends, and the sequence of a frame. Reads only the leading words; still bounds-checked,
    /// since another process could have damaged them.
    #[inline]
    pub(crate) fn frame_span(&self, pos: u64) -> Result<(u64, Option<u64>), ReadError> {
        let off = self
            .phys(pos)
            .ok_or_else(|| self.corrupt(pos, FrameFault::OutsideSegment))?;
        let (len, seq) = frame::span_at(self.region.map(), off, self.limits)
            .map_err(|f| self.corrupt(pos, f))?;
        Ok((pos + len, seq))
    }

    /// The position of the frame with sequence `k * INDEX_EVERY`, if the index has it.
    pub(crate) fn index_lookup(&self, k: u64) -> Option<u64> {
        let slot = self.index_off + (k % u64::from(self.index_n)) as usize * 8;
        // Relaxed: a hint, checked against the frame it names before use.
        let v = self.region.map().u64_at(slot)?.load(Ordering::Relaxed);
        (v != INDEX_EMPTY).then_some(v)
    }

    /// The doorbell's words: the writer's mapping, or the reader's own writable mapping of the
    /// page (made now if this is its first sleep; `None` without write permission to the file:
    /// a reader still works, it polls instead of sleeping).
    fn doorbell(&self) -> Option<Doorbell<'_>> {
        let (map, base) = if self.region.is_writer() {
            (self.region.map(), DOORBELL_OFFSET)
        } else {
            let own = self.doorbell.get_or_init(|| {
                self.region
                    .map_writable_page(DOORBELL_OFFSET as u64, DOORBELL_LEN)
                    .ok()
            });
            (own.as_ref()?, 0)
        };
        Some(Doorbell {
            futex: map.u32_at(base + DB_FUTEX)?,
            waiters: map.u32_at(base + DB_WAITERS)?,
        })
    }

    /// Blocks until the commit word differs from `seen`, the segment is sealed, or `deadline`
    /// (`doorbell::wait`).
    pub(crate) fn wait_commit(&self, seen: u64, deadline: Instant, spin: Duration) {
        // A truncated segment reads zeros: stop waiting, the caller's check reports it.
        let changed = || self.commit() != seen || self.sealed().is_some() || self.truncated();
        doorbell::wait(|| self.doorbell(), changed, deadline, spin);
    }
}
