//! The floor: what any shared-memory transport between the two pinned processes pays at least.
//!
//! * Cache-line ping-pong: one 64-byte-aligned `u64` flag per direction, each on its own
//!   128-byte block (so the adjacent-line prefetcher never pairs them); the waiting side spins
//!   with `pause`. One-way = round trip / 2 = one cache-line transfer between the two cores.
//! * Message ping-pong: the same, carrying the benchmark's payload. The payload's bytes sit right
//!   after an 8-byte flag on a 64-byte-aligned line; the writer stores the payload, then the
//!   flag; the reader waits for the flag, then copies the payload out and checks its last word.
//!   No framing, no bounds checks, no sequence: what any shared-memory transport of a message of
//!   this size pays at least. A 64-byte payload (72 bytes with the flag) spans two cache lines,
//!   and the second line is a transfer the one-line floor does not pay.
//! * Futex ping-pong: one `u32` word per direction, the waiting side really sleeps in
//!   `futex(FUTEX_WAIT)` (shared, not process-private) and the other wakes it. One-way = one
//!   wake-up of a sleeping process: the floor of any blocking reader.
//!
//! Both sides run the same sequence of phases, so the counters they store stay in step: a phase
//! continues where the previous phase on the same words stopped.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use memmap2::MmapMut;
use rustix::thread::futex;

use super::{Stall, ns};
use crate::watch::stop_flag;

const FLAG_AB: usize = 0;
const FLAG_BA: usize = 128;
const FUTEX_AB: usize = 256;
const FUTEX_BA: usize = 384;
/// The bytes before the message areas (flags and futex words).
const HEAD: usize = 4096;
/// The message areas (one per direction, each in whole pages) follow: A to B first.
const MSG_AB: usize = HEAD;
/// A futex wait never sleeps longer than this, so Ctrl-C and a dead peer are noticed.
const FUTEX_TIMEOUT: Duration = Duration::from_millis(100);

/// The shared page of the floor measurements (a plain file in /dev/shm).
#[derive(Debug)]
pub struct Shared {
    map: MmapMut,
    spin_seq: u64,
    msg_seq: u64,
    futex_seq: u32,
    /// Payload bytes of the message ping-pong (a multiple of 8, at least 8).
    size: usize,
    /// Offset of the B-to-A message area.
    msg_ba: usize,
}

/// The payload bytes the message ping-pong carries for a `size`-byte message: whole words.
fn payload_bytes(size: usize) -> usize {
    size.max(8).next_multiple_of(8)
}

/// Bytes of one message area: the flag and the payload, in whole pages.
fn area(size: usize) -> usize {
    (8 + payload_bytes(size)).div_ceil(4096) * 4096
}

impl Shared {
    /// Creates the file (exclusive) and maps it; `size` is the payload of the message
    /// ping-pong (rounded up to 8 bytes).
    pub fn create(path: &Path, size: usize) -> Result<Self> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.set_len(Self::len_for(size) as u64)?;
        Self::map(&f, path, size)
    }

    fn len_for(size: usize) -> usize {
        HEAD + 2 * area(size)
    }

    /// Maps the file another process created with the same `size`.
    pub fn open(path: &Path, size: usize) -> Result<Self> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Self::map(&f, path, size)
    }

    fn map(f: &std::fs::File, path: &Path, size: usize) -> Result<Self> {
        let want = Self::len_for(size);
        let len = f.metadata()?.len();
        if len != want as u64 {
            bail!("{} is {len} bytes, not {want}", path.display());
        }
        // SAFETY: the file is ours (created by this benchmark, mode 0600 by umask at worst), is
        // never truncated while mapped, and the mapping is only ever accessed through atomics
        // (see `u64_at`), so a concurrent change by the peer process is not undefined behaviour.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .len(want)
                .populate()
                .map_mut(f)?
        };
        Ok(Self {
            map,
            spin_seq: 0,
            msg_seq: 0,
            futex_seq: 0,
            size: payload_bytes(size),
            msg_ba: MSG_AB + area(size),
        })
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
        assert!(off % 8 == 0 && off + 8 <= self.map.len());
        // SAFETY: in bounds (asserted) of a mapping that lives as long as `&self`; the mapping is
        // page-aligned and `off` a multiple of 8, so the pointer is aligned for `AtomicU64`, which
        // has the size and bit validity of `u64`. Both processes only touch these bytes through
        // atomics, which is what makes cross-process sharing sound.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicU64>() }
    }

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        assert!(off % 4 == 0 && off + 4 <= self.map.len());
        // SAFETY: as in `u64_at`, for a 4-aligned 4-byte word.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicU32>() }
    }

    /// Side A of the cache-line ping-pong: `warmup` unrecorded, then `n` recorded round trips.
    pub fn spin_a(&mut self, warmup: u64, n: u64, rtt: &mut Histogram<u64>) -> Result<()> {
        let (ab, ba) = (self.u64_at(FLAG_AB), self.u64_at(FLAG_BA));
        let base = self.spin_seq;
        for i in 1..=warmup + n {
            let v = base + i;
            let t0 = Instant::now();
            ab.store(v, Ordering::Release);
            let mut stall = Stall::new("the floor echo");
            while ba.load(Ordering::Acquire) != v {
                stall.spin()?;
            }
            let t1 = Instant::now();
            if i > warmup {
                rtt.saturating_record(ns(t1 - t0).max(1));
            }
        }
        self.spin_seq = base + warmup + n;
        Ok(())
    }

    /// Side B of the cache-line ping-pong: echoes `total` flags.
    pub fn spin_b(&mut self, total: u64) -> Result<()> {
        let (ab, ba) = (self.u64_at(FLAG_AB), self.u64_at(FLAG_BA));
        let base = self.spin_seq;
        for i in 1..=total {
            let v = base + i;
            let mut stall = Stall::new("the floor ping");
            while ab.load(Ordering::Acquire) != v {
                stall.spin()?;
            }
            ba.store(v, Ordering::Release);
        }
        self.spin_seq = base + total;
        Ok(())
    }

    /// The flag and payload words of the message area at `at`.
    fn msg(&self, at: usize) -> (&AtomicU64, Vec<&AtomicU64>) {
        let words = (0..self.size / 8)
            .map(|i| self.u64_at(at + 8 + 8 * i))
            .collect();
        (self.u64_at(at), words)
    }

    /// Side A of the message ping-pong: `warmup` unrecorded, then `n` recorded round trips.
    pub fn msg_a(&mut self, warmup: u64, n: u64, rtt: &mut Histogram<u64>) -> Result<()> {
        let ((ab, ab_words), (ba, ba_words)) = (self.msg(MSG_AB), self.msg(self.msg_ba));
        let mut copy = vec![0u64; ab_words.len()];
        let base = self.msg_seq;
        for i in 1..=warmup + n {
            let v = base + i;
            let t0 = Instant::now();
            send(&ab_words, ab, v);
            let mut stall = Stall::new("the message floor echo");
            while ba.load(Ordering::Acquire) != v {
                stall.spin()?;
            }
            receive(&ba_words, &mut copy, v)?;
            let t1 = Instant::now();
            if i > warmup {
                rtt.saturating_record(ns(t1 - t0).max(1));
            }
        }
        self.msg_seq = base + warmup + n;
        Ok(())
    }

    /// Side B of the message ping-pong: echoes `total` messages.
    pub fn msg_b(&mut self, total: u64) -> Result<()> {
        let ((ab, ab_words), (ba, ba_words)) = (self.msg(MSG_AB), self.msg(self.msg_ba));
        let mut copy = vec![0u64; ab_words.len()];
        let base = self.msg_seq;
        for i in 1..=total {
            let v = base + i;
            let mut stall = Stall::new("the message floor ping");
            while ab.load(Ordering::Acquire) != v {
                stall.spin()?;
            }
            receive(&ab_words, &mut copy, v)?;
            send(&ba_words, ba, v);
        }
        self.msg_seq = base + total;
        Ok(())
    }

    /// Side A of the futex ping-pong: store, wake, then sleep until the echo.
    pub fn futex_a(&mut self, warmup: u64, n: u64, rtt: &mut Histogram<u64>) -> Result<()> {
        let (ab, ba) = (self.u32_at(FUTEX_AB), self.u32_at(FUTEX_BA));
        let base = self.futex_seq;
        let total = u32::try_from(warmup + n).context("too many round trips for a futex word")?;
        for i in 1..=total {
            let v = base.wrapping_add(i);
            let t0 = Instant::now();
            ab.store(v, Ordering::Release);
            let _ = futex::wake(ab, futex::Flags::empty(), 1);
            sleep_until(ba, v)?;
            let t1 = Instant::now();
            if u64::from(i) > warmup {
                rtt.saturating_record(ns(t1 - t0).max(1));
            }
        }
        self.futex_seq = base.wrapping_add(total);
        Ok(())
    }

    /// Side B of the futex ping-pong: sleep until pinged, store the echo, wake.
    pub fn futex_b(&mut self, total: u64) -> Result<()> {
        let (ab, ba) = (self.u32_at(FUTEX_AB), self.u32_at(FUTEX_BA));
        let base = self.futex_seq;
        let total = u32::try_from(total).context("too many round trips for a futex word")?;
        for i in 1..=total {
            let v = base.wrapping_add(i);
            sleep_until(ab, v)?;
            ba.store(v, Ordering::Release);
            let _ = futex::wake(ba, futex::Flags::empty(), 1);
        }
        self.futex_seq = base.wrapping_add(total);
        Ok(())
    }
}

/// Stores message `v`: every payload word (the last one holds `v`), then the flag (Release).
#[inline]
fn send(words: &[&AtomicU64], flag: &AtomicU64, v: u64) {
    let last = words.len() - 1;
    for (i, w) in words.iter().enumerate() {
        w.store(if i == last { v } else { i as u64 }, Ordering::Relaxed);
    }
    flag.store(v, Ordering::Release);
}

/// Copies message `v` out (after its flag was seen with Acquire) and checks its last word.
#[inline]
fn receive(words: &[&AtomicU64], copy: &mut [u64], v: u64) -> Result<()> {
    for (c, w) in copy.iter_mut().zip(words) {
        *c = w.load(Ordering::Relaxed);
    }
    if copy.last() != Some(&v) {
        bail!("message floor: message {v} arrived torn");
    }
    Ok(())
}

/// Sleeps on `word` (a shared futex) until it holds `v`. Every wait has a timeout; a wait that
/// lasts [`super::STALL`] in total is an error (the peer died), as is Ctrl-C.
fn sleep_until(word: &AtomicU32, v: u32) -> Result<()> {
    let ts = futex::Timespec {
        tv_sec: 0,
        tv_nsec: FUTEX_TIMEOUT.as_nanos() as _,
    };
    let mut started: Option<Instant> = None;
    loop {
        let cur = word.load(Ordering::Acquire);
        if cur == v {
            return Ok(());
        }
        // EAGAIN (changed meanwhile), ETIMEDOUT and EINTR all mean: look again.
        if futex::wait(word, futex::Flags::empty(), cur, Some(&ts)).is_err() {
            if stop_flag().load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let now = Instant::now();
            let t = *started.get_or_insert(now);
            if now - t > super::STALL {
                bail!("no futex wake-up for 10 s (did the other process die?)");
            }
        }
    }
}
