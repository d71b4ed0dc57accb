//! The reader registry (`NAME.readers`, docs/FORMAT.md 7) in one process: positions and lag,
//! release on drop, 64 readers registering at once from 64 threads (each entry won by exactly
//! one), a clear error for the 65th, corrupt registries refused with errors, and removal with
//! the journal. Across processes (SIGSTOP, SIGKILL, reclaim): crates/shmbus-cli/tests/readers.rs.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};

use shmbus::journal::{
    JournalReader, JournalWriter, MAX_READERS, PUBLISH_EVERY, Start, list_readers, registry_name,
};
use shmbus::layout::readers;
use shmbus::{JournalError, Region, RegionError};

/// The registry table header's `capacity` and `entry_len` words, as byte ranges of the file.
const CAPACITY_WORD: std::ops::Range<usize> = word(readers::BODY + readers::T_CAPACITY);
const ENTRY_LEN_WORD: std::ops::Range<usize> = word(readers::BODY + readers::T_ENTRY_LEN);

const fn word(off: u64) -> std::ops::Range<usize> {
    off as usize..off as usize + 4
}

/// A directory of its own for one test, removed at the end even on failure.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("shmbus-readers-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }

    fn name(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ring(name: &str) -> JournalWriter {
    JournalWriter::builder(name).ring(1 << 20).create().unwrap()
}

fn listed(journal: &str) -> Vec<shmbus::journal::ReaderInfo> {
    let r = JournalReader::open(journal, Start::End).unwrap();
    let mut v = r.readers().unwrap();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

#[test]
fn positions_lag_and_release() {
    let d = TempDir::new("lag");
    let j = d.name("trades");
    let mut w = ring(&j);
    // No registry until somebody registers.
    assert!(listed(&j).is_empty());
    assert!(!std::path::Path::new(&registry_name(&j).unwrap()).exists());
    for i in 0..10u64 {
        w.append(1, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    let mut a = JournalReader::open(&j, Start::Beginning).unwrap();
    a.register("alpha").unwrap();
    let mut b = JournalReader::open(&j, Start::End).unwrap();
    b.register("beta").unwrap();
    assert!(a.is_registered() && b.is_registered());
    let l = listed(&j);
    assert_eq!(l.len(), 2);
    assert_eq!(
        (l[0].name.as_str(), l[0].position, l[0].lag),
        ("alpha", 0, 10)
    );
    assert_eq!(
        (l[1].name.as_str(), l[1].position, l[1].lag),
        ("beta", 10, 0)
    );
    assert!(l.iter().all(|r| r.alive && r.pid == std::process::id()));
    // Reading 3 (not caught up) publishes nothing yet: lag stays at most PUBLISH_EVERY high.
    for _ in 0..3 {
        a.next().unwrap().unwrap();
    }
    assert_eq!(listed(&j)[0].lag, 10);
    // Caught up: the exact position is published.
    while a.next().unwrap().is_some() {}
    assert_eq!(listed(&j)[0].lag, 0);
    assert_eq!(listed(&j)[0].position, 10);
    // A long run: published at least every PUBLISH_EVERY messages while reading.
    for i in 0..1000u64 {
        w.append(1, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    for _ in 0..500 {
        a.next().unwrap().unwrap();
    }
    let l = listed(&j);
    assert!(l[0].lag >= 500 && l[0].lag <= 500 + PUBLISH_EVERY, "{l:?}");
    assert_eq!(l[1].lag, 1000, "beta has not read: {l:?}");
    // Seeking back is published at the next message.
    a.seek(5).unwrap();
    a.next().unwrap().unwrap();
    assert_eq!(listed(&j)[0].position, 6);
    // Dropped: released.
    drop(b);
    let l = listed(&j);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].name, "alpha");
    // Registering again replaces the entry.
    a.register("alpha2").unwrap();
    assert_eq!(
        listed(&j)
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha2"]
    );
    // Bad names are refused.
    for bad in ["", "a\nb", &"x".repeat(32)] {
        assert!(
            matches!(a.register(bad), Err(JournalError::InvalidReaderName { .. })),
            "{bad:?}"
        );
    }
    assert!(!a.is_registered());
}

#[test]
fn sixty_four_threads_register_at_once_and_the_sixty_fifth_is_refused() {
    let d = TempDir::new("full");
    let j = d.name("trades");
    let _w = ring(&j);
    let barrier = Arc::new(Barrier::new(MAX_READERS));
    // Every thread races to create the registry and claim an entry.
    let handles: Vec<_> = (0..MAX_READERS)
        .map(|i| {
            let (j, barrier) = (j.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut r = JournalReader::open(&j, Start::End).unwrap();
                barrier.wait();
                r.register(&format!("r{i}")).map(|()| r)
            })
        })
        .collect();
    let mut readers: Vec<JournalReader> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    let l = listed(&j);
    assert_eq!(l.len(), MAX_READERS);
    let mut names: Vec<String> = l.into_iter().map(|r| r.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), MAX_READERS, "an entry was claimed twice");
    let mut extra = JournalReader::open(&j, Start::End).unwrap();
    match extra.register("extra") {
        Err(e @ JournalError::ReadersFull { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("all 64 entries") && msg.contains(".readers"),
                "{msg}"
            );
        }
        other => panic!("the 65th reader: {other:?}"),
    }
    readers.pop();
    extra.register("extra").unwrap();
    assert!(listed(&j).iter().any(|r| r.name == "extra"));
}

#[test]
fn corrupt_registries_are_errors() {
    let d = TempDir::new("corrupt");
    let j = d.name("trades");
    let _w = ring(&j);
    let reg = registry_name(&j).unwrap();
    {
        let mut r = JournalReader::open(&j, Start::End).unwrap();
        r.register("ok").unwrap();
    }
    let good = std::fs::read(&reg).unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..good.len())
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        })
        .collect();
    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xff;
    let mut bad_capacity = good.clone();
    bad_capacity[CAPACITY_WORD].copy_from_slice(&100_000u32.to_le_bytes());
    let mut bad_entry_len = good.clone();
    bad_entry_len[ENTRY_LEN_WORD].copy_from_slice(&7u32.to_le_bytes());
    let mut too_many = good.clone();
    too_many[CAPACITY_WORD].copy_from_slice(&65u32.to_le_bytes());
    let cases: [(&str, Vec<u8>); 6] = [
        ("random", random),
        ("truncated", good[..50].to_vec()),
        ("bad magic", bad_magic),
        ("capacity", bad_capacity),
        ("entry length", bad_entry_len),
        ("entries past the end", too_many),
    ];
    for (what, bytes) in cases {
        std::fs::remove_file(&reg).unwrap();
        std::fs::write(&reg, &bytes).unwrap();
        let listing = list_readers(&j, 0, &Region::open_options());
        assert!(
            matches!(listing, Err(JournalError::Region(_))),
            "{what}: {listing:?}"
        );
        let mut r = JournalReader::open(&j, Start::End).unwrap();
        let e = r.register("x").unwrap_err();
        assert!(matches!(e, JournalError::Region(_)), "{what}: {e:?}");
        // Never repaired: the bytes are as they were.
        assert_eq!(std::fs::read(&reg).unwrap(), bytes, "{what}");
    }
}

#[test]
fn removing_the_journal_removes_its_registry_only() {
    let d = TempDir::new("rm");
    let j = d.name("trades");
    let w = ring(&j);
    let mut r = JournalReader::open(&j, Start::End).unwrap();
    r.register("x").unwrap();
    let reg = registry_name(&j).unwrap();
    assert!(std::path::Path::new(&reg).exists());
    // The registry is a region of its own kind, which `ls` lists.
    let listed = Region::list(&d.0).unwrap();
    assert!(listed.iter().any(|e| e.name == reg
        && matches!(
            &e.probe,
            shmbus::Probe::Shmbus(h) if h.kind() == Some(shmbus::RegionKind::Readers)
        )));
    drop((r, w));
    shmbus::journal::remove(&j, false).unwrap();
    assert!(!std::path::Path::new(&reg).exists());
    // A region of another kind that happens to carry the name is not the journal's to remove.
    let j2 = d.name("quotes");
    let w2 = ring(&j2);
    let other = shmbus::SlotWriter::<shmbus::TradingData>::builder(&registry_name(&j2).unwrap())
        .capacity(4)
        .create()
        .unwrap();
    drop((w2, other));
    Region::remove(&j2, false).unwrap();
    assert!(std::path::Path::new(&registry_name(&j2).unwrap()).exists());
    // And registering on that journal... is refused, by kind (a new journal of the name).
    let _w3 = ring(&j2);
    let mut r = JournalReader::open(&j2, Start::End).unwrap();
    assert!(matches!(
        r.register("x"),
        Err(JournalError::Region(RegionError::KindMismatch { .. }))
    ));
    // A persisted journal's registry sits next to its directory, not inside it.
    let p = d.name("persisted");
    let pw = JournalWriter::builder(&p)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    let mut r = JournalReader::open(&p, Start::End).unwrap();
    r.register("x").unwrap();
    assert!(std::path::Path::new(&format!("{p}.readers")).is_file());
    drop((r, pw));
    shmbus::journal::remove(&p, false).unwrap();
    assert!(!std::path::Path::new(&format!("{p}.readers")).exists());
    assert!(!std::path::Path::new(&p).exists());
}
