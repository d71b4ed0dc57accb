//! The doorbell (docs/FORMAT.md 5.4): how a reader sleeps until the writer commits, across
//! processes, and how the writer wakes it paying a system call only when someone sleeps.
//!
//! Two u32 words in the journal's doorbell page (the only bytes a reader ever writes): a futex
//! word, incremented by the writer before each wake-up, and the count of readers about to sleep.
//!
//! ```text
//! reader                                          writer
//! waiters.fetch_add(1, SeqCst)            (W1)    commit.swap(new, SeqCst)        (C)
//! loop: f = futex.load(SeqCst)            (W2)    if waiters.load(SeqCst) > 0:    (R1)
//!   if commit changed, sealed, timed out: break     futex.fetch_add(1, SeqCst)    (R2)
//!   FUTEX_WAIT(futex, f, remaining)                 FUTEX_WAKE(futex, all)
//! waiters.fetch_sub(1, SeqCst)
//! ```
//!
//! (W1) and (C)/(R1) form a Dekker pair: both sides store, then load the other's word, with a
//! full fence between (SeqCst read-modify-writes), so either the writer sees the sleeper and
//! wakes it, or the sleeper sees the new commit before it sleeps. (R2) before the wake and (W2)
//! before the check make the wait return at once if a wake-up came in between. Every wait has a
//! deadline, so a dead writer cannot hang a reader.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::os;

/// The doorbell's two words.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Doorbell<'a> {
    pub futex: &'a AtomicU32,
    pub waiters: &'a AtomicU32,
}

impl Doorbell<'_> {
    /// Wakes every sleeping reader, if any; called right after the commit (or seal) swap.
    #[inline]
    pub(crate) fn ring(self) {
        // (R1) SYNC POINT: SeqCst, the load of the Dekker pair with the reader's increment (W1);
        // the writer's commit swap (C) before it is the store.
        if self.waiters.load(Ordering::SeqCst) > 0 {
            // (R2) SYNC POINT: pairs with the sleeper's futex load (W2): a sleeper that loaded
            // the futex word before this increment does not sleep (FUTEX_WAIT compares it).
            self.futex.fetch_add(1, Ordering::SeqCst);
            os::futex_wake_all(self.futex);
        }
    }
}

/// Blocks until `changed()`, or `deadline`. Spins for `spin` first. Then, with a doorbell
/// (`bell()`, asked only once spinning is over: a reader maps its page then, and a wait that
/// ends while spinning never pays for that) it sleeps on the futex; without (a reader that may
/// not write the journal's file) it polls gently. Never sleeps past the deadline, so a dead
/// writer cannot hang us.
pub(crate) fn wait<'a>(
    bell: impl FnOnce() -> Option<Doorbell<'a>>,
    changed: impl Fn() -> bool,
    deadline: Instant,
    spin: Duration,
) {
    let spin_until = Instant::now() + spin;
    while Instant::now() < spin_until.min(deadline) {
        for _ in 0..64 {
            if changed() {
                return;
            }
            std::hint::spin_loop();
        }
    }
    match bell() {
        Some(Doorbell { futex, waiters }) => {
            // (W1) SYNC POINT: the store of the Dekker pair with the writer's commit swap (C) and
            // waiter load (R1); its full fence orders it before the `changed()` loads below.
            waiters.fetch_add(1, Ordering::SeqCst);
            loop {
                // (W2) SYNC POINT: pairs with the writer's increment (R2): loaded before the
                // check, so a wake-up after the check makes FUTEX_WAIT return at once.
                let f = futex.load(Ordering::SeqCst);
                let now = Instant::now();
                if changed() || now >= deadline {
                    break;
                }
                os::futex_wait(futex, f, deadline - now);
            }
            // SeqCst: the sleeper leaves; the writer's (R1) may still see it and pay one
            // needless wake-up, never miss a sleeper.
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
