//! A slot table validated once at open: the geometry, the key lookup and the seqlock reads and
//! writes of one slot, for records of a size known at run time. The typed API passes its
//! record size as a constant (`read_as`, and `write` of a `T`'s bytes), so its copies unroll.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::layout::encode_key;
use super::layout::{KEY_LEN, SLOT_KEY, SLOT_RECORD, TABLE_HEADER_LEN, TableHeader, stride_for};
use super::{SlotId, Versioned};
use crate::error::{
    KeyProblem, RegionCorruption, RegionError, SlotError, SlotReadError, SlotWriteError,
};
use crate::record::{Record, RecordLayoutBuf};
use crate::region::Region;
use crate::seqlock::{self, Contended, ReadAttempt};

/// Spins before a reader of a mid-write slot starts checking that the writer lives.
const SPINS_BEFORE_CHECK: u32 = 1 << 12;
/// How long a reader waits for a live writer to finish a write before [`SlotReadError::Busy`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Words of the slot head (sequence and key) before the record.
const HEAD_WORDS: usize = SLOT_RECORD / 8;

/// The record a table holds: its size and the layout's name (for messages).
#[derive(Debug, Clone)]
pub(super) struct Shape {
    pub(super) size: usize,
    pub(super) name: String,
}

impl Shape {
    /// The shape of a compile-time record type.
    pub(super) fn of<T: Record>() -> Self {
        Self {
            size: size_of::<T>(),
            name: T::LAYOUT.name.to_owned(),
        }
    }

    /// The shape of a run-time layout, refused if the layout is invalid.
    pub(super) fn of_layout(layout: &RecordLayoutBuf) -> Result<Self, SlotError> {
        layout.check().map_err(|reason| SlotError::InvalidLayout {
            name: layout.name.clone(),
            reason,
        })?;
        Ok(Self {
            size: layout.size as usize,
            name: layout.name.clone(),
        })
    }
}

/// The table geometry, validated against the mapping once at open.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) region: Region,
    pub(super) capacity: u32,
    pub(super) stride: usize,
    pub(super) timeout: Duration,
    pub(super) shape: Shape,
    /// The region's body offset, where the table header is.
    body: usize,
}

pub(super) fn corrupt(region: &Region, what: RegionCorruption) -> RegionError {
    RegionError::Corrupt {
        path: region.name().path().to_path_buf(),
        what,
    }
}

/// What the steps that reads and writes share can fail with; each converts into the read's,
/// the write's and the wide error (`?`), so no step names a failure its operation cannot have.
#[derive(Debug)]
pub(super) enum Fault {
    Region(RegionError),
    InvalidKey {
        key: String,
        reason: KeyProblem,
    },
    BadSlot {
        region: String,
        index: u32,
        count: u32,
    },
    RecordSize {
        region: String,
        expected: usize,
        found: usize,
    },
}

impl From<RegionError> for Fault {
    fn from(e: RegionError) -> Self {
        Self::Region(e)
    }
}

impl From<Fault> for SlotReadError {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Region(e) => Self::Region(e),
            Fault::InvalidKey { key, reason } => Self::InvalidKey { key, reason },
            Fault::BadSlot {
                region,
                index,
                count,
            } => Self::BadSlot {
                region,
                index,
                count,
            },
            Fault::RecordSize {
                region,
                expected,
                found,
            } => Self::RecordSize {
                region,
                expected,
                found,
            },
        }
    }
}

impl From<Fault> for SlotWriteError {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Region(e) => Self::Region(e),
            Fault::InvalidKey { key, reason } => Self::InvalidKey { key, reason },
            Fault::BadSlot {
                region,
                index,
                count,
            } => Self::BadSlot {
                region,
                index,
                count,
            },
            Fault::RecordSize {
                region,
                expected,
                found,
            } => Self::RecordSize {
                region,
                expected,
                found,
            },
        }
    }
}

impl From<Fault> for SlotError {
    fn from(f: Fault) -> Self {
        SlotWriteError::from(f).into()
    }
}

/// The table header of `region`, checked to lie inside the mapping.
pub(super) fn table_header(region: &Region) -> Result<&TableHeader, RegionError> {
    let body = region.header().body_offset as usize;
    // Slot sequences are u64 words at body + 64 + i * stride (a multiple of 64): a body
    // offset that is not 8-aligned would make every slot access fail its alignment check.
    if body % 8 != 0 {
        return Err(corrupt(
            region,
            RegionCorruption::SlotTableMisaligned {
                offset: body as u64,
            },
        ));
    }
    region.map().view::<TableHeader>(body).ok_or_else(|| {
        corrupt(
            region,
            RegionCorruption::SlotOutside {
                what: "the slot table header",
                len: region.len() as u64,
            },
        )
    })
}

impl Table {
    pub(super) fn from_region(region: Region, shape: Shape) -> Result<Self, SlotError> {
        let h = table_header(&region)?;
        let [capacity, stride, record, key_len] =
            [&h.capacity, &h.stride, &h.record_size, &h.key_len].map(|w| w.load(Ordering::Relaxed));
        let size = shape.size;
        if stride as usize != stride_for(size)
            || record as usize != size
            || key_len as usize != KEY_LEN
        {
            return Err(corrupt(
                &region,
                RegionCorruption::SlotGeometry {
                    stride,
                    record,
                    key: key_len,
                    record_name: shape.name.clone(),
                    expected_stride: stride_for(size) as u32,
                    expected_record: size as u32,
                    expected_key: KEY_LEN as u32,
                },
            )
            .into());
        }
        let body = region.header().body_offset as usize;
        let end = (capacity as u64)
            .checked_mul(stride as u64)
            .and_then(|n| n.checked_add((body + TABLE_HEADER_LEN) as u64));
        if end.is_none_or(|end| end > region.len() as u64) {
            return Err(corrupt(
                &region,
                RegionCorruption::SlotsDoNotFit {
                    capacity,
                    stride,
                    len: region.len() as u64,
                },
            )
            .into());
        }
        Ok(Self {
            region,
            capacity,
            stride: stride as usize,
            timeout: DEFAULT_READ_TIMEOUT,
            shape,
            body,
        })
    }

    /// Refuses a record buffer of another size than the table's records.
    #[inline]
    pub(super) fn check_len(&self, len: usize) -> Result<(), Fault> {
        if len == self.shape.size {
            Ok(())
        } else {
            Err(Fault::RecordSize {
                region: self.region.name().to_string(),
                expected: self.shape.size,
                found: len,
            })
        }
    }

    /// The table header; in bounds since open (a mapping never shrinks).
    #[inline]
    fn header(&self) -> Result<&TableHeader, RegionError> {
        self.region
            .map()
            .view::<TableHeader>(self.body)
            .ok_or_else(|| self.outside("the slot table header"))
    }

    #[cold]
    #[inline(never)]
    fn outside(&self, what: &'static str) -> RegionError {
        corrupt(
            &self.region,
            RegionCorruption::SlotOutside {
                what,
                len: self.region.len() as u64,
            },
        )
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
    pub(super) fn intact(&self) -> Result<(), RegionError> {
        self.region.check_intact()
    }

    /// Slots in use, clamped to the capacity (a corrupt count cannot send us out of bounds).
    pub(super) fn len(&self) -> u32 {
        // SYNC POINT: pairs with the Release store of the count in `register`: the keys of
        // all slots below the count are written.
        self.header()
            .map_or(0, |h| h.count.load(Ordering::Acquire))
            .min(self.capacity)
    }

    #[cold]
    #[inline(never)]
    fn bad_slot(&self, id: SlotId) -> Fault {
        Fault::BadSlot {
            region: self.region.name().to_string(),
            index: id.0,
            count: self.capacity,
        }
    }

    #[inline]
    pub(super) fn slot_offset(&self, id: SlotId) -> Result<usize, Fault> {
        if id.0 >= self.capacity {
            return Err(self.bad_slot(id));
        }
        Ok(self.body + TABLE_HEADER_LEN + id.0 as usize * self.stride)
    }

    /// The sequence word and the first `words` record words of slot `id` (one bounds check:
    /// the geometry was checked against the mapping at open, so it only fails for a corrupt
    /// table).
    #[inline(always)]
    pub(super) fn seq_and_words(
        &self,
        id: SlotId,
        words: usize,
    ) -> Result<(&AtomicU64, &[AtomicU64]), Fault> {
        let off = self.slot_offset(id)?;
        match self.region.map().u64_slice(off, HEAD_WORDS + words) {
            Some(slot) => {
                let (head, record) = slot.split_at(HEAD_WORDS);
                Ok((&head[0], record))
            }
            None => Err(self.outside("a slot").into()),
        }
    }

    /// The sequence word and the record of slot `id`.
    #[inline]
    pub(super) fn slot(&self, id: SlotId) -> Result<(&AtomicU64, &[AtomicU64]), Fault> {
        self.seq_and_words(id, self.shape.size / 8)
    }

    pub(super) fn key(&self, id: SlotId) -> Result<String, Fault> {
        let off = self.slot_offset(id)?;
        let raw = self
            .region
            .map()
            .read_bytes(off + SLOT_KEY, KEY_LEN)
            .ok_or_else(|| self.outside("a slot key"))?;
        self.intact()?;
        let n = raw.iter().position(|&b| b == 0).unwrap_or(KEY_LEN);
        Ok(String::from_utf8_lossy(&raw[..n]).into_owned())
    }

    pub(super) fn keys(&self) -> Vec<(String, SlotId)> {
        (0..self.len())
            .map(SlotId)
            .filter_map(|id| Some((self.key(id).ok()?, id)))
            .collect()
    }

    pub(super) fn find(&self, key: &str) -> Result<SlotId, SlotReadError> {
        // A slot's key lies in its first 64 bytes, so inside every stride (checked at open to
        // be `stride_for` the record: a multiple of 64, at least 64): the slicing cannot fail.
        const { assert!(SLOT_KEY + KEY_LEN <= 64 && stride_for(0) >= 64) };
        // Compare the key as four words in place: no copy of each stored key. The slots in use
        // are taken as one slice (their geometry was checked against the mapping at open: one
        // bounds check, not one per slot) and walked a stride at a time.
        let want: [u64; KEY_LEN / 8] = bytemuck::cast(encode_key(key)?);
        let step = self.stride / 8;
        let slots = self
            .region
            .map()
            .u64_slice(self.body + TABLE_HEADER_LEN, self.len() as usize * step)
            .ok_or_else(|| self.outside("a slot key"))?;
        let found = slots.chunks_exact(step).position(|slot| {
            slot[SLOT_KEY / 8..][..KEY_LEN / 8]
                .iter()
                .zip(&want)
                .all(|(w, k)| w.load(Ordering::Relaxed) == *k)
        });
        self.intact()?;
        match found {
            Some(i) => Ok(SlotId(i as u32)),
            None => Err(SlotReadError::UnknownKey {
                region: self.region.name().to_string(),
                key: key.to_owned(),
            }),
        }
    }

    pub(super) fn sequence(&self, id: SlotId) -> Result<u64, SlotReadError> {
        // Pairs with the writer's Release store (W3) in `seqlock::end_write`.
        let seq = self.seq_and_words(id, 0)?.0.load(Ordering::Acquire);
        self.intact()?;
        Ok(seq)
    }

    /// The fast path: one attempt, inlined into the caller; contention goes to `read_slow`.
    /// `out` has the record's size. Returns the sequence read at, `None` if never written.
    #[inline(always)]
    pub(super) fn read_into(
        &self,
        id: SlotId,
        out: &mut [u8],
    ) -> Result<Option<u64>, SlotReadError> {
        let (seq, words) = self.slot(id)?;
        match seqlock::try_read(seq, words, out) {
            ReadAttempt::Stable(0) => Ok(self.intact().map(|()| None)?),
            // No truncation check needed: see `STABLE_IS_REAL`.
            ReadAttempt::Stable(seq) => Ok(Some(seq)),
            _ => self.read_slow(id, out),
        }
    }

    /// Retries a slot that is being written ([`seqlock::read_retrying`]): spins, then checks
    /// that the writer lives, then yields until the timeout.
    #[cold]
    #[inline(never)]
    fn read_slow(&self, id: SlotId, out: &mut [u8]) -> Result<Option<u64>, SlotReadError> {
        let (seq, words) = self.slot(id)?;
        let mut spins = 0u32;
        let mut waiting_since: Option<Instant> = None;
        let (stable, ()) = seqlock::read_retrying(
            seq,
            || seqlock::load_words(words, out),
            |_, why| {
                self.intact()?;
                spins += 1;
                if spins < SPINS_BEFORE_CHECK {
                    std::hint::spin_loop();
                    return Ok(());
                }
                // Slow path: the slot stays busy. A dead writer never finishes.
                if let Contended::InProgress(odd) = why {
                    // Pairs with the writer's Release store (W3) in `seqlock::end_write`.
                    if !self.region.writer_alive()? && seq.load(Ordering::Acquire) == odd {
                        return Err(SlotReadError::WriterDied {
                            region: self.region.name().to_string(),
                            key: self.key(id)?,
                            seq: odd,
                        });
                    }
                }
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if since.elapsed() > self.timeout {
                    return Err(SlotReadError::Busy {
                        region: self.region.name().to_string(),
                        key: self.key(id)?,
                        waited_ms: since.elapsed().as_millis() as u64,
                    });
                }
                std::thread::yield_now();
                spins = SPINS_BEFORE_CHECK / 2;
                Ok(())
            },
        )?;
        self.intact()?;
        Ok((stable != 0).then_some(stable))
    }

    /// As `read_into` if the slot's sequence differs from `since`; `None` if unchanged.
    #[inline]
    pub(super) fn read_into_if_changed(
        &self,
        id: SlotId,
        since: u64,
        out: &mut [u8],
    ) -> Result<Option<u64>, SlotReadError> {
        if self.unchanged(id, since)? {
            return Ok(None);
        }
        Ok(self.read_into(id, out)?.filter(|&s| s != since))
    }

    /// Whether slot `id` is still at sequence `since` (one Acquire load).
    #[inline(always)]
    fn unchanged(&self, id: SlotId, since: u64) -> Result<bool, SlotReadError> {
        let (seq, _) = self.seq_and_words(id, 0)?;
        // Pairs with the writer's Release store (W3) in `seqlock::end_write`.
        let s = seq.load(Ordering::Acquire);
        if s == since {
            // A truncated file reads sequence 0: only then can "unchanged" be zeros.
            if s == 0 {
                self.intact()?;
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Publishes `src` (the record's size) in slot `id`.
    #[inline]
    pub(super) fn write(&self, id: SlotId, src: &[u8]) -> Result<(), SlotWriteError> {
        let (seq, words) = self.seq_and_words(id, src.len() / 8)?;
        seqlock::write(seq, words, src);
        Ok(self.intact()?)
    }

    /// The typed fast path for a table whose record size was checked to be `size_of::<T>()`
    /// at open: the number of words is a constant, so the copy unrolls. The value's buffer is
    /// never handed to the (cold) slow path, so it can stay in registers; passing it on made
    /// every read ~3 ns slower.
    #[inline(always)]
    pub(super) fn read_as<T: Record>(
        &self,
        id: SlotId,
    ) -> Result<Option<Versioned<T>>, SlotReadError> {
        let (seq, words) = self.seq_and_words(id, size_of::<T>() / 8)?;
        let mut value = T::zeroed();
        match seqlock::try_read(seq, words, bytemuck::bytes_of_mut(&mut value)) {
            ReadAttempt::Stable(0) => Ok(self.intact().map(|()| None)?),
            // No truncation check needed: see `STABLE_IS_REAL`.
            ReadAttempt::Stable(seq) => Ok(Some(Versioned { seq, value })),
            _ => self.read_as_slow(id),
        }
    }

    #[cold]
    #[inline(never)]
    fn read_as_slow<T: Record>(&self, id: SlotId) -> Result<Option<Versioned<T>>, SlotReadError> {
        let mut value = T::zeroed();
        Ok(self
            .read_slow(id, bytemuck::bytes_of_mut(&mut value))?
            .map(|seq| Versioned { seq, value }))
    }

    /// As `read_as` if the slot's sequence differs from `since`; `None` if unchanged.
    #[inline]
    pub(super) fn read_as_if_changed<T: Record>(
        &self,
        id: SlotId,
        since: u64,
    ) -> Result<Option<Versioned<T>>, SlotReadError> {
        if self.unchanged(id, since)? {
            return Ok(None);
        }
        Ok(self.read_as(id)?.filter(|v| v.seq != since))
    }

    /// Registers `key` in the next free slot (the writer only).
    pub(super) fn register(&self, raw: &[u8; KEY_LEN]) -> Result<SlotId, SlotWriteError> {
        let count = self.len();
        if count >= self.capacity {
            return Err(SlotWriteError::Full {
                region: self.region.name().to_string(),
                capacity: self.capacity,
            });
        }
        let id = SlotId(count);
        let off = self.slot_offset(id)?;
        self.region
            .map()
            .write_bytes(off + SLOT_KEY, raw)
            .ok_or_else(|| self.outside("a slot key"))?;
        // SYNC POINT: pairs with the Acquire load in `Table::len`: readers that see the new
        // count see the key.
        self.header()?.count.store(count + 1, Ordering::Release);
        self.intact()?;
        Ok(id)
    }
}
