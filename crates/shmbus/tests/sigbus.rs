//! No SIGBUS when another user truncates a mapped region (issue 10, item 1).
//!
//! A reader process and a writer process of each kind (slot table, ring journal, persisted
//! journal segment, candle store) have the region mapped; another uid (65534, a member of the
//! region's group) runs `truncate -s 0` on the file. Neither process may die by a signal: the
//! next call of each returns `RegionError::TruncatedWhileMapped`, which the child reports
//! before exiting normally. With the handler disabled (`SHMBUS_NO_SIGBUS_HANDLER=1`) the same
//! setup kills the children with SIGBUS, which shows the test provokes the fault.
//!
//! SIGBUS outside shmbus's mappings keeps its old meaning: it kills the process with SIGBUS
//! (the default action), or runs the handler the application installed before shmbus.
//!
//! Children are this test binary run again with a role in `SHMBUS_CHILD_ROLE`; see
//! `common/mod.rs`. The cross-uid tests need root (to run `truncate` as uid 65534) and skip
//! otherwise, saying why.

mod common;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ChildProc, ShmName, TestDir, Watchdog, say};
use shmbus::candles::{Candle, CandleReader, CandleWriter};
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::{
    CandleError, JournalError, RegionError, SlotError, SlotReader, SlotWriter, TradingData,
};

const NOBODY: u32 = 65534;
const KIND_ENV: &str = "SHMBUS_SIGBUS_KIND";
const WAIT: Duration = Duration::from_secs(20);

#[test]
#[ignore = "entry point of the child processes the other tests spawn"]
fn child_entry() {
    let Ok(role) = std::env::var(common::ROLE_ENV) else {
        return;
    };
    let name = std::env::var(common::NAME_ENV).expect("the child's region name");
    common::limit_child_lifetime();
    common::exit_when_stdin_closes();
    match role.as_str() {
        "writer" | "reader" => {
            let kind = std::env::var(KIND_ENV).expect("the region kind");
            let outcome = run_until_error(&kind, role == "writer", &name);
            say(&outcome);
            // Stay until the parent has read the outcome (it closes stdin).
            common::wait_for_stdin_eof();
        }
        "foreign-fault" => foreign_fault(&name, false),
        "foreign-fault-prev" => foreign_fault(&name, true),
        other => panic!("unknown child role {other:?}"),
    }
}

/// What a child says when its call fails: `truncated` for the typed error, else the error.
fn outcome<E: std::fmt::Display>(e: &E, truncated: bool) -> String {
    if truncated {
        format!("truncated {e}")
    } else {
        format!("other {e}")
    }
}

fn slot_truncated(e: &SlotError) -> bool {
    matches!(
        e,
        SlotError::Region(RegionError::TruncatedWhileMapped { .. })
    )
}

fn journal_truncated(e: &JournalError) -> bool {
    matches!(
        e,
        JournalError::Region(RegionError::TruncatedWhileMapped { .. })
    )
}

fn candle_truncated(e: &CandleError) -> bool {
    matches!(
        e,
        CandleError::Region {
            error: RegionError::TruncatedWhileMapped { .. }
        }
    )
}

fn bar(ts: u64) -> Candle {
    Candle::new(ts, 100.0, 101.0, 99.0, 100.5, 1.0)
}

/// Opens the region as a writer or a reader of `kind`, says `ready`, then works on it every
/// millisecond until a call fails; returns what the failure was.
fn run_until_error(kind: &str, writer: bool, name: &str) -> String {
    let pause = || std::thread::sleep(Duration::from_millis(1));
    match (kind, writer) {
        ("slots", true) => {
            let mut w = SlotWriter::<TradingData>::open(name).expect("open the slot writer");
            say("ready");
            for i in 1.. {
                if let Err(e) = w
                    .put("BTCUSD", &TradingData::new(i as f64, 1, i))
                    .map_err(SlotError::from)
                {
                    return outcome(&e, slot_truncated(&e));
                }
                pause();
            }
        }
        ("slots", false) => {
            let r = SlotReader::<TradingData>::open(name).expect("open the slot reader");
            say("ready");
            loop {
                match r.get("BTCUSD") {
                    Ok(Some(_)) => {}
                    Ok(None) => return "other: the slot read as never written".into(),
                    Err(e) => {
                        let e = SlotError::from(e);
                        return outcome(&e, slot_truncated(&e));
                    }
                }
                pause();
            }
        }
        ("ring" | "persisted", true) => {
            let mut w = JournalWriter::open(name).expect("open the journal writer");
            say("ready");
            loop {
                if let Err(e) = w.append_commit(1, &[7u8; 64]).map_err(JournalError::from) {
                    return outcome(&e, journal_truncated(&e));
                }
                pause();
            }
        }
        ("ring" | "persisted", false) => {
            let mut r = JournalReader::open(name, Start::Beginning).expect("open the reader");
            say("ready");
            loop {
                // The ring's reader busy-polls (`next`: "nothing yet" must not be zeros); the
                // segment's reader blocks (a truncated journal must end the wait, not spin or
                // sleep on).
                let got = if kind == "ring" {
                    let got = r.next().map(|m| m.is_some());
                    pause();
                    got
                } else {
                    r.next_timeout(Duration::from_millis(50))
                        .map(|m| m.is_some())
                };
                if let Err(e) = got.map_err(JournalError::from) {
                    return outcome(&e, journal_truncated(&e));
                }
            }
        }
        ("candles", true) => {
            let mut w = CandleWriter::open(name).expect("open the candle writer");
            say("ready");
            for i in 1u64.. {
                if let Err(e) = w.write_candles("BTCUSD", "1m", &[bar(60_000 * (1000 + i))]) {
                    return outcome(&e, candle_truncated(&e));
                }
                pause();
            }
        }
        ("candles", false) => {
            let r = CandleReader::open(name).expect("open the candle reader");
            say("ready");
            loop {
                match r.latest("BTCUSD", "1m") {
                    Ok(Some(_)) => {}
                    Ok(None) => return "other: the series read as empty".into(),
                    Err(e) => return outcome(&e, candle_truncated(&e)),
                }
                pause();
            }
        }
        _ => panic!("unknown kind {kind:?}"),
    }
    unreachable!("the loops end by an error")
}

/// Whether this process may run a child as another uid.
fn can_switch_uid() -> bool {
    if euid() == 0 {
        return true;
    }
    eprintln!("skipped: needs root to run `truncate` as uid {NOBODY} (another user)");
    false
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Lets group 65534 (nogroup) read and write `path` (mode 0660 from `group_shared`).
fn share_with_nobody(path: &Path) {
    std::os::unix::fs::chown(path, None, Some(NOBODY)).expect("chgrp the region to 65534");
}

/// Runs `truncate -s 0 path` as uid/gid 65534 and asserts it succeeded.
fn truncate_as_nobody(path: &Path) {
    let out = Command::new("truncate")
        .args(["-s", "0"])
        .arg(path)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("run truncate");
    assert!(
        out.status.success(),
        "truncate -s 0 {} as uid {NOBODY} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::metadata(path).expect("stat").len(), 0);
}

/// Creates a region of `kind` at `name` (group-shared, written once) and returns the file to
/// truncate.
fn create(kind: &str, name: &str) -> PathBuf {
    match kind {
        "slots" => {
            let mut w = SlotWriter::<TradingData>::builder(name)
                .capacity(64)
                .group_shared(true)
                .create()
                .expect("create the slot table");
            w.put("BTCUSD", &TradingData::new(1.0, 1, 1)).expect("put");
            w.region().name().path().to_path_buf()
        }
        "ring" | "persisted" => {
            let b = JournalWriter::builder(name).group_shared(true);
            let b = if kind == "ring" {
                b.ring(1 << 20)
            } else {
                b.segment_size(1 << 20)
            };
            let mut w = b.create().expect("create the journal");
            w.append_commit(1, b"first").expect("append");
            let path = PathBuf::from(name);
            if kind == "persisted" {
                share_with_nobody(&path);
                path.join("0000000000.seg")
            } else {
                Path::new(shmbus::SHM_DIR).join(name)
            }
        }
        "candles" => {
            let mut w = CandleWriter::builder(name)
                .size(1 << 20)
                .group_shared(true)
                .create()
                .expect("create the candle store");
            w.write_candles("BTCUSD", "1m", &[bar(60_000 * 1000)])
                .expect("write");
            Path::new(shmbus::SHM_DIR).join(name)
        }
        _ => unreachable!(),
    }
}

/// The scenario of the module docs for one kind. With `handler`, both children must report the
/// typed error and exit 0; without it, both must die by SIGBUS.
fn truncate_under(kind: &str, handler: bool) {
    if !can_switch_uid() {
        return;
    }
    let _watchdog = Watchdog::new("truncate_under", Duration::from_secs(60));
    let shm = ShmName::new(&format!("sigbus-{kind}"));
    let dir = TestDir::new(&format!("sigbus-{kind}"));
    let name = if kind == "persisted" {
        dir.name("journal")
    } else {
        shm.name.clone()
    };
    let file = create(kind, &name);
    share_with_nobody(&file);
    let env: Vec<(&str, &str)> = if handler {
        vec![(KIND_ENV, kind)]
    } else {
        vec![(KIND_ENV, kind), (shmbus::NO_SIGBUS_HANDLER_ENV, "1")]
    };
    let mut children = [
        ChildProc::spawn("writer", &name, &env),
        ChildProc::spawn("reader", &name, &env),
    ];
    for c in &mut children {
        c.expect("ready", WAIT);
    }
    std::thread::sleep(Duration::from_millis(100));
    truncate_as_nobody(&file);
    for (c, role) in children.iter_mut().zip(["writer", "reader"]) {
        if handler {
            let said = c.expect("truncated", WAIT);
            common::assert_mentions(
                &said,
                &["truncated by another process", &file.display().to_string()],
            );
            c.close_stdin();
            let status = c.wait_exit(WAIT).expect("the child exits");
            assert!(
                status.success(),
                "{kind} {role}: exited {status:?} after reporting the truncation"
            );
        } else {
            let status = c.wait_exit(WAIT).expect("the child dies");
            assert_eq!(
                status.signal(),
                Some(libc::SIGBUS),
                "{kind} {role} without the handler: expected death by SIGBUS, got {status:?}"
            );
        }
    }
}

#[test]
fn a_truncated_slot_table_is_an_error_in_its_writer_and_reader_not_sigbus() {
    truncate_under("slots", true);
}

#[test]
fn a_truncated_ring_journal_is_an_error_in_its_writer_and_polling_reader_not_sigbus() {
    truncate_under("ring", true);
}

#[test]
fn a_truncated_journal_segment_is_an_error_in_its_writer_and_blocked_reader_not_sigbus() {
    truncate_under("persisted", true);
}

#[test]
fn a_truncated_candle_store_is_an_error_in_its_writer_and_reader_not_sigbus() {
    truncate_under("candles", true);
}

/// The control: without shmbus's handler the same truncation kills both processes.
#[test]
fn without_the_handler_the_truncation_kills_by_sigbus() {
    truncate_under("slots", false);
    truncate_under("ring", false);
}

/// In a child: installs a handler of its own first (`with_previous`), maps a shmbus region
/// (which installs shmbus's handler after it), checks that a truncated shmbus mapping is an
/// error, then faults on a mapping that is not shmbus's. Without a previous handler that fault
/// must kill the process by SIGBUS; with one, that handler must run (it exits 42).
fn foreign_fault(name: &str, with_previous: bool) {
    extern "C" fn previous(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        let msg = b"SHMBUS:previous-handler-called\n";
        // SAFETY: write and _exit are async-signal-safe; the buffer is valid.
        unsafe {
            libc::write(1, msg.as_ptr().cast(), msg.len());
            libc::_exit(42);
        }
    }
    if with_previous {
        // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO signature.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = previous as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()), 0);
        }
    }
    // A shmbus mapping truncated under its reader: an error, whatever handler came before.
    let mut w = SlotWriter::<TradingData>::builder(name)
        .capacity(8)
        .create()
        .expect("create");
    w.put("K", &TradingData::new(1.0, 1, 1)).expect("put");
    let r = SlotReader::<TradingData>::open(name).expect("open");
    std::fs::OpenOptions::new()
        .write(true)
        .open(w.region().name().path())
        .expect("open the file")
        .set_len(0)
        .expect("truncate");
    match r.get("K").map_err(SlotError::from) {
        Err(e) if slot_truncated(&e) => say("shmbus-fault-handled"),
        other => panic!("expected TruncatedWhileMapped, got {other:?}"),
    }
    // A mapping that is not shmbus's, truncated: its fault is not ours to handle.
    let path = std::env::temp_dir().join(format!("shmbus-sigbus-foreign-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("create the foreign file");
    file.set_len(4096).expect("size it");
    // SAFETY: a fresh shared mapping of a 4096-byte file we own.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    file.set_len(0).expect("truncate the foreign file");
    let _ = std::fs::remove_file(&path);
    say("faulting");
    // SAFETY: the page is mapped (reading it raises SIGBUS, which is the point).
    let v = unsafe { std::ptr::read_volatile(p.cast::<u8>()) };
    say(&format!("survived {v}"));
}

fn run_foreign(role: &str) -> (ChildProc, std::process::ExitStatus) {
    let _watchdog = Watchdog::new("foreign fault", Duration::from_secs(60));
    let shm = ShmName::new(role);
    let mut c = ChildProc::spawn(role, &shm.name, &[]);
    c.expect("shmbus-fault-handled", WAIT);
    c.expect("faulting", WAIT);
    let start = Instant::now();
    let status = c.wait_exit(WAIT).expect("the child ends");
    assert!(start.elapsed() < WAIT);
    (c, status)
}

#[test]
fn a_sigbus_outside_shmbus_mappings_still_kills_by_sigbus() {
    let (_, status) = run_foreign("foreign-fault");
    assert_eq!(
        status.signal(),
        Some(libc::SIGBUS),
        "a foreign fault must keep its default action: {status:?}"
    );
}

#[test]
fn a_sigbus_outside_shmbus_mappings_goes_to_the_previous_handler() {
    let (mut c, status) = run_foreign("foreign-fault-prev");
    assert_eq!(
        status.code(),
        Some(42),
        "the previous handler exits 42: {status:?}"
    );
    c.expect("previous-handler-called", WAIT);
}
