//! The fuzz targets' bodies, one function per target (`fuzz_targets/NAME.rs` calls `NAME`).
//!
//! Every target gives the code under test bytes nobody vetted and asserts that it answers with a
//! value or a typed error: a panic, an out-of-bounds access (AddressSanitizer), a hang (libFuzzer's
//! `-timeout`) or a broken invariant stated below is a finding. Bytes that stand for a region are
//! written to a file in a scratch directory (`$TMPDIR/shmbus-fuzz-PID`, removed at exit) and
//! opened through the public API, as a reader process would open a region another process wrote.
//!
//! `examples/seeds.rs` writes the checked-in seed corpus (`corpus/NAME/`) with the real writers.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use shmbus::candles::{Candle, CandleReader, CandleWriter, SeriesInfo};
use shmbus::journal::{JournalReader, JournalWriter, MAX_MESSAGE, Start};
use shmbus::layout::journal as layout;
use shmbus::{Region, RegionKind, RegionName, SlotReader, TradingData};
use shmbus_input::csv_import::{self, CsvInput};
use shmbus_input::size;

/// Steps of each walk over a journal: enough to cross a small ring several times.
const STEPS: usize = 96;

// ---------------------------------------------------------------------------------------------
// Scratch files

/// This process's scratch directory, created on first use and removed at exit.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("shmbus-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        extern "C" fn remove_scratch() {
            if let Some(dir) = DIR.get() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        // SAFETY: `remove_scratch` is a plain `extern "C" fn()` that never unwinds across the
        // C boundary (it ignores every error); registering it has no other precondition.
        unsafe { libc::atexit(remove_scratch) };
        dir
    })
}

/// Writes `data` to the scratch file `file` (replacing it) and returns its path.
pub fn put(file: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(file);
    std::fs::write(&path, data).expect("cannot write a fuzz scratch file");
    path
}

fn name_of(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}

/// Formats an error (its `Display` is code under test too).
fn show(e: &impl std::fmt::Display) {
    std::hint::black_box(e.to_string());
}

// ---------------------------------------------------------------------------------------------
// region_open

/// Any bytes as a region file: opened as any kind and as each kind, listed (the probe of
/// `shmbus ls`), and read as a slot table. Opening gives a region or an error.
pub fn region_open(data: &[u8]) {
    let path = put("region", data);
    let name = name_of(&path);
    match Region::open_any(name) {
        Ok(r) => {
            let h = r.read_header();
            std::hint::black_box((h.kind_name(), format!("{h:?}"), r.kind(), r.len()));
            assert_eq!(r.len(), data.len(), "an open region maps the whole file");
            if let Err(e) = r.check_intact() {
                show(&e);
            }
            let _ = r.writer_alive();
            let _ = r.read_bytes(0, r.len());
            assert!(r.read_bytes(r.len(), 1).is_none(), "a read past the end");
        }
        Err(e) => show(&e),
    }
    for kind in RegionKind::ALL {
        match Region::open_options().kind(kind).open(name) {
            Ok(r) => assert_eq!(r.kind(), Some(kind), "opened as {kind:?}"),
            Err(e) => show(&e),
        }
    }
    match Region::list(scratch()) {
        Ok(list) => {
            std::hint::black_box(format!("{list:?}"));
        }
        Err(e) => show(&e),
    }
    match SlotReader::<TradingData>::open(name) {
        Ok(mut slots) => {
            slots.set_timeout(Duration::from_millis(1));
            for (key, id) in slots.keys() {
                let _ = slots.read(id).map_err(|e| show(&e));
                let _ = slots.get(&key).map_err(|e| show(&e));
                let _ = slots.sequence(id).map_err(|e| show(&e));
            }
            std::hint::black_box((slots.len(), slots.capacity()));
        }
        Err(e) => show(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// Journals

/// Reads a journal every way: forward from the oldest message, from the end, from `hint`;
/// backward from the end; seeks. Consecutive messages without an error in between have
/// consecutive sequences and increasing positions.
pub fn walk_journal(name: &str, hint: u64) {
    for start in [Start::Beginning, Start::End, Start::Seq(hint)] {
        let mut r = match JournalReader::open(name, start) {
            Ok(r) => r,
            Err(e) => {
                show(&e);
                continue;
            }
        };
        let _ = r.info().map(|i| format!("{i:?}")).map_err(|e| show(&e));
        let mut last: Option<(u64, u64)> = None;
        for _ in 0..STEPS {
            match r.next() {
                Ok(Some(m)) => {
                    assert!(
                        m.payload.len() <= MAX_MESSAGE,
                        "payload of {}",
                        m.payload.len()
                    );
                    if let Some((seq, pos)) = last {
                        assert_eq!(m.seq, seq + 1, "forward after seq {seq} at {pos}");
                        assert!(
                            m.position > pos,
                            "forward: position {} after {pos}",
                            m.position
                        );
                    }
                    last = Some((m.seq, m.position));
                    let seq = m.seq;
                    assert_eq!(r.next_seq(), seq + 1, "next_seq after a message");
                }
                Ok(None) => break,
                Err(e) => {
                    show(&e);
                    last = None;
                }
            }
        }
        let _ = r.has_next();
        if start == Start::End {
            let mut last: Option<(u64, u64)> = None;
            for _ in 0..STEPS {
                match r.prev() {
                    Ok(Some(m)) => {
                        if let Some((seq, pos)) = last {
                            assert_eq!(m.seq + 1, seq, "backward before seq {seq} at {pos}");
                            assert!(m.position < pos, "backward: {} before {pos}", m.position);
                        }
                        last = Some((m.seq, m.position));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        show(&e);
                        last = None;
                    }
                }
            }
        }
        for seq in [0, hint, hint / 2, hint.wrapping_add(64)] {
            match r.seek(seq) {
                Ok(()) => match r.next() {
                    Ok(Some(m)) => std::hint::black_box(m.payload.len()),
                    Ok(None) => 0,
                    Err(e) => {
                        show(&e);
                        0
                    }
                },
                Err(e) => {
                    show(&e);
                    0
                }
            };
        }
    }
}

/// Any bytes as a whole ring journal file, read every way ([`walk_journal`]).
pub fn journal_file(data: &[u8]) {
    let path = put("journal", data);
    let hint = data.get(COMMIT_SEQ..COMMIT_SEQ + 8).map_or(0, |b| {
        u64::from_le_bytes(b.try_into().expect("8 bytes")) & 0xffff
    });
    walk_journal(name_of(&path), hint);
}

/// A journal's files as the real writer makes them: header bytes (everything before the data
/// area) of a ring, or of the first two segments of a persisted journal.
#[derive(Debug)]
pub struct Template {
    /// The files' bytes up to their data area (the ring's, or segment 0's then segment 1's).
    pub heads: Vec<Vec<u8>>,
    /// Data bytes of the ring or of each segment.
    pub capacity: usize,
}

/// Absolute offsets of the words the fuzz input sets (docs/FORMAT.md, 5.2 and 5.3), from the
/// core's own layout facts.
const DATA_OFFSET: usize = layout::DATA_OFF as usize;
const CAPACITY: usize = layout::CAPACITY as usize;
const BASE_POS: usize = layout::BASE_POS as usize;
const COMMIT: usize = layout::COMMIT as usize;
const COMMIT_SEQ: usize = layout::COMMIT_SEQ as usize;
const SEALED: usize = layout::SEALED as usize;
const OLDEST: usize = layout::OLDEST as usize;
const OLDEST_SEQ: usize = layout::OLDEST_SEQ as usize;

fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn set_word(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

impl Template {
    /// Builds the template with the real writer: a ring of 4096 data bytes, or a persisted
    /// journal of 4096-byte segments written until it has two.
    fn build(persisted: bool, crc: bool) -> Self {
        let dir = scratch().join(format!("template-{persisted}-{crc}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create a template directory");
        let name = dir.join("j");
        let name = name_of(&name);
        let b = JournalWriter::builder(name).crc(crc);
        let b = if persisted {
            b.segment_size(4096)
        } else {
            b.ring(4096)
        };
        let mut w = b.create().expect("cannot create the template journal");
        let files: Vec<PathBuf> = if persisted {
            let seg1 = Path::new(name).join("0000000001.seg");
            while !seg1.exists() {
                w.append(1, &[7; 100]).expect("template append");
                w.commit();
            }
            vec![Path::new(name).join("0000000000.seg"), seg1]
        } else {
            vec![PathBuf::from(name)]
        };
        drop(w);
        let mut heads = Vec::new();
        let mut capacity = 0;
        for f in &files {
            let bytes = std::fs::read(f).expect("cannot read the template journal");
            let d = word(&bytes, DATA_OFFSET) as usize;
            capacity = word(&bytes, CAPACITY) as usize;
            assert_eq!(bytes.len(), d + capacity, "a template file is D + C bytes");
            heads.push(bytes[..d].to_vec());
        }
        let _ = std::fs::remove_dir_all(&dir);
        Self { heads, capacity }
    }

    /// The template for `persisted` and `crc`, built once per process.
    pub fn get(persisted: bool, crc: bool) -> &'static Self {
        static T: [OnceLock<Template>; 4] = [const { OnceLock::new() }; 4];
        T[usize::from(persisted) * 2 + usize::from(crc)].get_or_init(|| Self::build(persisted, crc))
    }
}

/// What the first [`FRAMES_PREFIX`] bytes of a `journal_frames` input choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramesHead {
    /// A persisted journal (two segment files) instead of a ring.
    pub persisted: bool,
    /// Frames carry a CRC32C.
    pub crc: bool,
    /// The four words are stored as given, not brought near the data.
    pub raw: bool,
    /// commit, oldest (back from commit), oldest_seq, sealed / segment 1's commit.
    pub words: [u64; 4],
}

/// Bytes of a `journal_frames` input before its data bytes.
pub const FRAMES_PREFIX: usize = 1 + 4 * 8;

impl FramesHead {
    fn parse(data: &[u8]) -> Option<(Self, &[u8])> {
        let (head, rest) = data.split_at_checked(FRAMES_PREFIX)?;
        let mut words = [0; 4];
        for (i, w) in words.iter_mut().enumerate() {
            *w = word(head, 1 + 8 * i);
        }
        let h = Self {
            persisted: head[0] & 1 != 0,
            crc: head[0] & 2 != 0,
            raw: head[0] & 4 != 0,
            words,
        };
        Some((h, rest))
    }

    /// The prefix that [`journal_frames`] reads back as `self`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            vec![u8::from(self.persisted) | u8::from(self.crc) << 1 | u8::from(self.raw) << 2];
        for w in self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// The real writer's journal header (ring or persisted, with or without CRC) over fuzzed data
/// bytes, with the commit line set from the input (near the data unless `raw`), read every way.
/// This drives the frame decoder (forward, backward, padding, index hints) with headers that
/// pass validation. Input: [`FramesHead`] then the data area(s).
pub fn journal_frames(data: &[u8]) {
    let Some((h, rest)) = FramesHead::parse(data) else {
        return;
    };
    let t = Template::get(h.persisted, h.crc);
    let c = t.capacity as u64;
    let [w0, w1, w2, w3] = h.words;
    let dir = scratch().join("frames");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&dir);
    let mut files = Vec::new();
    for (i, head) in t.heads.iter().enumerate() {
        let mut bytes = head.clone();
        let area = rest.get(i * t.capacity..).unwrap_or(&[]);
        let area = &area[..area.len().min(t.capacity)];
        bytes.extend_from_slice(area);
        bytes.resize(head.len() + t.capacity, 0);
        let base = word(&bytes, BASE_POS);
        if h.raw {
            let w = if i == 0 { w0 } else { w3 };
            set_word(&mut bytes, COMMIT, w);
            set_word(&mut bytes, OLDEST, w1);
            set_word(&mut bytes, OLDEST_SEQ, w2);
            if h.persisted && i == 0 {
                set_word(&mut bytes, SEALED, w3);
            }
        } else if !h.persisted {
            let commit = (w0 % (8 * c)) & !7;
            set_word(&mut bytes, COMMIT, commit);
            set_word(&mut bytes, OLDEST, commit.saturating_sub(w1 % (2 * c)) & !7);
            set_word(&mut bytes, OLDEST_SEQ, w2 % 4096);
            set_word(&mut bytes, COMMIT_SEQ, w2 % 4096 + w3 % 4096);
        } else {
            let commit = base + ((if i == 0 { w0 } else { w3 >> 1 } % (c + 8)) & !7);
            set_word(&mut bytes, COMMIT, commit);
            set_word(&mut bytes, OLDEST, base);
            if i == 0 {
                set_word(&mut bytes, SEALED, if w3 & 1 != 0 { commit + 1 } else { 0 });
            }
            set_word(&mut bytes, COMMIT_SEQ, w2 % 4096);
        }
        files.push(bytes);
    }
    if h.persisted {
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz journal directory");
        for (i, bytes) in files.iter().enumerate() {
            std::fs::write(dir.join(format!("{i:010}.seg")), bytes).expect("write a segment");
        }
    } else {
        std::fs::write(&dir, &files[0]).expect("write the ring");
    }
    walk_journal(name_of(&dir), w2 % 4096);
}

// ---------------------------------------------------------------------------------------------
// Candles

/// Any bytes as a candle region (shmbus's, or the original QuantNexus writer's): the index and
/// every series read; a writer that accepts the region writes to it and a reader reads it back.
/// The region's sequence is made even first: an odd one is a writer mid-write, which readers
/// wait out for a bounded time by design (tested in the core), and would only slow fuzzing.
pub fn candles(data: &[u8]) {
    let mut data = data.to_vec();
    if let Some(b) = data.get_mut(shmbus::layout::candles::SEQUENCE as usize) {
        *b &= !1;
    }
    let path = put("candles", &data);
    let name = name_of(&path);
    read_candles(name);
    match CandleWriter::open(name) {
        Ok(mut w) => {
            let _ = w.index().map_err(|e| show(&e));
            std::hint::black_box(w.stats());
            let series = w.index().map(|i| i.series).unwrap_or_default();
            if let Some(s) = series.first() {
                let ts = s.end_ts.saturating_add(60_000);
                let bar = Candle::new(ts, 1.0, 2.0, 0.5, 1.5, 10.0);
                let _ = w
                    .write_candles(&s.symbol, &s.interval, &[bar])
                    .map_err(|e| show(&e));
            }
            let bar = Candle::new(1_700_000_000_000, 1.0, 2.0, 0.5, 1.5, 10.0);
            let _ = w.write_candles("FUZZ", "1m", &[bar]).map_err(|e| show(&e));
            drop(w);
            read_candles(name);
        }
        Err(e) => show(&e),
    }
}

fn read_candles(name: &str) {
    let r = match CandleReader::open(name) {
        Ok(r) => r,
        Err(e) => return show(&e),
    };
    let _ = r.stats().map_err(|e| show(&e));
    let list = match r.list_series() {
        Ok(l) => l,
        Err(e) => return show(&e),
    };
    for s in list.iter().take(8) {
        match r.read_series(&s.symbol, &s.interval) {
            // Stored bars are whatever the region holds (a corrupt one may hold them in any
            // order): the reader bounds-checks, it does not vet the candles.
            Ok(bars) => {
                // (A corrupt index may list a series twice: the reader reads the first.)
                let same = |o: &&SeriesInfo| o.symbol == s.symbol && o.interval == s.interval;
                let most = list
                    .iter()
                    .filter(same)
                    .map(|o| o.capacity)
                    .max()
                    .unwrap_or(0);
                assert!(
                    bars.len() <= most as usize,
                    "more bars than the block holds"
                );
            }
            Err(e) => show(&e),
        }
        let _ = r.latest(&s.symbol, &s.interval).map_err(|e| show(&e));
        let mid = s.start_ts / 2 + s.end_ts / 2;
        match r.range(&s.symbol, &s.interval, s.start_ts, mid) {
            Ok(bars) => std::hint::black_box(bars.len()),
            Err(e) => {
                show(&e);
                0
            }
        };
    }
}

// ---------------------------------------------------------------------------------------------
// CLI input

/// Time zones a CSV import may be given.
const ZONES: [&str; 4] = ["UTC", "+05:30", "America/New_York", "-0500"];

/// Any bytes as a CSV file for `shmbus candles import` / `shmbus replay` (the first byte picks
/// the `--tz`): rows or an error; rows come oldest first, strictly increasing, within the range.
pub fn csv_rows(data: &[u8]) {
    let Some((&z, rest)) = data.split_first() else {
        return;
    };
    let tz = csv_import::parse_tz(ZONES[usize::from(z) % ZONES.len()]).expect("a known zone");
    let input = CsvInput::from_reader("fuzz.csv", Cursor::new(rest.to_vec()));
    match csv_import::read_csv(input, &tz, |_| {}) {
        Ok(rows) => {
            for pair in rows.windows(2) {
                assert!(
                    pair[0].1.timestamp < pair[1].1.timestamp,
                    "rows out of order"
                );
            }
            for (_, c) in &rows {
                assert!(
                    c.timestamp <= csv_import::max_timestamp_ms(),
                    "{}",
                    c.timestamp
                );
            }
        }
        Err(e) => show(&e),
    }
}

/// Any text as a command-line value: sizes (`--size`), durations, rates, speeds, time zones,
/// timestamps and region or journal names. Each gives a value within its stated bounds or an
/// error; a size parses back from its own digits; a shared-memory name lives in /dev/shm.
pub fn cli_parsers(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 8 {
        0 => {
            if let Ok(n) = size::parse_size(s) {
                assert_eq!(size::parse_size(&n.to_string()), Ok(n), "{s:?}");
                std::hint::black_box(size::human_size(n));
            }
        }
        1 => {
            if let Ok(v) = size::parse_seconds(s) {
                assert!((0.0..=size::MAX_SECONDS).contains(&v), "{s:?} -> {v}");
                let _ = Duration::from_secs_f64(v);
            }
        }
        2 => {
            if let Ok(v) = size::parse_rate(s) {
                assert!((1e-3..=1e9).contains(&v), "{s:?} -> {v}");
                let _ = Duration::from_secs_f64(1.0 / v);
            }
        }
        3 => {
            if let Ok(size::Speed::Times(v)) = size::parse_speed(s) {
                assert!((1e-6..=1e12).contains(&v), "{s:?} -> {v}");
            }
        }
        4 => {
            let _ = csv_import::parse_tz(s).map_err(|e| show(&e));
        }
        5 => match csv_import::parse_timestamp(s, &csv_import::parse_tz("UTC").expect("UTC")) {
            Ok(ms) => assert!(ms <= csv_import::max_timestamp_ms(), "{s:?} -> {ms}"),
            Err(e) => show(&e),
        },
        6 => match RegionName::parse(s) {
            Ok(n) => {
                if n.is_shm() {
                    assert_eq!(
                        n.path(),
                        Path::new(shmbus::SHM_DIR).join(n.as_str()),
                        "{s:?}"
                    );
                    assert!(!n.as_str().contains('/'), "{s:?}");
                } else {
                    let parent = std::path::Component::ParentDir;
                    assert!(!n.path().components().any(|c| c == parent), "{s:?}");
                }
            }
            Err(e) => show(&e),
        },
        _ => {
            let _ = shmbus::journal::registry_name(s).map_err(|e| show(&e));
            std::hint::black_box(size::human_ns(u64::from_le_bytes(pad8(rest))));
            std::hint::black_box(size::human_age(u64::from_le_bytes(pad8(rest))));
        }
    }
}

fn pad8(b: &[u8]) -> [u8; 8] {
    let mut out = [0; 8];
    let n = b.len().min(8);
    out[..n].copy_from_slice(&b[..n]);
    out
}
