//! One reader per region, shared by every subscriber: a dedicated thread per journal, slot
//! table or candle store that somebody subscribed to, fanning each update out to the
//! subscribers' [`Outbox`]es without ever blocking on them.
//!
//! **Journals.** The thread sleeps in the core's futex wait (`next_timeout`, 20 ms at most, so
//! new subscriptions and removals are noticed) and turns each message into JSON once. Every
//! subscription has a cursor, the sequence it needs next. A message goes to the subscriptions
//! whose cursor is its sequence; one whose queue is full keeps its cursor and falls behind: the
//! journal itself is its buffer, so the gateway's memory does not grow with it. When its queue
//! has room again a second cursor of the same thread (the history cursor) replays what it
//! missed; if the ring overwrote some of it meanwhile, it gets a gap notice with the exact
//! range, then resumes at the oldest message still stored. Joining the live cursor again is
//! automatic (its cursor equals the live one).
//!
//! **Slot tables** are polled every 2 ms with the core's cheap `read_if_changed`; **candle
//! stores** every 10 ms. Both are conflated: the latest value per key wins in a slow client's
//! queue.
//!
//! Every 250 ms a thread checks that its region's file is still the one it mapped; when it was
//! removed (or replaced), every subscription ends with a message and the thread exits. A thread
//! with no subscription for 10 s exits too.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;
use shmbus::candles::{Candle, CandleReader};
use shmbus::journal::{JournalReader, Start};
use shmbus::{ReadError, RegionName, SlotId, SlotReader, TradingData};

use crate::error::ApiError;
use crate::json::{candle_json, message_binary, message_json_text, slot_json};
use crate::metrics::GatewayStats;
use crate::outbox::{Body, Frame, Outbox};

/// Longest a journal thread sleeps in the futex wait.
const JOURNAL_WAIT: Duration = Duration::from_millis(20);
/// Slot tables are polled this often.
const SLOT_POLL: Duration = Duration::from_millis(2);
/// Candle stores are polled this often.
const CANDLE_POLL: Duration = Duration::from_millis(10);
/// How often a thread checks that its region still exists.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A thread with no subscription exits after this long.
const IDLE_EXIT: Duration = Duration::from_secs(10);
/// Most messages read per live pass before the thread looks at its commands again.
const LIVE_BATCH: usize = 4096;
/// Most messages replayed to one lagging subscription per pass.
const CATCH_UP_BATCH: usize = 1024;

/// One subscription, shared by the connection task and the region's thread.
#[derive(Debug)]
pub(crate) struct Sub {
    /// `{"sub":"ID",`: the start of every frame of this subscription.
    pub(crate) prefix: Arc<str>,
    pub(crate) outbox: Arc<Outbox>,
    /// The number binary frames carry instead of the id.
    pub(crate) tag: u32,
    /// Journal messages as binary frames (docs/GATEWAY.md) instead of JSON.
    pub(crate) binary: bool,
    cancelled: AtomicBool,
}

impl Sub {
    pub(crate) fn new(id: &str, tag: u32, binary: bool, outbox: Arc<Outbox>) -> Self {
        let id = serde_json::Value::from(id);
        Self {
            prefix: format!("{{\"sub\":{id},").into(),
            outbox,
            tag,
            binary,
            cancelled: AtomicBool::new(false),
        }
    }

    /// Marks the subscription ended. The outbox calls it under its lock, so that nothing of
    /// the subscription is queued after its last notice.
    pub(crate) fn set_cancelled(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether the subscription ended (unsubscribed, or its client left).
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire) || self.outbox.is_closed()
    }

    /// The text frame of `body` for this subscription.
    pub(crate) fn frame(&self, body: Arc<str>) -> Frame {
        self.frame_of(Body::Text(body))
    }

    /// The frame of `body` for this subscription.
    pub(crate) fn frame_of(&self, body: Body) -> Frame {
        Frame {
            prefix: self.prefix.clone(),
            tag: self.tag,
            body,
        }
    }

    /// Queues a notice (subscribed, gap) for this subscription.
    pub(crate) fn notice(&self, body: &serde_json::Value) {
        self.outbox.push_notice_for(self, body.to_string().into());
    }

    /// Ends this subscription with a last notice (an error, or why it ended).
    pub(crate) fn end(&self, body: &serde_json::Value) {
        self.outbox.cancel(self, Some(body.to_string().into()));
    }
}

/// What a subscription wants.
#[derive(Debug, Clone)]
pub(crate) enum Spec {
    Journal { from: Start },
    Slots { symbols: Option<HashSet<String>> },
    Candles { symbol: String, interval: String },
}

impl Spec {
    fn kind(&self) -> &'static str {
        match self {
            Spec::Journal { .. } => "journal",
            Spec::Slots { .. } => "slots",
            Spec::Candles { .. } => "candles",
        }
    }
}

#[derive(Debug)]
enum Cmd {
    Add(Arc<Sub>, Spec),
}

type Key = (&'static str, String);

#[derive(Debug)]
struct Handle {
    tx: Sender<Cmd>,
    id: u64,
}

/// The running region threads, by (kind, name).
#[derive(Debug, Default)]
pub(crate) struct Hubs {
    map: Arc<Mutex<HubMap>>,
}

#[derive(Debug, Default)]
struct HubMap {
    hubs: HashMap<Key, Handle>,
    next_id: u64,
}

fn lock(m: &Mutex<HubMap>) -> MutexGuard<'_, HubMap> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a region thread needs to know about itself.
struct Ctx {
    key: Key,
    id: u64,
    map: Arc<Mutex<HubMap>>,
    rx: Receiver<Cmd>,
    path: PathBuf,
    identity: Option<(u64, u64)>,
    stats: Arc<GatewayStats>,
    last_check: Instant,
    idle_since: Instant,
}

fn identity(path: &std::path::Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl Ctx {
    /// Leaves the map (if this thread is still the registered one) unless commands are
    /// pending; `Err` hands those back. Commands are sent under the map lock, so none can
    /// arrive once this returned `Ok`.
    fn retire(&self, force: bool) -> Result<(), Vec<Cmd>> {
        let mut m = lock(&self.map);
        let pending: Vec<Cmd> = self.rx.try_iter().collect();
        if !pending.is_empty() && !force {
            return Err(pending);
        }
        if m.hubs.get(&self.key).is_some_and(|h| h.id == self.id) {
            m.hubs.remove(&self.key);
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(pending)
        }
    }

    /// Every 250 ms: `Some(reason)` when the region's file is gone or replaced.
    fn removed(&mut self) -> Option<String> {
        if self.last_check.elapsed() < CHECK_EVERY {
            return None;
        }
        self.last_check = Instant::now();
        if identity(&self.path) == self.identity {
            return None;
        }
        Some(format!(
            "region {} was removed (or replaced); subscribe again once it exists",
            self.key.1
        ))
    }

    /// Ends every subscription of a thread that exits, including ones still in the channel.
    /// The thread leaves the map first, so a subscription made after a client saw the end
    /// starts a new thread (and sees the region's new state).
    fn end_all<'a>(&self, subs: impl Iterator<Item = &'a Arc<Sub>>, reason: &str, code: &str) {
        let pending = self.retire(true).err().unwrap_or_default();
        let body = json!({ "end": { "reason": reason, "code": code } });
        for s in subs {
            s.end(&body);
        }
        for Cmd::Add(s, _) in pending {
            s.end(&body);
        }
    }

    /// Whether an idle thread may exit now: `Ok(true)` exit, `Ok(false)` stay, `Err` stay and
    /// process these commands.
    fn idle_exit(&mut self, has_subs: bool) -> Result<bool, Vec<Cmd>> {
        if has_subs || self.idle_since.elapsed() < IDLE_EXIT {
            if has_subs {
                self.idle_since = Instant::now();
            }
            return Ok(false);
        }
        self.idle_since = Instant::now();
        self.retire(false).map(|()| true)
    }

    /// The next command, if any.
    fn try_cmd(&self) -> Option<Cmd> {
        self.rx.try_recv().ok()
    }
}

impl Hubs {
    /// Adds a subscription to the region's thread, starting the thread (and opening the
    /// region) if there is none. Blocking (opens files): call it off the runtime's workers.
    pub(crate) fn subscribe(
        &self,
        name: &str,
        sub: Arc<Sub>,
        spec: Spec,
        stats: &Arc<GatewayStats>,
    ) -> Result<(), ApiError> {
        let key: Key = (spec.kind(), name.to_owned());
        let mut m = lock(&self.map);
        if let Some(h) = m.hubs.get(&key) {
            match h.tx.send(Cmd::Add(sub, spec)) {
                Ok(()) => return Ok(()),
                Err(std::sync::mpsc::SendError(Cmd::Add(s, sp))) => {
                    // The thread is gone (it died): start a new one.
                    m.hubs.remove(&key);
                    return self.start(&mut m, key, s, sp, stats);
                }
            }
        }
        self.start(&mut m, key, sub, spec, stats)
    }

    fn start(
        &self,
        m: &mut HubMap,
        key: Key,
        sub: Arc<Sub>,
        spec: Spec,
        stats: &Arc<GatewayStats>,
    ) -> Result<(), ApiError> {
        let name = key.1.clone();
        let path = RegionName::parse(&name)?.path().to_path_buf();
        let identity = identity(&path);
        enum Opened {
            Journal(JournalReader, JournalReader),
            Slots(SlotReader<TradingData>),
            Candles(CandleReader),
        }
        let opened = match &spec {
            Spec::Journal { .. } => {
                let mut live = JournalReader::open(&name, Start::End)?;
                // Listed with its lag by `shmbus top` and /metrics. This writes only the
                // journal's reader registry, never the journal (docs/GATEWAY.md); a registry
                // that is full or unusable just leaves the gateway unlisted.
                let _ = live.register("shmbus-serve");
                Opened::Journal(live, JournalReader::open(&name, Start::Beginning)?)
            }
            Spec::Slots { .. } => Opened::Slots(SlotReader::<TradingData>::open(&name)?),
            Spec::Candles { .. } => Opened::Candles(CandleReader::open(&name)?),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        m.next_id += 1;
        let ctx = Ctx {
            key: key.clone(),
            id: m.next_id,
            map: self.map.clone(),
            rx,
            path,
            identity,
            stats: stats.clone(),
            last_check: Instant::now(),
            idle_since: Instant::now(),
        };
        tx.send(Cmd::Add(sub, spec)).map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the region thread's channel closed",
            )
        })?;
        let thread_name = format!("shmbus-{}:{}", key.0, key.1);
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || match opened {
                Opened::Journal(live, history) => JournalHub::new(ctx, live, history).run(),
                Opened::Slots(r) => run_slots(ctx, r),
                Opened::Candles(r) => run_candles(ctx, r),
            });
        spawned.map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "no_threads",
                format!("cannot start a reader thread for {name}: {e}; close some subscriptions"),
            )
        })?;
        m.hubs.insert(key, Handle { tx, id: m.next_id });
        Ok(())
    }

    /// Region threads running now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.map).hubs.len()
    }
}

/// A message's JSON and binary bodies, each made once, when a subscriber first needs it.
#[derive(Default)]
struct Bodies {
    json: Option<Arc<str>>,
    binary: Option<Arc<[u8]>>,
}

impl Bodies {
    fn get(&mut self, m: &shmbus::journal::Message<'_>, binary: bool) -> Body {
        if binary && m.payload.len() <= crate::json::MAX_INLINE_PAYLOAD {
            Body::Binary(
                self.binary
                    .get_or_insert_with(|| message_binary(m).into())
                    .clone(),
            )
        } else {
            Body::Text(
                self.json
                    .get_or_insert_with(|| message_json_text(m).into())
                    .clone(),
            )
        }
    }
}

/// A journal subscription and the sequence it needs next.
struct JSub {
    sub: Arc<Sub>,
    cursor: u64,
}

struct JournalHub {
    ctx: Ctx,
    live: JournalReader,
    history: JournalReader,
    subs: Vec<JSub>,
    /// Whether the live cursor stopped following the journal (no subscription for a while).
    stale: bool,
}

fn gap_body(from: u64, to: u64) -> serde_json::Value {
    json!({ "gap": { "from": from, "to": to, "count": to - from + 1 } })
}

impl JournalHub {
    fn new(ctx: Ctx, live: JournalReader, history: JournalReader) -> Self {
        Self {
            ctx,
            live,
            history,
            subs: Vec::new(),
            stale: false,
        }
    }

    fn gap(&self, sub: &Sub, from: u64, to: u64) {
        if to < from {
            return;
        }
        sub.notice(&gap_body(from, to));
        sub.outbox.gaps.fetch_add(to - from + 1, Ordering::Relaxed);
        self.ctx
            .stats
            .gaps
            .fetch_add(to - from + 1, Ordering::Relaxed);
    }

    fn add(&mut self, sub: Arc<Sub>, from: Start) {
        let info = match self.live.info() {
            Ok(i) => i,
            Err(e) => {
                let e = ApiError::from(e);
                sub.end(&json!({ "error": e.message, "code": e.code }));
                return;
            }
        };
        if self.stale || self.subs.is_empty() {
            // Nobody followed the journal: put the live cursor at its end again.
            match self.live.seek(info.next_seq) {
                Ok(()) => self.stale = false,
                Err(e) => {
                    let e = ApiError::from(e);
                    sub.end(&json!({ "error": e.message, "code": e.code }));
                    return;
                }
            }
        }
        let live = self.live.next_seq();
        let cursor = match from {
            Start::Beginning => info.oldest_seq,
            Start::End => live,
            Start::Seq(s) if s > info.next_seq => {
                let e = ApiError::from(ReadError::NotYet {
                    journal: self.ctx.key.1.clone(),
                    seq: s,
                    next: info.next_seq,
                });
                sub.end(&json!({ "error": e.message, "code": e.code }));
                return;
            }
            Start::Seq(s) => s,
        };
        sub.notice(&json!({ "subscribed": {
            "journal": self.ctx.key.1, "from": cursor, "oldest": info.oldest_seq, "next": info.next_seq,
            "format": if sub.binary { "binary" } else { "json" }, "tag": sub.tag,
        } }));
        self.subs.push(JSub { sub, cursor });
    }

    fn run(mut self) {
        loop {
            while let Some(Cmd::Add(sub, spec)) = self.ctx.try_cmd() {
                if let Spec::Journal { from } = spec {
                    self.add(sub, from);
                }
            }
            self.subs.retain(|s| !s.sub.is_cancelled());
            if let Some(reason) = self.ctx.removed() {
                self.ctx
                    .end_all(self.subs.iter().map(|s| &s.sub), &reason, "removed");
                return;
            }
            match self.ctx.idle_exit(!self.subs.is_empty()) {
                Ok(true) => return,
                Ok(false) => {}
                Err(pending) => {
                    for Cmd::Add(sub, spec) in pending {
                        if let Spec::Journal { from } = spec {
                            self.add(sub, from);
                        }
                    }
                }
            }
            if self.subs.is_empty() {
                self.stale = true;
                std::thread::sleep(JOURNAL_WAIT);
                continue;
            }
            let busy = match self.catch_up_all() {
                Ok(b) => b,
                Err(e) => return self.fail(e),
            };
            if let Err(e) = self.follow(if busy { Duration::ZERO } else { JOURNAL_WAIT }) {
                return self.fail(e);
            }
        }
    }

    fn fail(&self, e: ReadError) {
        let e = ApiError::from(e);
        self.ctx
            .end_all(self.subs.iter().map(|s| &s.sub), &e.message, e.code);
    }

    /// Reads new messages with the live cursor and hands each to the subscriptions waiting for
    /// exactly it.
    fn follow(&mut self, timeout: Duration) -> Result<(), ReadError> {
        for i in 0..LIVE_BATCH {
            let next = if i == 0 {
                self.live.next_timeout(timeout)
            } else {
                self.live.next()
            };
            match next {
                Ok(Some(m)) => {
                    let seq = m.seq;
                    if !self.subs.iter().any(|s| s.cursor == seq) {
                        continue;
                    }
                    let mut bodies = Bodies::default();
                    for s in self.subs.iter_mut().filter(|s| s.cursor == seq) {
                        if s.sub
                            .outbox
                            .try_push_for(&s.sub, bodies.get(&m, s.sub.binary))
                        {
                            s.cursor = seq + 1;
                        }
                    }
                }
                Ok(None) => return Ok(()),
                Err(ReadError::Overrun {
                    expected_seq,
                    resume_seq,
                    ..
                }) => {
                    // The live cursor itself was lapped: the subscriptions that were with it
                    // lost exactly these.
                    let mut lost = Vec::new();
                    for s in &mut self.subs {
                        if s.cursor >= expected_seq && s.cursor < resume_seq {
                            lost.push((s.sub.clone(), s.cursor));
                            s.cursor = resume_seq;
                        }
                    }
                    for (sub, from) in lost {
                        self.gap(&sub, from, resume_seq - 1);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Replays missed messages to the subscriptions behind the live cursor that have room in
    /// their queues. Returns whether some still lag with room (then do not sleep).
    fn catch_up_all(&mut self) -> Result<bool, ReadError> {
        let live = self.live.next_seq();
        let mut busy = false;
        for i in 0..self.subs.len() {
            if self.subs[i].cursor >= live || !self.subs[i].sub.outbox.has_room() {
                continue;
            }
            busy |= self.catch_up(i, live)?;
        }
        Ok(busy)
    }

    fn catch_up(&mut self, i: usize, live: u64) -> Result<bool, ReadError> {
        if self.history.next_seq() != self.subs[i].cursor {
            self.seek_history(i)?;
        }
        for _ in 0..CATCH_UP_BATCH {
            let cursor = self.subs[i].cursor;
            if cursor >= live {
                return Ok(false);
            }
            match self.history.next() {
                Ok(Some(m)) => {
                    let s = &mut self.subs[i];
                    let body = Bodies::default().get(&m, s.sub.binary);
                    if !s.sub.outbox.try_push_for(&s.sub, body) {
                        return Ok(false);
                    }
                    s.cursor = m.seq + 1;
                }
                Ok(None) => return Ok(false),
                Err(ReadError::Overrun { resume_seq, .. }) => {
                    let from = self.subs[i].cursor;
                    self.subs[i].cursor = resume_seq;
                    self.gap(&self.subs[i].sub, from, resume_seq - 1);
                }
                Err(e) => return Err(e),
            }
        }
        let s = &self.subs[i];
        Ok(s.cursor < live && s.sub.outbox.has_room())
    }

    /// Puts the history cursor on subscription `i`'s cursor; what is no longer stored becomes
    /// a gap notice and the subscription resumes at the oldest message.
    fn seek_history(&mut self, i: usize) -> Result<(), ReadError> {
        for _ in 0..8 {
            let cursor = self.subs[i].cursor;
            match self.history.seek(cursor) {
                Ok(()) => return Ok(()),
                Err(ReadError::TooOld { oldest, .. }) => {
                    self.subs[i].cursor = oldest;
                    self.gap(&self.subs[i].sub, cursor, oldest - 1);
                }
                Err(e) => return Err(e),
            }
        }
        let cursor = self.subs[i].cursor;
        self.history.seek(cursor)
    }
}

/// A slot-table subscription.
struct SSub {
    sub: Arc<Sub>,
    symbols: Option<HashSet<String>>,
}

impl SSub {
    fn wants(&self, key: &str) -> bool {
        self.symbols.as_ref().is_none_or(|s| s.contains(key))
    }
}

fn slot_body(key: &str, v: &shmbus::Versioned<TradingData>) -> Arc<str> {
    json!({ "slot": slot_json(key, Some(v)) })
        .to_string()
        .into()
}

/// A slot table's thread: the table, its subscriptions, and the sequence of each slot last
/// published to them.
struct SlotHub {
    reader: SlotReader<TradingData>,
    subs: Vec<SSub>,
    keys: Vec<(String, SlotId)>,
    keys_at: Instant,
    seen: HashMap<u32, u64>,
}

impl SlotHub {
    /// Publishes what changed since the last pass to every subscription that wants it; with
    /// `new`, also the current value of every slot to subscription `new` (so it starts with a
    /// full table and no value arrives twice).
    fn pass(&mut self, new: Option<usize>) {
        let r = &self.reader;
        if new.is_some()
            || self.keys_at.elapsed() >= CHECK_EVERY
            || self.keys.len() != r.len() as usize
        {
            self.keys = r.keys();
            self.keys_at = Instant::now();
        }
        for (key, id) in &self.keys {
            let since = self.seen.get(&id.index()).copied().unwrap_or(0);
            // A slot mid-write by a stopped or dead writer is skipped this round.
            let v = match new {
                Some(_) => r.read(*id),
                None => r.read_if_changed(*id, since),
            };
            let Ok(Some(v)) = v else { continue };
            let changed = v.seq != since;
            self.seen.insert(id.index(), v.seq);
            let mut body = None;
            for (i, s) in self.subs.iter().enumerate() {
                if s.wants(key) && (changed || Some(i) == new) {
                    let b = body.get_or_insert_with(|| slot_body(key, &v)).clone();
                    s.sub.outbox.put_conflated(&s.sub, key, b);
                }
            }
        }
    }

    fn add(&mut self, sub: Arc<Sub>, spec: Spec) {
        let Spec::Slots { symbols } = spec else {
            return;
        };
        let r = &self.reader;
        sub.notice(&json!({ "subscribed": {
            "slots": r.region().name().as_str(), "capacity": r.capacity(), "in_use": r.len(),
        } }));
        self.subs.push(SSub { sub, symbols });
        self.pass(Some(self.subs.len() - 1));
    }
}

fn run_slots(mut ctx: Ctx, reader: SlotReader<TradingData>) {
    let mut hub = SlotHub {
        reader,
        subs: Vec::new(),
        keys: Vec::new(),
        keys_at: Instant::now(),
        seen: HashMap::new(),
    };
    loop {
        while let Some(Cmd::Add(sub, spec)) = ctx.try_cmd() {
            hub.add(sub, spec);
        }
        hub.subs.retain(|s| !s.sub.is_cancelled());
        if let Some(reason) = ctx.removed() {
            ctx.end_all(hub.subs.iter().map(|s| &s.sub), &reason, "removed");
            return;
        }
        match ctx.idle_exit(!hub.subs.is_empty()) {
            Ok(true) => return,
            Ok(false) => {}
            Err(pending) => {
                for Cmd::Add(sub, spec) in pending {
                    hub.add(sub, spec);
                }
            }
        }
        if !hub.subs.is_empty() {
            hub.pass(None);
        }
        std::thread::sleep(SLOT_POLL);
    }
}

/// A candle subscription and the newest bar it was sent.
struct CSub {
    sub: Arc<Sub>,
    symbol: String,
    interval: String,
    last: Option<Candle>,
}

fn run_candles(mut ctx: Ctx, reader: CandleReader) {
    let mut subs: Vec<CSub> = Vec::new();
    let add = |subs: &mut Vec<CSub>, sub: Arc<Sub>, spec: Spec| {
        let Spec::Candles { symbol, interval } = spec else {
            return;
        };
        match reader.latest(&symbol, &interval) {
            Ok(_) => {
                sub.notice(&json!({ "subscribed": { "candles": reader.name(), "symbol": symbol, "interval": interval } }));
                subs.push(CSub {
                    sub,
                    symbol,
                    interval,
                    last: None,
                });
            }
            Err(e) => {
                let e = ApiError::from(e);
                sub.end(&json!({ "error": e.message, "code": e.code }));
            }
        }
    };
    loop {
        while let Some(Cmd::Add(sub, spec)) = ctx.try_cmd() {
            add(&mut subs, sub, spec);
        }
        subs.retain(|s| !s.sub.is_cancelled());
        if let Some(reason) = ctx.removed() {
            ctx.end_all(subs.iter().map(|s| &s.sub), &reason, "removed");
            return;
        }
        match ctx.idle_exit(!subs.is_empty()) {
            Ok(true) => return,
            Ok(false) => {}
            Err(pending) => {
                for Cmd::Add(sub, spec) in pending {
                    add(&mut subs, sub, spec);
                }
            }
        }
        for s in &mut subs {
            let Ok(Some(latest)) = reader.latest(&s.symbol, &s.interval) else {
                continue;
            };
            if s.last == Some(latest) {
                continue;
            }
            // Every bar from the last one sent (it may have changed since) to the newest.
            let bars = match s.last {
                Some(l) if l.timestamp < latest.timestamp => reader
                    .range(&s.symbol, &s.interval, l.timestamp, u64::MAX)
                    .unwrap_or_default(),
                _ => vec![latest],
            };
            for c in bars.iter().filter(|c| s.last.is_none_or(|l| **c != l)) {
                let mut doc = candle_json(c);
                doc["symbol"] = json!(s.symbol);
                doc["interval"] = json!(s.interval);
                let body: Arc<str> = json!({ "candle": doc }).to_string().into();
                // A client too slow for the bar rate gets the newest bar only (one key).
                let key = if s.sub.outbox.has_room() {
                    c.timestamp.to_string()
                } else {
                    "newest".to_owned()
                };
                s.sub.outbox.put_conflated(&s.sub, &key, body);
            }
            s.last = Some(latest);
        }
        std::thread::sleep(CANDLE_POLL);
    }
}
