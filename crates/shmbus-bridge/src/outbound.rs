//! `bridge out`: a journal into a JetStream stream, pipelined, exactly once.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use shmbus::journal::{JournalReader, Mode, Start};
use shmbus::{JournalError, ReadError};
use tokio::sync::watch;

use crate::{H_GAP, H_JOURNAL, H_SEQ, H_TIME, H_TYPE, gap_id, header_gap, header_u64, msg_id};

/// Where `bridge out` starts when the stream holds nothing from this journal yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// The oldest message stored.
    Start,
    /// Only messages committed after the bridge starts.
    End,
    /// This sequence.
    Seq(u64),
}

/// What `bridge out` does.
#[derive(Debug, Clone)]
pub struct OutOptions {
    /// The journal to read.
    pub journal: String,
    /// NATS server URL(s).
    pub url: String,
    /// Credentials for the server.
    pub auth: crate::Auth,
    /// Stream name (created if missing).
    pub stream: String,
    /// Subject to publish on: the stream's only subject.
    pub subject: String,
    /// Where to start if the stream holds nothing from this journal.
    pub from: From,
    /// Publishes awaiting their ack, at most.
    pub window: usize,
    /// Replicas of a stream it creates (and checked on an existing one when given).
    pub replicas: Option<usize>,
    /// Maximum age of a stream it creates (checked when given).
    pub max_age: Option<Duration>,
    /// Maximum bytes of a stream it creates (checked when given).
    pub max_bytes: Option<i64>,
}

/// What `bridge out` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutStats {
    /// Messages the stream stored (acked, not as duplicates).
    pub published: u64,
    /// Publishes the stream acked as duplicates (resent after an error or a restart).
    pub duplicates: u64,
    /// Gap markers published (the ring lapped the bridge).
    pub gaps: u64,
    /// Messages those markers say were lost.
    pub gap_messages: u64,
    /// Times the bridge went back to the stream's last message after an ack error.
    pub rewinds: u64,
    /// The journal sequence after the last acked message.
    pub next_seq: u64,
    /// Payload bytes of the messages the stream stored.
    pub bytes: u64,
    /// The stream sequence of the last message acked.
    pub stream_seq: u64,
}

impl std::fmt::Display for OutStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "published {}, duplicates {}, gap markers {} ({} messages lost), rewinds {}, next sequence {}",
            self.published,
            self.duplicates,
            self.gaps,
            self.gap_messages,
            self.rewinds,
            self.next_seq
        )
    }
}

/// One thing to publish.
#[derive(Debug)]
pub(crate) enum Item {
    Msg {
        seq: u64,
        ty: u16,
        jid: u64,
        payload: Vec<u8>,
    },
    Gap {
        from: u64,
        to: u64,
        jid: u64,
    },
}

type AckFuture = Pin<
    Box<
        dyn Future<
                Output = Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
            > + Send,
    >,
>;

/// Creates the stream, or checks that an existing one fits the bridge; returns it.
async fn ensure_stream(js: &jetstream::Context, o: &OutOptions) -> Result<stream::Stream> {
    match js.get_stream(&o.stream).await {
        Ok(s) => {
            let c = &s.cached_info().config;
            let mut diff = Vec::new();
            if c.subjects != [o.subject.clone()] {
                diff.push(format!(
                    "subjects {:?} (the bridge needs exactly [{:?}]: it chains publishes stream-wide, so the stream must be its own)",
                    c.subjects, o.subject
                ));
            }
            if c.retention != stream::RetentionPolicy::Limits {
                diff.push(format!("retention {:?} (needs limits)", c.retention));
            }
            if c.storage != stream::StorageType::File {
                diff.push(format!("storage {:?} (needs file)", c.storage));
            }
            if let Some(r) = o.replicas {
                if c.num_replicas.max(1) != r {
                    diff.push(format!("replicas {} (asked {r})", c.num_replicas));
                }
            }
            if let Some(a) = o.max_age {
                if c.max_age != a {
                    diff.push(format!("max age {:?} (asked {a:?})", c.max_age));
                }
            }
            if let Some(b) = o.max_bytes {
                if c.max_bytes != b {
                    diff.push(format!("max bytes {} (asked {b})", c.max_bytes));
                }
            }
            if !diff.is_empty() {
                bail!(
                    "stream {} exists with another configuration: {}; use another --stream, or change or delete that stream",
                    o.stream,
                    diff.join("; ")
                );
            }
            Ok(s)
        }
        Err(e)
            if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            js.create_stream(stream::Config {
                name: o.stream.clone(),
                subjects: vec![o.subject.clone()],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                num_replicas: o.replicas.unwrap_or(1),
                max_age: o.max_age.unwrap_or_default(),
                max_bytes: o.max_bytes.unwrap_or(-1),
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot create stream {} on subject {}", o.stream, o.subject))
        }
        Err(e) => Err(e).with_context(|| format!("cannot look up stream {}", o.stream)),
    }
}

/// Where publishing resumes: the journal sequence to read from, the id of the stream's last
/// message (the next publish must follow it), and a gap to report first.
#[derive(Debug)]
struct Resume {
    start: Start,
    expected_last: Option<String>,
}

/// Reads the stream's last message and decides where to go on (see docs/BRIDGE.md).
async fn resume(s: &stream::Stream, o: &OutOptions) -> Result<Resume> {
    let fresh = |expected_last| Resume {
        start: match o.from {
            From::Start => Start::Beginning,
            From::End => Start::End,
            From::Seq(n) => Start::Seq(n),
        },
        expected_last,
    };
    let m = match s.get_last_raw_message_by_subject(&o.subject).await {
        Ok(m) => m,
        Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {
            return Ok(fresh(None));
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot read the last message of stream {} on {}",
                    o.stream, o.subject
                )
            });
        }
    };
    let h = &m.headers;
    let last_id = h.get("Nats-Msg-Id").map(|v| v.as_str().to_owned());
    let jid = h
        .get(H_JOURNAL)
        .and_then(|v| u64::from_str_radix(v.as_str(), 16).ok());
    let next = match (header_gap(h), header_u64(h, H_SEQ)) {
        (Some((_, to)), _) => to.checked_add(1),
        (None, Some(seq)) => seq.checked_add(1),
        _ => None,
    };
    let (Some(jid), Some(next), Some(last_id)) = (jid, next, last_id.clone()) else {
        bail!(
            "the last message of stream {} on {} (stream sequence {}) was not published by `shmbus bridge out` (no {H_JOURNAL}/{H_SEQ}/Nats-Msg-Id headers): give the bridge a stream of its own",
            o.stream,
            o.subject,
            m.sequence
        );
    };
    // Is that message from this journal? Its file (ring, or the segment that held it) must
    // have the same creation time. The message itself is `next - 1` (or, for a gap marker,
    // the file where reading resumed at `next`).
    let probe = if header_gap(h).is_some() {
        next
    } else {
        next - 1
    };
    let here = match JournalReader::open(&o.journal, Start::Seq(probe)) {
        Ok(r) => Some(r.file_created_ns()),
        Err(JournalError::TooOld { oldest, .. }) => {
            let r = JournalReader::open(&o.journal, Start::Beginning)?;
            if r.info()?.mode == Mode::Ring {
                Some(r.file_created_ns())
            } else if r.file_created_ns() == jid {
                Some(jid)
            } else {
                bail!(
                    "the stream's last message is sequence {probe} of a journal file created at {jid} ns, and {} keeps sequences from {oldest} only (retention removed the file that held it): the bridge cannot tell whether it is this journal; pass --from start|end|SEQ after deleting the stream's messages, or use a new --stream",
                    o.journal
                );
            }
        }
        Err(JournalError::NotYet { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if here == Some(jid) {
        return Ok(Resume {
            start: Start::Seq(next),
            expected_last: Some(last_id),
        });
    }
    eprintln!(
        "bridge out: the stream's last message (id {last_id}) is from an earlier journal named {}; publishing this one from {:?}",
        o.journal, o.from
    );
    Ok(fresh(Some(last_id)))
}

/// Opens the reader at `start`; a start the ring has overwritten since becomes a gap.
pub(crate) fn open_reader(o: &OutOptions, start: Start) -> Result<(JournalReader, Option<Item>)> {
    match JournalReader::open(&o.journal, start) {
        Ok(r) => Ok((r, None)),
        Err(JournalError::TooOld { seq, .. }) if matches!(start, Start::Seq(_)) => {
            let r = JournalReader::open(&o.journal, Start::Beginning)?;
            let to = r.next_seq().saturating_sub(1);
            let gap = Item::Gap {
                from: seq,
                to,
                jid: r.file_created_ns(),
            };
            Ok((r, Some(gap)))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read journal {}", o.journal)),
    }
}

pub(crate) fn headers(item: &Item, expected_last: Option<&str>) -> (HeaderMap, String) {
    let mut h = HeaderMap::new();
    let id = match item {
        Item::Msg { seq, ty, jid, .. } => {
            h.insert(H_JOURNAL, format!("{jid:016x}").as_str());
            h.insert(H_SEQ, seq.to_string().as_str());
            h.insert(H_TYPE, ty.to_string().as_str());
            msg_id(*jid, *seq)
        }
        Item::Gap { from, to, jid } => {
            h.insert(H_JOURNAL, format!("{jid:016x}").as_str());
            h.insert(H_GAP, format!("{from}-{to}").as_str());
            gap_id(*jid, *from, *to)
        }
    };
    h.insert(H_TIME, shmbus::now_unix_ns().to_string().as_str());
    h.insert("Nats-Msg-Id", id.as_str());
    if let Some(e) = expected_last {
        h.insert("Nats-Expected-Last-Msg-Id", e);
    }
    (h, id)
}

/// Runs `bridge out` until `stop` turns true, then drains the acks in flight and returns.
///
/// # Errors
///
/// The server cannot be reached at start, the stream does not fit, the journal cannot be
/// read, or a message is larger than the server accepts.
pub async fn run_out(o: &OutOptions, mut stop: watch::Receiver<bool>) -> Result<OutStats> {
    // A journal that cannot be read is refused before the stream is touched.
    JournalReader::open(&o.journal, Start::End)
        .with_context(|| format!("cannot read journal {}", o.journal))?;
    let status = crate::ops::open_out(o)?;
    let client = crate::connect_with(&o.url, &o.auth).await?;
    let js = jetstream::new(client);
    let s = ensure_stream(&js, o).await?;
    let mut stats = OutStats::default();
    let mut first = true;
    let mut backoff = Duration::from_millis(100);
    'session: loop {
        let r = match resume(&s, o).await {
            Ok(r) => r,
            Err(e) if !first && !*stop.borrow() => {
                eprintln!("bridge out: {e:#}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => return Err(e),
        };
        if *stop.borrow() && !first {
            return Ok(stats);
        }
        let (reader, gap) = open_reader(o, r.start)?;
        stats.next_seq = reader.next_seq();
        if first {
            // Scripts and tests wait for this line: the stream exists from here on.
            eprintln!(
                "bridge out: {} -> stream {} (subject {}), from sequence {}",
                o.journal, o.stream, o.subject, stats.next_seq
            );
        }
        first = false;
        let mut pending: VecDeque<Item> = gap.into_iter().collect();
        let mut messages = reader.into_stream();
        let mut last_id = r.expected_last;
        let mut inflight: VecDeque<(u64, Option<u64>, u64, AckFuture)> = VecDeque::new();
        let mut stopping = *stop.borrow();
        loop {
            crate::ops::out_update(&status, &stats, inflight.len());
            if stopping && inflight.is_empty() {
                return Ok(stats);
            }
            // Send what is ready, up to the window.
            if !stopping && inflight.len() < o.window {
                let item = if let Some(i) = pending.pop_front() {
                    Some(i)
                } else if inflight.is_empty() {
                    // Nothing in flight: wait for the journal (or a stop).
                    tokio::select! {
                        m = messages.next() => Some(to_item(m, &messages, o)?),
                        _ = stop.changed() => { stopping = true; None }
                    }
                } else {
                    match futures_util::FutureExt::now_or_never(messages.next()) {
                        Some(m) => Some(to_item(m, &messages, o)?),
                        None => None,
                    }
                };
                if let Some(item) = item {
                    let (h, id) = headers(&item, last_id.as_deref());
                    let (next, gap) = match &item {
                        Item::Msg { seq, .. } => (seq + 1, None),
                        Item::Gap { from, to, .. } => (to + 1, Some(to + 1 - from)),
                    };
                    if let Item::Gap { from, to, .. } = &item {
                        eprintln!(
                            "bridge out: the journal lapped the bridge: sequences {from}..={to} lost; publishing a gap marker"
                        );
                    }
                    let payload = match item {
                        Item::Msg { payload, .. } => Bytes::from(payload),
                        Item::Gap { .. } => Bytes::new(),
                    };
                    let len = payload.len();
                    match js.publish_with_headers(o.subject.clone(), h, payload).await {
                        Ok(f) => inflight.push_back((next, gap, len as u64, f.into_future())),
                        Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                            bail!(
                                "message {} of {} is {len} bytes, more than the NATS server accepts (its max_payload): raise max_payload in the server's configuration",
                                next - 1,
                                o.journal
                            );
                        }
                        Err(e) => {
                            eprintln!(
                                "bridge out: publish failed ({e}); resuming from the stream's last message"
                            );
                            stats.rewinds += 1;
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                            continue 'session;
                        }
                    }
                    last_id = Some(id);
                    continue;
                }
            }
            // Wait for the oldest ack (or for more of the journal, or a stop).
            let room = !stopping && inflight.len() < o.window;
            let Some((_, _, _, front)) = inflight.front_mut() else {
                continue;
            };
            tokio::select! {
                biased;
                ack = front => {
                    let (next, gap, len, _) = inflight.pop_front().expect("front");
                    match ack {
                        Ok(a) => {
                            backoff = Duration::from_millis(100);
                            stats.next_seq = next;
                            stats.stream_seq = a.sequence;
                            if a.duplicate {
                                stats.duplicates += 1;
                            } else if let Some(lost) = gap {
                                stats.gaps += 1;
                                stats.gap_messages += lost;
                            } else {
                                stats.published += 1;
                                stats.bytes += len;
                            }
                        }
                        Err(e) => {
                            // Whatever follows it in flight is refused by the stream (it
                            // expects this message's id before it) or a duplicate: go back
                            // to the stream's last message.
                            eprintln!("bridge out: publish of sequence {} not acked ({e}); resuming from the stream's last message", next - 1);
                            stats.rewinds += 1;
                            drop(inflight);
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                            continue 'session;
                        }
                    }
                }
                m = messages.next(), if room => {
                    pending.push_back(to_item(m, &messages, o)?);
                }
                _ = stop.changed(), if !stopping => stopping = true,
            }
        }
    }
}

/// A journal read as an item to publish; an overrun (the ring lapped the bridge) as a gap.
pub(crate) fn to_item(
    m: Option<Result<shmbus::journal::OwnedMessage, ReadError>>,
    messages: &shmbus::journal::JournalStream,
    o: &OutOptions,
) -> Result<Item> {
    let jid = messages.reader().file_created_ns();
    match m {
        Some(Ok(m)) => Ok(Item::Msg {
            seq: m.seq,
            ty: m.ty,
            jid,
            payload: m.payload,
        }),
        Some(Err(ReadError::Overrun {
            expected_seq,
            resume_seq,
            ..
        })) => Ok(Item::Gap {
            from: expected_seq,
            to: resume_seq.saturating_sub(1),
            jid,
        }),
        Some(Err(e)) => Err(e).with_context(|| format!("cannot read journal {}", o.journal)),
        None => bail!("journal {} ended", o.journal),
    }
}
