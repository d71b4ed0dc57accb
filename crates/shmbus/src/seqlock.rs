//! The seqlock protocol of a slot and of a candle region: one writer, any number of readers,
//! never a torn value.
//!
//! The algorithm is the one of crossbeam-utils' `seq_lock.rs` and of Boehm, "Can seqlocks get
//! along with programming language memory models?" (MSPC 2012): the payload is copied as
//! `Relaxed` atomic 64-bit words, so a reader racing a writer reads stale or mixed words (which
//! it then discards) but never commits a data race. A sequence number is even when the slot is
//! stable and odd while a write is in progress; 0 means never written.
//!
//! ```text
//! writer                                   reader
//! s = seq (only the writer stores it)      s1 = seq.load(Acquire)        (A) pairs with (W3)
//! seq.store(s + 1, Relaxed)        (W1)    if s1 is odd: retry
//! fence(Release)                   (W2)    words.load(Relaxed) each
//! words.store(Relaxed) each                fence(Acquire)                (F) pairs with (W2)
//! seq.store(s + 2, Release)        (W3)    s2 = seq.load(Relaxed)
//!                                          valid iff s1 == s2
//! ```
//!
//! If the reader saw any word of a newer write, (F) synchronises with (W2), so `s2` sees (W1) or
//! later and the read is discarded. If `s1` came from (W3), everything the writer stored before it
//! is visible to the word loads.
//!
//! The writer's half is [`begin_write`] / [`end_write`] (or [`write`]); the reader's half is
//! [`optimistic_read`] (A) and [`validate_read`] (F and `s2`), as crossbeam's `SeqLock`. Every
//! read in the crate goes through them: [`try_read`] (one attempt at a slot's words, the
//! inlined fast path), [`try_read_with`] (one attempt at any copy) and [`read_retrying`] (the
//! one retry loop, used by a slot's slow path and by every candle read, each with its own
//! backoff policy).

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering, fence};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Result of one read attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAttempt {
    /// A consistent copy at this (even) sequence.
    Stable(u64),
    /// A write is in progress (odd sequence): try again, or check that the writer lives.
    InProgress(u64),
    /// A write happened during the copy: try again.
    Raced,
}

/// The sequence to store when a write begins.
#[inline]
pub fn begin_write(seq: &AtomicU64) -> u64 {
    // Only the writer (who holds the region's writer lock) stores the sequence, so a Relaxed
    // load sees its own last store.
    let s = seq.load(Ordering::Relaxed);
    // (W1) odd: a write is in progress.
    seq.store(s | 1, Ordering::Relaxed);
    // (W2) orders (W1) before the payload stores; pairs with the reader's Acquire fence (F).
    fence(Ordering::Release);
    s | 1
}

/// Publishes the write begun by [`begin_write`], which returned `odd`.
#[inline]
pub fn end_write(seq: &AtomicU64, odd: u64) {
    // (W3) even again; pairs with the reader's Acquire load (A).
    seq.store(odd.wrapping_add(1), Ordering::Release);
}

/// Writes `src` into `dst` under the seqlock.
#[inline]
pub fn write(seq: &AtomicU64, dst: &[AtomicU64], src: &[u8]) {
    let odd = begin_write(seq);
    store_words(dst, src);
    end_write(seq, odd);
}

/// Stores `src` (a multiple of 8 bytes, native byte order) into `dst` word by word.
#[inline]
pub fn store_words(dst: &[AtomicU64], src: &[u8]) {
    for (d, s) in dst.iter().zip(src.chunks_exact(8)) {
        let word = u64::from_ne_bytes(s.try_into().expect("chunks of 8"));
        d.store(word, Ordering::Relaxed);
    }
}

/// Why an attempt gave no stable copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contended {
    /// A write is in progress (this odd sequence): wait, or check that the writer lives.
    InProgress(u64),
    /// A write happened during the copy: try again.
    Raced,
}

/// Begins an optimistic read (crossbeam's `optimistic_read`): the even sequence to validate the
/// copy against, or `Err(odd)` if a write is in progress.
#[inline(always)]
pub fn optimistic_read(seq: &AtomicU64) -> Result<u64, u64> {
    // (A) pairs with (W3): a copy begun at an even sequence sees every store of that write.
    let s1 = seq.load(Ordering::Acquire);
    if s1 & 1 == 1 { Err(s1) } else { Ok(s1) }
}

/// Ends an optimistic read begun at `stamp` (crossbeam's `validate_read`): whether no write
/// touched the words copied since, so the copy is consistent.
#[inline(always)]
pub fn validate_read(seq: &AtomicU64, stamp: u64) -> bool {
    // (F) pairs with (W2): if any word copied came from a newer write, s2 sees its (W1).
    fence(Ordering::Acquire);
    let s2 = seq.load(Ordering::Relaxed);
    s2 == stamp
}

/// One attempt at `read` under the seqlock: its result and the (even) sequence it is
/// consistent at, or why there is none. `read` must only load (with `Relaxed` atomic loads)
/// and its result must be discarded unless this returns `Ok`.
#[inline(always)]
pub fn try_read_with<R>(seq: &AtomicU64, read: impl FnOnce() -> R) -> Result<(u64, R), Contended> {
    let s1 = optimistic_read(seq).map_err(Contended::InProgress)?;
    let result = read();
    if validate_read(seq, s1) {
        Ok((s1, result))
    } else {
        Err(Contended::Raced)
    }
}

/// The seqlock read loop: retries `read` until a stable copy, and after each failed attempt
/// (numbered from 0) lets `backoff` spin, yield or give up with an error. The retry policy is
/// the caller's (a slot checks that its writer lives and waits for a time; a candle read
/// counts attempts); the protocol is here.
#[inline]
pub fn read_retrying<R, E>(
    seq: &AtomicU64,
    mut read: impl FnMut() -> R,
    mut backoff: impl FnMut(u32, Contended) -> Result<(), E>,
) -> Result<(u64, R), E> {
    let mut attempt = 0u32;
    loop {
        match try_read_with(seq, &mut read) {
            Ok(stable) => return Ok(stable),
            Err(why) => {
                backoff(attempt, why)?;
                attempt = attempt.wrapping_add(1);
            }
        }
    }
}

/// Copies `src` into `out` (a multiple of 8 bytes, native byte order) word by word with
/// `Relaxed` loads: the copy of [`try_read`], to run under [`try_read_with`].
#[inline(always)]
pub fn load_words(src: &[AtomicU64], out: &mut [u8]) {
    for (o, s) in out.chunks_exact_mut(8).zip(src) {
        o.copy_from_slice(&s.load(Ordering::Relaxed).to_ne_bytes());
    }
}

/// Tries once to copy `src` into `out`.
#[inline]
pub fn try_read(seq: &AtomicU64, src: &[AtomicU64], out: &mut [u8]) -> ReadAttempt {
    match try_read_with(seq, || load_words(src, out)) {
        Ok((s, ())) => ReadAttempt::Stable(s),
        Err(Contended::InProgress(odd)) => ReadAttempt::InProgress(odd),
        Err(Contended::Raced) => ReadAttempt::Raced,
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release seqlock`.
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    const WORDS: usize = 2;

    fn model(writer: fn(&AtomicU64, &[AtomicU64], &[u8])) {
        loom::model(move || {
            let seq = Arc::new(AtomicU64::new(0));
            let data = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
            let (s2, d2) = (seq.clone(), data.clone());
            let w = thread::spawn(move || {
                for k in 1..=2u64 {
                    let bytes: Vec<u8> = [k; WORDS].iter().flat_map(|w| w.to_ne_bytes()).collect();
                    writer(&s2, &d2[..], &bytes);
                }
            });
            let mut bytes = [0u8; WORDS * 8];
            for _ in 0..2 {
                if let ReadAttempt::Stable(s) = try_read(&seq, &data[..], &mut bytes) {
                    let out: Vec<u64> = bytes
                        .chunks_exact(8)
                        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                        .collect();
                    // Every word of a stable copy belongs to the write that produced sequence s.
                    assert_eq!(out, [s / 2; WORDS], "torn or stale read at sequence {s}");
                }
            }
            w.join().unwrap();
        });
    }

    #[test]
    fn seqlock_never_returns_a_torn_value() {
        model(write);
    }

    /// The read loop (`read_retrying`, as slots' slow path and candles use it) with a bounded
    /// backoff: a copy it returns is never torn, and a copy begun mid-write is retried.
    #[test]
    fn read_loop_never_returns_a_torn_value() {
        loom::model(|| {
            let seq = Arc::new(AtomicU64::new(0));
            let data = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
            let (s2, d2) = (seq.clone(), data.clone());
            let w = thread::spawn(move || {
                let bytes: Vec<u8> = [1u64; WORDS].iter().flat_map(|w| w.to_ne_bytes()).collect();
                write(&s2, &d2[..], &bytes);
            });
            let copy = || [0, 1].map(|i| data[i].load(Ordering::Relaxed));
            let got = read_retrying(&seq, copy, |attempt, _| {
                if attempt >= 2 {
                    return Err(());
                }
                thread::yield_now();
                Ok(())
            });
            if let Ok((s, words)) = got {
                assert_eq!(words, [s / 2; WORDS], "torn or stale read at sequence {s}");
            }
            w.join().unwrap();
        });
    }

    /// The same writer with the final store `Relaxed` instead of `Release`: loom must find a
    /// reader that accepts a value not matching its sequence, proving the model can fail.
    #[test]
    fn loom_catches_a_missing_release() {
        fn broken(seq: &AtomicU64, dst: &[AtomicU64], src: &[u8]) {
            let odd = begin_write(seq);
            store_words(dst, src);
            seq.store(odd.wrapping_add(1), Ordering::Relaxed);
        }
        let err = std::panic::catch_unwind(|| model(broken))
            .expect_err("loom did not catch the broken seqlock");
        let msg = err
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        assert!(
            msg.contains("torn or stale"),
            "failed for another reason: {msg}"
        );
    }
}
