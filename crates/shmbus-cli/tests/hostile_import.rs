//! Hostile inputs to `shmbus candles import` and `shmbus replay`, run as real processes under a
//! watchdog (a hang fails the test instead of stalling it) and, where memory is at stake, under
//! an address-space limit (`ulimit -v`), so an unbounded read dies instead of filling the host:
//! /dev/zero, FIFOs with and without a writer, a 100 MB line, a directory, stdin, and
//! timestamps outside 1970..=9999-12-30T22:00:00Z (issue 10, items 6 and 7).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long any one run may take before the watchdog kills it and fails the test.
const WATCHDOG: Duration = Duration::from_secs(20);
/// The address-space limit of runs that read hostile input: 96 MiB, under what buffering the
/// 100 MB line (or /dev/zero) whole needs, and three times what a bounded import needs (it
/// runs in 32 MiB).
const MEMORY_LIMIT_KIB: u64 = 96 << 10;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_shmbus")
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` to the end with `input` on stdin (or none), killing it and failing the test if it
/// outlives the watchdog.
fn run(cmd: Command, input: Option<Vec<u8>>) -> Output {
    run_with(cmd, input, |_| {})
}

/// As [`run`], calling `started` with the child's pid once it runs (the watchdog starts after).
fn run_with(mut cmd: Command, input: Option<Vec<u8>>, started: impl FnOnce(u32)) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run shmbus");
    let feeder = input.map(|bytes| {
        let mut stdin = child.stdin.take().expect("piped stdin");
        // The child may stop reading early (that is the point): ignore a broken pipe.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        })
    });
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    started(child.id());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung: {what} still running after {WATCHDOG:?} (killed)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Output {
        status,
        stdout: out_t.join().expect("stdout reader"),
        stderr: err_t.join().expect("stderr reader"),
    }
}

/// `shmbus ARGS`.
fn shmbus(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args);
    c
}

/// `shmbus ARGS` under `ulimit -v MEMORY_LIMIT_KIB`.
fn shmbus_limited(args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -v \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(MEMORY_LIMIT_KIB.to_string())
        .arg(bin())
        .args(args);
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A clean refusal: exit status 1 (not a signal, not a panic), one line `shmbus: error: ...`
/// containing `needle`.
fn assert_refused(o: &Output, needle: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected a clean error exit, got {:?}; stderr {:?}",
        o.status,
        stderr(o)
    );
    let err = stderr(o);
    let err = err.trim_end();
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("shmbus: error: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "failed: {:?}\n{}{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// A unique shm name, removed when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(format!("shmbus-hostile-{tag}-{}-{n}", std::process::id()))
    }

    fn exists(&self) -> bool {
        Path::new("/dev/shm").join(&self.0).exists()
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(&self.0));
    }
}

/// A private temporary directory, removed with its contents when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("shmbus-hostile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).expect("temp dir");
        Self(p)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf-8 path").to_owned()
    }

    fn fifo(&self, name: &str) -> String {
        let p = self.0.join(name);
        let o = Command::new("mkfifo").arg(&p).output().expect("mkfifo");
        assert!(o.status.success(), "mkfifo: {}", stderr(&o));
        p.to_str().expect("utf-8 path").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn import(name: &Name, file: &str, symbol: &str) -> Vec<String> {
    [
        "candles",
        "import",
        &name.0,
        file,
        "--symbol",
        symbol,
        "--interval",
        "1d",
        "--size",
        "1M",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn dev_zero_is_refused_at_once() {
    let name = Name::new("zero");
    let a = import(&name, "/dev/zero", "Z");
    let o = run(shmbus_limited(&args(&a)), None);
    assert_refused(
        &o,
        "/dev/zero is a character device, not a CSV file; give a regular file, a pipe, or - for stdin",
    );
    assert!(!name.exists(), "a refused import created the region");
    // The same bytes through stdin: the line bound stops the read after 1 MiB.
    let a = import(&name, "-", "Z");
    let o = run(
        {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("ulimit -v \"$1\" && shift && exec \"$@\" < /dev/zero")
                .arg("sh")
                .arg(MEMORY_LIMIT_KIB.to_string())
                .arg(bin())
                .args(args(&a));
            c
        },
        None,
    );
    assert_refused(&o, "stdin: line 1 is longer than 1048576 bytes (1 MiB)");
    assert!(!name.exists());
}

#[test]
fn a_fifo_without_a_writer_does_not_hang() {
    let dir = TempDir::new("fifo");
    let fifo = dir.fifo("bars.csv");
    let name = Name::new("fifo");
    let a = import(&name, &fifo, "F");
    let o = run(shmbus(&args(&a)), None);
    assert_refused(&o, "empty, or no header line");
    assert!(!name.exists());
    // replay reads its inputs the same way.
    let o = run(shmbus(&["replay", &fifo, "--candles", &name.0]), None);
    assert_refused(&o, "empty, or no header line");
    assert!(!name.exists());
}

#[test]
fn a_fifo_with_a_writer_is_streamed() {
    let dir = TempDir::new("fifo-writer");
    let fifo = dir.fifo("GOOG.csv");
    let name = Name::new("fifo-writer");
    let bytes = std::fs::read(fixture("GOOG.csv")).expect("fixture");
    // Read and write: Linux opens a FIFO so without waiting, and it holds a writer from here on,
    // as a producer blocked in its open would.
    let mut writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open fifo");
    let a = import(&name, &fifo, "GOOG");
    let o = run_with(shmbus(&args(&a)), None, |pid| {
        // Once the importer has the FIFO open, send the file and hang up.
        let deadline = Instant::now() + WATCHDOG;
        while !has_open(pid, &fifo) {
            assert!(
                Instant::now() < deadline,
                "the importer never opened {fifo}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        writer.write_all(&bytes).expect("write fifo");
        drop(writer);
    });
    assert_ok(&o);
    assert!(
        stdout(&o).contains("imported 300 candles"),
        "{}",
        stdout(&o)
    );
}

/// Whether process `pid` has `path` open.
fn has_open(pid: u32, path: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.filter_map(Result::ok)
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == Path::new(path)))
    })
}

#[test]
fn stdin_and_pipes_are_read() {
    let name = Name::new("stdin");
    let bytes = std::fs::read(fixture("GOOG.csv")).expect("fixture");
    for (file, symbol) in [("-", "A"), ("/dev/stdin", "B")] {
        let a = import(&name, file, symbol);
        let o = run(shmbus(&args(&a)), Some(bytes.clone()));
        assert_ok(&o);
        assert!(
            stdout(&o).contains("imported 300 candles"),
            "{}",
            stdout(&o)
        );
    }
    // An endless stream of one row stops at its second line (not after memory runs out).
    let o = run(
        {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(
                    "ulimit -v \"$1\" && shift && \
                     { echo date,open,high,low,close; yes 2024-01-01,1,1,1,1; } | \"$@\"",
                )
                .arg("sh")
                .arg(MEMORY_LIMIT_KIB.to_string())
                .arg(bin())
                .args(args(&import(&name, "-", "C")));
            c
        },
        None,
    );
    assert_refused(
        &o,
        "stdin: line 3, column 1 (timestamp): not after the row before (line 2); sort the file by time",
    );
}

#[test]
fn a_100_mb_line_is_refused_with_bounded_memory() {
    let dir = TempDir::new("long-line");
    let name = Name::new("long-line");
    let mut text = String::with_capacity(101 << 20);
    text.push_str("date,open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-02,");
    text.extend(std::iter::repeat_n('9', 100_000_000));
    text.push_str(",1,1,1\n");
    let long = dir.file("long.csv", &text);
    let a = import(&name, &long, "L");
    let o = run(shmbus_limited(&args(&a)), None);
    assert_refused(
        &o,
        &format!("{long}: line 3 is longer than 1048576 bytes (1 MiB); is this a CSV file?"),
    );
    assert!(!name.exists());
    // The header line too.
    text.replace_range(..text.find("2024-01-02,").expect("row"), "");
    text.insert_str(0, "date,open,high,low,close,");
    let long = dir.file("long-header.csv", &text);
    let a = import(&name, &long, "L");
    let o = run(shmbus_limited(&args(&a)), None);
    assert_refused(&o, &format!("{long}: line 1 is longer than 1048576 bytes"));
    let o = run(
        shmbus_limited(&["replay", &long, "--candles", &name.0]),
        None,
    );
    assert_refused(&o, &format!("{long}: line 1 is longer than 1048576 bytes"));
    assert!(!name.exists());
}

#[test]
fn a_directory_is_refused() {
    let dir = TempDir::new("dir");
    let name = Name::new("dir");
    let d = dir.0.to_str().expect("utf-8").to_owned();
    let o = run(shmbus(&args(&import(&name, &d, "D"))), None);
    assert_refused(&o, &format!("{d} is a directory, not a CSV file"));
    let o = run(shmbus(&["replay", &d, "--candles", &name.0]), None);
    assert_refused(&o, &format!("{d} is a directory, not a CSV file"));
    assert!(!name.exists());
}

#[test]
fn timestamps_out_of_range_are_refused_in_every_form() {
    let dir = TempDir::new("range");
    let name = Name::new("range");
    let range = "is outside 1970-01-01T00:00:00Z to 9999-12-30T22:00:00Z";
    for (ts, why) in [
        (
            "100000000000000000000",
            "unix time 100000000000000000000 (read as milliseconds) ",
        ),
        (
            "18446744073709551615",
            "unix time 18446744073709551615 (read as milliseconds) ",
        ),
        (
            "253402207200001",
            "unix time 253402207200001 (read as milliseconds) ",
        ),
        ("9999-12-31", "\"9999-12-31\" "),
        ("9999-12-30 23:00:00", "\"9999-12-30 23:00:00\" "),
        ("9999-12-30T22:00:01Z", "\"9999-12-30T22:00:01Z\" "),
        ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z "),
        ("1969-12-31", "1969-12-31T00:00:00Z "),
    ] {
        let csv = dir.file(
            "bad.csv",
            &format!("volume,date,open,high,low,close\n1,2024-01-01,1,1,1,1\n1,{ts},1,1,1,1\n"),
        );
        let o = run(shmbus(&args(&import(&name, &csv, "R"))), None);
        assert_refused(
            &o,
            &format!("{csv}: line 3, column 2 (timestamp): {why}{range}"),
        );
        let o = run(shmbus(&["replay", &csv, "--candles", &name.0]), None);
        assert_refused(&o, &format!("{csv}: line 3, column 2 (timestamp): "));
        assert!(!name.exists(), "{ts}: a refused import created the region");
    }
    // The last instant is stored and shown as itself, and the series takes later imports.
    let csv = dir.file(
        "edge.csv",
        "date,open,high,low,close\n2024-01-01,1,1,1,1\n9999-12-30T22:00:00Z,1,1,1,1\n",
    );
    assert_ok(&run(shmbus(&args(&import(&name, &csv, "R"))), None));
    let o = run(shmbus(&["candles", "show", &name.0, "R", "1d"]), None);
    assert_ok(&o);
    assert!(
        stdout(&o).contains("9999-12-30T22:00:00Z"),
        "{}",
        stdout(&o)
    );
    let a = import(&name, &fixture("GOOG.csv"), "G");
    assert_ok(&run(shmbus(&args(&a)), None));
}

#[test]
fn other_columns_out_of_range_name_the_line() {
    let dir = TempDir::new("values");
    let name = Name::new("values");
    for (row, why) in [
        ("NaN,1,1,1,1", "open is NaN"),
        ("1,inf,1,1,1", "high is inf"),
        ("1,1,1,1,-1", "volume is negative (-1)"),
        ("1,1,2,1,1", "high"),
        ("1,1,1,1e999,1", "close is inf"),
    ] {
        let csv = dir.file(
            "bad.csv",
            &format!("date,open,high,low,close,volume\n2024-01-01,1,1,1,1,1\n2024-01-02,{row}\n"),
        );
        let o = run(shmbus(&args(&import(&name, &csv, "V"))), None);
        assert_refused(&o, &format!("{csv}: line 3: "));
        assert!(stderr(&o).contains(why), "{row}: {}", stderr(&o));
        let o = run(shmbus(&["replay", &csv, "--candles", &name.0]), None);
        assert_refused(&o, &format!("{csv}: line 3: "));
        assert!(!name.exists());
    }
}

#[test]
fn a_hostile_time_zone_is_named_escaped() {
    let name = Name::new("tz");
    let goog = fixture("GOOG.csv");
    let mut a = import(&name, &goog, "T");
    a.extend(["--tz".to_owned(), "\x1b]0;PWNED\x07".to_owned()]);
    let o = run(shmbus(&args(&a)), None);
    assert_refused(&o, r#"unknown time zone "\u{1b}]0;PWNED\u{7}": use UTC"#);
    assert!(
        !o.stderr.iter().any(|b| *b == 0x1b || *b == 0x07),
        "raw control bytes: {:?}",
        stderr(&o)
    );
    assert!(!name.exists());
}
