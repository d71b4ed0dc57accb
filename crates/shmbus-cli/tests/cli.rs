//! The `shmbus` command, run as a real process: exit codes, one-line errors, writer liveness
//! after kill -9, and the demo's clean-up.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn shmbus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run shmbus")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A unique shm name, removed (forcibly) when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(format!("shmbus-cli-test-{tag}-{}-{n}", std::process::id()))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/{}", self.0));
    }
}

/// Asserts a failed run printed exactly one line, starting `shmbus: error:`, containing `needle`.
fn assert_one_line_error(o: &Output, needle: &str) {
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("shmbus: error: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err:?}");
}

#[test]
fn create_put_get_inspect_rm() {
    let name = Name::new("basic");
    let n = name.0.as_str();
    let o = shmbus(&["create", n, "--kind", "slots", "--size", "64K"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("1021 TradingData slots"),
        "{}",
        stdout(&o)
    );

    let o = shmbus(&[
        "slot", "put", n, "BTCUSD", "--price", "97000.5", "--volume", "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = shmbus(&["slot", "get", n, "BTCUSD", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["price"], 97000.5);
    assert_eq!(v["volume"], 3);
    assert_eq!(v["seq"], 2);
    assert_eq!(v["valid"], true);

    let o = shmbus(&["inspect", n, "--json"]);
    let h: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(h["kind"], "slots");
    assert_eq!(h["total_size"], 65536);
    assert_eq!(h["layout_name"], "TradingData");
    assert_eq!(h["writer_alive"], false);
    assert_eq!(h["slots"]["keys"][0], "BTCUSD");
    assert_eq!(h["creator_pid"].as_u64().map(|p| p > 0), Some(true));

    let o = shmbus(&["inspect", n, "--hex", "--len", "16"]);
    assert!(stdout(&o).contains("SHMBUS"), "{}", stdout(&o));

    let o = shmbus(&["ls", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == n)
        .expect("listed");
    assert_eq!(me["kind"], "slots");
    assert_eq!(me["mode"], "0600");

    assert!(shmbus(&["rm", n]).status.success());
    assert_one_line_error(&shmbus(&["inspect", n]), "no region");
}

#[test]
fn errors_are_one_clear_line() {
    let name = Name::new("errors");
    let n = name.0.as_str();
    assert_one_line_error(&shmbus(&["slot", "get", n]), "no region");
    assert_one_line_error(
        &shmbus(&["create", "a b", "--kind", "raw", "--size", "4K"]),
        "not allowed",
    );
    assert_one_line_error(
        &shmbus(&["create", "x/../y", "--kind", "raw", "--size", "4K"]),
        "..",
    );
    assert_one_line_error(
        &shmbus(&["create", n, "--kind", "slots", "--size", "100"]),
        "too small",
    );
    assert!(
        shmbus(&["create", n, "--kind", "raw", "--size", "4K"])
            .status
            .success()
    );
    assert_one_line_error(
        &shmbus(&["create", n, "--kind", "slots", "--size", "4K"]),
        "shmbus rm",
    );
    // A raw region is not a slot table.
    assert_one_line_error(&shmbus(&["slot", "get", n]), "not a slots region");
    assert_one_line_error(
        &shmbus(&["slot", "put", n, "X", "--price", "1"]),
        "not a slots region",
    );

    // Garbage: refused by every command, rm --force included (hostile_files.rs has more).
    let garbage = Name::new("garbage");
    std::fs::write(format!("/dev/shm/{}", garbage.0), vec![0xA5u8; 8192]).unwrap();
    assert_one_line_error(&shmbus(&["inspect", &garbage.0]), "not a shmbus region");
    assert_one_line_error(&shmbus(&["rm", &garbage.0]), "even with --force");
    assert_one_line_error(&shmbus(&["rm", "--force", &garbage.0]), "even with --force");

    // Bad arguments are clap's usage errors (exit 2), not panics.
    let o = shmbus(&["create", n, "--kind", "slots", "--size", "12Q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid size"));
}

#[test]
fn killed_writer_shows_dead_and_is_taken_over() {
    let name = Name::new("kill");
    let n = name.0.as_str();
    let mut feed = Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(["feed", n, "--create", "--rate", "1000", "--symbols", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = feed.id();
    // Wait until the table has both symbols.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = shmbus(&["inspect", n, "--json"]);
        let ok = serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .is_ok_and(|h| h["slots"]["in_use"] == 2);
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "feed never published: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let h: serde_json::Value =
        serde_json::from_slice(&shmbus(&["inspect", n, "--json"]).stdout).unwrap();
    assert_eq!(h["writer_alive"], true);
    assert_eq!(h["writer_pid"], pid);

    // A second writer and a plain rm are refused, naming the live writer's pid.
    assert_one_line_error(
        &shmbus(&["slot", "put", n, "BTCUSD", "--price", "1"]),
        &format!("pid {pid}"),
    );
    assert_one_line_error(&shmbus(&["rm", n]), &format!("pid {pid}"));

    feed.kill().unwrap(); // SIGKILL
    feed.wait().unwrap();
    let o = shmbus(&["ls"]);
    let line = stdout(&o)
        .lines()
        .find(|l| l.starts_with(n))
        .map(str::to_owned)
        .expect("listed");
    assert!(line.contains(&format!("pid {pid} (dead)")), "{line}");

    // A new writer takes over at once.
    let o = shmbus(&["slot", "put", n, "BTCUSD", "--price", "42"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = shmbus(&["slot", "get", n, "BTCUSD", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["price"], 42.0);
    assert!(shmbus(&["rm", n]).status.success());
}

#[test]
fn demo_runs_and_cleans_up() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(["demo", "--seconds", "1.5", "--rate", "2000"])
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut served = None;
    for line in out.lines().map_while(Result::ok) {
        // While the demo runs, its gateway serves its regions.
        if let Some(url) = line.trim().strip_prefix("dashboard http://") {
            let addr = url.split('/').next().unwrap().to_owned();
            served = Some(http_get(&addr, "/api/regions"));
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    let text = lines.join("\n");
    assert!(status.success(), "{text}");
    let field = |prefix: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(prefix)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
    };
    let written = field("feed");
    let seen = field("slots");
    let trades = field("journal");
    assert!(written > 1000.0, "{text}");
    assert!(
        seen > 100.0 && seen <= written,
        "slot reader saw {seen}:\n{text}"
    );
    // The journal reader gets every trade the feed wrote, none lost.
    assert_eq!(trades, written, "{text}");
    assert!(text.contains(", 0 lost"), "{text}");
    assert!(
        text.contains("write-to-read latency (busy-poll)  p50"),
        "{text}"
    );
    assert!(
        text.contains("write-to-read latency (futex wake-up)  p50"),
        "{text}"
    );
    assert!(
        text.contains(&format!("shmbus-demo-{pid}-live removed")),
        "{text}"
    );
    let served = served.unwrap_or_else(|| panic!("no dashboard line in:\n{text}"));
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    for region in [
        format!("\"shmbus-demo-{pid}\""),
        format!("\"shmbus-demo-{pid}-trades\""),
    ] {
        assert!(served.contains(&region), "{region} not served:\n{served}");
    }
    assert!(!std::path::Path::new(&format!("/dev/shm/shmbus-demo-{pid}")).exists());
    for suffix in ["-trades", "-live", "-trades.readers"] {
        let left = format!("/dev/shm/shmbus-demo-{pid}{suffix}");
        assert!(!std::path::Path::new(&left).exists(), "{left} left behind");
    }
}

/// The whole answer (status line, headers, body) of a plain HTTP/1.1 GET.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

fn shmbus_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(args)
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

#[test]
fn journal_commands() {
    let name = Name::new("journal");
    let n = name.0.as_str();
    let o = shmbus(&["journal", "create", n, "--ring", "1M", "--crc"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ring of 1.0 MiB, CRC32C"),
        "{}",
        stdout(&o)
    );
    assert_one_line_error(
        &shmbus(&["journal", "create", n, "--ring", "1M"]),
        "already exists",
    );

    let lines: String = (0..25).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let o = shmbus_stdin(&["append", n, "--json", "--batch", "4"], &lines);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("appended 25 messages"),
        "{}",
        stderr(&o)
    );
    // A bad line is refused with its line number, and nothing after it is appended.
    let o = shmbus_stdin(&["append", n, "--json"], "{\"ok\":1}\nnot json\n");
    assert_one_line_error(&o, "line 2 is not valid JSON");

    // Default tail: the last 10 messages.
    let o = shmbus(&["tail", n, "--json"]);
    let docs: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 10, "{}", stdout(&o));
    assert_eq!(docs[9]["payload"], "{\"ok\":1}");
    assert_eq!(docs[9]["seq"], 25);
    assert_eq!(docs[0]["seq"], 16);
    assert_eq!(docs[0]["type"], 1);
    let o = shmbus(&["tail", n, "--from", "start", "-n", "3"]);
    assert_eq!(stdout(&o).lines().count(), 3);
    assert!(
        stdout(&o).lines().next().unwrap().ends_with("{\"i\":0}"),
        "{}",
        stdout(&o)
    );
    let o = shmbus(&["tail", n, "--from", "20", "--json"]);
    assert_eq!(stdout(&o).lines().count(), 6);
    assert_one_line_error(&shmbus(&["tail", n, "--from", "99"]), "not in");

    let o = shmbus(&["dump", n, "--rev", "-n", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].split_whitespace().nth(1) == Some("25"), "{rows:?}");
    let o = shmbus(&["dump", n]);
    assert!(
        stderr(&o).contains("26 frames, all valid"),
        "{}",
        stderr(&o)
    );

    let o = shmbus(&["stats", n, "--json", "--interval", "0"]);
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["messages"], 26);
    assert_eq!(st["newest_seq"], 25);
    assert_eq!(st["mode"], "ring");
    assert_eq!(st["crc"], true);

    // tail -f sees a message appended later.
    let follower = Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(["tail", n, "-f", "--from", "end", "-n", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(shmbus(&["append", n, "late message"]).status.success());
    let out = follower.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("late message"));
    assert!(shmbus(&["rm", n]).status.success());
}

#[test]
fn persisted_journal_commands() {
    let dir = std::env::temp_dir().join(format!("shmbus-cli-pj-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let o = shmbus(&["journal", "create", d, "--segment-size", "16K"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: String = (0..2000).map(|i| format!("message number {i}\n")).collect();
    let o = shmbus_stdin(&["append", d, "--batch", "100", "--retain", "4"], &lines);
    assert!(o.status.success(), "{}", stderr(&o));
    let segments = std::fs::read_dir(&dir).unwrap().count();
    assert!(segments <= 4, "{segments} segments kept");
    let o = shmbus(&["stats", d, "--json", "--interval", "0"]);
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["mode"], "persisted");
    assert_eq!(st["next_seq"], 2000);
    assert!(st["oldest_seq"].as_u64().unwrap() > 0, "{st}");
    let o = shmbus(&["tail", d, "-n", "1"]);
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("message number 1999"), "{}", stdout(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn candles_import_show_stats() {
    let name = Name::new("candles");
    let n = name.0.as_str();
    // Import creates the region; real data: 300 daily GOOG bars, 156 monthly BTCUSD bars.
    let o = shmbus(&[
        "candles",
        "import",
        n,
        &fixture("GOOG.csv"),
        "--symbol",
        "GOOG",
        "--interval",
        "1d",
        "--size",
        "4M",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported 300 candles"),
        "{}",
        stdout(&o)
    );
    let o = shmbus(&[
        "candles",
        "import",
        n,
        &fixture("BTCUSD.csv"),
        "--symbol",
        "BTCUSD",
        "--interval",
        "1M",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The same data again is older than what is stored: refused, nothing written.
    assert_one_line_error(
        &shmbus(&[
            "candles",
            "import",
            n,
            &fixture("BTCUSD.csv"),
            "--symbol",
            "BTCUSD",
            "--interval",
            "1M",
        ]),
        "QNXS error 5 WRITE_FAILED",
    );
    // ... unless --replace.
    let o = shmbus(&[
        "candles",
        "import",
        n,
        &fixture("BTCUSD.csv"),
        "--symbol",
        "BTCUSD",
        "--interval",
        "1M",
        "--replace",
    ]);
    assert!(stdout(&o).contains("156 replaced"), "{}", stdout(&o));

    let o = shmbus(&["candles", "show", n, "--json"]);
    let series: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(series.as_array().unwrap().len(), 2);
    assert_eq!(series[0]["symbol"], "GOOG");
    assert_eq!(series[0]["count"], 300);
    let o = shmbus(&["candles", "show", n, "GOOG", "1d", "--last", "1", "--json"]);
    let last: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The fixture's last row: 2005-10-25,342.59,347.4,342.86,346.91,...
    assert_eq!(last[0]["time"], "2005-10-25T00:00:00Z");
    assert_eq!(last[0]["close"], 346.91);
    let o = shmbus(&["candles", "show", n, "GOOG", "1d", "--last", "2"]);
    assert_eq!(stdout(&o).lines().count(), 3, "{}", stdout(&o));
    let o = shmbus(&["candles", "stats", n, "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["totalSymbols"], 2);
    assert_eq!(st["totalCandles"], 456);
    assert_eq!(st["writeCount"], 3);
    assert_one_line_error(
        &shmbus(&["candles", "show", n, "GOOG", "1h"]),
        "QNXS error 6 SYMBOL_NOT_FOUND",
    );
    assert!(shmbus(&["rm", n]).status.success());
}

#[test]
fn candles_import_errors_name_file_line_column() {
    let name = Name::new("candles-bad");
    let n = name.0.as_str();
    let dir = std::env::temp_dir().join(format!("shmbus-cli-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |f: &str, text: &str| {
        let p = dir.join(f);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let bad_num = write(
        "bad_num.csv",
        ",Open,High,Low,Close,Volume\n2024-01-01,1,2,0.5,1.5,10\n2024-01-02,1,2,x,1.5,10\n",
    );
    assert_one_line_error(
        &shmbus(&[
            "candles",
            "import",
            n,
            &bad_num,
            "--symbol",
            "X",
            "--interval",
            "1d",
        ]),
        "bad_num.csv: line 3, column 4 (low)",
    );
    let bad_date = write(
        "bad_date.csv",
        "date,open,high,low,close\nyesterday,1,2,0.5,1.5\n",
    );
    assert_one_line_error(
        &shmbus(&[
            "candles",
            "import",
            n,
            &bad_date,
            "--symbol",
            "X",
            "--interval",
            "1d",
        ]),
        "line 2, column 1 (timestamp)",
    );
    let bad_hl = write(
        "bad_hl.csv",
        "Date,OPEN,HIGH,LOW,CLOSE,VOLUME\n2024-01-01,1,2,0.5,1.5,1\n2024-01-02,1,2,2.5,1.5,1\n",
    );
    assert_one_line_error(
        &shmbus(&[
            "candles",
            "import",
            n,
            &bad_hl,
            "--symbol",
            "X",
            "--interval",
            "1d",
        ]),
        "line 3: QNXS error 5",
    );
    let no_close = write("no_close.csv", "date,open,high,low\n2024-01-01,1,2,0.5\n");
    assert_one_line_error(
        &shmbus(&[
            "candles",
            "import",
            n,
            &no_close,
            "--symbol",
            "X",
            "--interval",
            "1d",
        ]),
        "no close column",
    );
    // Nothing was created by any failed import.
    assert!(!std::path::Path::new(&format!("/dev/shm/{n}")).exists());
    // Unix milliseconds, a zone, newest-first order, no volume column: accepted.
    let ms = write(
        "ms.csv",
        "timestamp,o,h,l,c\n1704070800000,2,3,1,2.5\n1704067200000,1,2,0.5,1.5\n",
    );
    let o = shmbus(&[
        "candles",
        "import",
        n,
        &ms,
        "--symbol",
        "X",
        "--interval",
        "1h",
        "--size",
        "1M",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let local = write(
        "local.csv",
        "datetime,open,high,low,close,volume\n2024-01-01 10:00,1,2,0.5,1.5,0.25\n",
    );
    let o = shmbus(&[
        "candles",
        "import",
        n,
        &local,
        "--symbol",
        "Y",
        "--interval",
        "1h",
        "--tz",
        "+02:00",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = shmbus(&["candles", "show", n, "Y", "1h", "--json"]);
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c[0]["time"], "2024-01-01T08:00:00Z");
    assert_eq!(c[0]["volume"], 0.25);
    let o = shmbus(&["candles", "show", n, "X", "1h", "--json"]);
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c[0]["timestamp"], 1_704_067_200_000u64);
    assert_eq!(c[1]["volume"], 0.0);
    assert!(shmbus(&["rm", n]).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_merges_files_in_time_order() {
    let candles = Name::new("replay-c");
    let journal = Name::new("replay-j");
    let goog = format!("{}=GOOG:1d", fixture("GOOG.csv"));
    let btc = format!("{}=BTCUSD:1M", fixture("BTCUSD.csv"));
    let o = shmbus(&[
        "replay",
        &goog,
        &btc,
        "--candles",
        &candles.0,
        "--journal",
        &journal.0,
        "--speed",
        "max",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("replay: 456 bars of 2 symbols"),
        "{}",
        stdout(&o)
    );
    // The journal holds 456 bars (72-byte Bar messages, type 3), in timestamp order.
    let o = shmbus(&["dump", &journal.0]);
    assert!(
        stderr(&o).contains("456 frames, all valid"),
        "{}",
        stderr(&o)
    );
    let o = shmbus(&["tail", &journal.0, "--from", "start", "--json"]);
    let mut last_ts = 0u64;
    for line in stdout(&o).lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(m["type"], 3);
        assert_eq!(m["len"], 72);
        assert_eq!(m["record"], "Bar");
        let ts = m["value"]["timestamp"].as_u64().unwrap();
        assert!(ts >= last_ts, "bars out of order");
        last_ts = ts;
    }
    let o = shmbus(&["candles", "stats", &candles.0, "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["totalCandles"], 456);
    assert_eq!(st["totalSymbols"], 2);
    // A timed replay takes about as long as asked.
    let t = Instant::now();
    let o = shmbus(&[
        "replay",
        &fixture("BTCUSD.csv"),
        "--journal",
        &journal.0,
        "--duration",
        "0.5",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        t.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    assert!(shmbus(&["rm", &candles.0, &journal.0]).status.success());
}

/// The benchmark tools run end to end (tiny counts: this checks behaviour, not speed): every
/// payload checked, reports complete, regions removed.
#[test]
fn bench_tools_report_and_clean_up() {
    let before: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains("bench"))
        .collect();
    let o = shmbus(&[
        "bench",
        "latency",
        "--messages",
        "2000",
        "--warmup",
        "500",
        "--runs",
        "1",
        "--mode",
        "both",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ms = d["measurements"].as_array().unwrap();
    assert_eq!(ms.len(), 2, "busy and blocking");
    for m in ms {
        assert_eq!(m["journal"]["count"], 2000, "{m}");
        assert_eq!(m["floor_before"]["count"], 2000, "{m}");
        assert!(m["journal"]["p50"].as_f64().unwrap() > 0.0, "{m}");
        assert!(
            m["ratios"]["p50_vs_floor_before"].as_f64().unwrap() > 0.0,
            "{m}"
        );
    }
    assert!(
        ms[1].get("futex_before").is_some(),
        "blocking mode measures the raw futex too"
    );
    // Busy mode carries the payload through the message floor as well, both sides of the journal.
    for side in ["msg_floor_before", "msg_floor_after"] {
        assert_eq!(ms[0][side]["count"], 2000, "{side}: {}", ms[0]);
    }
    assert!(
        ms[0]["ratios"]["p50_vs_msg_floor_before"].as_f64().unwrap() > 0.0,
        "{}",
        ms[0]
    );
    assert!(
        ms[1].get("msg_floor_before").is_none(),
        "blocking mode has no message floor"
    );

    let o = shmbus(&[
        "bench",
        "throughput",
        "--seconds",
        "0.3",
        "--batch",
        "8",
        "--readers",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &d["results"][0];
    let written = r["writer_messages"].as_u64().unwrap();
    assert!(written > 0);
    for rep in r["reader_reports"].as_array().unwrap() {
        assert_eq!(rep["bad_payloads"], 0, "{rep}");
        assert_eq!(rep["gaps"], 0, "{rep}");
        // Every message is either received or reported lost.
        assert_eq!(
            rep["messages"].as_u64().unwrap() + rep["lost"].as_u64().unwrap(),
            written,
            "{rep}"
        );
    }
    let after: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains("bench") && !before.contains(n))
        .collect();
    assert!(after.is_empty(), "left behind: {after:?}");
}

/// A user's benchmark prints figures and ratios; the project's targets live in the README's
/// performance section, not in the tool's output.
#[test]
fn bench_prints_figures_and_ratios_not_targets() {
    let o = shmbus(&[
        "bench",
        "latency",
        "--messages",
        "1000",
        "--warmup",
        "200",
        "--runs",
        "1",
        "--mode",
        "both",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("journal / floor"), "{text}");
    assert!(text.contains("journal / futex"), "{text}");
    let o = shmbus(&["bench", "throughput", "--seconds", "0.2", "--batch", "8"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = text.into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("msg/s"), "{text}");
    for line in text.lines() {
        let l = line.to_lowercase();
        assert!(
            !l.contains("target") && !l.contains(" met") && !l.contains("missed"),
            "a target line: {line:?}"
        );
    }
}
