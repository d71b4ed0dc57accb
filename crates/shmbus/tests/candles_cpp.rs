//! A C++ program reads what Rust wrote: `tests/cpp/read_candles.cpp` (with `tests/cpp/qnxs.h`,
//! the QNXS structs with static_asserts on every size and offset) is compiled with g++, and
//! prints each series of a region written here; every value must match bit for bit.
//!
//! The series: real daily bars of GOOG (the CLI's fixture), the same symbol at a second
//! interval, BTCUSDT at 1h and 1d, awkward floating-point values, and a series that outgrew
//! several blocks (so the reader must follow the index to its current block). Skipped, with a
//! message, where g++ is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{ShmName, TestDir, Watchdog};
use shmbus::candles::{Candle, CandleWriter};
use shmbus::layout::candles::{CANDLE_LEN, DATA_OFFSET, E_DATA_OFFSET, ENTRIES, ENTRY_LEN};

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-Compatible Low-Level
/// Date Algorithms", days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` at midnight UTC, in ms since the Unix epoch.
fn date_ms(date: &str) -> u64 {
    let parts: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("bad date {date:?}")))
        .collect();
    assert_eq!(parts.len(), 3, "bad date {date:?}");
    let days = days_from_civil(parts[0], parts[1], parts[2]);
    u64::try_from(days * 86_400_000).expect("a date after 1970")
}

/// GOOG.csv of the CLI's fixtures: `,Open,High,Low,Close,Volume` then `YYYY-MM-DD,...` rows.
fn goog() -> Vec<Candle> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shmbus-cli/tests/fixtures/GOOG.csv");
    let text = std::fs::read_to_string(&path).expect("read GOOG.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(",Open,High,Low,Close,Volume"));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 6, "bad row {line:?}");
            let v = |i: usize| -> f64 { f[i].parse().unwrap_or_else(|_| panic!("{line:?}")) };
            Candle::new(date_ms(f[0]), v(1), v(2), v(3), v(4), v(5))
        })
        .collect()
}

/// Weekly bars (7 days from the first bar) aggregated from daily ones.
fn weekly(days: &[Candle]) -> Vec<Candle> {
    let week = 7 * 86_400_000;
    let first = days[0].timestamp;
    let mut out: Vec<Candle> = vec![];
    for d in days {
        let ts = first + (d.timestamp - first) / week * week;
        match out.last_mut() {
            Some(w) if w.timestamp == ts => {
                w.high = w.high.max(d.high);
                w.low = w.low.min(d.low);
                w.close = d.close;
                w.volume += d.volume;
            }
            _ => out.push(Candle {
                timestamp: ts,
                ..*d
            }),
        }
    }
    out
}

/// Values whose decimal form is easy to get wrong.
fn awkward() -> Vec<Candle> {
    let vals = [
        0.1 + 0.2,
        1.0 / 3.0,
        5e-324, // the smallest subnormal
        2.225_073_858_507_201e-308,
        f64::MAX,
        123_456_789.123_456_79,
        9_007_199_254_740_993.0, // 2^53 + 1, rounds to 2^53
        -0.0,
        0.0,
        1e21,
        4.35,
    ];
    (0..vals.len())
        .map(|i| {
            let (a, b) = (vals[i], vals[(i + 3) % vals.len()]);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            Candle::new(1_000 + i as u64, a, hi, lo, b, vals[(i + 5) % vals.len()])
        })
        .collect()
}

/// Compiles `read_candles.cpp` into `dir`; `None` if g++ is missing.
fn compile(dir: &Path) -> Option<PathBuf> {
    if Command::new("g++").arg("--version").output().is_err() {
        return None;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cpp/read_candles.cpp");
    let exe = dir.join("read_candles");
    let out = Command::new("g++")
        .args([
            "-std=c++17",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-o",
        ])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("run g++");
    assert!(
        out.status.success(),
        "g++ failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

fn run(exe: &Path, region: &str, symbol: &str, interval: &str) -> Output {
    Command::new(exe)
        .args([region, symbol, interval])
        .output()
        .expect("run read_candles")
}

/// The candles `read_candles` printed.
fn parse(out: &Output, what: &str) -> Vec<Candle> {
    assert!(
        out.status.success(),
        "read_candles {what}: {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 6, "{what}: bad line {line:?}");
            let v = |i: usize| -> f64 { f[i].parse().unwrap_or_else(|_| panic!("{line:?}")) };
            Candle::new(
                f[0].parse().expect("timestamp"),
                v(1),
                v(2),
                v(3),
                v(4),
                v(5),
            )
        })
        .collect()
}

/// Bit-for-bit equality (so -0.0 differs from 0.0, and every last digit counts).
#[track_caller]
fn assert_same(got: &[Candle], want: &[Candle], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: candle count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let bits = |c: &Candle| [c.open, c.high, c.low, c.close, c.volume].map(f64::to_bits);
        assert!(
            g.timestamp == w.timestamp && bits(g) == bits(w),
            "{what}: candle {i}: C++ read {g:?}, Rust wrote {w:?}"
        );
    }
}

#[test]
fn a_cpp_reader_reads_every_series_exactly() {
    let _dog = Watchdog::new("cpp_reader", Duration::from_secs(60));
    let dir = TestDir::new("candles-cpp");
    let Some(exe) = compile(dir.path()) else {
        println!("skipped: g++ not found");
        return;
    };
    let shm = ShmName::new("candles-cpp");
    let mut w = CandleWriter::builder(&shm.name)
        .size(8 << 20)
        .create()
        .unwrap();
    let daily = goog();
    assert_eq!(daily.len(), 300);
    // 2004-08-19 is day 12649 since the epoch.
    assert_eq!(daily[0].timestamp, 12_649 * 86_400_000);
    assert_eq!(daily[0].high, 104.06);
    let weeks = weekly(&daily);
    let hourly: Vec<Candle> = (0..500u64)
        .map(|k| {
            let p = 42_000.0 + (k as f64 * 0.37).sin() * 500.0;
            Candle::new(
                1_704_067_200_000 + k * 3_600_000,
                p,
                p + 12.5,
                p - 7.25,
                p + 0.1,
                0.001 * k as f64,
            )
        })
        .collect();
    let btc_daily: Vec<Candle> = hourly
        .chunks(24)
        .map(|c| Candle {
            timestamp: c[0].timestamp,
            high: c.iter().map(|x| x.high).fold(0.0, f64::max),
            low: c.iter().map(|x| x.low).fold(f64::MAX, f64::min),
            close: c[c.len() - 1].close,
            volume: c.iter().map(|x| x.volume).sum(),
            ..c[0]
        })
        .collect();
    // Written in chunks, so GOOG 1d and BTCUSDT 1h outgrow their first blocks.
    for chunk in daily.chunks(40) {
        w.write_candles("GOOG", "1d", chunk).unwrap();
    }
    w.write_candles("GOOG", "1w", &weeks).unwrap();
    for chunk in hourly.chunks(33) {
        w.write_candles("BTCUSDT", "1h", chunk).unwrap();
    }
    w.write_candles("BTCUSDT", "1d", &btc_daily).unwrap();
    w.write_candles("ODD", "1s", &awkward()).unwrap();
    // The live bar of BTCUSDT 1h changes after the fact.
    let mut hourly = hourly;
    let last = hourly.len() - 1;
    hourly[last].close = 43_210.987_654_321;
    hourly[last].volume = 1e-9;
    w.write_candles("BTCUSDT", "1h", &hourly[last..]).unwrap();
    let index = w.index().unwrap();
    assert!(
        index
            .series
            .iter()
            .any(|s| s.symbol == "BTCUSDT" && s.block > DATA_OFFSET + 64 * CANDLE_LEN * 4),
        "BTCUSDT 1h should have moved past its first blocks: {:?}",
        index.series
    );

    let path = Path::new(shmbus::SHM_DIR).join(&shm.name);
    let path = path.to_str().unwrap();
    let series: [(&str, &str, &[Candle]); 5] = [
        ("GOOG", "1d", &daily),
        ("GOOG", "1w", &weeks),
        ("BTCUSDT", "1h", &hourly),
        ("BTCUSDT", "1d", &btc_daily),
        ("ODD", "1s", &awkward()),
    ];
    for (symbol, interval, want) in series {
        // By shm name (the reader maps /dev/shm/NAME) and by path.
        for region in [shm.name.as_str(), path] {
            let what = format!("{region} {symbol} {interval}");
            assert_same(
                &parse(&run(&exe, region, symbol, interval), &what),
                want,
                &what,
            );
        }
    }
    eprintln!(
        "C++ read {} candles in 5 series twice",
        daily.len() + weeks.len() + hourly.len() + btc_daily.len() + awkward().len()
    );

    // Errors: another interval of a stored symbol, a missing region, not a QNXS file.
    let out = run(&exe, &shm.name, "GOOG", "4h");
    assert_eq!(out.status.code(), Some(4), "GOOG 4h: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such series"));
    let out = run(&exe, &dir.name("missing"), "GOOG", "1d");
    assert_eq!(out.status.code(), Some(3), "missing region: {out:?}");
    let junk = dir.name("junk");
    std::fs::write(&junk, vec![7u8; 20_000]).unwrap();
    let out = run(&exe, &junk, "GOOG", "1d");
    assert_eq!(out.status.code(), Some(3), "junk: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a QNXS v1 region"));
    // An index entry pointing outside the region: refused, not followed.
    let copy = dir.name("corrupt");
    std::fs::copy(path, &copy).unwrap();
    let goog_entry = index
        .series
        .iter()
        .position(|s| s.symbol == "GOOG")
        .unwrap() as u64;
    common::patch(
        &copy,
        ENTRIES + ENTRY_LEN * goog_entry + E_DATA_OFFSET,
        &(u64::MAX - 7).to_le_bytes(),
    );
    let out = run(&exe, &copy, "GOOG", "1d");
    assert_eq!(out.status.code(), Some(4), "corrupt: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt index"));
}
