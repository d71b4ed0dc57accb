//! Candle store hot paths, against the floor of a 4.8 MB copy measured in the same run.
//!
//! Run with `cargo bench -p shmbus --bench candles`. Medians are in
//! `target/criterion/<group>/<bench>/new/estimates.json`.
//!
//! Single-threaded and uncontended. The baseline runs first and last, so a shift of the machine
//! during the run shows up as a difference between the two.
//!
//! * `baseline/memcpy_4.8MB`: `copy_from_slice` of 4.8 MB (100k candles) between two warm
//!   buffers; the floor of a bulk write or a whole-series read.
//! * `candles/bulk_write_100k_fresh`: `write_candles` of 100k candles into a new series (its
//!   block is new, so its pages are touched for the first time: tmpfs page faults included, as
//!   in real use). The region is recreated, untimed, when it is full.
//! * `candles/bulk_rewrite_100k`: `replace_candles` of the same 100k candles over an existing
//!   series (in place, warm pages): the write path without page faults.
//! * `candles/live_update`: `write_candles` of one candle with the last one's timestamp (the
//!   live bar), in a region of 8 series.
//! * `candles/read_series_100k`: `CandleReader::read_series_into` of a 100k-candle series into
//!   a reused `Vec`; `candles/read_series_100k_alloc`: `read_series` (a new `Vec` each time).
//! * `candles/latest`: `CandleReader::latest` of a 100k-candle series.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shmbus::Region;
use shmbus::candles::{Candle, CandleReader, CandleWriter};

const N: usize = 100_000;
const BYTES: usize = N * 48;
/// Region for the fresh-series benchmark: room for 12 series of 100k candles.
const FRESH_REGION: u64 = 64 << 20;
const FIRST_TS: u64 = 1_700_000_000_000;

/// A region name in /dev/shm (or the temporary directory), removed when dropped, even by a panic.
struct TempRegion(String);

impl TempRegion {
    fn new(tag: &str) -> Self {
        let file = format!("shmbus-bench-candles-{}-{tag}", std::process::id());
        let dir = if Path::new(shmbus::SHM_DIR).is_dir() {
            PathBuf::from(shmbus::SHM_DIR)
        } else {
            std::env::temp_dir()
        };
        // A path containing `/` is a file-path region name.
        Self(dir.join(file).to_string_lossy().into_owned())
    }

    fn create(&self, size: u64) -> CandleWriter {
        let _ = Region::remove(&self.0, true);
        CandleWriter::builder(&self.0)
            .size(size)
            .create()
            .expect("create the benchmark's candle region")
    }
}

impl Drop for TempRegion {
    fn drop(&mut self) {
        let _ = Region::remove(&self.0, true);
    }
}

fn bars(n: usize) -> Vec<Candle> {
    (0..n as u64)
        .map(|k| {
            let p = 100.0 + (k % 1000) as f64 * 0.01;
            Candle::new(
                FIRST_TS + k * 60_000,
                p,
                p + 1.0,
                p - 1.0,
                p + 0.5,
                k as f64,
            )
        })
        .collect()
}

fn baseline(c: &mut Criterion, id: &str) {
    let src = vec![7u8; BYTES];
    let mut dst = vec![0u8; BYTES];
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Bytes(BYTES as u64));
    g.bench_function(id, |b| {
        b.iter(|| black_box(&mut dst).copy_from_slice(black_box(&src)));
    });
    g.finish();
}

fn candles(c: &mut Criterion) {
    baseline(c, "memcpy_4.8MB");
    let data = bars(N);

    let fresh = TempRegion::new("fresh");
    let mut g = c.benchmark_group("candles");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("bulk_write_100k_fresh", |b| {
        let mut w = fresh.create(FRESH_REGION);
        let mut n = 0u64;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if w.stats().memory_used + (BYTES as u64) + 4096 > FRESH_REGION {
                    // The old mapping stays valid after the unlink until `w` is replaced.
                    w = fresh.create(FRESH_REGION);
                }
                let symbol = format!("S{n}");
                n += 1;
                let start = Instant::now();
                w.write_candles(&symbol, "1m", black_box(&data))
                    .expect("bulk write");
                total += start.elapsed();
            }
            total
        });
    });

    let warm = TempRegion::new("warm");
    let mut w = warm.create(16 << 20);
    w.write_candles("BTCUSDT", "1m", &data).expect("fill");
    g.bench_function("bulk_rewrite_100k", |b| {
        b.iter(|| {
            w.replace_candles("BTCUSDT", "1m", black_box(&data))
                .expect("rewrite")
        });
    });

    let r = CandleReader::open(&warm.0).expect("open the reader");
    let mut out = Vec::new();
    g.bench_function("read_series_100k", |b| {
        b.iter(|| {
            r.read_series_into("BTCUSDT", "1m", black_box(&mut out))
                .expect("read")
        });
    });
    g.bench_function("read_series_100k_alloc", |b| {
        b.iter(|| r.read_series("BTCUSDT", "1m").expect("read"));
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("latest", |b| {
        b.iter(|| r.latest("BTCUSDT", "1m").expect("latest"));
    });
    drop(r);
    drop(w);

    let live = TempRegion::new("live");
    let mut w = live.create(16 << 20);
    for (i, sym) in [
        "BTCUSDT", "ETHUSDT", "SOLUSDT", "AAPL", "GOOG", "MSFT", "EURUSD", "XAU",
    ]
    .iter()
    .enumerate()
    {
        w.write_candles(sym, "1m", &data[..1000 + i]).expect("fill");
    }
    // The bar is changed in place: building a new one-element array per call made the harness
    // copy the candle right after storing its close (a store-forwarding stall that was
    // measured as part of the write).
    let mut bar = [data[1004]];
    g.bench_function("live_update", |b| {
        b.iter(|| {
            // black_box on the array (a thin pointer): on the slice, the harness itself stored
            // the (pointer, length) pair and read it back as one wide value, another stall.
            let c = &mut black_box(&mut bar)[0];
            c.close = if c.close > 110.0 {
                100.0
            } else {
                c.close + 0.01
            };
            w.write_candles("GOOG", "1m", &bar).expect("live bar")
        });
    });
    g.finish();
    drop(w);

    baseline(c, "memcpy_4.8MB_end");
}

criterion_group! {
    name = benches;
    // Short on purpose (a 2-vCPU machine).
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    targets = candles
}
criterion_main!(benches);
