//! Journals across real processes: one writer process streaming millions of self-checking
//! messages to three reader processes (persisted: nothing lost; ring: every loss reported
//! exactly), a writer SIGKILLed at random moments (only whole committed frames survive, and a
//! new writer takes over at once with no gap and no duplicate; the states a kill inside a segment
//! roll leaves are also forged on disk, since those windows are too narrow to hit reliably),
//! readers opened at the end of a journal another process is writing, one writer at a time, and
//! a reader asleep in `next_timeout` woken by another process's commit.
//!
//! Children are this test binary run again (`--exact child_entry --include-ignored`) with a role
//! in `SHMBUS_CHILD_ROLE`; see `common/mod.rs`. Every test runs under a watchdog, and the tests of
//! this file run one at a time (they share two cores).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::journal::{Rng, is_valid, msg_type, payload_into};
use common::{ChildProc, ShmName, Watchdog, say, watchdog_note};
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::layout::journal::{BASE_SEQ, COMMIT, COMMIT_SEQ, DATA_OFF, DOORBELL_WAITERS, SEALED};
use shmbus::{JournalError, ReadError, RegionError};

/// Messages the streaming writer appends.
const TOTAL_ENV: &str = "SHMBUS_CHILD_TOTAL";
/// `1`: this reader dawdles until the writer laps it.
const SLOW_ENV: &str = "SHMBUS_CHILD_SLOW";
/// Largest batch (messages per commit) of the endless writer.
const BATCH_ENV: &str = "SHMBUS_CHILD_BATCH";
/// Segments the endless writer keeps (persisted journals).
const RETAIN_ENV: &str = "SHMBUS_CHILD_RETAIN";

const READY_WAIT: Duration = Duration::from_secs(20);
const STREAM_TOTAL: u64 = 2_000_000;
const RING: u64 = 8 << 20;

/// The tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn env_u64(key: &str) -> u64 {
    std::env::var(key)
        .unwrap_or_else(|_| panic!("{key} is set"))
        .parse()
        .expect("a number")
}

#[test]
#[ignore = "entry point of the child processes the other tests spawn"]
fn child_entry() {
    let Ok(role) = std::env::var(common::ROLE_ENV) else {
        return;
    };
    let name = std::env::var(common::NAME_ENV).expect("the child's journal name");
    common::limit_child_lifetime();
    match role.as_str() {
        "stream-writer" => stream_writer(&name),
        "stream-reader" => stream_reader(&name),
        "endless-writer" => endless_writer(&name),
        "hold-writer" => hold_writer(&name),
        "block-reader" => block_reader(&name),
        other => panic!("unknown child role {other:?}"),
    }
}

/// A batch size: mostly small, sometimes hundreds, now and then `max`.
fn batch_size(rng: &mut Rng, max: u64) -> u64 {
    match rng.below(100) {
        0..60 => rng.range(1, 16.min(max) + 1),
        60..92 => rng.range(1, 256.min(max) + 1),
        _ => rng.range(1, max + 1),
    }
}

/// Appends `TOTAL` messages to an existing journal in batches of 1..2048, then says `DONE`.
fn stream_writer(name: &str) {
    common::exit_when_stdin_closes();
    let total = env_u64(TOTAL_ENV);
    let mut w = JournalWriter::open(name).expect("open the journal as its writer");
    assert_eq!(w.next_seq(), 0);
    let mut rng = Rng::new(u64::from(std::process::id()));
    let mut buf = Vec::new();
    let (mut seq, mut commits) = (0u64, 0u64);
    let start = Instant::now();
    while seq < total {
        let n = batch_size(&mut rng, 2048).min(total - seq);
        for _ in 0..n {
            payload_into(seq, &mut buf);
            assert_eq!(w.append(msg_type(seq), &buf).expect("append"), seq);
            seq += 1;
        }
        w.commit();
        commits += 1;
    }
    say(&format!(
        "DONE messages={seq} commits={commits} ms={}",
        start.elapsed().as_millis()
    ));
    common::wait_for_stdin_eof();
}

/// Reads from the beginning until `TOTAL` messages are accounted for (seen or reported lost),
/// checking every payload and that each sequence follows the last; says `RESULT k=v ...`.
fn stream_reader(name: &str) {
    common::exit_when_stdin_closes();
    let total = env_u64(TOTAL_ENV);
    let slow = std::env::var(SLOW_ENV).as_deref() == Ok("1");
    let mut r = JournalReader::open(name, Start::Beginning).expect("open the reader");
    let capacity = r.info().expect("info").capacity;
    say("READY");
    let (mut expected, mut seen, mut lost, mut overruns) = (0u64, 0u64, 0u64, 0u64);
    let (mut bad, mut gaps, mut errors, mut timeouts) = (0u64, 0u64, 0u64, 0u64);
    let mut last_pos = 0;
    let start = Instant::now();
    while expected < total {
        if slow && seen > 0 && seen % 100_000 == 0 {
            // Dawdle until the writer is more than a ring ahead (or done).
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                let info = r.info().expect("info");
                if info.next_seq >= total || info.commit_position > last_pos + capacity + 65536 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        match r.next_timeout(Duration::from_secs(10)) {
            Ok(Some(m)) => {
                if m.seq != expected {
                    gaps += 1;
                    eprintln!("reader: expected seq {expected}, got {}", m.seq);
                    break;
                }
                if !is_valid(m.seq, m.ty, m.payload) {
                    bad += 1;
                }
                last_pos = m.position;
                seen += 1;
                expected += 1;
            }
            Ok(None) => {
                timeouts += 1;
                break;
            }
            Err(ReadError::Overrun {
                lost: l,
                expected_seq,
                resume_seq,
                ..
            }) => {
                overruns += 1;
                if expected_seq != expected
                    || resume_seq.checked_sub(expected_seq) != Some(l)
                    || l == 0
                {
                    errors += 1;
                    eprintln!(
                        "reader: inexact overrun: lost {l}, {expected_seq}..{resume_seq}, \
                         expected {expected}"
                    );
                }
                lost += l;
                expected = resume_seq;
            }
            Err(e) => {
                errors += 1;
                eprintln!("reader: {e}");
                break;
            }
        }
    }
    say(&format!(
        "RESULT seen={seen} lost={lost} overruns={overruns} bad={bad} gaps={gaps} \
         errors={errors} timeouts={timeouts} expected={expected} ms={}",
        start.elapsed().as_millis()
    ));
    common::wait_for_stdin_eof();
}

/// Opens the journal as its writer and appends self-checking messages in batches of
/// 1..`BATCH` until killed; says `READY` after the first commit.
fn endless_writer(name: &str) {
    let max = env_u64(BATCH_ENV);
    let mut w = JournalWriter::open(name).expect("take the journal over");
    if let Ok(n) = std::env::var(RETAIN_ENV) {
        w.set_retention(Some(n.parse().expect("a number")), None);
    }
    let mut rng = Rng::new(u64::from(std::process::id()));
    let mut buf = Vec::new();
    let mut ready = false;
    loop {
        for _ in 0..batch_size(&mut rng, max) {
            let seq = w.next_seq();
            payload_into(seq, &mut buf);
            w.append(msg_type(seq), &buf).expect("append");
        }
        w.commit();
        if !ready {
            say("READY");
            ready = true;
        }
    }
}

/// Holds the journal's writer until stdin closes; says `READY <pid>`, then `BYE`.
fn hold_writer(name: &str) {
    let mut w = JournalWriter::open(name).expect("take the journal over");
    w.append_commit(1, b"held").expect("append");
    say(&format!("READY {}", std::process::id()));
    common::wait_for_stdin_eof();
    drop(w);
    say("BYE");
}

/// Opens at the end, says `READY`, then blocks in `next_timeout(10 s)`; says
/// `GOT <seq> <unix ns>` or `NONE`.
fn block_reader(name: &str) {
    common::exit_when_stdin_closes();
    let mut r = JournalReader::open(name, Start::End).expect("open the reader");
    say(&format!("READY {}", r.next_seq()));
    match r.next_timeout(Duration::from_secs(10)) {
        Ok(Some(m)) => {
            let at = shmbus::now_unix_ns();
            assert!(is_valid(m.seq, m.ty, m.payload), "a wrong message");
            say(&format!("GOT {} {at}", m.seq));
        }
        Ok(None) => say("NONE"),
        Err(e) => panic!("block reader: {e}"),
    }
    common::wait_for_stdin_eof();
}

fn parse_result(line: &str) -> std::collections::HashMap<String, u64> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
        .collect()
}

/// A journal under a /dev/shm name: a ring of `size` bytes, or a persisted journal (a directory
/// there) of `size`-byte segments.
fn create(shm: &ShmName, ring: bool, size: u64) {
    let b = JournalWriter::builder(&shm.name);
    let b = if ring {
        b.ring(size)
    } else {
        b.segment_size(size)
    };
    drop(b.create().expect("create the journal"));
}

/// One writer process, three reader processes (one of them slow), two million messages.
fn stream(ring: bool) {
    let shm = ShmName::new(if ring { "stream-ring" } else { "stream-seg" });
    create(&shm, ring, if ring { RING } else { 1 << 20 });
    let total = STREAM_TOTAL.to_string();
    let start = Instant::now();
    let mut readers: Vec<ChildProc> = (0..3)
        .map(|i| {
            let slow = if ring && i == 2 { "1" } else { "0" };
            ChildProc::spawn(
                "stream-reader",
                &shm.name,
                &[(TOTAL_ENV, total.as_str()), (SLOW_ENV, slow)],
            )
        })
        .collect();
    for r in &mut readers {
        r.expect("READY", READY_WAIT);
    }
    let mut writer = ChildProc::spawn("stream-writer", &shm.name, &[(TOTAL_ENV, total.as_str())]);
    let results: Vec<_> = readers
        .iter_mut()
        .map(|r| parse_result(&r.expect("RESULT", Duration::from_secs(45))))
        .collect();
    let done = writer.expect("DONE", Duration::from_secs(5));
    eprintln!(
        "stream ring={ring}: writer {done}; {:?} in all",
        start.elapsed()
    );
    for (i, r) in results.iter().enumerate() {
        eprintln!("stream ring={ring} reader {i}: {r:?}");
        let get = |k: &str| r[k];
        for k in ["bad", "gaps", "errors", "timeouts"] {
            assert_eq!(get(k), 0, "reader {i}: {k} in {r:?}");
        }
        // Every message written was either seen or reported lost, exactly.
        assert_eq!(get("seen") + get("lost"), STREAM_TOTAL, "reader {i}: {r:?}");
        assert_eq!(get("expected"), STREAM_TOTAL, "reader {i}: {r:?}");
        if ring {
            if i == 2 {
                assert!(
                    get("overruns") >= 1 && get("lost") > 0,
                    "the slow reader was never lapped: {r:?}"
                );
            }
        } else {
            assert_eq!(
                (get("seen"), get("overruns")),
                (STREAM_TOTAL, 0),
                "reader {i} of a persisted journal lost messages: {r:?}"
            );
        }
    }
    if !ring {
        let segments = std::fs::read_dir(shm.path()).unwrap().count();
        assert!(segments > 100, "the journal rolled only {segments} times");
    }
}

#[test]
fn a_ring_streams_to_reader_processes_with_exactly_reported_loss() {
    let _serial = serial();
    let _dog = Watchdog::new(
        "a_ring_streams_to_reader_processes",
        Duration::from_secs(55),
    );
    stream(true);
}

#[test]
fn a_persisted_journal_streams_to_reader_processes_without_loss() {
    let _serial = serial();
    let _dog = Watchdog::new("a_persisted_journal_streams", Duration::from_secs(55));
    stream(false);
}

/// Reads `r` forward to the end: every message valid and one more than the last (or, after an
/// exactly reported `Overrun`, the resume sequence). Returns (first seq, next seq, messages).
#[track_caller]
fn read_through(r: &mut JournalReader, limit: u64, what: &str) -> (Option<u64>, u64, u64) {
    let (mut first, mut next, mut n) = (None, r.next_seq(), 0u64);
    for _ in 0..limit {
        match r.next() {
            Ok(Some(m)) => {
                assert!(
                    is_valid(m.seq, m.ty, m.payload),
                    "{what}: message {} is not the one written",
                    m.seq
                );
                assert_eq!(m.seq, next, "{what}: sequence jumped");
                first.get_or_insert(m.seq);
                next = m.seq + 1;
                n += 1;
            }
            Ok(None) => return (first, next, n),
            Err(ReadError::Overrun {
                lost,
                expected_seq,
                resume_seq,
                ..
            }) => {
                assert_eq!(expected_seq, next, "{what}: overrun from elsewhere");
                assert_eq!(
                    Some(lost),
                    resume_seq.checked_sub(next),
                    "{what}: inexact loss"
                );
                next = resume_seq;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
    panic!("{what}: more than {limit} messages");
}

/// What a SIGKILL left behind in a persisted journal directory.
#[derive(Debug, Default)]
struct RollDamage {
    /// The newest segment file was not finished (empty or unpublished).
    half_made: u32,
    /// The segment before the newest was not sealed.
    unsealed: u32,
}

fn inspect_roll(dir: &Path, d: &mut RollDamage) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let word = |p: &Path, off: u64| -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 8];
        std::fs::File::open(p)
            .ok()?
            .read_exact_at(&mut b, off)
            .ok()?;
        Some(u64::from_le_bytes(b))
    };
    if let Some(last) = files.last() {
        if word(last, 0).unwrap_or(0) == 0 {
            d.half_made += 1;
        }
    }
    if files.len() >= 2 && word(&files[files.len() - 2], 224) == Some(0) {
        d.unsealed += 1;
    }
}

/// SIGKILLs a writer process at `rounds` random moments; after each kill the journal holds
/// exactly the committed messages, whole, and a new writer continues the sequence at once.
fn kill_writer_repeatedly(ring: bool, rounds: u32) {
    let shm = ShmName::new(if ring { "kill-ring" } else { "kill-seg" });
    // A 1 MiB ring holds batches of up to 3000 messages and wraps often; small segments roll
    // every ~200 messages, so kills land in rolls too.
    create(&shm, ring, if ring { 1 << 20 } else { 16 * 1024 });
    let env: Vec<(&str, &str)> = if ring {
        vec![(BATCH_ENV, "3000")]
    } else {
        vec![(BATCH_ENV, "600"), (RETAIN_ENV, "64")]
    };
    let mut rng = Rng::new(0x6b11_1000 ^ u64::from(ring));
    let mut damage = RollDamage::default();
    let mut committed_total = 0u64;
    let start = Instant::now();
    for round in 0..rounds {
        watchdog_note(format!("kill round {round} ring={ring}"));
        let mut child = ChildProc::spawn("endless-writer", &shm.name, &env);
        child.expect("READY", READY_WAIT);
        // A reader at the end while the writer runs: it must receive what comes after the kill.
        let mut tail = JournalReader::open(&shm.name, Start::End)
            .unwrap_or_else(|e| panic!("round {round}: open at the end of a live journal: {e}"));
        let delay = match rng.below(4) {
            0 => 0,
            1 => rng.below(2000),
            _ => rng.below(40_000),
        };
        std::thread::sleep(Duration::from_micros(delay));
        let status = child.kill();
        assert_eq!(status.signal(), Some(9), "round {round}: killed by SIGKILL");
        if !ring {
            inspect_roll(&shm.path(), &mut damage);
        }
        // Only whole committed frames are there, in order, with no gap.
        let what = format!("round {round} (after {delay} µs)");
        let mut all = JournalReader::open(&shm.name, Start::Beginning)
            .unwrap_or_else(|e| panic!("{what}: open after the kill: {e}"));
        let (_, committed, n) = read_through(&mut all, 10_000_000, &what);
        assert!(n > 0, "{what}: nothing readable");
        assert!(committed >= committed_total, "{what}: messages disappeared");
        committed_total = committed;
        // A new writer takes over at once and continues the sequence exactly.
        let t = Instant::now();
        let mut w = JournalWriter::open(&shm.name)
            .unwrap_or_else(|e| panic!("{what}: take over after the kill: {e}"));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{what}: slow takeover"
        );
        assert_eq!(w.next_seq(), committed, "{what}: gap or duplicate");
        let mut buf = Vec::new();
        payload_into(committed, &mut buf);
        assert_eq!(
            w.append_commit(msg_type(committed), &buf).unwrap(),
            committed
        );
        // The reader from before the kill gets everything up to the new message, which it gets.
        let (_, tail_next, _) = read_through(&mut tail, 10_000_000, &format!("{what}, tail"));
        assert_eq!(
            tail_next,
            committed + 1,
            "{what}: the tail reader missed the new writer"
        );
        let (_, all_next, n) = read_through(&mut all, 10, &format!("{what}, again"));
        assert_eq!((all_next, n), (committed + 1, 1), "{what}");
        drop(w);
    }
    watchdog_note("");
    eprintln!(
        "kill ring={ring}: {rounds} rounds, {committed_total} messages, {damage:?}, {:?}",
        start.elapsed()
    );
}

#[test]
fn a_ring_writer_killed_at_random_moments_loses_nothing_committed() {
    let _serial = serial();
    let _dog = Watchdog::new(
        "a_ring_writer_killed_at_random_moments",
        Duration::from_secs(55),
    );
    kill_writer_repeatedly(true, 60);
}

#[test]
fn a_persisted_writer_killed_at_random_moments_loses_nothing_committed() {
    let _serial = serial();
    let _dog = Watchdog::new("a_persisted_writer_killed", Duration::from_secs(55));
    kill_writer_repeatedly(false, 60);
}

/// Readers opened at the end of a journal (or at the sequence a reader there reports, or at the
/// beginning) while another process commits as fast as it can: the first message each gets is
/// exactly the one it expects, never a false "sequence gap", and opening never fails because a
/// segment is being created or removed by retention.
fn open_at_the_end_while_committing(ring: bool, opens: u32) {
    let shm = ShmName::new(if ring { "end-ring" } else { "end-seg" });
    create(&shm, ring, if ring { RING } else { 16 * 1024 });
    let env: Vec<(&str, &str)> = if ring {
        vec![(BATCH_ENV, "4")]
    } else {
        vec![(BATCH_ENV, "4"), (RETAIN_ENV, "64")]
    };
    // A reader descheduled while the writer fills a ring (or the retained segments) is lapped:
    // that is reported exactly, as an overrun, or as too old for a sequence, and is not what
    // this test is after.
    let mut lapped = 0u32;
    let mut child = ChildProc::spawn("endless-writer", &shm.name, &env);
    child.expect("READY", READY_WAIT);
    let start = Instant::now();
    let mut failures = Vec::new();
    for i in 0..opens {
        let start_at = if i % 3 == 0 {
            Start::End
        } else if i % 3 == 1 {
            Start::Beginning
        } else {
            let r = JournalReader::open(&shm.name, Start::End);
            match r {
                Ok(r) => Start::Seq(r.next_seq()),
                Err(e) => {
                    failures.push(format!("open {i} at the end: {e}"));
                    continue;
                }
            }
        };
        let mut r = match JournalReader::open(&shm.name, start_at) {
            Ok(r) => r,
            Err(JournalError::TooOld { .. }) => {
                lapped += 1;
                continue;
            }
            Err(e) => {
                failures.push(format!("open {i} at {start_at:?}: {e}"));
                continue;
            }
        };
        let want = r.next_seq();
        match r.next_timeout(Duration::from_secs(5)) {
            Ok(Some(m)) if m.seq == want && is_valid(m.seq, m.ty, m.payload) => {}
            Ok(Some(m)) => failures.push(format!("open {i}: wanted {want}, got {}", m.seq)),
            Ok(None) => failures.push(format!("open {i}: nothing within 5 s")),
            Err(ReadError::Overrun {
                lost,
                expected_seq,
                resume_seq,
                ..
            }) => {
                if expected_seq != want || resume_seq.checked_sub(want) != Some(lost) {
                    failures.push(format!(
                        "open {i} at {start_at:?}: inexact overrun from {want}: expected \
                         {expected_seq}, resumes at {resume_seq}, {lost} lost"
                    ));
                }
                // At the beginning of a ring this fast, the oldest is overwritten at once.
                if start_at != Start::Beginning {
                    lapped += 1;
                }
            }
            Err(e) => failures.push(format!("read {i} after opening at {start_at:?}: {e}")),
        }
    }
    assert!(child.is_running(), "the writer died");
    child.kill();
    eprintln!(
        "open at the end ring={ring}: {opens} opens in {:?}, {} failures, {lapped} lapped",
        start.elapsed(),
        failures.len()
    );
    assert!(
        lapped < opens / 100,
        "{lapped} of {opens} readers were lapped"
    );
    assert!(
        failures.is_empty(),
        "{} of {opens} readers opened at the end failed; first: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}

#[test]
fn readers_opened_at_the_end_of_a_live_ring_see_the_next_message() {
    let _serial = serial();
    let _dog = Watchdog::new(
        "readers_opened_at_the_end_of_a_live_ring",
        Duration::from_secs(55),
    );
    open_at_the_end_while_committing(true, 30_000);
}

#[test]
fn readers_opened_at_the_end_of_a_live_persisted_journal_see_the_next_message() {
    let _serial = serial();
    let _dog = Watchdog::new(
        "readers_opened_at_the_end_of_a_live_persisted",
        Duration::from_secs(55),
    );
    open_at_the_end_while_committing(false, 10_000);
}

/// Reads and rewrites the little-endian u64 at `off` of `path`.
fn poke(path: &Path, off: u64, v: u64) {
    common::patch(path, off, &v.to_le_bytes());
}

fn peek(path: &Path, off: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 8];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut b, off)
        .unwrap();
    u64::from_le_bytes(b)
}

/// How a writer can die inside a roll (`JournalWriter` creates the next segment file, commits
/// the batch that spans the roll, then seals the full segment).
#[derive(Debug, Clone, Copy)]
enum RollCrash {
    /// Between creating the next file and reserving its size: an empty file.
    EmptyFile,
    /// Before publishing the next file's header: a file of zeros.
    Unpublished,
    /// After creating the next segment, before committing the batch that spans the roll.
    BeforeCommit,
    /// After committing, before sealing the full segment.
    BeforeSeal,
}

/// The states a writer killed inside a roll leaves, forged on disk (the windows are too narrow to
/// hit reliably by killing at random): a new writer continues with no gap and no duplicate, and
/// readers read everything, across the roll.
#[test]
fn a_writer_killed_inside_a_roll_is_recovered_without_a_gap() {
    let _serial = serial();
    let _dog = Watchdog::new("a_writer_killed_inside_a_roll", Duration::from_secs(30));
    for crash in [
        RollCrash::EmptyFile,
        RollCrash::Unpublished,
        RollCrash::BeforeCommit,
        RollCrash::BeforeSeal,
    ] {
        let shm = ShmName::new("roll-crash");
        let mut w = JournalWriter::builder(&shm.name)
            .segment_size(16 * 1024)
            .create()
            .unwrap();
        let seg0 = shm.path().join("0000000000.seg");
        let seg1 = shm.path().join("0000000001.seg");
        let mut buf = Vec::new();
        let mut seq = 0u64;
        // Fill segment 0 to within a few frames of its end, committed.
        while peek(&seg0, COMMIT) < 16 * 1024 - 400 {
            payload_into(seq, &mut buf);
            w.append_commit(msg_type(seq), &buf).unwrap();
            seq += 1;
        }
        let (commit0, committed) = (peek(&seg0, COMMIT), seq);
        match crash {
            RollCrash::EmptyFile | RollCrash::Unpublished => {
                drop(w);
                let len = if let RollCrash::EmptyFile = crash {
                    0
                } else {
                    std::fs::metadata(&seg0).unwrap().len()
                };
                std::fs::write(&seg1, vec![0u8; len as usize]).unwrap();
            }
            RollCrash::BeforeCommit | RollCrash::BeforeSeal => {
                // Append without committing until the writer rolls (it commits and seals the
                // full segment then), and stop there.
                while !seg1.exists() {
                    payload_into(seq, &mut buf);
                    w.append(msg_type(seq), &buf).unwrap();
                    seq += 1;
                }
                drop(w);
                // Undo what the roll did after creating segment 1.
                poke(&seg0, SEALED, 0); // not sealed
                if let RollCrash::BeforeCommit = crash {
                    poke(&seg0, COMMIT, commit0);
                    poke(&seg0, COMMIT_SEQ, committed);
                    // Before the commit, the batch's first frame is not published yet: its
                    // sequence word (at data offset + position + 8) is still 0.
                    let data_offset = peek(&seg0, DATA_OFF);
                    poke(&seg0, data_offset + commit0 + 8, 0);
                }
            }
        }
        let committed = match crash {
            RollCrash::BeforeSeal => peek(&seg1, BASE_SEQ), // everything up to segment 1's start
            _ => committed,
        };
        let what = format!("{crash:?}");
        let mut w = JournalWriter::open(&shm.name)
            .unwrap_or_else(|e| panic!("{what}: take over after the crash: {e}"));
        assert_eq!(w.next_seq(), committed, "{what}: gap or duplicate");
        for s in committed..committed + 500 {
            payload_into(s, &mut buf);
            assert_eq!(w.append(msg_type(s), &buf).unwrap(), s);
            if s % 7 == 0 {
                w.commit();
            }
        }
        w.commit();
        let mut r = JournalReader::open(&shm.name, Start::Beginning).unwrap();
        let (first, next, n) = read_through(&mut r, 100_000, &what);
        assert_eq!(
            (first, next, n),
            (Some(0), committed + 500, committed + 500),
            "{what}"
        );
        let back = std::iter::from_fn(|| r.prev().unwrap().map(|m| m.seq)).count() as u64;
        assert_eq!(back, committed + 500, "{what}: backward");
    }
}

/// While a writer process lives, a second writer is refused with `WriterBusy` (readers still
/// read); once it exits, the journal can be taken over.
#[test]
fn a_second_writer_is_refused_while_a_writer_process_lives() {
    let _serial = serial();
    let _dog = Watchdog::new("a_second_writer_is_refused", Duration::from_secs(30));
    for ring in [true, false] {
        let shm = ShmName::new(if ring { "busy-ring" } else { "busy-seg" });
        create(&shm, ring, 1 << 20);
        let mut child = ChildProc::spawn("hold-writer", &shm.name, &[]);
        let pid: u32 = child.expect("READY", READY_WAIT).parse().unwrap();
        match JournalWriter::open(&shm.name) {
            Err(JournalError::Region(e @ RegionError::WriterBusy { .. })) => {
                let RegionError::WriterBusy { pid: p, .. } = &e else {
                    unreachable!()
                };
                // A ring file names its writer; a persisted journal's directory lock does not.
                if ring {
                    assert_eq!(*p, Some(pid), "ring={ring}");
                } else {
                    assert!(p.is_none_or(|p| p == pid), "ring={ring}: pid {p:?}");
                }
                common::assert_mentions(&e.to_string(), &["only one writer"]);
            }
            other => panic!("ring={ring}: expected WriterBusy, got {other:?}"),
        }
        let mut r = JournalReader::open(&shm.name, Start::Beginning).unwrap();
        assert_eq!(
            r.next().unwrap().map(|m| m.payload.to_vec()),
            Some(b"held".to_vec())
        );
        assert!(r.info().unwrap().writer_alive, "ring={ring}");
        child.close_stdin();
        child.expect("BYE", READY_WAIT);
        assert!(child.wait_exit(Duration::from_secs(10)).is_some());
        let w = JournalWriter::open(&shm.name).expect("the writer left: take over");
        assert_eq!(w.next_seq(), 1, "ring={ring}");
    }
}

/// A reader process asleep in `next_timeout(10 s)` is woken by a commit from this process at
/// once (through the futex in the journal's doorbell page, shared by both), not at its timeout.
#[test]
fn a_reader_process_asleep_in_next_timeout_wakes_on_a_commit() {
    let _serial = serial();
    let _dog = Watchdog::new("a_reader_process_asleep", Duration::from_secs(30));
    for ring in [true, false] {
        let shm = ShmName::new(if ring { "wake-ring" } else { "wake-seg" });
        let b = JournalWriter::builder(&shm.name);
        let mut w = if ring {
            b.ring(1 << 20)
        } else {
            b.segment_size(1 << 20)
        }
        .create()
        .unwrap();
        let file = if ring {
            shm.path()
        } else {
            shm.path().join("0000000000.seg")
        };
        let mut buf = Vec::new();
        for seq in 0..10 {
            payload_into(seq, &mut buf);
            w.append_commit(msg_type(seq), &buf).unwrap();
        }
        let mut child = ChildProc::spawn("block-reader", &shm.name, &[]);
        let next: u64 = child.expect("READY", READY_WAIT).parse().unwrap();
        assert_eq!(next, 10);
        // Wait until it sleeps on the doorbell (its waiter count, at DOORBELL_WAITERS).
        let deadline = Instant::now() + Duration::from_secs(5);
        while common::read_u32(&file, DOORBELL_WAITERS) == 0 {
            assert!(
                Instant::now() < deadline,
                "ring={ring}: the reader never slept"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        let sent = shmbus::now_unix_ns();
        payload_into(10, &mut buf);
        w.append_commit(msg_type(10), &buf).unwrap();
        let got = child.expect("GOT", Duration::from_secs(15));
        let (seq, at) = got.split_once(' ').expect("GOT <seq> <ns>");
        assert_eq!(seq, "10", "ring={ring}");
        let latency = Duration::from_nanos(at.parse::<u64>().unwrap().saturating_sub(sent));
        eprintln!("ring={ring}: a reader process woke {latency:?} after the commit");
        assert!(
            latency < Duration::from_secs(1),
            "ring={ring}: woke after {latency:?}"
        );
        assert_eq!(
            common::read_u32(&file, DOORBELL_WAITERS),
            0,
            "the waiter left"
        );
    }
}
