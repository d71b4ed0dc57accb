//! `shmbus bridge out|in` as real processes against a real nats-server (started by the test on
//! a free loopback port): A's journal -> NATS -> B's journal byte for byte, kill -9 of either
//! bridge at random points, a lapped ring's gap marker, bad input.
//!
//! `SHMBUS_BRIDGE_MESSAGES` sets the message count of the round trip (default 20000; the
//! `make test-bridge-long` target runs 1,000,000).

mod bridge_support;

use std::time::{Duration, Instant};

use bridge_support::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus_bridge::nats_server::NatsServer;

#[test]
fn round_trip_mixed_sizes_is_byte_for_byte() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("trip");
    let (a, b) = (d.name("A"), d.name("B"));
    let n = messages();
    let mut w = create_pair(&a, &b, 16 << 20);
    let seed = rand::random::<u64>();
    eprintln!("seed {seed}");
    let mut rng = SmallRng::seed_from_u64(seed);
    // Half before the bridges start, half while they run.
    write_mixed(&mut w, &mut rng, n / 2);
    let log = d.0.join("log");
    let mut out = Bridge::start_out(&out_args(&a, &url, "TRIP", "trip.a"), &log);
    let mut inb = Bridge::start(&in_args(&b, &url, "TRIP"), &log);
    write_mixed(&mut w, &mut rng, n - n / 2);
    let t = Instant::now();
    wait_for(
        &b,
        n,
        &mut [&mut out, &mut inb],
        Duration::from_secs(60 + n / 2000),
    );
    eprintln!(
        "{n} messages through in {:?} after the last append",
        t.elapsed()
    );
    let line = out.stop();
    assert!(line.contains(&format!("published {n},")), "{line}");
    let line = inb.stop();
    assert!(line.contains(&format!("stored {n},")), "{line}");
    assert_same(&a, &b);
    // Started again, both bridges find that everything is there: nothing sent twice.
    let out = Bridge::start_out(&out_args(&a, &url, "TRIP", "trip.a"), &log);
    let inb = Bridge::start(&in_args(&b, &url, "TRIP"), &log);
    std::thread::sleep(Duration::from_millis(700));
    assert!(out.stop().contains("published 0, duplicates 0"));
    assert!(inb.stop().contains("stored 0,"));
    assert_same(&a, &b);
}

#[test]
fn a_lapped_ring_sends_a_gap_marker_with_the_exact_range() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("gap");
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = JournalWriter::builder(&a).ring(16 << 10).create().unwrap();
    JournalWriter::builder(&b).ring(1 << 20).create().unwrap();
    for i in 0..10u64 {
        w.append(7, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    let log = d.0.join("log");
    let outa = out_args(&a, &url, "GAP", "gap.a");
    let mut out = Bridge::start_out(&outa, &log);
    let mut inp = Bridge::start(&in_args(&b, &url, "GAP"), &log);
    wait_for(&b, 10, &mut [&mut out, &mut inp], Duration::from_secs(30));
    out.stop();
    // While the bridge is down the ring laps it.
    for i in 10..2000u64 {
        w.append(7, &i.to_le_bytes()).unwrap();
        w.commit();
    }
    let oldest = JournalReader::open(&a, Start::Beginning)
        .unwrap()
        .next_seq();
    assert!(oldest > 10);
    let mut out = Bridge::start_out(&outa, &log);
    // 10 messages, one gap frame, then oldest..2000.
    let total = 10 + 1 + (2000 - oldest);
    wait_for(
        &b,
        total,
        &mut [&mut out, &mut inp],
        Duration::from_secs(30),
    );
    assert!(
        out.stop()
            .contains(&format!("gap markers 1 ({} messages lost)", oldest - 10))
    );
    assert!(inp.stop().contains("gap frames 1"));
    let mut rb = JournalReader::open(&b, Start::Beginning).unwrap();
    let mut want = (0..10).chain(oldest..2000);
    let mut gaps = 0;
    while let Some(m) = rb.next().unwrap() {
        if m.ty == shmbus_bridge::GAP_TYPE {
            let from = u64::from_le_bytes(m.payload[..8].try_into().unwrap());
            let to = u64::from_le_bytes(m.payload[8..16].try_into().unwrap());
            assert_eq!((from, to), (10, oldest - 1), "the exact range lost");
            gaps += 1;
            continue;
        }
        assert_eq!(m.ty, 7);
        assert_eq!(m.payload, want.next().unwrap().to_le_bytes());
    }
    assert_eq!(gaps, 1);
    assert!(want.next().is_none());
}

/// Messages the stream's age limit removed before `bridge in` read them are counted as skipped
/// (only the stream's own "no message found" says so); the rest are stored in order.
#[test]
fn messages_the_stream_expired_are_counted_and_the_rest_stored() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("expired");
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = create_pair(&a, &b, 1 << 20);
    let log = d.0.join("log");
    let mut args = out_args(&a, &url, "EXP", "exp.a");
    args.extend(["--max-age", "1"]);
    let mut out = Bridge::start_out(&args, &log);
    let wait_stream = |out: &mut Bridge, last: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.stream_range("EXP").map(|r| r.1) != Some(last) {
            out.alive();
            assert!(
                Instant::now() < deadline,
                "{:?}",
                server.stream_range("EXP")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    for i in 0..100u64 {
        w.append(7, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    wait_stream(&mut out, 100);
    // The first 100 expire (max age 1 s) before the next 50 are published.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.stream_range("EXP").map(|r| r.0) != Some(101) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            server.stream_range("EXP")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 100..150u64 {
        w.append(7, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    wait_stream(&mut out, 150);
    let mut inp = Bridge::start(&in_args(&b, &url, "EXP"), &log);
    wait_for(&b, 50, &mut [&mut out, &mut inp], Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    out.stop();
    let line = inp.stop();
    assert!(line.contains("stored 50,"), "{line}");
    assert!(line.contains("stream sequences skipped 100,"), "{line}");
    let mut rb = JournalReader::open(&b, Start::Beginning).unwrap();
    for i in 100..150u64 {
        let m = rb.next().unwrap().expect("50 messages");
        assert_eq!(m.ty, 7);
        assert_eq!(m.payload, i.to_le_bytes());
    }
    assert!(rb.next().unwrap().is_none());
}

#[test]
fn bad_input_gives_one_clear_line() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("bad");
    let a = d.name("A");
    JournalWriter::builder(&a).ring(1 << 16).create().unwrap();
    // Unreachable server, malformed URL.
    let dead = format!(
        "nats://127.0.0.1:{}",
        shmbus_bridge::nats_server::free_port()
    );
    let e = cli_error(&out_args(&a, &dead, "S", "s.a"));
    assert!(
        e.contains("cannot connect to NATS at") && e.contains(&dead),
        "{e}"
    );
    let e = cli_error(&in_args(&a, &dead, "S"));
    assert!(e.contains("cannot connect to NATS at"), "{e}");
    let e = cli_error(&out_args(&a, "nats://bad host:-1", "S", "s.a"));
    assert!(e.contains("cannot connect to NATS at"), "{e}");
    // A journal that does not exist, a region of another kind.
    let missing = d.name("missing");
    let e = cli_error(&out_args(&missing, &url, "S", "s.a"));
    assert!(e.contains("no region") && e.contains("missing"), "{e}");
    let e = cli_error(&in_args(&missing, &url, "S"));
    assert!(e.contains("no region") && e.contains("missing"), "{e}");
    // The journal is checked before the server is contacted (no stream is created for it).
    let e = cli_error(&out_args(&missing, &dead, "S", "s.a"));
    assert!(e.contains("no region"), "{e}");
    let e = cli_error(&in_args(&missing, &dead, "S"));
    assert!(e.contains("no region"), "{e}");
    let slots = d.name("slots");
    let o = shmbus(&["create", &slots, "--kind", "slots", "--size", "64K"]);
    assert!(o.status.success());
    let e = cli_error(&out_args(&slots, &url, "S", "s.a"));
    assert!(e.contains("not a journal region"), "{e}");
    let e = cli_error(&in_args(&slots, &url, "S"));
    assert!(e.contains("not a journal region"), "{e}");
    // A stream that does not exist (in), a stream with another subject (out).
    let e = cli_error(&in_args(&a, &url, "NOPE"));
    assert!(e.contains("no stream NOPE"), "{e}");
    let log = d.0.join("log");
    let mut out = Bridge::start_out(&out_args(&a, &url, "S", "s.a"), &log);
    std::thread::sleep(Duration::from_millis(500));
    out.alive();
    out.stop();
    let e = cli_error(&out_args(&a, &url, "S", "s.other"));
    assert!(
        e.contains("stream S exists with another configuration") && e.contains("s.other"),
        "{e}"
    );
    let mut args = out_args(&a, &url, "S", "s.a");
    args.extend(["--replicas", "3"]);
    let e = cli_error(&args);
    assert!(e.contains("replicas 1 (asked 3)"), "{e}");
}

#[test]
fn nats_server_killed_and_restarted_mid_stream_loses_nothing() {
    let mut server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("restart");
    let (a, b) = (d.name("A"), d.name("B"));
    let n = 10_000u64;
    let seed = rand::random::<u64>();
    eprintln!("seed {seed}");
    let w = create_pair(&a, &b, 4 << 20);
    let log = d.0.join("log");
    let out = Bridge::start_out(&out_args(&a, &url, "RS", "rs.a"), &log);
    let inp = Bridge::start(&in_args(&b, &url, "RS"), &log);
    let writer = paced_writer(w, seed, n);
    // Twice: kill -9 of the server mid-stream, down for a moment, started again on its store.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(600));
        server.kill();
        std::thread::sleep(Duration::from_millis(300));
        server.restart();
    }
    writer.join().unwrap();
    drain(&b, n, out, inp);
    assert_eq!(next_seq(&b), n);
    assert_same(&a, &b);
}

#[test]
fn a_ring_that_laps_a_running_bridge_becomes_a_gap_marker() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("lap");
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = JournalWriter::builder(&a).ring(16 << 10).create().unwrap();
    JournalWriter::builder(&b).ring(4 << 20).create().unwrap();
    let log = d.0.join("log");
    let mut args = out_args(&a, &url, "LAP", "lap.a");
    args.extend(["--window", "64"]);
    let mut out = Bridge::start_out(&args, &log);
    let mut inp = Bridge::start(&in_args(&b, &url, "LAP"), &log);
    for i in 0..100u64 {
        w.append_commit(7, &i.to_le_bytes()).unwrap();
    }
    wait_for(&b, 100, &mut [&mut out, &mut inp], Duration::from_secs(30));
    // The server stops answering: the bridge's window fills, it stops reading, and the ring
    // (about 500 of these frames) laps it.
    let pid = server.pid().unwrap() as i32;
    // SAFETY: kill(2) on the server we started (our child, not reaped).
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    for i in 100..3000u64 {
        w.append_commit(7, &i.to_le_bytes()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let oldest = JournalReader::open(&a, Start::Beginning)
        .unwrap()
        .next_seq();
    assert!(oldest > 200, "the ring lapped the bridge");
    // B: 0.., then gap frames covering exactly what it missed, up to 2999.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut expect, mut gaps, mut lost) = (0u64, 0, 0);
    let mut rb = JournalReader::open(&b, Start::Beginning).unwrap();
    while expect < 3000 {
        out.alive();
        inp.alive();
        assert!(Instant::now() < deadline, "B reached only {expect} of 3000");
        let Some(m) = rb.next().unwrap() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if m.ty == shmbus_bridge::GAP_TYPE {
            let from = u64::from_le_bytes(m.payload[..8].try_into().unwrap());
            let to = u64::from_le_bytes(m.payload[8..16].try_into().unwrap());
            assert_eq!(from, expect, "a gap starts where B stands");
            assert!(to >= from);
            gaps += 1;
            lost += to - from + 1;
            expect = to + 1;
        } else {
            assert_eq!(m.payload, expect.to_le_bytes(), "message {expect}");
            expect += 1;
        }
    }
    assert!(gaps >= 1);
    eprintln!("{gaps} gap markers, {lost} messages lost, oldest stored {oldest}");
    let line = out.stop();
    assert!(
        line.contains(&format!("gap markers {gaps} ({lost} messages lost)")),
        "{line}"
    );
    inp.stop();
}

#[test]
fn credentials_from_options_and_the_environment_and_clear_refusals() {
    const TOKEN: &str = "s3cret-token-for-the-bridge";
    let d = Dir::new("auth");
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = create_pair(&a, &b, 1 << 20);
    for i in 0..100u32 {
        w.append(7, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    let log = d.0.join("log");

    // A server that wants a token.
    let server = NatsServer::start_with(&["--auth", TOKEN]);
    let url = server.url();
    let out = out_args(&a, &url, "AUTH", "auth.a");
    let e = cli_error(&out);
    assert!(e.contains("the server refused no credentials"), "{e}");
    let e = cli_error_env(&out, &[("NATS_TOKEN", "wrong-token")]);
    assert!(e.contains("the server refused the token"), "{e}");
    assert!(
        !e.contains("wrong-token"),
        "the token is never printed: {e}"
    );
    // Right: the token from a file for out, from the environment for in.
    let token_file = d.0.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut with_file = out.clone();
    with_file.extend(["--token-file", token_file.to_str().unwrap()]);
    let bo = Bridge::start_out(&with_file, &log);
    let bi = Bridge::start_env(&in_args(&b, &url, "AUTH"), &log, &[("NATS_TOKEN", TOKEN)]);
    drain(&b, 100, bo, bi);
    assert_same(&a, &b);
    drop(server);

    // A server with users: the password only from the environment.
    let server = NatsServer::start_with(&["--user", "alice", "--pass", "wonderland"]);
    let url = server.url();
    let mut out = out_args(&a, &url, "USERS", "users.a");
    out.extend(["--user", "alice"]);
    let e = cli_error(&out);
    assert!(e.contains("NATS_PASSWORD"), "{e}");
    let e = cli_error_env(&out, &[("NATS_PASSWORD", "rabbit")]);
    assert!(
        e.contains("the server refused the user and password"),
        "{e}"
    );
    let e = cli_error_env(&out_args(&a, &url, "USERS", "users.a"), &[]);
    assert!(e.contains("refused no credentials"), "{e}");
    let good = [("NATS_PASSWORD", "wonderland")];
    let mut bo = Bridge::try_start_out_env(&out, &log, &good);
    bo.alive();
    // Only one kind of credentials at once.
    let mut both = out.clone();
    both.extend(["--token", "x"]);
    let o = shmbus_env(&both, &good);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    bo.stop();

    // A credentials file that is not one.
    let bogus = d.0.join("bogus.creds");
    std::fs::write(&bogus, "not a creds file").unwrap();
    let mut creds = out_args(&a, &url, "USERS", "users.a");
    creds.extend(["--creds", bogus.to_str().unwrap()]);
    let e = cli_error(&creds);
    assert!(e.contains("cannot read the NATS credentials file"), "{e}");
    let missing = d.0.join("missing.creds");
    let e = cli_error_env(
        &out_args(&a, &url, "USERS", "users.a"),
        &[("NATS_CREDS", missing.to_str().unwrap())],
    );
    assert!(e.contains("cannot read the NATS credentials file"), "{e}");
}
