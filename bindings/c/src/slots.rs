//! Slot tables: the latest value per key, written by one process and read, never torn, by any
//! number of others. Records are plain C structs described by a `shmbus_record_layout`;
//! `shmbus_trading_data` (seed 001's `TradingData`) is built in.

use std::ffi::{c_char, c_void};
use std::mem::offset_of;
use std::time::Duration;

use shmbus::{RawSlotReader, RawSlotWriter, SlotId, TradingData};

use crate::guard::{
    Handle, NO_DATA, OK, Out, OutSlice, borrow, call, close, give, in_slice, set_opt, str_arg,
};
use crate::record::{ShmbusRecordLayout, layout_arg, optional_layout};
use crate::region::{
    SHMBUS_CREATE_GROUP_SHARED, SHMBUS_CREATE_POPULATE, check_flags, open_options,
};
use crate::status::{Error, ShmbusStatus};

/// Longest slot key in bytes (a key buffer of `SHMBUS_KEY_MAX + 1` bytes always suffices).
pub const SHMBUS_KEY_MAX: u32 = 31;

/// The last trade of one symbol, seed 001's `TradingData`, byte for byte (24 bytes); its
/// layout is `shmbus_trading_data_layout()`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ShmbusTradingData {
    /// Last price.
    pub price: f64,
    /// When it was published, ns since the Unix epoch (`shmbus_now_ns()`).
    pub timestamp: u64,
    /// Volume of the last trade.
    pub volume: i32,
    /// 1 if the record holds data, 0 if not (all-zero after a writer's repair).
    pub valid: u8,
    /// Padding, always zero.
    pub _pad: [u8; 3],
}

const _: () = {
    assert!(size_of::<ShmbusTradingData>() == size_of::<TradingData>());
    assert!(offset_of!(ShmbusTradingData, price) == offset_of!(TradingData, price));
    assert!(offset_of!(ShmbusTradingData, timestamp) == offset_of!(TradingData, timestamp));
    assert!(offset_of!(ShmbusTradingData, volume) == offset_of!(TradingData, volume));
    assert!(offset_of!(ShmbusTradingData, valid) == offset_of!(TradingData, valid));
};

// Opaque to C (not `repr(C)`): cbindgen declares it as an incomplete struct type.
/// The one writer of a slot table (holds its writer lock until closed).
#[derive(Debug)]
pub struct ShmbusSlotWriter {
    _opaque: [u8; 0],
}

// Opaque to C (not `repr(C)`): cbindgen declares it as an incomplete struct type.
/// A reader of a slot table (maps it read-only; never writes).
#[derive(Debug)]
pub struct ShmbusSlotReader {
    _opaque: [u8; 0],
}

/// Slot ids of a table by index: ids are handed out densely (0, 1, 2, ... in registration
/// order), and the C API passes them as plain numbers.
#[derive(Debug, Default)]
struct Ids(Vec<SlotId>);

impl Ids {
    fn learn(&mut self, keys: Vec<(String, SlotId)>) {
        for (_, id) in keys {
            self.remember(id);
        }
    }

    fn remember(&mut self, id: SlotId) {
        if id.index() as usize == self.0.len() {
            self.0.push(id);
        }
    }

    fn get(&self, index: u32) -> Option<SlotId> {
        self.0.get(index as usize).copied()
    }
}

fn bad_slot(region: &shmbus::Region, index: u32, known: usize) -> Error {
    Error::new(
        ShmbusStatus::ShmbusBadSlot,
        format!(
            "slot id {index} is not a registered slot of {} ({known} keys)",
            region.name()
        ),
    )
    .with_code(shmbus::ErrorCode::BadSlot)
}

fn record_size(region: &shmbus::Region, expected: usize, found: usize) -> Error {
    // The core's own message, so C callers read what Rust, Python and Node users read.
    let e = shmbus::SlotError::RecordSize {
        region: region.name().to_string(),
        expected,
        found,
    };
    e.into()
}

struct SlotWriterState {
    w: RawSlotWriter,
    ids: Ids,
}

impl Handle for SlotWriterState {
    const TAG: u64 = 0x5348_4d42_534c_5457; // "SHMBSLTW"
    const NAME: &'static str = "slot writer";
    type Opaque = ShmbusSlotWriter;
}

impl SlotWriterState {
    fn new(w: RawSlotWriter) -> Self {
        let mut ids = Ids::default();
        ids.learn(w.keys());
        Self { w, ids }
    }

    fn id(&self, index: u32) -> Result<SlotId, Error> {
        self.ids
            .get(index)
            .ok_or_else(|| bad_slot(self.w.region(), index, self.ids.0.len()))
    }

    fn slot(&mut self, key: &str) -> Result<SlotId, Error> {
        let id = self.w.slot(key)?;
        self.ids.remember(id);
        Ok(id)
    }
}

struct SlotReaderState {
    r: RawSlotReader,
    ids: Ids,
    /// A record's worth of bytes: reads land here, then in the caller's buffer.
    scratch: Vec<u8>,
}

impl Handle for SlotReaderState {
    const TAG: u64 = 0x5348_4d42_534c_5452; // "SHMBSLTR"
    const NAME: &'static str = "slot reader";
    type Opaque = ShmbusSlotReader;
}

impl SlotReaderState {
    /// The id with this index, learning the keys the writer registered since the last look.
    #[inline]
    fn id(&mut self, index: u32) -> Result<SlotId, Error> {
        if let Some(id) = self.ids.get(index) {
            return Ok(id);
        }
        self.ids.learn(self.r.keys());
        self.ids
            .get(index)
            .ok_or_else(|| bad_slot(self.r.region(), index, self.ids.0.len()))
    }
}

/// Creates a slot table of records of `layout` with room for `capacity` keys (exclusive:
/// `SHMBUS_ALREADY_EXISTS` if the name is taken) and returns its writer. For seed 001's record
/// pass `shmbus_trading_data_layout()`.
///
/// `flags`: 0, or `SHMBUS_CREATE_GROUP_SHARED` | `SHMBUS_CREATE_POPULATE`.
/// `SHMBUS_INVALID_LAYOUT` if a table cannot hold such records.
///
/// # Safety
///
/// `name` is a NUL-terminated string; `layout` points to a valid `shmbus_record_layout`; `out`
/// points to writable memory for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slots_create(
    name: *const c_char,
    layout: *const ShmbusRecordLayout,
    capacity: u32,
    flags: u32,
    out: *mut *mut ShmbusSlotWriter,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: the caller's contract for `layout`.
        let layout = unsafe { layout_arg(layout) }?;
        let out = Out::new(out, "out")?;
        check_flags(flags, SHMBUS_CREATE_GROUP_SHARED | SHMBUS_CREATE_POPULATE)?;
        let w = RawSlotWriter::builder(name, layout)
            .capacity(capacity)
            .group_shared(flags & SHMBUS_CREATE_GROUP_SHARED != 0)
            .populate(flags & SHMBUS_CREATE_POPULATE != 0)
            .create()?;
        give(&out, SlotWriterState::new(w));
        OK
    })
}

/// Opens an existing slot table of `layout` records as its writer (`SHMBUS_WRITER_BUSY` while
/// another writer lives), repairing the slots a dead writer left mid-write
/// (`shmbus_slot_writer_repaired`).
///
/// # Safety
///
/// As `shmbus_slots_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slots_open_writer(
    name: *const c_char,
    layout: *const ShmbusRecordLayout,
    out: *mut *mut ShmbusSlotWriter,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: the caller's contract for `layout`.
        let layout = unsafe { layout_arg(layout) }?;
        let out = Out::new(out, "out")?;
        give(
            &out,
            SlotWriterState::new(RawSlotWriter::open(name, &layout)?),
        );
        OK
    })
}

/// The slot id of `key`, registering the key if it is new (at most `SHMBUS_KEY_MAX` bytes of
/// UTF-8, no NUL). Ids are 0, 1, 2, ... in registration order; look a key up once and use its
/// id on the hot path. `SHMBUS_FULL` when every slot is taken.
///
/// # Safety
///
/// `w` is a live slot writer; `key` a NUL-terminated string; `id` points to a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_writer_slot(
    w: *mut ShmbusSlotWriter,
    key: *const c_char,
    id: *mut u32,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<SlotWriterState>(w) }?;
        // SAFETY: the caller's contract for `key`.
        let key = unsafe { str_arg(key, "key") }?;
        let id = Out::new(id, "id")?;
        id.set(w.slot(key)?.index());
        OK
    })
}

/// Publishes `record` (`size` bytes: exactly the table's record size, else
/// `SHMBUS_RECORD_SIZE`) in slot `id`: readers see either the old or the new record, never a
/// mix. The bytes are copied as they are, padding included: zero-initialise your records.
///
/// # Safety
///
/// `w` is a live slot writer; `record` points to `size` initialised bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_writer_write(
    w: *mut ShmbusSlotWriter,
    id: u32,
    record: *const c_void,
    size: usize,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<SlotWriterState>(w) }?;
        // SAFETY: the caller's contract for `record` (NULL is checked).
        let bytes = unsafe { in_slice(record.cast::<u8>(), size, "record") }?;
        let id = w.id(id)?;
        w.w.write(id, bytes)?;
        OK
    })
}

/// Publishes `record` under `key`, registering the key if new; stores the slot id into `id`
/// unless it is NULL.
///
/// # Safety
///
/// As `shmbus_slot_writer_slot` and `shmbus_slot_writer_write`; `id` may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_writer_put(
    w: *mut ShmbusSlotWriter,
    key: *const c_char,
    record: *const c_void,
    size: usize,
    id: *mut u32,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<SlotWriterState>(w) }?;
        // SAFETY: the caller's contract for `key`.
        let key = unsafe { str_arg(key, "key") }?;
        // SAFETY: the caller's contract for `record`.
        let bytes = unsafe { in_slice(record.cast::<u8>(), size, "record") }?;
        let id_out = Out::optional(id, "id")?;
        if size != w.w.record_size() {
            return Err(record_size(w.w.region(), w.w.record_size(), size));
        }
        let slot = w.slot(key)?;
        w.w.write(slot, bytes)?;
        set_opt(&id_out, slot.index());
        OK
    })
}

/// Copies slot `id` as this writer last published it (the writer's own read) into `out`
/// (`size` bytes: the record size), with its sequence into `seq` unless NULL.
/// `SHMBUS_NO_DATA` if the slot was never written.
///
/// # Safety
///
/// `w` is a live slot writer; `out` points to `size` writable bytes; `seq` is NULL or points to
/// a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_writer_read(
    w: *mut ShmbusSlotWriter,
    id: u32,
    out: *mut c_void,
    size: usize,
    seq: *mut u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<SlotWriterState>(w) }?;
        let out = OutSlice::optional(out.cast::<u8>(), size, "out")?
            .ok_or_else(|| Error::invalid("out is NULL"))?;
        let seq = Out::optional(seq, "seq")?;
        if size != w.w.record_size() {
            return Err(record_size(w.w.region(), w.w.record_size(), size));
        }
        let slot = w.id(id)?;
        let mut bytes = vec![0u8; size];
        let Some(s) = w.w.read_into(slot, &mut bytes)? else {
            return NO_DATA;
        };
        out.fill(&bytes, "out")?;
        set_opt(&seq, s);
        OK
    })
}

/// How many slots were repaired when this writer opened the table (a previous writer died in
/// the middle of writing them; they now hold an all-zero record, e.g. `valid == 0`).
///
/// # Safety
///
/// `w` is a live slot writer; `out` points to a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_writer_repaired(
    w: *mut ShmbusSlotWriter,
    out: *mut u32,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `w`.
        let w = unsafe { borrow::<SlotWriterState>(w) }?;
        Out::new(out, "out")?.set(w.w.repaired());
        OK
    })
}

/// Closes the writer and releases its writer lock. NULL is ignored.
///
/// # Safety
///
/// `w` is NULL or a live slot writer, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_writer_close(w: *mut ShmbusSlotWriter) -> ShmbusStatus {
    // SAFETY: the caller's contract for `w`.
    call(|| unsafe { close::<SlotWriterState>(w) })
}

/// Opens a slot table for reading (read-only mapping), checking that it holds records of
/// `layout` (`SHMBUS_LAYOUT_MISMATCH` otherwise). With `layout` NULL any table opens, and its
/// records are bytes of the size `shmbus_slot_reader_info` reports (for tools).
///
/// `flags`: 0 or `SHMBUS_OPEN_ALLOW_FOREIGN_OWNER`. `SHMBUS_KIND_MISMATCH` if the region is not
/// a slot table.
///
/// # Safety
///
/// `name` is a NUL-terminated string; `layout` is NULL or points to a valid
/// `shmbus_record_layout`; `out` points to writable memory for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slots_open_reader(
    name: *const c_char,
    layout: *const ShmbusRecordLayout,
    flags: u32,
    out: *mut *mut ShmbusSlotReader,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: the caller's contract for `layout`.
        let layout = unsafe { optional_layout(layout) }?;
        let out = Out::new(out, "out")?;
        let r = RawSlotReader::open_with(name, layout.as_ref(), open_options(flags)?)?;
        let scratch = vec![0; r.record_size()];
        give(
            &out,
            SlotReaderState {
                r,
                ids: Ids::default(),
                scratch,
            },
        );
        OK
    })
}

/// The slot id of `key` (`SHMBUS_UNKNOWN_KEY` until the writer registers it).
///
/// # Safety
///
/// `r` is a live slot reader; `key` a NUL-terminated string; `id` points to a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_reader_find(
    r: *mut ShmbusSlotReader,
    key: *const c_char,
    id: *mut u32,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<SlotReaderState>(r) }?;
        // SAFETY: the caller's contract for `key`.
        let key = unsafe { str_arg(key, "key") }?;
        let id = Out::new(id, "id")?;
        let slot = r.r.find(key)?;
        r.ids.remember(slot);
        id.set(slot.index());
        OK
    })
}

/// Copies slot `id` into `out` (`size` bytes: the record size), consistently (never torn), with
/// its sequence number into `seq` (unless NULL; even, growing with every write).
/// `SHMBUS_NO_DATA` if the slot was never written (outputs untouched). `SHMBUS_WRITER_DIED` if
/// the writer died mid-write, `SHMBUS_BUSY` if a live writer keeps it mid-write past the
/// timeout.
///
/// # Safety
///
/// `r` is a live slot reader; `out` points to `size` writable bytes; `seq` is NULL or points
/// to a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_reader_read(
    r: *mut ShmbusSlotReader,
    id: u32,
    out: *mut c_void,
    size: usize,
    seq: *mut u64,
) -> ShmbusStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { read_if_changed(r, id, None, out, size, seq) }
}

/// As `shmbus_slot_reader_read`, but `SHMBUS_NO_DATA` (cheaply, outputs untouched) while the
/// slot's sequence is still `since`: pass the `seq` of the last read to poll for changes.
///
/// # Safety
///
/// As `shmbus_slot_reader_read`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_reader_read_if_changed(
    r: *mut ShmbusSlotReader,
    id: u32,
    since: u64,
    out: *mut c_void,
    size: usize,
    seq: *mut u64,
) -> ShmbusStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { read_if_changed(r, id, Some(since), out, size, seq) }
}

/// # Safety
///
/// As `shmbus_slot_reader_read`.
#[inline]
unsafe fn read_if_changed(
    r: *mut ShmbusSlotReader,
    id: u32,
    since: Option<u64>,
    out: *mut c_void,
    size: usize,
    seq: *mut u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<SlotReaderState>(r) }?;
        let out = OutSlice::optional(out.cast::<u8>(), size, "out")?
            .ok_or_else(|| Error::invalid("out is NULL"))?;
        let seq = Out::optional(seq, "seq")?;
        if size != r.scratch.len() {
            return Err(record_size(r.r.region(), r.scratch.len(), size));
        }
        let slot = r.id(id)?;
        let got = match since {
            Some(since) => r.r.read_into_if_changed(slot, since, &mut r.scratch)?,
            None => r.r.read_into(slot, &mut r.scratch)?,
        };
        let Some(s) = got else { return NO_DATA };
        out.fill(&r.scratch, "out")?;
        set_opt(&seq, s);
        OK
    })
}

/// Reads by key: `shmbus_slot_reader_find` then `shmbus_slot_reader_read`.
///
/// # Safety
///
/// As `shmbus_slot_reader_find` and `shmbus_slot_reader_read`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_reader_get(
    r: *mut ShmbusSlotReader,
    key: *const c_char,
    out: *mut c_void,
    size: usize,
    seq: *mut u64,
) -> ShmbusStatus {
    let mut id = 0u32;
    // SAFETY: the caller's contract; `id` is a local.
    match unsafe { shmbus_slot_reader_find(r, key, &mut id) } {
        ShmbusStatus::ShmbusOk => {}
        other => return other,
    }
    // SAFETY: the caller's contract.
    unsafe { shmbus_slot_reader_read(r, id, out, size, seq) }
}

/// The number of keys registered so far (ids `0 .. count-1`), the table's capacity and its
/// record size in bytes (each pointer may be NULL).
///
/// # Safety
///
/// `r` is a live slot reader; the out-pointers are NULL or point to their types.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_reader_info(
    r: *mut ShmbusSlotReader,
    count: *mut u32,
    capacity: *mut u32,
    record_size: *mut usize,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<SlotReaderState>(r) }?;
        set_opt(&Out::optional(count, "count")?, r.r.len());
        set_opt(&Out::optional(capacity, "capacity")?, r.r.capacity());
        set_opt(
            &Out::optional(record_size, "record_size")?,
            r.r.record_size(),
        );
        OK
    })
}

/// Copies the key of slot `id` into `buf` (`buf_len` bytes, NUL-terminated;
/// `SHMBUS_KEY_MAX + 1` always suffices, else `SHMBUS_BUFFER_TOO_SMALL`).
///
/// # Safety
///
/// `r` is a live slot reader; `buf` points to `buf_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_reader_key(
    r: *mut ShmbusSlotReader,
    id: u32,
    buf: *mut c_char,
    buf_len: usize,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<SlotReaderState>(r) }?;
        let buf = OutSlice::optional(buf.cast::<u8>(), buf_len, "buf")?
            .ok_or_else(|| Error::invalid("buf is NULL"))?;
        let slot = r.id(id)?;
        let key =
            r.r.keys()
                .into_iter()
                .find_map(|(k, s)| (s == slot).then_some(k))
                .ok_or_else(|| bad_slot(r.r.region(), id, r.ids.0.len()))?;
        let mut bytes = key.into_bytes();
        bytes.push(0);
        buf.fill(&bytes, "buf (bytes, with the NUL)")?;
        OK
    })
}

/// How long reads wait for a live writer that keeps a slot mid-write before `SHMBUS_BUSY`
/// (default 1000 ms).
///
/// # Safety
///
/// `r` is a live slot reader.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_reader_set_timeout(
    r: *mut ShmbusSlotReader,
    timeout_ms: u32,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `r`.
        let r = unsafe { borrow::<SlotReaderState>(r) }?;
        r.r.set_timeout(Duration::from_millis(timeout_ms.into()));
        OK
    })
}

/// Closes the reader. NULL is ignored.
///
/// # Safety
///
/// `r` is NULL or a live slot reader, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_slot_reader_close(r: *mut ShmbusSlotReader) -> ShmbusStatus {
    // SAFETY: the caller's contract for `r`.
    call(|| unsafe { close::<SlotReaderState>(r) })
}
