//! `--core` mode: a journal over a plain NATS subject (no JetStream), for the lowest latency.
//!
//! `out` publishes every frame with the same headers as the JetStream path (no stream, no acks);
//! `in` subscribes and appends each message with the same type and payload. Loss on a
//! disconnect is accepted but never silent: `in` follows the `Shmbus-Seq` headers and writes a
//! gap frame ([`GAP_TYPE`], the exact range lost) for every jump, and a ring that laps `out`
//! becomes a gap marker as on the JetStream path. See docs/BRIDGE.md.

use anyhow::{Context, Result, bail};
use async_nats::client::PublishErrorKind;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use shmbus::journal::{JournalReader, JournalWriter, Start};
use tokio::sync::watch;

use crate::outbound::{Item, headers, open_reader, to_item};
use crate::state::InState;
use crate::{From, GAP_TYPE, H_GAP, H_SEQ, H_TYPE, OutOptions, OutStats, header_gap, header_u64};

/// Runs `bridge out --core` until `stop` turns true: publishes the journal from `o.from` on
/// `o.subject` (`o.stream`, `o.window` and the stream limits are not used).
///
/// # Errors
///
/// The journal cannot be read, the server cannot be reached at start, or a message is larger
/// than the server accepts.
pub async fn run_out_core(o: &OutOptions, mut stop: watch::Receiver<bool>) -> Result<OutStats> {
    JournalReader::open(&o.journal, Start::End)
        .with_context(|| format!("cannot read journal {}", o.journal))?;
    let client = crate::connect_with(&o.url, &o.auth).await?;
    let start = match o.from {
        From::Start => Start::Beginning,
        From::End => Start::End,
        From::Seq(n) => Start::Seq(n),
    };
    let (reader, gap) = open_reader(o, start)?;
    let mut stats = OutStats {
        next_seq: reader.next_seq(),
        ..OutStats::default()
    };
    // Scripts and tests wait for this line: the bridge publishes from here on.
    eprintln!(
        "bridge out: {} -> subject {} (core NATS, no acks), from sequence {}",
        o.journal, o.subject, stats.next_seq
    );
    let mut messages = reader.into_stream();
    let mut pending = gap;
    loop {
        let item = match pending.take() {
            Some(i) => i,
            None => tokio::select! {
                m = messages.next() => to_item(m, &messages, o)?,
                _ = stop.changed() => break,
            },
        };
        let (h, _) = headers(&item, None);
        let (next, payload) = match item {
            Item::Msg { seq, payload, .. } => {
                stats.published += 1;
                (seq + 1, Bytes::from(payload))
            }
            Item::Gap { from, to, .. } => {
                eprintln!(
                    "bridge out: the journal lapped the bridge: sequences {from}..={to} lost; publishing a gap marker"
                );
                stats.gaps += 1;
                stats.gap_messages += to + 1 - from;
                (to + 1, Bytes::new())
            }
        };
        let len = payload.len();
        // Queued for the client's writer, which flushes whenever nothing more is queued; while
        // the server is away the queue fills and this waits (the ring may lap us: a gap marker).
        if let Err(e) = client
            .publish_with_headers(o.subject.clone(), h, payload)
            .await
        {
            if e.kind() == PublishErrorKind::MaxPayloadExceeded {
                bail!(
                    "message {} of {} is {len} bytes, more than the NATS server accepts (its max_payload): raise max_payload in the server's configuration",
                    next - 1,
                    o.journal
                );
            }
            bail!("cannot publish on {} ({e})", o.subject);
        }
        stats.next_seq = next;
    }
    // What is queued goes out before the stop line (a server that is away loses it).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), client.flush()).await;
    Ok(stats)
}

/// Returns once the server has processed everything this client sent before (a subscription
/// is then in place on the server): a message to our own inbox comes back. (`flush` only
/// writes the socket.)
///
/// # Errors
///
/// The connection fails or nothing comes back within 10 s.
pub async fn server_round_trip(client: &async_nats::Client) -> Result<()> {
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, Bytes::new()).await?;
    tokio::time::timeout(std::time::Duration::from_secs(10), probe.next())
        .await
        .context("the NATS server did not answer within 10 s")?
        .context("the connection closed")?;
    Ok(())
}

/// What `bridge in --core` does.
#[derive(Debug, Clone)]
pub struct CoreInOptions {
    /// NATS server URL(s).
    pub url: String,
    /// Credentials for the server.
    pub auth: crate::Auth,
    /// The subject to subscribe to.
    pub subject: String,
    /// The local journal to write (it must exist).
    pub journal: String,
    /// Messages committed together, at most.
    pub batch: usize,
}

/// What `bridge in --core` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreInStats {
    /// Messages written to the journal.
    pub stored: u64,
    /// Gap frames written (a jump in the sequences, or a gap marker from `out`).
    pub gaps: u64,
    /// Sender sequences those gap frames cover.
    pub gap_messages: u64,
    /// Messages dropped because the journal already held their sequence (a restarted `out`).
    pub old: u64,
    /// The sender's sequence expected next (0 with nothing stored yet).
    pub next_seq: u64,
}

impl std::fmt::Display for CoreInStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stored {}, gap frames {} ({} messages lost), old messages dropped {}, next sequence {}",
            self.stored, self.gaps, self.gap_messages, self.old, self.next_seq
        )
    }
}

/// One frame to append: it stands for the sender's sequences `first..=last`.
struct Frame {
    first: u64,
    last: u64,
    ty: u16,
    payload: Bytes,
    /// A gap frame (not one of the sender's messages, whatever its type).
    gap: bool,
}

fn gap_frame(first: u64, last: u64) -> Frame {
    let mut p = Vec::with_capacity(16);
    p.extend_from_slice(&first.to_le_bytes());
    p.extend_from_slice(&last.to_le_bytes());
    Frame {
        first,
        last,
        ty: GAP_TYPE,
        payload: Bytes::from(p),
        gap: true,
    }
}

fn decode(m: async_nats::Message, subject: &str) -> Result<Frame> {
    let h = m.headers.unwrap_or_default();
    if let Some((from, to)) = header_gap(&h).filter(|(f, t)| f <= t) {
        return Ok(gap_frame(from, to));
    }
    match (
        header_u64(&h, H_SEQ),
        header_u64(&h, H_TYPE).and_then(|t| u16::try_from(t).ok()),
    ) {
        (Some(seq), Some(ty)) => Ok(Frame {
            first: seq,
            last: seq,
            ty,
            payload: m.payload,
            gap: false,
        }),
        _ => bail!(
            "a message on {subject} has no {H_SEQ}/{H_TYPE} or {H_GAP} header: the subject carries messages not published by `shmbus bridge out --core`; give the bridge a subject of its own"
        ),
    }
}

/// Runs `bridge in --core` until `stop` turns true (after the batch in hand is committed).
///
/// # Errors
///
/// The journal cannot be opened as a writer, the server cannot be reached at start, or a
/// message is not from `bridge out` or does not fit the journal.
pub async fn run_in_core(
    o: &CoreInOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<CoreInStats> {
    let mut w = JournalWriter::open(&o.journal)
        .with_context(|| format!("cannot open journal {} to write it", o.journal))?;
    // The sender's sequences are recorded in the journal's `bridge in` status region, under the
    // label `core:SUBJECT` (a JetStream `bridge in` of the journal is then refused: another
    // sequence space).
    let mut st = InState::open(&o.journal, &format!("core:{}", o.subject))?;
    // The state holds the sender's next sequence (0: nothing stored: the first message sets it).
    let mut stats = CoreInStats {
        next_seq: st.stored(w.next_seq())?,
        ..CoreInStats::default()
    };
    let client = crate::connect_with(&o.url, &o.auth).await?;
    let mut sub = client
        .subscribe(o.subject.clone())
        .await
        .with_context(|| format!("cannot subscribe to {}", o.subject))?;
    server_round_trip(&client)
        .await
        .with_context(|| format!("cannot subscribe to {}", o.subject))?;
    eprintln!(
        "bridge in: subject {} (core NATS) -> {}, next sequence {}",
        o.subject, o.journal, stats.next_seq
    );
    let max_batch_bytes = (w.capacity() / 4).max(1);
    loop {
        let first = tokio::select! {
            m = sub.next() => m,
            _ = stop.changed() => return Ok(stats),
        };
        let Some(first) = first else {
            bail!("the subscription to {} ended", o.subject);
        };
        let mut batch = vec![decode(first, &o.subject)?];
        let mut bytes = 24 + batch[0].payload.len() as u64;
        while batch.len() < o.batch && bytes < max_batch_bytes {
            match sub.next().now_or_never() {
                Some(Some(m)) => {
                    let f = decode(m, &o.subject)?;
                    bytes += 24 + f.payload.len() as u64;
                    batch.push(f);
                }
                _ => break,
            }
        }
        store(&mut w, &mut st, batch, &mut stats, o)?;
    }
}

/// Appends a batch: drops what the journal holds, writes a gap frame before any jump, and
/// commits it in runs, each recorded in the state file first.
fn store(
    w: &mut JournalWriter,
    st: &mut InState,
    batch: Vec<Frame>,
    stats: &mut CoreInStats,
    o: &CoreInOptions,
) -> Result<()> {
    let mut frames = Vec::with_capacity(batch.len());
    let mut expect = (stats.next_seq > 0).then_some(stats.next_seq);
    for mut f in batch {
        if let Some(e) = expect {
            if f.last < e {
                stats.old += 1;
                continue;
            }
            if f.first < e {
                // Only a gap marker spans several sequences: keep the part not held yet.
                f = gap_frame(e, f.last);
            }
            if f.first > e {
                frames.push(gap_frame(e, f.first - 1));
            }
        }
        expect = Some(f.last + 1);
        frames.push(f);
    }
    // A run is frames standing for one sequence each (the state's arithmetic counts frames);
    // a gap frame for several sequences is a run of its own, recorded as its last sequence.
    let mut i = 0;
    while i < frames.len() {
        let mut j = i + 1;
        if frames[i].first == frames[i].last {
            while j < frames.len() && frames[j].first == frames[j].last {
                j += 1;
            }
        }
        let run = &frames[i..j];
        st.intent(
            stats.next_seq,
            run[0].last + 1,
            w.next_seq(),
            run.len() as u64,
        )?;
        for f in run {
            w.append(f.ty, &f.payload).with_context(|| {
                format!(
                    "cannot append message {} ({} bytes) to journal {}",
                    f.first,
                    f.payload.len(),
                    o.journal
                )
            })?;
            if f.gap {
                stats.gaps += 1;
                stats.gap_messages += f.last - f.first + 1;
            } else {
                stats.stored += 1;
            }
        }
        w.commit();
        stats.next_seq = run[run.len() - 1].last + 1;
        i = j;
    }
    Ok(())
}
