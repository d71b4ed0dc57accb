//! Shared by the bridge tests (tests/bridge*.rs): the `shmbus` binary as a
//! child process, bridge processes killed when dropped, temporary directories, mixed-size
//! journals and the byte-for-byte comparison of two journals.

// Each test file uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shmbus::journal::{JournalReader, JournalWriter, Start};

pub mod creds;
pub mod tls;

pub fn shmbus(args: &[&str]) -> Output {
    shmbus_env(args, &[])
}

/// `shmbus` with these environment variables set (and no NATS_* inherited).
pub fn shmbus_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(args)
        .env_remove("NATS_TOKEN")
        .env_remove("NATS_USER")
        .env_remove("NATS_PASSWORD")
        .env_remove("NATS_CREDS")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run shmbus")
}

/// The one-line error of a failed run.
pub fn cli_error(args: &[&str]) -> String {
    cli_error_env(args, &[])
}

/// The one-line error of a failed run with these environment variables.
pub fn cli_error_env(args: &[&str], envs: &[(&str, &str)]) -> String {
    let o = shmbus_env(args, envs);
    assert!(!o.status.success(), "shmbus {args:?} succeeded");
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    assert!(!e.contains("panicked"), "{e}");
    // Shown with --nocapture, for reviewing the wording.
    eprintln!(
        "shmbus {}: {}",
        args[..2.min(args.len())].join(" "),
        e.trim_end()
    );
    e.trim_end()
        .strip_prefix("shmbus: error: ")
        .unwrap_or_else(|| panic!("an error line: {e}"))
        .to_owned()
}

/// A temporary directory for the test's journals, removed when dropped.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "shmbus-bridge-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }

    pub fn name(&self, n: &str) -> String {
        self.0.join(n).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bridge (or other `shmbus`) process, killed when dropped; its stderr goes to a file shown
/// on failure.
pub struct Bridge {
    pub child: Child,
    pub log: PathBuf,
    /// "out" or "in" (the second argument).
    pub kind: String,
    /// The command, for messages: `shmbus` and its first two arguments.
    pub what: String,
}

impl Bridge {
    /// Starts `bridge out` and waits until it says where it starts (its stream exists then).
    pub fn start_out(args: &[&str], log: &Path) -> Self {
        let mut b = Self::try_start_out(args, log);
        b.alive();
        b
    }

    /// As `start_out`, but it may have exited (with an error) when this returns.
    pub fn try_start_out(args: &[&str], log: &Path) -> Self {
        Self::try_start_out_env(args, log, &[])
    }

    /// As `try_start_out`, with these environment variables.
    pub fn try_start_out_env(args: &[&str], log: &Path, envs: &[(&str, &str)]) -> Self {
        let started = || {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .matches(" -> stream ")
                .count()
        };
        let before = started();
        let mut b = Self::start_env(args, log, envs);
        let deadline = Instant::now() + Duration::from_secs(20);
        while started() == before && b.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "bridge out did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        b
    }

    pub fn start(args: &[&str], log: &Path) -> Self {
        Self::start_env(args, log, &[])
    }

    /// As `start`, with these environment variables.
    pub fn start_env(args: &[&str], log: &Path, envs: &[(&str, &str)]) -> Self {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_shmbus"))
            .args(args)
            .env_remove("NATS_TOKEN")
            .env_remove("NATS_USER")
            .env_remove("NATS_PASSWORD")
            .env_remove("NATS_CREDS")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .unwrap();
        Self {
            child,
            log: log.to_owned(),
            kind: args.get(1).copied().unwrap_or_default().to_owned(),
            what: format!("shmbus {}", args[..2.min(args.len())].join(" ")),
        }
    }

    /// Its log so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn alive(&mut self) {
        if let Ok(Some(s)) = self.child.try_wait() {
            panic!("{} exited ({s}):\n{}", self.what, self.text());
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid (not yet reaped, so not reused).
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits (30 s at most) for the newest line of its log that satisfies `ok`; returns it.
    pub fn wait_line(&mut self, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.text().lines().rev().find(|l| ok(l)) {
                return l.to_owned();
            }
            self.alive();
            assert!(
                Instant::now() < deadline,
                "no such line in:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; waits for a clean exit and returns its whole log.
    pub fn stop_log(mut self) -> String {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().unwrap();
        let log = self.text();
        assert!(
            status.success(),
            "{} did not stop cleanly ({status}):\n{log}",
            self.what
        );
        log
    }

    /// SIGTERM; waits for a clean exit and returns its last "stopped" line.
    pub fn stop(self) -> String {
        let tag = format!("shmbus bridge {}: stopped: ", self.kind);
        let log = self.stop_log();
        log.lines()
            .rev()
            .find(|l| l.starts_with(&tag))
            .unwrap_or_else(|| panic!("no {tag:?} line in:\n{log}"))
            .to_owned()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // A stopped (SIGSTOP) child must be continued to die of SIGKILL promptly everywhere.
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn out_args<'a>(a: &'a str, url: &'a str, stream: &'a str, subject: &'a str) -> Vec<&'a str> {
    vec![
        "bridge",
        "out",
        a,
        "--nats",
        url,
        "--stream",
        stream,
        "--subject",
        subject,
    ]
}

pub fn in_args<'a>(b: &'a str, url: &'a str, stream: &'a str) -> Vec<&'a str> {
    vec!["bridge", "in", b, "--nats", url, "--stream", stream]
}

/// A payload length: mostly small, some up to 4 KiB, a few up to 64 KiB, and empty ones.
pub fn mixed_len(rng: &mut SmallRng) -> usize {
    match rng.random_range(0..100) {
        0..5 => 0,
        5..85 => rng.random_range(1..256),
        85..99 => rng.random_range(256..4096),
        _ => rng.random_range(4096..=65536),
    }
}

pub fn write_mixed(w: &mut JournalWriter, rng: &mut SmallRng, n: u64) {
    let mut buf = vec![0u8; 65536];
    for _ in 0..n {
        let len = mixed_len(rng);
        rng.fill(&mut buf[..len]);
        let ty = rng.random_range(0..1000u16);
        w.append(ty, &buf[..len]).unwrap();
        if rng.random_range(0..16) == 0 {
            w.commit();
        }
    }
    w.commit();
}

/// Journals A (its writer returned) and B (created empty for `bridge in`), in segments of `segment`
/// bytes.
pub fn create_pair(a: &str, b: &str, segment: u64) -> JournalWriter {
    let w = JournalWriter::builder(a)
        .segment_size(segment)
        .create()
        .unwrap();
    JournalWriter::builder(b)
        .segment_size(segment)
        .create()
        .unwrap();
    w
}

/// Appends `n` mixed-size messages to A in 20 bursts 100 ms apart, on a thread.
pub fn paced_writer(w: JournalWriter, seed: u64, n: u64) -> std::thread::JoinHandle<()> {
    paced_writer_for(w, seed, n, 20, Duration::from_millis(100))
}

/// Appends `n` mixed-size messages to A in `bursts` bursts `pause` apart, on a thread (the
/// last burst takes the remainder).
pub fn paced_writer_for(
    mut w: JournalWriter,
    seed: u64,
    n: u64,
    bursts: u64,
    pause: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut rng = SmallRng::seed_from_u64(seed);
        for i in 0..bursts {
            let k = if i + 1 == bursts {
                n - n / bursts * i
            } else {
                n / bursts
            };
            write_mixed(&mut w, &mut rng, k);
            std::thread::sleep(pause);
        }
    })
}

/// Waits until B holds `n` messages, then stops both bridges, printing their stop lines.
pub fn drain(b: &str, n: u64, mut out: Bridge, mut inp: Bridge) {
    wait_for(b, n, &mut [&mut out, &mut inp], Duration::from_secs(60));
    let o = out.stop();
    let i = inp.stop();
    eprintln!("{o}\n{i}");
}

pub fn next_seq(name: &str) -> u64 {
    JournalReader::open(name, Start::End).unwrap().next_seq()
}

/// Waits until journal `b` holds `n` messages, checking that the bridges stay alive.
pub fn wait_for(b: &str, n: u64, bridges: &mut [&mut Bridge], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if next_seq(b) >= n {
            return;
        }
        for x in bridges.iter_mut() {
            x.alive();
        }
        if Instant::now() >= deadline {
            // The bridges' logs (their last lines) say what they were doing.
            let logs: std::collections::BTreeSet<_> = bridges.iter().map(|x| &x.log).collect();
            let text: String = logs
                .iter()
                .map(|l| std::fs::read_to_string(l).unwrap_or_default())
                .collect();
            let tail: Vec<_> = text.lines().rev().take(40).collect();
            panic!(
                "{b} holds {} of {n} messages after {limit:?}; the bridges logged last:\n{}",
                next_seq(b),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// B holds exactly A's frames: same sequences, types and payloads, in order.
pub fn assert_same(a: &str, b: &str) {
    let mut ra = JournalReader::open(a, Start::Beginning).unwrap();
    let mut rb = JournalReader::open(b, Start::Beginning).unwrap();
    let mut n = 0u64;
    loop {
        let ma = ra
            .next()
            .unwrap()
            .map(|m| (m.seq, m.ty, m.payload.to_vec()));
        let mb = rb
            .next()
            .unwrap()
            .map(|m| (m.seq, m.ty, m.payload.to_vec()));
        match (ma, mb) {
            (None, None) => break,
            (Some(x), Some(y)) => assert!(
                x == y,
                "message {n} differs: A {:?} B {:?}",
                (x.0, x.1, x.2.len()),
                (y.0, y.1, y.2.len())
            ),
            (x, y) => panic!(
                "message {n}: A has {:?}, B has {:?}",
                x.map(|m| m.0),
                y.map(|m| m.0)
            ),
        }
        n += 1;
    }
    assert!(n > 0);
}

pub fn messages() -> u64 {
    std::env::var("SHMBUS_BRIDGE_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}
