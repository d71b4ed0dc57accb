//! A loom model of the reader registry's claim protocol (`readers.rs`, docs/FORMAT.md 7.4).
//!
//! Unlike the journal's publication protocol (`loom_publish.rs`), which loom checks as the
//! production code, this model repeats the registry's loads, stores and fences on loom atomics.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release loom_journal`
//! (scripts/ci/loom.sh).

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
mod model {
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
