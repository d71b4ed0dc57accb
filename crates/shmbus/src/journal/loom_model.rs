//! A loom model of the journal's two synchronisation protocols (`journal/mod.rs`, "Protocol").
//! The real code works on a `Mapping` of std atomics, which loom cannot see,
//! so the model repeats its loads, stores, swaps and fences on loom atomics:
//!
//! ```text
//! commit (Segment::publish_commit / Segment::commit)
//! writer                                  reader
//! data.store(Relaxed) each word           c = commit.load(Acquire)         pairs with (C)
//! commit.swap(end, SeqCst)        (C)     data.load(Relaxed) below c
//!
//! ring overwrite (JournalWriter::make_room / Segment::lapped)
//! writer                                  reader
//! oldest.store(new, Relaxed)              data.load(Relaxed) each word
//! fence(Release)                  (R)     fence(Acquire)                   pairs with (R)
//! data.store(Relaxed) each word           o = oldest.load(Relaxed)
//! commit.swap(end, SeqCst)                discard the copy if o > pos
//!
//! per-frame publication (JournalWriter::commit / Segment::published)
//! writer                                  reader (at its position p)
//! frames of the batch: data, and the      s = seq_word(p).load(Acquire)    pairs with (P)
//!   sequence word of every frame but      if s == PUBLISHED | expected:
//!   the first (Relaxed)                       read the frame (Relaxed), go on
//! seq_word(end).store(0, Relaxed)             to the next frame the same way
//! seq_word(first).store(PUBLISHED | seq,
//!   Release)                      (P)
//! ```
//!
//! Each protocol is checked as written and with one ordering weakened; loom must find a reader
//! that accepts a value that is not the one committed at its position in the weakened version,
//! which shows that the model can fail.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release loom_journal`
//! (scripts/ci/loom.sh).

#[cfg(all(test, loom))]
mod loom_tests {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, Ordering, fence};
    use loom::thread;

    /// Words per frame: enough for a torn (half old, half new) copy to exist.
    const WORDS: usize = 2;
    const FAILED: &str = "accepted a value that was not committed";

    /// The value every word of frame `k` holds (0 is the zeroed file).
    fn value(k: u64) -> u64 {
        k + 1
    }

    /// Shared state: a data area of `frames` frames, the commit word, the `oldest` horizon.
    struct Journal {
        data: Vec<[AtomicU64; WORDS]>,
        commit: AtomicU64,
        oldest: AtomicU64,
    }

    impl Journal {
        fn new(frames: usize) -> Arc<Self> {
            Arc::new(Self {
                data: (0..frames)
                    .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                    .collect(),
                commit: AtomicU64::new(0),
                oldest: AtomicU64::new(0),
            })
        }

        /// Writes frame `k` (logical position `k`) into slot `k % frames`.
        fn write_frame(&self, k: u64) {
            let slot = &self.data[k as usize % self.data.len()];
            for w in slot {
                w.store(value(k), Ordering::Relaxed);
            }
        }
    }

    /// The writer's commit: `SeqCst` swap in the real code, or a weakened ordering.
    type Commit = fn(&AtomicU64, u64);

    fn commit_seqcst(c: &AtomicU64, end: u64) {
        c.swap(end, Ordering::SeqCst);
    }

    /// Appends two frames, committing each, while a reader reads every committed frame.
    fn commit_model(commit: Commit) {
        loom::model(move || {
            let j = Journal::new(2);
            let w = {
                let j = j.clone();
                thread::spawn(move || {
                    for k in 0..2 {
                        j.write_frame(k);
                        commit(&j.commit, k + 1);
                    }
                })
            };
            let c = j.commit.load(Ordering::Acquire);
            for k in 0..c {
                for word in &j.data[k as usize] {
                    assert_eq!(word.load(Ordering::Relaxed), value(k), "{FAILED} at {k}");
                }
            }
            w.join().unwrap();
        });
    }

    #[test]
    fn loom_journal_commit_publishes_every_word() {
        commit_model(commit_seqcst);
    }

    fn failure_message(err: Box<dyn std::any::Any + Send>) -> String {
        err.downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    }

    /// The commit stored `Relaxed`: a reader can see the commit before the frame's words.
    #[test]
    fn loom_journal_catches_a_relaxed_commit() {
        fn relaxed(c: &AtomicU64, end: u64) {
            c.store(end, Ordering::Relaxed);
        }
        let err = std::panic::catch_unwind(|| commit_model(relaxed))
            .expect_err("loom did not catch the relaxed commit");
        let msg = failure_message(err);
        assert!(msg.contains(FAILED), "failed for another reason: {msg}");
    }

    /// Ring of one frame: frame 0 is committed, then the writer overwrites the slot with frames
    /// 1 and 2 while a reader copies the newest frame it saw committed. `fenced` is the real
    /// writer; without the fence the horizon store may become visible after the overwriting
    /// stores.
    fn ring_model(fenced: bool) {
        loom::model(move || {
            let j = Journal::new(1);
            j.write_frame(0);
            j.commit.store(1, Ordering::SeqCst);
            let w = {
                let j = j.clone();
                thread::spawn(move || {
                    for k in 1..3 {
                        // make_room: frame k - 1 leaves the ring before its slot is reused.
                        j.oldest.store(k, Ordering::Relaxed);
                        if fenced {
                            fence(Ordering::Release);
                        }
                        j.write_frame(k);
                        j.commit.swap(k + 1, Ordering::SeqCst);
                    }
                })
            };
            // Read the newest committed frame, as Segment::read_at does.
            let pos = j.commit.load(Ordering::Acquire) - 1;
            let copy: Vec<u64> = j.data[0]
                .iter()
                .map(|w| w.load(Ordering::Relaxed))
                .collect();
            fence(Ordering::Acquire);
            let lapped = j.oldest.load(Ordering::Relaxed) > pos;
            if !lapped {
                assert_eq!(copy, [value(pos); WORDS], "{FAILED} at {pos}");
            }
            w.join().unwrap();
        });
    }

    const PUBLISHED: u64 = 1 << 63;

    /// Three frames in two batches ({0, 1}, then {2}); each batch is published by its first
    /// frame's sequence word, stored last with Release (or Relaxed, the weakened variant). A
    /// fourth slot holds a dead writer's stale frame whose word already reads "published, 3"
    /// over data that is not message 3's. The batch {0, 1} zeroes the word after it at commit;
    /// the batch of one {2} zeroes it as the frame is written, before the frame's bytes (or not
    /// at all, the broken variant). The reader walks from frame 0 while the frame at its
    /// position is published, as `JournalReader::advance` does.
    fn publication_model(release: bool, zero_ahead: bool) {
        let publish = if release {
            Ordering::Release
        } else {
            Ordering::Relaxed
        };
        loom::model(move || {
            let seq: Arc<Vec<AtomicU64>> = Arc::new(
                [0, 0, 0, PUBLISHED | 3]
                    .into_iter()
                    .map(AtomicU64::new)
                    .collect(),
            );
            let data: Arc<Vec<AtomicU64>> =
                Arc::new([0, 0, 0, 999].into_iter().map(AtomicU64::new).collect());
            let w = {
                let (seq, data) = (seq.clone(), data.clone());
                thread::spawn(move || {
                    // Batch 1: the first frame's word stays 0; the second frame's is set.
                    data[0].store(value(0), Ordering::Relaxed);
                    data[1].store(value(1), Ordering::Relaxed);
                    seq[1].store(PUBLISHED | 1, Ordering::Relaxed);
                    // Commit: zero the next frame's word, then publish the first.
                    seq[2].store(0, Ordering::Relaxed);
                    seq[0].store(PUBLISHED, publish);
                    // Batch 2, one frame: zero the word after it, then its bytes and header,
                    // then the commit publishes it.
                    if zero_ahead {
                        seq[3].store(0, Ordering::Relaxed);
                    }
                    data[2].store(value(2), Ordering::Relaxed);
                    seq[2].store(0, Ordering::Relaxed);
                    seq[2].store(PUBLISHED | 2, publish);
                })
            };
            let mut k = 0u64;
            while k < 4 && seq[k as usize].load(Ordering::Acquire) == PUBLISHED | k {
                assert_eq!(
                    data[k as usize].load(Ordering::Relaxed),
                    value(k),
                    "{FAILED} at {k}"
                );
                k += 1;
            }
            w.join().unwrap();
        });
    }

    #[test]
    fn loom_journal_publication_shows_whole_batches() {
        publication_model(true, true);
    }

    /// The first sequence word stored `Relaxed`: a reader can see the frame published before
    /// its data.
    #[test]
    fn loom_journal_catches_a_relaxed_publication() {
        let err = std::panic::catch_unwind(|| publication_model(false, true))
            .expect_err("loom did not catch the relaxed publication");
        let msg = failure_message(err);
        assert!(msg.contains(FAILED), "failed for another reason: {msg}");
    }

    /// Without zeroing the word after a batch of one, a reader that read it walks on into the
    /// dead writer's stale frame.
    #[test]
    fn loom_journal_catches_a_stale_word_after_a_batch() {
        let err = std::panic::catch_unwind(|| publication_model(true, false))
            .expect_err("loom did not catch the stale word");
        let msg = failure_message(err);
        assert!(msg.contains(FAILED), "failed for another reason: {msg}");
    }

    #[test]
    fn loom_journal_ring_reader_discards_overwritten_frames() {
        ring_model(true);
    }

    /// Without the writer's Release fence after advancing `oldest`, a reader can copy the new
    /// frame's words yet still see the old horizon, and accept them as frame 0.
    #[test]
    fn loom_journal_catches_a_missing_release_fence() {
        let err = std::panic::catch_unwind(|| ring_model(false))
            .expect_err("loom did not catch the missing fence");
        let msg = failure_message(err);
        assert!(msg.contains(FAILED), "failed for another reason: {msg}");
    }
}

/// A loom model of the reader registry's claim protocol (`journal/readers.rs`, docs/FORMAT.md
/// 7.4), on loom atomics like the models above: two registrants reclaim the entry of a dead
/// reader at once while a lister reads it.
///
/// ```text
/// claimer                                         lister
/// w = state.load(Acquire)                   (C1)  s1 = state.load(Acquire)      (L1) <- (C4)
/// state.CAS(w, CLAIMING|gen+1|me, Relaxed)  (C2)  name.load(Relaxed)
/// fence(Release)                            (C3)  fence(Acquire)                (L2) <- (C3)
/// name.store(Relaxed)                             s2 = state.load(Relaxed)
/// state.store(ACTIVE|gen+1|me, Release)     (C4)  valid iff s1 == s2
/// ```
///
/// Exactly one claimer must win, and a valid listing must never pair one claim's pid with
/// another claim's name; without (C3) loom must find a listing that does.
#[cfg(all(test, loom))]
mod loom_readers {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};
    use loom::thread;

    const CLAIMING: u64 = 1;
    const ACTIVE: u64 = 2;
    const DEAD_PID: u64 = 1;
    const FAILED: &str = "listed a name with another claim's pid";

    fn word(generation: u64, state: u64, pid: u64) -> u64 {
        (generation << 34) | (state << 32) | pid
    }

    /// The name a claimer with this pid writes (one word stands for the 32 bytes).
    fn name_of(pid: u64) -> u64 {
        pid * 100
    }

    struct Entry {
        state: AtomicU64,
        name: AtomicU64,
        wins: AtomicUsize,
    }

    fn claim(e: &Entry, me: u64, release_fence: bool) {
        // (C1)
        let w = e.state.load(Ordering::Acquire);
        // Only the dead reader's entry is takeable (its pid does not exist).
        if w as u32 as u64 != DEAD_PID {
            return;
        }
        let generation = (w >> 34) + 1;
        // (C2)
        if e.state
            .compare_exchange(
                w,
                word(generation, CLAIMING, me),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return;
        }
        if release_fence {
            // (C3)
            fence(Ordering::Release);
        }
        e.name.store(name_of(me), Ordering::Relaxed);
        // (C4)
        e.state
            .store(word(generation, ACTIVE, me), Ordering::Release);
        e.wins.fetch_add(1, Ordering::Relaxed);
    }

    fn list(e: &Entry) {
        // (L1)
        let s1 = e.state.load(Ordering::Acquire);
        if (s1 >> 32) & 3 != ACTIVE {
            return;
        }
        let name = e.name.load(Ordering::Relaxed);
        // (L2)
        fence(Ordering::Acquire);
        let s2 = e.state.load(Ordering::Relaxed);
        if s1 == s2 {
            assert_eq!(name, name_of(s1 as u32 as u64), "{FAILED}");
        }
    }

    fn model(release_fence: bool) {
        loom::model(move || {
            // A reader (pid 1) registered, then was killed: its entry is active.
            let e = Arc::new(Entry {
                state: AtomicU64::new(word(1, ACTIVE, DEAD_PID)),
                name: AtomicU64::new(name_of(DEAD_PID)),
                wins: AtomicUsize::new(0),
            });
            let claimers: Vec<_> = [2u64, 3]
                .into_iter()
                .map(|me| {
                    let e = e.clone();
                    thread::spawn(move || claim(&e, me, release_fence))
                })
                .collect();
            list(&e);
            for c in claimers {
                c.join().unwrap();
            }
            assert_eq!(
                e.wins.load(Ordering::Relaxed),
                1,
                "not exactly one claim won"
            );
            list(&e);
        });
    }

    #[test]
    fn loom_journal_readers_one_claim_wins_and_listings_are_consistent() {
        model(true);
    }

    #[test]
    fn loom_journal_readers_catch_a_missing_release_fence() {
        let err = std::panic::catch_unwind(|| model(false))
            .expect_err("loom did not catch the missing fence");
        let msg = err
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        assert!(msg.contains(FAILED), "failed for another reason: {msg}");
    }
}
