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

    // Garbage: refused by every command, removable only with --force.
    let garbage = Name::new("garbage");
    std::fs::write(format!("/dev/shm/{}", garbage.0), vec![0xA5u8; 8192]).unwrap();
    assert_one_line_error(&shmbus(&["inspect", &garbage.0]), "not a shmbus region");
    assert_one_line_error(&shmbus(&["rm", &garbage.0]), "--force");
    assert!(shmbus(&["rm", "--force", &garbage.0]).status.success());

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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = BufReader::new(child.stdout.take().unwrap());
    let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let text = lines.join("\n");
    assert!(status.success(), "{text}");
    let seen: f64 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("reader")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .expect("reader summary");
    assert!(seen > 100.0, "reader saw only {seen} updates:\n{text}");
    assert!(text.contains("latency  write-to-read p50"), "{text}");
    assert!(
        text.contains(&format!("region shmbus-demo-{pid} removed")),
        "{text}"
    );
    assert!(!std::path::Path::new(&format!("/dev/shm/shmbus-demo-{pid}")).exists());
}
