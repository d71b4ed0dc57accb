//! The other processes of the benchmark (this binary re-executed with a hidden subcommand):
//! the journal writer, the transport-floor WebSocket servers (one client; many clients; woken
//! across processes), the bumper that wakes the latter, the Redis publisher and the
//! Redis-to-WebSocket relay. Every sender paces itself with [`pace`], so all paths carry the
//! same messages at the same rate.

use std::io::{BufRead, Write};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use futures_util::{SinkExt, StreamExt};
use shmbus::journal::{JournalWriter, Message as JournalMessage};
use shmbus::{TRADE_TYPE, Trade};

/// Nanoseconds since the Unix epoch (the clock of a `Trade`'s `timestamp_ns`).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The benchmark's trade number `i`, stamped `ts`.
pub fn trade(i: u64, ts: u64) -> Trade {
    let side = u8::from(i % 2 == 1);
    Trade::new(
        ts,
        "BTCUSD",
        "SIM",
        97_000.5 + (i % 100) as f64,
        1.0 + (i % 7) as f64,
        side,
        &i.to_string(),
    )
}

/// Calls `emit(i)` for `i` in `0..count`, the i-th not before `i / rate` seconds after the
/// start (`rate` 0: as fast as `emit` goes). Between messages it sleeps, so a paced sender
/// takes little cpu; a sleep overshoots by tens of µs, after which the messages due are sent
/// back to back (each stamped when it is sent).
pub fn pace(rate: f64, count: u64, mut emit: impl FnMut(u64) -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    let mut i = 0;
    while i < count {
        if rate > 0.0 {
            let at = Duration::from_secs_f64(i as f64 / rate);
            let now = start.elapsed();
            if now < at {
                std::thread::sleep(at - now);
                continue;
            }
        }
        emit(i)?;
        i += 1;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// A ready-made text frame the size of the gateway's JSON frame for the benchmark's trade
/// (subscription `sub`), with fixed-width places for the sequence and the timestamp, patched
/// in at send time (right-aligned numbers padded with spaces: still JSON).
#[derive(Debug, Clone)]
pub struct Template {
    text: Vec<u8>,
    seq_at: usize,
    seq_width: usize,
    ts_at: Vec<usize>,
}

/// Digits of a timestamp in ns since the epoch (until 2286).
const TS_WIDTH: usize = 19;

impl Template {
    /// The frame for messages numbered up to `count`.
    pub fn new(sub: &str, count: u64) -> Self {
        let last = count.saturating_sub(1);
        const TS: u64 = 1_234_567_890_123_456_789;
        let t = trade(last, TS);
        let body = shmbus_gateway::json::message_json(&JournalMessage {
            seq: last,
            ty: TRADE_TYPE,
            position: 0,
            payload: bytemuck::bytes_of(&t),
        })
        .to_string();
        let text = format!("{{\"sub\":{},{}", serde_json::json!(sub), &body[1..]);
        let seq_key = "\"seq\":";
        let seq_at = text.find(seq_key).expect("the frame has a seq") + seq_key.len();
        let seq_width = last.to_string().len();
        let ts_at = text
            .match_indices(&TS.to_string())
            .map(|(at, _)| at)
            .collect();
        Self {
            text: text.into_bytes(),
            seq_at,
            seq_width,
            ts_at,
        }
    }

    /// Bytes of every frame.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// The frame of message `seq` stamped `ts`.
    pub fn render(&self, seq: u64, ts: u64) -> String {
        let mut t = self.text.clone();
        put(&mut t[self.seq_at..self.seq_at + self.seq_width], seq);
        for &at in &self.ts_at {
            put(&mut t[at..at + TS_WIDTH], ts);
        }
        String::from_utf8(t).expect("digits and spaces in a UTF-8 frame")
    }
}

/// A ready-made binary frame the size of the gateway's binary frame for the benchmark's trade
/// (docs/GATEWAY.md: tag u32, kind u8, 0 u8, type u16, seq u64, ts u64, then the 128-byte
/// trade), with the sequence, the timestamp and the trade's `timestamp_ns` patched in at send
/// time.
#[derive(Debug, Clone)]
pub struct BinaryTemplate {
    bytes: Vec<u8>,
}

impl BinaryTemplate {
    /// The frame of the first subscription (tag 1) of a connection.
    pub fn new() -> Self {
        let t = trade(0, 0);
        let mut bytes = 1u32.to_le_bytes().to_vec();
        bytes.extend(shmbus_gateway::json::message_binary(&JournalMessage {
            seq: 0,
            ty: TRADE_TYPE,
            position: 0,
            payload: bytemuck::bytes_of(&t),
        }));
        Self { bytes }
    }

    /// Bytes of every frame.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The frame of message `seq` stamped `ts`.
    pub fn render(&self, seq: u64, ts: u64) -> Vec<u8> {
        let mut b = self.bytes.clone();
        b[8..16].copy_from_slice(&seq.to_le_bytes());
        b[16..24].copy_from_slice(&ts.to_le_bytes());
        b[24..32].copy_from_slice(&ts.to_le_bytes());
        b
    }
}

/// Writes `v` right-aligned into `field`, spaces before (a number too wide keeps its last
/// digits).
fn put(field: &mut [u8], v: u64) {
    let digits = v.to_string();
    let d = digits.as_bytes();
    let d = &d[d.len().saturating_sub(field.len())..];
    let pad = field.len() - d.len();
    field[..pad].fill(b' ');
    field[pad..].copy_from_slice(d);
}

fn report(v: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}")?;
    out.flush()?;
    Ok(())
}

/// `__writer`: appends `count` trades to `journal` at `rate`, each stamped at its append.
pub fn writer(journal: &str, rate: f64, count: u64, first: u64) -> Result<()> {
    let mut w = JournalWriter::open(journal)
        .with_context(|| format!("the writer cannot open the journal {journal}"))?;
    let secs = pace(rate, count, |i| {
        let t = trade(first + i, now_ns());
        w.append_commit(TRADE_TYPE, bytemuck::bytes_of(&t))
            .with_context(|| format!("appending to {journal}"))?;
        Ok(())
    })?;
    report(&serde_json::json!({ "written": count, "secs": secs }))
}

/// `__publisher`: PUBLISHes `count` ready-made frames on `channel` at `rate`.
pub fn publisher(port: u16, channel: &str, rate: f64, count: u64, first: u64) -> Result<()> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut con = client
        .get_connection()
        .with_context(|| format!("the publisher cannot connect to redis on port {port}"))?;
    let template = Template::new("b", first + count);
    let secs = pace(rate, count, |i| {
        let frame = template.render(first + i, now_ns());
        let _: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(frame)
            .query(&mut con)
            .context("PUBLISH")?;
        Ok(())
    })?;
    report(&serde_json::json!({ "written": count, "secs": secs }))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Binds a loopback port and prints it (`{"port": P}`) for the parent.
async fn listen() -> Result<tokio::net::TcpListener> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    report(&serde_json::json!({ "port": l.local_addr()?.port() }))?;
    Ok(l)
}

/// Serves `app` with `TCP_NODELAY` on every connection, as the gateway does.
async fn serve(l: tokio::net::TcpListener, app: axum::Router) -> Result<()> {
    use axum::serve::ListenerExt as _;
    let l = l.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(l, app).await?;
    Ok(())
}

/// Waits for the client's first text message (its subscribe request).
async fn first_request(ws: &mut WebSocket) -> bool {
    while let Some(Ok(m)) = ws.next().await {
        if matches!(m, Message::Text(_)) {
            return true;
        }
    }
    false
}

/// `__floor`: the transport floor. A WebSocket server on the same stack as the gateway
/// (tokio + axum): when a client sends its request, a paced std thread hands ready-made frames
/// (the gateway's frame size, stamped at send time) through a channel to the connection's
/// task, which sends them; nothing else.
pub fn floor(rate: f64, count: u64) -> Result<()> {
    runtime()?.block_on(async move {
        let l = listen().await?;
        let app = axum::Router::new().route(
            "/ws",
            axum::routing::get(move |up: WebSocketUpgrade| async move {
                up.on_upgrade(move |ws| floor_conn(ws, rate, count))
            }),
        );
        serve(l, app).await
    })
}

async fn floor_conn(mut ws: WebSocket, rate: f64, count: u64) {
    if !first_request(&mut ws).await {
        return;
    }
    let subscribed = "{\"sub\":\"b\",\"subscribed\":{}}";
    if ws.send(Message::Text(subscribed.into())).await.is_err() {
        return;
    }
    let template = Arc::new(Template::new("b", count));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let t = template.clone();
    std::thread::spawn(move || {
        // The frame is ready-made; only the timestamp is taken here and patched in by the
        // sending task, at send time.
        let _ = pace(rate, count, |i| {
            tx.send(i).map_err(|_| anyhow::anyhow!("client gone"))?;
            Ok(())
        });
        drop(t);
    });
    while let Some(i) = rx.recv().await {
        let frame = template.render(i, now_ns());
        if ws.send(Message::Text(frame.into())).await.is_err() {
            return;
        }
    }
    let _ = ws.close().await;
}

/// `__relay`: seed 003's path. A WebSocket server (tokio + axum) that, for each client,
/// subscribes to `channel` on redis (async pub/sub) and forwards every published payload as a
/// text frame, unchanged.
pub fn relay(redis_port: u16, channel: String) -> Result<()> {
    runtime()?.block_on(async move {
        let client = redis::Client::open(format!("redis://127.0.0.1:{redis_port}/"))?;
        let l = listen().await?;
        let app = axum::Router::new().route(
            "/ws",
            axum::routing::get(move |up: WebSocketUpgrade| {
                let (client, channel) = (client.clone(), channel.clone());
                async move { up.on_upgrade(move |ws| relay_conn(ws, client, channel)) }
            }),
        );
        serve(l, app).await
    })
}

async fn relay_conn(mut ws: WebSocket, client: redis::Client, channel: String) {
    if !first_request(&mut ws).await {
        return;
    }
    let mut pubsub = match client.get_async_pubsub().await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("relay: cannot connect to redis: {e}");
            return;
        }
    };
    if let Err(e) = pubsub.subscribe(&channel).await {
        eprintln!("relay: SUBSCRIBE {channel} failed: {e}");
        return;
    }
    let subscribed = "{\"sub\":\"b\",\"subscribed\":{}}";
    if ws.send(Message::Text(subscribed.into())).await.is_err() {
        return;
    }
    let mut messages = pubsub.on_message();
    while let Some(m) = messages.next().await {
        let Ok(text) = String::from_utf8(m.get_payload_bytes().to_vec()) else {
            continue;
        };
        if ws.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

/// Frames a client of the fan-out floor can fall behind before it loses the oldest (about
/// 1.2–1.6 MiB of frames: the gateway's queue holds 1 MiB per client).
pub const FANOUT_QUEUE: usize = 8192;

/// `__floor_fanout`: the transport floor for many clients. A WebSocket server on the same
/// stack (tokio + axum) whose paced std thread, once a line arrives on stdin, renders each of
/// `count` ready-made frames (JSON text or binary, the gateway's sizes) once, stamped then, and
/// hands it to every subscribed client's task through a broadcast channel of
/// [`FANOUT_QUEUE`] frames. A client that falls further behind gets a gap notice with the
/// exact count of frames it missed, as from the gateway; nothing else.
pub fn floor_fanout(rate: f64, count: u64, binary: bool) -> Result<()> {
    let (sender, rx) = tokio::sync::broadcast::channel::<(u64, Message)>(FANOUT_QUEUE);
    // The server keeps a receiver (not a sender) to make new ones: the channel closes when the
    // pacing thread is done.
    let rx = Arc::new(rx);
    std::thread::spawn(move || {
        // The benchmark's go line; end of input (the benchmark is gone) or an error: no run.
        let mut go = String::new();
        if !matches!(std::io::stdin().lock().read_line(&mut go), Ok(n) if n > 0) {
            return;
        }
        let text = Template::new("b", count);
        let bin = BinaryTemplate::new();
        let _ = pace(rate, count, |i| {
            let ts = now_ns();
            let m = if binary {
                Message::Binary(bin.render(i, ts).into())
            } else {
                Message::Text(text.render(i, ts).into())
            };
            // No receiver (every client gone) is not an error of the floor.
            let _ = sender.send((i, m));
            Ok(())
        });
        // Dropping the sender ends every client's stream once it has drained.
    });
    runtime()?.block_on(async move {
        let l = listen().await?;
        let app = axum::Router::new().route(
            "/ws",
            axum::routing::get(move |up: WebSocketUpgrade| {
                let rx = rx.resubscribe();
                async move { up.on_upgrade(move |ws| floor_fanout_conn(ws, rx)) }
            }),
        );
        serve(l, app).await
    })
}

async fn floor_fanout_conn(
    mut ws: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<(u64, Message)>,
) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    if !first_request(&mut ws).await {
        return;
    }
    // Frames sent before the request (none: the run starts after every client subscribed)
    // are not this client's.
    rx = rx.resubscribe();
    let subscribed = "{\"sub\":\"b\",\"subscribed\":{}}";
    if ws.send(Message::Text(subscribed.into())).await.is_err() {
        return;
    }
    let mut next = 0u64;
    // A frame, or the gap notice of `k` frames missed.
    let mut frame = |r: std::result::Result<(u64, Message), u64>| match r {
        Ok((seq, m)) => {
            next = seq + 1;
            m
        }
        Err(k) => {
            let (from, to) = (next, next + k - 1);
            next += k;
            let gap =
                format!("{{\"sub\":\"b\",\"gap\":{{\"from\":{from},\"to\":{to},\"count\":{k}}}}}");
            Message::Text(gap.into())
        }
    };
    // Like the gateway's connection task: write what is queued (up to 64 frames), then flush
    // once.
    let mut open = true;
    while open {
        let first = match rx.recv().await {
            Ok(v) => Ok(v),
            Err(RecvError::Lagged(k)) => Err(k),
            Err(RecvError::Closed) => break,
        };
        if ws.feed(frame(first)).await.is_err() {
            return;
        }
        for _ in 1..64 {
            let r = match rx.try_recv() {
                Ok(v) => Ok(v),
                Err(TryRecvError::Lagged(k)) => Err(k),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    open = false;
                    break;
                }
            };
            if ws.feed(frame(r)).await.is_err() {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
    let _ = ws.close().await;
}

/// Timestamps the wake-up area holds, indexed by message number modulo this.
const WAKE_SLOTS: u64 = 65_536;
/// The area's header: futex word u32 at 0, waiters u32 at 4, published u64 at 8.
const WAKE_HEADER: usize = 64;
/// Bytes of the wake-up area file.
pub const WAKE_BYTES: u64 = WAKE_HEADER as u64 + WAKE_SLOTS * 16;

/// The shared memory of the "floor + wake-ups" path: a file (in /dev/shm) that the bumper
/// process writes and the floor's waiting thread reads, with nothing of shmbus: a count of
/// published messages, a ring of (message number, timestamp) slots and a doorbell (a futex
/// word and a count of waiters) used exactly as the core's journal uses its own.
pub struct WakeArea {
    base: NonNull<u8>,
}

impl WakeArea {
    /// Maps the area file at `path`, which must be [`WAKE_BYTES`] long.
    pub fn open(path: &Path) -> Result<Self> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open the wake-up area {}", path.display()))?;
        let len = f.metadata()?.len();
        if len != WAKE_BYTES {
            bail!(
                "the wake-up area {} is {len} bytes, not {WAKE_BYTES}: remove it and rerun",
                path.display()
            );
        }
        // SAFETY: a new shared mapping of the whole file (its length checked above), at an
        // address the kernel chooses, so it overlaps nothing of ours; the mapping outlives the
        // file descriptor by design and is unmapped in `Drop` only.
        let p = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                WAKE_BYTES as usize,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &f,
                0,
            )
        }
        .with_context(|| format!("cannot map the wake-up area {}", path.display()))?;
        let base = NonNull::new(p.cast::<u8>()).context("mmap returned a null address")?;
        Ok(Self { base })
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
        assert!(
            off % 8 == 0 && off + 8 <= WAKE_BYTES as usize,
            "offset {off}"
        );
        // SAFETY: in bounds of the mapping (checked above), 8-byte aligned (the base is page
        // aligned), alive as long as `self`; every access to the area, in either process, is
        // atomic.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU64>() }
    }

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        assert!(
            off % 4 == 0 && off + 4 <= WAKE_BYTES as usize,
            "offset {off}"
        );
        // SAFETY: as in `u64_at`, 4-byte aligned.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU32>() }
    }

    fn futex(&self) -> &AtomicU32 {
        self.u32_at(0)
    }

    fn waiters(&self) -> &AtomicU32 {
        self.u32_at(4)
    }

    fn published(&self) -> &AtomicU64 {
        self.u64_at(8)
    }

    /// The (message number, timestamp) slot of message `i`.
    fn slot(&self, i: u64) -> (&AtomicU64, &AtomicU64) {
        let off = WAKE_HEADER + (i % WAKE_SLOTS) as usize * 16;
        (self.u64_at(off), self.u64_at(off + 8))
    }

    /// Publishes the next message stamped `ts` and rings the doorbell if somebody waits (the
    /// core's `commit` + `ring_doorbell`). One publisher at a time.
    fn publish(&self, ts: u64) {
        let i = self.published().load(Ordering::Relaxed);
        let (n, t) = self.slot(i);
        n.store(i, Ordering::Relaxed);
        t.store(ts, Ordering::Relaxed);
        self.published().swap(i + 1, Ordering::SeqCst);
        if self.waiters().load(Ordering::SeqCst) > 0 {
            self.futex().fetch_add(1, Ordering::SeqCst);
            let _ = rustix::thread::futex::wake(
                self.futex(),
                rustix::thread::futex::Flags::empty(),
                u32::MAX,
            );
        }
    }

    /// Sleeps in the futex wait until more than `seen` messages are published (the core's
    /// `wait_commit` without spinning, as the gateway's journal thread waits), or `timeout`.
    fn wait(&self, seen: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        self.waiters().fetch_add(1, Ordering::SeqCst);
        loop {
            let f = self.futex().load(Ordering::SeqCst);
            let now = Instant::now();
            if self.published().load(Ordering::SeqCst) != seen || now >= deadline {
                break;
            }
            let left = deadline - now;
            let ts = rustix::thread::futex::Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            };
            // EAGAIN, ETIMEDOUT and EINTR all mean "look again".
            let _ = rustix::thread::futex::wait(
                self.futex(),
                rustix::thread::futex::Flags::empty(),
                f,
                Some(&ts),
            );
        }
        self.waiters().fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for WakeArea {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, of that length; the references `u64_at` and
        // `u32_at` hand out borrow `self`, so none outlives it.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), WAKE_BYTES as usize) };
    }
}

/// Creates (or empties) the wake-up area file at `path`.
pub fn create_wake_area(path: &Path) -> Result<()> {
    let f = std::fs::File::create(path)
        .with_context(|| format!("cannot create the wake-up area {}", path.display()))?;
    f.set_len(WAKE_BYTES)
        .with_context(|| format!("cannot size the wake-up area {}", path.display()))?;
    Ok(())
}

/// `__bumper`: the writer of the "floor + wake-ups" path. Publishes `count` timestamps to the
/// wake-up area at `rate`, each stamped when it is published, ringing the doorbell.
pub fn bumper(area: &Path, rate: f64, count: u64) -> Result<()> {
    let a = WakeArea::open(area)?;
    let secs = pace(rate, count, |_| {
        a.publish(now_ns());
        Ok(())
    })?;
    report(&serde_json::json!({ "written": count, "secs": secs }))
}

/// `__wake_floor`: the transport floor plus the gateway's two wake-ups. When a client sends
/// its request, a std thread sleeps in a futex wait on the wake-up area (cross-process
/// wake-up, as the gateway's journal thread sleeps on the journal's doorbell), takes each
/// published message's number and the bumper's timestamp and hands them through a channel to
/// the connection's task (in-process wake-up, as the journal thread hands frames to the
/// connection's queue), which patches them into the ready-made frame and sends it: the same
/// bytes as the floor's, stamped by the other process instead of just before the send.
pub fn wake_floor(area: std::path::PathBuf, count: u64) -> Result<()> {
    WakeArea::open(&area)?;
    runtime()?.block_on(async move {
        let l = listen().await?;
        let app = axum::Router::new().route(
            "/ws",
            axum::routing::get(move |up: WebSocketUpgrade| {
                let area = area.clone();
                async move { up.on_upgrade(move |ws| wake_floor_conn(ws, area, count)) }
            }),
        );
        serve(l, app).await
    })
}

async fn wake_floor_conn(mut ws: WebSocket, area: std::path::PathBuf, count: u64) {
    if !first_request(&mut ws).await {
        return;
    }
    let template = Template::new("b", count);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, u64)>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let a = match WakeArea::open(&area) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("wake floor: {e:#}");
                return;
            }
        };
        // From the end, like the gateway's subscription: what is published from now on.
        let mut next = a.published().load(Ordering::SeqCst);
        let _ = ready_tx.send(());
        let mut sent = 0;
        while sent < count {
            let published = a.published().load(Ordering::SeqCst);
            while next < published && sent < count {
                let (n, t) = a.slot(next);
                if n.load(Ordering::Relaxed) != next {
                    eprintln!("wake floor: message {next} was overwritten before it was read");
                    return;
                }
                if tx.send((sent, t.load(Ordering::Relaxed))).is_err() {
                    return;
                }
                next += 1;
                sent += 1;
            }
            if sent < count {
                a.wait(next, Duration::from_millis(20));
            }
        }
    });
    if ready_rx.await.is_err() {
        return;
    }
    let subscribed = "{\"sub\":\"b\",\"subscribed\":{}}";
    if ws.send(Message::Text(subscribed.into())).await.is_err() {
        return;
    }
    while let Some((i, ts)) = rx.recv().await {
        let frame = template.render(i, ts);
        if ws.send(Message::Text(frame.into())).await.is_err() {
            return;
        }
    }
    let _ = ws.close().await;
}

/// Checks that `v` is a usable rate (messages per second; 0 = unthrottled).
pub fn check_rate(v: f64) -> Result<f64> {
    if !v.is_finite() || v < 0.0 {
        bail!("a rate is a number of messages per second (0 = unthrottled), not {v}");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_frame_is_the_gateways_json_of_the_same_trade_with_spaces() {
        let t = Template::new("b", 100_000);
        let f = t.render(42, 1_764_720_000_123_456_789);
        assert_eq!(f.len(), t.len());
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["seq"], 42);
        assert_eq!(v["ts"], 1_764_720_000_123_456_789_u64);
        assert_eq!(v["trade"]["timestamp_ns"], 1_764_720_000_123_456_789_u64);
        assert_eq!(v["sub"], "b");
        // The gateway's frame of the last trade has the same length.
        let last = trade(99_999, 1_764_720_000_123_456_789);
        let body = shmbus_gateway::json::message_json(&JournalMessage {
            seq: 99_999,
            ty: TRADE_TYPE,
            position: 0,
            payload: bytemuck::bytes_of(&last),
        })
        .to_string();
        assert_eq!(t.len(), "{\"sub\":\"b\",".len() + body.len() - 1);
        assert_eq!(t.render(0, 1).len(), t.len());
    }

    #[test]
    fn a_binary_frame_has_the_gateways_layout_and_size() {
        let t = BinaryTemplate::new();
        let ts = 1_764_720_000_123_456_789;
        let f = t.render(42, ts);
        let mut gw = 1u32.to_le_bytes().to_vec();
        gw.extend(shmbus_gateway::json::message_binary(&JournalMessage {
            seq: 42,
            ty: TRADE_TYPE,
            position: 0,
            payload: bytemuck::bytes_of(&trade(42, ts)),
        }));
        assert_eq!(f.len(), gw.len());
        // Tag, kind, type, seq, ts and the trade's timestamp are the gateway's bytes.
        assert_eq!(f[..32], gw[..32]);
    }

    #[test]
    fn the_wake_area_carries_timestamps_in_order_across_mappings() {
        let path =
            std::env::temp_dir().join(format!("shmbus-gwbench-{}-wake-test", std::process::id()));
        create_wake_area(&path).unwrap();
        let (w, r) = (
            WakeArea::open(&path).unwrap(),
            WakeArea::open(&path).unwrap(),
        );
        let _ = std::fs::remove_file(&path);
        w.publish(7);
        w.publish(9);
        assert_eq!(r.published().load(Ordering::SeqCst), 2);
        let (n, t) = r.slot(1);
        assert_eq!(
            (n.load(Ordering::Relaxed), t.load(Ordering::Relaxed)),
            (1, 9)
        );
        // Nothing new: the wait times out instead of hanging.
        let start = Instant::now();
        r.wait(2, Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
        // Published meanwhile: the wait returns at once.
        r.wait(1, Duration::from_secs(10));
    }
}
