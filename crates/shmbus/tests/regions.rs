//! Region safety: every way a region can be missing, taken, foreign, corrupt, busy or too big
//! gives its own typed error with a message that names the file and says what to do.
//!
//! Regions are file paths under a fresh temp directory (one per test), plus one test on a real
//! `/dev/shm` name. Corrupt regions are forged by patching bytes of valid ones (offsets from
//! `header.rs`: magic u64 at 0, version u32 at 8, kind u32 at 12, body offset u32 at 68).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use common::{ShmName, TestDir, Watchdog, assert_mentions, patch};
use shmbus::layout::header;
use shmbus::{
    FORMAT_VERSION, Field, FieldType, MAGIC, Probe, Record, RecordLayout, Region, RegionError,
    RegionKind, RemoveError, SlotError, SlotReader, SlotWriter, TradingData,
};

const LIMIT: Duration = Duration::from_secs(20);
const RAW_SIZE: u64 = 4096;

/// Same size as `TradingData`, other field order and name.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
struct SwappedTrade {
    timestamp: u64,
    price: f64,
    volume: i32,
    valid: u8,
    _pad: [u8; 3],
}

const _: () = assert!(size_of::<SwappedTrade>() == 24);

impl Record for SwappedTrade {
    const LAYOUT: RecordLayout = RecordLayout {
        name: "SwappedTrade",
        size: 24,
        fields: &[
            Field::new("timestamp", FieldType::U64, 0),
            Field::new("price", FieldType::F64, 8),
            Field::new("volume", FieldType::I32, 16),
            Field::new("valid", FieldType::Bool, 20),
        ],
    };
}

/// Claims to be `TradingData` (same name, same size) but types `volume` as u32: only the
/// fingerprint can tell the two apart.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
struct ImpostorTrade {
    price: f64,
    timestamp: u64,
    volume: u32,
    valid: u8,
    _pad: [u8; 3],
}

const _: () = assert!(size_of::<ImpostorTrade>() == 24);

impl Record for ImpostorTrade {
    const LAYOUT: RecordLayout = RecordLayout {
        name: "TradingData",
        size: 24,
        fields: &[
            Field::new("price", FieldType::F64, 0),
            Field::new("timestamp", FieldType::U64, 8),
            Field::new("volume", FieldType::U32, 16),
            Field::new("valid", FieldType::Bool, 20),
        ],
    };
}

fn raw_region(name: &str) -> Region {
    Region::builder(name)
        .size(RAW_SIZE)
        .create()
        .expect("create a raw region")
}

/// A closed slot table holding `BTC` = 1.5.
fn slot_table(name: &str) {
    let mut w = SlotWriter::<TradingData>::builder(name)
        .capacity(8)
        .create()
        .expect("create a slot table");
    w.put("BTC", &TradingData::new(1.5, 7, 42)).expect("put");
}

/// Deterministic bytes that are not a region (xorshift64).
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn mode_of(path: impl AsRef<Path>) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn opening_a_missing_name_is_not_found() {
    let _dog = Watchdog::new("opening_a_missing_name_is_not_found", LIMIT);
    let dir = TestDir::new("missing");
    let name = dir.name("nothing-here");
    match Region::open_any(&name) {
        Err(e @ RegionError::NotFound { .. }) => {
            let RegionError::NotFound { path, .. } = &e else {
                unreachable!()
            };
            assert_eq!(path, Path::new(&name));
            assert_mentions(&e.to_string(), &[&name, "create it first"]);
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    match SlotReader::<TradingData>::open(&name) {
        Err(SlotError::Region(RegionError::NotFound { .. })) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    let shm = ShmName::new("missing");
    match Region::open_any(&shm.name) {
        Err(e @ RegionError::NotFound { .. }) => {
            assert_mentions(&e.to_string(), &[&shm.name, "/dev/shm/"]);
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn create_refuses_an_existing_name_and_leaves_it_untouched() {
    let _dog = Watchdog::new("create_refuses_an_existing_name", LIMIT);
    let dir = TestDir::new("exists");
    let name = dir.name("table");
    slot_table(&name);
    let before = std::fs::read(&name).expect("read the region");

    // A bigger raw region, a slot table of another capacity, and a group-shared one: each must
    // fail before touching the file (no truncate, no resize, no chmod).
    match Region::builder(&name).size(1 << 20).create() {
        Err(e @ RegionError::AlreadyExists { .. }) => {
            assert_mentions(&e.to_string(), &[&name, "already exists", "remove it"]);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    match SlotWriter::<TradingData>::builder(&name)
        .capacity(2)
        .group_shared(true)
        .create()
    {
        Err(SlotError::Region(RegionError::AlreadyExists { path, .. })) => {
            assert_eq!(path, Path::new(&name));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let after = std::fs::read(&name).expect("read the region");
    assert_eq!(before.len(), after.len(), "the existing region was resized");
    assert!(before == after, "the existing region's bytes changed");
    assert_eq!(mode_of(&name), 0o600, "the existing region's mode changed");

    let reader = SlotReader::<TradingData>::open(&name).expect("still a valid table");
    assert_eq!(reader.get("BTC").unwrap().unwrap().value.price, 1.5);
    assert_eq!(reader.region().header().writer_generation, 1);
}

#[test]
fn garbage_is_bad_magic() {
    let _dog = Watchdog::new("garbage_is_bad_magic", LIMIT);
    let dir = TestDir::new("garbage");
    let name = dir.name("noise.bin");
    let bytes = garbage(8192);
    std::fs::write(&name, &bytes).unwrap();
    let found = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert!(found != 0 && found != MAGIC);

    match Region::open_any(&name) {
        Err(e @ RegionError::BadMagic { .. }) => {
            let RegionError::BadMagic {
                expected, found: f, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!((*expected, *f), (MAGIC, found));
            assert_mentions(&e.to_string(), &[&name, "not a shmbus region"]);
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
    // Kind-checked and writer opens validate the header first as well.
    match SlotReader::<TradingData>::open(&name) {
        Err(SlotError::Region(RegionError::BadMagic { .. })) => {}
        other => panic!("expected BadMagic, got {other:?}"),
    }
    match SlotWriter::<TradingData>::open(&name) {
        Err(SlotError::Region(RegionError::BadMagic { .. })) => {}
        other => panic!("expected BadMagic, got {other:?}"),
    }
    assert_eq!(std::fs::read(&name).unwrap(), bytes, "a failed open wrote");
}

#[test]
fn short_and_resized_files_are_truncated_or_size_mismatch() {
    let _dog = Watchdog::new("short_and_resized_files", LIMIT);
    let dir = TestDir::new("short");

    let tiny = dir.name("tiny");
    std::fs::write(&tiny, b"0123456789").unwrap();
    match Region::open_any(&tiny) {
        Err(
            e @ RegionError::Truncated {
                size: 10, min: 128, ..
            },
        ) => {
            assert_mentions(&e.to_string(), &[&tiny, "10 bytes", "truncated"]);
        }
        other => panic!("expected Truncated (10 bytes), got {other:?}"),
    }
    let empty = dir.name("empty");
    std::fs::write(&empty, b"").unwrap();
    // An empty file is a region whose creator has not reserved its space yet.
    match Region::open_any(&empty) {
        Err(RegionError::NotReady { .. }) => {}
        other => panic!("expected NotReady (0 bytes), got {other:?}"),
    }

    // A valid region cut shorter than its header says: SizeMismatch, never a mapping past EOF.
    let cut = dir.name("cut");
    drop(raw_region(&cut));
    let file = std::fs::OpenOptions::new().write(true).open(&cut).unwrap();
    file.set_len(RAW_SIZE / 2).unwrap();
    match Region::open_any(&cut) {
        Err(
            e @ RegionError::SizeMismatch {
                header_size: RAW_SIZE,
                file_size: 2048,
                ..
            },
        ) => {
            assert_mentions(&e.to_string(), &[&cut, "2048 bytes", "4096", "truncated"]);
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    // Grown is as wrong as shrunk.
    file.set_len(RAW_SIZE * 2).unwrap();
    match Region::open_any(&cut) {
        Err(RegionError::SizeMismatch {
            header_size: RAW_SIZE,
            file_size: 8192,
            ..
        }) => {}
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    // Cut inside the header: Truncated.
    file.set_len(64).unwrap();
    match Region::open_any(&cut) {
        Err(RegionError::Truncated { size: 64, .. }) => {}
        other => panic!("expected Truncated (64 bytes), got {other:?}"),
    }
    match SlotReader::<TradingData>::open(&cut) {
        Err(SlotError::Region(RegionError::Truncated { size: 64, .. })) => {}
        other => panic!("expected Truncated (64 bytes), got {other:?}"),
    }
}

#[test]
fn patched_headers_give_bad_magic_version_and_kind_errors() {
    let _dog = Watchdog::new("patched_headers", LIMIT);
    let dir = TestDir::new("patched");

    let magic = dir.name("magic");
    slot_table(&magic);
    patch(
        &magic,
        header::MAGIC,
        &0x0123_4567_89AB_CDEFu64.to_le_bytes(),
    );
    match SlotReader::<TradingData>::open(&magic) {
        Err(SlotError::Region(
            e @ RegionError::BadMagic {
                found: 0x0123_4567_89AB_CDEF,
                ..
            },
        )) => {
            assert_mentions(&e.to_string(), &[&magic, "not a shmbus region"]);
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }

    let version = dir.name("version");
    slot_table(&version);
    patch(
        &version,
        header::VERSION,
        &(FORMAT_VERSION + 1).to_le_bytes(),
    );
    for result in [
        Region::open_any(&version).map(drop),
        SlotReader::<TradingData>::open(&version)
            .map(drop)
            .map_err(|e| match e {
                SlotError::Region(e) => e,
                other => panic!("expected a region error, got {other:?}"),
            }),
    ] {
        match result {
            Err(
                e @ RegionError::VersionMismatch {
                    expected: FORMAT_VERSION,
                    ..
                },
            ) => {
                let want = format!("format version {}", FORMAT_VERSION + 1);
                assert_mentions(&e.to_string(), &[&version, &want, "matching shmbus"]);
            }
            other => panic!("expected VersionMismatch, got {other:?}"),
        }
    }

    let kind = dir.name("kind");
    slot_table(&kind);
    patch(&kind, header::KIND, &99u32.to_le_bytes());
    match SlotReader::<TradingData>::open(&kind) {
        Err(SlotError::Region(e @ RegionError::KindMismatch { .. })) => {
            let RegionError::KindMismatch {
                expected, found, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(
                (*expected, found.as_str()),
                (RegionKind::Slots, "unknown(99)")
            );
            assert_mentions(
                &e.to_string(),
                &[&kind, "unknown(99)", "not a slots region"],
            );
        }
        other => panic!("expected KindMismatch, got {other:?}"),
    }
    // open_any does not check the kind.
    let any = Region::open_any(&kind).expect("open_any ignores the kind");
    assert_eq!(any.header().kind_code, 99);
    assert_eq!(any.kind(), None);

    // A body offset beyond the file is corrupt, not an out-of-bounds read.
    let body = dir.name("body");
    slot_table(&body);
    patch(&body, header::BODY_OFFSET, &u32::MAX.to_le_bytes());
    match SlotReader::<TradingData>::open(&body) {
        Err(SlotError::Region(e @ RegionError::Corrupt { .. })) => {
            assert_mentions(&e.to_string(), &[&body, "corrupt", "body offset"]);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn wrong_kind_or_record_layout_is_refused() {
    let _dog = Watchdog::new("wrong_kind_or_record_layout", LIMIT);
    let dir = TestDir::new("layout");
    let table = dir.name("table");
    slot_table(&table);

    match SlotReader::<SwappedTrade>::open(&table) {
        Err(SlotError::Region(e @ RegionError::LayoutMismatch { .. })) => {
            let RegionError::LayoutMismatch {
                expected, found, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(*expected, SwappedTrade::LAYOUT.fingerprint());
            assert_eq!(*found, TradingData::LAYOUT.fingerprint());
            assert_mentions(&e.to_string(), &[&table, "`TradingData`", "`SwappedTrade`"]);
        }
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
    match SlotWriter::<SwappedTrade>::open(&table) {
        Err(SlotError::Region(RegionError::LayoutMismatch { .. })) => {}
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
    // Same name, same size, one field typed differently: only the fingerprint tells.
    match SlotReader::<ImpostorTrade>::open(&table) {
        Err(SlotError::Region(e @ RegionError::LayoutMismatch { .. })) => {
            assert_mentions(&e.to_string(), &["field order, types or sizes"]);
        }
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
    // The failed writer open did not take over the table.
    let reader = SlotReader::<TradingData>::open(&table).unwrap();
    assert_eq!(reader.region().header().writer_generation, 1);

    match Region::open_options()
        .kind(RegionKind::Journal)
        .open(&table)
    {
        Err(e @ RegionError::KindMismatch { .. }) => {
            assert_mentions(
                &e.to_string(),
                &["is a slots region", "not a journal region"],
            );
        }
        other => panic!("expected KindMismatch, got {other:?}"),
    }
    let raw = dir.name("raw");
    drop(raw_region(&raw));
    match SlotReader::<TradingData>::open(&raw) {
        Err(SlotError::Region(RegionError::KindMismatch { found, .. })) => {
            assert_eq!(found, "raw");
        }
        other => panic!("expected KindMismatch, got {other:?}"),
    }
}

#[test]
fn a_zeroed_header_is_not_ready() {
    let _dog = Watchdog::new("a_zeroed_header_is_not_ready", LIMIT);
    let dir = TestDir::new("notready");
    let name = dir.name("half-made");
    slot_table(&name);
    patch(&name, header::MAGIC, &0u64.to_le_bytes());
    match Region::open_any(&name) {
        Err(e @ RegionError::NotReady { .. }) => {
            assert_mentions(&e.to_string(), &[&name, "not initialised", "remove it"]);
        }
        other => panic!("expected NotReady, got {other:?}"),
    }
    match SlotReader::<TradingData>::open(&name) {
        Err(SlotError::Region(RegionError::NotReady { .. })) => {}
        other => panic!("expected NotReady, got {other:?}"),
    }
    // An unpublished region with no writer is what rm without --force is for.
    Region::remove(&name, false).expect("remove an unpublished region");
    assert!(!Path::new(&name).exists());
}

#[test]
fn one_writer_at_a_time_even_within_one_process() {
    let _dog = Watchdog::new("one_writer_at_a_time", LIMIT);
    let dir = TestDir::new("writer");
    let name = dir.name("table");
    let me = std::process::id();

    let first = SlotWriter::<TradingData>::builder(&name)
        .capacity(4)
        .create()
        .unwrap();
    assert_eq!(first.region().header().writer_generation, 1);
    // flock belongs to the open file description: a second open in this process must fail.
    match SlotWriter::<TradingData>::open(&name) {
        Err(SlotError::Region(e @ RegionError::WriterBusy { .. })) => {
            let RegionError::WriterBusy { pid, path } = &e else {
                unreachable!()
            };
            assert_eq!(*pid, Some(me));
            assert_eq!(path, Path::new(&name));
            assert_mentions(
                &e.to_string(),
                &[&name, &format!("pid {me}"), "only one writer"],
            );
        }
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    match Region::open_options().writer(true).open(&name) {
        Err(RegionError::WriterBusy { pid: Some(p), .. }) => assert_eq!(p, me),
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    let reader = Region::open_any(&name).unwrap();
    assert!(reader.writer_alive().unwrap());
    let h = reader.read_header();
    assert_eq!(
        (h.writer_generation, h.writer_pid),
        (1, me),
        "a refused writer changed the header"
    );

    drop(first);
    assert!(lock_released(|| reader.writer_alive().unwrap()));
    assert_eq!(
        reader.read_header().writer_pid,
        0,
        "a clean close clears the writer pid"
    );

    let second = SlotWriter::<TradingData>::open(&name).expect("the lock is free again");
    assert_eq!(second.region().header().writer_generation, 2);
    assert_eq!(reader.read_header().writer_generation, 2);
    assert_eq!(reader.read_header().writer_pid, me);
    assert!(reader.writer_alive().unwrap());
    drop(second);

    let third = Region::open_options().writer(true).open(&name).unwrap();
    assert!(third.is_writer());
    assert_eq!(third.header().writer_generation, 3);
}

#[test]
fn links_directories_and_bad_names_are_refused() {
    let _dog = Watchdog::new("links_directories_and_bad_names", LIMIT);
    let dir = TestDir::new("names");
    let target = dir.name("target");
    slot_table(&target);
    let before = std::fs::read(&target).unwrap();

    let link = dir.name("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    match Region::open_any(&link) {
        Err(e @ RegionError::Symlink { .. }) => {
            assert_mentions(&e.to_string(), &[&link, "symbolic link"]);
        }
        other => panic!("expected Symlink, got {other:?}"),
    }
    match SlotReader::<TradingData>::open(&link) {
        Err(SlotError::Region(RegionError::Symlink { .. })) => {}
        other => panic!("expected Symlink, got {other:?}"),
    }
    match SlotWriter::<TradingData>::open(&link) {
        Err(SlotError::Region(RegionError::Symlink { .. })) => {}
        other => panic!("expected Symlink, got {other:?}"),
    }
    match Region::remove(&link, false) {
        Err(RemoveError::Region(RegionError::Symlink { .. })) => {}
        other => panic!("expected Symlink, got {other:?}"),
    }
    // Create never follows the link either.
    match Region::builder(&link).size(RAW_SIZE).create() {
        Err(RegionError::AlreadyExists { .. }) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(
        std::fs::read(&target).unwrap(),
        before,
        "the link's target changed"
    );

    let dotdot = format!("{}/../{}", dir.path().display(), "target");
    let shm_bad = ["", "/", "..", "/..", ".", "a b", "has space", "semi;colon"];
    for bad in shm_bad
        .iter()
        .copied()
        .chain([dotdot.as_str(), "./x/", "x/../y"])
    {
        match Region::open_any(bad) {
            Err(e @ RegionError::InvalidName { .. }) => {
                let RegionError::InvalidName { name, reason } = &e else {
                    unreachable!()
                };
                assert_eq!(name, bad);
                assert!(!reason.is_empty());
                assert_mentions(&e.to_string(), &["invalid region name", reason]);
            }
            other => panic!("{bad:?}: expected InvalidName, got {other:?}"),
        }
        match Region::builder(bad).size(RAW_SIZE).create() {
            Err(RegionError::InvalidName { .. }) => {}
            other => panic!("{bad:?}: expected InvalidName on create, got {other:?}"),
        }
        match Region::remove(bad, true) {
            Err(RemoveError::Region(RegionError::InvalidName { .. })) => {}
            other => panic!("{bad:?}: expected InvalidName on remove, got {other:?}"),
        }
    }
    match Region::open_any(&dotdot) {
        Err(e) => assert_mentions(&e.to_string(), &["`..`"]),
        Ok(_) => unreachable!(),
    }
    match Region::open_any("a b") {
        Err(e) => assert_mentions(&e.to_string(), &["' '", "file path"]),
        Ok(_) => unreachable!(),
    }

    // A directory: a typed error from every entry point, never a panic, and it stays.
    let sub = dir.name("subdir");
    std::fs::create_dir(&sub).unwrap();
    match Region::open_any(&sub) {
        Err(e @ RegionError::NotRegularFile { .. }) => {
            assert_mentions(&e.to_string(), &[&sub, "not a regular file"]);
        }
        other => panic!("expected NotRegularFile, got {other:?}"),
    }
    assert!(SlotReader::<TradingData>::open(&sub).is_err());
    assert!(SlotWriter::<TradingData>::open(&sub).is_err());
    match Region::builder(&sub).size(RAW_SIZE).create() {
        Err(RegionError::AlreadyExists { .. }) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert!(Region::remove(&sub, false).is_err());
    assert!(Path::new(&sub).is_dir());
}

#[test]
fn created_regions_are_private_unless_group_shared() {
    let _dog = Watchdog::new("created_regions_are_private", LIMIT);
    let dir = TestDir::new("mode");
    let private = dir.name("private");
    let shared = dir.name("shared");
    let table = dir.name("table");
    let shared_table = dir.name("shared-table");
    let exact = dir.name("exact");
    drop(raw_region(&private));
    drop(
        Region::builder(&shared)
            .size(RAW_SIZE)
            .group_shared(true)
            .create()
            .unwrap(),
    );
    slot_table(&table);
    drop(
        SlotWriter::<TradingData>::builder(&shared_table)
            .capacity(2)
            .group_shared(true)
            .create()
            .unwrap(),
    );
    // The umask must not clear asked-for bits: 0640 stays 0640 whatever the umask.
    drop(
        Region::builder(&exact)
            .size(RAW_SIZE)
            .mode(0o640)
            .create()
            .unwrap(),
    );
    assert_eq!(mode_of(&private), 0o600);
    assert_eq!(mode_of(&shared), 0o660);
    assert_eq!(mode_of(&table), 0o600);
    assert_eq!(mode_of(&shared_table), 0o660);
    assert_eq!(mode_of(&exact), 0o640);
}

/// Unmounts (lazily if it must) and removes the mount point on drop.
struct TmpfsMount {
    dir: TestDir,
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

#[test]
fn a_full_tmpfs_is_no_space_at_create() {
    let _dog = Watchdog::new("a_full_tmpfs_is_no_space_at_create", LIMIT);
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped a_full_tmpfs_is_no_space_at_create: mounting a tmpfs needs root");
        return;
    }
    let dir = TestDir::new("tmpfs");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir.path())
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "skipped a_full_tmpfs_is_no_space_at_create: mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped a_full_tmpfs_is_no_space_at_create: cannot run mount: {e}");
            return;
        }
    }
    let mnt = TmpfsMount { dir };

    // A small region fits, and stays intact after a big one fails next to it.
    let small = mnt.dir.name("small");
    let small_region = Region::builder(&small).size(64 << 10).create().unwrap();

    let big = mnt.dir.name("big");
    const ASKED: u64 = 8 << 20;
    match Region::builder(&big).size(ASKED).create() {
        Err(e @ RegionError::NoSpace { .. }) => {
            let RegionError::NoSpace {
                path,
                requested,
                free,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(path, Path::new(&big));
            assert_eq!(*requested, ASKED);
            assert!(free.is_some_and(|f| f < ASKED), "free space {free:?}");
            assert_mentions(
                &e.to_string(),
                &[
                    &big,
                    "8388608",
                    "no space",
                    "--shm-size",
                    "container",
                    "/dev/shm",
                ],
            );
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    match SlotWriter::<TradingData>::builder(&big)
        .size(ASKED)
        .create()
    {
        Err(SlotError::Region(RegionError::NoSpace { requested, .. })) => {
            assert_eq!(requested, ASKED);
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert!(
        !Path::new(&big).exists(),
        "a failed create left {big} behind"
    );
    let left: Vec<_> = std::fs::read_dir(mnt.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["small"], "files left on the tmpfs");
    let again = Region::open_any(&small).expect("the small region is intact");
    assert_eq!(again.len(), 64 << 10);
    drop(again);
    drop(small_region);
}

#[test]
fn remove_refuses_live_writers_unless_forced_and_foreign_files_always() {
    let _dog = Watchdog::new("remove_refuses", LIMIT);
    let dir = TestDir::new("remove");
    let me = std::process::id();

    let live = dir.name("live");
    let writer = raw_region(&live);
    match Region::remove(&live, false) {
        Err(e @ RemoveError::InUse { .. }) => {
            let RemoveError::InUse { pid, .. } = &e else {
                unreachable!()
            };
            assert_eq!(*pid, Some(me));
            assert_mentions(&e.to_string(), &[&live, &format!("pid {me}"), "with force"]);
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(Path::new(&live).exists());
    Region::remove(&live, true).expect("force removes a region with a live writer");
    assert!(!Path::new(&live).exists());
    drop(writer);

    let foreign = dir.name("foreign.txt");
    let text = b"not a region, but long enough to hold a header....................\n".repeat(4);
    std::fs::write(&foreign, &text).unwrap();
    let short = dir.name("short.txt");
    std::fs::write(&short, b"hello\n").unwrap();
    // Files that are not shmbus's are refused, with force too (rm is not rm -f).
    for force in [false, true] {
        for (file, reason) in [(&foreign, "no shmbus header"), (&short, "shorter")] {
            match Region::remove(file, force) {
                Err(e @ RemoveError::NotARegion { .. }) => {
                    assert_mentions(&e.to_string(), &[file, reason, "even with force"]);
                }
                other => panic!("{file} force={force}: expected NotARegion, got {other:?}"),
            }
        }
    }
    assert_eq!(std::fs::read(&foreign).unwrap(), text);
    assert_eq!(std::fs::read(&short).unwrap(), b"hello\n");

    // A damaged region that is still recognisably one: refused, and removed with force.
    let damaged = dir.name("damaged");
    drop(raw_region(&damaged));
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[8] = 99; // the format version
    std::fs::write(&damaged, &bytes).unwrap();
    match Region::remove(&damaged, false) {
        Err(RemoveError::Region(RegionError::VersionMismatch { .. })) => {}
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
    Region::remove(&damaged, true).expect("force removes a damaged region");
    assert!(!Path::new(&damaged).exists());

    let idle = dir.name("idle");
    slot_table(&idle);
    Region::remove(&idle, false).expect("a region without a writer is removed");
    assert!(!Path::new(&idle).exists());
    match Region::remove(&idle, false) {
        Err(RemoveError::Region(RegionError::NotFound { .. })) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    match Region::remove(&idle, true) {
        Err(e @ RemoveError::Region(RegionError::NotFound { .. })) => {
            assert_mentions(&e.to_string(), &[&idle]);
        }
        other => panic!("expected NotFound with force, got {other:?}"),
    }
}

#[test]
fn list_finds_regions_with_their_kind_and_writer_state() {
    let _dog = Watchdog::new("list_finds_regions", LIMIT);
    let dir = TestDir::new("list");
    let live = dir.name("a-live-table");
    let idle = dir.name("b-idle-raw");
    let junk = dir.name("c-junk");
    let writer = SlotWriter::<TradingData>::builder(&live)
        .capacity(4)
        .create()
        .unwrap();
    drop(raw_region(&idle));
    std::fs::write(&junk, garbage(4096)).unwrap();
    std::fs::create_dir(dir.name("d-subdir")).unwrap();

    let entries = Region::list(dir.path()).expect("list the directory");
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, [&live, &idle, &junk], "directories are skipped");

    let [table, raw, other] = &entries[..] else {
        unreachable!()
    };
    match &table.probe {
        Probe::Shmbus(h) => {
            assert_eq!(h.kind(), Some(RegionKind::Slots));
            assert_eq!(h.layout_name, "TradingData");
            assert_eq!(h.writer_pid, std::process::id());
        }
        p => panic!("expected a shmbus region, got {p:?}"),
    }
    assert!(table.writer_alive);
    assert_eq!(table.size, writer.region().len() as u64);
    assert_eq!(table.mode, 0o600);
    match &raw.probe {
        Probe::Shmbus(h) => assert_eq!(h.kind(), Some(RegionKind::Raw)),
        p => panic!("expected a shmbus region, got {p:?}"),
    }
    assert!(!raw.writer_alive);
    assert_eq!(raw.size, RAW_SIZE);
    assert_eq!(other.probe, Probe::Unknown);
    assert!(!other.writer_alive);

    drop(writer);
    assert!(
        lock_released(|| Region::list(dir.path()).unwrap()[0].writer_alive),
        "the writer is gone, but its lock is still held"
    );
}

/// Whether `held` turns false within 2 s of a writer's drop. A child that another test forks
/// in this process holds a copy of the lock's descriptor until its exec closes it
/// (O_CLOEXEC), so the lock may outlive the drop by that moment.
fn lock_released(held: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while held() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

#[test]
fn a_dev_shm_name_round_trips() {
    let _dog = Watchdog::new("a_dev_shm_name_round_trips", LIMIT);
    let shm = ShmName::new("roundtrip");
    let mut writer = SlotWriter::<TradingData>::builder(&format!("/{}", shm.name))
        .capacity(4)
        .create()
        .expect("create in /dev/shm");
    writer.put("ETH", &TradingData::new(3150.25, 7, 1)).unwrap();
    assert!(shm.path().is_file(), "{} missing", shm.path().display());
    assert_eq!(mode_of(shm.path()), 0o600);
    assert_eq!(writer.region().name().as_str(), shm.name);
    assert!(writer.region().name().is_shm());

    // With or without the leading slash, it is the same region.
    for name in [shm.name.clone(), format!("/{}", shm.name)] {
        let reader = SlotReader::<TradingData>::open(&name).unwrap();
        assert_eq!(reader.get("ETH").unwrap().unwrap().value.volume, 7);
    }
    match Region::builder(&shm.name).size(RAW_SIZE).create() {
        Err(e @ RegionError::AlreadyExists { .. }) => {
            assert_mentions(&e.to_string(), &[&shm.name, "/dev/shm/", "remove it"]);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let listed = Region::list(Path::new(shmbus::SHM_DIR)).unwrap();
    let entry = listed
        .iter()
        .find(|e| e.name == shm.name)
        .expect("listed under its shm name");
    assert!(entry.writer_alive);

    match Region::remove(&shm.name, false) {
        Err(RemoveError::InUse { .. }) => {}
        other => panic!("expected InUse, got {other:?}"),
    }
    drop(writer);
    Region::remove(&shm.name, false).unwrap();
    assert!(!shm.path().exists());
    match Region::open_any(&shm.name) {
        Err(RegionError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}
