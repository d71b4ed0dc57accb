//! `/metrics` of `shmbus bridge`: the figures of every bridge status region the gateway lists
//! (docs/FORMAT.md section 8), live or dead, labelled by journal, direction and stream.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shmbus::Region;
use shmbus::bridge_status::read_status;

type Labels = Vec<(String, String)>;

/// The bridge families.
#[derive(Debug, Default)]
pub(crate) struct BridgeMetrics {
    published: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    duplicates: Family<Labels, Counter>,
    gaps: Family<Labels, Counter>,
    lost: Family<Labels, Counter>,
    rewinds: Family<Labels, Counter>,
    reconnects: Family<Labels, Counter>,
    in_flight: Family<Labels, Gauge>,
    lag: Family<Labels, Gauge>,
    alive: Family<Labels, Gauge>,
}

impl BridgeMetrics {
    pub(crate) fn register(&self, reg: &mut Registry) {
        let counters = [
            (
                "shmbus_bridge_published",
                "Messages a bridge carried: stored by the stream (out) or the journal (in)",
                &self.published,
            ),
            (
                "shmbus_bridge_bytes",
                "Payload bytes of the messages a bridge carried",
                &self.bytes,
            ),
            (
                "shmbus_bridge_duplicates",
                "Publishes acked as duplicates (out), deliveries already stored (in)",
                &self.duplicates,
            ),
            (
                "shmbus_bridge_gaps",
                "Gap markers published (out) or gap frames written (in)",
                &self.gaps,
            ),
            (
                "shmbus_bridge_lost_messages",
                "Messages lost: named by gap markers (out), no longer in the stream (in)",
                &self.lost,
            ),
            (
                "shmbus_bridge_rewinds",
                "Times bridge out went back to the stream's last message after an error",
                &self.rewinds,
            ),
            (
                "shmbus_bridge_reconnects",
                "Connections to the NATS server a bridge lost (each followed by a reconnect)",
                &self.reconnects,
            ),
        ];
        for (name, help, f) in counters {
            reg.register(name, help, f.clone());
        }
        let gauges = [
            (
                "shmbus_bridge_in_flight",
                "Publishes awaiting their ack (out), deliveries not yet acked (in)",
                &self.in_flight,
            ),
            (
                "shmbus_bridge_lag",
                "Messages behind: journal newest minus last acked (out), stream last minus stored (in)",
                &self.lag,
            ),
            (
                "shmbus_bridge_alive",
                "1 if the bridge's process holds its status region",
                &self.alive,
            ),
        ];
        for (name, help, f) in gauges {
            reg.register(name, help, f.clone());
        }
    }

    /// The figures of status region `name` (a corrupt one is left out: `shmbus inspect` and
    /// `/api/regions/NAME` say why).
    pub(crate) fn region(&self, name: &str) {
        let Ok(b) = read_status(name, &Region::open_options()) else {
            return;
        };
        let l: Labels = vec![
            ("journal".to_owned(), b.journal.clone()),
            ("direction".to_owned(), b.direction.name().to_owned()),
            ("stream".to_owned(), b.stream.clone()),
        ];
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.published.get_or_create(&l).inc_by(b.messages);
        self.bytes.get_or_create(&l).inc_by(b.bytes);
        self.duplicates.get_or_create(&l).inc_by(b.duplicates);
        self.gaps.get_or_create(&l).inc_by(b.gaps);
        self.lost.get_or_create(&l).inc_by(b.lost);
        self.rewinds.get_or_create(&l).inc_by(b.rewinds);
        self.reconnects.get_or_create(&l).inc_by(b.reconnects);
        self.in_flight.get_or_create(&l).set(to_i64(b.in_flight));
        self.lag.get_or_create(&l).set(to_i64(b.lag));
        self.alive.get_or_create(&l).set(i64::from(b.alive));
    }
}
