//! Writes the seed corpus of every fuzz target (`fuzz/corpus/TARGET/seed-*`) with the real
//! writers: regions of each kind, rings and persisted journals, candle stores (shmbus's and one
//! as the original QuantNexus writer leaves it), CSV files in the shapes the importer reads, and
//! typical command-line values. Deterministic: running it again gives the same files except for
//! the times and pids the writers record.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds    # scripts/ci/fuzz.sh --seeds
//! ```

use std::path::{Path, PathBuf};

use shmbus::candles::{Candle, CandleWriter};
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::{Region, RegionKind, SlotWriter, TradingData};
use shmbus_fuzz::{FRAMES_PREFIX, FramesHead};

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let tmp = shmbus_fuzz::scratch().join("seeds");
    std::fs::create_dir_all(&tmp).expect("scratch");
    let mut out = Corpus {
        root: corpus,
        written: 0,
    };
    region_seeds(&mut out, &tmp);
    journal_seeds(&mut out, &tmp);
    candle_seeds(&mut out, &tmp);
    csv_seeds(&mut out);
    parser_seeds(&mut out);
    let _ = std::fs::remove_dir_all(&tmp);
    println!("seeds: {} files under {}", out.written, out.root.display());
}

struct Corpus {
    root: PathBuf,
    written: usize,
}

impl Corpus {
    /// Replaces `corpus/TARGET/seed-NAME` with `bytes`.
    fn seed(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
        self.written += 1;
    }
}

fn path_name(p: &Path) -> &str {
    p.to_str().expect("UTF-8 scratch path")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).expect("read a seed region")
}

fn region_seeds(out: &mut Corpus, tmp: &Path) {
    let raw = tmp.join("raw");
    drop(
        Region::builder(path_name(&raw))
            .kind(RegionKind::Raw)
            .size(4096)
            .create()
            .expect("raw"),
    );
    out.seed("region_open", "raw", &read(&raw));

    let slots = tmp.join("slots");
    let mut w = SlotWriter::<TradingData>::builder(path_name(&slots))
        .capacity(4)
        .create()
        .expect("slots");
    for (i, key) in ["BTCUSD", "ETHUSD", "GOOG"].iter().enumerate() {
        w.put(
            key,
            &TradingData::new(100.0 + i as f64, 7 + i as i32, 1_700_000_000_000_000_000),
        )
        .expect("put");
    }
    drop(w);
    out.seed("region_open", "slots", &read(&slots));

    let ring = tmp.join("region-ring");
    let mut j = JournalWriter::builder(path_name(&ring))
        .ring(4096)
        .create()
        .expect("ring");
    j.append(1, b"hello").expect("append");
    j.commit();
    drop(j);
    out.seed("region_open", "journal", &read(&ring));
    // A reader registry (kind 5): made by registering a reader of that ring.
    let mut r = JournalReader::open(path_name(&ring), Start::Beginning).expect("reader");
    r.register("seed").expect("register");
    drop(r);
    let registry = shmbus::journal::registry_name(path_name(&ring)).expect("registry name");
    out.seed("region_open", "readers", &read(Path::new(&registry)));

    let candles = tmp.join("region-candles");
    let mut c = CandleWriter::builder(path_name(&candles))
        .size(20 << 10)
        .create()
        .expect("candles");
    c.write_candles("BTCUSD", "1d", &bars(1_700_000_000_000, 86_400_000, 3))
        .expect("write");
    drop(c);
    out.seed("region_open", "candles", &read(&candles));
}

/// `n` valid bars from `t0`, `step` ms apart.
fn bars(t0: u64, step: u64, n: u64) -> Vec<Candle> {
    (0..n)
        .map(|i| {
            let p = 100.0 + i as f64;
            Candle::new(t0 + i * step, p, p + 2.0, p - 1.0, p + 1.0, 10.0 * i as f64)
        })
        .collect()
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn journal_seeds(out: &mut Corpus, tmp: &Path) {
    // Rings as whole files: empty, a few messages, wrapped several times (padding, a moved
    // horizon), with and without CRC.
    for (label, crc, messages, len) in [
        ("empty", false, 0, 0),
        ("few", false, 5, 40),
        ("few-crc", true, 5, 40),
        ("wrapped", false, 200, 90),
        ("wrapped-crc", true, 200, 90),
        ("large", false, 3, 900),
    ] {
        let ring = tmp.join(format!("ring-{label}"));
        let mut w = JournalWriter::builder(path_name(&ring))
            .ring(4096)
            .crc(crc)
            .create()
            .expect("ring");
        for i in 0..messages {
            let payload: Vec<u8> = (0..len + i % 13).map(|k| (k + i) as u8).collect();
            w.append((i % 5) as u16, &payload).expect("append");
            if i % 3 == 2 {
                w.commit();
            }
        }
        w.commit();
        drop(w);
        let bytes = read(&ring);
        out.seed("journal_file", label, &bytes);
        if label == "few" {
            // The first finding (journal_corrupt.rs, a_damaged_sequence_word_is_a_gap_backward_too):
            // the second frame's sequence word says 0, still published; backward reads returned it.
            let mut damaged = bytes.clone();
            let second = u64_at(&bytes, 144) as usize + 64;
            damaged[second + 8..second + 16].copy_from_slice(&(1u64 << 63).to_le_bytes());
            out.seed("journal_file", "regress-prev-gap", &damaged);
        }
        // The same ring for journal_frames: its commit line as raw words, then the data area.
        let d = u64_at(&bytes, 144) as usize;
        let head = FramesHead {
            persisted: false,
            crc,
            raw: true,
            words: [
                u64_at(&bytes, 192),
                u64_at(&bytes, 256),
                u64_at(&bytes, 264),
                0,
            ],
        };
        let mut seed = head.encode();
        assert_eq!(seed.len(), FRAMES_PREFIX);
        seed.extend_from_slice(&bytes[d..]);
        out.seed("journal_frames", &format!("ring-{label}"), &seed);
    }
    // Persisted journals of two 4096-byte segments (what journal_frames builds them from).
    for (label, crc) in [("seg", false), ("seg-crc", true)] {
        let dir = tmp.join(format!("persisted-{label}"));
        let mut w = JournalWriter::builder(path_name(&dir))
            .segment_size(4096)
            .crc(crc)
            .create()
            .expect("persisted");
        let seg1 = dir.join("0000000001.seg");
        let mut i = 0u64;
        while !seg1.exists() || !i.is_multiple_of(7) {
            let payload: Vec<u8> = (0..60 + i % 50).map(|k| (k ^ i) as u8).collect();
            w.append(2, &payload).expect("append");
            if i % 4 == 3 {
                w.commit();
            }
            i += 1;
        }
        w.commit();
        drop(w);
        let s0 = read(&dir.join("0000000000.seg"));
        let s1 = read(&seg1);
        let (d0, d1) = (u64_at(&s0, 144) as usize, u64_at(&s1, 144) as usize);
        let head = FramesHead {
            persisted: true,
            crc,
            raw: true,
            words: [u64_at(&s0, 192), u64_at(&s0, 256), 0, u64_at(&s0, 224)],
        };
        // Raw words set segment 1's commit from the fourth word too: use the derived form
        // instead, which keeps both commits near their data.
        let derived = FramesHead {
            raw: false,
            words: [
                u64_at(&s0, 192),
                0,
                i,
                ((u64_at(&s1, 192) - u64_at(&s1, 176)) << 1) | 1,
            ],
            ..head
        };
        let mut seed = derived.encode();
        seed.extend_from_slice(&s0[d0..]);
        seed.extend_from_slice(&s1[d1..]);
        out.seed("journal_frames", label, &seed);
        out.seed("journal_file", &format!("{label}0"), &s0);
    }
}

fn candle_seeds(out: &mut Corpus, tmp: &Path) {
    let store = |label: &str, fill: &dyn Fn(&mut CandleWriter)| {
        let p = tmp.join(format!("candles-{label}"));
        let mut w = CandleWriter::builder(path_name(&p))
            .size(24 << 10)
            .max_candles(64)
            .create()
            .expect("candles");
        fill(&mut w);
        drop(w);
        read(&p)
    };
    out.seed("candles", "empty", &store("empty", &|_| {}));
    let one = store("one", &|w| {
        w.write_candles("BTCUSD", "1d", &bars(1_700_000_000_000, 86_400_000, 5))
            .expect("write");
    });
    out.seed("candles", "one", &one);
    out.seed(
        "candles",
        "several",
        &store("several", &|w| {
            w.write_candles("BTCUSD", "1d", &bars(1_700_000_000_000, 86_400_000, 5))
                .expect("write");
            w.write_candles("BTCUSD", "1h", &bars(1_700_000_000_000, 3_600_000, 3))
                .expect("write");
            w.write_candles("GOOG", "1d", &bars(1_600_000_000_000, 86_400_000, 2))
                .expect("write");
            // Grows BTCUSD 1d past its first block: the block moves, its old space is free.
            w.write_candles("BTCUSD", "1d", &bars(1_700_432_000_000, 86_400_000, 40))
                .expect("write");
        }),
    );
    // As the original QuantNexus writer leaves a region: no shmbus header, zeros from 44 on.
    let mut foreign = one.clone();
    foreign[44..256].fill(0);
    out.seed("candles", "qnxs-original", &foreign);
}

fn csv_seeds(out: &mut Corpus) {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/shmbus-cli/tests/fixtures");
    for (zone, file) in [(0u8, "GOOG.csv"), (2, "BTCUSD.csv")] {
        let text = std::fs::read_to_string(fixtures.join(file)).expect("fixture");
        let head: String = text.lines().take(12).map(|l| format!("{l}\n")).collect();
        out.seed("csv_rows", file, &[&[zone][..], head.as_bytes()].concat());
    }
    for (name, zone, text) in [
        (
            "unix-seconds",
            0u8,
            "timestamp,open,high,low,close,volume\n1704067200,1,2,0.5,1.5,10\n1704070800,1.5,2,1,1.2,3.25\n",
        ),
        (
            "unix-ms-desc",
            0,
            "Date,O,H,L,C,V\n1704070800000,1.5,2,1,1.2,3\n1704067200000,1,2,0.5,1.5,10\n",
        ),
        (
            "datetime-tz",
            1,
            "datetime,Open,High,Low,Close\n2024-01-01 01:00:00,1,2,0.5,1.5\n2024-01-01T02:00,1,2,0.5,1.5\n",
        ),
        (
            "offsets",
            2,
            "time,open,high,low,close,vol\n2024-01-01T02:00:00+01:00,1,2,0.5,1.5,1\n2024-01-01T03:00:00Z,1,2,0.5,1.5,2\n",
        ),
        (
            "quoted",
            3,
            "\"date\",\"open\",\"high\",\"low\",\"close\",\"volume\"\n\"2024-01-02\",\"1\",\"2\",\"0.5\",\"1.5\",\"7\"\n\n2024-01-03,1,2,0.5,1.5,8\n",
        ),
    ] {
        out.seed("csv_rows", name, &[&[zone][..], text.as_bytes()].concat());
    }
}

fn parser_seeds(out: &mut Corpus) {
    let values: [(u8, &[&str]); 8] = [
        (0, &["64K", "8M", "1G", "2MiB", "16kb", "4096", " 1T "]),
        (1, &["0", "0.2", "1e9", "30"]),
        (2, &["5000", "0.001", "1e9"]),
        (3, &["max", "86400", "0.000001"]),
        (4, &["UTC", "+05:30", "-0500", "America/New_York", "Z"]),
        (
            5,
            &[
                "2024-01-01",
                "2024-01-01 01:00:00",
                "2024-01-01T02:00:00+01:00",
                "1704067200",
                "1704067200000",
            ],
        ),
        (
            6,
            &[
                "prices",
                "/prices",
                "./data/prices.shm",
                "/tmp/x/j",
                "a.b_c-d",
            ],
        ),
        (7, &["trades", "./data/journal", "/dev/shm/trades"]),
    ];
    for (which, list) in values {
        for (i, v) in list.iter().enumerate() {
            out.seed(
                "cli_parsers",
                &format!("{which}-{i}"),
                &[&[which][..], v.as_bytes()].concat(),
            );
        }
    }
}
