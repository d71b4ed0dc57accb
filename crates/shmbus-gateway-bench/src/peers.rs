//! The other processes of the benchmark (this binary re-executed with a hidden subcommand):
//! the journal writer, the transport-floor WebSocket server, the Redis publisher and the
//! Redis-to-WebSocket relay. Every sender paces itself with [`pace`], so the three paths carry
//! the same messages at the same rate.

use std::io::Write;
use std::sync::Arc;
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
}
