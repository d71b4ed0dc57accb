//! The journal: a writer with single and batched appends, and a non-blocking reader.
//!
//! Payloads never leave the mapping as views: every message handed to JavaScript is a copy in
//! a Buffer that JavaScript owns, so no Buffer can outlive (or write into) a mapping.
//!
//! Batches of messages cross the boundary as one Buffer in the *batch encoding* (little-endian):
//! for each message a 24-byte header (payload length u32, type u16, flags u16 = 0, sequence u64,
//! position u64), then the payload, then zero padding to a multiple of 8 bytes. `index.js`
//! decodes it (one native call and one allocation per batch, not per message).

use napi::Env;
use napi::bindgen_prelude::{
    Buffer, BufferSlice, Either, Uint8ArraySlice, Uint16ArraySlice, Uint32ArraySlice,
};
use napi_derive::napi;
use shmbus::JournalError;
use shmbus::journal::{
    JournalReader as CoreReader, JournalWriter as CoreWriter, Message as CoreMessage, Mode, Start,
};

use crate::errors::{self, Facts, OrThrow};

/// Bytes of the per-message header in the batch encoding.
pub const BATCH_HEADER: usize = 24;

/// Appends `m` to `out` in the batch encoding.
#[inline]
pub fn encode(out: &mut Vec<u8>, m: &CoreMessage<'_>) {
    let len = m.payload.len();
    out.reserve(BATCH_HEADER + len + 7);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&m.ty.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&m.seq.to_le_bytes());
    out.extend_from_slice(&m.position.to_le_bytes());
    out.extend_from_slice(m.payload);
    out.resize(out.len().next_multiple_of(8), 0);
}

/// Reads committed messages into `out` (batch encoding) without waiting, until `max_messages`
/// are read or `out` holds at least `max_bytes`. Returns how many were read.
///
/// # Errors
///
/// The reader's errors. Messages read before the error stay in `out`.
pub fn drain(
    r: &mut CoreReader,
    out: &mut Vec<u8>,
    max_messages: u32,
    max_bytes: usize,
) -> Result<u32, JournalError> {
    let mut n = 0;
    while n < max_messages && out.len() < max_bytes {
        match r.next()? {
            Some(m) => encode(out, &m),
            None => break,
        }
        n += 1;
    }
    Ok(n)
}

/// Where a reader starts: `'beginning'` (the oldest stored message), `'end'` (only new
/// messages) or a sequence number.
pub fn start_arg(from: Option<Either<String, f64>>) -> Result<Start, Facts> {
    match from {
        None => Ok(Start::Beginning),
        Some(Either::A(s)) => match s.as_str() {
            "beginning" | "start" => Ok(Start::Beginning),
            "end" => Ok(Start::End),
            other => Err(errors::invalid_arg(format!(
                "start must be 'beginning', 'end' or a sequence number, got {other:?}"
            ))),
        },
        Some(Either::B(seq)) => Ok(Start::Seq(u64_arg(seq, "sequence number")?)),
    }
}

/// A non-negative whole JavaScript number as u64.
pub fn u64_arg(v: f64, what: &str) -> Result<u64, Facts> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(errors::invalid_arg(format!(
            "{what} must be a non-negative whole number, got {v}"
        )))
    }
}

fn type_arg(ty: u32) -> Result<u16, Facts> {
    u16::try_from(ty)
        .map_err(|_| errors::invalid_arg(format!("type tag {ty} is out of range (0..=65535)")))
}

/// How a journal is created (`JournalWriter.create`).
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct JournalOptions {
    /// A ring of this many data bytes (rounded up to a power of two) in one file: the writer
    /// never blocks; lapped readers get `OVERRUN`. The default, with 64 MiB, unless
    /// `segmentSize` is given.
    pub ring: Option<f64>,
    /// A persisted journal: a directory of segment files of this many data bytes.
    pub segment_size: Option<f64>,
    /// Persisted: keep at most this many segment files.
    pub retain_segments: Option<u32>,
    /// Persisted: keep at most about this many bytes of segment files.
    pub retain_bytes: Option<f64>,
    /// Store a CRC32C in every frame, checked by readers.
    pub crc: Option<bool>,
    /// Mode 0660 instead of 0600 (group members may open it).
    pub group_shared: Option<bool>,
}

/// A snapshot of a journal's state.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct JournalInfo {
    /// `'ring'` or `'segments'`.
    pub mode: String,
    /// Data bytes of the ring, or of each segment.
    pub capacity: f64,
    /// Largest message accepted.
    pub max_message: f64,
    /// Whether frames carry a CRC32C.
    pub crc: bool,
    /// Sequence of the oldest stored message.
    pub oldest_seq: f64,
    /// Sequence the next committed message will get (= messages ever committed).
    pub next_seq: f64,
    /// Logical position of the oldest stored byte.
    pub oldest_position: f64,
    /// Logical position of the committed end.
    pub commit_position: f64,
    /// Segment files (1 for a ring).
    pub segments: u32,
    /// Whether a writer holds the journal's lock.
    pub writer_alive: bool,
}

impl From<shmbus::journal::JournalInfo> for JournalInfo {
    fn from(i: shmbus::journal::JournalInfo) -> Self {
        Self {
            mode: match i.mode {
                Mode::Ring => "ring",
                Mode::Segment => "segments",
            }
            .to_owned(),
            capacity: i.capacity as f64,
            max_message: i.max_message as f64,
            crc: i.crc,
            oldest_seq: i.oldest_seq as f64,
            next_seq: i.next_seq as f64,
            oldest_position: i.oldest_position as f64,
            commit_position: i.commit_position as f64,
            segments: i.segments,
            writer_alive: i.writer_alive,
        }
    }
}

/// One message, with its payload copied into a Buffer that JavaScript owns.
#[napi(object, object_from_js = false)]
pub struct Message<'e> {
    /// Sequence number: 0 for the journal's first message, then +1 each.
    pub seq: f64,
    /// The type tag given to `append`.
    #[napi(js_name = "type")]
    pub ty: u32,
    /// Logical byte position of the frame.
    pub position: f64,
    /// The payload (a copy, in memory that V8 allocates: no finalizer per message).
    pub payload: BufferSlice<'e>,
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("seq", &self.seq)
            .field("type", &self.ty)
            .field("position", &self.position)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl<'e> Message<'e> {
    fn copy(env: &'e Env, m: &CoreMessage<'_>) -> napi::Result<Self> {
        Ok(Self {
            seq: m.seq as f64,
            ty: m.ty.into(),
            position: m.position as f64,
            payload: BufferSlice::copy_from(env, m.payload)?,
        })
    }
}

/// The one writer of a journal (ring or persisted). Holds the writer lock until `close()`.
/// Appended messages are invisible to readers until `commit()`, which publishes them all at
/// once and wakes waiting readers.
#[napi]
#[derive(Debug)]
pub struct JournalWriter {
    inner: Option<CoreWriter>,
    /// A reader of the same journal, opened on the first `info()`, for the shared state.
    info_reader: Option<CoreReader>,
    name: String,
}

#[napi]
impl JournalWriter {
    /// Creates the journal `name` (exclusive; a shm name, a file path for a ring, or a
    /// directory path for a persisted journal) and returns its writer.
    #[napi(factory)]
    pub fn create(env: &Env, name: String, options: Option<JournalOptions>) -> napi::Result<Self> {
        let o = options.unwrap_or_default();
        let mut b = CoreWriter::builder(&name);
        match (o.ring, o.segment_size) {
            (Some(_), Some(_)) => {
                return Err(errors::invalid_arg(
                    "give either ring or segmentSize, not both",
                ))
                .or_throw(env);
            }
            (Some(ring), None) => b = b.ring(u64_arg(ring, "ring").or_throw(env)?),
            (None, Some(seg)) => {
                b = b.segment_size(u64_arg(seg, "segmentSize").or_throw(env)?);
            }
            (None, None) => b = b.ring(64 << 20),
        }
        if let Some(n) = o.retain_segments {
            b = b.retain_segments(n);
        }
        if let Some(bytes) = o.retain_bytes {
            b = b.retain_bytes(u64_arg(bytes, "retainBytes").or_throw(env)?);
        }
        b = b
            .crc(o.crc.unwrap_or(false))
            .group_shared(o.group_shared.unwrap_or(false));
        let w = b.create().or_throw(env)?;
        Ok(Self {
            inner: Some(w),
            info_reader: None,
            name,
        })
    }

    /// Opens an existing journal as its writer (after a crash too: the uncommitted tail of the
    /// previous writer is discarded, the sequence continues).
    #[napi(factory)]
    pub fn open(env: &Env, name: String) -> napi::Result<Self> {
        let w = CoreWriter::open(&name).or_throw(env)?;
        Ok(Self {
            inner: Some(w),
            info_reader: None,
            name,
        })
    }

    #[inline]
    fn writer(&mut self) -> Result<&mut CoreWriter, Facts> {
        self.inner
            .as_mut()
            .ok_or_else(|| errors::closed("JournalWriter"))
    }

    /// Appends one message (not yet visible); returns its sequence number.
    #[napi]
    pub fn append(
        &mut self,
        env: &Env,
        ty: u32,
        #[napi(ts_arg_type = "Uint8Array")] payload: Uint8ArraySlice,
    ) -> napi::Result<f64> {
        let ty = type_arg(ty).or_throw(env)?;
        let w = self.writer().or_throw(env)?;
        Ok(w.append(ty, &payload).or_throw(env)? as f64)
    }

    /// Appends one message and commits it.
    #[napi]
    pub fn append_commit(
        &mut self,
        env: &Env,
        ty: u32,
        #[napi(ts_arg_type = "Uint8Array")] payload: Uint8ArraySlice,
    ) -> napi::Result<f64> {
        let seq = self.append(env, ty, payload)?;
        self.commit(env)?;
        Ok(seq)
    }

    /// Appends many messages in one call: message `i` is `data[offsets[i] .. offsets[i] +
    /// lengths[i]]` with type tag `types[i]` (or `types` for all). Returns the sequence number
    /// of the first. Not committed. If one fails (too large, or the batch would overwrite
    /// itself), the messages before it stay appended and the error says which.
    #[napi]
    pub fn append_batch(
        &mut self,
        env: &Env,
        #[napi(ts_arg_type = "Uint8Array")] data: Uint8ArraySlice,
        #[napi(ts_arg_type = "Uint32Array")] offsets: Uint32ArraySlice,
        #[napi(ts_arg_type = "Uint32Array")] lengths: Uint32ArraySlice,
        #[napi(ts_arg_type = "number | Uint16Array")] types: Either<u32, Uint16ArraySlice>,
    ) -> napi::Result<f64> {
        let n = lengths.len();
        if offsets.len() < n {
            return Err(errors::invalid_arg(format!(
                "{} offsets for {n} lengths",
                offsets.len()
            )))
            .or_throw(env);
        }
        let tys: &[u16] = match &types {
            Either::A(_) => &[],
            Either::B(t) => {
                if t.len() < n {
                    return Err(errors::invalid_arg(format!(
                        "{} types for {n} lengths",
                        t.len()
                    )))
                    .or_throw(env);
                }
                t
            }
        };
        let one = match types {
            Either::A(t) => Some(type_arg(t).or_throw(env)?),
            Either::B(_) => None,
        };
        let w = self
            .inner
            .as_mut()
            .ok_or_else(|| errors::closed("JournalWriter"))
            .or_throw(env)?;
        let first = w.next_seq();
        for i in 0..n {
            let (off, len) = (offsets[i] as usize, lengths[i] as usize);
            let Some(payload) = data.get(off..off + len) else {
                return Err(errors::invalid_arg(format!(
                    "message {i} ({len} bytes at offset {off}) lies outside the data ({} bytes)",
                    data.len()
                ))
                .num("index", i as f64))
                .or_throw(env);
            };
            let ty = one.unwrap_or_else(|| tys[i]);
            if let Err(e) = w.append(ty, payload) {
                let mut f = errors::journal(&e.into()).num("index", i as f64);
                f.message = format!("message {i} of the batch: {}", f.message);
                return Err(f).or_throw(env);
            }
        }
        Ok(first as f64)
    }

    /// Publishes every message appended so far, at once, and wakes waiting readers.
    #[napi]
    pub fn commit(&mut self, env: &Env) -> napi::Result<()> {
        self.writer().or_throw(env)?.commit();
        Ok(())
    }

    /// The sequence number the next message will get.
    #[napi(getter)]
    pub fn next_seq(&mut self, env: &Env) -> napi::Result<f64> {
        Ok(self.writer().or_throw(env)?.next_seq() as f64)
    }

    /// Bytes appended but not yet committed.
    #[napi(getter)]
    pub fn pending_bytes(&mut self, env: &Env) -> napi::Result<f64> {
        Ok(self.writer().or_throw(env)?.pending_bytes() as f64)
    }

    /// The largest message this journal accepts.
    #[napi(getter)]
    pub fn max_message(&mut self, env: &Env) -> napi::Result<f64> {
        Ok(self.writer().or_throw(env)?.max_message() as f64)
    }

    /// The journal's name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The journal's shared state (committed end, oldest stored message, capacity...).
    #[napi]
    pub fn info(&mut self, env: &Env) -> napi::Result<JournalInfo> {
        self.writer().or_throw(env)?;
        if self.info_reader.is_none() {
            self.info_reader = Some(CoreReader::open(&self.name, Start::End).or_throw(env)?);
        }
        let r = self.info_reader.as_ref().expect("opened above");
        Ok(r.info().or_throw(env)?.into())
    }

    /// Persisted journals: keep at most `segments` files / about `bytes` bytes.
    #[napi]
    pub fn set_retention(
        &mut self,
        env: &Env,
        segments: Option<u32>,
        bytes: Option<f64>,
    ) -> napi::Result<()> {
        let bytes = bytes
            .map(|b| u64_arg(b, "bytes"))
            .transpose()
            .or_throw(env)?;
        self.writer().or_throw(env)?.set_retention(segments, bytes);
        Ok(())
    }

    /// Releases the writer lock (uncommitted messages are discarded). Safe to call twice.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
        self.info_reader = None;
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_none()
    }
}

/// A reader of a journal that never waits: `next()` returns `null` when nothing new is
/// committed. (To wait, use a `JournalWatcher`, which waits on another thread.) Maps the
/// journal read-only; each reader has its own cursor, kept in this process.
#[napi]
#[derive(Debug)]
pub struct JournalReader {
    inner: Option<CoreReader>,
    /// An error met after some messages of a batch: reported by the next call.
    pending: Option<Facts>,
}

#[napi]
impl JournalReader {
    /// Opens a reader of journal `name` starting at `from`: `'beginning'` (default), `'end'`
    /// or a sequence number.
    #[napi(constructor)]
    pub fn new(env: &Env, name: String, from: Option<Either<String, f64>>) -> napi::Result<Self> {
        let start = start_arg(from).or_throw(env)?;
        Ok(Self {
            inner: Some(CoreReader::open(&name, start).or_throw(env)?),
            pending: None,
        })
    }

    fn reader(&mut self) -> Result<&mut CoreReader, Facts> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        self.inner
            .as_mut()
            .ok_or_else(|| errors::closed("JournalReader"))
    }

    /// The next committed message, or `null`. Throws `OVERRUN` (with `lost` and `resumeSeq`)
    /// if the writer lapped this reader; it then continues at the oldest stored message.
    #[napi]
    pub fn next<'e>(&mut self, env: &'e Env) -> napi::Result<Option<Message<'e>>> {
        let r = self.reader().or_throw(env)?;
        r.next()
            .or_throw(env)?
            .map(|m| Message::copy(env, &m))
            .transpose()
    }

    /// Up to `maxMessages` committed messages (and about `maxBytes`, default 4 MiB) in the
    /// batch encoding, or `null` if there is none. An error after some messages is thrown by
    /// the next call.
    #[napi]
    pub fn read_batch(
        &mut self,
        env: &Env,
        max_messages: u32,
        max_bytes: Option<u32>,
    ) -> napi::Result<Option<Buffer>> {
        let r = self.reader().or_throw(env)?;
        let mut out = Vec::new();
        let max_bytes = max_bytes.unwrap_or(4 << 20) as usize;
        match drain(r, &mut out, max_messages, max_bytes) {
            Ok(_) => {}
            Err(e) if !out.is_empty() => self.pending = Some(errors::journal(&e)),
            Err(e) => return Err(e).or_throw(env),
        }
        Ok((!out.is_empty()).then(|| out.into()))
    }

    /// The message before the cursor, moving back onto it (so `next()` returns it again), or
    /// `null` at the oldest stored message.
    #[napi]
    pub fn prev<'e>(&mut self, env: &'e Env) -> napi::Result<Option<Message<'e>>> {
        let r = self.reader().or_throw(env)?;
        r.prev()
            .or_throw(env)?
            .map(|m| Message::copy(env, &m))
            .transpose()
    }

    /// Moves the cursor onto sequence `seq` (`TOO_OLD` / `NOT_YET` if it is not stored).
    #[napi]
    pub fn seek(&mut self, env: &Env, seq: f64) -> napi::Result<()> {
        let seq = u64_arg(seq, "seq").or_throw(env)?;
        self.reader().or_throw(env)?.seek(seq).or_throw(env)
    }

    /// The sequence number of the next message this reader returns (save it to resume).
    #[napi(getter)]
    pub fn next_seq(&self, env: &Env) -> napi::Result<f64> {
        let r = self
            .inner
            .as_ref()
            .ok_or_else(|| errors::closed("JournalReader"))
            .or_throw(env)?;
        Ok(r.next_seq() as f64)
    }

    /// Whether a message is ready to read.
    #[napi]
    pub fn has_next(&self) -> bool {
        self.pending.is_some() || self.inner.as_ref().is_some_and(CoreReader::has_next)
    }

    /// The journal's shared state.
    #[napi]
    pub fn info(&self, env: &Env) -> napi::Result<JournalInfo> {
        let r = self
            .inner
            .as_ref()
            .ok_or_else(|| errors::closed("JournalReader"))
            .or_throw(env)?;
        Ok(r.info().or_throw(env)?.into())
    }

    /// Unmaps the journal. Safe to call twice.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
    }
}
