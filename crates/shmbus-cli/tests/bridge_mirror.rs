//! `shmbus bridge in --slots TABLE --candles REGION` as real processes against a real
//! nats-server: A runs `shmbus feed` (slot table, journal of trades and bars, candles), `bridge
//! out` carries A's journal to a stream, `bridge in` writes B's journal and mirrors it into B's
//! slot table and candle region. B's `slot get --json` and candles must equal A's exactly (a
//! slot's `seq` counts its writes, so a trade applied twice or not at all shows), also through
//! kill -9 of `bridge in` at random points; malformed payloads are journalled and counted.

mod bridge_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bridge_support::{Bridge as Proc, Dir, next_seq, shmbus};

use rand::Rng;
use serde_json::Value;
use shmbus::candles::{BAR_TYPE, Bar, Candle};
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::{TRADE_TYPE, Trade};
use shmbus_bridge::nats_server::NatsServer;

/// The JSON a successful `shmbus` run prints.
fn cli_json(args: &[&str]) -> Value {
    let o = shmbus(args);
    assert!(
        o.status.success(),
        "shmbus {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Waits (60 s at most) until journal `b` holds `n` messages, the processes alive.
fn wait_for(b: &str, n: u64, procs: &mut [&mut Proc]) {
    bridge_support::wait_for(b, n, procs, Duration::from_secs(60));
}

/// A's and B's journals: persisted, 1 MiB segments (a restart resumes in a later segment).
fn create_journals(a: &str, b: &str) {
    for j in [a, b] {
        JournalWriter::builder(j)
            .segment_size(1 << 20)
            .create()
            .unwrap();
    }
}

fn out_args<'a>(a: &'a str, url: &'a str, stream: &'a str) -> Vec<&'a str> {
    vec![
        "bridge",
        "out",
        a,
        "--nats",
        url,
        "--stream",
        stream,
        "--subject",
        stream,
    ]
}

fn in_args<'a>(
    b: &'a str,
    url: &'a str,
    stream: &'a str,
    slots: &'a str,
    candles: &'a str,
) -> Vec<&'a str> {
    vec![
        "bridge",
        "in",
        b,
        "--nats",
        url,
        "--stream",
        stream,
        "--slots",
        slots,
        "--candles",
        candles,
        "--batch",
        "64",
    ]
}

/// `slot get TABLE --json`, by symbol.
fn slots(table: &str) -> BTreeMap<String, Value> {
    cli_json(&["slot", "get", table, "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["symbol"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

/// Every series of a candle region (its list entry without the capacity it reserved, and every
/// candle as `candles show --json` prints it), by (symbol, interval).
fn candles(region: &str) -> BTreeMap<(String, String), (Value, Value)> {
    let mut out = BTreeMap::new();
    for s in cli_json(&["candles", "show", region, "--json"])
        .as_array()
        .unwrap()
    {
        let (sym, int) = (
            s["symbol"].as_str().unwrap().to_owned(),
            s["interval"].as_str().unwrap().to_owned(),
        );
        let bars = cli_json(&["candles", "show", region, &sym, &int, "--json"]);
        let mut info = s.clone();
        info.as_object_mut().unwrap().remove("capacity");
        out.insert((sym, int), (info, bars));
    }
    out
}

/// B's slots and candles equal A's exactly; returns (symbols, series, candles) compared.
fn assert_mirrored(
    a_slots: &str,
    b_slots: &str,
    a_candles: &str,
    b_candles: &str,
) -> (usize, usize, usize) {
    let (sa, sb) = (slots(a_slots), slots(b_slots));
    assert!(!sa.is_empty());
    assert_eq!(
        sa.keys().collect::<Vec<_>>(),
        sb.keys().collect::<Vec<_>>(),
        "the same symbols"
    );
    for (sym, va) in &sa {
        assert_eq!(va, &sb[sym], "slot {sym}: A {va} B {}", sb[sym]);
        // The single-symbol form too, as a user would ask.
        assert_eq!(
            cli_json(&["slot", "get", a_slots, sym, "--json"]),
            cli_json(&["slot", "get", b_slots, sym, "--json"])
        );
    }
    let (ca, cb) = (candles(a_candles), candles(b_candles));
    assert_eq!(
        ca.keys().collect::<Vec<_>>(),
        cb.keys().collect::<Vec<_>>(),
        "the same series"
    );
    let mut n = 0;
    for (k, (ia, ba)) in &ca {
        let (ib, bb) = &cb[k];
        assert_eq!(ia, ib, "series {k:?}");
        assert_eq!(ba, bb, "the candles of {k:?}");
        n += ba.as_array().unwrap().len();
    }
    (sa.len(), ca.len(), n)
}

/// The counter `name N` in a `stopped:` line.
fn counter(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .rev()
        .find(|l| l.starts_with("shmbus bridge in: stopped: "))
        .unwrap_or_else(|| panic!("no stop line in:\n{log}"));
    let at = line
        .find(&format!("{name} "))
        .unwrap_or_else(|| panic!("no {name:?} in {line}"));
    line[at + name.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

struct Setup {
    d: Dir,
    server: NatsServer,
    a: String,
    b: String,
    a_slots: String,
    b_slots: String,
    a_candles: String,
    b_candles: String,
}

impl Setup {
    fn new(tag: &str) -> Self {
        let d = Dir::new(tag);
        let (a, b) = (d.name("A"), d.name("B"));
        create_journals(&a, &b);
        Self {
            server: NatsServer::start(),
            a,
            b,
            a_slots: d.name("A.slots"),
            b_slots: d.name("B.slots"),
            a_candles: d.name("A.candles"),
            b_candles: d.name("B.candles"),
            d,
        }
    }

    /// `shmbus feed` on A for `seconds`: slots, a journal of trades and bars, candles.
    fn feed(&self, seconds: &str) -> Proc {
        Proc::start(
            &[
                "feed",
                &self.a_slots,
                "--create",
                "--symbols",
                "6",
                "--rate",
                "2000",
                "--seconds",
                seconds,
                "--journal",
                &self.a,
                "--candles",
                &self.a_candles,
                "--journal-bars",
            ],
            &self.d.0.join("feed.log"),
        )
    }

    fn bridge_in(&self, stream: &str) -> Proc {
        let url = self.server.url();
        Proc::start(
            &in_args(&self.b, &url, stream, &self.b_slots, &self.b_candles),
            &self.d.0.join("in.log"),
        )
    }

    /// Starts `bridge out` and waits until it has made (or found) the stream, so a `bridge in`
    /// started after it finds the stream.
    fn bridge_out(&self, stream: &str) -> Proc {
        let url = self.server.url();
        let log = self.d.0.join("out.log");
        let started = || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches(" -> stream ")
                .count()
        };
        let before = started();
        let mut p = Proc::start(&out_args(&self.a, &url, stream), &log);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while started() == before {
            p.alive();
            assert!(
                std::time::Instant::now() < deadline,
                "bridge out did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        p
    }

    /// Waits for the feed to end, then for B to hold A's journal.
    fn finish_feed(&self, mut feed: Proc, procs: &mut [&mut Proc]) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        while feed.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "feed did not end");
            for p in procs.iter_mut() {
                p.alive();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = feed.child.wait().unwrap();
        assert!(status.success(), "feed failed:\n{}", feed.text());
        let n = next_seq(&self.a);
        wait_for(&self.b, n, procs);
        n
    }
}

/// A's journal holds trades and bars (`feed --journal-bars`), both of each kind.
fn count_types(journal: &str) -> (u64, u64) {
    let mut r = JournalReader::open(journal, Start::Beginning).unwrap();
    let (mut t, mut b) = (0, 0);
    while let Some(m) = r.next().unwrap() {
        match m.ty {
            TRADE_TYPE => t += 1,
            BAR_TYPE => b += 1,
            ty => panic!("feed wrote a message of type {ty}"),
        }
    }
    (t, b)
}

#[test]
fn b_sees_the_slots_and_candles_of_a_feed_on_a() {
    let s = Setup::new("plain");
    let feed = s.feed("3");
    let mut out = s.bridge_out("MIRROR");
    let mut inp = s.bridge_in("MIRROR");
    let n = s.finish_feed(feed, &mut [&mut out, &mut inp]);
    let log = inp.stop_log();
    out.stop();
    let (trades, bars) = count_types(&s.a);
    assert!(trades > 1000 && bars > 50, "{trades} trades, {bars} bars");
    assert_eq!(trades + bars, n);
    assert_eq!(counter(&log, "slot writes"), trades, "{log}");
    assert_eq!(counter(&log, "bar writes"), bars, "{log}");
    assert_eq!(counter(&log, "malformed"), 0, "{log}");
    let (symbols, series, bars_stored) =
        assert_mirrored(&s.a_slots, &s.b_slots, &s.a_candles, &s.b_candles);
    assert_eq!((symbols, series), (6, 12));
    eprintln!(
        "{n} messages ({trades} trades, {bars} bars): {symbols} slots, {series} series, {bars_stored} candles equal on B"
    );
    // Started again on the same journal, table and region: nothing is applied twice.
    let mut inp = s.bridge_in("MIRROR");
    std::thread::sleep(Duration::from_millis(1500));
    inp.alive();
    let log = inp.stop_log();
    assert_eq!(counter(&log, "slot writes"), 0, "{log}");
    assert_eq!(counter(&log, "bar writes"), 0, "{log}");
    assert_eq!(counter(&log, "stored"), 0, "{log}");
    assert_mirrored(&s.a_slots, &s.b_slots, &s.a_candles, &s.b_candles);
}

#[test]
fn kill_9_of_bridge_in_leaves_the_mirror_exact() {
    let s = Setup::new("kill");
    let feed = s.feed("5");
    let mut out = s.bridge_out("MKILL");
    let mut inp = s.bridge_in("MKILL");
    let mut rng = rand::rng();
    let t = Instant::now();
    let mut kills = 0;
    // Kill -9 at random points while the feed runs; restart at once each time.
    while t.elapsed() < Duration::from_millis(4300) {
        std::thread::sleep(Duration::from_millis(rng.random_range(150..700)));
        out.alive();
        inp.kill9();
        kills += 1;
        inp = s.bridge_in("MKILL");
    }
    let n = s.finish_feed(feed, &mut [&mut out, &mut inp]);
    let log = inp.stop_log();
    out.stop();
    // How many kills landed inside a mirror chunk (random; the unit test cuts chunks on purpose).
    let redone = log
        .matches("bridge in: mirror: a run stopped inside")
        .count();
    let (symbols, series, bars) =
        assert_mirrored(&s.a_slots, &s.b_slots, &s.a_candles, &s.b_candles);
    eprintln!(
        "bridge in killed {kills} times ({redone} inside a mirror chunk); {n} messages: {symbols} slots, {series} series, {bars} candles equal on B"
    );
    assert!(kills >= 5, "{kills}");
}

#[test]
fn malformed_trades_and_bars_are_journalled_counted_and_not_applied() {
    let s = Setup::new("bad");
    let mut w = JournalWriter::open(&s.a).unwrap();
    let trade = |sym: &str, price: f64, ts: u64| Trade::new(ts, sym, "SIM", price, 5.0, 0, "x");
    let bar =
        |ts: u64, close: f64| Bar::new("BTC", "1m", Candle::new(ts, 1.0, 9.0, 0.5, close, 3.0));
    let mut append = |ty: u16, p: &[u8]| {
        w.append(ty, p).unwrap();
        w.commit();
    };
    append(TRADE_TYPE, bytemuck::bytes_of(&trade("BTC", 100.0, 1)));
    append(BAR_TYPE, bytemuck::bytes_of(&bar(120_000, 2.0)));
    // Malformed: a short Trade, a Trade whose symbol is not UTF-8, a bar going back in time, a
    // bar with a NaN price; and one of another type (only journalled).
    append(TRADE_TYPE, &[7u8; 100]);
    let mut bad = trade("BTC", 1.0, 2);
    bad.symbol = [0xFF; 16];
    append(TRADE_TYPE, bytemuck::bytes_of(&bad));
    append(BAR_TYPE, bytemuck::bytes_of(&bar(60_000, 5.0)));
    append(BAR_TYPE, bytemuck::bytes_of(&bar(180_000, f64::NAN)));
    append(99, b"something else");
    // Good again: the bridge went on.
    append(TRADE_TYPE, bytemuck::bytes_of(&trade("BTC", 101.0, 3)));
    append(TRADE_TYPE, bytemuck::bytes_of(&trade("ETH", 50.0, 4)));
    append(BAR_TYPE, bytemuck::bytes_of(&bar(120_000, 3.0)));
    append(BAR_TYPE, bytemuck::bytes_of(&bar(180_000, 4.0)));
    drop(w);
    let mut out = s.bridge_out("MBAD");
    let mut inp = s.bridge_in("MBAD");
    wait_for(&s.b, 11, &mut [&mut out, &mut inp]);
    let log = inp.stop_log();
    out.stop();
    assert_eq!(counter(&log, "malformed"), 4, "{log}");
    assert_eq!(counter(&log, "slot writes"), 3, "{log}");
    assert_eq!(counter(&log, "bar writes"), 3, "{log}");
    assert_eq!(
        log.matches("journalled, not mirrored (malformed)").count(),
        4,
        "{log}"
    );
    assert!(
        log.contains("message 2: a Trade of 100 bytes (a Trade is 128)"),
        "{log}"
    );
    assert!(log.contains("message 3: a Trade whose symbol"), "{log}");
    assert!(
        log.contains("is older than the last stored candle"),
        "{log}"
    );
    // B's journal holds every message, the malformed ones too, byte for byte.
    let (mut ra, mut rb) = (
        JournalReader::open(&s.a, Start::Beginning).unwrap(),
        JournalReader::open(&s.b, Start::Beginning).unwrap(),
    );
    for i in 0..11 {
        let x = ra.next().unwrap().map(|m| (m.ty, m.payload.to_vec()));
        let y = rb.next().unwrap().map(|m| (m.ty, m.payload.to_vec()));
        assert!(x.is_some() && x == y, "message {i}");
    }
    let btc = cli_json(&["slot", "get", &s.b_slots, "BTC", "--json"]);
    assert_eq!(
        (
            btc["price"].as_f64(),
            btc["seq"].as_u64(),
            btc["timestamp"].as_u64()
        ),
        (Some(101.0), Some(4), Some(3))
    );
    let eth = cli_json(&["slot", "get", &s.b_slots, "ETH", "--json"]);
    assert_eq!(
        (
            eth["price"].as_f64(),
            eth["seq"].as_u64(),
            eth["volume"].as_i64()
        ),
        (Some(50.0), Some(2), Some(5))
    );
    let bars = cli_json(&["candles", "show", &s.b_candles, "BTC", "1m", "--json"]);
    let closes: Vec<_> = bars
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["timestamp"].as_u64().unwrap(),
                b["close"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(closes, [(120_000, 3.0), (180_000, 4.0)]);
}

#[test]
fn a_region_of_another_kind_is_a_clear_error() {
    let d = Dir::new("kind");
    let (b, table, region) = (d.name("B"), d.name("T"), d.name("C"));
    JournalWriter::builder(&b).ring(1 << 20).create().unwrap();
    assert!(
        shmbus(&["slot", "put", &table, "X", "--price", "1", "--create"])
            .status
            .success()
    );
    // The URL is never reached: the regions are checked first.
    let url = "nats://127.0.0.1:1";
    let err = |args: &[&str]| {
        let o = shmbus(args);
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr).trim_end().to_owned();
        assert_eq!(e.lines().count(), 1, "{e}");
        e
    };
    let e = err(&[
        "bridge", "in", &b, "--nats", url, "--stream", "S", "--slots", &b,
    ]);
    assert!(
        e.contains(&format!("--slots {b}: cannot open it as a slot table")),
        "{e}"
    );
    assert!(e.contains("journal"), "{e}");
    let e = err(&[
        "bridge",
        "in",
        &b,
        "--nats",
        url,
        "--stream",
        "S",
        "--candles",
        &table,
    ]);
    assert!(
        e.contains(&format!(
            "--candles {table}: cannot open it as a candle region"
        )),
        "{e}"
    );
    assert!(e.contains("is a slots region, not a candles region"), "{e}");
    // A table holding symbols the mirror did not write.
    let e = err(&[
        "bridge", "in", &b, "--nats", url, "--stream", "S", "--slots", &table,
    ]);
    assert!(e.contains("already holds 1 symbols"), "{e}");
    assert!(!Path::new(&region).exists());
}
