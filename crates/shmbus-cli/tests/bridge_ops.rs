//! Operating `shmbus bridge`: its status regions (`JOURNAL.bridge-out.STREAM`,
//! `JOURNAL.bridge-in`), `--stats-interval`, `shmbus inspect`/`ls`/`rm` of them and the
//! gateway's `/metrics`, as real processes against a real nats-server (started by each test on
//! a free loopback port).

mod bridge_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bridge_support::{Bridge, Dir, assert_same, cli_error, next_seq, shmbus};
use serde_json::Value;
use shmbus::journal::JournalWriter;
use shmbus_bridge::nats_server::NatsServer;

/// `shmbus inspect NAME --json`'s `bridge` object.
fn status(name: &str) -> Value {
    let o = shmbus(&["inspect", name, "--json"]);
    assert!(
        o.status.success(),
        "inspect {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "bridge", "{v}");
    v["bridge"].clone()
}

/// A unique name prefix for this test's shm regions; everything starting with it is removed
/// from /dev/shm when dropped (also on failure).
struct Shm(String);

impl Shm {
    fn new(tag: &str) -> Self {
        Self(format!("shmbus-ops-{tag}-{}", std::process::id()))
    }

    fn name(&self, n: &str) -> String {
        format!("{}-{n}", self.0)
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        for e in std::fs::read_dir("/dev/shm")
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with(&self.0) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// `bridge out`'s arguments with a stats line every 100 ms.
fn out_args<'a>(a: &'a str, url: &'a str, stream: &'a str, subject: &'a str) -> Vec<&'a str> {
    let mut v = bridge_support::out_args(a, url, stream, subject);
    v.extend(["--stats-interval", "0.1"]);
    v
}

/// `bridge in`'s arguments with a stats line every 100 ms.
fn in_args<'a>(b: &'a str, url: &'a str, stream: &'a str) -> Vec<&'a str> {
    let mut v = bridge_support::in_args(b, url, stream);
    v.extend(["--stats-interval", "0.1"]);
    v
}

/// Waits (60 s at most) until journal `b` holds `n` messages, the bridges alive.
fn wait_for(b: &str, n: u64, bridges: &mut [&mut Bridge]) {
    bridge_support::wait_for(b, n, bridges, Duration::from_secs(60));
}

/// Appends `n` messages of `len` bytes (type 7), committed every 50.
fn append(w: &mut JournalWriter, n: u64, len: usize) {
    for i in 0..n {
        let p = vec![(i % 251) as u8; len];
        w.append(7, &p).unwrap();
        if i % 50 == 49 {
            w.commit();
        }
    }
    w.commit();
}

/// The number after `key ` in a stats line (`published 12,` -> 12).
fn field(line: &str, key: &str) -> u64 {
    let at = line
        .find(&format!("{key} "))
        .unwrap_or_else(|| panic!("no {key:?} in {line:?}"));
    line[at + key.len() + 1..]
        .split([',', ' '])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{key} in {line:?}: {e}"))
}

fn is_stats(line: &str, dir: &str) -> bool {
    line.starts_with(&format!("shmbus bridge {dir}: ")) && line.contains(" msg/s, ")
}

#[test]
fn stats_lines_and_status_agree_with_what_was_sent() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("stats");
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = JournalWriter::builder(&a)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    JournalWriter::builder(&b)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    let (n, m, len) = (500u64, 200u64, 100usize);
    append(&mut w, n, len);
    let mut out = Bridge::start_out(&out_args(&a, &url, "OPS", "ops.a"), &d.0.join("out.log"));
    let mut inp = Bridge::start(&in_args(&b, &url, "OPS"), &d.0.join("in.log"));
    wait_for(&b, n, &mut [&mut out, &mut inp]);
    // Caught up: the next lines say exactly what was sent, and lag 0.
    let caught_up = |dir: &'static str, what: &'static str| {
        move |l: &str| {
            is_stats(l, dir)
                && !l.contains("final")
                && field(l, what) == n
                && field(l, "lag") == 0
                && field(l, "in flight") == 0
        }
    };
    let lo = out.wait_line(caught_up("out", "published"));
    let li = inp.wait_line(caught_up("in", "stored"));
    for l in [&lo, &li] {
        for k in ["duplicates", "gaps", "lost", "rewinds", "reconnects"] {
            assert_eq!(field(l, k), 0, "{k} in {l}");
        }
    }
    // The status regions say the same, with the bytes and positions.
    let so = status(&format!("{a}.bridge-out.OPS"));
    assert_eq!(
        (
            so["direction"].as_str(),
            so["stream"].as_str(),
            so["subject"].as_str()
        ),
        (Some("out"), Some("OPS"), Some("ops.a"))
    );
    assert_eq!(
        (so["state"].as_str(), so["alive"].as_bool()),
        (Some("running"), Some(true))
    );
    assert_eq!(so["pid"].as_u64(), Some(u64::from(out.child.id())));
    assert_eq!(so["messages"].as_u64(), Some(n));
    assert_eq!(so["bytes"].as_u64(), Some(n * len as u64));
    assert_eq!(so["journal_next"].as_u64(), Some(n));
    assert_eq!(so["stream_seq"].as_u64(), Some(n));
    let si = status(&format!("{b}.bridge-in"));
    assert_eq!(
        (si["direction"].as_str(), si["stream"].as_str()),
        (Some("in"), Some("OPS"))
    );
    assert_eq!(si["messages"].as_u64(), Some(n));
    assert_eq!(si["bytes"].as_u64(), Some(n * len as u64));
    assert_eq!(si["journal_next"].as_u64(), Some(n));
    assert_eq!(si["stream_seq"].as_u64(), Some(n));
    assert_eq!(si["lag"].as_u64(), Some(0));
    // A stopped bridge holds back: its lag is the journal's growth, exactly.
    out.signal(libc::SIGSTOP);
    append(&mut w, m, len);
    let so = status(&format!("{a}.bridge-out.OPS"));
    assert_eq!(so["lag"].as_u64(), Some(m), "{so}");
    assert_eq!(
        so["alive"].as_bool(),
        Some(true),
        "a stopped process still holds it"
    );
    out.signal(libc::SIGCONT);
    wait_for(&b, n + m, &mut [&mut out, &mut inp]);
    let lo = out.wait_line(|l| {
        is_stats(l, "out") && field(l, "published") == n + m && field(l, "lag") == 0
    });
    assert!(field(&lo, "in flight") == 0, "{lo}");
    inp.wait_line(|l| is_stats(l, "in") && field(l, "stored") == n + m && field(l, "lag") == 0);
    // A clean stop: a final line, then the stop line; the regions say stopped.
    let log = out.stop_log();
    let fin = log
        .lines()
        .find(|l| l.starts_with("shmbus bridge out: final: "))
        .unwrap_or_else(|| panic!("no final line:\n{log}"));
    assert_eq!(field(fin, "published"), n + m, "{fin}");
    assert_eq!(field(fin, "in flight"), 0, "{fin}");
    let fin_at = log.find("final: ").unwrap();
    assert!(
        log[fin_at..].contains("shmbus bridge out: stopped: "),
        "{log}"
    );
    let log = inp.stop_log();
    assert!(log.contains("shmbus bridge in: final: "), "{log}");
    for (name, want) in [
        (format!("{a}.bridge-out.OPS"), n + m),
        (format!("{b}.bridge-in"), n + m),
    ] {
        let s = status(&name);
        assert_eq!(
            (
                s["state"].as_str(),
                s["alive"].as_bool(),
                s["in_flight"].as_u64()
            ),
            (Some("stopped"), Some(false), Some(0)),
            "{s}"
        );
        assert_eq!(s["messages"].as_u64(), Some(want), "{s}");
    }
    // The text form shows the same figures.
    let o = shmbus(&["inspect", &format!("{a}.bridge-out.OPS")]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("state        stopped"), "{text}");
    assert!(
        text.contains(&format!(
            "published {} ({} bytes)",
            n + m,
            (n + m) * len as u64
        )),
        "{text}"
    );
    assert_same(&a, &b);
    // The stop line's figures are the region's.
    assert!(log.contains(&format!("stored {},", n + m)), "{log}");
    // `rm` of a persisted journal removes its bridge region too.
    drop(w);
    for (j, r) in [
        (&a, format!("{a}.bridge-out.OPS")),
        (&b, format!("{b}.bridge-in")),
    ] {
        let o = shmbus(&["rm", j]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!Path::new(&r).exists(), "{r} left");
    }
}

#[test]
fn a_second_bridge_of_the_same_stream_is_refused_and_another_stream_is_not() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("two");
    let a = d.name("A");
    let mut w = JournalWriter::builder(&a)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    append(&mut w, 100, 10);
    let mut one = Bridge::start_out(&out_args(&a, &url, "ONE", "one.a"), &d.0.join("1.log"));
    one.wait_line(|l| is_stats(l, "out") && field(l, "published") == 100);
    let e = cli_error(&[
        "bridge",
        "out",
        &a,
        "--nats",
        &url,
        "--stream",
        "ONE",
        "--subject",
        "one.a",
    ]);
    assert!(
        e.contains("another `shmbus bridge out` publishes journal")
            && e.contains(&format!("(pid {})", one.child.id())),
        "{e}"
    );
    let mut two = Bridge::start_out(&out_args(&a, &url, "TWO", "two.a"), &d.0.join("2.log"));
    two.wait_line(|l| is_stats(l, "out") && field(l, "published") == 100);
    one.alive();
    let names: Vec<String> = shmbus::bridge_status::list_bridges(&a);
    assert_eq!(
        names,
        [format!("{a}.bridge-out.ONE"), format!("{a}.bridge-out.TWO")]
    );
}

#[test]
fn kill_9_of_bridge_in_restarts_from_its_region_exactly_once() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("kill");
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = JournalWriter::builder(&a)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    JournalWriter::builder(&b)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    let n = 6000u64;
    let mut out = Bridge::start_out(&out_args(&a, &url, "K", "k.a"), &d.0.join("out.log"));
    let writer = std::thread::spawn(move || {
        for _ in 0..30 {
            append(&mut w, n / 30, 64);
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    let bin = format!("{b}.bridge-in");
    let mut inp = Bridge::start(&in_args(&b, &url, "K"), &d.0.join("in0.log"));
    for i in 1..=6 {
        std::thread::sleep(Duration::from_millis(50 + 60 * i));
        inp.alive();
        inp.kill9();
        // Killed: the region says so (its lock is free, its state still running).
        let s = status(&bin);
        assert_eq!(
            (s["state"].as_str(), s["alive"].as_bool()),
            (Some("dead"), Some(false)),
            "{s}"
        );
        inp = Bridge::start(&in_args(&b, &url, "K"), &d.0.join(format!("in{i}.log")));
    }
    writer.join().unwrap();
    wait_for(&b, n, &mut [&mut out, &mut inp]);
    inp.wait_line(|l| is_stats(l, "in") && field(l, "lag") == 0 && field(l, "in flight") == 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(next_seq(&b), n, "nothing stored twice");
    assert_same(&a, &b);
    let s = status(&bin);
    assert_eq!(
        (s["journal_next"].as_u64(), s["stream_seq"].as_u64()),
        (Some(n), Some(n))
    );
    inp.stop();
    // The region records which stream the journal holds: another one is refused.
    let e = cli_error(&["bridge", "in", &b, "--nats", &url, "--stream", "OTHER"]);
    assert!(
        e.contains(&format!("holds stream K up to sequence {n}")) && e.contains("--stream K"),
        "{e}"
    );
    out.stop();
}

/// A running `shmbus serve` on a free loopback port, killed when dropped.
struct Serve(Child, String);

impl Serve {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shmbus"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start shmbus serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .filter(|a| a.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self(child, addr)
    }

    /// A plain HTTP/1.1 GET: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.1).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.1
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        if !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            return (status, body.to_owned());
        }
        let (mut out, mut rest) = (String::new(), body);
        loop {
            let (len, tail) = rest.split_once("\r\n").unwrap();
            let len = usize::from_str_radix(len.trim(), 16).unwrap();
            if len == 0 {
                return (status, out);
            }
            out.push_str(&tail[..len]);
            rest = &tail[len + 2..];
        }
    }

    /// `/metrics` lines starting with `shmbus_bridge_` and naming `journal`: `name{labels}` ->
    /// value.
    fn bridge_metrics(&self, journal: &str) -> std::collections::BTreeMap<String, i64> {
        let (st, text) = self.get("/metrics");
        assert_eq!(st, 200, "{text}");
        text.lines()
            .filter(|l| {
                l.starts_with("shmbus_bridge_") && l.contains(&format!("journal=\"{journal}\""))
            })
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_owned(), v.parse().unwrap())
            })
            .collect()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_ls_rm_and_corrupt_regions() {
    let server = NatsServer::start();
    let url = server.url();
    let shm = Shm::new("m");
    let (a, b) = (shm.name("A"), shm.name("B"));
    let d = Dir::new("metrics");
    for j in [&a, &b] {
        let o = shmbus(&["journal", "create", j, "--ring", "1M"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut w = JournalWriter::open(&a).unwrap();
    let (n, len) = (300u64, 10usize);
    append(&mut w, n, len);
    let stream = format!("M{}", std::process::id());
    let subject = format!("m.{}", std::process::id());
    let mut out = Bridge::start_out(&out_args(&a, &url, &stream, &subject), &d.0.join("out.log"));
    let mut inp = Bridge::start(&in_args(&b, &url, &stream), &d.0.join("in.log"));
    wait_for(&b, n, &mut [&mut out, &mut inp]);
    out.wait_line(|l| {
        is_stats(l, "out") && field(l, "published") == n && field(l, "in flight") == 0
    });
    inp.wait_line(|l| is_stats(l, "in") && field(l, "stored") == n && field(l, "lag") == 0);
    let srv = Serve::start();
    let labels =
        |j: &str, dir: &str| format!("{{journal=\"{j}\",direction=\"{dir}\",stream=\"{stream}\"}}");
    let (lo, li) = (labels(&a, "out"), labels(&b, "in"));
    let mut want = std::collections::BTreeMap::new();
    for (l, bytes) in [(&lo, n * len as u64), (&li, n * len as u64)] {
        let n = n as i64;
        for (k, v) in [
            ("published_total", n),
            ("bytes_total", bytes as i64),
            ("duplicates_total", 0),
            ("gaps_total", 0),
            ("lost_messages_total", 0),
            ("rewinds_total", 0),
            ("reconnects_total", 0),
            ("in_flight", 0),
            ("lag", 0),
            ("alive", 1),
        ] {
            want.insert(format!("shmbus_bridge_{k}{l}"), v);
        }
    }
    let mut got = srv.bridge_metrics(&a);
    got.extend(srv.bridge_metrics(&b));
    assert_eq!(got, want);
    // `out` held back: its lag grows with the journal; killed, it is dead (and still shown).
    out.signal(libc::SIGSTOP);
    append(&mut w, 40, len);
    let got = srv.bridge_metrics(&a);
    assert_eq!(got[&format!("shmbus_bridge_lag{lo}")], 40);
    assert_eq!(got[&format!("shmbus_bridge_alive{lo}")], 1);
    out.kill9();
    let got = srv.bridge_metrics(&a);
    assert_eq!(got[&format!("shmbus_bridge_alive{lo}")], 0);
    assert_eq!(got[&format!("shmbus_bridge_published_total{lo}")], n as i64);
    // `ls` lists the regions with their kind.
    let o = shmbus(&["ls", "--json"]);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let kind = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["kind"].clone())
    };
    let (out_region, in_region) = (format!("{a}.bridge-out.{stream}"), format!("{b}.bridge-in"));
    assert_eq!(kind(&out_region), Some("bridge".into()));
    assert_eq!(kind(&in_region), Some("bridge".into()));
    // Corrupt regions: clear errors in inspect, in serve's region answer, in `bridge in`; the
    // metrics leave them out, and nothing panics.
    let c = shmbus::RegionName::parse(&shm.name("C")).unwrap();
    let cj = c.as_str().to_owned();
    let o = shmbus(&["journal", "create", &cj, "--ring", "1M"]);
    assert!(o.status.success());
    let bad_out = format!("{cj}.bridge-out.X");
    let bad_in = format!("{cj}.bridge-in");
    let bytes = std::fs::read(format!("/dev/shm/{out_region}")).unwrap();
    let mut bad = bytes.clone();
    bad[132] = 9; // direction
    std::fs::write(format!("/dev/shm/{bad_out}"), &bad).unwrap();
    let mut bad = std::fs::read(format!("/dev/shm/{in_region}")).unwrap();
    bad[128] = 0x41; // the body's length
    std::fs::write(format!("/dev/shm/{bad_in}"), &bad).unwrap();
    let e = cli_error(&["inspect", &bad_out]);
    assert!(
        e.contains(&bad_out) && e.contains("corrupt") && e.contains("direction 9"),
        "{e}"
    );
    let e = cli_error(&["inspect", &bad_in]);
    assert!(e.contains("corrupt") && e.contains("a body of"), "{e}");
    let e = cli_error(&["bridge", "in", &cj, "--nats", &url, "--stream", &stream]);
    assert!(
        e.contains(&format!("/dev/shm/{bad_in}")) && e.contains("corrupt"),
        "{e}"
    );
    // A region too short to be one (a bare state file of an older `bridge in`).
    std::fs::write(format!("/dev/shm/{bad_in}"), [0u8; 96]).unwrap();
    let e = cli_error(&["bridge", "in", &cj, "--nats", &url, "--stream", &stream]);
    assert!(e.contains(&format!("/dev/shm/{bad_in}")), "{e}");
    let (st, body) = srv.get(&format!("/api/regions/{bad_out}"));
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["bridge_error"]
            .as_str()
            .is_some_and(|e| e.contains("direction 9")),
        "{v}"
    );
    assert!(srv.bridge_metrics(&cj).is_empty());
    assert_eq!(
        srv.bridge_metrics(&a).len(),
        10,
        "the good ones are still there"
    );
    // `rm JOURNAL` removes its bridge regions (`out` killed, `in` stopped first).
    inp.stop();
    drop(w);
    for (j, r) in [(&a, &out_region), (&b, &in_region), (&cj, &bad_out)] {
        let o = shmbus(&["rm", j]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!Path::new(&format!("/dev/shm/{r}")).exists(), "{r} left");
    }
}

#[test]
fn a_server_restart_counts_as_a_reconnect_and_loses_nothing() {
    let mut server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("reconnect");
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = JournalWriter::builder(&a)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    JournalWriter::builder(&b)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    append(&mut w, 100, 10);
    let mut out = Bridge::start_out(&out_args(&a, &url, "R", "r.a"), &d.0.join("out.log"));
    let mut inp = Bridge::start(&in_args(&b, &url, "R"), &d.0.join("in.log"));
    wait_for(&b, 100, &mut [&mut out, &mut inp]);
    for (x, what) in [(&mut out, "published"), (&mut inp, "stored")] {
        let l = x.wait_line(|l| l.contains(" msg/s, ") && field(l, what) == 100);
        assert_eq!(field(&l, "reconnects"), 0, "{l}");
    }
    // The server dies with -9 and comes back on its store: both clients reconnect by themselves.
    server.restart();
    append(&mut w, 100, 10);
    wait_for(&b, 200, &mut [&mut out, &mut inp]);
    for (x, what, dir) in [(&mut out, "published", "out"), (&mut inp, "stored", "in")] {
        let l = x.wait_line(|l| is_stats(l, dir) && field(l, what) == 200);
        eprintln!("{l}");
        assert_eq!(field(&l, "reconnects"), 1, "one server restart: {l}");
        assert_eq!(field(&l, "lost"), 0, "{l}");
    }
    assert_same(&a, &b);
    let s = status(&format!("{a}.bridge-out.R"));
    assert_eq!(s["reconnects"].as_u64(), Some(1), "{s}");
    out.stop();
    inp.stop();
}
