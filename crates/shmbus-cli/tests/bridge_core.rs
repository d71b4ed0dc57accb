//! `shmbus bridge out|in --core` (plain NATS subjects) as real processes against a real
//! nats-server on a free loopback port: a round trip equals A exactly when nothing is lost, and
//! what a server restart loses is written as gap frames covering exactly what B lacks.

mod bridge_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bridge_support::{Bridge, Dir, mixed_len, next_seq, shmbus};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus_bridge::GAP_TYPE;
use shmbus_bridge::nats_server::NatsServer;

/// Starts `shmbus bridge KIND JOURNAL --nats URL --core --subject SUBJECT [extra]` (its log
/// `JOURNAL.KIND.log`, appended to across restarts) and waits for its new start line.
fn start(kind: &str, journal: &str, url: &str, subject: &str, extra: &[&str]) -> Bridge {
    let log = PathBuf::from(format!("{journal}.{kind}.log"));
    let want = if kind == "out" {
        " -> subject "
    } else {
        " (core NATS) -> "
    };
    let starts = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches(want)
            .count()
    };
    let before = starts();
    let mut args = vec![
        "bridge",
        kind,
        journal,
        "--nats",
        url,
        "--core",
        "--subject",
        subject,
    ];
    args.extend_from_slice(extra);
    let mut b = Bridge::start(&args, &log);
    let deadline = Instant::now() + Duration::from_secs(20);
    while starts() == before {
        b.alive();
        assert!(Instant::now() < deadline, "bridge {kind} did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    b
}

/// Appends `bursts` bursts of `per` mixed-size messages, `pause` apart (on a thread).
fn writer(
    mut w: JournalWriter,
    seed: u64,
    bursts: u64,
    per: u64,
    pause: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut buf = vec![0u8; 65536];
        for _ in 0..bursts {
            for _ in 0..per {
                let len = mixed_len(&mut rng);
                rng.fill(&mut buf[..len]);
                w.append(rng.random_range(0..1000u16), &buf[..len]).unwrap();
            }
            w.commit();
            std::thread::sleep(pause);
        }
    })
}

/// B's frames read against A's messages: each message frame must be A's next message (type and
/// payload), each gap frame must start exactly there. Returns (A's sequences covered, message
/// frames, gap frames, sequences the gaps cover).
fn cover(a: &str, b: &str) -> (u64, u64, u64, u64) {
    let mut ra = JournalReader::open(a, Start::Beginning).unwrap();
    let mut rb = JournalReader::open(b, Start::Beginning).unwrap();
    let (mut next, mut msgs, mut gaps, mut lost) = (0u64, 0u64, 0u64, 0u64);
    while let Some(m) = rb.next().unwrap() {
        if m.ty == GAP_TYPE {
            let from = u64::from_le_bytes(m.payload[..8].try_into().unwrap());
            let to = u64::from_le_bytes(m.payload[8..16].try_into().unwrap());
            assert_eq!(
                from, next,
                "B's frame {}: a gap must start where B stands",
                m.seq
            );
            assert!(to >= from);
            for _ in from..=to {
                ra.next().unwrap().expect("a gap inside A's range");
            }
            next = to + 1;
            gaps += 1;
            lost += to + 1 - from;
        } else {
            let x = ra.next().unwrap().expect("B holds more than A");
            assert_eq!(x.seq, next);
            assert!(
                (x.ty, x.payload) == (m.ty, m.payload),
                "B's frame {} is not A's message {next}",
                m.seq
            );
            next += 1;
            msgs += 1;
        }
    }
    (next, msgs, gaps, lost)
}

/// Waits until B covers A's first `n` sequences (messages and gaps).
fn wait_cover(a: &str, b: &str, n: u64, bridges: &mut [&mut Bridge]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while cover(a, b).0 < n {
        for x in bridges.iter_mut() {
            x.alive();
        }
        assert!(
            Instant::now() < deadline,
            "B covers {} of A's {n} sequences after 60 s",
            cover(a, b).0
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pair(d: &Dir) -> (String, String, JournalWriter) {
    let (a, b) = (d.name("A"), d.name("B"));
    let w = JournalWriter::builder(&a)
        .segment_size(4 << 20)
        .create()
        .unwrap();
    JournalWriter::builder(&b)
        .segment_size(4 << 20)
        .create()
        .unwrap();
    (a, b, w)
}

#[test]
fn core_round_trip_of_mixed_sizes_equals_a_when_nothing_is_lost() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("rt");
    let (a, b, w) = pair(&d);
    let seed = rand::random::<u64>();
    eprintln!("seed {seed}");
    let subject = format!("core.rt.{}", std::process::id());
    let mut inp = start("in", &b, &url, &subject, &[]);
    let mut out = start("out", &a, &url, &subject, &[]);
    let n = 20 * 250;
    writer(w, seed, 20, 250, Duration::from_millis(20))
        .join()
        .unwrap();
    wait_cover(&a, &b, n, &mut [&mut out, &mut inp]);
    let o = out.stop();
    let i = inp.stop();
    eprintln!("{o}\n{i}");
    assert_eq!(cover(&a, &b), (n, n, 0, 0), "B equals A, no gap");
    assert_eq!(next_seq(&b), n);
    assert!(o.contains(&format!("published {n}, ")), "{o}");
    assert!(
        i.contains(&format!("stored {n}, gap frames 0 (0 messages lost)")),
        "{i}"
    );
}

#[test]
fn core_nats_restart_mid_stream_becomes_gap_frames_covering_exactly_what_b_lacks() {
    let mut server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("restart");
    let (a, b, w) = pair(&d);
    let seed = rand::random::<u64>();
    eprintln!("seed {seed}");
    let subject = format!("core.rs.{}", std::process::id());
    let mut inp = start("in", &b, &url, &subject, &[]);
    let mut out = start("out", &a, &url, &subject, &[]);
    // About 2,000 msg/s for 4 s.
    let wr = writer(w, seed, 80, 100, Duration::from_millis(50));
    std::thread::sleep(Duration::from_millis(500));
    // 1: the server dies and comes back while `bridge in` is stopped, so it resubscribes only
    // after `bridge out` has published on the new server for a second: those are lost for sure.
    server.kill();
    inp.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    std::thread::sleep(Duration::from_millis(1000));
    inp.signal(libc::SIGCONT);
    // 2: a plain restart (it may or may not lose messages).
    std::thread::sleep(Duration::from_millis(500));
    server.kill();
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    wr.join().unwrap();
    let n = next_seq(&a);
    assert_eq!(n, 8000);
    wait_cover(&a, &b, n, &mut [&mut out, &mut inp]);
    let o = out.stop();
    let i = inp.stop();
    eprintln!("{o}\n{i}");
    let (covered, msgs, gaps, lost) = cover(&a, &b);
    assert_eq!(covered, n);
    assert_eq!(msgs + lost, n, "B's messages + gaps = A's sequence range");
    assert!(gaps >= 1 && lost >= 1, "the first restart lost messages");
    assert!(
        i.contains(&format!(
            "stored {msgs}, gap frames {gaps} ({lost} messages lost)"
        )),
        "{i}"
    );
}

#[test]
fn core_lapped_ring_and_restarts_are_gap_frames_with_the_exact_range() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("gap");
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = JournalWriter::builder(&a).ring(16 << 10).create().unwrap();
    JournalWriter::builder(&b).ring(1 << 20).create().unwrap();
    let subject = format!("core.gap.{}", std::process::id());
    for i in 0..10u64 {
        w.append(7, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    let mut inp = start("in", &b, &url, &subject, &[]);
    let mut out = start("out", &a, &url, &subject, &[]);
    wait_cover(&a, &b, 10, &mut [&mut out, &mut inp]);
    out.stop();
    // While `bridge out` is down the ring laps it; it starts again where it stood (--from 10),
    // which the ring no longer holds: a gap marker with the exact range, then the rest.
    for i in 10..2000u64 {
        w.append(7, &i.to_le_bytes()).unwrap();
        w.commit();
    }
    let oldest = JournalReader::open(&a, Start::Beginning)
        .unwrap()
        .next_seq();
    assert!(oldest > 10);
    let mut out = start("out", &a, &url, &subject, &["--from", "10"]);
    let total = 10 + 1 + (2000 - oldest);
    let deadline = Instant::now() + Duration::from_secs(30);
    while next_seq(&b) < total {
        out.alive();
        inp.alive();
        assert!(Instant::now() < deadline, "B holds {}", next_seq(&b));
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = out.stop();
    assert!(
        o.contains(&format!("gap markers 1 ({} messages lost)", oldest - 10)),
        "{o}"
    );
    // `bridge in` restarted misses what is published meanwhile: its state file says where it
    // stood, so the next message it sees becomes a gap frame for exactly those.
    inp.stop();
    let mut out = start("out", &a, &url, &subject, &["--from", "end"]);
    for i in 2000..2100u64 {
        w.append(7, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    std::thread::sleep(Duration::from_millis(300));
    let mut inp = start("in", &b, &url, &subject, &[]);
    for i in 2100..2110u64 {
        w.append(7, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    let total = total + 1 + 10;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next_seq(&b) < total {
        out.alive();
        inp.alive();
        assert!(Instant::now() < deadline, "B holds {}", next_seq(&b));
        std::thread::sleep(Duration::from_millis(20));
    }
    out.stop();
    let i = inp.stop();
    assert!(
        i.contains("stored 10, gap frames 1 (100 messages lost)"),
        "{i}"
    );
    let mut rb = JournalReader::open(&b, Start::Beginning).unwrap();
    let mut want = (0..10).chain(oldest..2000).chain(2100..2110);
    let mut gaps = Vec::new();
    while let Some(m) = rb.next().unwrap() {
        if m.ty == GAP_TYPE {
            let from = u64::from_le_bytes(m.payload[..8].try_into().unwrap());
            let to = u64::from_le_bytes(m.payload[8..16].try_into().unwrap());
            gaps.push((from, to));
            continue;
        }
        assert_eq!(m.ty, 7);
        assert_eq!(m.payload, want.next().unwrap().to_le_bytes());
    }
    assert_eq!(
        gaps,
        [(10, oldest - 1), (2000, 2099)],
        "the exact ranges lost"
    );
    assert!(want.next().is_none());
}

#[test]
fn core_options_that_need_a_stream_are_refused() {
    let run = |args: &[&str]| {
        let o = shmbus(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let u = "nats://127.0.0.1:1";
    let e = run(&[
        "bridge",
        "out",
        "x",
        "--nats",
        u,
        "--core",
        "--subject",
        "s",
        "--stream",
        "S",
    ]);
    assert!(e.contains("--stream"), "{e}");
    let e = run(&["bridge", "in", "x", "--nats", u, "--core"]);
    assert!(e.contains("--subject"), "{e}");
    let e = run(&[
        "bridge",
        "in",
        "x",
        "--nats",
        u,
        "--subject",
        "s",
        "--stream",
        "S",
    ]);
    assert!(e.contains("--core"), "{e}");
}
