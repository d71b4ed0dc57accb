//! Slot tables: seqlock latest-value records keyed by a short string (last price per symbol).
//!
//! One writer publishes; any number of readers, in any process, read a consistent copy that is
//! never torn ([`crate::seqlock`]), and can ask "has it changed since sequence `s`". A writer that
//! dies mid-write leaves an odd sequence: readers report [`SlotError::WriterDied`] instead of
//! spinning (the writer lock is free), and the next writer repairs the slot on open.
//!
//! ```
//! use shmbus::{SlotReader, SlotWriter, TradingData};
//! # let name = format!("/tmp/shmbus-doc-slots-{}", std::process::id());
//! let mut writer = SlotWriter::<TradingData>::builder(&name).capacity(64).create()?;
//! writer.put("BTCUSD", &TradingData::new(97_000.5, 3, shmbus::now_unix_ns()))?;
//!
//! let reader = SlotReader::<TradingData>::open(&name)?;
//! let btc = reader.find("BTCUSD")?;
//! let last = reader.read(btc)?.expect("written above");
//! assert_eq!(last.value.price, 97_000.5);
//! assert!(reader.read_if_changed(btc, last.seq)?.is_none());
//! # drop(writer); shmbus::Region::remove(&name, true)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout (docs/FORMAT.md): a 64-byte table header at the body offset (capacity, stride, record
//! size, key size, count), then `capacity` slots of `stride` bytes (a multiple of 64): sequence
//! u64 at 0, key (32 bytes, NUL-padded UTF-8) at 8, record at 40.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{RegionError, SlotError};
use crate::header::{HEADER_LEN, RegionKind};
use crate::record::{Record, RecordLayoutBuf};
use crate::region::{OpenOptions, Region};
use crate::seqlock::{self, ReadAttempt};

/// Longest key in bytes.
pub const KEY_MAX: usize = KEY_LEN - 1;
const KEY_LEN: usize = 32;
const TABLE_HEADER_LEN: usize = 64;
const SLOT_SEQ: usize = 0;
const SLOT_KEY: usize = 8;
const SLOT_RECORD: usize = SLOT_KEY + KEY_LEN;
// Table header fields, relative to the body offset.
const T_CAPACITY: usize = 0;
const T_STRIDE: usize = 4;
const T_RECORD_SIZE: usize = 8;
const T_KEY_LEN: usize = 12;
const T_COUNT: usize = 16;

/// Spins before a reader of a mid-write slot starts checking that the writer lives.
const SPINS_BEFORE_CHECK: u32 = 1 << 12;
/// How long a reader waits for a live writer to finish a write before [`SlotError::Busy`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// The index of a slot in its table, found once by key and then used on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(u32);

impl SlotId {
    /// The id of the slot at `index` (as [`SlotId::index`] returned it, e.g. kept by a binding).
    /// Every access checks it against the table's capacity ([`SlotError::BadSlot`]).
    pub fn from_index(index: u32) -> Self {
        Self(index)
    }

    /// The slot's index.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// A record with the sequence number it was read at (even, > 0; bigger is newer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Versioned<T> {
    /// The slot's sequence: 2 × the number of writes so far.
    pub seq: u64,
    /// The record.
    pub value: T,
}

/// Bytes one slot takes for records of type `T`.
pub const fn stride_of<T>() -> usize {
    stride_for(size_of::<T>())
}

/// Bytes one slot takes for records of `record` bytes.
pub const fn stride_for(record: usize) -> usize {
    (SLOT_RECORD + record).div_ceil(64) * 64
}

const fn slots_offset() -> usize {
    HEADER_LEN + TABLE_HEADER_LEN
}

/// Region size for a table of `capacity` slots of `T`.
pub const fn size_for<T>(capacity: u32) -> u64 {
    size_for_record(size_of::<T>(), capacity)
}

/// Region size for a table of `capacity` slots of `record` bytes.
pub const fn size_for_record(record: usize, capacity: u32) -> u64 {
    (slots_offset() + capacity as usize * stride_for(record)) as u64
}

const fn check_record<T: Record>() {
    assert!(
        size_of::<T>() % 8 == 0,
        "slot records must be a multiple of 8 bytes"
    );
    assert!(
        align_of::<T>() <= 8,
        "slot records must be aligned to at most 8"
    );
    assert!(size_of::<T>() > 0, "slot records must not be empty");
    assert!(
        T::LAYOUT.size as usize == size_of::<T>(),
        "Record::LAYOUT.size is wrong"
    );
}

/// What a table knows of its records: a compile-time type ([`Typed`]: the size is a constant,
/// so copies unroll) or a run-time layout (`Runtime`, for the bindings).
trait Shape: std::fmt::Debug {
    fn record_size(&self) -> usize;
    fn record_name(&self) -> &str;
}

struct Typed<T>(PhantomData<fn() -> T>);

impl<T> std::fmt::Debug for Typed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<T>())
    }
}

impl<T: Record> Shape for Typed<T> {
    #[inline(always)]
    fn record_size(&self) -> usize {
        size_of::<T>()
    }
    fn record_name(&self) -> &str {
        T::LAYOUT.name
    }
}

#[derive(Debug)]
struct Runtime {
    size: usize,
    name: String,
}

impl Shape for Runtime {
    #[inline]
    fn record_size(&self) -> usize {
        self.size
    }
    fn record_name(&self) -> &str {
        &self.name
    }
}

/// The table geometry, validated against the mapping once at open.
#[derive(Debug)]
struct Table<S> {
    region: Region,
    capacity: u32,
    stride: usize,
    timeout: Duration,
    shape: S,
}

fn corrupt(region: &Region, what: String) -> SlotError {
    SlotError::Region(RegionError::Corrupt {
        path: region.name().path().to_path_buf(),
        what,
    })
}

/// Reads the four geometry words of the table header (capacity, stride, record size, key size).
fn table_geometry(region: &Region) -> Result<[u32; 4], SlotError> {
    let body = region.header().body_offset as usize;
    // Slot sequences are u64 words at body + 64 + i * stride (a multiple of 64): a body
    // offset that is not 8-aligned would make every slot access fail its alignment check.
    if body % 8 != 0 {
        return Err(corrupt(
            region,
            format!("the slot table offset {body} is not 8-byte aligned"),
        ));
    }
    let map = region.map();
    let field = |f: usize| map.u32_at(body + f).map(|w| w.load(Ordering::Relaxed));
    match (
        field(T_CAPACITY),
        field(T_STRIDE),
        field(T_RECORD_SIZE),
        field(T_KEY_LEN),
    ) {
        (Some(c), Some(s), Some(r), Some(k)) => Ok([c, s, r, k]),
        _ => Err(corrupt(
            region,
            "the slot table header lies outside the region".into(),
        )),
    }
}

impl<S: Shape> Table<S> {
    fn from_region(region: Region, shape: S) -> Result<Self, SlotError> {
        let [capacity, stride, record, key_len] = table_geometry(&region)?;
        let size = shape.record_size();
        if stride as usize != stride_for(size)
            || record as usize != size
            || key_len as usize != KEY_LEN
        {
            return Err(corrupt(
                &region,
                format!(
                    "slot geometry stride {stride}, record {record}, key {key_len} does not match \
                     {} (stride {}, record {size}, key {KEY_LEN})",
                    shape.record_name(),
                    stride_for(size),
                ),
            ));
        }
        let body = region.header().body_offset as usize;
        let end = (capacity as u64)
            .checked_mul(stride as u64)
            .and_then(|n| n.checked_add((body + TABLE_HEADER_LEN) as u64));
        if end.is_none_or(|end| end > region.len() as u64) {
            return Err(corrupt(
                &region,
                format!(
                    "{capacity} slots of {stride} bytes do not fit in {} bytes",
                    region.len()
                ),
            ));
        }
        Ok(Self {
            region,
            capacity,
            stride: stride as usize,
            timeout: DEFAULT_READ_TIMEOUT,
            shape,
        })
    }

    #[inline]
    fn body(&self) -> usize {
        self.region.header().body_offset as usize
    }

    /// Fails if the file was truncated under the mapping (what was just read is zeros).
    ///
    /// `STABLE_IS_REAL`: a read that is stable at a nonzero sequence needs no such check. Once
    /// the file is truncated, every access to a cut page faults, and the SIGBUS handler
    /// replaces the whole mapping (one `mmap`, which unmaps the old pages first) with zero
    /// pages. A copy that met a zero page anywhere loads the sequence a second time after it
    /// (behind the Acquire fence), from the zero mapping too: 0, so it is stable only at 0,
    /// the "never written" answer, which is checked. (The same ordering argument the mark
    /// itself relies on; see `Mapping::truncated`.)
    #[inline]
    fn intact(&self) -> Result<(), SlotError> {
        Ok(self.region.check_intact()?)
    }

    fn count_word(&self) -> &AtomicU32 {
        self.region
            .map()
            .u32_at(self.body() + T_COUNT)
            .expect("validated at open")
    }

    /// Slots in use, clamped to the capacity (a corrupt count cannot send us out of bounds).
    fn len(&self) -> u32 {
        // SYNC POINT: pairs with the Release store of the count in `register`: the keys of
        // all slots below the count are written.
        self.count_word().load(Ordering::Acquire).min(self.capacity)
    }

    #[cold]
    #[inline(never)]
    fn bad_slot(&self, id: SlotId) -> SlotError {
        SlotError::BadSlot {
            region: self.region.name().to_string(),
            index: id.0,
            count: self.capacity,
        }
    }

    #[inline]
    fn slot_offset(&self, id: SlotId) -> Result<usize, SlotError> {
        if id.0 >= self.capacity {
            return Err(self.bad_slot(id));
        }
        Ok(self.body() + TABLE_HEADER_LEN + id.0 as usize * self.stride)
    }

    #[inline]
    fn seq_and_words(&self, id: SlotId) -> Result<(&AtomicU64, &[AtomicU64]), SlotError> {
        let off = self.slot_offset(id)?;
        let map = self.region.map();
        // In bounds: the geometry was checked against the mapping at open.
        let seq = map.u64_at(off + SLOT_SEQ).expect("validated geometry");
        let words = map
            .u64_slice(off + SLOT_RECORD, self.shape.record_size() / 8)
            .expect("validated geometry");
        Ok((seq, words))
    }

    fn key(&self, id: SlotId) -> Result<String, SlotError> {
        let off = self.slot_offset(id)?;
        let raw = self
            .region
            .map()
            .read_bytes(off + SLOT_KEY, KEY_LEN)
            .expect("validated geometry");
        self.intact()?;
        let n = raw.iter().position(|&b| b == 0).unwrap_or(KEY_LEN);
        Ok(String::from_utf8_lossy(&raw[..n]).into_owned())
    }

    fn keys(&self) -> Vec<(String, SlotId)> {
        (0..self.len())
            .map(SlotId)
            .filter_map(|id| Some((self.key(id).ok()?, id)))
            .collect()
    }

    fn find(&self, key: &str) -> Result<SlotId, SlotError> {
        // Compare the key as four words in place: no copy of each stored key.
        let want: [u64; KEY_LEN / 8] = bytemuck::cast(encode_key(key)?);
        let map = self.region.map();
        for i in 0..self.len() {
            let off = self.slot_offset(SlotId(i))?;
            let stored = map
                .u64_slice(off + SLOT_KEY, KEY_LEN / 8)
                .expect("validated geometry");
            if stored
                .iter()
                .zip(&want)
                .all(|(w, k)| w.load(Ordering::Relaxed) == *k)
            {
                self.intact()?;
                return Ok(SlotId(i));
            }
        }
        self.intact()?;
        Err(SlotError::UnknownKey {
            region: self.region.name().to_string(),
            key: key.to_owned(),
        })
    }

    fn sequence(&self, id: SlotId) -> Result<u64, SlotError> {
        let seq = self.seq_and_words(id)?.0.load(Ordering::Acquire);
        self.intact()?;
        Ok(seq)
    }

    /// The fast path: one attempt, inlined into the caller; contention goes to `read_slow`.
    /// `out` has the record's size. Returns the sequence read at, `None` if never written.
    #[inline(always)]
    fn read_into(&self, id: SlotId, out: &mut [u8]) -> Result<Option<u64>, SlotError> {
        let (seq, words) = self.seq_and_words(id)?;
        match seqlock::try_read(seq, words, out) {
            ReadAttempt::Stable(0) => self.intact().map(|()| None),
            // No truncation check needed: see `STABLE_IS_REAL`.
            ReadAttempt::Stable(seq) => Ok(Some(seq)),
            _ => self.read_slow(id, out),
        }
    }

    /// Retries a slot that is being written: spins, then checks that the writer lives, then
    /// yields until the timeout.
    #[cold]
    #[inline(never)]
    fn read_slow(&self, id: SlotId, out: &mut [u8]) -> Result<Option<u64>, SlotError> {
        let (seq, words) = self.seq_and_words(id)?;
        let mut attempts = 0u32;
        let mut waiting_since: Option<Instant> = None;
        loop {
            let attempt = seqlock::try_read(seq, words, out);
            self.intact()?;
            match attempt {
                ReadAttempt::Stable(0) => return Ok(None),
                ReadAttempt::Stable(seq) => return Ok(Some(seq)),
                attempt => {
                    attempts += 1;
                    if attempts < SPINS_BEFORE_CHECK {
                        std::hint::spin_loop();
                        continue;
                    }
                    // Slow path: the slot stays busy. A dead writer never finishes.
                    if let ReadAttempt::InProgress(odd) = attempt {
                        if !self.region.writer_alive()? && seq.load(Ordering::Acquire) == odd {
                            return Err(SlotError::WriterDied {
                                region: self.region.name().to_string(),
                                key: self.key(id)?,
                                seq: odd,
                            });
                        }
                    }
                    let since = *waiting_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > self.timeout {
                        return Err(SlotError::Busy {
                            region: self.region.name().to_string(),
                            key: self.key(id)?,
                            waited_ms: since.elapsed().as_millis() as u64,
                        });
                    }
                    std::thread::yield_now();
                    attempts = SPINS_BEFORE_CHECK / 2;
                }
            }
        }
    }

    /// As `read_into` if the slot's sequence differs from `since`; `None` if unchanged.
    #[inline]
    fn read_into_if_changed(
        &self,
        id: SlotId,
        since: u64,
        out: &mut [u8],
    ) -> Result<Option<u64>, SlotError> {
        let (seq, _) = self.seq_and_words(id)?;
        let s = seq.load(Ordering::Acquire);
        if s == since {
            // A truncated file reads sequence 0: only then can "unchanged" be zeros.
            if s == 0 {
                self.intact()?;
            }
            return Ok(None);
        }
        Ok(self.read_into(id, out)?.filter(|&s| s != since))
    }

    /// Publishes `src` (the record's size) in slot `id`.
    #[inline]
    fn write(&self, id: SlotId, src: &[u8]) -> Result<(), SlotError> {
        let (seq, words) = self.seq_and_words(id)?;
        seqlock::write(seq, words, src);
        self.intact()
    }
}

impl<T: Record> Table<Typed<T>> {
    /// The typed fast path. The value's buffer is never handed to the (cold) slow path, so it
    /// can stay in registers; passing it on made every read ~3 ns slower.
    #[inline(always)]
    fn read(&self, id: SlotId) -> Result<Option<Versioned<T>>, SlotError> {
        let (seq, words) = self.seq_and_words(id)?;
        let mut value = T::zeroed();
        match seqlock::try_read(seq, words, bytemuck::bytes_of_mut(&mut value)) {
            ReadAttempt::Stable(0) => self.intact().map(|()| None),
            // No truncation check needed: see `STABLE_IS_REAL`.
            ReadAttempt::Stable(seq) => Ok(Some(Versioned { seq, value })),
            _ => self.read_typed_slow(id),
        }
    }

    #[cold]
    #[inline(never)]
    fn read_typed_slow(&self, id: SlotId) -> Result<Option<Versioned<T>>, SlotError> {
        let mut value = T::zeroed();
        Ok(self
            .read_slow(id, bytemuck::bytes_of_mut(&mut value))?
            .map(|seq| Versioned { seq, value }))
    }

    #[inline]
    fn read_if_changed(&self, id: SlotId, since: u64) -> Result<Option<Versioned<T>>, SlotError> {
        let (seq, _) = self.seq_and_words(id)?;
        let s = seq.load(Ordering::Acquire);
        if s == since {
            // A truncated file reads sequence 0: only then can "unchanged" be zeros.
            if s == 0 {
                self.intact()?;
            }
            return Ok(None);
        }
        Ok(self.read(id)?.filter(|v| v.seq != since))
    }
}

/// What a writer shares whatever its record type: the table, the key index, the repairs.
#[derive(Debug)]
struct WriterCore<S> {
    table: Table<S>,
    index: HashMap<String, SlotId>,
    repaired: u32,
}

/// Options shared by both table builders.
#[derive(Debug, Clone)]
struct TableOptions {
    name: String,
    size: Option<u64>,
    capacity: u32,
    group_shared: bool,
    populate: bool,
}

impl TableOptions {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            size: None,
            capacity: 1024,
            group_shared: false,
            populate: false,
        }
    }

    /// Creates the region, writes the table header and publishes it.
    fn create<S: Shape>(
        &self,
        shape: S,
        layout: impl FnOnce(crate::region::RegionBuilder) -> crate::region::RegionBuilder,
    ) -> Result<WriterCore<S>, SlotError> {
        let record = shape.record_size();
        let size = self.size.unwrap_or(size_for_record(record, self.capacity));
        let min = size_for_record(record, 1);
        let capacity = size.saturating_sub(slots_offset() as u64) / stride_for(record) as u64;
        if size < min || capacity == 0 {
            return Err(RegionError::SizeTooSmall {
                kind: RegionKind::Slots,
                requested: size,
                min,
            }
            .into());
        }
        let capacity = u32::try_from(capacity).unwrap_or(u32::MAX);
        let region = layout(Region::builder(&self.name))
            .kind(RegionKind::Slots)
            .size(size)
            .group_shared(self.group_shared)
            .populate(self.populate)
            .create_unpublished()?;
        let body = region.header().body_offset as usize;
        let map = region.map();
        for (field, v) in [
            (T_CAPACITY, capacity),
            (T_STRIDE, stride_for(record) as u32),
            (T_RECORD_SIZE, record as u32),
            (T_KEY_LEN, KEY_LEN as u32),
        ] {
            map.u32_at(body + field)
                .expect("size checked above")
                .store(v, Ordering::Relaxed);
        }
        region.publish();
        Ok(WriterCore {
            table: Table::from_region(region, shape)?,
            index: HashMap::new(),
            repaired: 0,
        })
    }
}

impl<S: Shape> WriterCore<S> {
    /// Takes over an opened table, repairing slots a dead writer left mid-write.
    fn open(region: Region, shape: S) -> Result<Self, SlotError> {
        // The region was opened with `defer_claim`: nothing is stored before the table is valid.
        let mut table = Table::from_region(region, shape)?;
        table.region.claim_writer();
        let mut repaired = 0;
        let zero = vec![0u8; table.shape.record_size()];
        for i in 0..table.len() {
            let (seq, words) = table.seq_and_words(SlotId(i))?;
            let s = seq.load(Ordering::Relaxed);
            if s & 1 == 1 {
                // The previous writer died mid-write: the record may be torn. Publish the
                // all-zero record (for TradingData: valid = 0) at the next even sequence.
                seqlock::store_words(words, &zero);
                seqlock::end_write(seq, s);
                repaired += 1;
            }
        }
        let index = table.keys().into_iter().collect();
        Ok(Self {
            table,
            index,
            repaired,
        })
    }

    fn slot(&mut self, key: &str) -> Result<SlotId, SlotError> {
        if let Some(&id) = self.index.get(key) {
            return Ok(id);
        }
        // A new key must print as itself: control characters (newlines, escapes) could forge
        // lines or drive the terminal of whoever lists the table. Keys already in a table
        // (written by another program) stay readable and writable.
        if key.chars().any(char::is_control) {
            return Err(SlotError::InvalidKey {
                key: key.to_owned(),
                reason: crate::KeyProblem::ControlCharacter,
            });
        }
        let raw = encode_key(key)?;
        let count = self.table.len();
        if count >= self.table.capacity {
            return Err(SlotError::Full {
                region: self.table.region.name().to_string(),
                capacity: self.table.capacity,
            });
        }
        let id = SlotId(count);
        let off = self.table.slot_offset(id)?;
        let map = self.table.region.map();
        map.write_bytes(off + SLOT_KEY, &raw)
            .expect("validated geometry");
        // SYNC POINT: pairs with the Acquire load in `Table::len`: readers that see the new
        // count see the key.
        self.table.count_word().store(count + 1, Ordering::Release);
        self.table.intact()?;
        self.index.insert(key.to_owned(), id);
        Ok(id)
    }
}

fn encode_key(key: &str) -> Result<[u8; KEY_LEN], SlotError> {
    let invalid = |reason| SlotError::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid(crate::KeyProblem::Empty));
    }
    if key.len() > KEY_MAX {
        return Err(invalid(crate::KeyProblem::TooLong));
    }
    if key.contains('\0') {
        return Err(invalid(crate::KeyProblem::Nul));
    }
    let mut raw = [0u8; KEY_LEN];
    raw[..key.len()].copy_from_slice(key.as_bytes());
    Ok(raw)
}

/// Options for creating a slot table, made by [`SlotWriter::builder`].
#[derive(Debug, Clone)]
pub struct SlotTableBuilder<T> {
    opts: TableOptions,
    _record: PhantomData<fn() -> T>,
}

macro_rules! table_options {
    () => {
        /// Number of slots (default 1024).
        pub fn capacity(mut self, capacity: u32) -> Self {
            self.opts.capacity = capacity;
            self.opts.size = None;
            self
        }

        /// Total region size in bytes: the capacity is as many slots as fit.
        pub fn size(mut self, bytes: u64) -> Self {
            self.opts.size = Some(bytes);
            self
        }

        /// Mode 0660 instead of 0600.
        pub fn group_shared(mut self, yes: bool) -> Self {
            self.opts.group_shared = yes;
            self
        }

        /// Pre-faults every page.
        pub fn populate(mut self, yes: bool) -> Self {
            self.opts.populate = yes;
            self
        }
    };
}

impl<T: Record> SlotTableBuilder<T> {
    table_options!();

    /// Creates the table (exclusive) and returns its writer.
    ///
    /// # Errors
    ///
    /// The region's create errors; [`RegionError::SizeTooSmall`] if not one slot fits.
    pub fn create(self) -> Result<SlotWriter<T>, SlotError> {
        const { check_record::<T>() };
        let core = self
            .opts
            .create(Typed::<T>(PhantomData), |b| b.layout(&T::LAYOUT))?;
        Ok(SlotWriter { core })
    }
}

/// The writer of a slot table. Holds the region's writer lock while it lives.
#[derive(Debug)]
pub struct SlotWriter<T> {
    core: WriterCore<Typed<T>>,
}

impl<T: Record> SlotWriter<T> {
    /// Starts creating a table named `name`.
    pub fn builder(name: &str) -> SlotTableBuilder<T> {
        SlotTableBuilder {
            opts: TableOptions::new(name),
            _record: PhantomData,
        }
    }

    /// Opens an existing table as its writer, repairing slots a dead writer left mid-write.
    ///
    /// # Errors
    ///
    /// The region's open errors, [`RegionError::WriterBusy`] if a writer is alive.
    pub fn open(name: &str) -> Result<Self, SlotError> {
        Self::open_with(name, Region::open_options())
    }

    /// As [`SlotWriter::open`] with explicit options (e.g. `populate`).
    ///
    /// # Errors
    ///
    /// As [`SlotWriter::open`].
    pub fn open_with(name: &str, opts: OpenOptions) -> Result<Self, SlotError> {
        const { check_record::<T>() };
        let region = opts
            .kind(RegionKind::Slots)
            .layout(&T::LAYOUT)
            .writer(true)
            .defer_claim()
            .open(name)?;
        Ok(Self {
            core: WriterCore::open(region, Typed(PhantomData))?,
        })
    }

    /// How many slots were repaired when this writer opened the table.
    pub fn repaired(&self) -> u32 {
        self.core.repaired
    }

    /// The slot for `key`, registering it if new.
    ///
    /// # Errors
    ///
    /// [`SlotError::InvalidKey`], [`SlotError::Full`].
    pub fn slot(&mut self, key: &str) -> Result<SlotId, SlotError> {
        self.core.slot(key)
    }

    /// Publishes `value` in slot `id`.
    ///
    /// # Errors
    ///
    /// [`SlotError::BadSlot`] for an id of another table.
    #[inline]
    pub fn write(&mut self, id: SlotId, value: &T) -> Result<(), SlotError> {
        self.core.table.write(id, bytemuck::bytes_of(value))
    }

    /// Publishes `value` under `key`, registering the key if new.
    ///
    /// # Errors
    ///
    /// As [`SlotWriter::slot`].
    pub fn put(&mut self, key: &str, value: &T) -> Result<SlotId, SlotError> {
        let id = self.slot(key)?;
        self.write(id, value)?;
        Ok(id)
    }

    /// Starts an in-place update of slot `id`: readers see the old value (or wait) until the
    /// guard is dropped, which publishes the new one.
    ///
    /// # Errors
    ///
    /// [`SlotError::BadSlot`].
    pub fn update(&mut self, id: SlotId) -> Result<SlotGuard<'_, T>, SlotError> {
        let current = self
            .core
            .table
            .read(id)?
            .map_or_else(T::zeroed, |v| v.value);
        let (seq, words) = self.core.table.seq_and_words(id)?;
        let odd = seqlock::begin_write(seq);
        Ok(SlotGuard {
            seq,
            words,
            odd,
            value: current,
        })
    }

    /// Reads slot `id` (the writer's own view).
    ///
    /// # Errors
    ///
    /// [`SlotError::BadSlot`].
    pub fn read(&self, id: SlotId) -> Result<Option<Versioned<T>>, SlotError> {
        self.core.table.read(id)
    }

    /// Keys in use, with their slots.
    pub fn keys(&self) -> Vec<(String, SlotId)> {
        self.core.table.keys()
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.core.table.capacity
    }

    /// The underlying region.
    pub fn region(&self) -> &Region {
        &self.core.table.region
    }
}

/// An update in progress (see [`SlotWriter::update`]); publishes on drop.
#[derive(Debug)]
pub struct SlotGuard<'a, T: Record> {
    seq: &'a AtomicU64,
    words: &'a [AtomicU64],
    odd: u64,
    value: T,
}

impl<T: Record> std::ops::Deref for SlotGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Record> std::ops::DerefMut for SlotGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: Record> Drop for SlotGuard<'_, T> {
    fn drop(&mut self) {
        seqlock::store_words(self.words, bytemuck::bytes_of(&self.value));
        seqlock::end_write(self.seq, self.odd);
    }
}

/// What both readers offer whatever their record type.
macro_rules! reader_common {
    () => {
        /// How long a read waits for a live writer that keeps a slot mid-write before
        /// [`SlotError::Busy`].
        pub fn set_timeout(&mut self, timeout: Duration) {
            self.table.timeout = timeout;
        }

        /// The slot of `key`.
        ///
        /// # Errors
        ///
        /// [`SlotError::UnknownKey`], [`SlotError::InvalidKey`].
        pub fn find(&self, key: &str) -> Result<SlotId, SlotError> {
            self.table.find(key)
        }

        /// The current sequence of slot `id` (odd while a write is in progress).
        ///
        /// # Errors
        ///
        /// [`SlotError::BadSlot`].
        pub fn sequence(&self, id: SlotId) -> Result<u64, SlotError> {
            self.table.sequence(id)
        }

        /// Keys in use, with their slots.
        pub fn keys(&self) -> Vec<(String, SlotId)> {
            self.table.keys()
        }

        /// Number of keys in use.
        pub fn len(&self) -> u32 {
            self.table.len()
        }

        /// Whether no key is in use.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Number of slots.
        pub fn capacity(&self) -> u32 {
            self.table.capacity
        }

        /// The underlying region.
        pub fn region(&self) -> &Region {
            &self.table.region
        }
    };
}

/// A reader of a slot table. Maps the region read-only; never writes to it.
#[derive(Debug)]
pub struct SlotReader<T> {
    table: Table<Typed<T>>,
}

impl<T: Record> SlotReader<T> {
    /// Opens a table for reading.
    ///
    /// # Errors
    ///
    /// The region's open errors, e.g. [`RegionError::LayoutMismatch`] if the table holds
    /// another record type.
    pub fn open(name: &str) -> Result<Self, SlotError> {
        Self::open_with(name, Region::open_options())
    }

    /// As [`SlotReader::open`] with explicit options (e.g. `allow_foreign_owner`).
    ///
    /// # Errors
    ///
    /// As [`SlotReader::open`].
    pub fn open_with(name: &str, opts: OpenOptions) -> Result<Self, SlotError> {
        const { check_record::<T>() };
        let region = opts
            .kind(RegionKind::Slots)
            .layout(&T::LAYOUT)
            .writer(false)
            .open(name)?;
        Ok(Self {
            table: Table::from_region(region, Typed(PhantomData))?,
        })
    }

    /// A consistent copy of slot `id`, `None` if it was never written.
    ///
    /// # Errors
    ///
    /// [`SlotError::WriterDied`] if the writer died mid-write; [`SlotError::Busy`] if a live
    /// writer keeps it mid-write past the timeout; [`SlotError::BadSlot`].
    #[inline]
    pub fn read(&self, id: SlotId) -> Result<Option<Versioned<T>>, SlotError> {
        self.table.read(id)
    }

    /// A copy of slot `id` if its sequence differs from `since` (cheap when unchanged).
    ///
    /// # Errors
    ///
    /// As [`SlotReader::read`].
    #[inline]
    pub fn read_if_changed(
        &self,
        id: SlotId,
        since: u64,
    ) -> Result<Option<Versioned<T>>, SlotError> {
        self.table.read_if_changed(id, since)
    }

    /// Reads by key.
    ///
    /// # Errors
    ///
    /// As [`SlotReader::find`] and [`SlotReader::read`].
    pub fn get(&self, key: &str) -> Result<Option<Versioned<T>>, SlotError> {
        self.read(self.find(key)?)
    }

    reader_common!();
}

/// Options for creating a table of records whose layout is known at run time, made by
/// [`RawSlotWriter::builder`].
#[derive(Debug, Clone)]
pub struct RawSlotTableBuilder {
    opts: TableOptions,
    layout: RecordLayoutBuf,
}

impl RawSlotTableBuilder {
    table_options!();

    /// Creates the table (exclusive) and returns its writer.
    ///
    /// # Errors
    ///
    /// [`SlotError::InvalidLayout`] if the layout fails [`RecordLayoutBuf::check`]; then as
    /// [`SlotTableBuilder::create`].
    pub fn create(self) -> Result<RawSlotWriter, SlotError> {
        let shape = runtime_shape(&self.layout)?;
        let layout = &self.layout;
        let core = self.opts.create(shape, |b| b.layout_buf(layout))?;
        Ok(RawSlotWriter { core })
    }
}

fn runtime_shape(layout: &RecordLayoutBuf) -> Result<Runtime, SlotError> {
    layout.check().map_err(|reason| SlotError::InvalidLayout {
        name: layout.name.clone(),
        reason,
    })?;
    Ok(Runtime {
        size: layout.size as usize,
        name: layout.name.clone(),
    })
}

/// The writer of a slot table whose record layout is known only at run time (a Python, Node
/// or C program's struct): records are byte slices of exactly the layout's size. Same
/// protocol and same guarantees as [`SlotWriter`]; a table made here with the fields of
/// [`crate::TradingData`] is opened by `SlotReader::<TradingData>` and the other way round.
#[derive(Debug)]
pub struct RawSlotWriter {
    core: WriterCore<Runtime>,
}

impl RawSlotWriter {
    /// Starts creating a table named `name` holding records of `layout`.
    pub fn builder(name: &str, layout: RecordLayoutBuf) -> RawSlotTableBuilder {
        RawSlotTableBuilder {
            opts: TableOptions::new(name),
            layout,
        }
    }

    /// Opens an existing table of `layout` records as its writer, repairing slots a dead writer
    /// left mid-write.
    ///
    /// # Errors
    ///
    /// As [`SlotWriter::open`]; [`SlotError::InvalidLayout`].
    pub fn open(name: &str, layout: &RecordLayoutBuf) -> Result<Self, SlotError> {
        let shape = runtime_shape(layout)?;
        let region = Region::open_options()
            .kind(RegionKind::Slots)
            .layout_buf(layout)
            .writer(true)
            .defer_claim()
            .open(name)?;
        Ok(Self {
            core: WriterCore::open(region, shape)?,
        })
    }

    /// The record size in bytes.
    pub fn record_size(&self) -> usize {
        self.core.table.shape.size
    }

    /// How many slots were repaired when this writer opened the table.
    pub fn repaired(&self) -> u32 {
        self.core.repaired
    }

    /// The slot for `key`, registering it if new.
    ///
    /// # Errors
    ///
    /// [`SlotError::InvalidKey`], [`SlotError::Full`].
    pub fn slot(&mut self, key: &str) -> Result<SlotId, SlotError> {
        self.core.slot(key)
    }

    /// Publishes `record` (exactly [`RawSlotWriter::record_size`] bytes) in slot `id`.
    ///
    /// # Errors
    ///
    /// [`SlotError::RecordSize`], [`SlotError::BadSlot`].
    pub fn write(&mut self, id: SlotId, record: &[u8]) -> Result<(), SlotError> {
        check_len(&self.core.table, record.len())?;
        self.core.table.write(id, record)
    }

    /// Publishes `record` under `key`, registering the key if new.
    ///
    /// # Errors
    ///
    /// As [`RawSlotWriter::slot`] and [`RawSlotWriter::write`].
    pub fn put(&mut self, key: &str, record: &[u8]) -> Result<SlotId, SlotError> {
        check_len(&self.core.table, record.len())?;
        let id = self.slot(key)?;
        self.core.table.write(id, record)?;
        Ok(id)
    }

    /// Copies slot `id` into `out` (the record's size); the sequence, `None` if never written.
    ///
    /// # Errors
    ///
    /// [`SlotError::RecordSize`], [`SlotError::BadSlot`].
    pub fn read_into(&self, id: SlotId, out: &mut [u8]) -> Result<Option<u64>, SlotError> {
        check_len(&self.core.table, out.len())?;
        self.core.table.read_into(id, out)
    }

    /// Keys in use, with their slots.
    pub fn keys(&self) -> Vec<(String, SlotId)> {
        self.core.table.keys()
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.core.table.capacity
    }

    /// The underlying region.
    pub fn region(&self) -> &Region {
        &self.core.table.region
    }
}

fn check_len(table: &Table<Runtime>, len: usize) -> Result<(), SlotError> {
    if len == table.shape.size {
        Ok(())
    } else {
        Err(SlotError::RecordSize {
            region: table.region.name().to_string(),
            expected: table.shape.size,
            found: len,
        })
    }
}

/// A reader of a slot table whose record layout is known only at run time. Maps the region
/// read-only; never writes to it.
#[derive(Debug)]
pub struct RawSlotReader {
    table: Table<Runtime>,
}

impl RawSlotReader {
    /// Opens a table for reading, checking that it holds records of `layout` (its fingerprint).
    /// With `None`, accepts any layout: records are then bytes of the size the table header
    /// states (for tools that only display them).
    ///
    /// # Errors
    ///
    /// As [`SlotReader::open`]; [`SlotError::InvalidLayout`].
    pub fn open(name: &str, layout: Option<&RecordLayoutBuf>) -> Result<Self, SlotError> {
        Self::open_with(name, layout, Region::open_options())
    }

    /// As [`RawSlotReader::open`] with explicit options (e.g. `allow_foreign_owner`).
    ///
    /// # Errors
    ///
    /// As [`RawSlotReader::open`].
    pub fn open_with(
        name: &str,
        layout: Option<&RecordLayoutBuf>,
        opts: OpenOptions,
    ) -> Result<Self, SlotError> {
        let mut opts = opts.kind(RegionKind::Slots).writer(false);
        if let Some(layout) = layout {
            opts = opts.layout_buf(layout);
        }
        let region = opts.open(name)?;
        let shape = match layout {
            Some(layout) => runtime_shape(layout)?,
            None => {
                let [_, _, record, _] = table_geometry(&region)?;
                if record == 0 || record % 8 != 0 {
                    return Err(corrupt(
                        &region,
                        format!("the slot record size {record} is not a non-zero multiple of 8"),
                    ));
                }
                Runtime {
                    size: record as usize,
                    name: region.header().layout_name.clone(),
                }
            }
        };
        Ok(Self {
            table: Table::from_region(region, shape)?,
        })
    }

    /// The record size in bytes.
    pub fn record_size(&self) -> usize {
        self.table.shape.size
    }

    /// Copies a consistent record of slot `id` into `out` (the record's size). Returns its
    /// sequence, `None` if never written.
    ///
    /// # Errors
    ///
    /// As [`SlotReader::read`]; [`SlotError::RecordSize`].
    pub fn read_into(&self, id: SlotId, out: &mut [u8]) -> Result<Option<u64>, SlotError> {
        check_len(&self.table, out.len())?;
        self.table.read_into(id, out)
    }

    /// As [`RawSlotReader::read_into`] into a new vector.
    ///
    /// # Errors
    ///
    /// As [`RawSlotReader::read_into`].
    pub fn read(&self, id: SlotId) -> Result<Option<Versioned<Vec<u8>>>, SlotError> {
        let mut value = vec![0u8; self.table.shape.size];
        Ok(self
            .table
            .read_into(id, &mut value)?
            .map(|seq| Versioned { seq, value }))
    }

    /// As [`RawSlotReader::read_into`] if the slot's sequence differs from `since`; `None` if
    /// unchanged.
    ///
    /// # Errors
    ///
    /// As [`RawSlotReader::read_into`].
    pub fn read_into_if_changed(
        &self,
        id: SlotId,
        since: u64,
        out: &mut [u8],
    ) -> Result<Option<u64>, SlotError> {
        check_len(&self.table, out.len())?;
        self.table.read_into_if_changed(id, since, out)
    }

    /// Reads by key.
    ///
    /// # Errors
    ///
    /// As [`RawSlotReader::find`] and [`RawSlotReader::read`].
    pub fn get(&self, key: &str) -> Result<Option<Versioned<Vec<u8>>>, SlotError> {
        self.read(self.find(key)?)
    }

    reader_common!();
}
