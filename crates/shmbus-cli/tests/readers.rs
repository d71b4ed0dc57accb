//! Known readers and their lag, with real processes: `shmbus journal watch --name` and
//! `shmbus tail -f --name` register in the journal's reader registry (`NAME.readers`); one
//! stopped with SIGSTOP lags by exactly what was appended meanwhile while the other keeps up; a
//! SIGKILLed one is listed dead and its entry reclaimed by the next reader; the 65th reader gets
//! a clear error; corrupt registries give errors from `inspect` and `top --once`, never a panic;
//! `shmbus rm` removes the registry with the journal.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use shmbus::journal::{JournalReader, JournalWriter, MAX_READERS, Start, registry_name};
use shmbus::layout::readers as layout;

const BIN: &str = env!("CARGO_BIN_EXE_shmbus");

/// A directory of its own for one test, removed at the end even on failure.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let d =
            std::env::temp_dir().join(format!("shmbus-cli-readers-{}-{tag}", std::process::id()));
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

/// A child process, continued and killed (by its pid) when dropped.
struct Proc(Child);

impl Proc {
    fn spawn(args: &[&str]) -> Self {
        Self(
            Command::new(BIN)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with the pid of our own child, which has not been waited for yet.
        let r = unsafe { libc::kill(self.0.id() as i32, sig) };
        assert_eq!(r, 0, "kill {sig}");
    }

    /// Waits up to 20 s for the process to exit (a hang fails the test instead of hanging
    /// it): its status and stderr.
    fn wait_exit(&mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut err = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).unwrap();
        }
        (status, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: as in `signal`; SIGCONT lets a stopped child die of the kill below.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGCONT) };
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The readers `shmbus inspect --json` lists, by name.
fn readers(journal: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&ok(&["inspect", journal, "--json"])).unwrap();
    let mut r = v["readers"].as_array().unwrap().clone();
    r.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    r
}

fn reader<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|r| r["name"] == name)
}

/// Polls `cond` on the listed readers until it holds (10 s at most).
fn wait_readers(journal: &str, what: &str, cond: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = readers(journal);
        if cond(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "never {what}: {r:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lag(list: &[Value], name: &str) -> Option<u64> {
    reader(list, name).and_then(|r| r["lag"].as_u64())
}

fn append(w: &mut JournalWriter, n: u64) {
    for i in 0..n {
        w.append(1, &i.to_le_bytes()).unwrap();
        w.commit();
    }
}

fn top_line(dir: &Path, starts: &str) -> String {
    let out = ok(&["top", "--once", "--interval", "0.1", dir.to_str().unwrap()]);
    assert!(
        !out.contains(".readers"),
        "the registry is not a row: {out}"
    );
    out.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("{starts:?} not in\n{out}"))
        .to_owned()
}

#[test]
fn a_stopped_reader_lags_by_exactly_what_was_appended_and_a_killed_one_is_reclaimed() {
    let d = TempDir::new("lag");
    let j = d.name("trades");
    let mut w = JournalWriter::builder(&j).ring(1 << 20).create().unwrap();
    append(&mut w, 10);
    let a = Proc::spawn(&["journal", "watch", &j, "--name", "watch-a"]);
    // A first, so it holds entry 0 (claims are first fit).
    wait_readers(&j, "watch-a registered", |r| reader(r, "watch-a").is_some());
    let _b = Proc::spawn(&["journal", "watch", &j, "--name", "watch-b"]);
    wait_readers(&j, "both registered", |r| r.len() == 2);
    append(&mut w, 10);
    let r = wait_readers(&j, "both caught up", |r| {
        lag(r, "watch-a") == Some(0) && lag(r, "watch-b") == Some(0)
    });
    assert_eq!(reader(&r, "watch-a").unwrap()["position"], 20);
    assert_eq!(reader(&r, "watch-a").unwrap()["pid"], a.0.id());
    assert!(r.iter().all(|r| r["alive"] == true), "{r:#?}");

    a.signal(libc::SIGSTOP);
    append(&mut w, 37);
    let r = wait_readers(&j, "watch-b caught up", |r| {
        lag(r, "watch-b") == Some(0) && reader(r, "watch-b").unwrap()["position"] == 57
    });
    assert_eq!(lag(&r, "watch-a"), Some(37), "{r:#?}");
    // And it stays exactly that while the reader is stopped.
    std::thread::sleep(Duration::from_millis(300));
    let r = readers(&j);
    assert_eq!(lag(&r, "watch-a"), Some(37), "{r:#?}");
    assert_eq!(reader(&r, "watch-a").unwrap()["position"], 20);
    assert_eq!(lag(&r, "watch-b"), Some(0));
    // `top` shows the readers under the journal, with their lag; the journal's LAG is 37.
    let line = top_line(&d.0, "  > watch-a");
    assert!(
        line.contains(&format!("{} alive", a.0.id())) && line.contains("@20"),
        "{line}"
    );
    assert!(line.split_whitespace().any(|w| w == "37"), "{line}");
    let line = top_line(&d.0, &j);
    assert!(line.split_whitespace().any(|w| w == "37"), "{line}");
    // The text of inspect too.
    let text = ok(&["inspect", &j]);
    assert!(text.contains("readers      2 registered"), "{text}");
    assert!(
        text.contains("watch-a  pid") && text.contains("lag 37"),
        "{text}"
    );

    // Continued: it catches up.
    a.signal(libc::SIGCONT);
    wait_readers(&j, "watch-a caught up again", |r| {
        lag(r, "watch-a") == Some(0)
    });

    // Killed: listed dead (its entry stays until reclaimed).
    let pid_a = a.0.id();
    a.signal(libc::SIGKILL);
    let mut a = a;
    assert!(!a.wait_exit().0.success());
    let r = readers(&j);
    assert_eq!(reader(&r, "watch-a").unwrap()["alive"], false, "{r:#?}");
    assert_eq!(reader(&r, "watch-a").unwrap()["pid"], pid_a);
    assert!(top_line(&d.0, "  > watch-a").contains(&format!("{pid_a} DEAD")));
    // The next reader reclaims the dead one's entry (the first entry it may take).
    let _c = Proc::spawn(&["tail", "-f", &j, "--name", "tail-c"]);
    let r = wait_readers(&j, "tail-c registered", |r| reader(r, "tail-c").is_some());
    assert!(reader(&r, "watch-a").is_none(), "not reclaimed: {r:#?}");
    assert_eq!(r.len(), 2, "{r:#?}");
    append(&mut w, 5);
    wait_readers(&j, "tail-c caught up", |r| {
        lag(r, "tail-c") == Some(0) && reader(r, "tail-c").unwrap()["position"] == 62
    });

    // rm removes the registry with the journal.
    drop((_b, _c, w));
    let reg = registry_name(&j).unwrap();
    assert!(Path::new(&reg).is_file());
    ok(&["rm", &j]);
    assert!(!Path::new(&reg).exists() && !Path::new(&j).exists());
}

#[test]
fn the_sixty_fifth_reader_gets_a_clear_error_not_a_hang() {
    let d = TempDir::new("full");
    let j = d.name("trades");
    let _w = JournalWriter::builder(&j).ring(1 << 20).create().unwrap();
    let held: Vec<JournalReader> = (0..MAX_READERS)
        .map(|i| {
            let mut r = JournalReader::open(&j, Start::End).unwrap();
            r.register(&format!("held-{i}")).unwrap();
            r
        })
        .collect();
    for args in [
        ["tail", "-f", &j, "--name", "extra"].as_slice(),
        ["journal", "watch", &j, "--name", "extra"].as_slice(),
    ] {
        let (status, err) = Proc::spawn(args).wait_exit();
        assert!(!status.success(), "{args:?}");
        assert!(
            err.contains("all 64 entries") && err.contains("trades.readers"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(readers(&j).len(), MAX_READERS);
    // A bad name is refused too, with the reason.
    let o = run(&["tail", "-f", &j, "--name", &"x".repeat(40)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("at most 31 bytes"));
    drop(held);
    assert!(readers(&j).is_empty());
}

#[test]
fn corrupt_registries_give_errors_from_inspect_and_top_never_a_panic() {
    let d = TempDir::new("corrupt");
    let j = d.name("trades");
    let _w = JournalWriter::builder(&j).ring(1 << 20).create().unwrap();
    let reg = registry_name(&j).unwrap();
    {
        let mut r = JournalReader::open(&j, Start::End).unwrap();
        r.register("ok").unwrap();
    }
    let good = std::fs::read(&reg).unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let random: Vec<u8> = (0..good.len())
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut bad_magic = good.clone();
    bad_magic[3] ^= 0x40;
    let mut bad_table = good.clone();
    // The table header's `capacity` word.
    let capacity = (layout::BODY + layout::T_CAPACITY) as usize;
    bad_table[capacity..capacity + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    for (what, bytes) in [
        ("random", random),
        ("truncated", good[..100].to_vec()),
        ("bad magic", bad_magic),
        ("bad table", bad_table),
    ] {
        std::fs::write(&reg, &bytes).unwrap();
        for args in [
            ["inspect", &j].as_slice(),
            ["inspect", &j, "--json"].as_slice(),
        ] {
            let o = run(args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success(), "{what} {args:?}");
            assert!(
                err.contains("cannot list the readers of") && err.contains("trades.readers"),
                "{what} {args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{what}: {err}");
        }
        let o = run(&["top", "--once", "--interval", "0.05", d.0.to_str().unwrap()]);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(o.status.success(), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        let line = out.lines().find(|l| l.starts_with(&j)).unwrap();
        assert!(line.contains("cannot list its readers"), "{what}: {out}");
        // Registering is refused with the error, and the bytes are left as they were.
        let o = run(&["tail", "-f", &j, "--name", "r"]);
        assert!(!o.status.success(), "{what}");
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
        assert_eq!(std::fs::read(&reg).unwrap(), bytes, "{what}");
    }
    // `rm` removes a corrupt registry with its journal only if it is recognisably one: a
    // registry with a valid header and a bad table is.
    drop(_w);
    ok(&["rm", &j]);
    assert!(!Path::new(&reg).exists());
}
