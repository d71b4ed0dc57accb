//! Loom tests of the reader registry's claim protocol: they run the production operations of
//! `claim.rs` (`claim`, `copy`, `release`) on loom atomics, through a [`Model`] entry that
//! implements [`Entry`]; only the entry's storage (a name word instead of 32 bytes and three
//! words) is the test's own.
//!
//! Two registrants reclaim the entry of a dead reader at once while a lister copies it, then the
//! winner releases it. Exactly one claimer must win, and a valid copy must never pair one
//! claim's pid with another claim's name; with the Release fence (C3) left out through the
//! loom-only knob [`Entry::without_claim_fence`], loom must find a copy that does.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release loom_journal`
//! (scripts/ci/loom.sh).

use loom::sync::Arc;
use loom::thread;

use super::claim::{self, ACTIVE, Entry, FREE, Listing, pid_of, state_of, word};
use crate::sync::{AtomicU64, Ordering};

const DEAD_PID: u32 = 1;
const FAILED: &str = "listed a name with another claim's pid";

/// The name a claimer with this pid writes (one word stands for the 32 bytes).
fn name_of(pid: u32) -> u64 {
    u64::from(pid) * 100
}

struct Model {
    state: AtomicU64,
    name: AtomicU64,
    no_fence: bool,
}

impl Entry for Model {
    type Word = AtomicU64;
    type Fields = u64;

    fn state(&self) -> &AtomicU64 {
        &self.state
    }
    fn store_fields(&self, name: &u64) {
        self.name.store(*name, Ordering::Relaxed);
    }
    fn load_fields(&self) -> u64 {
        self.name.load(Ordering::Relaxed)
    }
    fn without_claim_fence(&self) -> bool {
        self.no_fence
    }
}

/// What the registry's `list` does with one entry: a valid copy names its claim's reader.
fn list(e: &Model) {
    if let Listing::Active(s, name) = claim::copy(e) {
        assert_eq!(name, name_of(pid_of(s)), "{FAILED}");
    }
}

fn model(no_fence: bool) {
    loom::model(move || {
        // A reader (pid 1) registered, then was killed: its entry is active.
        let e = Arc::new(Model {
            state: AtomicU64::new(word(1, ACTIVE, DEAD_PID)),
            name: AtomicU64::new(name_of(DEAD_PID)),
            no_fence,
        });
        let claimers: Vec<_> = [2u32, 3]
            .into_iter()
            .map(|me| {
                let e = e.clone();
                // Only the dead reader's entry is takeable (its pid does not exist).
                thread::spawn(move || {
                    claim::claim(&*e, me, &name_of(me), |w| pid_of(w) == DEAD_PID)
                })
            })
            .collect();
        list(&e);
        let won: Vec<u64> = claimers
            .into_iter()
            .filter_map(|c| c.join().unwrap())
            .collect();
        assert_eq!(won.len(), 1, "not exactly one claim won");
        list(&e);
        // The winner releases it: free, same generation, and a stale release does nothing.
        claim::release(&*e, won[0]);
        let w = e.state.load(Ordering::Relaxed);
        assert_eq!(state_of(w), FREE);
        claim::release(&*e, won[0]);
        assert_eq!(e.state.load(Ordering::Relaxed), w);
    });
}

#[test]
fn loom_journal_readers_one_claim_wins_and_listings_are_consistent() {
    model(false);
}

#[test]
fn loom_journal_readers_catch_a_missing_release_fence() {
    let err =
        std::panic::catch_unwind(|| model(true)).expect_err("loom did not catch the missing fence");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(msg.contains(FAILED), "failed for another reason: {msg}");
}
