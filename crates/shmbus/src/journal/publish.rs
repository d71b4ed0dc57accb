//! The journal's publication protocol (docs/FORMAT.md 5.3 and 5.5): how frames written past the
//! commit become visible to readers in other processes, and how a ring's reader learns that the
//! writer overwrote what it copied. Every load, store and fence of it is here, written once over
//! [`Shared`], so the loom tests (`loom_publish.rs`) run this very code on loom atomics.
//!
//! ```text
//! writer (one, by the writer lock)               reader at position p, expecting sequence e
//! frames: data, header words (Relaxed); every    s = seq_word(p).load(Acquire)        (P')
//!   frame's sequence word published, but the     if s == PUBLISHED | e: read the frame
//!   first frame's of the batch: 0                else c = commit.load(Acquire)        (C')
//! clear_seq(end): seq_word(end) = 0 (Relaxed)         read the frames below c
//! publish_batch: seq_word(first).store(          ring, after copying a frame:
//!   PUBLISHED | seq, Release)            (P)       fence(Acquire)                     (L')
//! publish_commit: commit.swap(end, SeqCst) (C)     lapped iff oldest.load(Relaxed) > p
//!
//! ring, before overwriting old frames:
//! advance_horizon: oldest = new (Relaxed), fence(Release)                             (L)
//! ```
//!
//! (P) pairs with (P'), (C) with (C'), (L) with (L').
//!
//! **The word after a batch is zeroed before the batch is published.** A reader that has read a
//! batch goes on polling the sequence word where the batch ends, so that word must not look
//! published with the sequence the reader expects next before the next batch is published: a
//! dead writer's uncommitted frame there has exactly that sequence. So the writer calls
//! [`clear_seq`] at the batch's end before [`publish_batch`]: as the first frame of the batch is
//! written (a batch of one frame, the latency path, then stores nothing at commit but the
//! publishing word) or at commit otherwise, and a new writer at the end of what it adopts. In a
//! ring the word is freed first (the horizon moved past it) and never past the commit readers
//! know; if it cannot be freed, the batch fills the ring to within 16 bytes and the word lies in
//! the batch's own first header, which never reads as the next sequence published.
//! (`JournalWriter::begin`, `JournalWriter::commit` and `JournalWriter::resume` do this.)
//!
//! In a **ring**, before overwriting old frames the writer advances the `oldest` horizon and
//! issues a Release fence (L); a reader copies a frame with atomic loads, then issues an Acquire
//! fence (L') and re-loads `oldest`: if the horizon passed the frame, the copy is discarded. Like
//! crossbeam's `AtomicCell`, we accept that the writer's plain stores race a lapped reader's
//! atomic loads, because that result is always detected and discarded.

use super::format::publish_word;
use crate::sync::{Ordering, Word, fence};

/// The words of the commit and horizon lines (docs/FORMAT.md 5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    Commit,
    CommitSeq,
    Sealed,
    Oldest,
    OldestSeq,
}

/// The memory the protocol works on: a mapped segment in production, loom atomics in the loom
/// tests.
pub(crate) trait Shared {
    type Word: Word;
    /// A word of the commit or horizon line.
    fn line(&self, w: Line) -> &Self::Word;
    /// The sequence word of a frame at logical position `pos`, if a frame header fits there.
    fn seq_word(&self, pos: u64) -> Option<&Self::Word>;
    /// Whether the data area is a ring (the writer overwrites old frames).
    fn ring(&self) -> bool;
    /// Loom tests only: the ordering of the protocol to weaken, to show that loom catches it.
    #[cfg(loom)]
    fn broken(&self) -> Broken {
        Broken::Nothing
    }
}

/// One deliberately broken variant of the protocol, which the loom tests must catch (a loom-only
/// knob: in production [`Shared::broken`] does not exist and [`order`] is the identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    #[cfg_attr(not(loom), allow(dead_code))]
    Nothing,
    /// (C) stored `Relaxed`.
    RelaxedCommit,
    /// (P) stored `Relaxed`.
    RelaxedPublish,
    /// (L) left out.
    NoHorizonFence,
    /// [`clear_seq`] stores nothing.
    StaleWordAfterBatch,
}

/// `normal`, unless a loom test broke this ordering (`Relaxed` then).
#[inline(always)]
fn order<S: Shared + ?Sized>(_s: &S, _which: Broken, normal: Ordering) -> Ordering {
    #[cfg(loom)]
    if _s.broken() == _which {
        return Ordering::Relaxed;
    }
    normal
}

/// Whether a loom test removed this operation.
#[inline(always)]
fn removed<S: Shared + ?Sized>(_s: &S, _which: Broken) -> bool {
    #[cfg(loom)]
    if _s.broken() == _which {
        return true;
    }
    false
}

// ----- writer -----

/// Zeroes the sequence word at `pos` (if a frame header fits there): the word after a batch,
/// before the batch is published (see the module doc). The caller owns `pos` already (past the
/// commit, and in a ring freed by [`advance_horizon`]).
#[inline]
pub(crate) fn clear_seq<S: Shared>(s: &S, pos: u64) {
    if removed(s, Broken::StaleWordAfterBatch) {
        return;
    }
    if let Some(w) = s.seq_word(pos) {
        // Relaxed: ordered before the readers' view by (P) or (C), which follow it.
        w.store(0, Ordering::Relaxed);
    }
}

/// Publishes a batch whose first frame is at `pos` with sequence `seq`: every frame of the batch
/// becomes visible at once.
#[inline]
pub(crate) fn publish_batch<S: Shared>(s: &S, pos: u64, seq: u64) {
    if let Some(w) = s.seq_word(pos) {
        // (P) SYNC POINT: pairs with the Acquire load (P') in `published`.
        w.store(
            publish_word(seq),
            order(s, Broken::RelaxedPublish, Ordering::Release),
        );
    }
}

/// Publishes everything up to `pos` to readers that load the commit word, and stores the next
/// sequence (informational). The caller rings the doorbell next (`doorbell.rs`).
#[inline]
pub(crate) fn publish_commit<S: Shared>(s: &S, pos: u64, next_seq: u64) {
    // Relaxed: informational; published together with the commit by the swap below.
    s.line(Line::CommitSeq).store(next_seq, Ordering::Relaxed);
    // (C) SYNC POINT: the swap is a Release store that pairs with the readers' Acquire loads of
    // the commit word (C'), and a full fence (Dekker) against the doorbell's waiter count
    // (`doorbell::ring` loads it next; a sleeper increments it before checking this word): either
    // the writer sees the sleeper, or the sleeper sees this commit.
    s.line(Line::Commit)
        .swap(pos, order(s, Broken::RelaxedCommit, Ordering::SeqCst));
}

/// Marks the segment final at `pos` (the journal continues in the next segment file, which
/// exists already). The caller rings the doorbell next.
pub(crate) fn seal<S: Shared>(s: &S, pos: u64) {
    // SYNC POINT: Release pairs with the Acquire load in `sealed` (a reader that sees the seal
    // sees the commit stored before it, and the next segment file created before it); SeqCst is
    // also the Dekker fence against the doorbell's waiter count, as in `publish_commit`.
    s.line(Line::Sealed).swap(pos + 1, Ordering::SeqCst);
}

/// Ring: moves the overwrite horizon to `oldest` (sequence `oldest_seq`) before the writer
/// overwrites anything behind it.
#[inline]
pub(crate) fn advance_horizon<S: Shared>(s: &S, oldest: u64, oldest_seq: u64) {
    // Relaxed: both ordered before the overwriting stores by the fence below.
    s.line(Line::OldestSeq).store(oldest_seq, Ordering::Relaxed);
    s.line(Line::Oldest).store(oldest, Ordering::Relaxed);
    if !removed(s, Broken::NoHorizonFence) {
        // (L) SYNC POINT: orders the horizon stores before the overwriting stores that follow;
        // pairs with the Acquire fence (L') in `lapped`.
        fence(Ordering::Release);
    }
}

// ----- readers -----

/// Whether the frame at `pos` is published with sequence `seq` (its whole batch is then
/// visible).
#[inline]
pub(crate) fn published<S: Shared>(s: &S, pos: u64, seq: u64) -> bool {
    // (P') SYNC POINT: pairs with the Release store (P) in `publish_batch`.
    s.seq_word(pos)
        .is_some_and(|w| w.load(Ordering::Acquire) == publish_word(seq))
}

/// End of the committed frames.
#[inline]
pub(crate) fn committed<S: Shared>(s: &S) -> u64 {
    // (C') SYNC POINT: pairs with the commit swap (C) in `publish_commit`.
    s.line(Line::Commit).load(Ordering::Acquire)
}

/// The final position, once the writer has rolled to the next segment.
pub(crate) fn sealed<S: Shared>(s: &S) -> Option<u64> {
    // SYNC POINT: pairs with the swap in `seal`.
    match s.line(Line::Sealed).load(Ordering::Acquire) {
        0 => None,
        v => Some(v - 1),
    }
}

/// A word of the commit or horizon line, for tools and seeks (not for validating a copy: that is
/// [`lapped`]).
#[inline]
pub(crate) fn load<S: Shared>(s: &S, w: Line) -> u64 {
    // SYNC POINT: pairs with the commit swap (C) in `publish_commit` (every store to these
    // lines precedes a commit): a reader that loaded a commit sees at least the horizon and
    // sequence stored before it.
    s.line(w).load(Ordering::Acquire)
}

/// In a ring, whether the writer has overwritten `pos`; called after copying from it.
#[inline]
pub(crate) fn lapped<S: Shared>(s: &S, pos: u64) -> bool {
    if !s.ring() {
        return false;
    }
    // (L') SYNC POINT: pairs with the writer's Release fence (L) in `advance_horizon`: if
    // anything copied before this fence came from an overwrite, the load below sees the horizon
    // that was moved before it.
    fence(Ordering::Acquire);
    // Relaxed: ordered after the copy by the fence above.
    s.line(Line::Oldest).load(Ordering::Relaxed) > pos
}
