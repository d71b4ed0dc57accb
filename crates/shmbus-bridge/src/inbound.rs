//! `bridge in`: a JetStream stream into a local journal, exactly once across kill -9.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::{self, consumer};
use futures_util::{FutureExt, StreamExt};
use shmbus::journal::JournalWriter;
use tokio::sync::watch;

use crate::state::InState;
use crate::{GAP_TYPE, H_GAP, H_TYPE, header_gap, header_u64};

/// What `bridge in` does.
#[derive(Debug, Clone)]
pub struct InOptions {
    /// NATS server URL(s).
    pub url: String,
    /// Credentials for the server.
    pub auth: crate::Auth,
    /// The stream to read.
    pub stream: String,
    /// Durable consumer name (default: derived from the journal's name).
    pub durable: Option<String>,
    /// The local journal to write (it must exist).
    pub journal: String,
    /// Messages delivered and not yet acked, at most.
    pub max_ack_pending: i64,
    /// Messages committed together, at most.
    pub batch: usize,
    /// `--slots` / `--candles`: what to mirror from the journal (see `mirror.rs`).
    pub mirror: crate::MirrorOptions,
}

/// What `bridge in` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InStats {
    /// Messages written to the journal.
    pub stored: u64,
    /// Gap frames written (gap markers from the other side).
    pub gaps: u64,
    /// Deliveries dropped because the journal already held them.
    pub redeliveries: u64,
    /// Stream sequences skipped because the stream no longer held them (its limits).
    pub skipped: u64,
    /// The last stream sequence the journal holds.
    pub stream_seq: u64,
    /// Payload bytes of the messages written (gap frames aside).
    pub bytes: u64,
    /// What the mirror did, with `--slots` or `--candles`.
    pub mirror: Option<crate::MirrorStats>,
}

impl std::fmt::Display for InStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stored {}, gap frames {}, redeliveries dropped {}, stream sequences skipped {}, last stream sequence {}",
            self.stored, self.gaps, self.redeliveries, self.skipped, self.stream_seq
        )?;
        match &self.mirror {
            Some(m) => write!(f, "; {m}"),
            None => Ok(()),
        }
    }
}

/// A consumer that delivers nothing for this long while the stream holds newer messages is
/// started again.
const STALL: Duration = Duration::from_secs(5);

/// The default durable name for a journal: `shmbus-in-` and its name's letters and digits.
pub fn default_durable(journal: &str) -> String {
    let tail: String = journal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("shmbus-in-{}", tail.trim_matches('_'))
}

/// One message of a batch, decoded.
struct In {
    sseq: u64,
    /// Messages the consumer holds after this one.
    pending: u64,
    ty: u16,
    payload: bytes::Bytes,
    msg: jetstream::Message,
}

fn decode(m: jetstream::Message, stream: &str) -> Result<In> {
    let info = m.info().map_err(|e| {
        anyhow::anyhow!("a delivery from stream {stream} has no JetStream metadata ({e})")
    })?;
    let (sseq, pending) = (info.stream_sequence, info.pending);
    let h = m.headers.clone().unwrap_or_default();
    let (ty, payload) = if let Some((from, to)) = header_gap(&h) {
        let mut p = Vec::with_capacity(16);
        p.extend_from_slice(&from.to_le_bytes());
        p.extend_from_slice(&to.to_le_bytes());
        (GAP_TYPE, bytes::Bytes::from(p))
    } else if let Some(ty) = header_u64(&h, H_TYPE).and_then(|t| u16::try_from(t).ok()) {
        (ty, m.payload.clone())
    } else {
        bail!(
            "message {sseq} of stream {stream} has no {H_TYPE} or {H_GAP} header: the stream holds messages not published by `shmbus bridge out`"
        );
    };
    Ok(In {
        sseq,
        pending,
        ty,
        payload,
        msg: m,
    })
}

/// Runs `bridge in` until `stop` turns true (after the batch in hand is committed and acked).
///
/// # Errors
///
/// The journal cannot be opened as a writer, the server cannot be reached at start, the
/// stream does not exist, a message is not from `bridge out` or does not fit the journal.
pub async fn run_in(o: &InOptions, mut stop: watch::Receiver<bool>) -> Result<InStats> {
    let mut w = JournalWriter::open(&o.journal)
        .with_context(|| format!("cannot open journal {} to write it", o.journal))?;
    let mut st = InState::open(&o.journal, &o.stream)?;
    let mut stats = InStats {
        stream_seq: st.stored(w.next_seq())?,
        ..InStats::default()
    };
    crate::ops::in_update(st.status(), &stats, w.next_seq(), 0);
    // The mirror catches up with what the journal holds before anything new is stored.
    let mut mirror = crate::Mirror::open(&o.mirror, &o.journal, w.next_seq())?;
    stats.mirror = mirror.as_ref().map(|m| m.stats().clone());
    let client = crate::connect_with(&o.url, &o.auth).await?;
    let js = jetstream::new(client);
    let s = match js.get_stream(&o.stream).await {
        Ok(s) => s,
        Err(e)
            if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            bail!(
                "no stream {} on {}: start `shmbus bridge out` first, or check --stream",
                o.stream,
                o.url
            );
        }
        Err(e) => return Err(e).with_context(|| format!("cannot look up stream {}", o.stream)),
    };
    let durable = o
        .durable
        .clone()
        .unwrap_or_else(|| default_durable(&o.journal));
    // Bytes committed together at most: a ring refuses a batch larger than itself.
    let max_batch_bytes = (w.capacity() / 4).max(1);
    let mut backoff = Duration::from_millis(100);
    let mut at_start = true;
    'session: loop {
        // The journal is the truth: the consumer restarts right after what it holds (a
        // durable's own redeliveries would come after newer messages, out of order).
        match s.delete_consumer(&durable).await {
            Ok(_) => {}
            Err(e)
                if matches!(e.kind(), jetstream::stream::ConsumerErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND) => {}
            Err(e) => {
                if *stop.borrow() {
                    return Ok(stats);
                }
                eprintln!(
                    "bridge in: cannot reset consumer {durable} ({e}); retrying in {backoff:?}"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        let c = match s
            .create_consumer(consumer::pull::Config {
                durable_name: Some(durable.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                max_ack_pending: o.max_ack_pending,
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: stats.stream_seq + 1,
                },
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot create consumer {durable} on stream {}", o.stream))
        {
            Ok(c) => c,
            // Refused at start ends the command; after that (a leader election, a server
            // restarting) it is retried like a lost pull.
            Err(e) if !at_start && !*stop.borrow() => {
                eprintln!("bridge in: {e:#}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut msgs = match c
            .stream()
            .max_messages_per_batch(o.batch.clamp(1, 10_000))
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
            .with_context(|| format!("cannot pull from consumer {durable}"))
        {
            Ok(m) => m,
            Err(e) if !at_start && !*stop.borrow() => {
                eprintln!("bridge in: {e:#}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => return Err(e),
        };
        at_start = false;
        loop {
            let first = tokio::select! {
                m = msgs.next() => m,
                _ = stop.changed() => return Ok(stats),
                () = tokio::time::sleep(STALL) => {
                    // Nothing delivered for a while: fine if the stream holds nothing newer;
                    // otherwise the consumer lost track (acks or pull requests sent to a leader
                    // that died, seen in the cluster failover test) and starts again.
                    match s.get_info().await {
                        Ok(i) if i.state.last_sequence > stats.stream_seq => {
                            eprintln!(
                                "bridge in: nothing delivered for {STALL:?} while the stream holds up to sequence {} (the journal up to {}); restarting consumer {durable}",
                                i.state.last_sequence, stats.stream_seq
                            );
                            continue 'session;
                        }
                        Ok(_) => continue,
                        Err(e) => {
                            eprintln!("bridge in: nothing delivered for {STALL:?} and cannot ask stream {} how far it goes ({e}); restarting consumer {durable}", o.stream);
                            continue 'session;
                        }
                    }
                }
            };
            let mut batch = Vec::new();
            let mut bytes = 0;
            let mut next = first;
            loop {
                match next {
                    Some(Ok(m)) => {
                        let m = decode(m, &o.stream)?;
                        bytes += 24 + m.payload.len() as u64;
                        batch.push(m);
                    }
                    Some(Err(e)) => {
                        eprintln!("bridge in: pull from {durable} failed ({e}); resuming");
                        if batch.is_empty() {
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                            continue 'session;
                        }
                        break;
                    }
                    None => continue 'session,
                }
                if batch.len() >= o.batch || bytes >= max_batch_bytes {
                    break;
                }
                match msgs.next().now_or_never() {
                    Some(m) => next = m,
                    None => break,
                }
            }
            backoff = Duration::from_millis(100);
            let pending = batch.last().map_or(0, |m| m.pending);
            crate::ops::in_flight(st.status(), batch.len());
            let ok = store(&mut w, &mut st, &mut mirror, &s, batch, &mut stats, o).await?;
            crate::ops::in_update(st.status(), &stats, w.next_seq(), pending);
            if !ok {
                // Delivered out of order: start the consumer again after what is stored.
                eprintln!("bridge in: restarting consumer {durable}");
                tokio::time::sleep(backoff).await;
                continue 'session;
            }
        }
    }
}

/// Writes a batch: runs of consecutive stream sequences, each recorded, appended and
/// committed, then acked. `false` if a delivery skipped a message the stream holds, or may
/// hold (it could not say): the consumer restarts after what is stored.
async fn store(
    w: &mut JournalWriter,
    st: &mut InState,
    mirror: &mut Option<crate::Mirror>,
    s: &jetstream::stream::Stream,
    batch: Vec<In>,
    stats: &mut InStats,
    o: &InOptions,
) -> Result<bool> {
    let mut run: Vec<&In> = Vec::new();
    let mut ok = true;
    for m in &batch {
        if m.sseq <= stats.stream_seq {
            stats.redeliveries += 1;
            continue;
        }
        let expect = stats.stream_seq + run.len() as u64 + 1;
        if m.sseq != expect {
            // A hole: the stream deleted those (limits) or the delivery is out of order.
            commit_run(w, st, mirror, &mut run, stats, o)?;
            // Only the stream's own "no message found" proves the hole was deleted; any other
            // answer (a timeout while a new leader is elected) restarts the consumer, which
            // asks again: taking it for a deletion would lose the messages (the cluster test).
            match s.get_raw_message(stats.stream_seq + 1).await {
                Err(e) if matches!(e.kind(), RawMessageErrorKind::NoMessageFound) => {
                    stats.skipped += m.sseq - stats.stream_seq - 1;
                }
                Ok(_) => {
                    eprintln!(
                        "bridge in: a delivery skipped stream sequence {}, which the stream holds",
                        stats.stream_seq + 1
                    );
                    ok = false;
                    break;
                }
                Err(e) => {
                    eprintln!(
                        "bridge in: a delivery skipped stream sequence {} and stream {} cannot say whether it holds it ({e})",
                        stats.stream_seq + 1,
                        o.stream
                    );
                    ok = false;
                    break;
                }
            }
            // The run starts after the hole.
            stats.stream_seq = m.sseq - 1;
        }
        run.push(m);
    }
    commit_run(w, st, mirror, &mut run, stats, o)?;
    // Acked only once committed: a kill before this redelivers them, and they are dropped.
    for m in &batch {
        if m.sseq <= stats.stream_seq {
            let _ = m.msg.ack().await;
        }
    }
    Ok(ok)
}

fn commit_run(
    w: &mut JournalWriter,
    st: &mut InState,
    mirror: &mut Option<crate::Mirror>,
    run: &mut Vec<&In>,
    stats: &mut InStats,
    o: &InOptions,
) -> Result<()> {
    let Some(first) = run.first() else {
        return Ok(());
    };
    st.intent(stats.stream_seq, first.sseq, w.next_seq(), run.len() as u64)?;
    for m in run.iter() {
        w.append(m.ty, &m.payload).with_context(|| {
            format!(
                "cannot append stream message {} ({} bytes) to journal {}",
                m.sseq,
                m.payload.len(),
                o.journal
            )
        })?;
        if m.ty == GAP_TYPE {
            stats.gaps += 1;
        } else {
            stats.stored += 1;
            stats.bytes += m.payload.len() as u64;
        }
    }
    w.commit();
    // The mirror follows the journal, after the commit and before the acks (docs/BRIDGE.md).
    if let Some(m) = mirror {
        m.sync(w.next_seq())?;
        stats.mirror = Some(m.stats().clone());
    }
    stats.stream_seq = run.last().expect("non-empty").sseq;
    run.clear();
    Ok(())
}
