//! Hostile files in place of regions (issue 10): a FIFO or other non-regular file is refused
//! without blocking by every entry point; a writer that refuses a corrupt region leaves its bytes
//! exactly as they were; a persisted journal stops cleanly at the last segment number; errors
//! name the live writer of a persisted journal and print an OS error once.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{ShmName, TestDir, Watchdog, assert_mentions, patch, read_u32, watchdog_note};
use shmbus::candles::{Candle, CandleReader, CandleWriter};
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::{
    AppendError, ForeignFileReason, JournalError, Region, RegionError, RemoveError, SlotError,
    SlotReader, SlotWriter, TradingData,
};

/// A hang here is a regression (an open that blocks on a FIFO): fail fast.
const LIMIT: Duration = Duration::from_secs(60);

// Offsets from docs/FORMAT.md.
use shmbus::layout::candles::{INDEX_COUNT as QNXS_INDEX_COUNT, SEQUENCE as QNXS_SEQUENCE};
use shmbus::layout::journal::SEGMENT as JOURNAL_SEGMENT;
use shmbus::layout::journal::{COMMIT as JOURNAL_COMMIT, SEALED as JOURNAL_SEALED};
const SLOT_STRIDE: u64 = shmbus::layout::slots::BODY + shmbus::layout::slots::T_STRIDE;

fn mkfifo(path: &str) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o666),
        0,
    )
    .expect("mkfifo");
}

/// Asserts `r` failed because the name is a FIFO, and says so with the path.
#[track_caller]
fn assert_fifo_refused<T: std::fmt::Debug, E: std::fmt::Display + std::fmt::Debug>(
    what: &str,
    r: Result<T, E>,
    path: &str,
) {
    match r {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(path) && msg.contains("FIFO") && msg.contains("not a regular file"),
                "{what}: {msg:?}"
            );
        }
        Ok(v) => panic!("{what}: a FIFO was accepted: {v:?}"),
    }
}

#[test]
fn a_fifo_is_refused_by_every_open_without_blocking() {
    let _dog = Watchdog::new("a_fifo_is_refused", LIMIT);
    let dir = TestDir::new("fifo");
    let fifo = dir.name("fifo");
    mkfifo(&fifo);
    let f = fifo.as_str();
    // Before the fix, each of these blocked in open(2) until a writer opened the FIFO.
    watchdog_note("Region::open_any on a FIFO");
    match Region::open_any(f) {
        Err(RegionError::NotRegularFile { what, .. }) => assert!(what.contains("FIFO")),
        other => panic!("expected NotRegularFile, got {other:?}"),
    }
    assert_fifo_refused("open_any", Region::open_any(f), f);
    assert_fifo_refused("open_file", Region::open_file(f), f);
    assert_fifo_refused(
        "writer open",
        Region::open_options().writer(true).open(f),
        f,
    );
    assert_fifo_refused("SlotReader", SlotReader::<TradingData>::open(f), f);
    assert_fifo_refused("SlotWriter", SlotWriter::<TradingData>::open(f), f);
    assert_fifo_refused("JournalReader", JournalReader::open(f, Start::End), f);
    assert_fifo_refused("JournalWriter", JournalWriter::open(f), f);
    assert_fifo_refused("CandleReader", CandleReader::open(f), f);
    assert_fifo_refused("CandleWriter", CandleWriter::open(f), f);
    assert_fifo_refused("remove", Region::remove(f, false), f);
    assert_fifo_refused("remove --force", Region::remove(f, true), f);
    assert_fifo_refused("journal remove", shmbus::journal::remove(f, true), f);
    let listed = Region::list(dir.path()).expect("list");
    assert!(listed.iter().all(|e| e.name != f), "ls lists only files");
    assert!(
        rustix::fs::lstat(f)
            .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode))
            .ok()
            == Some(rustix::fs::FileType::Fifo),
        "the FIFO is left alone"
    );

    // Other kinds of file say what they are.
    let sub = dir.name("subdir");
    std::fs::create_dir(&sub).unwrap();
    match Region::open_any(&sub) {
        Err(e @ RegionError::NotRegularFile { .. }) => {
            assert_mentions(&e.to_string(), &[&sub, "a directory", "not a regular file"]);
        }
        other => panic!("expected NotRegularFile, got {other:?}"),
    }
    match Region::open_any("/dev/null") {
        Err(e @ RegionError::NotRegularFile { .. }) => {
            assert_mentions(&e.to_string(), &["/dev/null", "a character device"]);
        }
        other => panic!("expected NotRegularFile, got {other:?}"),
    }
}

#[test]
fn a_fifo_segment_in_a_persisted_journal_is_refused_without_blocking() {
    let _dog = Watchdog::new("a_fifo_segment", LIMIT);
    let dir = TestDir::new("fifoseg");
    let name = dir.name("journal");
    let mut w = JournalWriter::builder(&name)
        .segment_size(4096)
        .create()
        .unwrap();
    w.append_commit(0, b"one").unwrap();
    drop(w);
    let seg = format!("{name}/0000000001.seg");
    mkfifo(&seg);
    watchdog_note("JournalWriter::open with a FIFO segment");
    assert_fifo_refused("JournalWriter", JournalWriter::open(&name), &seg);
    watchdog_note("JournalReader::open with a FIFO segment");
    assert_fifo_refused(
        "JournalReader",
        JournalReader::open(&name, Start::End),
        &seg,
    );
    match shmbus::journal::remove(&name, true) {
        Err(
            e @ RemoveError::ForeignFile {
                reason: ForeignFileReason::NotRegular(_),
                ..
            },
        ) => {
            assert_mentions(&e.to_string(), &[&seg, "FIFO", "even with force"]);
        }
        other => panic!("expected ForeignFile, got {other:?}"),
    }
    assert!(Path::new(&format!("{name}/0000000000.seg")).is_file());
}

/// Opens `name` as a writer expecting a refusal, and checks the file did not change at all.
#[track_caller]
fn assert_refused_unchanged<T: std::fmt::Debug, E: std::fmt::Display>(
    what: &str,
    file: &str,
    open: impl FnOnce() -> Result<T, E>,
    needle: &str,
) {
    let before = std::fs::read(file).expect("read the region");
    match open() {
        Err(e) => assert!(e.to_string().contains(needle), "{what}: {e}"),
        Ok(w) => panic!("{what}: a corrupt region was accepted: {w:?}"),
    }
    let after = std::fs::read(file).expect("read the region");
    let changed: Vec<usize> = (0..before.len().min(after.len()))
        .filter(|&i| before[i] != after[i])
        .collect();
    assert!(
        changed.is_empty() && before.len() == after.len(),
        "{what}: the refusing writer changed bytes at {changed:?}"
    );
}

#[test]
fn a_writer_that_refuses_a_corrupt_region_leaves_it_unchanged() {
    let _dog = Watchdog::new("a_writer_that_refuses", LIMIT);

    // Slots: a stride that does not match the record.
    let slots = ShmName::new("refuse-slots");
    {
        let mut w = SlotWriter::<TradingData>::builder(&slots.name)
            .capacity(8)
            .create()
            .unwrap();
        w.put("BTC", &TradingData::default()).unwrap();
    }
    let stride = read_u32(slots.path(), SLOT_STRIDE);
    patch(slots.path(), SLOT_STRIDE, &999u32.to_le_bytes());
    let path = slots.path().to_str().unwrap().to_owned();
    assert_refused_unchanged(
        "slots",
        &path,
        || SlotWriter::<TradingData>::open(&slots.name),
        "slot geometry",
    );

    // Ring journal: a misaligned commit position.
    let ring = ShmName::new("refuse-ring");
    {
        let mut w = JournalWriter::builder(&ring.name)
            .ring(64 * 1024)
            .create()
            .unwrap();
        w.append_commit(0, b"hello").unwrap();
    }
    patch(ring.path(), JOURNAL_COMMIT, &3u64.to_le_bytes());
    let path = ring.path().to_str().unwrap().to_owned();
    assert_refused_unchanged(
        "ring journal",
        &path,
        || JournalWriter::open(&ring.name),
        "commit position",
    );

    // Persisted journal: the same in its last segment, with an unsealed segment before it (the
    // writer would seal that one too) and nothing else touched.
    let dir = TestDir::new("refuse-persisted");
    let name = dir.name("journal");
    {
        let mut w = JournalWriter::builder(&name)
            .segment_size(4096)
            .create()
            .unwrap();
        for i in 0..200u32 {
            w.append_commit(0, &i.to_le_bytes()).unwrap();
        }
    }
    let segs: Vec<String> = (0..)
        .map(|i| format!("{name}/{i:010}.seg"))
        .take_while(|p| Path::new(p).exists())
        .collect();
    assert!(segs.len() >= 2, "rolled: {segs:?}");
    let last = segs.last().unwrap().clone();
    let prev = segs[segs.len() - 2].clone();
    patch(&prev, JOURNAL_SEALED, &0u64.to_le_bytes()); // unseal it
    patch(&last, JOURNAL_COMMIT, &3u64.to_le_bytes());
    let prev_before = std::fs::read(&prev).unwrap();
    assert_refused_unchanged(
        "persisted journal",
        &last,
        || JournalWriter::open(&name),
        "commit position",
    );
    assert_eq!(
        std::fs::read(&prev).unwrap(),
        prev_before,
        "the segment before was sealed by a writer that then refused"
    );

    // Candles: an odd sequence (a writer died mid-write) and an impossible index count.
    let candles = ShmName::new("refuse-candles");
    {
        let mut w = CandleWriter::builder(&candles.name)
            .size(1 << 20)
            .create()
            .unwrap();
        w.write_candles(
            "BTC",
            "1m",
            &[Candle::new(60_000, 1.0, 2.0, 0.5, 1.5, 10.0)],
        )
        .unwrap();
    }
    patch(candles.path(), QNXS_SEQUENCE, &7u64.to_le_bytes());
    patch(candles.path(), QNXS_INDEX_COUNT, &300u32.to_le_bytes());
    let path = candles.path().to_str().unwrap().to_owned();
    assert_refused_unchanged(
        "candles",
        &path,
        || CandleWriter::open(&candles.name),
        "index count",
    );

    // A writer that accepts a region still claims it: generation + 1 and its pid.
    patch(slots.path(), SLOT_STRIDE, &stride.to_le_bytes());
    let generation = |r: &Region| r.read_header().writer_generation;
    let before = generation(&Region::open_any(&slots.name).unwrap());
    match SlotWriter::<TradingData>::open(&slots.name) {
        Ok(w) => {
            let h = w.region().read_header();
            assert_eq!(h.writer_generation, before + 1);
            assert_eq!(h.writer_pid, std::process::id());
        }
        Err(SlotError::Region(e)) => panic!("the repaired table is refused: {e}"),
        Err(e) => panic!("the repaired table is refused: {e}"),
    }
    patch(candles.path(), QNXS_INDEX_COUNT, &1u32.to_le_bytes());
    let w = CandleWriter::open(&candles.name).expect("the repaired candles open");
    drop(w);
    let r = CandleReader::open(&candles.name).expect("readable again");
    assert_eq!(r.read_series("BTC", "1m").map(|s| s.len()).ok(), Some(1));
}

#[test]
fn a_persisted_journal_stops_at_the_last_segment_number() {
    let _dog = Watchdog::new("a_persisted_journal_stops", LIMIT);
    let dir = TestDir::new("lastseg");
    let name = dir.name("journal");
    {
        let mut w = JournalWriter::builder(&name)
            .segment_size(4096)
            .create()
            .unwrap();
        for i in 0..3u32 {
            w.append_commit(0, &i.to_le_bytes()).unwrap();
        }
    }
    let last = format!("{name}/{:010}.seg", u32::MAX);
    std::fs::rename(format!("{name}/0000000000.seg"), &last).unwrap();
    patch(&last, JOURNAL_SEGMENT, &u32::MAX.to_le_bytes());

    let mut w = JournalWriter::open(&name).expect("the writer resumes in the last segment");
    assert_eq!(w.next_seq(), 3);
    let mut appended = 3u64;
    let err = loop {
        match w.append_commit(0, &[7u8; 200]) {
            Ok(_) => appended += 1,
            Err(e) => break e,
        }
        assert!(appended < 1000, "the segment never filled");
    };
    match &err {
        AppendError::Layout { what, .. } => {
            assert_eq!(
                **what,
                shmbus::JournalLayoutProblem::SegmentNumbersExhausted { segment: u32::MAX }
            );
            assert_mentions(
                &what.to_string(),
                &["4294967295", "last segment number", "new journal"],
            );
        }
        other => panic!("expected Layout at the limit, got {other:?}"),
    }
    // The failure repeats; nothing wrapped to segment 0.
    assert!(w.append_commit(0, &[7u8; 200]).is_err());
    drop(w);
    let files: Vec<_> = std::fs::read_dir(&name)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, vec![format!("{:010}.seg", u32::MAX)]);

    // Readers see every committed message, forwards and backwards.
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    let mut seen = 0u64;
    while let Some(m) = r.next().unwrap() {
        assert_eq!(m.seq, seen);
        seen += 1;
    }
    assert_eq!(seen, appended);
    let info = r.info().unwrap();
    assert_eq!((info.oldest_seq, info.next_seq), (0, appended));
    assert_eq!(r.prev().unwrap().map(|m| m.seq), Some(appended - 1));
    shmbus::journal::remove(&name, false).expect("removed");
}

#[test]
fn a_second_writer_of_a_persisted_journal_is_told_the_holders_pid() {
    let _dog = Watchdog::new("a_second_writer", LIMIT);
    let dir = TestDir::new("busy");
    let name = dir.name("journal");
    let _w = JournalWriter::builder(&name).create().unwrap();
    let me = std::process::id();
    match JournalWriter::open(&name) {
        Err(JournalError::Region(e @ RegionError::WriterBusy { .. })) => {
            assert_mentions(&e.to_string(), &[&name, &format!("pid {me}")]);
        }
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    match shmbus::journal::remove(&name, false) {
        Err(e @ RemoveError::InUse { .. }) => {
            assert_mentions(&e.to_string(), &[&format!("pid {me}"), "with force"]);
        }
        other => panic!("expected InUse, got {other:?}"),
    }
}

#[test]
fn an_os_error_is_printed_once_in_an_error_chain() {
    // ENOTDIR from open(2): an `Io` error.
    let e = Region::open_any("/etc/passwd/x").expect_err("not a directory");
    assert!(matches!(e, RegionError::Io { .. }), "{e:?}");
    // What anyhow's `{:#}` prints: the message, then each source's.
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    let os = std::io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error());
    assert_eq!(
        chain.matches(&os.to_string()).count(),
        1,
        "the OS error is repeated: {chain:?}"
    );
}

/// xorshift64: deterministic corruption without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Flips bytes of a good file at random (in its headers and first data, where writers look)
/// and opens it as a writer: whenever the writer refuses, the file must be byte for byte what
/// it was given.
fn refusals_change_nothing(what: &str, file: &str, open: &dyn Fn() -> Result<(), String>) {
    let good = std::fs::read(file).unwrap();
    let span = good.len().min(20_000);
    let (mut refused, mut accepted) = (0, 0);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ good.len() as u64;
    for round in 0..150 {
        let mut bad = good.clone();
        for _ in 0..1 + next(&mut rng) % 4 {
            let at = (next(&mut rng) % span as u64) as usize;
            bad[at] ^= 1 << (next(&mut rng) % 8);
        }
        std::fs::write(file, &bad).unwrap();
        watchdog_note(format!("{what} round {round}"));
        match open() {
            Err(_) => {
                refused += 1;
                assert!(
                    std::fs::read(file).unwrap() == bad,
                    "{what} round {round}: the refusing writer changed the file"
                );
            }
            Ok(()) => accepted += 1,
        }
    }
    std::fs::write(file, &good).unwrap();
    assert!(
        refused > 0,
        "{what}: no corruption was refused ({accepted} accepted)"
    );
}

#[test]
fn refusing_writers_change_nothing_under_random_corruption() {
    let _dog = Watchdog::new("refusing_writers_change_nothing", LIMIT);
    let slots = ShmName::new("fuzz-slots");
    {
        let mut w = SlotWriter::<TradingData>::builder(&slots.name)
            .capacity(16)
            .create()
            .unwrap();
        for k in ["A", "B", "C"] {
            w.put(k, &TradingData::default()).unwrap();
        }
    }
    refusals_change_nothing("slots", slots.path().to_str().unwrap(), &|| {
        SlotWriter::<TradingData>::open(&slots.name)
            .map(drop)
            .map_err(|e| e.to_string())
    });

    let ring = ShmName::new("fuzz-ring");
    {
        let mut w = JournalWriter::builder(&ring.name)
            .ring(8192)
            .create()
            .unwrap();
        for i in 0..400u32 {
            w.append_commit(1, &i.to_le_bytes()).unwrap();
        }
    }
    refusals_change_nothing("ring", ring.path().to_str().unwrap(), &|| {
        JournalWriter::open(&ring.name)
            .map(drop)
            .map_err(|e| e.to_string())
    });

    let dir = TestDir::new("fuzz-persisted");
    let name = dir.name("journal");
    {
        let mut w = JournalWriter::builder(&name)
            .segment_size(4096)
            .create()
            .unwrap();
        for i in 0..50u32 {
            w.append_commit(1, &i.to_le_bytes()).unwrap();
        }
    }
    let seg = format!("{name}/0000000000.seg");
    refusals_change_nothing("persisted", &seg, &|| {
        JournalWriter::open(&name)
            .map(drop)
            .map_err(|e| e.to_string())
    });

    let candles = ShmName::new("fuzz-candles");
    {
        let mut w = CandleWriter::builder(&candles.name)
            .size(1 << 20)
            .create()
            .unwrap();
        let bars: Vec<Candle> = (1..=20)
            .map(|i| Candle::new(i * 60_000, 1.0, 2.0, 0.5, 1.5, 10.0))
            .collect();
        w.write_candles("BTC", "1m", &bars).unwrap();
        w.write_candles("ETH", "1h", &bars).unwrap();
    }
    refusals_change_nothing("candles", candles.path().to_str().unwrap(), &|| {
        CandleWriter::open(&candles.name)
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

#[test]
fn a_symbolic_link_to_a_journal_directory_is_not_a_journal() {
    let dir = TestDir::new("jlink");
    let name = dir.name("journal");
    drop(
        JournalWriter::builder(&name)
            .segment_size(4096)
            .create()
            .unwrap(),
    );
    let link = dir.name("link");
    std::os::unix::fs::symlink(&name, &link).unwrap();
    assert!(shmbus::journal::is_persisted_journal(Path::new(&name)));
    assert!(!shmbus::journal::is_persisted_journal(Path::new(&link)));
    match shmbus::journal::remove(&link, true) {
        Err(RemoveError::Region(RegionError::Symlink { .. })) => {}
        other => panic!("expected Symlink, got {other:?}"),
    }
    assert!(Path::new(&format!("{name}/0000000000.seg")).is_file());
}
