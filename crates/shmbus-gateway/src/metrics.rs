//! `/metrics`: the Prometheus text format (OpenMetrics), by the `prometheus-client` crate.
//!
//! Region metrics are read from the regions at scrape time (so a writer killed a moment ago
//! shows as dead at the next scrape); the gateway's own counters are kept as atomics.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shmbus::journal::{JournalReader, Start, list_readers};
use shmbus::{ListEntry, Probe, Region, RegionKind, RegionName};

use crate::AppState;
use crate::outbox::Outbox;

/// The gateway's counters.
#[derive(Debug, Default)]
pub(crate) struct GatewayStats {
    pub(crate) next_client: AtomicU64,
    pub(crate) messages_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    /// Journal messages that subscribers lost (the sum of every gap notice's count).
    pub(crate) gaps: AtomicU64,
    clients: Mutex<HashMap<u64, Arc<Outbox>>>,
}

impl GatewayStats {
    pub(crate) fn add_client(&self, outbox: Arc<Outbox>) {
        self.lock().insert(outbox.client, outbox);
    }

    /// Clients connected now.
    pub(crate) fn clients(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn remove_client(&self, client: u64) {
        self.lock().remove(&client);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Outbox>>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Labels = Vec<(String, String)>;
type GaugeFamily = Family<Labels, Gauge>;
type RatioFamily = Family<Labels, Gauge<f64, AtomicU64>>;
type CounterFamily = Family<Labels, Counter>;

fn region(name: &str) -> Labels {
    vec![("region".to_owned(), name.to_owned())]
}

struct RegionMetrics {
    info: GaugeFamily,
    size: GaugeFamily,
    alive: GaugeFamily,
    pid: GaugeFamily,
    newest: GaugeFamily,
    oldest: GaugeFamily,
    messages: CounterFamily,
    stored: GaugeFamily,
    occupancy: RatioFamily,
    slots: GaugeFamily,
    series: GaugeFamily,
    candles: GaugeFamily,
    writes: CounterFamily,
    reader_lag: GaugeFamily,
    reader_position: GaugeFamily,
    reader_alive: GaugeFamily,
    bridge: crate::bridge_metrics::BridgeMetrics,
}

impl RegionMetrics {
    fn register(reg: &mut Registry) -> Self {
        let m = Self {
            info: Family::default(),
            size: Family::default(),
            alive: Family::default(),
            pid: Family::default(),
            newest: Family::default(),
            oldest: Family::default(),
            messages: Family::default(),
            stored: Family::default(),
            occupancy: Family::default(),
            slots: Family::default(),
            series: Family::default(),
            candles: Family::default(),
            writes: Family::default(),
            reader_lag: Family::default(),
            reader_position: Family::default(),
            reader_alive: Family::default(),
            bridge: crate::bridge_metrics::BridgeMetrics::default(),
        };
        reg.register(
            "shmbus_region_info",
            "A region: its kind (always 1)",
            m.info.clone(),
        );
        reg.register(
            "shmbus_region_size_bytes",
            "Size of the region's file (all segments of a persisted journal)",
            m.size.clone(),
        );
        reg.register(
            "shmbus_region_writer_alive",
            "1 if a writer holds the region's lock",
            m.alive.clone(),
        );
        reg.register(
            "shmbus_region_writer_pid",
            "Pid of the current or last writer (0: closed cleanly)",
            m.pid.clone(),
        );
        reg.register(
            "shmbus_journal_newest_seq",
            "Sequence of the newest committed message (-1: empty)",
            m.newest.clone(),
        );
        reg.register(
            "shmbus_journal_oldest_seq",
            "Sequence of the oldest stored message",
            m.oldest.clone(),
        );
        reg.register(
            "shmbus_journal_messages",
            "Messages ever committed (rate() of it is the append rate)",
            m.messages.clone(),
        );
        reg.register(
            "shmbus_journal_stored_messages",
            "Messages stored now",
            m.stored.clone(),
        );
        reg.register(
            "shmbus_journal_ring_occupancy_ratio",
            "Stored bytes / ring capacity (1: the writer overwrites the oldest)",
            m.occupancy.clone(),
        );
        reg.register(
            "shmbus_slots_in_use",
            "Symbols registered in a TradingData slot table",
            m.slots.clone(),
        );
        reg.register(
            "shmbus_candles_series",
            "Series in a candle store",
            m.series.clone(),
        );
        reg.register(
            "shmbus_candles_candles",
            "Candles in a candle store",
            m.candles.clone(),
        );
        reg.register(
            "shmbus_candles_writes",
            "Writes to a candle store",
            m.writes.clone(),
        );
        reg.register(
            "shmbus_reader_lag",
            "Committed messages a registered journal reader has not read yet",
            m.reader_lag.clone(),
        );
        reg.register(
            "shmbus_reader_position",
            "The next sequence a registered journal reader will read",
            m.reader_position.clone(),
        );
        reg.register(
            "shmbus_reader_alive",
            "1 if a registered journal reader's process exists",
            m.reader_alive.clone(),
        );
        m.bridge.register(reg);
        m
    }

    fn entry(&self, e: &ListEntry) {
        let l = region(&e.name);
        let kind = match &e.probe {
            Probe::Shmbus(h) if h.magic == shmbus::MAGIC => h.kind(),
            _ => return,
        };
        let Some(kind) = kind else { return };
        let mut info = l.clone();
        info.push(("kind".to_owned(), kind.name().to_owned()));
        self.info.get_or_create(&info).set(1);
        self.size
            .get_or_create(&l)
            .set(i64::try_from(e.size).unwrap_or(i64::MAX));
        self.alive.get_or_create(&l).set(i64::from(e.writer_alive));
        if let Probe::Shmbus(h) = &e.probe {
            self.pid.get_or_create(&l).set(i64::from(h.writer_pid));
        }
        match kind {
            RegionKind::Journal => self.journal(&e.name, &l),
            RegionKind::Bridge => self.bridge.region(&e.name),
            RegionKind::Slots => {
                if let Ok(r) = shmbus::SlotReader::<shmbus::TradingData>::open(&e.name) {
                    self.slots.get_or_create(&l).set(i64::from(r.len()));
                }
            }
            RegionKind::Candles => {
                if let Ok(s) = shmbus::candles::CandleReader::open(&e.name).and_then(|r| r.stats())
                {
                    self.series
                        .get_or_create(&l)
                        .set(i64::from(s.total_symbols));
                    self.candles
                        .get_or_create(&l)
                        .set(i64::try_from(s.total_candles).unwrap_or(i64::MAX));
                    self.writes.get_or_create(&l).inc_by(s.write_count);
                }
            }
            _ => {}
        }
    }

    fn journal(&self, name: &str, l: &Labels) {
        let Ok(i) = JournalReader::open(name, Start::End).and_then(|r| r.info()) else {
            return;
        };
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.newest.get_or_create(l).set(to_i64(i.next_seq) - 1);
        self.oldest.get_or_create(l).set(to_i64(i.oldest_seq));
        self.messages.get_or_create(l).inc_by(i.next_seq);
        self.stored
            .get_or_create(l)
            .set(to_i64(i.next_seq - i.oldest_seq));
        self.alive.get_or_create(l).set(i64::from(i.writer_alive));
        if let Some(o) = crate::json::ring_occupancy(&i) {
            self.occupancy.get_or_create(l).set(o);
        }
        // Registered readers (a corrupt registry is left out; `shmbus inspect` says why).
        let readers = list_readers(name, i.next_seq, &Region::open_options()).unwrap_or_default();
        for r in readers {
            // The pid tells apart readers registered under the same name.
            let mut rl = l.clone();
            rl.push(("reader".to_owned(), r.name));
            rl.push(("pid".to_owned(), r.pid.to_string()));
            self.reader_lag.get_or_create(&rl).set(to_i64(r.lag));
            self.reader_position
                .get_or_create(&rl)
                .set(to_i64(r.position));
            self.reader_alive.get_or_create(&rl).set(i64::from(r.alive));
        }
    }
}

/// The region entries `/metrics` and `/api/regions` report: the listed directory's, then the
/// `--region` ones.
pub(crate) fn entries(st: &AppState) -> Vec<ListEntry> {
    let mut out = Region::list(&st.config.dir).unwrap_or_default();
    for r in &st.access.regions {
        if let Some(e) = region_entry(r) {
            out.push(e);
        }
    }
    out
}

/// The list entry of one file-path region (by listing its directory).
pub(crate) fn region_entry(name: &str) -> Option<ListEntry> {
    let parsed = RegionName::parse(name).ok()?;
    let path = parsed.path();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file = path.file_name()?;
    Region::list(dir)
        .ok()?
        .into_iter()
        .find(|e| Path::new(&e.name).file_name() == Some(file))
        .map(|mut e| {
            e.name = name.to_owned();
            e
        })
}

/// Renders every metric.
pub(crate) fn render(st: &AppState) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::default();
    let regions = RegionMetrics::register(&mut reg);
    for e in entries(st) {
        regions.entry(&e);
    }
    let mut dirs: Vec<String> = crate::json::persisted_journals(&st.config.dir)
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    dirs.extend(
        st.access
            .regions
            .iter()
            .filter(|r| RegionName::parse(r).is_ok_and(|n| n.path().is_dir()))
            .cloned(),
    );
    for name in dirs {
        let l = region(&name);
        let mut info = l.clone();
        info.push(("kind".to_owned(), "journal".to_owned()));
        regions.info.get_or_create(&info).set(1);
        if let Ok(n) = RegionName::parse(&name) {
            let (_, bytes) = crate::json::persisted_size(n.path());
            regions
                .size
                .get_or_create(&l)
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        regions.journal(&name, &l);
    }

    let clients: Gauge = Gauge::default();
    let readers: Gauge = Gauge::default();
    let sent: Counter = Counter::default();
    let bytes: Counter = Counter::default();
    let gaps: Counter = Counter::default();
    let queued: Gauge = Gauge::default();
    let bound: Gauge = Gauge::default();
    let client_queue: GaugeFamily = Family::default();
    let client_gaps: CounterFamily = Family::default();
    reg.register(
        "shmbus_gateway_clients",
        "WebSocket clients connected",
        clients.clone(),
    );
    reg.register(
        "shmbus_gateway_readers",
        "Region reader threads running (one per subscribed region)",
        readers.clone(),
    );
    reg.register(
        "shmbus_gateway_messages_sent",
        "WebSocket messages sent",
        sent.clone(),
    );
    reg.register(
        "shmbus_gateway_bytes_sent",
        "WebSocket payload bytes sent",
        bytes.clone(),
    );
    reg.register(
        "shmbus_gateway_gap_messages",
        "Journal messages subscribers lost (sum of gap notice counts)",
        gaps.clone(),
    );
    reg.register(
        "shmbus_gateway_queue_bytes",
        "Bytes queued for all clients",
        queued.clone(),
    );
    reg.register(
        "shmbus_gateway_queue_bound_bytes",
        "Bound of each client's queue",
        bound.clone(),
    );
    reg.register(
        "shmbus_gateway_client_queue_bytes",
        "Bytes queued for one client",
        client_queue.clone(),
    );
    reg.register(
        "shmbus_gateway_client_gap_messages",
        "Journal messages one client lost",
        client_gaps.clone(),
    );
    let s = &st.stats;
    let outboxes: Vec<Arc<Outbox>> = s.lock().values().cloned().collect();
    clients.set(outboxes.len() as i64);
    readers.set(st.hubs.len() as i64);
    sent.inc_by(s.messages_sent.load(Ordering::Relaxed));
    bytes.inc_by(s.bytes_sent.load(Ordering::Relaxed));
    gaps.inc_by(s.gaps.load(Ordering::Relaxed));
    bound.set(st.config.queue_bytes as i64);
    let mut total = 0;
    for o in outboxes {
        let q = o.queued_bytes();
        total += q;
        let l = vec![("client".to_owned(), o.client.to_string())];
        client_queue.get_or_create(&l).set(q as i64);
        client_gaps
            .get_or_create(&l)
            .inc_by(o.gaps.load(Ordering::Relaxed));
    }
    queued.set(total as i64);
    let mut out = String::new();
    encode(&mut out, &reg)?;
    Ok(out)
}
