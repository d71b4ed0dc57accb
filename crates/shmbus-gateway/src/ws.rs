//! `/ws`: one task reads a client's requests, another drains its [`Outbox`] to the socket.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use shmbus::journal::Start;

use crate::AppState;
use crate::error::ApiError;
use crate::hub::{Spec, Sub};
use crate::outbox::Outbox;

/// Largest message a client may send (a request is a few hundred bytes).
pub const MAX_MESSAGE: usize = 64 << 10;
/// Most subscriptions per connection.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Most symbols a slot subscription may list.
const MAX_SYMBOLS: usize = 1024;
/// Longest subscription id.
const MAX_ID: usize = 64;

/// Close codes (RFC 6455).
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

fn error(id: Option<&str>, code: &str, message: impl Into<String>) -> String {
    let mut doc = json!({ "error": message.into(), "code": code });
    if let Some(id) = id {
        doc["sub"] = json!(id);
    }
    doc.to_string()
}

/// One connection, until the client leaves or breaks the protocol.
pub(crate) async fn run(socket: WebSocket, st: Arc<AppState>) {
    let client = st.stats.next_client.fetch_add(1, Ordering::Relaxed);
    let outbox = Arc::new(Outbox::new(st.config.queue_bytes, client));
    st.stats.add_client(outbox.clone());
    let (sink, mut stream) = socket.split();
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<(u16, String)>();
    let mut writer = tokio::spawn(write_loop(sink, outbox.clone(), st.clone(), close_rx));
    let mut subs: HashMap<String, Arc<Sub>> = HashMap::new();
    let mut close = None;
    let mut writer_done = false;
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = &mut writer => {
                // The client is gone (a send failed): the handle must not be polled again.
                writer_done = true;
                break;
            }
        };
        match msg {
            Some(Ok(Message::Text(t))) => request(&st, &outbox, &mut subs, t.as_str()).await,
            Some(Ok(Message::Binary(_))) => outbox.push_reply(error(
                None,
                "binary",
                "binary requests are not accepted: send JSON text, e.g. {\"op\":\"subscribe\",\"id\":\"t\",\"journal\":\"trades\"}",
            )),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | None => break,
            Some(Err(e)) => {
                let text = e.to_string();
                close = Some(if text.contains("too long") || text.contains("too big") {
                    (CLOSE_TOO_BIG, format!("message too big: at most {MAX_MESSAGE} bytes"))
                } else {
                    (CLOSE_PROTOCOL, "protocol error".to_owned())
                });
                break;
            }
        }
        if outbox.over_hard_limit() {
            close = Some((
                CLOSE_POLICY,
                "too many replies pending: read your messages".to_owned(),
            ));
            break;
        }
    }
    for sub in subs.values() {
        outbox.cancel(sub, None);
    }
    if let Some(c) = close {
        let _ = close_tx.send(c);
    }
    outbox.close();
    // A client that stopped reading may never take the rest: do not wait for it long.
    if !writer_done
        && tokio::time::timeout(Duration::from_secs(2), &mut writer)
            .await
            .is_err()
    {
        writer.abort();
    }
    st.stats.remove_client(client);
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    outbox: Arc<Outbox>,
    st: Arc<AppState>,
    mut close: tokio::sync::oneshot::Receiver<(u16, String)>,
) {
    let mut batch = Vec::with_capacity(64);
    loop {
        outbox.ready().await;
        outbox.take(64, &mut batch);
        if batch.is_empty() && outbox.is_closed() {
            break;
        }
        for f in batch.drain(..) {
            let m = f.message();
            let n = match &m {
                Message::Text(t) => t.len(),
                Message::Binary(b) => b.len(),
                _ => 0,
            } as u64;
            if sink.feed(m).await.is_err() {
                return;
            }
            st.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
            st.stats.bytes_sent.fetch_add(n, Ordering::Relaxed);
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    if let Ok((code, reason)) = close.try_recv() {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }
    let _ = sink.close().await;
}

/// Handles one request; answers go to the outbox.
async fn request(
    st: &Arc<AppState>,
    outbox: &Arc<Outbox>,
    subs: &mut HashMap<String, Arc<Sub>>,
    text: &str,
) {
    let v: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return outbox.push_reply(error(
                None,
                "bad_request",
                "a request is a JSON object with an \"op\"",
            ));
        }
        Err(e) => {
            return outbox.push_reply(error(
                None,
                "bad_json",
                format!("not JSON ({e}): send e.g. {{\"op\":\"subscribe\",\"id\":\"t\",\"journal\":\"trades\"}}"),
            ));
        }
    };
    let id = v.get("id").and_then(Value::as_str);
    let reply = match v.get("op").and_then(Value::as_str) {
        Some("subscribe") => subscribe(st, outbox, subs, &v).await,
        Some("unsubscribe") => unsubscribe(outbox, subs, id),
        Some("ping") => {
            outbox.push_reply(
                json!({ "pong": v.get("id").cloned().unwrap_or(Value::Null) }).to_string(),
            );
            Ok(())
        }
        Some(op) => Err((
            "unknown_op",
            format!("unknown op {op:?}: use subscribe, unsubscribe or ping"),
        )),
        None => Err((
            "bad_request",
            "the request has no \"op\" (subscribe, unsubscribe or ping)".to_owned(),
        )),
    };
    if let Err((code, message)) = reply {
        outbox.push_reply(error(id, code, message));
    }
}

type Reply = Result<(), (&'static str, String)>;

fn api(e: ApiError) -> (&'static str, String) {
    (e.code, e.message)
}

fn string<'a>(v: &'a Value, key: &str) -> Result<&'a str, (&'static str, String)> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ("bad_request", format!("\"{key}\" must be a string")))
}

/// Whether the request asks for binary journal frames (`"format": "binary"`).
fn binary(v: &Value) -> Result<bool, (&'static str, String)> {
    match v.get("format").map(|f| f.as_str()) {
        None | Some(Some("json")) => Ok(false),
        Some(Some("binary")) if v.get("journal").is_some() => Ok(true),
        Some(Some("binary")) => Err((
            "bad_request",
            "\"format\": \"binary\" is for journals; slots and candles are JSON".to_owned(),
        )),
        Some(_) => Err((
            "bad_request",
            "\"format\" is \"json\" or \"binary\"".to_owned(),
        )),
    }
}

fn spec(v: &Value) -> Result<(String, Spec), (&'static str, String)> {
    let targets: Vec<&str> = ["journal", "slots", "candles"]
        .into_iter()
        .filter(|k| v.get(*k).is_some())
        .collect();
    match targets.as_slice() {
        ["journal"] => {
            let from = match v.get("from") {
                None => Start::End,
                Some(Value::String(s)) => {
                    crate::http::parse_from(s).map_err(|e| ("bad_request", e))?
                }
                Some(n) => Start::Seq(n.as_u64().ok_or_else(|| {
                    (
                        "bad_request",
                        format!("\"from\": {n} is not start, end or a sequence number"),
                    )
                })?),
            };
            Ok((string(v, "journal")?.to_owned(), Spec::Journal { from }))
        }
        ["slots"] => {
            let symbols = match v.get("symbols") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) if a.len() <= MAX_SYMBOLS => Some(
                    a.iter()
                        .map(|s| s.as_str().map(str::to_owned))
                        .collect::<Option<HashSet<String>>>()
                        .ok_or(("bad_request", "\"symbols\" must be strings".to_owned()))?,
                ),
                Some(_) => {
                    return Err((
                        "bad_request",
                        format!("\"symbols\" must be an array of at most {MAX_SYMBOLS} strings"),
                    ));
                }
            };
            Ok((string(v, "slots")?.to_owned(), Spec::Slots { symbols }))
        }
        ["candles"] => Ok((
            string(v, "candles")?.to_owned(),
            Spec::Candles {
                symbol: string(v, "symbol")?.to_owned(),
                interval: string(v, "interval")?.to_owned(),
            },
        )),
        _ => Err((
            "bad_request",
            "subscribe to exactly one of \"journal\", \"slots\" or \"candles\"".to_owned(),
        )),
    }
}

async fn subscribe(
    st: &Arc<AppState>,
    outbox: &Arc<Outbox>,
    subs: &mut HashMap<String, Arc<Sub>>,
    v: &Value,
) -> Reply {
    let id = match v.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID => id,
        _ => {
            return Err((
                "bad_request",
                format!(
                    "a subscription needs an \"id\": a string of 1 to {MAX_ID} bytes, echoed as \"sub\" in its messages"
                ),
            ));
        }
    };
    // Subscriptions their region ended (removed, failed) free their place.
    subs.retain(|_, s| !s.is_cancelled());
    if subs.contains_key(id) {
        return Err((
            "duplicate_id",
            format!("subscription {id:?} exists: unsubscribe it first or use another id"),
        ));
    }
    if subs.len() >= MAX_SUBSCRIPTIONS {
        return Err((
            "too_many_subscriptions",
            format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions per connection: unsubscribe some or open another connection"
            ),
        ));
    }
    let (name, spec) = spec(v)?;
    let binary = binary(v)?;
    let name = st.access.resolve(&name).map_err(api)?;
    let sub = Arc::new(Sub::new(id, outbox.next_tag(), binary, outbox.clone()));
    let (st2, sub2) = (st.clone(), sub.clone());
    let started =
        tokio::task::spawn_blocking(move || st2.hubs.subscribe(&name, sub2, spec, &st2.stats))
            .await
            .unwrap_or_else(|e| {
                Err(ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("subscribe failed: {e}"),
                ))
            });
    started.map_err(api)?;
    subs.insert(id.to_owned(), sub);
    Ok(())
}

fn unsubscribe(outbox: &Outbox, subs: &mut HashMap<String, Arc<Sub>>, id: Option<&str>) -> Reply {
    let Some(id) = id else {
        return Err((
            "bad_request",
            "unsubscribe needs the \"id\" of the subscription".to_owned(),
        ));
    };
    let Some(sub) = subs.remove(id) else {
        return Err((
            "unknown_sub",
            format!("no subscription {id:?} on this connection"),
        ));
    };
    outbox.cancel(
        &sub,
        Some(json!({ "unsubscribed": true }).to_string().into()),
    );
    Ok(())
}
