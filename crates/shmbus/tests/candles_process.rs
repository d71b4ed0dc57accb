//! Candle series across real processes: a writer that never stops (appends, live-bar updates,
//! growth into new blocks, new series) and two readers copying whole series for seconds; no
//! copy may be torn.
//!
//! Every candle is derived from its timestamp and a revision, and every series from its name,
//! so a reader can check each copy on its own: the right first timestamp, consecutive
//! timestamps one step apart, every field of every candle matching its timestamp, and the
//! index's count and bounds matching the copy. A copy that mixed two writes (a candle half
//! updated, a series read from a block it has moved away from, a block reused by another
//! series) fails one of these checks.
//!
//! Children are this test binary run again with a role in `SHMBUS_CHILD_ROLE`; see
//! `common/mod.rs`. The test runs under a watchdog.

mod common;

use std::collections::HashMap;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use common::{ChildProc, ShmName, Watchdog, say};
use shmbus::candles::{Candle, CandleReader, CandleWriter, SeriesInfo};

/// The writer's series slots: one interval each, so every symbol exists at up to four intervals.
const INTERVALS: [&str; 4] = ["1s", "7s", "1m", "1h"];
const STEPS: [u64; 4] = [1_000, 7_000, 60_000, 3_600_000];
/// A series grows to this many candles (64 -> 128 -> ... -> 2048: five moves), then its slot
/// starts a new series.
const PER_SERIES: u64 = 2048;
/// Series the writer creates at most (the index holds 256).
const SERIES_BUDGET: u64 = 240;
/// Region size: every series at its largest, twice over for the blocks growth leaves behind.
const REGION_SIZE: u64 = 64 << 20;
/// How long each reader reads.
const READ_FOR: Duration = Duration::from_millis(2500);
/// The writer appends at most this often (live-bar updates fill the time between), so that its
/// series budget lasts longer than the readers read and blocks move all along.
const APPEND_EVERY: Duration = Duration::from_micros(100);
/// After every [`BURST`] writes the writer pauses for [`PAUSE`] (busy, without writing). The
/// region has ONE sequence for all series, so any write invalidates every read in progress: a
/// writer that never pauses, alone on its core, starves readers of large series (measured on 2
/// vCPUs with the writer pinned to one and both readers to the other: 20x fewer reads). Real
/// feeds pause; the pauses keep this test's read counts independent of the core count.
const BURST: u64 = 16;
const PAUSE: Duration = Duration::from_micros(20);
/// Moves after this long from READY are counted apart: proof that growth raced the readers.
const LATE: Duration = Duration::from_secs(1);
const READY_WAIT: Duration = Duration::from_secs(20);
/// Reads, and changes seen, each reader must make at least (an unoptimised build copies
/// slowly: measured ~3k reads and ~800 changes in debug, ~20k and ~13k in release with the
/// writer pinned to its own core).
const MIN_READS: u64 = if cfg!(debug_assertions) { 500 } else { 2000 };
const MIN_CHANGES: u64 = if cfg!(debug_assertions) { 100 } else { 500 };

fn base_ts(generation: u64, slot: usize) -> u64 {
    1_000_000_000_000 + generation * 100_000_000_000 + slot as u64 * 1_001
}

/// The candle at `ts`, revision `rev` (the live bar's updates raise it; 0..8).
fn candle(ts: u64, rev: u64) -> Candle {
    let open = ts as f64;
    Candle::new(
        ts,
        open,
        open + 2.0 + rev as f64,
        open - 1.0,
        open + 1.0 + rev as f64,
        (ts % 1000) as f64 + 1000.0 * rev as f64,
    )
}

/// Whether `c` is a candle that [`candle`] makes for its own timestamp.
fn candle_ok(c: &Candle) -> bool {
    let rev = (c.volume / 1000.0).floor();
    (0.0..8.0).contains(&rev) && *c == candle(c.timestamp, rev as u64)
}

/// Checks a copy of a series against what its name implies; `Err` says what is wrong.
fn check_series(info: &SeriesInfo, candles: &[Candle]) -> Result<(), String> {
    let slot = INTERVALS
        .iter()
        .position(|i| *i == info.interval)
        .ok_or_else(|| format!("unknown interval {:?}", info.interval))?;
    let generation: u64 = info
        .symbol
        .strip_prefix('G')
        .and_then(|g| g.parse().ok())
        .ok_or_else(|| format!("unknown symbol {:?}", info.symbol))?;
    let (base, step) = (base_ts(generation, slot), STEPS[slot]);
    if candles.is_empty() || info.count as usize != candles.len() {
        return Err(format!(
            "count {} but {} candles",
            info.count,
            candles.len()
        ));
    }
    for (k, c) in candles.iter().enumerate() {
        if c.timestamp != base + k as u64 * step {
            return Err(format!("candle {k} has timestamp {}", c.timestamp));
        }
        if !candle_ok(c) {
            return Err(format!("candle {k} does not match its timestamp: {c:?}"));
        }
    }
    let last = candles[candles.len() - 1].timestamp;
    if info.start_ts != base || info.end_ts != last {
        return Err(format!(
            "bounds {}..{} but candles {base}..{last}",
            info.start_ts, info.end_ts
        ));
    }
    if info.count > info.capacity {
        return Err(format!("count {} > capacity {}", info.count, info.capacity));
    }
    Ok(())
}

/// xorshift64: the writer's and readers' choices.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
#[ignore = "entry point of the child processes the other tests spawn"]
fn child_entry() {
    let Ok(role) = std::env::var(common::ROLE_ENV) else {
        return;
    };
    let name = std::env::var(common::NAME_ENV).expect("the child's region name");
    common::limit_child_lifetime();
    match role.as_str() {
        "writer" => writer(&name),
        "reader" => reader(&name),
        other => panic!("unknown child role {other:?}"),
    }
}

/// One series slot of the writer.
struct Slot {
    generation: u64,
    count: u64,
    rev: u64,
}

/// Writes until its stdin closes, then says `DONE key=value ...`.
fn writer(name: &str) {
    let stop = common::stdin_lines();
    let mut w = CandleWriter::builder(name)
        .size(REGION_SIZE)
        .create()
        .expect("create the candle region");
    let mut slots: Vec<Slot> = (0..INTERVALS.len())
        .map(|_| Slot {
            generation: 0,
            count: 0,
            rev: 0,
        })
        .collect();
    let mut created = 0u64;
    let (mut writes, mut appended, mut live, mut moves, mut late_moves) = (0, 0, 0, 0, 0u64);
    let mut ready_at = Instant::now();
    let mut last_append = Instant::now();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut batch = Vec::with_capacity(64);
    let mut i = 0u64;
    loop {
        if i % 64 == 0 {
            match stop.try_recv() {
                Err(TryRecvError::Disconnected) => break,
                Ok(_) | Err(TryRecvError::Empty) => {}
            }
        }
        if i == 64 {
            say("READY");
            ready_at = Instant::now();
        }
        i += 1;
        let r = next(&mut rng);
        let s = (r % INTERVALS.len() as u64) as usize;
        let slot = &mut slots[s];
        if slot.count >= PER_SERIES && created < SERIES_BUDGET {
            slot.generation += 1;
            slot.count = 0;
            slot.rev = 0;
        }
        let symbol = format!("G{}", slot.generation);
        let base = base_ts(slot.generation, s);
        batch.clear();
        let append_due = last_append.elapsed() >= APPEND_EVERY || i < 64;
        if slot.count > 0 && (!append_due || slot.count >= PER_SERIES) {
            // The live bar: the last candle again, one revision up.
            slot.rev = (slot.rev + 1) % 8;
            batch.push(candle(base + (slot.count - 1) * STEPS[s], slot.rev));
            live += 1;
        } else {
            let n = 1 + (r >> 16) % 32;
            for k in 0..n {
                batch.push(candle(base + (slot.count + k) * STEPS[s], 0));
            }
            slot.rev = 0;
            last_append = Instant::now();
        }
        let before = slot.count;
        let report = w
            .write_candles(&symbol, INTERVALS[s], &batch)
            .unwrap_or_else(|e| panic!("write {symbol} {}: {e}", INTERVALS[s]));
        slot.count = u64::from(report.count);
        if before == 0 {
            created += 1;
        }
        appended += slot.count - before;
        // Capacities double from 64 (batches are smaller than 64): a move at each power of two.
        let cap = |n: u64| n.next_power_of_two().max(64);
        if before > 0 && cap(before) != cap(slot.count) {
            moves += 1;
            if ready_at.elapsed() > LATE && i > 64 {
                late_moves += 1;
            }
        }
        writes += 1;
        if writes % BURST == 0 {
            let t = Instant::now();
            while t.elapsed() < PAUSE {
                std::hint::spin_loop();
            }
        }
    }
    say(&format!(
        "DONE writes={writes} appended={appended} live={live} moves={moves} \
         late_moves={late_moves} series={created} ms={}",
        ready_at.elapsed().as_millis()
    ));
}

/// Reads whole series for [`READ_FOR`], checking every copy; says `RESULT key=value ...`.
fn reader(name: &str) {
    common::exit_when_stdin_closes();
    let r = CandleReader::open(name).expect("open the candle region");
    let mut rng = u64::from(std::process::id()) | 1;
    let mut out = Vec::new();
    let mut seen: HashMap<(String, String), (u32, Candle)> = HashMap::new();
    let (mut reads, mut torn, mut errors, mut changes, mut lists) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut candles_read, mut max_len) = (0u64, 0usize);
    let start = Instant::now();
    while start.elapsed() < READ_FOR {
        let list = match r.list_series() {
            Ok(l) => l,
            Err(e) => {
                eprintln!("reader: list_series: {e}");
                errors += 1;
                continue;
            }
        };
        lists += 1;
        // List snapshots are consistent too: counts match the bounds.
        for s in &list {
            let step = INTERVALS
                .iter()
                .position(|i| *i == s.interval)
                .map_or(0, |k| STEPS[k]);
            if s.count == 0 || s.end_ts != s.start_ts + u64::from(s.count - 1) * step {
                torn += 1;
                eprintln!("reader: inconsistent index entry {s:?}");
            }
        }
        for _ in 0..16 {
            // Mostly the series being written (the last ones created), sometimes any.
            let x = next(&mut rng);
            let k = if x % 4 == 0 || list.len() <= 4 {
                (x >> 8) as usize % list.len()
            } else {
                list.len() - 1 - (x >> 8) as usize % 4
            };
            let s = &list[k];
            match r.read_series_into(&s.symbol, &s.interval, &mut out) {
                Ok(info) => {
                    reads += 1;
                    candles_read += out.len() as u64;
                    max_len = max_len.max(out.len());
                    if let Err(what) = check_series(&info, &out) {
                        torn += 1;
                        if torn <= 3 {
                            eprintln!("reader: torn copy of {} {}: {what}", s.symbol, s.interval);
                        }
                    }
                    let last = out[out.len() - 1];
                    let key = (info.symbol, info.interval);
                    if seen.insert(key, (info.count, last)) != Some((info.count, last)) {
                        changes += 1;
                    }
                }
                Err(e) => {
                    if errors == 0 {
                        eprintln!("reader: read_series: {e}");
                    }
                    errors += 1;
                }
            }
        }
    }
    say(&format!(
        "RESULT reads={reads} torn={torn} errors={errors} changes={changes} lists={lists} \
         candles={candles_read} max_len={max_len} ms={}",
        start.elapsed().as_millis()
    ));
}

fn parse(line: &str) -> HashMap<String, u64> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
        .collect()
}

#[test]
fn readers_in_other_processes_never_see_a_torn_series() {
    let _dog = Watchdog::new("never_see_a_torn_series", Duration::from_secs(30));
    let shm = ShmName::new("candles-hammer");
    let start = Instant::now();
    let mut writer = ChildProc::spawn("writer", &shm.name, &[]);
    writer.expect("READY", READY_WAIT);
    let mut readers: Vec<ChildProc> = (0..2)
        .map(|_| ChildProc::spawn("reader", &shm.name, &[]))
        .collect();
    let results: Vec<HashMap<String, u64>> = readers
        .iter_mut()
        .map(|r| parse(&r.expect("RESULT", READ_FOR + READY_WAIT)))
        .collect();
    assert!(
        writer.is_running(),
        "the writer stopped before the readers finished"
    );
    writer.close_stdin();
    let done = parse(&writer.expect("DONE", Duration::from_secs(10)));
    eprintln!("writer: {done:?}; {:?} in all", start.elapsed());
    for (i, r) in results.iter().enumerate() {
        eprintln!("reader {i}: {r:?}");
        assert_eq!(r["torn"], 0, "reader {i} saw torn series: {r:?}");
        assert_eq!(r["errors"], 0, "reader {i} had errors: {r:?}");
        assert!(
            r["reads"] >= MIN_READS,
            "reader {i} made too few reads: {r:?}"
        );
        assert!(
            r["changes"] >= MIN_CHANGES,
            "reader {i} did not race the writer: {r:?}"
        );
        assert!(
            r["max_len"] >= 1024,
            "reader {i} never read a large series: {r:?}"
        );
    }
    assert!(
        done["moves"] >= 50,
        "the writer grew too few series: {done:?}"
    );
    assert!(
        done["late_moves"] >= 20,
        "no growth while the readers read: {done:?}"
    );
    assert!(done["live"] >= 1000, "too few live-bar updates: {done:?}");
    // After the writer: every series, read in this process, is whole.
    assert!(writer.wait_exit(Duration::from_secs(10)).is_some());
    let r = CandleReader::open(&shm.name).expect("open after the writer");
    let list = r.list_series().unwrap();
    assert_eq!(list.len() as u64, done["series"]);
    for s in &list {
        let c = r.read_series(&s.symbol, &s.interval).unwrap();
        check_series(s, &c).unwrap_or_else(|e| panic!("{} {}: {e}", s.symbol, s.interval));
    }
    let total: u64 = list.iter().map(|s| u64::from(s.count)).sum();
    assert_eq!(total, done["appended"]);
}
