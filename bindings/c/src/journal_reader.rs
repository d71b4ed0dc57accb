//! Journal readers: independent cursors that walk forward (waiting on the writer's commits) and
//! backward, seek by sequence, and hand out each payload by pointer or by copy.

use std::ffi::c_char;
use std::time::Duration;

use shmbus::ReadError;
use shmbus::journal::{JournalReader, Mode, Start};

use crate::guard::{Handle, NO_DATA, OK, Out, borrow, call, close, give, str_arg};
use crate::region::open_options;
use crate::status::{Error, Result, ShmbusStatus};

/// Where a new journal reader starts (`shmbus_journal_open_reader`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmbusStart {
    /// The oldest message still stored.
    Beginning = 0,
    /// After the last committed message: only new messages.
    End = 1,
    /// The message with the given sequence number (a saved `shmbus_journal_reader_next_seq`).
    Seq = 2,
}

/// How a journal stores its messages (`shmbus_journal_info.mode`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmbusJournalMode {
    /// One file of fixed capacity; the writer overwrites the oldest messages.
    Ring = 1,
    /// A directory of segment files, with retention.
    Persisted = 2,
}

/// One message read from a journal.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShmbusMessage {
    /// Sequence number: 0 for the journal's first message, then +1 each.
    pub seq: u64,
    /// Logical byte position of the frame in the journal.
    pub position: u64,
    /// The payload, 8-byte aligned. From `shmbus_journal_reader_next` and `_prev`: owned by the
    /// reader and valid until the next call with this reader (copy what you keep). From
    /// `shmbus_journal_reader_next_copy`: the caller's buffer, or NULL if it was too small.
    pub data: *const u8,
    /// Payload length in bytes.
    pub len: usize,
    /// The type tag given to append.
    pub type_tag: u16,
}

/// A snapshot of a journal's state (`shmbus_journal_reader_info`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShmbusJournalInfo {
    /// One of `shmbus_journal_mode`.
    pub mode: u32,
    /// Segment files present (1 for a ring).
    pub segments: u32,
    /// Data bytes of the ring, or of each segment.
    pub capacity: u64,
    /// Sequence of the oldest stored message.
    pub oldest_seq: u64,
    /// Sequence the next committed message will get (= messages ever committed).
    pub next_seq: u64,
    /// Logical position of the oldest stored byte.
    pub oldest_position: u64,
    /// Logical position of the committed end.
    pub commit_position: u64,
    /// Largest message accepted, in bytes.
    pub max_message: u32,
    /// Whether frames carry a CRC32C.
    pub crc: bool,
    /// Whether a writer holds the lock now.
    pub writer_alive: bool,
}

/// An independent reader of a journal (maps it read-only; never writes).
// Opaque to C (not `repr(C)`): cbindgen declares it as an incomplete struct type.
#[derive(Debug)]
pub struct ShmbusJournalReader {
    _opaque: [u8; 0],
}

/// A message taken from the journal but not yet delivered (the caller's buffer was too small).
#[derive(Debug)]
struct Pending {
    seq: u64,
    type_tag: u16,
    position: u64,
    payload: Vec<u8>,
}

#[derive(Debug)]
struct ReaderState {
    r: JournalReader,
    pending: Option<Pending>,
    /// The payload of a pending message once handed out by pointer.
    held: Vec<u8>,
    lost: u64,
}

impl Handle for ReaderState {
    const TAG: u64 = 0x5348_4d42_4a52_4e52; // "SHMBJRNR"
    const NAME: &'static str = "journal reader";
    type Opaque = ShmbusJournalReader;
}

fn message(seq: u64, type_tag: u16, position: u64, payload: &[u8]) -> ShmbusMessage {
    ShmbusMessage {
        seq,
        position,
        data: payload.as_ptr(),
        len: payload.len(),
        type_tag,
    }
}

impl ReaderState {
    /// The next message: the pending one first. Its `data` points into `self.r`'s buffer or
    /// into `self.held`, both untouched until the next call on this reader.
    fn next(&mut self, timeout_ns: u64) -> Result<Option<ShmbusMessage>> {
        if let Some(p) = self.pending.take() {
            self.held = p.payload;
            return Ok(Some(message(p.seq, p.type_tag, p.position, &self.held)));
        }
        let m = if timeout_ns == 0 {
            self.r.next()
        } else {
            self.r.next_timeout(Duration::from_nanos(timeout_ns))
        };
        match m {
            Ok(m) => Ok(m.map(|m| message(m.seq, m.ty, m.position, m.payload))),
            Err(e) => Err(self.lost(e)),
        }
    }

    /// Counts the messages an overrun lost.
    fn lost(&mut self, e: ReadError) -> Error {
        if let ReadError::Overrun { lost, .. } = &e {
            self.lost = self.lost.saturating_add(*lost);
        }
        e.into()
    }

    /// Moves the cursor back onto a pending message (so that it is where `next` would return).
    fn unpend(&mut self) -> Result<()> {
        if let Some(p) = self.pending.take() {
            self.r.seek(p.seq)?;
        }
        Ok(())
    }
}

/// Opens an independent reader of journal `name` (a ring file or a persisted journal's
/// directory). `start` is one of `shmbus_start`; `seq` is used with `SHMBUS_START_SEQ` only
/// (`SHMBUS_TOO_OLD` / `SHMBUS_NOT_YET` if that message is not stored).
/// `flags`: 0 or `SHMBUS_OPEN_ALLOW_FOREIGN_OWNER`.
///
/// # Safety
///
/// `name` is a NUL-terminated string; `out` points to writable memory for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_open_reader(
    name: *const c_char,
    start: u32,
    seq: u64,
    flags: u32,
    out: *mut *mut ShmbusJournalReader,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let out = Out::new(out, "out")?;
        let start = match start {
            s if s == ShmbusStart::Beginning as u32 => Start::Beginning,
            s if s == ShmbusStart::End as u32 => Start::End,
            s if s == ShmbusStart::Seq as u32 => Start::Seq(seq),
            other => {
                return Err(Error::invalid(format!(
                    "start {other} is not a shmbus_start"
                )));
            }
        };
        let r = JournalReader::open_with(name, start, open_options(flags)?)?;
        give(
            &out,
            ReaderState {
                r,
                pending: None,
                held: Vec::new(),
                lost: 0,
            },
        );
        OK
    })
}

/// The next committed message. With `timeout_ns` 0 it never blocks; otherwise it waits up to
/// that long (sleeping on the journal's futex, woken by the writer's commit).
///
/// Returns `SHMBUS_NO_DATA` when there is none (yet). `out->data` points into the reader's own
/// buffer: **valid until the next call with this reader** (or its close); copy what you keep.
/// `SHMBUS_OVERRUN`: the writer lapped this reader (ring) and messages were lost; the reader
/// resumes at the oldest stored message, so just call again.
///
/// # Safety
///
/// `r` is a live journal reader; `out` points to a `shmbus_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_next(
    r: *mut ShmbusJournalReader,
    timeout_ns: u64,
    out: *mut ShmbusMessage,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        let out = Out::new(out, "out")?;
        match r.next(timeout_ns)? {
            Some(m) => {
                out.set(m);
                OK
            }
            None => NO_DATA,
        }
    })
}

/// As `shmbus_journal_reader_next`, but copies the payload into `buf` (`cap` bytes) and sets
/// `out->data = buf`. If the payload does not fit: `SHMBUS_BUFFER_TOO_SMALL`, with `out->len`
/// the size needed and `out->data` NULL; the message is kept and the next call returns it
/// again (so nothing is lost: grow the buffer and retry). `buf` may be NULL when `cap` is 0.
///
/// # Safety
///
/// `r` is a live journal reader; `buf` points to `cap` writable bytes; `out` points to a
/// `shmbus_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_next_copy(
    r: *mut ShmbusJournalReader,
    timeout_ns: u64,
    buf: *mut u8,
    cap: usize,
    out: *mut ShmbusMessage,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        let out = Out::new(out, "out")?;
        let dest = crate::guard::OutSlice::optional(buf, cap, "buf")?;
        if buf.is_null() && cap != 0 {
            return Err(Error::invalid(format!("buf is NULL but cap is {cap}")));
        }
        let Some(m) = r.next(timeout_ns)? else {
            return NO_DATA;
        };
        // SAFETY: `r.next` just set `m.data` to `m.len` bytes in the reader's buffer or in
        // `r.held`, and nothing has touched either since.
        let payload = unsafe { std::slice::from_raw_parts(m.data, m.len) };
        match &dest {
            Some(d) if m.len <= cap => {
                d.fill(payload, "buf")?;
                out.set(ShmbusMessage { data: buf, ..m });
                OK
            }
            _ if m.len == 0 => {
                out.set(ShmbusMessage { data: buf, ..m });
                OK
            }
            _ => {
                let payload = payload.to_vec();
                r.pending = Some(Pending {
                    seq: m.seq,
                    type_tag: m.type_tag,
                    position: m.position,
                    payload,
                });
                out.set(ShmbusMessage {
                    data: std::ptr::null(),
                    ..m
                });
                Err(Error::new(
                    ShmbusStatus::ShmbusBufferTooSmall,
                    format!(
                        "message {} has {} bytes but the buffer holds {cap}; it is kept for the next call",
                        m.seq, m.len
                    ),
                ))
            }
        }
    })
}

/// The message before the cursor, moving the cursor back onto it (so `next` returns it again).
/// `SHMBUS_NO_DATA` at the oldest stored message. `out->data` as for
/// `shmbus_journal_reader_next`.
///
/// # Safety
///
/// As `shmbus_journal_reader_next`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_prev(
    r: *mut ShmbusJournalReader,
    out: *mut ShmbusMessage,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        let out = Out::new(out, "out")?;
        r.unpend()?;
        match r.r.prev()? {
            Some(m) => {
                out.set(message(m.seq, m.ty, m.position, m.payload));
                OK
            }
            None => NO_DATA,
        }
    })
}

/// Moves the cursor onto the message with sequence `seq` (through the sparse index: at most 63
/// frame hops). `SHMBUS_TOO_OLD` if no longer stored, `SHMBUS_NOT_YET` if not committed yet
/// (beyond the next sequence to be written, or in the batch being committed: seek again).
///
/// # Safety
///
/// `r` is a live journal reader.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_seek(
    r: *mut ShmbusJournalReader,
    seq: u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        r.pending = None;
        r.r.seek(seq)?;
        OK
    })
}

/// The sequence number of the next message this reader will return: save it to resume later
/// with `SHMBUS_START_SEQ`.
///
/// # Safety
///
/// `r` is a live journal reader; `out` points to a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_next_seq(
    r: *mut ShmbusJournalReader,
    out: *mut u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        let seq = r.pending.as_ref().map_or_else(|| r.r.next_seq(), |p| p.seq);
        Out::new(out, "out")?.set(seq);
        OK
    })
}

/// Messages this reader lost to overruns since it was opened (the sum over every
/// `SHMBUS_OVERRUN` it returned).
///
/// # Safety
///
/// `r` is a live journal reader; `out` points to a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_lost(
    r: *mut ShmbusJournalReader,
    out: *mut u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        Out::new(out, "out")?.set(r.lost);
        OK
    })
}

/// The journal's current state.
///
/// # Safety
///
/// `r` is a live journal reader; `out` points to a `shmbus_journal_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_info(
    r: *mut ShmbusJournalReader,
    out: *mut ShmbusJournalInfo,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<ReaderState>(r) }?;
        let out = Out::new(out, "out")?;
        let i = r.r.info()?;
        out.set(ShmbusJournalInfo {
            mode: match i.mode {
                Mode::Ring => ShmbusJournalMode::Ring,
                Mode::Segment => ShmbusJournalMode::Persisted,
            } as u32,
            segments: i.segments,
            capacity: i.capacity,
            oldest_seq: i.oldest_seq,
            next_seq: i.next_seq,
            oldest_position: i.oldest_position,
            commit_position: i.commit_position,
            max_message: i.max_message,
            crc: i.crc,
            writer_alive: i.writer_alive,
        });
        OK
    })
}

/// Spin this long before sleeping when `shmbus_journal_reader_next` waits (lower wake-up
/// latency, one core busy meanwhile). Default 0.
///
/// # Safety
///
/// `r` is a live journal reader.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_set_spin(
    r: *mut ShmbusJournalReader,
    spin_ns: u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        unsafe { borrow::<ReaderState>(r) }?
            .r
            .set_spin(Duration::from_nanos(spin_ns));
        OK
    })
}

/// Closes the reader. NULL is ignored.
///
/// # Safety
///
/// `r` is NULL or a live journal reader, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_reader_close(r: *mut ShmbusJournalReader) -> ShmbusStatus {
    // SAFETY: the caller's contract for `r`.
    call(|| unsafe { close::<ReaderState>(r) })
}
