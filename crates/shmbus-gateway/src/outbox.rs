//! A WebSocket client's send queue: bounded in bytes, filled by the region readers' threads
//! without ever blocking them, drained by the connection's task.
//!
//! Two parts, sent in this order of preference:
//! * **frames**: journal messages, gap notices and replies, in order. A journal message is
//!   refused (the reader keeps that subscription's place in the journal instead) when the queued
//!   bytes would pass the bound; notices and replies always go in (they are small and few).
//! * **conflated**: the latest slot value per (subscription, symbol) and the latest state per
//!   (subscription, candle): a newer value replaces the queued one, so their memory is bounded by
//!   the number of keys subscribed, whatever the update rate.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::hub::Sub;

/// Default bound of a client's queue: 1 MiB of encoded messages.
pub const DEFAULT_QUEUE_BYTES: usize = 1 << 20;

/// What a frame carries after its subscription's prefix.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// A JSON object, shared by every subscriber of the same message.
    Text(Arc<str>),
    /// A binary journal message (docs/GATEWAY.md), shared likewise; the subscription's tag
    /// goes before it.
    Binary(Arc<[u8]>),
}

/// A frame to send: a subscription's prefix (`{"sub":"ID",` for text, its tag for binary
/// frames) and a body shared by every subscriber of the same message.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) prefix: Arc<str>,
    pub(crate) tag: u32,
    pub(crate) body: Body,
}

impl Frame {
    pub(crate) fn len(&self) -> usize {
        match &self.body {
            Body::Text(b) => self.prefix.len() + b.len(),
            Body::Binary(b) => 4 + b.len(),
        }
    }

    /// The frame's text: the prefix, then the body without its opening brace (a frame
    /// without prefix is its body). Empty for a binary frame.
    pub(crate) fn text(&self) -> String {
        let Body::Text(body) = &self.body else {
            return String::new();
        };
        if self.prefix.is_empty() {
            return body.to_string();
        }
        let mut s = String::with_capacity(self.len());
        s.push_str(&self.prefix);
        s.push_str(body.strip_prefix('{').unwrap_or(body));
        s
    }

    /// The WebSocket message.
    pub(crate) fn message(&self) -> axum::extract::ws::Message {
        use axum::extract::ws::Message;
        match &self.body {
            Body::Text(_) => Message::Text(self.text().into()),
            Body::Binary(b) => {
                let mut v = Vec::with_capacity(4 + b.len());
                v.extend_from_slice(&self.tag.to_le_bytes());
                v.extend_from_slice(b);
                Message::Binary(v.into())
            }
        }
    }
}

/// A conflation key: (subscription prefix, symbol or candle key).
type Key = (Arc<str>, String);

#[derive(Debug, Default)]
struct Inner {
    frames: VecDeque<Frame>,
    frame_bytes: usize,
    conflated: HashMap<Key, Frame>,
    order: VecDeque<Key>,
    conflated_bytes: usize,
}

/// One client's queue.
#[derive(Debug)]
pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    notify: Notify,
    bound: usize,
    closed: AtomicBool,
    /// Journal messages this client missed (gap notices' counts), for /metrics.
    pub(crate) gaps: AtomicU64,
    /// The client's number, for /metrics labels.
    pub(crate) client: u64,
    tags: AtomicU32,
}

impl Outbox {
    pub(crate) fn new(bound: usize, client: u64) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            bound,
            closed: AtomicBool::new(false),
            gaps: AtomicU64::new(0),
            client,
            tags: AtomicU32::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the queue inconsistent in a way that
        // matters more than losing the client: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new subscription tag for binary frames (1, 2, ...).
    pub(crate) fn next_tag(&self) -> u32 {
        self.tags.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }

    /// Bytes queued now.
    pub(crate) fn queued_bytes(&self) -> usize {
        let g = self.lock();
        g.frame_bytes + g.conflated_bytes
    }

    /// Whether a journal message would be accepted now (the queue is under half its bound):
    /// readers use it to decide when to resume a subscription that fell behind.
    pub(crate) fn has_room(&self) -> bool {
        !self.is_closed() && self.lock().frame_bytes < self.bound / 2
    }

    /// Queues a journal message of `sub` unless that would pass the bound (an empty queue
    /// always takes one, so a message larger than the bound still gets through). `false`: not
    /// queued, the caller keeps its place. A cancelled subscription's message is dropped (as
    /// if sent).
    pub(crate) fn try_push_for(&self, sub: &Sub, body: Body) -> bool {
        let mut g = self.lock();
        if sub.is_cancelled() {
            return true;
        }
        let frame = sub.frame_of(body);
        if g.frame_bytes > 0 && g.frame_bytes + frame.len() > self.bound {
            return false;
        }
        g.frame_bytes += frame.len();
        g.frames.push_back(frame);
        drop(g);
        self.notify.notify_one();
        true
    }

    /// Queues a notice of `sub` (subscribed, gap, end) whatever the bound: they are small and
    /// few, and a client that reads nothing is closed by its connection task (see
    /// [`Outbox::over_hard_limit`]).
    pub(crate) fn push_notice_for(&self, sub: &Sub, body: Arc<str>) {
        let mut g = self.lock();
        if sub.is_cancelled() {
            return;
        }
        let frame = sub.frame(body);
        g.frame_bytes += frame.len();
        g.frames.push_back(frame);
        drop(g);
        self.notify.notify_one();
    }

    /// Queues a reply that belongs to no subscription (errors about a request).
    pub(crate) fn push_reply(&self, text: String) {
        if self.is_closed() {
            return;
        }
        let frame = Frame {
            prefix: Arc::from(""),
            tag: 0,
            body: Body::Text(text.into()),
        };
        let mut g = self.lock();
        g.frame_bytes += frame.len();
        g.frames.push_back(frame);
        drop(g);
        self.notify.notify_one();
    }

    /// Queues `body` as the latest value of `key` in `sub`, replacing a queued older one.
    pub(crate) fn put_conflated(&self, sub: &Sub, key: &str, body: Arc<str>) {
        let mut g = self.lock();
        if sub.is_cancelled() {
            return;
        }
        let frame = sub.frame(body);
        let k = (sub.prefix.clone(), key.to_owned());
        let len = frame.len();
        match g.conflated.insert(k.clone(), frame) {
            Some(old) => g.conflated_bytes = g.conflated_bytes + len - old.len(),
            None => {
                g.conflated_bytes += len;
                g.order.push_back(k);
            }
        }
        drop(g);
        self.notify.notify_one();
    }

    /// Ends `sub`: marks it cancelled, drops its queued values and queues its last notice,
    /// all under the lock, so nothing of it follows that notice.
    pub(crate) fn cancel(&self, sub: &Sub, last: Option<Arc<str>>) {
        let mut g = self.lock();
        sub.set_cancelled();
        let gone: Vec<Key> = g
            .conflated
            .keys()
            .filter(|k| Arc::ptr_eq(&k.0, &sub.prefix))
            .cloned()
            .collect();
        for k in gone {
            if let Some(f) = g.conflated.remove(&k) {
                g.conflated_bytes -= f.len();
            }
        }
        let Inner {
            order, conflated, ..
        } = &mut *g;
        order.retain(|k| conflated.contains_key(k));
        if let Some(body) = last {
            let frame = sub.frame(body);
            g.frame_bytes += frame.len();
            g.frames.push_back(frame);
        }
        drop(g);
        self.notify.notify_one();
    }

    /// Whether the client stopped reading replies too: queued bytes more than twice the bound
    /// (only notices and replies can get there). Its connection is then closed.
    pub(crate) fn over_hard_limit(&self) -> bool {
        self.lock().frame_bytes > self.bound.saturating_mul(2)
    }

    /// Takes up to `max` frames: queued frames first, then conflated values.
    pub(crate) fn take(&self, max: usize, out: &mut Vec<Frame>) {
        let mut g = self.lock();
        while out.len() < max {
            let Some(f) = g.frames.pop_front() else { break };
            g.frame_bytes -= f.len();
            out.push(f);
        }
        while out.len() < max {
            let Some(k) = g.order.pop_front() else { break };
            if let Some(f) = g.conflated.remove(&k) {
                g.conflated_bytes -= f.len();
                out.push(f);
            }
        }
    }

    /// Waits until something is queued (or the outbox is closed).
    pub(crate) async fn ready(&self) {
        loop {
            let notified = self.notify.notified();
            {
                let g = self.lock();
                if !g.frames.is_empty() || !g.order.is_empty() || self.is_closed() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Marks the client gone: readers stop queueing to it.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(o: &Outbox) -> Vec<String> {
        let mut out = Vec::new();
        o.take(usize::MAX, &mut out);
        out.iter().map(Frame::text).collect()
    }

    #[test]
    fn journal_messages_stop_at_the_bound_notices_do_not() {
        let o = Arc::new(Outbox::new(100, 0));
        let sub = Sub::new("a", 1, false, o.clone());
        let body: Arc<str> = format!("{{\"x\":\"{}\"}}", "y".repeat(30)).into();
        let body = Body::Text(body);
        assert!(o.try_push_for(&sub, body.clone())); // 47 bytes
        assert!(o.try_push_for(&sub, body.clone())); // 94
        assert!(!o.try_push_for(&sub, body.clone())); // would be 141 > 100
        assert!(!o.has_room());
        sub.notice(&serde_json::json!({ "gap": 1 }));
        assert_eq!(texts(&o).len(), 3);
        assert!(o.has_room());
        // An empty queue takes a message larger than the bound.
        let huge: Arc<str> = format!("{{\"x\":\"{}\"}}", "y".repeat(500)).into();
        assert!(o.try_push_for(&sub, Body::Text(huge.clone())));
        assert!(!o.try_push_for(&sub, Body::Text(huge)));
    }

    #[test]
    fn conflation_keeps_the_latest_value_per_key_in_first_seen_order() {
        let o = Arc::new(Outbox::new(1 << 20, 0));
        let sub = Sub::new("q", 1, false, o.clone());
        for i in 0..1000 {
            o.put_conflated(&sub, "BTC", format!("{{\"p\":{i}}}").into());
            o.put_conflated(&sub, "ETH", format!("{{\"p\":{}}}", i + 1).into());
        }
        // Counted as prefix + body: `{"sub":"q",` + `{"p":999}` and + `{"p":1000}`.
        assert_eq!(o.queued_bytes(), (11 + 9) + (11 + 10));
        assert_eq!(
            texts(&o),
            [r#"{"sub":"q","p":999}"#, r#"{"sub":"q","p":1000}"#]
        );
        assert_eq!(o.queued_bytes(), 0);
    }

    #[test]
    fn nothing_of_a_cancelled_subscription_follows_its_last_notice() {
        let o = Arc::new(Outbox::new(1 << 20, 0));
        let (a, b) = (
            Sub::new("a", 1, false, o.clone()),
            Sub::new("b", 2, false, o.clone()),
        );
        assert!(o.try_push_for(&a, Body::Text("{\"seq\":1}".into())));
        o.put_conflated(&a, "k", "{\"v\":1}".into());
        o.put_conflated(&b, "k", "{\"v\":2}".into());
        o.cancel(&a, Some("{\"unsubscribed\":true}".into()));
        // A reader thread that raced the cancel: dropped.
        assert!(o.try_push_for(&a, Body::Text("{\"seq\":2}".into())));
        o.put_conflated(&a, "k", "{\"v\":3}".into());
        a.notice(&serde_json::json!({ "gap": 1 }));
        assert_eq!(
            texts(&o),
            [
                r#"{"sub":"a","seq":1}"#,
                r#"{"sub":"a","unsubscribed":true}"#,
                r#"{"sub":"b","v":2}"#
            ]
        );
    }

    #[test]
    fn ids_are_json_escaped() {
        let o = Arc::new(Outbox::new(1 << 20, 0));
        let s = Sub::new("a\"b\\", 1, false, o.clone());
        s.notice(&serde_json::json!({ "x": 1 }));
        let t = texts(&o);
        let v: serde_json::Value = serde_json::from_str(&t[0]).unwrap();
        assert_eq!(v, serde_json::json!({ "sub": "a\"b\\", "x": 1 }));
    }
}
