//! Slot tables across real processes: no torn reads under a hammering writer, a writer killed
//! mid-write is detected and repaired, one writer at a time, a stalled live writer is `Busy`, and
//! corrupt table geometry is refused instead of read out of bounds.
//!
//! Children are this test binary run again (`--exact child_entry --include-ignored`) with a role
//! in `SHMBUS_CHILD_ROLE`; see `common/mod.rs`. Every test runs under a watchdog.

mod common;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use common::{ChildProc, ShmName, TestDir, Watchdog, assert_mentions, patch, read_u32, say};
use shmbus::{
    Field, FieldType, HEADER_LEN, Record, RecordLayout, Region, RegionError, SlotError, SlotId,
    SlotReadError, SlotReader, SlotWriteError, SlotWriter, TradingData, Versioned,
};

/// Where the TradingData table of the hammer lives.
const TD_NAME_ENV: &str = "SHMBUS_CHILD_TD_NAME";
/// `1`: the holding writer leaves slot `C` mid-write.
const MIDWRITE_ENV: &str = "SHMBUS_CHILD_MIDWRITE";

/// Slots the hammer writer cycles through.
const SLOTS: u32 = 4;
/// Successful 128-byte reads each hammer reader must make.
const TARGET_READS: u64 = 1_000_000;
/// New values each hammer reader must see: proof that it raced the writer rather than read
/// while the writer was descheduled (1M reads take only ~0.2 s).
const TARGET_CHANGES: u64 = 20_000;
/// A hammer reader gives up (and reports a short count) after this long.
const READER_BUDGET: Duration = Duration::from_secs(40);

const READY_WAIT: Duration = Duration::from_secs(20);

/// 128 bytes, every word derived from the slot's write number `n` and the slot index: a reader
/// can recompute the whole record from its sequence (`n = seq / 2`) and compare.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
struct Rec128 {
    words: [u64; 16],
}

const _: () = assert!(size_of::<Rec128>() == 128);
const _: () = assert!(Rec128::LAYOUT.is_consistent());

impl Record for Rec128 {
    const LAYOUT: RecordLayout = RecordLayout {
        name: "Rec128",
        size: 128,
        fields: &[
            Field::new("counter", FieldType::U64, 0),
            Field::new("slot", FieldType::U64, 8),
            Field::new("derived", FieldType::Bytes(104), 16),
            Field::new("checksum", FieldType::U64, 120),
        ],
    };
}

impl Rec128 {
    fn new(n: u64, slot: u32) -> Self {
        let mut words = [0u64; 16];
        words[0] = n;
        words[1] = u64::from(slot);
        for (i, w) in words.iter_mut().enumerate().take(15).skip(2) {
            *w = n.wrapping_mul(i as u64 + 1) ^ (u64::from(slot) << 56) ^ (i as u64) << 48;
        }
        words[15] = words[..15].iter().fold(0xcbf2_9ce4_8422_2325, |h, w| {
            (h ^ w).wrapping_mul(0x100_0000_01b3)
        });
        Self { words }
    }
}

fn trade(c: u64) -> TradingData {
    TradingData::new(c as f64, c as i32, c)
}

/// Whether a copy read from slot `slot` is exactly the record written with its sequence.
fn rec_consistent(v: &Versioned<Rec128>, slot: u32) -> bool {
    v.seq % 2 == 0 && v.value == Rec128::new(v.seq / 2, slot)
}

fn trade_consistent(v: &Versioned<TradingData>) -> bool {
    let c = v.value.timestamp;
    v.seq % 2 == 0 && c == v.seq / 2 && v.value == trade(c)
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
        "hammer-writer" => hammer_writer(&name),
        "hammer-reader" => hammer_reader(&name),
        "hold-writer" => hold_writer(&name, std::env::var(MIDWRITE_ENV).as_deref() == Ok("1")),
        other => panic!("unknown child role {other:?}"),
    }
}

fn td_name() -> String {
    std::env::var(TD_NAME_ENV).expect("the TradingData table's name")
}

fn slot_keys() -> impl Iterator<Item = String> {
    (0..SLOTS).map(|s| format!("k{s}"))
}

/// Creates both tables, writes every slot once, says READY, then rewrites every slot in a loop
/// until its stdin closes or it is killed.
fn hammer_writer(name: &str) {
    common::exit_when_stdin_closes();
    let mut big = SlotWriter::<Rec128>::builder(name)
        .capacity(SLOTS)
        .create()
        .expect("create the Rec128 table");
    let mut td = SlotWriter::<TradingData>::builder(&td_name())
        .capacity(SLOTS)
        .create()
        .expect("create the TradingData table");
    let ids: Vec<(SlotId, SlotId)> = slot_keys()
        .map(|k| (big.slot(&k).unwrap(), td.slot(&k).unwrap()))
        .collect();
    let mut n = 1u64;
    loop {
        for (s, &(b, t)) in (0..).zip(&ids) {
            big.write(b, &Rec128::new(n, s)).unwrap();
            td.write(t, &trade(n)).unwrap();
        }
        if n == 1 {
            say("READY");
        }
        n += 1;
    }
}

/// Reads until [`TARGET_READS`] good 128-byte reads (and one TradingData read in 8) and
/// [`TARGET_CHANGES`] new values seen, checking each copy against its sequence, then says
/// `RESULT key=value ...`.
fn hammer_reader(name: &str) {
    common::exit_when_stdin_closes();
    let mut big = SlotReader::<Rec128>::open(name).expect("open the Rec128 table");
    let mut td = SlotReader::<TradingData>::open(&td_name()).expect("open the TradingData table");
    // Only a live writer descheduled for this long would make a read Busy: that is an error here.
    big.set_timeout(Duration::from_secs(10));
    td.set_timeout(Duration::from_secs(10));
    let ids: Vec<(SlotId, SlotId)> = slot_keys()
        .map(|k| (big.find(&k).unwrap(), td.find(&k).unwrap()))
        .collect();
    let mut last = vec![0u64; ids.len()];
    let mut last_td = vec![0u64; ids.len()];
    let (mut reads, mut torn, mut backwards, mut changes, mut errors) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut td_reads, mut td_torn, mut unchanged_skips) = (0u64, 0u64, 0u64);
    let report_error = |e: SlotReadError, errors: &mut u64| {
        if *errors == 0 {
            eprintln!("hammer reader: first error: {e}");
        }
        *errors += 1;
    };
    let start = Instant::now();
    let mut i = 0usize;
    while reads < TARGET_READS || changes < TARGET_CHANGES {
        if i % 4096 == 0 && start.elapsed() > READER_BUDGET {
            break;
        }
        let s = i % ids.len();
        let (b, t) = ids[s];
        let slot = s as u32;
        match big.read(b) {
            Ok(Some(v)) => {
                reads += 1;
                if !rec_consistent(&v, slot) {
                    torn += 1;
                    if torn == 1 {
                        eprintln!("hammer reader: torn read of slot {s}: {v:?}");
                    }
                }
                if v.seq < last[s] {
                    backwards += 1;
                } else if v.seq > last[s] {
                    changes += 1;
                }
                last[s] = v.seq;
            }
            Ok(None) => report_error(
                SlotReadError::BadSlot {
                    region: format!("{name}: slot {s} read as never written"),
                    index: slot,
                    count: SLOTS,
                },
                &mut errors,
            ),
            Err(e) => report_error(e, &mut errors),
        }
        if i % 8 == 0 {
            match td.read(t) {
                Ok(Some(v)) => {
                    td_reads += 1;
                    if !trade_consistent(&v) {
                        td_torn += 1;
                    }
                    if v.seq < last_td[s] {
                        backwards += 1;
                    }
                    last_td[s] = v.seq;
                }
                Ok(None) => errors += 1,
                Err(e) => report_error(e, &mut errors),
            }
        }
        if i % 16 == 1 {
            // The cheap "has it changed" path: None only for the sequence we gave.
            match big.read_if_changed(b, last[s]) {
                Ok(Some(v)) => {
                    if v.seq == last[s] || !rec_consistent(&v, slot) {
                        torn += 1;
                    }
                    if v.seq < last[s] {
                        backwards += 1;
                    }
                    last[s] = v.seq;
                }
                Ok(None) => unchanged_skips += 1,
                Err(e) => report_error(e, &mut errors),
            }
        }
        i += 1;
    }
    say(&format!(
        "RESULT reads={reads} torn={torn} backwards={backwards} changes={changes} \
         td_reads={td_reads} td_torn={td_torn} errors={errors} unchanged={unchanged_skips} \
         ms={}",
        start.elapsed().as_millis()
    ));
}

/// Creates a TradingData table with A=1, B=2, C=3; with `midwrite`, begins an update of C that
/// it never finishes. Says `READY <pid>` and holds the writer until its stdin closes.
fn hold_writer(name: &str, midwrite: bool) {
    let mut w = SlotWriter::<TradingData>::builder(name)
        .capacity(8)
        .create()
        .expect("create the table");
    for (c, key) in (1..).zip(["A", "B", "C"]) {
        w.put(key, &trade(c)).unwrap();
    }
    if midwrite {
        let c = w.slot("C").unwrap();
        let mut guard = w.update(c).unwrap();
        guard.price = 999.0;
        // Never dropped: slot C stays mid-write (odd sequence) for as long as we live.
        std::mem::forget(guard);
    }
    say(&format!("READY {}", std::process::id()));
    common::wait_for_stdin_eof();
    drop(w);
    say("BYE");
}

fn parse_result(line: &str) -> HashMap<String, u64> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
        .collect()
}

#[test]
fn readers_in_other_processes_never_see_a_torn_record() {
    let _dog = Watchdog::new("readers_never_see_a_torn_record", Duration::from_secs(60));
    let big = ShmName::new("hammer");
    let td = ShmName::new("hammer-td");
    let env = [(TD_NAME_ENV, td.name.as_str())];
    let start = Instant::now();
    let mut writer = ChildProc::spawn("hammer-writer", &big.name, &env);
    writer.expect("READY", READY_WAIT);
    let mut readers: Vec<ChildProc> = (0..2)
        .map(|_| ChildProc::spawn("hammer-reader", &big.name, &env))
        .collect();
    let results: Vec<HashMap<String, u64>> = readers
        .iter_mut()
        .map(|r| parse_result(&r.expect("RESULT", READER_BUDGET + READY_WAIT)))
        .collect();
    assert!(
        writer.is_running(),
        "the writer stopped before the readers finished"
    );
    writer.kill();
    eprintln!("hammer: {:?} in all", start.elapsed());
    for (i, r) in results.iter().enumerate() {
        eprintln!("hammer reader {i}: {r:?}");
        let get = |k: &str| {
            *r.get(k)
                .unwrap_or_else(|| panic!("reader {i}: no {k} in {r:?}"))
        };
        assert_eq!(
            get("torn"),
            0,
            "reader {i} saw torn 128-byte records: {r:?}"
        );
        assert_eq!(get("td_torn"), 0, "reader {i} saw torn TradingData: {r:?}");
        assert_eq!(
            get("backwards"),
            0,
            "reader {i} saw a sequence go backwards: {r:?}"
        );
        assert_eq!(get("errors"), 0, "reader {i} got read errors: {r:?}");
        assert!(
            get("reads") >= TARGET_READS,
            "reader {i} read too little: {r:?}"
        );
        assert!(get("td_reads") >= TARGET_READS / 8, "reader {i}: {r:?}");
        // The reads raced a live writer: values kept changing under them.
        assert!(
            get("changes") >= TARGET_CHANGES,
            "reader {i} barely saw the writer: {r:?}"
        );
    }
}

#[test]
fn a_writer_killed_mid_write_is_detected_and_repaired() {
    let _dog = Watchdog::new("a_writer_killed_mid_write", Duration::from_secs(30));
    let dir = TestDir::new("killed");
    let name = dir.name("table");
    let mut child = ChildProc::spawn("hold-writer", &name, &[(MIDWRITE_ENV, "1")]);
    let pid: u32 = child.expect("READY", READY_WAIT).parse().unwrap();
    assert_eq!(pid, child.pid());

    let mut reader = SlotReader::<TradingData>::open(&name).unwrap();
    let c = reader.find("C").unwrap();
    let odd = reader.sequence(c).unwrap();
    assert_eq!(odd, 3, "C written once (2), then an update begun (odd)");

    let status = child.kill();
    assert_eq!(status.signal(), Some(9), "the child died of SIGKILL");

    // A long timeout: the error must come from noticing the dead writer, not from giving up.
    reader.set_timeout(Duration::from_secs(30));
    let t = Instant::now();
    let died = reader.read(c);
    let took = t.elapsed();
    match died {
        Err(e @ SlotReadError::WriterDied { .. }) => {
            let SlotReadError::WriterDied { key, seq, .. } = &e else {
                unreachable!()
            };
            assert_eq!((key.as_str(), *seq), ("C", odd));
            assert_mentions(
                &e.to_string(),
                &[&name, "died", "\"C\"", "repairs it on open"],
            );
        }
        other => panic!("expected WriterDied, got {other:?}"),
    }
    assert!(took < Duration::from_secs(3), "WriterDied took {took:?}");
    // The other slots are intact and readable before any repair; a fresh reader agrees.
    assert_eq!(reader.get("A").unwrap().unwrap().value, trade(1));
    let fresh = SlotReader::<TradingData>::open(&name).unwrap();
    assert!(matches!(
        fresh.read(c),
        Err(SlotReadError::WriterDied { .. })
    ));

    let t = Instant::now();
    let mut writer =
        SlotWriter::<TradingData>::open(&name).expect("the dead writer's lock is gone");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "taking over took {:?}",
        t.elapsed()
    );
    assert_eq!(writer.repaired(), 1);
    assert_eq!(writer.region().header().writer_generation, 2);

    let v = reader.read(c).unwrap().expect("repaired, so written");
    assert_eq!(
        v.seq,
        odd + 1,
        "the repair publishes at the next even sequence"
    );
    assert_eq!(
        v.value,
        TradingData::default(),
        "a repaired slot is all zero"
    );
    assert!(!v.value.is_valid());
    for (key, value) in [("A", 1), ("B", 2)] {
        let v = reader.get(key).unwrap().unwrap();
        assert_eq!((v.seq, v.value), (2, trade(value)), "slot {key} changed");
    }
    // The new writer knows the existing keys and can write the repaired slot again.
    assert_eq!(writer.slot("C").unwrap(), c);
    writer.write(c, &trade(7)).unwrap();
    assert_eq!(reader.read(c).unwrap().unwrap().value, trade(7));
    drop(writer);
    let again = SlotWriter::<TradingData>::open(&name).unwrap();
    assert_eq!(again.repaired(), 0, "nothing left to repair");
}

#[test]
fn a_second_writer_is_refused_while_the_first_process_lives() {
    let _dog = Watchdog::new("a_second_writer_is_refused", Duration::from_secs(30));
    let dir = TestDir::new("busy-writer");
    let name = dir.name("table");
    let mut child = ChildProc::spawn("hold-writer", &name, &[(MIDWRITE_ENV, "0")]);
    child.expect("READY", READY_WAIT);
    let pid = child.pid();

    match SlotWriter::<TradingData>::open(&name) {
        Err(SlotError::Region(e @ RegionError::WriterBusy { .. })) => {
            let RegionError::WriterBusy { pid: p, .. } = &e else {
                unreachable!()
            };
            assert_eq!(*p, Some(pid));
            assert_mentions(
                &e.to_string(),
                &[&name, &format!("pid {pid}"), "only one writer"],
            );
        }
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    match Region::open_options().writer(true).open(&name) {
        Err(RegionError::WriterBusy { pid: p, .. }) => assert_eq!(p, Some(pid)),
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    match Region::remove(&name, false) {
        Err(e @ shmbus::RemoveError::InUse { pid: Some(p), .. }) => {
            assert_eq!(p, pid);
            assert_mentions(&e.to_string(), &[&format!("pid {pid}"), "with force"]);
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    let region = Region::open_any(&name).unwrap();
    assert!(region.writer_alive().unwrap());
    assert_eq!(region.read_header().writer_pid, pid);
    assert_eq!(
        region.read_header().writer_generation,
        1,
        "refused writers count for nothing"
    );

    // A clean exit releases the lock and clears the pid.
    child.close_stdin();
    child.expect("BYE", READY_WAIT);
    let status = child
        .wait_exit(Duration::from_secs(10))
        .expect("the child exits");
    assert!(status.success(), "child exited with {status:?}");
    assert!(!region.writer_alive().unwrap());
    assert_eq!(region.read_header().writer_pid, 0);
    let writer = SlotWriter::<TradingData>::open(&name).expect("the lock is free");
    assert_eq!(writer.repaired(), 0);
    assert_eq!(writer.region().header().writer_generation, 2);
}

#[test]
fn a_slot_held_mid_write_by_a_live_writer_is_busy() {
    let _dog = Watchdog::new("a_slot_held_mid_write_is_busy", Duration::from_secs(30));
    let dir = TestDir::new("busy-slot");
    let name = dir.name("table");
    let mut child = ChildProc::spawn("hold-writer", &name, &[(MIDWRITE_ENV, "1")]);
    child.expect("READY", READY_WAIT);

    let mut reader = SlotReader::<TradingData>::open(&name).unwrap();
    reader.set_timeout(Duration::from_millis(200));
    let c = reader.find("C").unwrap();
    let t = Instant::now();
    let busy = reader.read(c);
    let took = t.elapsed();
    match busy {
        Err(e @ SlotReadError::Busy { .. }) => {
            let SlotReadError::Busy { key, waited_ms, .. } = &e else {
                unreachable!()
            };
            assert_eq!(key, "C");
            assert!(*waited_ms >= 200, "waited {waited_ms} ms");
            assert_mentions(
                &e.to_string(),
                &[&name, "\"C\"", "mid-write", "writer is alive"],
            );
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(took >= Duration::from_millis(200), "gave up after {took:?}");
    assert!(took < Duration::from_secs(5), "Busy took {took:?}");
    assert!(child.is_running());
    // The other slots are unaffected.
    assert_eq!(reader.get("B").unwrap().unwrap().value, trade(2));

    // The writer leaves (cleanly, but without finishing C): now it is WriterDied, not Busy.
    child.close_stdin();
    child.expect("BYE", READY_WAIT);
    assert!(child.wait_exit(Duration::from_secs(10)).is_some());
    match reader.read(c) {
        Err(SlotReadError::WriterDied { key, .. }) => assert_eq!(key, "C"),
        other => panic!("expected WriterDied, got {other:?}"),
    }
}

// Slot table header fields, relative to the body offset (which follows the 128-byte header).
const BODY: u64 = HEADER_LEN as u64;
const T_CAPACITY: u64 = BODY + shmbus::slots::layout::TABLE_CAPACITY as u64;
const T_STRIDE: u64 = BODY + shmbus::slots::layout::TABLE_STRIDE as u64;
const T_COUNT: u64 = BODY + shmbus::slots::layout::TABLE_COUNT as u64;
const OFF_BODY_OFFSET: u64 = shmbus::layout::header::BODY_OFFSET;

/// A closed table of 8 TradingData slots holding `A` = 1.
fn small_table(name: &str) {
    let mut w = SlotWriter::<TradingData>::builder(name)
        .capacity(8)
        .create()
        .unwrap();
    w.put("A", &trade(1)).unwrap();
}

#[track_caller]
fn expect_corrupt<T: std::fmt::Debug>(result: Result<T, SlotError>, name: &str, what: &str) {
    match result {
        Err(SlotError::Region(e @ RegionError::Corrupt { .. })) => {
            assert_mentions(&e.to_string(), &[name, "corrupt", what]);
        }
        other => panic!("expected Corrupt ({what}), got {other:?}"),
    }
}

#[test]
fn corrupt_table_geometry_is_refused_not_read_out_of_bounds() {
    let _dog = Watchdog::new("corrupt_table_geometry", Duration::from_secs(30));
    let dir = TestDir::new("geometry");
    let name = dir.name("table");
    small_table(&name);
    assert_eq!(read_u32(&name, T_CAPACITY), 8);

    // A huge capacity: the slots would lie far beyond the file.
    patch(&name, T_CAPACITY, &u32::MAX.to_le_bytes());
    expect_corrupt(
        SlotReader::<TradingData>::open(&name),
        &name,
        "4294967295 slots",
    );
    expect_corrupt(SlotWriter::<TradingData>::open(&name), &name, "do not fit");
    // One slot too many is as wrong.
    patch(&name, T_CAPACITY, &9u32.to_le_bytes());
    expect_corrupt(SlotReader::<TradingData>::open(&name), &name, "9 slots");
    patch(&name, T_CAPACITY, &8u32.to_le_bytes());

    // A stride that disagrees with the record type.
    patch(&name, T_STRIDE, &32u32.to_le_bytes());
    expect_corrupt(SlotReader::<TradingData>::open(&name), &name, "stride 32");
    patch(&name, T_STRIDE, &64u32.to_le_bytes());

    // A huge count is clamped to the capacity: nothing is read out of bounds.
    patch(&name, T_COUNT, &u32::MAX.to_le_bytes());
    let reader = SlotReader::<TradingData>::open(&name).expect("a huge count is survivable");
    assert_eq!(reader.len(), 8);
    let keys = reader.keys();
    assert_eq!(keys.len(), 8);
    assert_eq!(keys[0].0, "A");
    for (_, id) in &keys {
        let v = reader.read(*id).expect("every clamped slot is readable");
        assert_eq!(v.is_some(), id.index() == 0);
    }
    assert_eq!(reader.get("A").unwrap().unwrap().value, trade(1));
    assert!(matches!(
        reader.find("ZZZ"),
        Err(SlotReadError::UnknownKey { .. })
    ));
    let mut writer = SlotWriter::<TradingData>::open(&name).expect("a huge count is survivable");
    assert_eq!(writer.repaired(), 0);
    match writer.slot("NEW") {
        Err(e @ SlotWriteError::Full { capacity: 8, .. }) => {
            assert_mentions(&e.to_string(), &[&name, "full (8 slots)"]);
        }
        other => panic!("expected Full, got {other:?}"),
    }
}

#[test]
fn a_misaligned_table_is_refused_not_a_panic() {
    let _dog = Watchdog::new("a_misaligned_table", Duration::from_secs(30));
    let dir = TestDir::new("misaligned");
    let name = dir.name("table");
    small_table(&name);
    // Move the table to body offset 132 (4-aligned, not 8-aligned) with a geometry that is
    // otherwise consistent and fits: its sequence words would be misaligned.
    let body = 132u64;
    patch(&name, OFF_BODY_OFFSET, &(body as u32).to_le_bytes());
    for (field, value) in [(0, 1u32), (4, 64), (8, 24), (12, 32), (16, 1)] {
        patch(&name, body + field, &value.to_le_bytes());
    }
    let result = std::panic::catch_unwind(|| {
        SlotReader::<TradingData>::open(&name).map(|r| {
            let keys = r.keys();
            keys.iter()
                .map(|(_, id)| r.read(*id).map(drop))
                .collect::<Vec<_>>()
        })
    });
    let result = result.expect("a misaligned table must not panic");
    expect_corrupt(result, &name, "aligned");
    let writer = std::panic::catch_unwind(|| SlotWriter::<TradingData>::open(&name).map(drop));
    expect_corrupt(writer.expect("no panic"), &name, "aligned");
    assert!(Path::new(&name).exists());
}
