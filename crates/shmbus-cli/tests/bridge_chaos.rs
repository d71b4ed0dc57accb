//! Hostile operations on `shmbus bridge out|in` (real processes, real nats-servers on loopback):
//! kill -9 of either bridge at random points, the server frozen by SIGSTOP, repeated kill -9 of a
//! cluster's stream leader, TLS with a private CA and client certificates, `.creds` against a
//! server in operator (JWT) mode, and the one-line errors of refused and unreachable servers.
//!
//! `SHMBUS_BRIDGE_KILLS` sets how many times each bridge is killed (default 6; `make
//! test-bridge-kills` runs 20); `SHMBUS_BRIDGE_SEED` replays a run (every test prints its seed).

mod bridge_support;

use std::time::{Duration, Instant};

use bridge_support::*;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use shmbus::journal::JournalWriter;
use shmbus_bridge::nats_server::{NatsCluster, NatsServer};

/// The run's seed: `SHMBUS_BRIDGE_SEED` or a random one, printed so that a failure can be
/// replayed.
fn seed() -> u64 {
    let seed = std::env::var("SHMBUS_BRIDGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("seed {seed} (replay with SHMBUS_BRIDGE_SEED={seed})");
    seed
}

fn kills() -> usize {
    std::env::var("SHMBUS_BRIDGE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

#[test]
fn kill_9_of_either_bridge_at_random_points_loses_nothing_and_stores_nothing_twice() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("kill");
    let (a, b) = (d.name("A"), d.name("B"));
    let k = kills();
    let n = (2500 * k as u64).max(20_000);
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    // Small segments: restarts resume in segments other than the first.
    let w = create_pair(&a, &b, 1 << 20);
    let log = d.0.join("log");
    let outa = out_args(&a, &url, "KILL", "kill.a");
    let inb = in_args(&b, &url, "KILL");
    let mut out = Bridge::start_out(&outa, &log);
    let mut inp = Bridge::start(&inb, &log);
    // k kills of each, in a random order, each after a random time (0 included: a bridge
    // killed while it connects, resumes or creates its consumer).
    let mut order: Vec<bool> = (0..2 * k).map(|i| i < k).collect();
    order.shuffle(&mut rng);
    // The writer appends all along (the kills take about 2k x 250 ms, it 4k x 170 ms).
    let writer = paced_writer_for(w, seed ^ 1, n, 4 * k as u64, Duration::from_millis(170));
    let mut at = Vec::new();
    for kill_out in order {
        std::thread::sleep(Duration::from_millis(rng.random_range(0..450)));
        at.push((if kill_out { "out" } else { "in" }, next_seq(&b)));
        if kill_out {
            out.alive();
            out.kill9();
            // Not waiting for it to start: the next kill may come before it is connected.
            out = Bridge::start(&outa, &log);
        } else {
            inp.alive();
            inp.kill9();
            inp = Bridge::start(&inb, &log);
        }
    }
    writer.join().unwrap();
    drain(&b, n, out, inp);
    eprintln!("killed each bridge {k} times, at (bridge, B's messages): {at:?}");
    assert_eq!(next_seq(&b), n);
    assert_same(&a, &b);
}

#[test]
fn a_server_frozen_by_sigstop_for_2_s_mid_stream_is_backpressure_not_loss() {
    let server = NatsServer::start();
    let url = server.url();
    let d = Dir::new("stop");
    let (a, b) = (d.name("A"), d.name("B"));
    let n = 20_000u64;
    let seed = seed();
    let w = create_pair(&a, &b, 4 << 20);
    let log = d.0.join("log");
    let mut out = Bridge::start_out(&out_args(&a, &url, "FROZEN", "frozen.a"), &log);
    let mut inp = Bridge::start(&in_args(&b, &url, "FROZEN"), &log);
    // 4 s of appends; the server is frozen for 2 s in the middle of them.
    let writer = paced_writer_for(w, seed, n, 40, Duration::from_millis(100));
    std::thread::sleep(Duration::from_millis(1000));
    let pid = server.pid().unwrap() as i32;
    // SAFETY: kill(2) on the server we started (our child, not reaped).
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // While it is frozen, B gets nothing (after what was in flight) and A keeps growing.
    std::thread::sleep(Duration::from_millis(200));
    let (b0, a0) = (next_seq(&b), next_seq(&a));
    std::thread::sleep(Duration::from_millis(1800));
    let (b1, a1) = (next_seq(&b), next_seq(&a));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    eprintln!("while frozen: A {a0} -> {a1}, B {b0} -> {b1}");
    assert_eq!(b0, b1, "B grew while the server was frozen");
    assert!(a1 > a0, "the writer went on");
    out.alive();
    inp.alive();
    writer.join().unwrap();
    wait_for(&b, n, &mut [&mut out, &mut inp], Duration::from_secs(60));
    let o = out.stop();
    let i = inp.stop();
    eprintln!("{o}\n{i}");
    // Every message published once and stored once: nothing lost, no gap.
    assert!(
        o.contains(&format!("published {n},")) && o.contains("gap markers 0"),
        "{o}"
    );
    assert!(i.contains(&format!("stored {n},")), "{i}");
    assert_same(&a, &b);
}

/// Starts `bridge out` on a fresh cluster: until JetStream has elected its meta leader,
/// creating the stream fails and the bridge says so and exits; this starts it again until not.
fn start_out_on_cluster(args: &[&str], log: &std::path::Path) -> Bridge {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut b = Bridge::try_start_out(args, log);
        if b.child.try_wait().unwrap().is_none() {
            return b;
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            Instant::now() < deadline,
            "bridge out never started:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

#[test]
fn a_3_server_cluster_loses_nothing_when_the_stream_leader_is_killed_3_times() {
    let mut cluster = NatsCluster::start(3);
    let url = cluster.url();
    let d = Dir::new("cluster");
    let (a, b) = (d.name("A"), d.name("B"));
    let n = 15_000u64;
    let seed = seed();
    let w = create_pair(&a, &b, 4 << 20);
    let log = d.0.join("log");
    let mut args = out_args(&a, &url, "CL", "cl.a");
    args.extend(["--replicas", "3"]);
    let mut out = start_out_on_cluster(&args, &log);
    let mut inp = Bridge::start(&in_args(&b, &url, "CL"), &log);
    // About 40 s of appends, across the kills (each failover takes 10-15 s: the publish ack
    // timeout, the election, the bridges' backoff).
    let writer = paced_writer_for(w, seed, n, 160, Duration::from_millis(250));
    // Three times: kill -9 of the stream's leader mid-stream (two of three remain, a quorum,
    // and elect another leader; the bridges' publishes and pulls fail meanwhile and are
    // retried), then the killed server is started again on its store and catches up.
    let mut killed = Vec::new();
    let t0 = Instant::now();
    for _ in 0..3 {
        // B moves before each kill: the bridges are through the previous failover.
        let before = next_seq(&b);
        wait_for(
            &b,
            (before + 500).min(n),
            &mut [&mut out, &mut inp],
            Duration::from_secs(60),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let leader = loop {
            if let Some(l) = cluster.stream_leader("CL") {
                break l;
            }
            assert!(Instant::now() < deadline, "the stream has no leader");
            std::thread::sleep(Duration::from_millis(100));
        };
        eprintln!(
            "{:.1?}: killing s{leader}, the stream's leader, with B at {}",
            t0.elapsed(),
            next_seq(&b)
        );
        cluster.servers[leader].kill();
        killed.push(leader);
        std::thread::sleep(Duration::from_millis(500));
        cluster.servers[leader].restart();
    }
    writer.join().unwrap();
    // The stream first (which bridge would be stuck), then B.
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.stream_last_seq("CL") != Some(n) {
        out.alive();
        assert!(
            Instant::now() < deadline,
            "the stream holds {:?} of {n} messages",
            cluster.stream_last_seq("CL")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{:.1?}: the stream holds all {n}", t0.elapsed());
    drain(&b, n, out, inp);
    eprintln!("{:.1?}: killed leaders {killed:?}", t0.elapsed());
    assert_eq!(next_seq(&b), n);
    assert_same(&a, &b);
}

/// A journal A with `n` small messages and an empty B, in `d`.
fn small_pair(d: &Dir, n: u32) -> (String, String) {
    let (a, b) = (d.name("A"), d.name("B"));
    let mut w = create_pair(&a, &b, 1 << 20);
    for i in 0..n {
        w.append(7, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    (a, b)
}

#[test]
fn tls_with_a_private_ca_and_client_certificates_and_clear_refusals() {
    let d = Dir::new("tls");
    let pki = bridge_support::tls::Pki::make(&d.0);
    let p = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let (ca, other_ca) = (p(&pki.ca), p(&pki.other_ca));
    let (cert, key) = (p(&pki.client.0), p(&pki.client.1));
    let (a, b) = small_pair(&d, 100);
    let log = d.0.join("log");

    // A TLS-only server (it does not verify clients).
    let server = NatsServer::start_with(&[
        "--tls",
        "--tlscert",
        &p(&pki.server.0),
        "--tlskey",
        &p(&pki.server.1),
    ]);
    let tls_url = format!("tls://127.0.0.1:{}", server.port);
    let plain_url = server.url();
    // Round trip: out by a tls:// URL, in by a nats:// URL that follows the server's demand.
    let mut out = out_args(&a, &tls_url, "TLS", "tls.a");
    out.extend(["--tls-ca", &ca]);
    let mut inp = in_args(&b, &plain_url, "TLS");
    inp.extend(["--tls-ca", &ca]);
    drain(
        &b,
        100,
        Bridge::start_out(&out, &log),
        Bridge::start(&inp, &log),
    );
    assert_same(&a, &b);
    // Not trusting the private CA: by either URL, for either command, or trusting another CA.
    for args in [
        out_args(&a, &tls_url, "TLS", "tls.a"),
        out_args(&a, &plain_url, "TLS", "tls.a"),
        in_args(&b, &plain_url, "TLS"),
    ] {
        let e = cli_error(&args);
        assert!(
            e.contains("cannot connect to NATS at")
                && e.contains("TLS certificate is signed by a CA this client does not trust")
                && e.contains("pass --tls-ca FILE"),
            "{e}"
        );
    }
    let mut wrong = out_args(&a, &tls_url, "TLS", "tls.a");
    wrong.extend(["--tls-ca", &other_ca]);
    let e = cli_error(&wrong);
    assert!(e.contains("does not trust"), "{e}");
    // Files that are not there or not PEM.
    let mut missing = out_args(&a, &tls_url, "TLS", "tls.a");
    let nothing = d.name("nothing.pem");
    missing.extend(["--tls-ca", &nothing]);
    let e = cli_error(&missing);
    assert!(
        e.contains("cannot read the TLS CA file") && e.contains("nothing.pem"),
        "{e}"
    );
    let mut not_pem = out_args(&a, &tls_url, "TLS", "tls.a");
    let log_path = p(&log);
    not_pem.extend(["--tls-ca", &ca, "--tls-cert", &log_path, "--tls-key", &key]);
    let e = cli_error(&not_pem);
    assert!(
        e.contains("the TLS client certificate file") && e.contains("no PEM"),
        "{e}"
    );
    drop(server);

    // A server that verifies clients: without a client certificate refused, with one through.
    let server = NatsServer::start_with(&[
        "--tlsverify",
        "--tlscert",
        &p(&pki.server.0),
        "--tlskey",
        &p(&pki.server.1),
        "--tlscacert",
        &ca,
    ]);
    let tls_url = format!("tls://127.0.0.1:{}", server.port);
    let mut out = out_args(&a, &tls_url, "MTLS", "mtls.a");
    out.extend(["--tls-ca", &ca]);
    let e = cli_error(&out);
    assert!(
        e.contains("the server wants a TLS client certificate")
            && e.contains("--tls-cert FILE --tls-key FILE"),
        "{e}"
    );
    let mut other = out.clone();
    let (ocert, okey) = (p(&pki.other_client.0), p(&pki.other_client.1));
    other.extend(["--tls-cert", &ocert, "--tls-key", &okey]);
    let e = cli_error(&other);
    assert!(
        e.contains("the server refused the TLS client certificate")
            && e.contains("other-client.pem"),
        "{e}"
    );
    out.extend(["--tls-cert", &cert, "--tls-key", &key]);
    let b2 = d.name("B2");
    JournalWriter::builder(&b2)
        .segment_size(1 << 20)
        .create()
        .unwrap();
    let mut inp = in_args(&b2, &tls_url, "MTLS");
    inp.extend(["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key]);
    drain(
        &b2,
        100,
        Bridge::start_out(&out, &log),
        Bridge::start(&inp, &log),
    );
    assert_same(&a, &b2);
    drop(server);

    // A tls:// URL (or a --tls-ca) against a server without TLS.
    let server = NatsServer::start();
    let e = cli_error(&out_args(
        &a,
        &format!("tls://127.0.0.1:{}", server.port),
        "PLAIN",
        "plain.a",
    ));
    assert!(
        e.contains("the TLS handshake failed") && e.contains("nats-server --tls"),
        "{e}"
    );
}

#[test]
fn creds_against_a_server_in_operator_jwt_mode() {
    let d = Dir::new("creds");
    let op = bridge_support::creds::Operator::make(&d.0);
    let server = NatsServer::start_with(&["-c", op.config.to_str().unwrap()]);
    let url = server.url();
    let (a, b) = small_pair(&d, 100);
    let log = d.0.join("log");
    let user = op.user.to_str().unwrap();
    // Round trip: out with --creds, in with NATS_CREDS.
    let mut out = out_args(&a, &url, "CREDS", "creds.a");
    out.extend(["--creds", user]);
    drain(
        &b,
        100,
        Bridge::start_out(&out, &log),
        Bridge::start_env(&in_args(&b, &url, "CREDS"), &log, &[("NATS_CREDS", user)]),
    );
    assert_same(&a, &b);
    // A user of an account the server does not know; no credentials at all.
    let mut stranger = out_args(&a, &url, "CREDS", "creds.a");
    stranger.extend(["--creds", op.stranger.to_str().unwrap()]);
    let e = cli_error(&stranger);
    assert!(
        e.contains("the server refused the credentials file") && e.contains("--creds"),
        "{e}"
    );
    let e = cli_error(&in_args(&b, &url, "CREDS"));
    assert!(e.contains("the server refused no credentials"), "{e}");
}

#[test]
fn refused_at_start_ends_the_command_and_lost_after_start_is_retried() {
    let d = Dir::new("fail");
    let (a, b) = small_pair(&d, 0);
    // Nothing listens there: each command ends with one line saying what to check.
    let dead = format!(
        "nats://127.0.0.1:{}",
        shmbus_bridge::nats_server::free_port()
    );
    for args in [out_args(&a, &dead, "F", "f.a"), in_args(&b, &dead, "F")] {
        let e = cli_error(&args);
        assert!(
            e.starts_with(&format!("cannot connect to NATS at {dead}: "))
                && e.contains("check the URL and that nats-server runs there"),
            "{e}"
        );
    }
    // Wrong credentials, for either command: one line naming what was refused.
    let server = NatsServer::start_with(&["--user", "alice", "--pass", "wonderland"]);
    let url = server.url();
    let wrong = [("NATS_USER", "alice"), ("NATS_PASSWORD", "rabbit")];
    for args in [out_args(&a, &url, "F", "f.a"), in_args(&b, &url, "F")] {
        let e = cli_error_env(&args, &wrong);
        assert!(
            e.contains("the server refused the user and password") && e.contains("check --token"),
            "{e}"
        );
    }
    drop(server);

    // Lost after start: the server is killed and stays down 3 s (several reconnect attempts);
    // both bridges wait, retry, and carry on when it is back.
    let mut server = NatsServer::start();
    let url = server.url();
    let seed = seed();
    let (a, b) = (d.name("A2"), d.name("B2"));
    let w = create_pair(&a, &b, 1 << 20);
    let log = d.0.join("log");
    let mut out = Bridge::start_out(&out_args(&a, &url, "LOST", "lost.a"), &log);
    let mut inp = Bridge::start(&in_args(&b, &url, "LOST"), &log);
    let n = 10_000u64;
    let writer = paced_writer_for(w, seed, n, 50, Duration::from_millis(100));
    std::thread::sleep(Duration::from_millis(800));
    server.kill();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(3) {
        out.alive();
        inp.alive();
        std::thread::sleep(Duration::from_millis(100));
    }
    server.restart();
    writer.join().unwrap();
    wait_for(&b, n, &mut [&mut out, &mut inp], Duration::from_secs(60));
    let o = out.stop();
    let i = inp.stop();
    eprintln!("{o}\n{i}");
    assert_same(&a, &b);
}
