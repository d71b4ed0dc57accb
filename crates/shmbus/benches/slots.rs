//! Slot-table hot paths, against the physical floor of a 24-byte copy measured in the same run.
//!
//! Run with `cargo bench -p shmbus --bench slots`. Medians are in
//! `target/criterion/<group>/<bench>/new/estimates.json`.
//!
//! All benchmarks are single-threaded and uncontended: they measure the cost of the code path
//! (bounds checks, the seqlock's sequence loads, the copy), not cache-line transfer between cores,
//! so the host's near/far vCPU placement barely moves them. The baseline runs first and last,
//! so a shift of the machine during the run shows up as a difference between the two.
//!
//! * `baseline/copy_24B_atomic`: three `Relaxed` loads of `AtomicU64` words from a local array,
//!   which is how the seqlock copies a 24-byte record; the floor of any read.
//! * `slots/write`: `SlotWriter::write` of a `TradingData` that changes every iteration.
//! * `slots/read`: `SlotReader::read` of a written, uncontended slot.
//! * `slots/read_if_changed_unchanged`: the poll that finds nothing new.
//! * `slots/get_by_key`: `SlotReader::get` (find by key, then read) of the middle key of a table
//!   of 64 keys: why the hot path resolves a `SlotId` once and keeps it.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shmbus::{Region, SlotReader, SlotWriter, TradingData};

/// Keys registered for `slots/get_by_key`; the lookup asks for the middle one.
const KEYS: u32 = 64;

/// The region's name and its removal when the benchmark ends, even by a panic.
struct TempRegion(String);

impl TempRegion {
    /// A unique name in /dev/shm (tmpfs: no writeback faults on a shared file mapping), or in the
    /// temporary directory where there is no /dev/shm.
    fn new() -> Self {
        let file = format!("shmbus-bench-slots-{}", std::process::id());
        let dir = if Path::new(shmbus::SHM_DIR).is_dir() {
            PathBuf::from(shmbus::SHM_DIR)
        } else {
            std::env::temp_dir()
        };
        // A path containing `/` is a file-path region name.
        Self(dir.join(file).to_string_lossy().into_owned())
    }
}

impl Drop for TempRegion {
    fn drop(&mut self) {
        let _ = Region::remove(&self.0, true);
    }
}

fn key(i: u32) -> String {
    format!("SYM{i:04}USD")
}

fn baseline(c: &mut Criterion, id: &str) {
    let words = [AtomicU64::new(1), AtomicU64::new(2), AtomicU64::new(3)];
    c.benchmark_group("baseline").bench_function(id, |b| {
        b.iter(|| {
            let w = black_box(&words);
            [
                w[0].load(Ordering::Relaxed),
                w[1].load(Ordering::Relaxed),
                w[2].load(Ordering::Relaxed),
            ]
        });
    });
}

fn slots(c: &mut Criterion) {
    baseline(c, "copy_24B_atomic");

    let region = TempRegion::new();
    let mut writer = SlotWriter::<TradingData>::builder(&region.0)
        .capacity(256)
        .populate(true)
        .create()
        .expect("create the benchmark's slot table");
    let ids: Vec<_> = (0..KEYS)
        .map(|i| {
            let id = writer.slot(&key(i)).expect("register a key");
            let value = TradingData::new(100.0 + f64::from(i), 1, shmbus::now_unix_ns());
            writer.write(id, &value).expect("first write");
            id
        })
        .collect();
    let reader =
        SlotReader::<TradingData>::open_with(&region.0, Region::open_options().populate(true))
            .expect("open the benchmark's slot table");
    let hot = ids[0];
    let middle_key = key(KEYS / 2);

    let mut g = c.benchmark_group("slots");
    g.bench_function("write", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n = n.wrapping_add(1);
            let value = TradingData::new(black_box(n as f64), black_box(n as i32), black_box(n));
            writer.write(black_box(hot), &value).expect("write")
        });
    });
    g.bench_function("read", |b| {
        b.iter(|| reader.read(black_box(hot)).expect("read"));
    });
    let seq = reader.sequence(hot).expect("sequence");
    g.bench_function("read_if_changed_unchanged", |b| {
        b.iter(|| {
            reader
                .read_if_changed(black_box(hot), black_box(seq))
                .expect("read_if_changed")
        });
    });
    g.bench_function("get_by_key", |b| {
        b.iter(|| reader.get(black_box(&middle_key)).expect("get"));
    });
    g.finish();

    drop(reader);
    drop(writer);
    drop(region);

    baseline(c, "copy_24B_atomic_end");
}

criterion_group! {
    name = benches;
    // Short on purpose (a 2-vCPU machine): ~4 s per benchmark.
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50);
    targets = slots
}
criterion_main!(benches);
