//! Loom tests of the journal's publication protocol: they run the production operations of
//! `publish.rs` (`publish_batch`, `publish_commit`, `clear_seq`, `advance_horizon`, `published`,
//! `committed`, `lapped`) on loom atomics, through a [`Model`] that implements [`Shared`]. The
//! test threads stand in for the writer and the frame codec only where those store plain data
//! words, in the order `JournalWriter` calls the protocol.
//!
//! Each protocol is checked as written and with one ordering weakened through the loom-only knob
//! [`Shared::broken`]; in the weakened version loom must find a reader that accepts a value that
//! is not the one committed at its position, which shows that the test can fail.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release loom_journal`
//! (scripts/ci/loom.sh).

use loom::sync::Arc;
use loom::thread;

use super::format::PUBLISHED;
use super::publish::{self, Broken, Line, Shared};
use crate::sync::{AtomicU64, Ordering};

/// Words per frame: enough for a torn (half old, half new) copy to exist.
const WORDS: usize = 2;
const FAILED: &str = "accepted a value that was not committed";

/// The value every data word of frame `k` holds (0 is the zeroed file).
fn value(k: u64) -> u64 {
    k + 1
}

/// A journal on loom atomics: frame `k` sits at logical position `k`, in slot `k % slots`.
struct Model {
    commit: AtomicU64,
    commit_seq: AtomicU64,
    sealed: AtomicU64,
    oldest: AtomicU64,
    oldest_seq: AtomicU64,
    /// The sequence word of each slot.
    seq: Vec<AtomicU64>,
    /// The data words of each slot.
    data: Vec<[AtomicU64; WORDS]>,
    ring: bool,
    broken: Broken,
}

impl Model {
    fn new(seq: &[u64], data: &[u64], ring: bool, broken: Broken) -> Arc<Self> {
        Arc::new(Self {
            commit: AtomicU64::new(0),
            commit_seq: AtomicU64::new(0),
            sealed: AtomicU64::new(0),
            oldest: AtomicU64::new(0),
            oldest_seq: AtomicU64::new(0),
            seq: seq.iter().map(|&v| AtomicU64::new(v)).collect(),
            data: data
                .iter()
                .map(|&v| [AtomicU64::new(v), AtomicU64::new(v)])
                .collect(),
            ring,
            broken,
        })
    }

    /// The writer's plain data stores of frame `k` (the frame codec's part).
    fn write_frame(&self, k: u64) {
        for w in &self.data[k as usize % self.data.len()] {
            w.store(value(k), Ordering::Relaxed);
        }
    }

    /// The reader's copy of the slot of frame `k`.
    fn copy(&self, k: u64) -> [u64; WORDS] {
        let slot = &self.data[k as usize % self.data.len()];
        [0, 1].map(|i| slot[i].load(Ordering::Relaxed))
    }
}

impl Shared for Model {
    type Word = AtomicU64;

    fn line(&self, w: Line) -> &AtomicU64 {
        match w {
            Line::Commit => &self.commit,
            Line::CommitSeq => &self.commit_seq,
            Line::Sealed => &self.sealed,
            Line::Oldest => &self.oldest,
            Line::OldestSeq => &self.oldest_seq,
        }
    }

    fn seq_word(&self, pos: u64) -> Option<&AtomicU64> {
        self.seq.get(pos as usize)
    }

    fn ring(&self) -> bool {
        self.ring
    }

    fn broken(&self) -> Broken {
        self.broken
    }
}

fn failure_message(err: Box<dyn std::any::Any + Send>) -> String {
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Runs `model` with `broken`, asserting that loom finds the bad read.
fn assert_caught(model: fn(Broken), broken: Broken) {
    let Err(err) = std::panic::catch_unwind(|| model(broken)) else {
        panic!("loom did not catch {broken:?}");
    };
    let msg = failure_message(err);
    assert!(msg.contains(FAILED), "failed for another reason: {msg}");
}

/// Appends two frames, committing each (`publish_commit`), while a reader reads every frame
/// below the commit it loaded (`committed`).
fn commit_model(broken: Broken) {
    loom::model(move || {
        let j = Model::new(&[], &[0, 0], false, broken);
        let w = {
            let j = j.clone();
            thread::spawn(move || {
                for k in 0..2 {
                    j.write_frame(k);
                    publish::publish_commit(&*j, k + 1, k + 1);
                }
            })
        };
        let c = publish::committed(&*j);
        for k in 0..c {
            assert_eq!(j.copy(k), [value(k); WORDS], "{FAILED} at {k}");
        }
        w.join().unwrap();
    });
}

#[test]
fn loom_journal_commit_publishes_every_word() {
    commit_model(Broken::Nothing);
}

/// The commit stored `Relaxed`: a reader can see the commit before the frame's words.
#[test]
fn loom_journal_catches_a_relaxed_commit() {
    assert_caught(commit_model, Broken::RelaxedCommit);
}

/// Ring of one slot: frame 0 is committed, then the writer overwrites the slot with frames 1 and
/// 2 (`advance_horizon` first, as `JournalWriter::make_room` does) while a reader copies the
/// newest frame it saw committed and validates the copy with `lapped`.
fn ring_model(broken: Broken) {
    loom::model(move || {
        let j = Model::new(&[], &[value(0)], true, broken);
        j.commit.store(1, Ordering::Relaxed);
        let w = {
            let j = j.clone();
            thread::spawn(move || {
                for k in 1..3 {
                    // Frame k - 1 leaves the ring before its slot is reused.
                    publish::advance_horizon(&*j, k, k);
                    j.write_frame(k);
                    publish::publish_commit(&*j, k + 1, k + 1);
                }
            })
        };
        // Read the newest committed frame, as `Segment::read` does.
        let pos = publish::committed(&*j) - 1;
        let copy = j.copy(pos);
        if !publish::lapped(&*j, pos) {
            assert_eq!(copy, [value(pos); WORDS], "{FAILED} at {pos}");
        }
        w.join().unwrap();
    });
}

#[test]
fn loom_journal_ring_reader_discards_overwritten_frames() {
    ring_model(Broken::Nothing);
}

/// Without the writer's Release fence after advancing `oldest`, a reader can copy the new
/// frame's words yet still see the old horizon, and accept them as frame 0.
#[test]
fn loom_journal_catches_a_missing_release_fence() {
    assert_caught(ring_model, Broken::NoHorizonFence);
}

/// Three frames in two batches ({0, 1}, then {2}); each batch is published by its first frame's
/// sequence word (`publish_batch`). A fourth slot holds a dead writer's stale frame whose word
/// already reads "published, 3" over data that is not message 3's. The batch {0, 1} clears the
/// word after it at commit; the batch of one {2} clears it as the frame is written, before the
/// frame's bytes (`clear_seq`, as `JournalWriter::commit` and `JournalWriter::begin` call it).
/// The reader walks from frame 0 while the frame at its position is `published`, as
/// `JournalReader::advance` does.
fn publication_model(broken: Broken) {
    loom::model(move || {
        let j = Model::new(&[0, 0, 0, PUBLISHED | 3], &[0, 0, 0, 999], false, broken);
        let w = {
            let j = j.clone();
            thread::spawn(move || {
                // Batch 1: the first frame's word stays 0; the second frame's is set (by the
                // frame codec's header store).
                j.write_frame(0);
                j.write_frame(1);
                j.seq[1].store(PUBLISHED | 1, Ordering::Relaxed);
                // Commit: clear the next frame's word, then publish the first.
                publish::clear_seq(&*j, 2);
                publish::publish_batch(&*j, 0, 0);
                // Batch 2, one frame: clear the word after it, then its bytes and header, then
                // the commit publishes it.
                publish::clear_seq(&*j, 3);
                j.write_frame(2);
                j.seq[2].store(0, Ordering::Relaxed);
                publish::publish_batch(&*j, 2, 2);
            })
        };
        let mut k = 0u64;
        while k < 4 && publish::published(&*j, k, k) {
            assert_eq!(j.copy(k), [value(k); WORDS], "{FAILED} at {k}");
            k += 1;
        }
        w.join().unwrap();
    });
}

#[test]
fn loom_journal_publication_shows_whole_batches() {
    publication_model(Broken::Nothing);
}

/// The first sequence word stored `Relaxed`: a reader can see the frame published before its
/// data.
#[test]
fn loom_journal_catches_a_relaxed_publication() {
    assert_caught(publication_model, Broken::RelaxedPublish);
}

/// Without clearing the word after a batch, a reader that read it walks on into the dead
/// writer's stale frame.
#[test]
fn loom_journal_catches_a_stale_word_after_a_batch() {
    assert_caught(publication_model, Broken::StaleWordAfterBatch);
}
