//! The Rust side of the interop matrix: writes or reads the values of tests/interop/SPEC.md.
//!
//! ```sh
//! interop write slots /shmbus-interop-rust-slots
//! interop read  slots /shmbus-interop-rust-slots
//! ```

use std::process::ExitCode;
use std::time::Duration;

use shmbus::candles::{Candle, CandleReader, CandleWriter};
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::{SlotReader, SlotWriter, TradingData};

const SLOT_KEYS: u32 = 8;
const MESSAGES: u64 = 1000;
const RING: u64 = 1 << 20;
const CANDLE_REGION: u64 = 8 << 20;
const T0: u64 = 1_700_000_000_000;

/// A mismatch between what was read and the contract.
struct Mismatch(String);

type Outcome = Result<usize, Failure>;

enum Failure {
    Mismatch(Mismatch),
    Error(Box<dyn std::error::Error>),
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(Box::new(e))
    }
}

macro_rules! check {
    ($kind:literal, $at:expr, $field:literal, $want:expr, $got:expr) => {{
        let (want, got) = ($want, $got);
        if want != got {
            return Err(Failure::Mismatch(Mismatch(format!(
                "{} {}: field {}: expected {:?}, found {:?}",
                $kind, $at, $field, want, got
            ))));
        }
    }};
}

fn slot_value(k: u32) -> TradingData {
    TradingData::new(
        100.25 + 1.5 * k as f64,
        1000 + 7 * k as i32,
        1_700_000_000_000_000_000 + k as u64,
    )
}

fn msg_type(i: u64) -> u16 {
    1 + (i % 5) as u16
}

fn msg_payload(i: u64) -> Vec<u8> {
    let len = (7 * i % 300) as usize;
    (0..len)
        .map(|j| ((31 * i + 7 * j as u64) % 256) as u8)
        .collect()
}

/// The three series: (symbol, interval, candles).
fn series() -> Vec<(&'static str, &'static str, Vec<Candle>)> {
    let m1 = (0..500u64)
        .map(|i| {
            let open = 100.0 + 0.5 * i as f64;
            Candle::new(
                T0 + 60_000 * i,
                open,
                open + 2.0,
                open - 1.25,
                open + 0.75,
                10.0 * i as f64 + 0.5,
            )
        })
        .collect();
    let h1 = (0..50u64)
        .map(|i| {
            let open = 200.0 + i as f64;
            Candle::new(
                T0 + 3_600_000 * i,
                open,
                open + 3.0,
                open - 2.0,
                open + 1.0,
                i as f64 + 1.0,
            )
        })
        .collect();
    let d1 = (0..30u64)
        .map(|i| {
            let open = 150.0 + 0.25 * i as f64;
            Candle::new(
                T0 + 86_400_000 * i,
                open,
                open + 1.0,
                open - 1.0,
                open + 0.5,
                1_000_000.0 + i as f64,
            )
        })
        .collect();
    vec![
        ("BTCUSDT", "1m", m1),
        ("BTCUSDT", "1h", h1),
        ("GOOG", "1d", d1),
    ]
}

fn write(kind: &str, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    match kind {
        "slots" => {
            let mut w = SlotWriter::<TradingData>::builder(name)
                .capacity(16)
                .create()?;
            for k in 0..SLOT_KEYS {
                let key = format!("SYM{k}");
                w.put(&key, &TradingData::new(0.0, 0, 0))?;
                w.put(&key, &slot_value(k))?;
            }
        }
        "journal" => {
            let mut w = JournalWriter::builder(name).ring(RING).create()?;
            for i in 0..MESSAGES {
                w.append(msg_type(i), &msg_payload(i))?;
                if i % 10 == 9 {
                    w.commit();
                }
            }
        }
        "candles" => {
            let mut w = CandleWriter::builder(name).size(CANDLE_REGION).create()?;
            for (symbol, interval, candles) in series() {
                let calls = if interval == "1m" { 5 } else { 1 };
                for chunk in candles.chunks(candles.len() / calls) {
                    w.write_candles(symbol, interval, chunk)?;
                }
            }
        }
        _ => return Err(format!("unknown kind {kind:?} (slots, journal or candles)").into()),
    }
    Ok(())
}

fn read(kind: &str, name: &str) -> Outcome {
    match kind {
        "slots" => {
            let r = SlotReader::<TradingData>::open(name)?;
            check!("slots", "table", "keys", SLOT_KEYS, r.len());
            for k in 0..SLOT_KEYS {
                let key = format!("SYM{k}");
                let Some(v) = r.get(&key)? else {
                    return Err(Failure::Mismatch(Mismatch(format!(
                        "slots {key}: never written"
                    ))));
                };
                let want = slot_value(k);
                check!("slots", key, "price", want.price, v.value.price);
                check!("slots", key, "timestamp", want.timestamp, v.value.timestamp);
                check!("slots", key, "volume", want.volume, v.value.volume);
                check!("slots", key, "valid", want.valid, v.value.valid);
            }
            Ok(SLOT_KEYS as usize)
        }
        "journal" => {
            let mut r = JournalReader::open(name, Start::Beginning)?;
            for i in 0..MESSAGES {
                let Some(m) = r.next_timeout(Duration::ZERO)? else {
                    return Err(Failure::Mismatch(Mismatch(format!(
                        "journal: only {i} messages, expected {MESSAGES}"
                    ))));
                };
                check!("journal", i, "seq", i, m.seq);
                check!("journal", i, "type", msg_type(i), m.ty);
                let want = msg_payload(i);
                check!("journal", i, "length", want.len(), m.payload.len());
                if let Some(j) = (0..want.len()).find(|&j| want[j] != m.payload[j]) {
                    check!("journal", i, "payload byte", want[j], m.payload[j]);
                }
            }
            if let Some(m) = r.next()? {
                return Err(Failure::Mismatch(Mismatch(format!(
                    "journal: an extra message, sequence {}",
                    m.seq
                ))));
            }
            Ok(MESSAGES as usize)
        }
        "candles" => {
            let r = CandleReader::open(name)?;
            let stored = r.list_series()?;
            check!("candles", "region", "series", 3, stored.len());
            let mut count = 0;
            for (symbol, interval, want) in series() {
                let got = r.read_series(symbol, interval)?;
                let at = format!("{symbol} {interval}");
                check!("candles", at, "count", want.len(), got.len());
                for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                    let at = format!("{symbol} {interval} #{i}");
                    check!("candles", at, "timestamp", w.timestamp, g.timestamp);
                    check!("candles", at, "open", w.open, g.open);
                    check!("candles", at, "high", w.high, g.high);
                    check!("candles", at, "low", w.low, g.low);
                    check!("candles", at, "close", w.close, g.close);
                    check!("candles", at, "volume", w.volume, g.volume);
                }
                count += got.len();
            }
            Ok(count)
        }
        _ => Err(Failure::Error(
            format!("unknown kind {kind:?} (slots, journal or candles)").into(),
        )),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [verb, kind, name] = args.as_slice() else {
        eprintln!("usage: interop write|read slots|journal|candles NAME");
        return ExitCode::from(2);
    };
    match verb.as_str() {
        "write" => match write(kind, name) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("interop rust write {kind} {name}: {e}");
                ExitCode::from(2)
            }
        },
        "read" => match read(kind, name) {
            Ok(n) => {
                println!("ok rust read {kind} {n}");
                ExitCode::SUCCESS
            }
            Err(Failure::Mismatch(Mismatch(what))) => {
                eprintln!("interop rust read {name}: {what}");
                ExitCode::from(1)
            }
            Err(Failure::Error(e)) => {
                eprintln!("interop rust read {kind} {name}: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: interop write|read slots|journal|candles NAME");
            ExitCode::from(2)
        }
    }
}
