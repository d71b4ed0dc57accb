//! The journal as a tokio `Stream` (feature `tokio`): many reader streams in one multi-threaded
//! runtime receive every message in order while the runtime stays free for other tasks, and a
//! stream waiting inside tokio wakes promptly when another process commits.
//!
//! The child writer is this test binary run again (`--exact child_entry --include-ignored`) with
//! a role in `SHMBUS_CHILD_ROLE`; see `common/mod.rs`. Every test runs under a watchdog.
#![cfg(feature = "tokio")]

mod common;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::journal::{Rng, is_valid, msg_type, payload_into};
use common::{ChildProc, ShmName, Watchdog, read_u32, say};
use futures_util::StreamExt;
use shmbus::ReadError;
use shmbus::journal::{JournalReader, JournalWriter, Start};

const TOTAL: u64 = 100_000;
const TASKS: usize = 32;
/// The writer stops committing this long halfway through: every stream waits meanwhile.
const PAUSE: Duration = Duration::from_millis(500);
const TICK: Duration = Duration::from_millis(10);
// Offset of the doorbell's waiter count in a journal file.
use shmbus::layout::journal::DOORBELL_WAITERS;

/// The tests of this file run one at a time (they share two cores).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
#[ignore = "entry point of the child processes the other tests spawn"]
fn child_entry() {
    let Ok(role) = std::env::var(common::ROLE_ENV) else {
        return;
    };
    let name = std::env::var(common::NAME_ENV).expect("the child's journal name");
    common::limit_child_lifetime();
    match role.as_str() {
        "commit-on-request" => commit_on_request(&name),
        other => panic!("unknown child role {other:?}"),
    }
}

/// Takes the journal over, says `READY`, then appends and commits one message per line its
/// parent sends; exits when stdin closes.
fn commit_on_request(name: &str) {
    let mut w = JournalWriter::open(name).expect("take the journal over");
    let lines = common::stdin_lines();
    say("READY");
    let mut buf = Vec::new();
    while lines.recv().is_ok() {
        let seq = w.next_seq();
        payload_into(seq, &mut buf);
        w.append_commit(msg_type(seq), &buf).expect("append");
    }
}

/// What one stream task saw.
#[derive(Debug, Default)]
struct Seen {
    messages: u64,
    lost: u64,
}

/// Reads `TOTAL` messages (or exactly reported losses) from a stream, checking each.
async fn read_stream(name: String, task: usize) -> Result<Seen, String> {
    let reader = JournalReader::open(&name, Start::Beginning).map_err(|e| e.to_string())?;
    let mut stream = reader.into_stream();
    let mut seen = Seen::default();
    let mut expected = 0u64;
    while expected < TOTAL {
        let item = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .map_err(|_| format!("task {task}: nothing for 20 s at seq {expected}"))?;
        match item {
            Some(Ok(m)) => {
                if m.seq != expected {
                    return Err(format!("task {task}: expected {expected}, got {}", m.seq));
                }
                if !is_valid(m.seq, m.ty, &m.payload) {
                    return Err(format!("task {task}: message {} is wrong", m.seq));
                }
                seen.messages += 1;
                expected += 1;
            }
            Some(Err(ReadError::Overrun {
                lost,
                expected_seq,
                resume_seq,
                ..
            })) => {
                if expected_seq != expected || resume_seq.checked_sub(expected) != Some(lost) {
                    return Err(format!("task {task}: inexact overrun"));
                }
                seen.lost += lost;
                expected = resume_seq;
            }
            Some(Err(e)) => return Err(format!("task {task}: {e}")),
            None => return Err(format!("task {task}: the stream ended")),
        }
    }
    if stream.reader().next_seq() != TOTAL {
        return Err(format!(
            "task {task}: reader at {}",
            stream.reader().next_seq()
        ));
    }
    Ok(seen)
}

/// Appends `TOTAL` messages in batches of 1..200, sleeping a little between batches (so that
/// readers wait often) and for [`PAUSE`] halfway; returns when the pause began.
fn paced_writer(mut w: JournalWriter) -> Instant {
    let mut rng = Rng::new(42);
    let mut buf = Vec::new();
    let mut seq = 0;
    let mut paused = None;
    while seq < TOTAL {
        let n = rng.range(1, 200).min(TOTAL - seq);
        for _ in 0..n {
            payload_into(seq, &mut buf);
            w.append(msg_type(seq), &buf).expect("append");
            seq += 1;
        }
        w.commit();
        if paused.is_none() && seq >= TOTAL / 2 {
            paused = Some(Instant::now());
            std::thread::sleep(PAUSE);
        } else if rng.chance(1, 4) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    paused.expect("the writer paused")
}

/// A multi-threaded runtime with 4 workers.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn many_streams_in_one_runtime_get_every_message_and_leave_it_free() {
    let _serial = serial();
    let _dog = Watchdog::new("many_streams_in_one_runtime", Duration::from_secs(50));
    runtime().block_on(many_streams());
}

async fn many_streams() {
    let shm = ShmName::new("streams");
    // 32 MiB holds all 100 000 messages: no stream may be lapped.
    let w = JournalWriter::builder(&shm.name)
        .ring(32 << 20)
        .create()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let ticker = {
        let (stop, ticks) = (stop.clone(), ticks.clone());
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            // A late tick is not made up for: gaps in the ticks are time the runtime was busy.
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                interval.tick().await;
                ticks.lock().unwrap().push(Instant::now());
            }
        })
    };
    let readers: Vec<_> = (0..TASKS)
        .map(|i| tokio::spawn(read_stream(shm.name.clone(), i)))
        .collect();
    // Let every stream reach its first wait before anything is written.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let writer = std::thread::spawn(move || paced_writer(w));
    let all = tokio::time::timeout(
        Duration::from_secs(40),
        futures_util::future::join_all(readers),
    )
    .await
    .expect("the streams did not finish within 40 s");
    let elapsed = start.elapsed();
    let pause = writer.join().expect("the writer thread");
    stop.store(true, Ordering::Relaxed);
    ticker.await.unwrap();
    for (i, r) in all.into_iter().enumerate() {
        let seen = r
            .expect("a reader task panicked")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((seen.messages, seen.lost), (TOTAL, 0), "task {i}");
    }
    // The runtime stayed free: the ticker kept ticking while the streams worked through their
    // backlog and while all 32 of them waited through the writer's pause.
    let ticks = ticks.lock().unwrap();
    let during_pause = ticks
        .iter()
        .filter(|t| **t > pause && **t < pause + PAUSE)
        .count();
    let max_gap = ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    eprintln!(
        "{TASKS} streams x {TOTAL} messages in {elapsed:?}; {} ticks, {during_pause} during the \
         pause, longest gap {max_gap:?}",
        ticks.len()
    );
    let expected = (elapsed.as_millis() / TICK.as_millis()) as usize;
    assert!(
        ticks.len() >= expected / 2,
        "the ticker ticked {} times in {elapsed:?}: the runtime was blocked",
        ticks.len()
    );
    // A stream with a backlog is always ready; it must still yield now and then.
    assert!(
        max_gap < Duration::from_millis(150),
        "the ticker stood still for {max_gap:?}: busy streams starved the runtime"
    );
    assert!(
        during_pause >= 25,
        "only {during_pause} ticks while the streams waited {PAUSE:?}: they blocked the runtime"
    );
}

#[test]
fn a_stream_wakes_promptly_on_a_commit_from_another_process() {
    let _serial = serial();
    let _dog = Watchdog::new("a_stream_wakes_promptly", Duration::from_secs(30));
    runtime().block_on(stream_wakes());
}

async fn stream_wakes() {
    let shm = ShmName::new("stream-wake");
    drop(
        JournalWriter::builder(&shm.name)
            .ring(1 << 20)
            .create()
            .unwrap(),
    );
    let mut child = ChildProc::spawn("commit-on-request", &shm.name, &[]);
    child.expect("READY", Duration::from_secs(20));
    let mut stream = JournalReader::open(&shm.name, Start::End)
        .unwrap()
        .into_stream();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let m = item.expect("a message");
            assert!(is_valid(m.seq, m.ty, &m.payload));
            if tx.send((m.seq, Instant::now())).is_err() {
                break;
            }
        }
    });
    let mut latencies = Vec::new();
    for round in 0..10u64 {
        // Wait until the stream's waiting thread sleeps on the doorbell's futex.
        let deadline = Instant::now() + Duration::from_secs(5);
        while read_u32(shm.path(), DOORBELL_WAITERS) == 0 {
            assert!(
                Instant::now() < deadline,
                "round {round}: the stream never slept"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let sent = Instant::now();
        child.send("commit");
        let (seq, at) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("round {round}: no message within 5 s"))
            .expect("the stream task is alive");
        assert_eq!(seq, round, "round {round}");
        let latency = at - sent;
        assert!(
            latency < Duration::from_secs(1),
            "round {round}: woke after {latency:?}"
        );
        latencies.push(latency);
    }
    latencies.sort();
    eprintln!("stream wake-up latencies: {latencies:?}");
    // Without the futex the stream would only notice at its 100 ms poll (half of that on
    // average); woken by the commit it takes well under a millisecond.
    assert!(
        latencies[latencies.len() / 2] < Duration::from_millis(50),
        "median wake-up {:?}",
        latencies[latencies.len() / 2]
    );
    child.close_stdin();
    assert!(child.wait_exit(Duration::from_secs(10)).is_some());
    task.abort();
}
