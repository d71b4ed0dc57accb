//! The journal's doorbell: sleep on a 32-bit word of a shared mapping until another process
//! changes it and rings.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps until `word` no longer holds `expected`, a [`futex_wake_all`] on it, or the timeout.
///
/// Linux: `futex(FUTEX_WAIT)`, shared (not process-private): it works across processes and on
/// read-only mappings. Returns nothing: a change of value (`EAGAIN`), a timeout (`ETIMEDOUT`), a
/// signal (`EINTR`) and a wake all mean "look again", and the caller re-checks the word.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = rustix::thread::futex::Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // EAGAIN (value changed), ETIMEDOUT and EINTR all mean "look again": the caller re-checks.
    let _ = rustix::thread::futex::wait(
        word,
        rustix::thread::futex::Flags::empty(),
        expected,
        Some(&ts),
    );
}

/// Wakes every waiter sleeping on `word`, in any process.
///
/// Linux: `futex(FUTEX_WAKE, INT_MAX)`, shared. Returns nothing: with no sleeper it is a no-op,
/// and it cannot fail on a word of a live mapping.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), u32::MAX);
}
