//! Journal writers: create a ring or a persisted journal, append, commit.

use std::ffi::c_char;

use shmbus::journal::JournalWriter;

use crate::guard::{Handle, OK, Out, borrow, call, close, give, in_slice, set_opt, str_arg};
use crate::region::{
    SHMBUS_CREATE_CRC, SHMBUS_CREATE_GROUP_SHARED, SHMBUS_CREATE_POPULATE, check_flags,
};
use crate::status::ShmbusStatus;

/// The one writer of a journal (holds its writer lock until closed).
// Opaque to C (not `repr(C)`): cbindgen declares it as an incomplete struct type.
#[derive(Debug)]
pub struct ShmbusJournalWriter {
    _opaque: [u8; 0],
}

impl Handle for JournalWriter {
    const TAG: u64 = 0x5348_4d42_4a52_4e57; // "SHMBJRNW"
    const NAME: &'static str = "journal writer";
    type Opaque = ShmbusJournalWriter;
}

fn builder(
    name: &str,
    flags: u32,
) -> Result<shmbus::journal::JournalBuilder, crate::status::Error> {
    check_flags(
        flags,
        SHMBUS_CREATE_CRC | SHMBUS_CREATE_GROUP_SHARED | SHMBUS_CREATE_POPULATE,
    )?;
    Ok(JournalWriter::builder(name)
        .crc(flags & SHMBUS_CREATE_CRC != 0)
        .group_shared(flags & SHMBUS_CREATE_GROUP_SHARED != 0)
        .populate(flags & SHMBUS_CREATE_POPULATE != 0))
}

/// Creates a ring journal of `capacity` data bytes in one file (for /dev/shm; exclusive) and
/// returns its writer. The writer never blocks: it overwrites the oldest messages, and a reader
/// that was lapped gets `SHMBUS_OVERRUN`. The largest message is a quarter of the capacity.
///
/// `flags`: 0, or `SHMBUS_CREATE_CRC` | `SHMBUS_CREATE_GROUP_SHARED` | `SHMBUS_CREATE_POPULATE`.
///
/// # Safety
///
/// `name` is a NUL-terminated string; `out` points to writable memory for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_create_ring(
    name: *const c_char,
    capacity: u64,
    flags: u32,
    out: *mut *mut ShmbusJournalWriter,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let out = Out::new(out, "out")?;
        give(&out, builder(name, flags)?.ring(capacity).create()?);
        OK
    })
}

/// Creates a persisted journal: a directory `name` of segment files of `segment_size` data
/// bytes each (exclusive). When a segment is full the writer rolls to the next file; retention
/// keeps at most `retain_segments` files and about `retain_bytes` bytes (0: no limit).
///
/// `flags`: as `shmbus_journal_create_ring`.
///
/// # Safety
///
/// As `shmbus_journal_create_ring`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_create_persisted(
    name: *const c_char,
    segment_size: u64,
    retain_segments: u32,
    retain_bytes: u64,
    flags: u32,
    out: *mut *mut ShmbusJournalWriter,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let out = Out::new(out, "out")?;
        let mut b = builder(name, flags)?.segment_size(segment_size);
        if retain_segments > 0 {
            b = b.retain_segments(retain_segments);
        }
        if retain_bytes > 0 {
            b = b.retain_bytes(retain_bytes);
        }
        give(&out, b.create()?);
        OK
    })
}

/// Opens an existing journal (ring or persisted) as its writer, after a crash too: the
/// uncommitted tail of the previous writer is discarded and the sequence continues with no gap.
/// `SHMBUS_WRITER_BUSY` while another writer lives.
///
/// # Safety
///
/// As `shmbus_journal_create_ring`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_open_writer(
    name: *const c_char,
    out: *mut *mut ShmbusJournalWriter,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let out = Out::new(out, "out")?;
        give(&out, JournalWriter::open(name)?);
        OK
    })
}

/// Appends a message of `len` bytes with type tag `type_tag`; stores its sequence number into
/// `seq` unless NULL. Invisible to readers until `shmbus_journal_writer_commit` (append many,
/// commit once: one store publishes the batch). `data` may be NULL when `len` is 0.
///
/// Errors: `SHMBUS_MESSAGE_TOO_LARGE`, `SHMBUS_BATCH_TOO_LARGE` (ring: commit more often).
///
/// # Safety
///
/// `w` is a live journal writer; `data` points to `len` readable bytes; `seq` is NULL or points
/// to a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_writer_append(
    w: *mut ShmbusJournalWriter,
    type_tag: u16,
    data: *const u8,
    len: usize,
    seq: *mut u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<JournalWriter>(w) }?;
        // SAFETY: the caller's contract for `data`.
        let payload = unsafe { in_slice(data, len, "data") }?;
        let seq = Out::optional(seq, "seq")?;
        set_opt(&seq, w.append(type_tag, payload)?);
        OK
    })
}

/// `shmbus_journal_writer_append` then `shmbus_journal_writer_commit`.
///
/// # Safety
///
/// As `shmbus_journal_writer_append`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_writer_append_commit(
    w: *mut ShmbusJournalWriter,
    type_tag: u16,
    data: *const u8,
    len: usize,
    seq: *mut u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<JournalWriter>(w) }?;
        // SAFETY: the caller's contract for `data`.
        let payload = unsafe { in_slice(data, len, "data") }?;
        let seq = Out::optional(seq, "seq")?;
        set_opt(&seq, w.append_commit(type_tag, payload)?);
        OK
    })
}

/// Publishes every message appended so far, at once, and wakes blocked readers (a system call
/// only if some reader sleeps).
///
/// # Safety
///
/// `w` is a live journal writer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_writer_commit(w: *mut ShmbusJournalWriter) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        unsafe { borrow::<JournalWriter>(w) }?.commit();
        OK
    })
}

/// The sequence number the next appended message will get (unless NULL), and the largest
/// message this journal accepts in bytes (unless NULL).
///
/// # Safety
///
/// `w` is a live journal writer; the out-pointers are NULL or point to their types.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_writer_state(
    w: *mut ShmbusJournalWriter,
    next_seq: *mut u64,
    max_message: *mut usize,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<JournalWriter>(w) }?;
        set_opt(&Out::optional(next_seq, "next_seq")?, w.next_seq());
        set_opt(&Out::optional(max_message, "max_message")?, w.max_message());
        OK
    })
}

/// Closes the writer and releases its writer lock. Messages appended but not committed are
/// discarded, as after a crash: commit first. NULL is ignored.
///
/// # Safety
///
/// `w` is NULL or a live journal writer, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_journal_writer_close(w: *mut ShmbusJournalWriter) -> ShmbusStatus {
    // SAFETY: the caller's contract for `w`.
    call(|| unsafe { close::<JournalWriter>(w) })
}
