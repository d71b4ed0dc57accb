//! Journal hot paths in one process, against the floor of a 64-byte copy measured in the same run.
//!
//! Run with `cargo bench -p shmbus --bench journal`. Medians are in
//! `target/criterion/<group>/<bench>/new/estimates.json`.
//!
//! Single-threaded and uncontended: these measure the instructions of the code path (bounds
//! checks, frame encoding, the commit's atomic swap, the ring's horizon advance, the reader's
//! copy), not cache-line transfers between cores (`shmbus bench latency` and `shmbus bench
//! throughput` measure those, between processes). The baseline runs first and last, so a shift
//! of the machine during the run shows up as a difference between the two.
//!
//! * `baseline/memcpy_64B`: a 64-byte `copy_from_slice` into a buffer; the floor of any append.
//! * `journal/append_commit_64B`: `append` of 64 bytes then `commit`, every message (ring of
//!   1 MiB, so the steady state includes advancing the ring's horizon on every append).
//! * `journal/append_commit_64B_ring64M`: the same in a 64 MiB ring (the horizon advance reads
//!   frames written 64 MiB earlier: out of the caches).
//! * `journal/append_64B_batch64`: `append` of 64 bytes, `commit` every 64 messages (time per
//!   message).
//! * `journal/next_64B`: `JournalReader::next` of a committed 64-byte message (the writer fills
//!   the ring between timed stretches).
//! * `journal/next_64B_registered`: the same, by a reader registered in the journal's reader
//!   registry (it publishes its position every 256 messages).
//! * `journal/seek_ring_64B`: `JournalReader::seek` to a stored sequence of a 16 MiB ring of
//!   64-byte messages (the sparse index, then at most 63 frame hops), the sequences in a
//!   pseudo-random order.
//! * `journal/seek_persisted_64B`: the same in a persisted journal of 1 MiB segments, every
//!   sequence in the segment the reader is in (a backtester stepping back and forth in time).
//! * `journal/seek_persisted_64B_far`: seeks to any sequence of a persisted journal of about 70
//!   segments of 64 KiB (nearly always another segment than the reader's: a directory listing
//!   and a bisection over the segments).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use shmbus::journal::{JournalReader, JournalWriter, Start};

/// The journal's name and its removal when the benchmark ends, even by a panic.
struct TempJournal(String);

impl TempJournal {
    /// A unique name in /dev/shm (tmpfs), or in the temporary directory where there is none.
    fn new(tag: &str) -> Self {
        let file = format!("shmbus-bench-journal-{}-{tag}", std::process::id());
        let dir = if Path::new(shmbus::SHM_DIR).is_dir() {
            PathBuf::from(shmbus::SHM_DIR)
        } else {
            std::env::temp_dir()
        };
        // A path containing `/` is a file-path region name.
        Self(dir.join(file).to_string_lossy().into_owned())
    }

    fn ring(&self, bytes: u64) -> JournalWriter {
        JournalWriter::builder(&self.0)
            .ring(bytes)
            .populate(true)
            .create()
            .expect("create the benchmark's journal")
    }

    /// A persisted journal (a directory) of segments of `bytes`.
    fn segments(&self, bytes: u64) -> JournalWriter {
        JournalWriter::builder(&self.0)
            .segment_size(bytes)
            .create()
            .expect("create the benchmark's persisted journal")
    }
}

impl Drop for TempJournal {
    fn drop(&mut self) {
        // The journal and its reader registry.
        let _ = shmbus::journal::remove(&self.0, true);
    }
}

/// Appends and commits `n` copies of `msg`.
fn fill(w: &mut JournalWriter, n: u64, msg: &[u8]) {
    for _ in 0..n {
        w.append(1, msg).expect("append");
    }
    w.commit();
}

/// Sequences in `[from, from + span)` in a fixed pseudo-random order (a 64-bit LCG).
struct Steps {
    from: u64,
    span: u64,
    x: u64,
}

impl Steps {
    fn new(from: u64, span: u64) -> Self {
        Self { from, span, x: 1 }
    }

    fn next(&mut self) -> u64 {
        self.x = self
            .x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.from + (self.x >> 33) % self.span
    }
}

fn payload() -> [u8; 64] {
    std::array::from_fn(|i| i as u8)
}

fn baseline(c: &mut Criterion, id: &str) {
    let src = payload();
    let mut dst = [0u8; 64];
    c.benchmark_group("baseline").bench_function(id, |b| {
        b.iter(|| {
            black_box(&mut dst).copy_from_slice(black_box(&src));
        });
    });
}

fn journal(c: &mut Criterion) {
    baseline(c, "memcpy_64B");
    let msg = payload();
    let mut g = c.benchmark_group("journal");

    {
        let j = TempJournal::new("append");
        let mut w = j.ring(1 << 20);
        g.bench_function("append_commit_64B", |b| {
            b.iter(|| {
                let seq = w.append(1, black_box(&msg)).expect("append");
                w.commit();
                seq
            });
        });
    }
    {
        let j = TempJournal::new("reserve");
        let mut w = j.ring(1 << 20);
        g.bench_function("reserve_commit_64B", |b| {
            b.iter(|| {
                let mut r = w.reserve(1, 64).expect("reserve");
                r.as_mut_slice().copy_from_slice(black_box(&msg));
                let seq = r.finish();
                w.commit();
                seq
            });
        });
    }
    {
        let j = TempJournal::new("append64m");
        let mut w = j.ring(64 << 20);
        g.bench_function("append_commit_64B_ring64M", |b| {
            b.iter(|| {
                let seq = w.append(1, black_box(&msg)).expect("append");
                w.commit();
                seq
            });
        });
    }
    {
        let j = TempJournal::new("batch");
        let mut w = j.ring(1 << 20);
        let mut n = 0u32;
        g.bench_function("append_64B_batch64", |b| {
            b.iter(|| {
                let seq = w.append(1, black_box(&msg)).expect("append");
                n = n.wrapping_add(1);
                if n % 64 == 0 {
                    w.commit();
                }
                seq
            });
        });
        w.commit();
    }
    {
        let j = TempJournal::new("read");
        let mut w = j.ring(16 << 20);
        let mut r = JournalReader::open(&j.0, Start::Beginning).expect("open the reader");
        g.bench_function("next_64B", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    // Fill outside the timed stretch: at most 4096 messages (~360 KB), well
                    // inside the ring, so the reader is never lapped.
                    let n = left.min(4096);
                    for _ in 0..n {
                        w.append(1, &msg).expect("append");
                    }
                    w.commit();
                    let t = Instant::now();
                    for _ in 0..n {
                        let m = r.next().expect("next").expect("a committed message");
                        black_box(m.payload);
                    }
                    total += t.elapsed();
                    left -= n;
                }
                total
            });
        });
    }
    {
        // The same with the reader registered (docs/FORMAT.md 7): it publishes its position
        // every 256 messages and when it catches up; nothing else changes on `next`.
        let j = TempJournal::new("readreg");
        let mut w = j.ring(16 << 20);
        let mut r = JournalReader::open(&j.0, Start::Beginning).expect("open the reader");
        r.register("bench").expect("register the reader");
        g.bench_function("next_64B_registered", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(4096);
                    for _ in 0..n {
                        w.append(1, &msg).expect("append");
                    }
                    w.commit();
                    let t = Instant::now();
                    for _ in 0..n {
                        let m = r.next().expect("next").expect("a committed message");
                        black_box(m.payload);
                    }
                    total += t.elapsed();
                    left -= n;
                }
                total
            });
        });
    }
    {
        let j = TempJournal::new("seekring");
        let mut w = j.ring(16 << 20);
        fill(&mut w, 100_000, &msg);
        let mut r = JournalReader::open(&j.0, Start::Beginning).expect("open the reader");
        let mut seqs = Steps::new(w.next_seq() - 20_000, 20_000);
        g.bench_function("seek_ring_64B", |b| {
            b.iter(|| r.seek(black_box(seqs.next())).expect("seek"));
        });
    }
    {
        let j = TempJournal::new("seekdir");
        let mut w = j.segments(1 << 20);
        // Append until the writer has just started a third segment, then 5,000 more messages:
        // every sequence from `from` on lies in the newest segment.
        let mut r = JournalReader::open(&j.0, Start::Beginning).expect("open the reader");
        let segments = |r: &JournalReader| r.info().expect("journal info").segments;
        let mut before = segments(&r);
        loop {
            fill(&mut w, 1000, &msg);
            let now = segments(&r);
            if now > before && now >= 3 {
                break;
            }
            before = now;
        }
        let from = w.next_seq();
        let newest = segments(&r);
        fill(&mut w, 5000, &msg);
        assert_eq!(
            segments(&r),
            newest,
            "the newest segment holds 5,000 messages"
        );
        r.seek(from).expect("seek");
        let mut seqs = Steps::new(from, 5000);
        g.bench_function("seek_persisted_64B", |b| {
            b.iter(|| r.seek(black_box(seqs.next())).expect("seek"));
        });
    }
    {
        let j = TempJournal::new("seekfar");
        let mut w = j.segments(64 << 10);
        fill(&mut w, 50_000, &msg);
        let mut r = JournalReader::open(&j.0, Start::Beginning).expect("open the reader");
        assert!(r.info().expect("journal info").segments > 60);
        let mut seqs = Steps::new(0, w.next_seq());
        g.bench_function("seek_persisted_64B_far", |b| {
            b.iter(|| r.seek(black_box(seqs.next())).expect("seek"));
        });
    }
    g.finish();

    baseline(c, "memcpy_64B_end");
}

criterion_group! {
    name = benches;
    // Short on purpose (a 2-vCPU machine): ~4 s per benchmark.
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50);
    targets = journal
}
criterion_main!(benches);
