//! The candle store (QNXS, seed 000) in one process: write semantics against an in-memory model
//! (proptest), refused input, limits, corrupt indexes, reopening, and regions built byte by byte
//! as the ORIGINAL QuantNexus writer lays them out (no shmbus header).
//!
//! The layout constants below are written out from docs (prior-art.md, "QuantNexus candle
//! region"), not taken from the crate, so a drift of the crate's layout fails here.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{ShmName, TestDir, Watchdog, assert_mentions, patch, read_u32};
use proptest::prelude::*;
use shmbus::candles::{
    Candle, CandleReader, CandleStats, CandleWriter, MAX_SERIES, MIN_SIZE, SeriesInfo,
    validate_batch,
};
use shmbus::{CandleError, QnxsCode, RegionError};

// The QNXS layout, byte for byte.
use shmbus::QNXS_MAGIC;
use shmbus::layout::candles::{
    B_CAPACITY, B_COUNT, B_END_TS, B_INTERVAL, B_START_TS, B_SYMBOL, BLOCK_HEADER, CANDLE_LEN,
    DATA_OFFSET, E_COUNT, E_DATA_OFFSET, E_DATA_SIZE, E_LAST_UPDATE_US, E_SYMBOL, ENTRIES,
    ENTRY_LEN, INDEX_COUNT, LAST_UPDATE_US, SEQUENCE as H_SEQUENCE, SYMBOL_COUNT, VERSION,
    WRITE_COUNT, WRITER_PID,
};

const LIMIT: Duration = Duration::from_secs(30);

fn entry_at(i: u64) -> u64 {
    ENTRIES + ENTRY_LEN * i
}

fn block_len(capacity: u32) -> u64 {
    BLOCK_HEADER + u64::from(capacity) * CANDLE_LEN
}

/// A valid candle whose prices depend on `ts` and `salt`.
fn bar(ts: u64, salt: u64) -> Candle {
    let open = 100.0 + (ts % 1000) as f64 / 8.0 + (salt % 64) as f64;
    let close = open + ((salt >> 6) % 16) as f64 / 4.0 - 2.0;
    Candle::new(
        ts,
        open,
        open.max(close) + 1.5,
        (open.min(close) - 2.0).max(0.0),
        close,
        (salt % 10_000) as f64 * 0.5,
    )
}

/// `n` valid candles from `first`, `step` ms apart.
fn bars(first: u64, step: u64, n: usize, salt: u64) -> Vec<Candle> {
    (0..n as u64)
        .map(|k| bar(first + k * step, salt.wrapping_add(k)))
        .collect()
}

/// The highest byte any series' block reaches (how much of the region the allocator touched).
fn high_water(series: &[SeriesInfo]) -> u64 {
    series
        .iter()
        .map(|s| s.block + block_len(s.capacity))
        .max()
        .unwrap_or(DATA_OFFSET)
}

/// Panics unless no two blocks overlap and all lie in the data area of a `size`-byte region.
#[track_caller]
fn assert_blocks_disjoint(series: &[SeriesInfo], size: u64) {
    let mut spans: Vec<(u64, u64)> = series
        .iter()
        .map(|s| (s.block, s.block + block_len(s.capacity)))
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "blocks overlap: {spans:?}");
    }
    for &(a, b) in &spans {
        assert!(
            a >= DATA_OFFSET && b <= size,
            "block {a}..{b} outside the data area"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Write semantics against a model.
// ---------------------------------------------------------------------------------------------

/// The series the model test writes: one symbol at two intervals among them.
const KEYS: [(&str, &str); 5] = [
    ("BTCUSDT", "1h"),
    ("BTCUSDT", "1d"),
    ("ETHUSDT", "1h"),
    ("AAPL", "5m"),
    ("X", "1w"),
];

const MODEL_REGION: u64 = 16 << 20;

#[derive(Debug, Clone)]
enum Op {
    /// `len` candles after the last one, `step` ms apart.
    Append {
        key: usize,
        len: usize,
        step: u64,
        salt: u64,
    },
    /// The live bar: a new version of the last candle, then `extra` new ones.
    LiveBar { key: usize, extra: usize, salt: u64 },
    /// `write_candles` of a batch starting before the last candle: OutOfOrder, no change.
    Older {
        key: usize,
        back: usize,
        len: usize,
        salt: u64,
    },
    /// `replace_candles` from `back` candles before the last (or 1 ms before that candle).
    Replace {
        key: usize,
        back: usize,
        len: usize,
        between: bool,
        salt: u64,
    },
    /// An empty batch: a no-op that is not counted as a write.
    Empty { key: usize },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let len = prop_oneof![3 => 1usize..4, 2 => 1usize..400];
    prop_oneof![
        6 => (key.clone(), len.clone(), prop_oneof![Just(1u64), 1u64..3_600_000], any::<u64>())
            .prop_map(|(key, len, step, salt)| Op::Append { key, len, step, salt }),
        3 => (key.clone(), 0usize..3, any::<u64>())
            .prop_map(|(key, extra, salt)| Op::LiveBar { key, extra, salt }),
        2 => (key.clone(), 0usize..50, 1usize..20, any::<u64>())
            .prop_map(|(key, back, len, salt)| Op::Older { key, back, len, salt }),
        2 => (key.clone(), 0usize..300, len, any::<bool>(), any::<u64>())
            .prop_map(|(key, back, len, between, salt)| Op::Replace { key, back, len, between, salt }),
        1 => key.prop_map(|key| Op::Empty { key }),
    ]
}

/// What the store should hold: per series, candles by timestamp.
#[derive(Debug, Default)]
struct Model {
    /// Key indexes in creation order (the index order of the region).
    order: Vec<usize>,
    series: BTreeMap<usize, BTreeMap<u64, Candle>>,
    /// The most candles each series ever held (bounds its capacity).
    max_count: BTreeMap<usize, usize>,
    writes: u64,
}

impl Model {
    fn stored(&self, key: usize) -> Vec<Candle> {
        self.series
            .get(&key)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    /// Applies a write the store accepted; returns (replaced, count).
    fn apply(&mut self, key: usize, batch: &[Candle], replace: bool) -> (usize, u32) {
        if !self.series.contains_key(&key) {
            self.order.push(key);
        }
        let s = self.series.entry(key).or_default();
        let first = batch[0].timestamp;
        let before = s.len();
        if replace {
            s.split_off(&first);
        } else if s.keys().next_back() == Some(&first) {
            s.remove(&first);
        }
        let replaced = before - s.len();
        for c in batch {
            s.insert(c.timestamp, *c);
        }
        let n = s.len();
        let m = self.max_count.entry(key).or_default();
        *m = (*m).max(n);
        self.writes += 1;
        (replaced, n as u32)
    }
}

const FIRST_TS: u64 = 1_700_000_000_000;

/// Runs `op` on the writer and the model, checking the write's result.
fn run_op(w: &mut CandleWriter, model: &mut Model, op: &Op) {
    let (key, batch, replace, must_fail) = match *op {
        Op::Append {
            key,
            len,
            step,
            salt,
        } => {
            let start = model
                .series
                .get(&key)
                .and_then(|s| s.keys().next_back())
                .map_or(FIRST_TS + key as u64, |&l| l + step);
            (key, bars(start, step, len, salt), false, false)
        }
        Op::LiveBar { key, extra, salt } => {
            let stored = model.stored(key);
            let start = stored.last().map_or(FIRST_TS, |c| c.timestamp);
            (key, bars(start, 60_000, 1 + extra, salt), false, false)
        }
        Op::Older {
            key,
            back,
            len,
            salt,
        } => {
            let stored = model.stored(key);
            if stored.is_empty() {
                return;
            }
            let at = stored.len() - 1 - back.min(stored.len() - 1);
            let start = stored[at].timestamp - 1;
            (key, bars(start, 1, len, salt), false, true)
        }
        Op::Replace {
            key,
            back,
            len,
            between,
            salt,
        } => {
            let stored = model.stored(key);
            let start = if stored.is_empty() {
                FIRST_TS
            } else {
                let at = stored.len() - 1 - back.min(stored.len() - 1);
                stored[at].timestamp - u64::from(between)
            };
            (key, bars(start, 1000, len, salt), true, false)
        }
        Op::Empty { key } => (key, Vec::new(), false, false),
    };
    let (symbol, interval) = KEYS[key];
    let before = w.stats();
    let result = if replace {
        w.replace_candles(symbol, interval, &batch)
    } else {
        w.write_candles(symbol, interval, &batch)
    };
    if must_fail {
        let last = model.stored(key).last().expect("non-empty").timestamp;
        match result {
            Err(CandleError::OutOfOrder {
                index,
                timestamp,
                last: l,
                ..
            }) => {
                assert_eq!((index, timestamp, l), (0, batch[0].timestamp, last));
            }
            other => panic!("{op:?}: expected OutOfOrder, got {other:?}"),
        }
        assert_eq!(w.stats(), before, "a refused write changed the stats");
        return;
    }
    let report = result.unwrap_or_else(|e| panic!("{op:?}: {e}"));
    if batch.is_empty() {
        assert_eq!(report.written, 0);
        assert_eq!(w.stats(), before, "an empty batch changed the stats");
        return;
    }
    let (replaced, count) = model.apply(key, &batch, replace);
    assert_eq!(report.written, batch.len(), "{op:?}");
    assert_eq!(report.replaced, replaced, "{op:?}");
    assert_eq!(report.count, count, "{op:?}");
}

/// Everything a reader can see matches the model.
fn check_against_model(w: &CandleWriter, r: &CandleReader, model: &Model, salt: u64) {
    let list = r.list_series().expect("list_series");
    assert_eq!(list.len(), model.order.len(), "series in the index");
    for (info, &key) in list.iter().zip(&model.order) {
        let (symbol, interval) = KEYS[key];
        let stored = model.stored(key);
        assert_eq!(
            (info.symbol.as_str(), info.interval.as_str()),
            (symbol, interval)
        );
        assert_eq!(
            info.count as usize,
            stored.len(),
            "{symbol} {interval} count"
        );
        assert_eq!(
            info.start_ts, stored[0].timestamp,
            "{symbol} {interval} start"
        );
        assert_eq!(info.end_ts, stored[stored.len() - 1].timestamp);
        assert!(info.capacity >= info.count);
        let bound = (2 * model.max_count[&key]).max(64);
        assert!(
            info.capacity as usize <= bound,
            "{symbol} {interval}: capacity {} for at most {} candles",
            info.capacity,
            model.max_count[&key]
        );
    }
    assert_blocks_disjoint(&list, MODEL_REGION);
    for (key, &(symbol, interval)) in KEYS.iter().enumerate() {
        let stored = model.stored(key);
        if stored.is_empty() {
            let e = r.read_series(symbol, interval).unwrap_err();
            assert_eq!(
                e.code(),
                QnxsCode::SymbolNotFound,
                "{symbol} {interval}: {e}"
            );
            assert_eq!(r.latest(symbol, interval).unwrap_err().code(), e.code());
            continue;
        }
        assert_eq!(r.read_series(symbol, interval).unwrap(), stored);
        assert_eq!(w.read_series(symbol, interval).unwrap(), stored);
        assert_eq!(r.latest(symbol, interval).unwrap(), stored.last().copied());
        // A range whose ends are stored timestamps, or 1 ms after them.
        let n = stored.len() as u64;
        let a = stored[(salt % n) as usize].timestamp + (salt >> 8) % 2;
        let b = stored[((salt >> 16) % n) as usize].timestamp + (salt >> 24) % 2;
        for (from, to) in [(a.min(b), a.max(b)), (a.max(b), a.min(b)), (0, u64::MAX)] {
            let want: Vec<Candle> = model.series[&key]
                .range(from..to.max(from))
                .map(|(_, c)| *c)
                .collect();
            assert_eq!(
                r.range(symbol, interval, from, to).unwrap(),
                want,
                "{symbol} {interval} range {from}..{to}"
            );
        }
    }
    let stats = w.stats();
    assert_eq!(r.stats().unwrap(), stats, "reader and writer stats");
    assert_eq!(stats.total_symbols as usize, model.order.len());
    assert_eq!(
        stats.total_candles,
        model.series.values().map(|s| s.len() as u64).sum::<u64>()
    );
    assert_eq!(stats.write_count, model.writes);
    let blocks: u64 = list.iter().map(|s| block_len(s.capacity)).sum();
    assert_eq!(stats.memory_used, DATA_OFFSET + blocks);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any sequence of appends, live-bar updates, out-of-order batches and replacements on five
    /// series (BTCUSDT at 1h and 1d among them) leaves exactly what the model says, as seen by
    /// a reader after every operation.
    #[test]
    fn writes_match_a_model(ops in prop::collection::vec(op_strategy(), 1..80), salt in any::<u64>()) {
        let _dog = Watchdog::new("writes_match_a_model", LIMIT);
        let shm = ShmName::new("candles-model");
        let mut w = CandleWriter::builder(&shm.name).size(MODEL_REGION).create().unwrap();
        let r = CandleReader::open(&shm.name).unwrap();
        prop_assert!(!r.is_foreign());
        let mut model = Model::default();
        for (i, op) in ops.iter().enumerate() {
            run_op(&mut w, &mut model, op);
            check_against_model(&w, &r, &model, salt.rotate_left(i as u32));
        }
    }
}

/// The same symbol at two intervals: two series, neither overwrites the other (the original
/// writer keyed its index by symbol alone).
#[test]
fn one_symbol_two_intervals_are_two_series() {
    let _dog = Watchdog::new("one_symbol_two_intervals", LIMIT);
    let shm = ShmName::new("candles-intervals");
    let mut w = CandleWriter::builder(&shm.name)
        .size(1 << 20)
        .create()
        .unwrap();
    let hourly = bars(FIRST_TS, 3_600_000, 48, 1);
    let daily = bars(FIRST_TS, 86_400_000, 2, 2);
    w.write_candles("BTCUSDT", "1h", &hourly).unwrap();
    w.write_candles("BTCUSDT", "1d", &daily).unwrap();
    // Same timestamp as the last daily bar: the live bar of 1d, not of 1h.
    let live = Candle {
        close: 1.0,
        low: 0.5,
        ..daily[1]
    };
    let rep = w.write_candles("BTCUSDT", "1d", &[live]).unwrap();
    assert_eq!((rep.replaced, rep.count), (1, 2));
    let r = CandleReader::open(&shm.name).unwrap();
    assert_eq!(r.read_series("BTCUSDT", "1h").unwrap(), hourly);
    assert_eq!(
        r.read_series("BTCUSDT", "1d").unwrap(),
        vec![daily[0], live]
    );
    let list = r.list_series().unwrap();
    assert_eq!(list.len(), 2);
    assert_ne!(list[0].block, list[1].block);
    assert_eq!(r.stats().unwrap().total_candles, 50);
}

/// A series appended to in small batches moves to a block twice as large each time it is full,
/// its content intact after every move.
#[test]
fn a_series_grows_by_doubling() {
    let _dog = Watchdog::new("a_series_grows_by_doubling", LIMIT);
    let shm = ShmName::new("candles-grow");
    let mut w = CandleWriter::builder(&shm.name)
        .size(8 << 20)
        .create()
        .unwrap();
    let r = CandleReader::open(&shm.name).unwrap();
    let all = bars(FIRST_TS, 60_000, 20_000, 7);
    let mut capacities = vec![];
    let mut blocks = vec![];
    for chunk in all.chunks(37) {
        w.write_candles("ETHUSDT", "1m", chunk).unwrap();
        let info = &r.list_series().unwrap()[0];
        if capacities.last() != Some(&info.capacity) {
            capacities.push(info.capacity);
            blocks.push(info.block);
            let n = info.count as usize;
            assert_eq!(r.read_series("ETHUSDT", "1m").unwrap(), all[..n]);
        }
    }
    assert_eq!(
        capacities,
        [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
    );
    blocks.dedup();
    assert_eq!(
        blocks.len(),
        capacities.len(),
        "every growth moves the block"
    );
    assert_eq!(r.read_series("ETHUSDT", "1m").unwrap(), all);
    let live = 20_000 * CANDLE_LEN;
    let used = w.stats().memory_used;
    assert!(
        used < 2 * live + DATA_OFFSET,
        "memory_used {used} for {live} live bytes"
    );
}

/// Blocks freed by growth are reused: after one series grew a lot, new series land in the gap
/// it left below its block, and a region no larger than that growth needed holds them all.
#[test]
fn freed_blocks_are_reused() {
    let _dog = Watchdog::new("freed_blocks_are_reused", LIMIT);
    let big = bars(FIRST_TS, 60_000, 10_000, 3);
    let grow = |w: &mut CandleWriter| {
        for chunk in big.chunks(100) {
            w.write_candles("BIG", "1m", chunk).unwrap();
        }
    };
    let shm = ShmName::new("candles-reuse");
    let mut w = CandleWriter::builder(&shm.name)
        .size(8 << 20)
        .create()
        .unwrap();
    grow(&mut w);
    let r = CandleReader::open(&shm.name).unwrap();
    let a = r.list_series().unwrap()[0].clone();
    // Batches of 100: capacities 100, 200, ..., 12800.
    assert_eq!(a.capacity, 12800);
    let top = high_water(&r.list_series().unwrap());
    // The gap below BIG's block is every block it outgrew.
    let outgrown: u64 = (0..7).map(|k| block_len(100 << k)).sum();
    assert_eq!(a.block - DATA_OFFSET, outgrown);
    let smalls: Vec<String> = (0..10).map(|i| format!("S{i}")).collect();
    let small_write = |w: &mut CandleWriter| {
        for (i, s) in smalls.iter().enumerate() {
            w.write_candles(s, "1m", &bars(FIRST_TS, 60_000, 1000, i as u64))
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    };
    small_write(&mut w);
    let list = r.list_series().unwrap();
    for s in &list[1..] {
        assert!(
            s.block < a.block,
            "{} at {} is not in the gap below BIG ({})",
            s.symbol,
            s.block,
            a.block
        );
    }
    assert_eq!(high_water(&list), top, "new series grew the used area");
    let live: u64 = list.iter().map(|s| u64::from(s.count) * CANDLE_LEN).sum();
    let used = w.stats().memory_used;
    assert!(
        used < 2 * live + DATA_OFFSET,
        "memory_used {used}, live {live}"
    );
    drop(r);
    drop(w);

    // A region just large enough for BIG's growth holds the small series too.
    let tight = ShmName::new("candles-reuse-tight");
    let mut w = CandleWriter::builder(&tight.name)
        .size(top)
        .create()
        .unwrap();
    grow(&mut w);
    small_write(&mut w);
    assert_eq!(w.stats().total_candles, 20_000);
}

// ---------------------------------------------------------------------------------------------
// Refused input.
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_candles_are_refused_and_nothing_is_written() {
    let _dog = Watchdog::new("invalid_candles", LIMIT);
    let shm = ShmName::new("candles-invalid");
    let mut w = CandleWriter::builder(&shm.name)
        .size(1 << 20)
        .create()
        .unwrap();
    let r = CandleReader::open(&shm.name).unwrap();
    let stored = bars(FIRST_TS, 60_000, 3, 0);
    w.write_candles("BTCUSDT", "1m", &stored).unwrap();
    let stats = w.stats();
    let next = FIRST_TS + 3 * 60_000;
    type Spoil = fn(&mut Candle);
    let cases: [(&str, usize, Spoil); 14] = [
        ("open NaN", 2, |c| c.open = f64::NAN),
        ("high inf", 2, |c| c.high = f64::INFINITY),
        ("low -inf", 1, |c| c.low = f64::NEG_INFINITY),
        ("close NaN", 3, |c| c.close = f64::NAN),
        ("volume NaN", 0, |c| c.volume = f64::NAN),
        ("volume inf", 2, |c| c.volume = f64::INFINITY),
        ("open negative", 2, |c| c.open = -1.0),
        ("low negative", 0, |c| c.low = -0.01),
        ("close negative", 3, |c| c.close = -5.0),
        ("volume negative", 2, |c| c.volume = -1.0),
        ("high < low", 2, |c| c.high = c.low - 0.5),
        ("same timestamp", 2, |c| c.timestamp -= 60_000),
        ("older timestamp", 2, |c| c.timestamp -= 120_000),
        ("much older", 3, |c| c.timestamp = 5),
    ];
    for (what, index, spoil) in cases {
        let mut batch = bars(next, 60_000, 4, 9);
        spoil(&mut batch[index]);
        let bad_ts = batch[index].timestamp;
        assert!(
            matches!(validate_batch(&batch), Err(CandleError::InvalidCandle { index: i, .. }) if i == index),
            "{what}: validate_batch"
        );
        for (symbol, replace) in [
            ("BTCUSDT", false),
            ("BTCUSDT", true),
            ("NEWSYM", false),
            ("NEWSYM", true),
        ] {
            let res = if replace {
                w.replace_candles(symbol, "1m", &batch)
            } else {
                w.write_candles(symbol, "1m", &batch)
            };
            let e = res.expect_err(what);
            match &e {
                CandleError::InvalidCandle {
                    index: i,
                    timestamp,
                    ..
                } => {
                    assert_eq!((*i, *timestamp), (index, bad_ts), "{what}");
                }
                other => panic!("{what}: expected InvalidCandle, got {other:?}"),
            }
            assert_eq!(e.code(), QnxsCode::WriteFailed);
            assert_mentions(
                &e.to_string(),
                &["QNXS error 5 WRITE_FAILED", &format!("candle {index} ")],
            );
            assert_eq!(r.read_series("BTCUSDT", "1m").unwrap(), stored, "{what}");
            assert_eq!(
                r.read_series("NEWSYM", "1m").unwrap_err().code(),
                QnxsCode::SymbolNotFound,
                "{what}"
            );
            assert_eq!(w.stats(), stats, "{what}: stats changed");
            assert_eq!(r.stats().unwrap().write_count, stats.write_count);
        }
    }
    // The same batch, unspoilt, is accepted.
    w.write_candles("BTCUSDT", "1m", &bars(next, 60_000, 4, 9))
        .unwrap();
    assert_eq!(w.stats().write_count, stats.write_count + 1);
}

#[test]
fn invalid_names_are_refused() {
    let _dog = Watchdog::new("invalid_names", LIMIT);
    let shm = ShmName::new("candles-names");
    let mut w = CandleWriter::builder(&shm.name)
        .size(1 << 20)
        .create()
        .unwrap();
    let c = [bar(FIRST_TS, 0)];
    for (symbol, interval) in [
        ("ABCDEFGHIJKLMNOP", "1h"), // 16 bytes
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "1h"),
        ("", "1h"),
        ("BTC\0USD", "1h"),
        ("BTCUSDT", "12345678"), // 8 bytes
        ("BTCUSDT", ""),
        ("BTCUSDT", "1\0h"),
        ("ÄÖÜÄÖÜÄÖ", "1h"), // 8 characters, 16 bytes
    ] {
        let e = w.write_candles(symbol, interval, &c).unwrap_err();
        assert!(
            matches!(e, CandleError::InvalidName { .. }),
            "{symbol:?} {interval:?}: {e:?}"
        );
        assert_eq!(e.code(), QnxsCode::InvalidName);
        assert_mentions(&e.to_string(), &["QNXS error 1 INVALID_NAME"]);
    }
    assert_eq!(w.stats().total_symbols, 0);
    // The longest names that fit.
    w.write_candles("ABCDEFGHIJKLMNO", "1234567", &c).unwrap();
    let r = CandleReader::open(&shm.name).unwrap();
    assert_eq!(r.read_series("ABCDEFGHIJKLMNO", "1234567").unwrap(), c);
    let info = &r.list_series().unwrap()[0];
    assert_eq!(
        (info.symbol.as_str(), info.interval.as_str()),
        ("ABCDEFGHIJKLMNO", "1234567")
    );
}

// ---------------------------------------------------------------------------------------------
// Limits.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_region_below_the_minimum_size_is_refused() {
    let _dog = Watchdog::new("minimum_size", LIMIT);
    let dir = TestDir::new("candles-small");
    for size in [0, 4352, DATA_OFFSET, MIN_SIZE - 1] {
        let name = dir.name(&format!("small-{size}"));
        let e = CandleWriter::builder(&name)
            .size(size)
            .create()
            .unwrap_err();
        match &e {
            CandleError::Region {
                error: RegionError::SizeTooSmall { requested, min, .. },
            } => assert_eq!((*requested, *min), (size, MIN_SIZE)),
            other => panic!("size {size}: expected SizeTooSmall, got {other:?}"),
        }
        assert_eq!(e.code(), QnxsCode::InvalidSize);
        assert_mentions(&e.to_string(), &["QNXS error 2 INVALID_SIZE"]);
        assert!(!Path::new(&name).exists(), "size {size}: a file was left");
    }
}

/// MIN_SIZE is documented as "the index and one block holding one candle": it must hold one.
#[test]
fn a_region_of_the_minimum_size_holds_one_candle() {
    let _dog = Watchdog::new("minimum_size_holds_one", LIMIT);
    let dir = TestDir::new("candles-min");
    let name = dir.name("min");
    assert_eq!(MIN_SIZE, DATA_OFFSET + BLOCK_HEADER + CANDLE_LEN);
    let mut w = CandleWriter::builder(&name)
        .size(MIN_SIZE)
        .create()
        .unwrap();
    let c = bar(FIRST_TS, 1);
    w.write_candles("BTCUSDT", "1h", &[c]).unwrap();
    // The live bar fits in place; a second candle does not.
    let live = Candle { close: c.open, ..c };
    w.write_candles("BTCUSDT", "1h", &[live]).unwrap();
    let e = w
        .write_candles("BTCUSDT", "1h", &[bar(FIRST_TS + 1, 2)])
        .unwrap_err();
    assert!(matches!(e, CandleError::Full { .. }), "{e:?}");
    let r = CandleReader::open(&name).unwrap();
    assert_eq!(r.read_series("BTCUSDT", "1h").unwrap(), [live]);
}

#[test]
fn more_than_256_series_is_too_many() {
    let _dog = Watchdog::new("too_many_series", LIMIT);
    let shm = ShmName::new("candles-257");
    let mut w = CandleWriter::builder(&shm.name)
        .size(4 << 20)
        .create()
        .unwrap();
    assert_eq!(MAX_SERIES, 256);
    for i in 0..256 {
        // Half of them share a symbol with another interval.
        let (symbol, interval) = (format!("S{}", i / 2), ["1h", "1d"][i % 2]);
        w.write_candles(&symbol, interval, &[bar(FIRST_TS, i as u64)])
            .unwrap_or_else(|e| panic!("series {i}: {e}"));
    }
    let stats = w.stats();
    let e = w
        .write_candles("ONEMORE", "1h", &[bar(FIRST_TS, 0)])
        .unwrap_err();
    assert!(
        matches!(e, CandleError::TooManySeries { max: 256, .. }),
        "{e:?}"
    );
    assert_eq!(e.code(), QnxsCode::SymbolLimitExceeded);
    assert_mentions(&e.to_string(), &["QNXS error 7"]);
    assert_eq!(w.stats(), stats);
    // Existing series still take writes.
    w.write_candles("S0", "1h", &[bar(FIRST_TS + 1, 0)])
        .unwrap();
    let r = CandleReader::open(&shm.name).unwrap();
    let list = r.list_series().unwrap();
    assert_eq!(list.len(), 256);
    assert_eq!(
        read_u32(Path::new(shmbus::SHM_DIR).join(&shm.name), INDEX_COUNT),
        256
    );
    assert_eq!(
        r.read_series("ONEMORE", "1h").unwrap_err().code(),
        QnxsCode::SymbolNotFound
    );
    assert_eq!(r.read_series("S127", "1d").unwrap().len(), 1);
}

#[test]
fn more_candles_than_max_candles_is_too_many() {
    let _dog = Watchdog::new("too_many_candles", LIMIT);
    let shm = ShmName::new("candles-max");
    let mut w = CandleWriter::builder(&shm.name)
        .size(4 << 20)
        .max_candles(1000)
        .create()
        .unwrap();
    let all = bars(FIRST_TS, 60_000, 1001, 5);
    // 1001 in one batch into a new series.
    let e = w.write_candles("BTCUSDT", "1m", &all).unwrap_err();
    assert!(
        matches!(
            e,
            CandleError::TooManyCandles {
                count: 1001,
                max: 1000,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(w.stats().total_symbols, 0);
    // Up to 1000 by growth, then one more.
    for chunk in all[..1000].chunks(90) {
        w.write_candles("BTCUSDT", "1m", chunk).unwrap();
    }
    let stats = w.stats();
    let e = w.write_candles("BTCUSDT", "1m", &all[1000..]).unwrap_err();
    assert!(
        matches!(
            e,
            CandleError::TooManyCandles {
                count: 1001,
                max: 1000,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.code(), QnxsCode::CandleLimitExceeded);
    assert_mentions(&e.to_string(), &["QNXS error 8"]);
    assert_eq!(w.stats(), stats);
    // The live bar at the limit is fine, and so is replacing the tail.
    let live = Candle {
        volume: 1.0,
        ..all[999]
    };
    w.write_candles("BTCUSDT", "1m", &[live]).unwrap();
    w.replace_candles("BTCUSDT", "1m", &all[990..1000]).unwrap();
    let r = CandleReader::open(&shm.name).unwrap();
    let info = &r.list_series().unwrap()[0];
    assert_eq!(info.count, 1000);
    assert!(
        info.capacity <= 1000,
        "capacity {} over the limit",
        info.capacity
    );
    assert_eq!(r.read_series("BTCUSDT", "1m").unwrap(), all[..1000]);
}

/// A full region is `Full` with a suggested size; a region of that size holds the data,
/// written the same way.
#[test]
fn a_full_region_suggests_a_size_that_works() {
    let _dog = Watchdog::new("full_suggests", LIMIT);
    let dir = TestDir::new("candles-full");
    let size = 64 << 10;
    let name = dir.name("small");
    let mut w = CandleWriter::builder(&name).size(size).create().unwrap();
    let r = CandleReader::open(&name).unwrap();
    // Two series growing in turn, then a third.
    let mut batches: Vec<(&str, Vec<Candle>)> = vec![];
    let mut k = 0u64;
    let full = loop {
        let symbol = ["A", "B", "C"][(k % 3) as usize];
        let batch = bars(FIRST_TS + k * 50 * 60_000, 60_000, 50, k);
        k += 1;
        let before = r.read_series(symbol, "1m").unwrap_or_default();
        let stats = w.stats();
        match w.write_candles(symbol, "1m", &batch) {
            Ok(_) => batches.push((symbol, batch)),
            Err(e) => {
                assert_eq!(r.read_series(symbol, "1m").unwrap_or_default(), before);
                assert_eq!(w.stats(), stats, "a Full write changed the stats");
                batches.push((symbol, batch));
                break e;
            }
        }
        assert!(k < 1000, "a 64 KiB region never filled");
    };
    let CandleError::Full {
        suggested,
        size: s,
        needed,
        free,
        ..
    } = full
    else {
        panic!("expected Full, got {full:?}");
    };
    assert_eq!(s, size);
    assert!(needed > 0 && free < size && suggested > size);
    assert_eq!(full.code(), QnxsCode::WriteFailed);
    assert_mentions(
        &full.to_string(),
        &["QNXS error 5 WRITE_FAILED", &suggested.to_string()],
    );
    // Replayed into a region of the suggested size, every batch fits.
    let bigger = dir.name("suggested");
    let mut w2 = CandleWriter::builder(&bigger)
        .size(suggested)
        .create()
        .unwrap();
    for (symbol, batch) in &batches {
        w2.write_candles(symbol, "1m", batch)
            .unwrap_or_else(|e| panic!("replay into {suggested} bytes: {e}"));
    }
    let r2 = CandleReader::open(&bigger).unwrap();
    for symbol in ["A", "B", "C"] {
        let want: Vec<Candle> = batches
            .iter()
            .filter(|(s, _)| *s == symbol)
            .flat_map(|(_, b)| b.iter().copied())
            .collect();
        assert_eq!(r2.read_series(symbol, "1m").unwrap(), want);
    }
}

// ---------------------------------------------------------------------------------------------
// Corrupt indexes.
// ---------------------------------------------------------------------------------------------

/// A valid region with three series (the middle one is the target of the patches).
fn corrupt_template(dir: &TestDir) -> (String, Vec<SeriesInfo>) {
    let name = dir.name("template");
    let mut w = CandleWriter::builder(&name).size(1 << 20).create().unwrap();
    w.write_candles("AAA", "1h", &bars(FIRST_TS, 1000, 10, 1))
        .unwrap();
    w.write_candles("BBB", "1d", &bars(FIRST_TS, 1000, 100, 2))
        .unwrap();
    w.write_candles("CCC", "5m", &bars(FIRST_TS, 1000, 5, 3))
        .unwrap();
    drop(w);
    let list = CandleReader::open(&name).unwrap().list_series().unwrap();
    (name, list)
}

#[test]
fn a_corrupt_index_is_an_error_not_a_panic() {
    let _dog = Watchdog::new("corrupt_index", LIMIT);
    let dir = TestDir::new("candles-corrupt");
    let (template, list) = corrupt_template(&dir);
    let len = std::fs::metadata(&template).unwrap().len();
    let b = list[1].block;
    let e1 = entry_at(1);
    let cap_outside = ((len - b - BLOCK_HEADER) / CANDLE_LEN + 1) as u32;
    let variants: Vec<(&str, u64, Vec<u8>)> = vec![
        (
            "data_offset past the end",
            e1 + E_DATA_OFFSET,
            (len + 4096).to_le_bytes().to_vec(),
        ),
        (
            "data_offset at the end",
            e1 + E_DATA_OFFSET,
            len.to_le_bytes().to_vec(),
        ),
        (
            "data_offset near u64::MAX",
            e1 + E_DATA_OFFSET,
            (u64::MAX - 7).to_le_bytes().to_vec(),
        ),
        (
            "data_offset 2^63",
            e1 + E_DATA_OFFSET,
            (1u64 << 63).to_le_bytes().to_vec(),
        ),
        (
            "data_offset in the header",
            e1 + E_DATA_OFFSET,
            8u64.to_le_bytes().to_vec(),
        ),
        (
            "data_offset in the index",
            e1 + E_DATA_OFFSET,
            1024u64.to_le_bytes().to_vec(),
        ),
        (
            "data_offset misaligned",
            e1 + E_DATA_OFFSET,
            (b + 4).to_le_bytes().to_vec(),
        ),
        (
            "capacity u32::MAX",
            b + B_CAPACITY,
            u32::MAX.to_le_bytes().to_vec(),
        ),
        (
            "capacity one past the region",
            b + B_CAPACITY,
            cap_outside.to_le_bytes().to_vec(),
        ),
        (
            "count > capacity",
            b + B_COUNT,
            (list[1].capacity + 1).to_le_bytes().to_vec(),
        ),
        (
            "count u32::MAX",
            b + B_COUNT,
            u32::MAX.to_le_bytes().to_vec(),
        ),
        (
            "index count 1000",
            INDEX_COUNT,
            1000u32.to_le_bytes().to_vec(),
        ),
        (
            "index count 257",
            INDEX_COUNT,
            257u32.to_le_bytes().to_vec(),
        ),
        (
            "index count u32::MAX",
            INDEX_COUNT,
            u32::MAX.to_le_bytes().to_vec(),
        ),
    ];
    for (i, (what, at, bytes)) in variants.iter().enumerate() {
        common::watchdog_note(*what);
        let name = dir.name(&format!("corrupt-{i}"));
        std::fs::copy(&template, &name).unwrap();
        patch(&name, *at, bytes);
        let r = match CandleReader::open(&name) {
            Ok(r) => r,
            Err(e) => {
                assert!(
                    matches!(e, CandleError::Corrupt { .. }),
                    "{what}: open: {e:?}"
                );
                continue;
            }
        };
        let is_corrupt = |res: Result<(), CandleError>, op: &str| match res {
            Err(e @ CandleError::Corrupt { .. }) => {
                assert_eq!(e.code(), QnxsCode::NotInitialized);
                assert_mentions(&e.to_string(), &["QNXS error 9", "corrupt"]);
            }
            other => panic!("{what}: {op}: expected Corrupt, got {other:?}"),
        };
        is_corrupt(r.list_series().map(drop), "list_series");
        is_corrupt(r.index().map(drop), "index");
        is_corrupt(r.stats().map(drop), "stats");
        is_corrupt(r.read_series("BBB", "1d").map(drop), "read_series");
        is_corrupt(r.latest("BBB", "1d").map(drop), "latest");
        is_corrupt(r.range("BBB", "1d", 0, u64::MAX).map(drop), "range");
        if at == &INDEX_COUNT {
            // The whole index is unusable, not only the series after the damage.
            is_corrupt(r.read_series("AAA", "1h").map(drop), "read_series AAA");
        }
        drop(r);
        match CandleWriter::open(&name) {
            Ok(_) => panic!("{what}: CandleWriter::open accepted a corrupt index"),
            Err(e) => assert!(
                matches!(e, CandleError::Corrupt { .. }),
                "{what}: writer open: {e:?}"
            ),
        }
    }
    // Two series sharing one block: readers cannot tell, the writer (which allocates) must.
    let name = dir.name("overlap");
    std::fs::copy(&template, &name).unwrap();
    patch(&name, e1 + E_DATA_OFFSET, &list[0].block.to_le_bytes());
    let e = CandleWriter::open(&name).unwrap_err();
    assert!(matches!(e, CandleError::Corrupt { .. }), "overlap: {e:?}");
    // The untouched template still opens.
    let w = CandleWriter::open(&template).unwrap();
    assert_eq!(w.stats().total_symbols, 3);
}

// ---------------------------------------------------------------------------------------------
// Reopening.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_reopened_writer_keeps_everything() {
    let _dog = Watchdog::new("reopen", LIMIT);
    let shm = ShmName::new("candles-reopen");
    let big = bars(FIRST_TS, 60_000, 3000, 4);
    let mut w = CandleWriter::builder(&shm.name)
        .size(4 << 20)
        .max_candles(4000)
        .create()
        .unwrap();
    for chunk in big.chunks(100) {
        w.write_candles("BIG", "1m", chunk).unwrap();
    }
    let btc_h = bars(FIRST_TS, 3_600_000, 30, 5);
    let btc_d = bars(FIRST_TS, 86_400_000, 3, 6);
    w.write_candles("BTCUSDT", "1h", &btc_h).unwrap();
    w.write_candles("BTCUSDT", "1d", &btc_d).unwrap();
    let stats = w.stats();
    let list = w.index().unwrap().series;
    drop(w);

    let mut w = CandleWriter::open(&shm.name).unwrap();
    let s = w.stats();
    assert_eq!(
        (
            s.total_symbols,
            s.total_candles,
            s.memory_used,
            s.write_count
        ),
        (
            stats.total_symbols,
            stats.total_candles,
            stats.memory_used,
            stats.write_count
        )
    );
    assert_eq!(w.index().unwrap().series, list);
    assert_eq!(w.read_series("BIG", "1m").unwrap(), big);
    assert_eq!(w.read_series("BTCUSDT", "1h").unwrap(), btc_h);
    assert_eq!(w.read_series("BTCUSDT", "1d").unwrap(), btc_d);
    // max_candles survived: BIG may reach 4000 but not 4001.
    let more = bars(FIRST_TS + 3000 * 60_000, 60_000, 1001, 8);
    let e = w.write_candles("BIG", "1m", &more).unwrap_err();
    assert!(
        matches!(e, CandleError::TooManyCandles { max: 4000, .. }),
        "{e:?}"
    );
    // Further writes work: the live bar, appends, a new series.
    let live = Candle {
        close: 7.0,
        low: 1.0,
        ..btc_d[2]
    };
    w.write_candles("BTCUSDT", "1d", &[live]).unwrap();
    w.write_candles(
        "BTCUSDT",
        "1h",
        &bars(FIRST_TS + 30 * 3_600_000, 3_600_000, 2, 9),
    )
    .unwrap();
    // The gap BIG left below its block was rebuilt: a new series goes there.
    let big_info = list.iter().find(|s| s.symbol == "BIG").unwrap().clone();
    let top = high_water(&list);
    w.write_candles("NEW", "1m", &bars(FIRST_TS, 60_000, 500, 10))
        .unwrap();
    let r = CandleReader::open(&shm.name).unwrap();
    let after = r.list_series().unwrap();
    let new = after.iter().find(|s| s.symbol == "NEW").unwrap();
    assert!(
        new.block < big_info.block,
        "NEW at {} is not in the gap below BIG at {}",
        new.block,
        big_info.block
    );
    assert_eq!(high_water(&after), top);
    assert_eq!(w.stats().write_count, stats.write_count + 3);
    // Growing BIG past its capacity after the reopen: content intact, used area bounded.
    w.write_candles("BIG", "1m", &more[..1000]).unwrap();
    let info = r
        .list_series()
        .unwrap()
        .into_iter()
        .find(|s| s.symbol == "BIG")
        .unwrap();
    assert_eq!(info.count, 4000);
    assert_eq!(
        r.read_series("BIG", "1m").unwrap(),
        [&big[..], &more[..1000]].concat()
    );
    let all = r.list_series().unwrap();
    assert_blocks_disjoint(&all, 4 << 20);
    let live_bytes: u64 = all.iter().map(|s| u64::from(s.count) * CANDLE_LEN).sum();
    assert!(w.stats().memory_used < 2 * live_bytes + DATA_OFFSET);
    assert_eq!(
        r.read_series("BTCUSDT", "1d").unwrap(),
        [btc_d[0], btc_d[1], live]
    );
}

/// The write count is read from the region when a writer opens it: whatever it holds, a write
/// adds one without overflowing (it stays at u64::MAX). (Found by the `candles` fuzz target:
/// `attempt to add with overflow` with overflow checks, a count back at 0 without.)
#[test]
fn a_write_count_at_its_maximum_does_not_overflow() {
    let _dog = Watchdog::new("write_count_max", LIMIT);
    let dir = TestDir::new("candles-write-count");
    let name = dir.name("count");
    let mut w = CandleWriter::builder(&name).size(1 << 20).create().unwrap();
    w.write_candles("AAA", "1h", &bars(FIRST_TS, 1000, 3, 1))
        .unwrap();
    drop(w);
    // S_WRITE_COUNT (docs/FORMAT.md 6.1).
    patch(&name, WRITE_COUNT, &u64::MAX.to_le_bytes());
    let mut w = CandleWriter::open(&name).unwrap();
    w.write_candles("AAA", "1h", &bars(FIRST_TS + 3000, 1000, 2, 2))
        .unwrap();
    assert_eq!(w.stats().write_count, u64::MAX);
    drop(w);
    let r = CandleReader::open(&name).unwrap();
    assert_eq!(r.read_series("AAA", "1h").unwrap().len(), 5);
    assert_eq!(r.stats().unwrap().write_count, u64::MAX);
}

/// A writer reopened after a crash mid-write (odd sequence) repairs the sequence.
#[test]
fn a_reopened_writer_repairs_an_odd_sequence() {
    let _dog = Watchdog::new("reopen_odd", LIMIT);
    let dir = TestDir::new("candles-odd");
    let name = dir.name("odd");
    let mut w = CandleWriter::builder(&name).size(1 << 20).create().unwrap();
    let c = bars(FIRST_TS, 1000, 10, 1);
    w.write_candles("AAA", "1h", &c).unwrap();
    drop(w);
    let seq = u64::from(read_u32(&name, H_SEQUENCE));
    assert_eq!(seq % 2, 0);
    patch(&name, H_SEQUENCE, &(seq + 1).to_le_bytes());
    let w = CandleWriter::open(&name).unwrap();
    let r = CandleReader::open(&name).unwrap();
    assert_eq!(r.read_series("AAA", "1h").unwrap(), c);
    assert_eq!(r.index().unwrap().sequence % 2, 0);
    drop(w);
}

// ---------------------------------------------------------------------------------------------
// Regions written by the original QuantNexus writer.
// ---------------------------------------------------------------------------------------------

struct ForeignSeries {
    symbol: &'static str,
    interval: &'static str,
    capacity: u32,
    candles: Vec<Candle>,
    last_update_us: u64,
}

fn put(buf: &mut [u8], at: u64, bytes: &[u8]) {
    buf[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
}

fn put_name(buf: &mut [u8], at: u64, name: &str, width: usize) {
    assert!(name.len() < width);
    put(buf, at, name.as_bytes());
}

/// The bytes the original writer leaves: QNXS header, index, blocks; nothing of shmbus.
fn original_region(series: &[ForeignSeries], sequence: u64, size: usize) -> Vec<u8> {
    let mut buf = vec![0u8; size];
    put(
        &mut buf,
        shmbus::layout::candles::MAGIC,
        &QNXS_MAGIC.to_le_bytes(),
    );
    put(&mut buf, VERSION, &1u32.to_le_bytes());
    put(&mut buf, WRITER_PID, &4242u32.to_le_bytes()); // writer_pid
    put(
        &mut buf,
        LAST_UPDATE_US,
        &1_704_067_200_000_000u64.to_le_bytes(),
    ); // last_update_us
    put(&mut buf, H_SEQUENCE, &sequence.to_le_bytes());
    put(&mut buf, SYMBOL_COUNT, &(series.len() as u32).to_le_bytes());
    put(&mut buf, INDEX_COUNT, &(series.len() as u32).to_le_bytes());
    let mut block = DATA_OFFSET;
    for (i, s) in series.iter().enumerate() {
        let e = entry_at(i as u64);
        let count = s.candles.len() as u32;
        put_name(&mut buf, e + E_SYMBOL, s.symbol, 16);
        put(&mut buf, e + E_DATA_OFFSET, &block.to_le_bytes());
        put(
            &mut buf,
            e + E_DATA_SIZE,
            &(block_len(s.capacity) as u32).to_le_bytes(),
        );
        put(&mut buf, e + E_COUNT, &count.to_le_bytes());
        put(
            &mut buf,
            e + E_LAST_UPDATE_US,
            &s.last_update_us.to_le_bytes(),
        );
        put_name(&mut buf, block + B_SYMBOL, s.symbol, 16);
        put_name(&mut buf, block + B_INTERVAL, s.interval, 8);
        put(&mut buf, block + B_COUNT, &count.to_le_bytes());
        put(&mut buf, block + B_CAPACITY, &s.capacity.to_le_bytes());
        put(
            &mut buf,
            block + B_START_TS,
            &s.candles[0].timestamp.to_le_bytes(),
        );
        put(
            &mut buf,
            block + B_END_TS,
            &s.candles[s.candles.len() - 1].timestamp.to_le_bytes(),
        );
        for (k, c) in s.candles.iter().enumerate() {
            let at = block + BLOCK_HEADER + k as u64 * CANDLE_LEN;
            put(&mut buf, at, &c.timestamp.to_le_bytes());
            for (f, v) in [c.open, c.high, c.low, c.close, c.volume]
                .iter()
                .enumerate()
            {
                put(&mut buf, at + 8 + 8 * f as u64, &v.to_le_bytes());
            }
        }
        block += block_len(s.capacity);
    }
    buf
}

fn foreign_series() -> Vec<ForeignSeries> {
    vec![
        ForeignSeries {
            symbol: "BTCUSDT",
            interval: "1h",
            capacity: 100,
            candles: vec![
                Candle::new(
                    1_704_067_200_000,
                    42_000.0,
                    42_500.0,
                    41_800.0,
                    42_300.0,
                    125.5,
                ),
                Candle::new(
                    1_704_070_800_000,
                    42_300.0,
                    42_400.0,
                    42_100.0,
                    42_200.0,
                    80.0,
                ),
                Candle::new(
                    1_704_074_400_000,
                    42_200.0,
                    42_250.5,
                    41_999.75,
                    42_001.0,
                    0.125,
                ),
            ],
            last_update_us: 1_704_074_400_123_456,
        },
        ForeignSeries {
            symbol: "ETHUSDT",
            interval: "1d",
            capacity: 50,
            candles: bars(FIRST_TS, 86_400_000, 50, 77),
            last_update_us: 1_704_000_000_000_001,
        },
        ForeignSeries {
            symbol: "ABCDEFGHIJKLMNO",
            interval: "1234567",
            capacity: 1,
            candles: vec![Candle::new(1, 0.0, 0.0, 0.0, 0.0, 0.0)],
            last_update_us: 3,
        },
    ]
}

#[test]
fn a_region_of_the_original_writer_is_read() {
    let _dog = Watchdog::new("original_writer", LIMIT);
    let dir = TestDir::new("candles-foreign");
    let series = foreign_series();
    let name = dir.name("quantnexus_ohlcv");
    std::fs::write(&name, original_region(&series, 42, 1 << 20)).unwrap();
    let r = CandleReader::open(&name).unwrap();
    assert!(r.is_foreign());
    let list = r.list_series().unwrap();
    assert_eq!(list.len(), series.len());
    let mut block = DATA_OFFSET;
    for (i, (info, s)) in list.iter().zip(&series).enumerate() {
        let want = SeriesInfo {
            symbol: s.symbol.to_owned(),
            interval: s.interval.to_owned(),
            count: s.candles.len() as u32,
            capacity: s.capacity,
            start_ts: s.candles[0].timestamp,
            end_ts: s.candles[s.candles.len() - 1].timestamp,
            last_update_us: s.last_update_us,
            index: i,
            block,
        };
        assert_eq!(info, &want);
        block += block_len(s.capacity);
        assert_eq!(r.read_series(s.symbol, s.interval).unwrap(), s.candles);
        assert_eq!(
            r.latest(s.symbol, s.interval).unwrap(),
            s.candles.last().copied()
        );
        // Keyed by symbol in the original, by (symbol, interval) here: another interval is absent.
        assert_eq!(
            r.read_series(s.symbol, "4h").unwrap_err().code(),
            QnxsCode::SymbolNotFound
        );
    }
    let eth = &series[1].candles;
    assert_eq!(
        r.range("ETHUSDT", "1d", eth[10].timestamp, eth[20].timestamp)
            .unwrap(),
        eth[10..20]
    );
    let stats = r.stats().unwrap();
    assert_eq!(
        stats,
        CandleStats {
            total_symbols: 3,
            total_candles: 54,
            memory_used: DATA_OFFSET + block_len(100) + block_len(50) + block_len(1),
            last_write_us: 1_704_067_200_000_000,
            write_count: 0,
        }
    );
    assert_eq!(r.index().unwrap().sequence, 42);
    // The reader never writes: the file is byte for byte what was written.
    drop(r);
    assert_eq!(
        std::fs::read(&name).unwrap(),
        original_region(&series, 42, 1 << 20)
    );
    // Not a shmbus region: the writer refuses it (rather than re-initialising it).
    let e = CandleWriter::open(&name).unwrap_err();
    assert!(matches!(e, CandleError::Region { .. }), "{e:?}");
    assert_eq!(
        std::fs::read(&name).unwrap(),
        original_region(&series, 42, 1 << 20)
    );
}

#[test]
fn an_original_region_with_a_bad_index_is_corrupt() {
    let _dog = Watchdog::new("original_corrupt", LIMIT);
    let dir = TestDir::new("candles-foreign-bad");
    let series = foreign_series();
    let good = original_region(&series, 2, 1 << 20);
    let cases: [(&str, u64, Vec<u8>); 4] = [
        (
            "data_offset outside",
            entry_at(1) + 16,
            (2u64 << 20).to_le_bytes().to_vec(),
        ),
        (
            "data_offset near u64::MAX",
            entry_at(1) + 16,
            (u64::MAX - 7).to_le_bytes().to_vec(),
        ),
        (
            "capacity huge",
            DATA_OFFSET + block_len(100) + 28,
            u32::MAX.to_le_bytes().to_vec(),
        ),
        (
            "index count 1000",
            INDEX_COUNT,
            1000u32.to_le_bytes().to_vec(),
        ),
    ];
    for (i, (what, at, bytes)) in cases.iter().enumerate() {
        common::watchdog_note(*what);
        let mut buf = good.clone();
        put(&mut buf, *at, bytes);
        let name = dir.name(&format!("bad-{i}"));
        std::fs::write(&name, &buf).unwrap();
        let r = CandleReader::open(&name).unwrap();
        assert!(r.is_foreign());
        let e = r.list_series().unwrap_err();
        assert!(matches!(e, CandleError::Corrupt { .. }), "{what}: {e:?}");
        let e = r.read_series("ETHUSDT", "1d").unwrap_err();
        assert!(matches!(e, CandleError::Corrupt { .. }), "{what}: {e:?}");
    }
    // Not QNXS at all, or another version, or too short.
    let mut other = good.clone();
    put(&mut other, 0, b"XXXX");
    let mut v2 = good.clone();
    put(&mut v2, 4, &2u32.to_le_bytes());
    for (what, bytes) in [
        ("magic", other),
        ("version", v2),
        ("short", good[..8192].to_vec()),
    ] {
        let name = dir.name(what);
        std::fs::write(&name, bytes).unwrap();
        assert!(CandleReader::open(&name).is_err(), "{what} accepted");
    }
}

/// An odd sequence that never turns even (the original writer died mid-write): readers give
/// up with `Busy` instead of hanging.
#[test]
fn an_original_region_stuck_mid_write_is_busy() {
    let _dog = Watchdog::new("original_busy", LIMIT);
    let dir = TestDir::new("candles-foreign-busy");
    let name = dir.name("odd");
    std::fs::write(&name, original_region(&foreign_series(), 7, 1 << 20)).unwrap();
    let r = CandleReader::open(&name).unwrap();
    let start = Instant::now();
    let e = r.read_series("BTCUSDT", "1h").unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, CandleError::Busy { .. }), "{e:?}");
    assert_eq!(e.code(), QnxsCode::NotInitialized);
    assert_mentions(&e.to_string(), &["QNXS error 9", "no consistent read"]);
    assert!(took < Duration::from_secs(10), "Busy took {took:?}");
    eprintln!("Busy after {took:?}");
    assert!(matches!(r.list_series(), Err(CandleError::Busy { .. })));
}
