//! The `shmbus` command against hostile surroundings (issue 10), run as real processes: a stdout
//! whose reader is gone or whose disk is full, absurd durations and counts, names, keys and
//! symbols carrying terminal escapes; and the habits a user brings (`tail -n`, decoded records,
//! what a failed `append --batch` committed).

use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shmbus"));
    c.args(args).stdin(Stdio::null());
    c
}

fn shmbus(args: &[&str]) -> Output {
    cmd(args).output().expect("run shmbus")
}

fn shmbus_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shmbus");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs with stdout on a pipe whose read end is already closed: every write fails with EPIPE.
fn shmbus_closed_pipe(args: &[&str]) -> Output {
    let (read, write) = rustix::pipe::pipe().expect("pipe");
    drop(read);
    cmd(args)
        .stdout(Stdio::from(write))
        .output()
        .expect("run shmbus")
}

/// Runs with stdout on /dev/full: every write fails with ENOSPC.
fn shmbus_full(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    cmd(args)
        .stdout(Stdio::from(full))
        .output()
        .expect("run shmbus")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "failed: {}{}", stdout(&o), stderr(&o));
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failed run printed exactly one line, starting `shmbus: error:`, containing `needle`.
fn assert_one_line_error(o: &Output, needle: &str) {
    assert!(!o.status.success(), "expected failure: {}", stdout(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("shmbus: error: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

/// A unique name in /dev/shm (a region, or a persisted journal directory), removed when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(format!("shmbus-hostile-{tag}-{}-{n}", std::process::id()))
    }

    fn path(&self) -> String {
        format!("/dev/shm/{}", self.0)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
        let _ = std::fs::remove_dir_all(self.path());
    }
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A slot table with a key, a ring journal with messages, a candle region with a series.
struct Regions {
    slots: Name,
    journal: Name,
    candles: Name,
}

impl Regions {
    fn new(tag: &str) -> Self {
        let r = Self {
            slots: Name::new(&format!("{tag}-slots")),
            journal: Name::new(&format!("{tag}-journal")),
            candles: Name::new(&format!("{tag}-candles")),
        };
        ok(shmbus(&[
            "slot", "put", &r.slots.0, "BTCUSD", "--price", "97000", "--create",
        ]));
        ok(shmbus(&[
            "journal",
            "create",
            &r.journal.0,
            "--ring",
            "64K",
        ]));
        ok(shmbus(&["append", &r.journal.0, "one", "two", "three"]));
        ok(shmbus(&[
            "candles",
            "import",
            &r.candles.0,
            &fixture("GOOG.csv"),
            "--symbol",
            "GOOG",
            "--interval",
            "1d",
            "--size",
            "1M",
        ]));
        r
    }

    /// Every command that prints to stdout, with the arguments to run it here.
    fn printing_commands(&self) -> Vec<Vec<String>> {
        let (s, j, c) = (&self.slots.0, &self.journal.0, &self.candles.0);
        let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        vec![
            v(&["ls"]),
            v(&["ls", "--json"]),
            v(&["ls", "--all"]),
            v(&["inspect", s]),
            v(&["inspect", s, "--json"]),
            v(&["inspect", s, "--hex"]),
            v(&["slot", "get", s]),
            v(&["slot", "get", s, "BTCUSD", "--json"]),
            v(&["slot", "put", s, "ETHUSD", "--price", "3000"]),
            v(&["stats", j, "--interval", "0"]),
            v(&["stats", j, "--interval", "0", "--json"]),
            v(&["tail", j]),
            v(&["tail", j, "--json"]),
            v(&["dump", j]),
            v(&["candles", "show", c]),
            v(&["candles", "show", c, "--json"]),
            v(&["candles", "show", c, "GOOG", "1d"]),
            v(&["candles", "show", c, "GOOG", "1d", "--json"]),
            v(&["candles", "stats", c]),
            v(&["candles", "stats", c, "--json"]),
            v(&["feed", s, "--seconds", "0.05", "--rate", "100"]),
            v(&["slot", "watch", s, "--seconds", "0.1"]),
        ]
    }
}

/// `create`, `journal create` and `rm` print after they act: each gets a fresh name.
fn acting_commands(tag: &str) -> (Vec<Name>, Vec<Vec<String>>) {
    let (raw, journal, gone) = (
        Name::new(&format!("{tag}-create")),
        Name::new(&format!("{tag}-jcreate")),
        Name::new(&format!("{tag}-rm")),
    );
    ok(shmbus(&[
        "create", &gone.0, "--kind", "raw", "--size", "4K",
    ]));
    let cmds = vec![
        vec![
            "create".into(),
            raw.0.clone(),
            "--kind".into(),
            "raw".into(),
            "--size".into(),
            "4K".into(),
        ],
        vec![
            "journal".into(),
            "create".into(),
            journal.0.clone(),
            "--ring".into(),
            "64K".into(),
        ],
        vec!["rm".into(), gone.0.clone()],
    ];
    (vec![raw, journal, gone], cmds)
}

#[test]
fn a_closed_stdout_pipe_ends_every_command_quietly_with_141() {
    let r = Regions::new("pipe");
    let (_names, acting) = acting_commands("pipe");
    for args in r.printing_commands().into_iter().chain(acting) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = shmbus_closed_pipe(&args);
        assert_eq!(
            o.status.code(),
            Some(141),
            "shmbus {args:?}: {:?}; stderr {}",
            o.status,
            stderr(&o)
        );
        assert_eq!(stderr(&o), "", "shmbus {args:?} was not quiet");
    }
}

#[test]
fn a_full_stdout_is_one_error_line_for_every_command() {
    let r = Regions::new("full");
    let (_names, acting) = acting_commands("full");
    for args in r.printing_commands().into_iter().chain(acting) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = shmbus_full(&args);
        assert_eq!(o.status.code(), Some(1), "shmbus {args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o),
            "shmbus: error: cannot write to stdout: No space left on device\n",
            "shmbus {args:?}"
        );
    }
}

#[test]
fn help_and_version_report_a_failing_stdout() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["candles", "--help"],
        &["tail", "-h"],
    ] {
        let o = shmbus_full(args);
        assert_eq!(o.status.code(), Some(1), "shmbus {args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o),
            "shmbus: error: cannot write to stdout: No space left on device\n",
            "shmbus {args:?}"
        );
        let o = shmbus_closed_pipe(args);
        assert_eq!(
            o.status.code(),
            Some(141),
            "shmbus {args:?}: {}",
            stderr(&o)
        );
        assert_eq!(stderr(&o), "", "shmbus {args:?}");
        let o = cmd(args).output().expect("run shmbus");
        assert!(
            o.status.success() && stdout(&o).contains("shmbus"),
            "{args:?}"
        );
    }
}

#[test]
fn watchers_stop_when_their_reader_goes_away() {
    let r = Regions::new("watchpipe");
    for args in [
        vec!["slot", "watch", &r.slots.0, "--seconds", "30"],
        vec!["journal", "watch", &r.journal.0, "--seconds", "30"],
        vec!["tail", "-f", &r.journal.0],
    ] {
        let t = Instant::now();
        let o = shmbus_closed_pipe(&args);
        assert_eq!(o.status.code(), Some(141), "{args:?}: {}", stderr(&o));
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{args:?} kept running"
        );
    }
}

#[test]
fn extreme_durations_and_rates_are_refused_before_anything_runs() {
    let cases: &[(&[&str], &str)] = &[
        (&["stats", "j", "--interval", "inf"], "from 0 to 1000000000"),
        (
            &["stats", "j", "--interval", "1e300"],
            "from 0 to 1000000000",
        ),
        (&["stats", "j", "--interval", "nan"], "from 0 to 1000000000"),
        (&["stats", "j", "--interval=-1"], "from 0 to 1000000000"),
        (&["journal", "watch", "j", "--seconds", "inf"], "from 0 to"),
        (
            &["journal", "watch", "j", "--seconds", "1e300"],
            "from 0 to",
        ),
        (&["slot", "watch", "s", "--seconds", "inf"], "from 0 to"),
        (&["slot", "watch", "s", "--seconds", "1e300"], "from 0 to"),
        (&["feed", "s", "--seconds", "inf"], "from 0 to"),
        (&["feed", "s", "--seconds", "1e300"], "from 0 to"),
        (
            &["feed", "s", "--rate", "1e-300"],
            "from 0.001 to 1000000000",
        ),
        (&["feed", "s", "--rate", "inf"], "from 0.001 to 1000000000"),
        (&["feed", "s", "--rate", "0"], "from 0.001 to 1000000000"),
        (
            &["slot", "watch", "s", "--poll-us", "99999999999"],
            "0..=1000000",
        ),
        (&["slot", "watch", "s", "--interval-ms", "0"], "1..=3600000"),
        (
            &["replay", "f.csv", "--journal", "j", "--duration", "inf"],
            "from 0 to",
        ),
        (
            &["replay", "f.csv", "--journal", "j", "--speed", "1e-300"],
            "from 0.000001 to",
        ),
        (
            &["replay", "f.csv", "--journal", "j", "--speed", "inf"],
            "from 0.000001 to",
        ),
        (&["demo", "--seconds", "inf"], "from 0 to"),
        (&["demo", "--rate", "1e-300"], "from 0.001 to"),
        (&["bench", "throughput", "--seconds", "1e300"], "from 0 to"),
    ];
    for (args, needle) in cases {
        let o = shmbus(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("invalid value"), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err} lacks {needle:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn feed_symbols_are_bounded_by_the_table() {
    let t = Name::new("symbols");
    ok(shmbus(&[
        "create", &t.0, "--kind", "slots", "--size", "64K",
    ]));
    for n in ["18446744073709551615", "1000000000", "1022"] {
        let o = shmbus(&["feed", &t.0, "--symbols", n, "--seconds", "0.1"]);
        assert_one_line_error(&o, "has 1021 slots; give at most 1021");
        assert!(o.status.code() == Some(1), "{n}: {:?}", o.status);
    }
    ok(shmbus(&[
        "feed",
        &t.0,
        "--symbols",
        "1021",
        "--seconds",
        "0.1",
        "--rate",
        "100",
    ]));
    // With --create, a refused count leaves no table behind.
    let fresh = Name::new("symbols-create");
    let o = shmbus(&["feed", &fresh.0, "--create", "--symbols", "1000000"]);
    assert_one_line_error(&o, "give at most");
    assert!(
        !std::path::Path::new(&fresh.path()).exists(),
        "feed --create left {} behind",
        fresh.0
    );
}

/// No byte of `out` is a control character other than newline (C0, DEL, or C1 as UTF-8).
fn assert_no_control_bytes(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in {text:?}");
}

fn assert_clean(what: &str, o: &Output) {
    assert_no_control_bytes(&format!("{what} stdout"), &o.stdout);
    assert_no_control_bytes(&format!("{what} stderr"), &o.stderr);
    assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
}

/// Overwrites the first occurrence of `from` in the file with `to` (same length), as another
/// program writing the region raw would.
fn poke(path: &str, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{from:?} not in {path}"));
    bytes[at..at + to.len()].copy_from_slice(to);
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn hostile_file_names_never_reach_the_terminal_raw() {
    // A real slot table renamed to a name full of escapes (anyone can create such a file).
    let t = Name::new("esc-table");
    ok(shmbus(&[
        "create", &t.0, "--kind", "slots", "--size", "64K",
    ]));
    let hostile = format!("{}-\u{1b}]0;PWNED\u{7}\n\u{9b}31m\u{202e}", t.0);
    let hostile_path = format!("/dev/shm/{hostile}");
    std::fs::rename(t.path(), &hostile_path).unwrap();
    let _h = Name(hostile.clone());
    // And a file that is not a region, with invalid UTF-8 and escapes in its name.
    let mut raw_name = format!("/dev/shm/{}-", t.0).into_bytes();
    raw_name.extend_from_slice(b"\xff\x1b[2J\x07");
    let raw_path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&raw_name));
    std::fs::write(&raw_path, b"not a region").unwrap();
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _r = Rm(raw_path.clone());

    let o = ok(shmbus(&["ls", "--all"]));
    assert_clean("ls --all", &o);
    let listed = stdout(&o);
    assert!(
        listed.contains(&format!(
            "{}-\\x1b]0;PWNED\\x07\\n\\u{{9b}}31m\\u{{202e}}",
            t.0
        )),
        "{listed}"
    );
    // (Region::list reports names lossily: the byte 0xff shows as U+FFFD.)
    assert!(
        listed.contains(&format!("{}-\u{fffd}\\x1b[2J\\x07", t.0)),
        "{listed}"
    );
    assert_clean("ls", &ok(shmbus(&["ls"])));
    // By path: inspect prints the name and the path.
    let o = ok(shmbus(&["inspect", &hostile_path]));
    assert_clean("inspect", &o);
    assert!(stdout(&o).contains("PWNED\\x07"), "{}", stdout(&o));
    assert_clean(
        "inspect --hex",
        &ok(shmbus(&["inspect", &hostile_path, "--hex"])),
    );
    assert_clean("slot get", &ok(shmbus(&["slot", "get", &hostile_path])));
    // Errors that quote the name: refused as a shm name, and a file that is not a region.
    let o = shmbus(&["inspect", &hostile]);
    assert_one_line_error(&o, "PWNED\\u{7}");
    assert_clean("inspect (invalid name)", &o);
    let junk = Name::new("esc-\u{1b}[2J\u{7}");
    std::fs::write(junk.path(), b"not a region either").unwrap();
    let o = shmbus(&["inspect", &junk.path()]);
    assert_clean("inspect (not a region)", &o);
    assert_one_line_error(&o, "esc-\\x1b[2J\\x07");
    // (A name that is not UTF-8 is refused by the argument parser before shmbus sees it.)
    let o = cmd(&["inspect"]).arg(&raw_path).output().unwrap();
    assert_clean("inspect (not UTF-8)", &o);
}

#[test]
fn hostile_keys_and_symbols_are_escaped_and_new_keys_refused() {
    let t = Name::new("esc-keys");
    ok(shmbus(&[
        "slot",
        "put",
        &t.0,
        "KKKKKKKKKK",
        "--price",
        "1",
        "--create",
    ]));
    // The CLI (through the core) refuses to register a key with control characters.
    let o = shmbus(&["slot", "put", &t.0, "A\u{1b}]0;X\u{7}", "--price", "1"]);
    assert_one_line_error(&o, "control characters");
    assert_clean("slot put (refused)", &o);

    // Another program stores one raw.
    poke(&t.path(), b"KKKKKKKKKK", b"K\x1b]0;PW\x07\nZ");
    for args in [
        vec!["slot", "get", &t.0],
        vec!["slot", "get", &t.0, "K\u{1b}]0;PW\u{7}\nZ"],
        vec!["inspect", &t.0],
        vec!["slot", "watch", &t.0, "--seconds", "0.1"],
    ] {
        let o = ok(shmbus(&args));
        assert_clean(&format!("{args:?}"), &o);
        assert!(
            stdout(&o).contains("K\\x1b]0;PW\\x07\\nZ"),
            "{args:?}: {}",
            stdout(&o)
        );
    }
    // JSON carries the key exactly, escaped by JSON's rules.
    let o = ok(shmbus(&["slot", "get", &t.0, "--json"]));
    assert_clean("slot get --json", &o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["symbol"], "K\u{1b}]0;PW\u{7}\nZ");
    // A symbol that does not exist is quoted escaped in the error.
    let o = shmbus(&["slot", "get", &t.0, "\u{1b}[31mNOPE"]);
    assert!(!o.status.success());
    assert_clean("slot get (unknown key)", &o);

    // A candle series whose symbol was corrupted.
    let c = Name::new("esc-candles");
    ok(shmbus(&[
        "candles",
        "import",
        &c.0,
        &fixture("BTCUSD.csv"),
        "--symbol",
        "QQQQQQQQQQQQ",
        "--interval",
        "1M",
        "--size",
        "1M",
    ]));
    poke(&c.path(), b"QQQQQQQQQQQQ", b"Q\x1b]0;PW\x07\n\x9b1m");
    let o = shmbus(&["candles", "show", &c.0]);
    assert_clean("candles show", &o);
    assert!(stdout(&o).contains("Q\\x1b]0;PW\\x07\\n"), "{}", stdout(&o));
}

#[test]
fn tail_n_shows_the_last_n_or_n_from_from() {
    let j = Name::new("tail-n");
    ok(shmbus(&["journal", "create", &j.0, "--ring", "1M"]));
    let lines: String = (1..=1000).map(|i| format!("{i}\n")).collect();
    ok(shmbus_stdin(&["append", &j.0, "--batch", "100"], &lines));
    let payloads = |o: &Output| -> Vec<String> {
        stdout(o)
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        payloads(&ok(shmbus(&["tail", &j.0, "-n", "3"]))),
        ["998", "999", "1000"]
    );
    assert_eq!(payloads(&ok(shmbus(&["tail", &j.0]))).len(), 10);
    assert_eq!(payloads(&ok(shmbus(&["tail", &j.0, "-n", "0"]))).len(), 0);
    // With --from, N messages from there (sequence 10 holds the line "11").
    assert_eq!(
        payloads(&ok(shmbus(&["tail", &j.0, "--from", "10", "-n", "3"]))),
        ["11", "12", "13"]
    );
    assert_eq!(
        payloads(&ok(shmbus(&["tail", &j.0, "--from", "start", "-n", "2"]))),
        ["1", "2"]
    );
    // -f after -n: the last N, then what comes.
    let follower = cmd(&["tail", &j.0, "-n", "2", "-f"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    ok(shmbus(&["append", &j.0, "late"]));
    std::thread::sleep(Duration::from_millis(300));
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&follower),
        rustix::process::Signal::INT,
    );
    let o = follower.wait_with_output().unwrap();
    assert_eq!(payloads(&o), ["999", "1000", "late"]);
}

#[test]
fn trades_and_bars_written_by_shmbus_are_decoded() {
    let (s, j) = (Name::new("dec-slots"), Name::new("dec-trades"));
    ok(shmbus(&["journal", "create", &j.0, "--ring", "1M"]));
    ok(shmbus(&[
        "feed",
        &s.0,
        "--create",
        "--journal",
        &j.0,
        "--seconds",
        "0.2",
        "--rate",
        "50",
        "--symbols",
        "1",
    ]));
    let o = ok(shmbus(&["tail", &j.0, "--json", "-n", "1"]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["type"], 2);
    assert_eq!(v["record"], "Trade");
    assert_eq!(v["value"]["symbol"], "BTCUSD");
    assert_eq!(v["value"]["exchange"], "SIM");
    assert!(v["value"]["price"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v.get("payload_hex").is_none(), "{v}");
    let o = ok(shmbus(&["tail", &j.0, "-n", "1"]));
    assert!(stdout(&o).contains("Trade BTCUSD SIM"), "{}", stdout(&o));
    let o = ok(shmbus(&["dump", &j.0, "-n", "1"]));
    assert!(stdout(&o).contains("Trade BTCUSD SIM"), "{}", stdout(&o));

    let b = Name::new("dec-bars");
    ok(shmbus(&[
        "replay",
        &format!("{}=GOOG:1d", fixture("GOOG.csv")),
        "--journal",
        &b.0,
        "--quiet",
    ]));
    let o = ok(shmbus(&[
        "tail", &b.0, "--json", "--from", "start", "-n", "1",
    ]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["type"], 3);
    assert_eq!(v["record"], "Bar");
    assert_eq!(v["value"]["symbol"], "GOOG");
    assert_eq!(v["value"]["interval"], "1d");
    assert_eq!(v["value"]["open"], 100.0);
    assert_eq!(v["value"]["close"], 100.34);
    assert_eq!(v["value"]["time"], "2004-08-19T00:00:00Z");
    let o = ok(shmbus(&["dump", &b.0, "-n", "1"]));
    assert!(
        stdout(&o).contains("Bar GOOG 1d 2004-08-19"),
        "{}",
        stdout(&o)
    );
    // Another type, or a Trade-typed message of the wrong size, stays bytes.
    ok(shmbus(&["append", &b.0, "--type", "2", "short"]));
    let o = ok(shmbus(&["tail", &b.0, "--json", "-n", "1"]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(v.get("record").is_none(), "{v}");
}

#[test]
fn inspect_hex_offsets_never_wrap() {
    let t = Name::new("hex");
    ok(shmbus(&["create", &t.0, "--kind", "raw", "--size", "4K"]));
    let o = shmbus(&["inspect", &t.0, "--hex", "--offset", "18446744073709551600"]);
    assert_one_line_error(&o, "past the end");
    let o = ok(shmbus(&[
        "inspect",
        &t.0,
        "--hex",
        "--offset",
        "4080",
        "--len",
        "18446744073709551615",
    ]));
    let text = stdout(&o);
    assert!(
        text.lines().next().unwrap().ends_with("bytes 4080..4096"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("00000ff0: "), "{text}");
}

#[test]
fn a_failed_append_says_what_was_committed() {
    let j = Name::new("append-batch");
    ok(shmbus(&["journal", "create", &j.0, "--ring", "64K"]));
    let lines: String = (1..=20)
        .map(|i| {
            if i == 14 {
                "not json\n".to_owned()
            } else {
                format!("{{\"i\":{i}}}\n")
            }
        })
        .collect();
    let o = shmbus_stdin(&["append", &j.0, "--json", "--batch", "10"], &lines);
    assert_one_line_error(&o, "line 14 is not valid JSON");
    assert!(
        stderr(&o).contains("lines 1-13 were committed") && stderr(&o).contains("(sequences 0-12)"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("line 14 and any after it were not"),
        "{}",
        stderr(&o)
    );
    let o = ok(shmbus(&["stats", &j.0, "--json", "--interval", "0"]));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["messages"], 13);
    // The next append continues the sequence; a first bad line commits nothing.
    let o = shmbus(&["append", &j.0, "--json", "nope"]);
    assert_one_line_error(&o, "message 1 is not valid JSON");
    assert!(
        stderr(&o).contains("nothing was committed"),
        "{}",
        stderr(&o)
    );
    let o = shmbus(&["append", &j.0, "--json", "1", "2", "{"]);
    assert!(
        stderr(&o).contains("messages 1-2 were committed"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("(sequences 13-14)"), "{}", stderr(&o));
    let o = shmbus(&["append", &j.0, "--json", "3", "{"]);
    assert!(
        stderr(&o).contains("message 1 was committed to") && stderr(&o).contains("(sequence 15)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_never_echo_an_argument_raw() {
    // Even when colour is forced (as on a terminal), what was typed comes back inert.
    for args in [
        vec!["stats", "j", "--interval", "\u{1b}]0;PWNED\u{7}"],
        vec!["\u{1b}]0;PWNED\u{7}"],
        vec!["inspect", "x", "--\u{1b}[2J"],
    ] {
        let o = cmd(&args).env("CLICOLOR_FORCE", "1").output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_clean(&format!("{args:?}"), &o);
        assert!(
            stderr(&o).starts_with("error: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn journal_payloads_print_inert() {
    let j = Name::new("payloads");
    ok(shmbus(&["journal", "create", &j.0, "--ring", "64K"]));
    ok(shmbus(&[
        "append",
        &j.0,
        "left\u{202e}right\tx",
        "esc\u{1b}]0;PWNED\u{7}",
    ]));
    for args in [vec!["tail", &j.0], vec!["dump", &j.0]] {
        let o = ok(shmbus(&args));
        assert_clean(&format!("{args:?}"), &o);
        let text = stdout(&o);
        assert!(!text.contains('\u{202e}'), "{args:?}: {text}");
        assert!(text.contains("left\\u{202e}right"), "{args:?}: {text}");
    }
    // JSON keeps the text exactly.
    let o = ok(shmbus(&["tail", &j.0, "--json", "-n", "2"]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(v["payload"], "left\u{202e}right\tx");
}
