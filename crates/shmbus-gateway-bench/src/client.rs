//! The measuring WebSocket client (tokio-tungstenite), the same for every path: subscribes,
//! then takes every frame, counting messages and gap notices (exactly: every sequence either
//! arrives or is inside one gap) and recording arrival time - the message's `ts`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

use crate::peers::now_ns;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A histogram of latencies in ns, 1 ns to 100 s, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// Connects to `ws://127.0.0.1:PORT/ws` with `TCP_NODELAY`, like every server here.
pub async fn connect(port: u16) -> Result<Ws> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
    tcp.set_nodelay(true)?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
        .await
        .with_context(|| format!("WebSocket handshake with {url} failed"))?;
    Ok(ws)
}

/// Sends the subscribe request and waits for its `subscribed` answer.
pub async fn subscribe(ws: &mut Ws, request: &str) -> Result<()> {
    ws.send(Message::Text(request.into())).await?;
    let deadline = Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout(deadline, ws.next())
            .await
            .context("no answer to the subscribe request within 10 s")?;
        match m {
            Some(Ok(Message::Text(t))) if t.contains("\"subscribed\"") => return Ok(()),
            Some(Ok(Message::Text(t))) => bail!("the server refused the subscription: {t}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("the connection failed while subscribing: {e}"),
            None => bail!("the server closed the connection while subscribing"),
        }
    }
}

/// What one client received.
#[derive(Debug)]
pub struct Outcome {
    /// Journal messages received.
    pub received: u64,
    /// Messages lost (the sum of the gap notices' counts).
    pub lost: u64,
    /// Gap notices received.
    pub gap_notices: u64,
    /// Messages whose sequence was not the one expected after the previous message or gap.
    pub out_of_order: u64,
    /// Arrival - ts, in ns, for the messages after the warm-up.
    pub hist: Histogram<u64>,
    /// When the last message or gap notice arrived.
    pub last_at: Option<Instant>,
    /// Why receiving stopped before the expected count, if it did.
    pub stopped: Option<String>,
}

/// The number after `"key":` (and any spaces) in `s`.
fn number_after(s: &str, key: &str) -> Option<u64> {
    let at = s.find(key)? + key.len();
    let rest = s[at..].trim_start_matches(' ');
    let end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Receives until `expect` messages are accounted for (received or inside gaps), the server
/// closes, nothing arrives for `idle`, or `until` (a client still behind then has the rest
/// counted as neither received nor lost). The first `warmup` messages are not timed.
pub async fn receive(
    ws: &mut Ws,
    expect: u64,
    warmup: u64,
    idle: Duration,
    until: Option<Instant>,
) -> Outcome {
    let mut o = Outcome {
        received: 0,
        lost: 0,
        gap_notices: 0,
        out_of_order: 0,
        hist: new_hist(),
        last_at: None,
        stopped: None,
    };
    let mut next_seq: Option<u64> = None;
    while o.received + o.lost < expect {
        let idle_at = Instant::now() + idle;
        let at = until.map_or(idle_at, |u| u.min(idle_at));
        let m = match tokio::time::timeout_at(at.into(), ws.next()).await {
            Err(_) if at < idle_at => {
                o.stopped = Some("the time allowed is over".into());
                break;
            }
            Err(_) => {
                o.stopped = Some(format!("nothing arrived for {} s", idle.as_secs_f64()));
                break;
            }
            Ok(None) => {
                o.stopped = Some("the server closed the connection".into());
                break;
            }
            Ok(Some(Err(e))) => {
                o.stopped = Some(format!("the connection failed: {e}"));
                break;
            }
            Ok(Some(Ok(m))) => m,
        };
        let now = now_ns();
        let (seq, ts) = match &m {
            Message::Binary(b) if b.len() >= 24 => (
                u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
                u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            ),
            Message::Text(t) if t.contains("\"gap\":") => {
                let v: serde_json::Value = serde_json::from_str(t).unwrap_or_default();
                let g = &v["gap"];
                let (from, to, count) = (g["from"].as_u64(), g["to"].as_u64(), g["count"].as_u64());
                let (Some(from), Some(to), Some(count)) = (from, to, count) else {
                    o.stopped = Some(format!("a malformed gap notice: {t}"));
                    break;
                };
                if next_seq.is_some_and(|n| n != from) || to + 1 - from != count {
                    o.out_of_order += 1;
                }
                o.lost += count;
                o.gap_notices += 1;
                next_seq = Some(to + 1);
                o.last_at = Some(Instant::now());
                continue;
            }
            Message::Text(t) => match (number_after(t, "\"seq\":"), number_after(t, "\"ts\":")) {
                (Some(seq), Some(ts)) => (seq, ts),
                _ => continue,
            },
            Message::Close(_) => {
                o.stopped = Some("the server closed the connection".into());
                break;
            }
            _ => continue,
        };
        if next_seq.is_some_and(|n| n != seq) {
            o.out_of_order += 1;
        }
        next_seq = Some(seq + 1);
        if o.received >= warmup {
            o.hist.saturating_record(now.saturating_sub(ts).max(1));
        }
        o.received += 1;
        o.last_at = Some(Instant::now());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::number_after;

    #[test]
    fn numbers_after_keys_with_or_without_padding() {
        let t = r#"{"sub":"b","len":128,"seq":    42,"ts":1764720000123456789,"trade":{}}"#;
        assert_eq!(number_after(t, "\"seq\":"), Some(42));
        assert_eq!(number_after(t, "\"ts\":"), Some(1_764_720_000_123_456_789));
        assert_eq!(number_after(t, "\"nope\":"), None);
    }
}
