//! Hostile files met by the `shmbus` command (issue 10), run as real processes: FIFOs where a
//! region or segment is expected (every command fails at once, never blocks), `rm` that removes
//! only shmbus's own files even with --force, a journal at the last segment number, the size of
//! a ring, the pid of a persisted journal's live writer, and OS errors printed once.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A command that runs longer than this is hung (on a FIFO): the test fails instead of waiting.
const HANG: Duration = Duration::from_secs(20);

/// Runs `shmbus args`, killing it and failing the test if it does not finish within [`HANG`].
fn shmbus(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shmbus");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait for shmbus").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`shmbus {}` hung for {HANG:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failed run printed exactly one line, starting `shmbus: error:`, containing each of
/// `needles`.
#[track_caller]
fn assert_error(o: &Output, needles: &[&str]) {
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("shmbus: error: "), "{err:?}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("shmbus-hostile-{tag}-{}-{n}", std::process::id())
}

/// A path removed (whatever it is) when dropped, even if the test fails.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.0) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir_all(&self.0);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&self.0);
            }
            Err(_) => {}
        }
    }
}

/// A fresh directory under the temp dir, removed on drop.
fn temp_dir(tag: &str) -> (Cleanup, PathBuf) {
    let p = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir(&p).unwrap();
    (Cleanup(p.clone()), p)
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o666),
        0,
    )
    .expect("mkfifo");
}

fn is_fifo(path: &Path) -> bool {
    rustix::fs::lstat(path).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo
    })
}

#[test]
fn a_fifo_named_like_a_region_fails_every_command_at_once() {
    let name = unique("fifo");
    let path = Path::new("/dev/shm").join(&name);
    let _c = Cleanup(path.clone());
    mkfifo(&path);
    let n = name.as_str();
    let p = path.to_str().unwrap();
    for args in [
        &["inspect", n][..],
        &["inspect", n, "--json"],
        &["inspect", n, "--hex"],
        &["slot", "get", n],
        &["slot", "get", n, "BTC"],
        &["slot", "put", n, "BTC", "--price", "1"],
        &["tail", n],
        &["tail", n, "-f"],
        &["dump", n],
        &["stats", n],
        &["append", n, "x"],
        &["candles", "show", n],
        &["candles", "stats", n],
        &["rm", n],
        &["rm", "--force", n],
    ] {
        let o = shmbus(args);
        assert_error(&o, &[p, "FIFO", "not a regular file"]);
        assert!(is_fifo(&path), "{args:?} removed the FIFO");
    }
    // A FIFO given as a file path, too.
    let (_d, dir) = temp_dir("fifo-path");
    let fifo = dir.join("region");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    assert_error(&shmbus(&["inspect", f]), &[f, "FIFO"]);
    assert_error(&shmbus(&["rm", "--force", f]), &[f, "FIFO"]);
    assert!(is_fifo(&fifo));
}

#[test]
fn a_fifo_segment_in_a_persisted_journal_fails_append_and_stats_at_once() {
    let (_d, dir) = temp_dir("fifo-seg");
    let j = dir.join("journal");
    let js = j.to_str().unwrap();
    assert_ok(&shmbus(&["journal", "create", js, "--segment-size", "4K"]));
    assert_ok(&shmbus(&["append", js, "one", "two"]));
    let seg = j.join("0000000001.seg");
    mkfifo(&seg);
    let s = seg.to_str().unwrap();
    for args in [
        &["append", js, "three"][..],
        &["stats", js],
        &["tail", js],
        &["rm", js],
        &["rm", "--force", js],
    ] {
        assert_error(&shmbus(args), &[s, "FIFO"]);
    }
    assert!(is_fifo(&seg) && j.join("0000000000.seg").is_file());
}

#[test]
fn rm_removes_only_what_is_recognisably_shmbus_even_with_force() {
    let (_d, dir) = temp_dir("rm");
    let at = |f: &str| dir.join(f).to_str().unwrap().to_owned();

    // A directory tree, an empty directory, a random file, a short file, a FIFO, a symlink to a
    // real region, a directory holding a segment-named file of garbage.
    let tree = at("tree");
    std::fs::create_dir_all(format!("{tree}/sub")).unwrap();
    std::fs::write(format!("{tree}/sub/precious.txt"), b"keep me").unwrap();
    let empty = at("empty");
    std::fs::create_dir(&empty).unwrap();
    let random = at("random.bin");
    std::fs::write(&random, vec![0x5Au8; 4096]).unwrap();
    let short = at("short.txt");
    std::fs::write(&short, b"hello\n").unwrap();
    let empty_file = at("marker.lock");
    std::fs::write(&empty_file, b"").unwrap();
    let fifo = at("fifo");
    mkfifo(Path::new(&fifo));
    let target = at("target.shm");
    assert_ok(&shmbus(&[
        "create", &target, "--kind", "slots", "--size", "64K",
    ]));
    let link = at("link.shm");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fake = at("fake.journal");
    std::fs::create_dir(&fake).unwrap();
    std::fs::write(format!("{fake}/0000000000.seg"), vec![0u8; 8192]).unwrap();

    for force in [false, true] {
        let rm = |name: &str| {
            if force {
                shmbus(&["rm", "--force", name])
            } else {
                shmbus(&["rm", name])
            }
        };
        assert_error(
            &rm(&tree),
            &[&tree, "not a segment file", "even with --force"],
        );
        assert_error(&rm(&empty), &[&empty, "without segment files"]);
        assert_error(
            &rm(&random),
            &[&random, "no shmbus header", "even with --force"],
        );
        assert_error(&rm(&short), &[&short, "shorter than a shmbus header"]);
        assert_error(&rm(&empty_file), &[&empty_file, "an empty file"]);
        assert_error(&rm(&fifo), &[&fifo, "FIFO"]);
        assert_error(&rm(&link), &[&link, "symbolic link"]);
        assert_error(&rm(&fake), &[&fake, "0000000000.seg", "no shmbus header"]);
        // Several names: each refused, the command fails.
        let o = if force {
            shmbus(&["rm", "--force", &random, &empty])
        } else {
            shmbus(&["rm", &random, &empty])
        };
        assert!(!o.status.success());
    }
    assert_eq!(
        std::fs::read(format!("{tree}/sub/precious.txt")).unwrap(),
        b"keep me"
    );
    assert!(Path::new(&empty).is_dir());
    assert_eq!(std::fs::read(&random).unwrap(), vec![0x5Au8; 4096]);
    assert!(Path::new(&short).is_file() && is_fifo(Path::new(&fifo)));
    assert!(Path::new(&empty_file).is_file());
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(Path::new(&target).is_file());
    assert!(Path::new(&format!("{fake}/0000000000.seg")).is_file());

    // A real persisted journal holding one foreign file: refused, naming that file.
    let journal = at("real.journal");
    assert_ok(&shmbus(&[
        "journal",
        "create",
        &journal,
        "--segment-size",
        "4K",
    ]));
    let seq: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    let mut args = vec!["append", journal.as_str()];
    args.extend(seq.iter().map(String::as_str));
    assert_ok(&shmbus(&args));
    let notes = format!("{journal}/notes.txt");
    std::fs::write(&notes, b"mine").unwrap();
    for force in [false, true] {
        let o = if force {
            shmbus(&["rm", "--force", &journal])
        } else {
            shmbus(&["rm", &journal])
        };
        assert_error(&o, &[&notes, "even with --force"]);
    }
    assert_eq!(std::fs::read(&notes).unwrap(), b"mine");
    assert!(Path::new(&format!("{journal}/0000000000.seg")).is_file());
    std::fs::remove_file(&notes).unwrap();

    // What is shmbus's is still removed: a persisted journal, a ring, a slot table (through
    // its real path, not the link), a damaged region with --force only.
    assert_ok(&shmbus(&["rm", &journal]));
    assert!(!Path::new(&journal).exists());
    let ring = at("ring.journal");
    assert_ok(&shmbus(&["journal", "create", &ring, "--ring", "64K"]));
    assert_ok(&shmbus(&["rm", &ring, &target]));
    assert!(!Path::new(&ring).exists() && !Path::new(&target).exists());
    let damaged = at("damaged.shm");
    assert_ok(&shmbus(&[
        "create", &damaged, "--kind", "raw", "--size", "4K",
    ]));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&damaged)
        .unwrap()
        .write_all_at(&[7], 8) // the format version
        .unwrap();
    assert_error(&shmbus(&["rm", &damaged]), &["version", "--force"]);
    assert_ok(&shmbus(&["rm", "--force", &damaged]));
    assert!(!Path::new(&damaged).exists());
}

#[test]
fn rm_force_removes_a_journal_with_a_live_writer_and_plain_rm_names_its_pid() {
    let (_d, dir) = temp_dir("rm-live");
    let j = dir.join("journal");
    let js = j.to_str().unwrap();
    assert_ok(&shmbus(&["journal", "create", js, "--segment-size", "4K"]));
    let mut writer = live_appender(js);
    let pid = writer.id();
    assert_error(&shmbus(&["append", js, "x"]), &[js, &format!("pid {pid}")]);
    assert_error(&shmbus(&["rm", js]), &[&format!("pid {pid}"), "--force"]);
    assert_ok(&shmbus(&["rm", "--force", js]));
    assert!(!j.exists());
    drop(writer.stdin.take());
    let _ = writer.kill();
    let _ = writer.wait();
}

/// `shmbus append J` reading stdin (kept open): a live writer, once its first line is committed.
fn live_appender(journal: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(["append", journal])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run shmbus append");
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    while !stdout(&shmbus(&["tail", journal])).contains("first") {
        assert!(start.elapsed() < HANG, "the appender never committed");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

#[test]
fn a_journal_at_the_last_segment_number_refuses_to_wrap() {
    let (_d, dir) = temp_dir("lastseg");
    let j = dir.join("journal");
    let js = j.to_str().unwrap();
    assert_ok(&shmbus(&["journal", "create", js, "--segment-size", "4K"]));
    assert_ok(&shmbus(&["append", js, "a", "b", "c"]));
    let last = j.join(format!("{}.seg", u32::MAX));
    std::fs::rename(j.join("0000000000.seg"), &last).unwrap();
    // The segment's own number (docs/FORMAT.md 5.2, offset 172).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .write_all_at(&u32::MAX.to_le_bytes(), shmbus::layout::journal::SEGMENT)
        .unwrap();

    let lines: Vec<String> = (0..200).map(|i| format!("message number {i:04}")).collect();
    let mut args = vec!["append", js];
    args.extend(lines.iter().map(String::as_str));
    assert_error(
        &shmbus(&args),
        &["4294967295", "last segment number", "new journal"],
    );
    let names: Vec<String> = std::fs::read_dir(&j)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["4294967295.seg".to_owned()], "wrapped");

    // Readers and tools see exactly what was committed: a, b, c, then the lines that fitted.
    let o = shmbus(&["stats", js, "--json", "--interval", "0.01"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let committed = v["next_seq"].as_u64().expect("next_seq");
    assert!(committed > 3 && committed < 203, "{v}");
    let o = shmbus(&["dump", js]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains(&format!("{committed} frames, all valid")),
        "{}",
        stderr(&o)
    );
    let o = shmbus(&["tail", js, "--from", "0"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("[0] a\n"), "{}", stdout(&o));
    // And it still refuses, the same way.
    assert_error(&shmbus(&["append", js, "more"]), &["last segment number"]);
}

#[test]
fn a_ring_below_one_page_is_refused_and_the_size_created_is_reported() {
    let (_d, dir) = temp_dir("ring");
    for size in ["0", "1", "4095"] {
        let r = dir.join(format!("ring{size}"));
        let rs = r.to_str().unwrap();
        assert_error(
            &shmbus(&["journal", "create", rs, "--ring", size]),
            &[&format!("size {size} is too small"), "at least 4096 bytes"],
        );
        assert!(!r.exists());
        assert_error(
            &shmbus(&["journal", "create", rs, "--segment-size", size]),
            &["at least 4096 bytes"],
        );
        assert!(
            !r.exists(),
            "a refused persisted journal left its directory"
        );
    }
    let r = dir.join("ring5000");
    let rs = r.to_str().unwrap();
    let o = shmbus(&["journal", "create", rs, "--ring", "5000"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("ring of 8.0 KiB"), "{}", stdout(&o));
    let o = shmbus(&["stats", rs, "--json", "--interval", "0.01"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["capacity"], 8192, "{v}");
}

#[test]
fn an_os_error_is_printed_once() {
    for args in [
        &["slot", "get", "/etc/passwd/x"][..],
        &["tail", "/etc/passwd/x"],
        &["inspect", "/etc/passwd/x"],
    ] {
        let o = shmbus(args);
        assert_error(&o, &["/etc/passwd/x"]);
        let os = std::io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error());
        assert_eq!(
            stderr(&o).matches(&os.to_string()).count(),
            1,
            "{args:?}: {}",
            stderr(&o)
        );
    }
}
