//! Operating a bridge: the live counters in its status region (`shmbus::bridge_status`), for
//! `--stats-interval`, `shmbus inspect`, `shmbus top` and the gateway's `/metrics`.
//!
//! `outbound.rs` and `inbound.rs` call the hooks below; the region itself (naming, layout,
//! validation, readers) is the core's.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use shmbus::RegionError;
use shmbus::bridge_status::{BridgeStatus, Direction, Word};

use crate::{InStats, OutOptions, OutStats};

/// Connections to a NATS server lost by this process's clients (each one followed by the
/// client's own reconnect attempts). One bridge runs per `shmbus bridge` process.
static CONNECTION_LOSSES: AtomicU64 = AtomicU64::new(0);

/// The connection-event callback of every client the bridge makes.
pub(crate) async fn on_event(event: async_nats::Event) {
    if matches!(event, async_nats::Event::Disconnected) {
        CONNECTION_LOSSES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Opens the status region of `bridge out` (`JOURNAL.bridge-out.STREAM`).
pub(crate) fn open_out(o: &OutOptions) -> Result<BridgeStatus> {
    BridgeStatus::open(&o.journal, Direction::Out, &o.stream, &o.subject).map_err(|e| match e {
        RegionError::WriterBusy { pid, .. } => anyhow::anyhow!(
            "another `shmbus bridge out` publishes journal {} to stream {}{}: stop it first",
            o.journal,
            o.stream,
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        ),
        e => anyhow::Error::new(e).context(format!(
            "cannot open the `bridge out` status of journal {} (stream {})",
            o.journal, o.stream
        )),
    })
}

/// `bridge out`: the counters after every publish, ack, rewind or journal read.
pub(crate) fn out_update(s: &BridgeStatus, stats: &OutStats, in_flight: usize) {
    s.set(Word::Messages, stats.published);
    s.set(Word::Bytes, stats.bytes);
    s.set(Word::Duplicates, stats.duplicates);
    s.set(Word::Gaps, stats.gaps);
    s.set(Word::Lost, stats.gap_messages);
    s.set(Word::Rewinds, stats.rewinds);
    s.set(Word::Reconnects, CONNECTION_LOSSES.load(Ordering::Relaxed));
    s.set(Word::InFlight, in_flight as u64);
    s.set(Word::JournalNext, stats.next_seq);
    s.set(Word::StreamSeq, stats.stream_seq);
    s.touch();
}

/// `bridge in`: a batch delivered and not yet acked.
pub(crate) fn in_flight(s: &BridgeStatus, n: usize) {
    s.set(Word::InFlight, n as u64);
}

/// `bridge in`: the counters after a batch is committed and acked; `lag` is the stream's
/// pending count after the last message delivered.
pub(crate) fn in_update(s: &BridgeStatus, stats: &InStats, journal_next: u64, lag: u64) {
    s.set(Word::Messages, stats.stored);
    s.set(Word::Bytes, stats.bytes);
    s.set(Word::Duplicates, stats.redeliveries);
    s.set(Word::Gaps, stats.gaps);
    s.set(Word::Lost, stats.skipped);
    s.set(Word::Reconnects, CONNECTION_LOSSES.load(Ordering::Relaxed));
    s.set(Word::InFlight, 0);
    s.set(Word::JournalNext, journal_next);
    s.set(Word::StreamSeq, stats.stream_seq);
    s.set(Word::Lag, lag);
    s.touch();
}
