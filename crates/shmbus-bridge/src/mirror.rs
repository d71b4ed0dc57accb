//! `bridge in --slots TABLE --candles REGION`: the local journal's `Trade` and `Bar` messages
//! mirrored into a slot table (the latest [`TradingData`] per symbol) and a candle region, so a
//! process on machine B sees the same slots and candles as on A.
//!
//! The mirror is derived from the local journal, never from the stream: after `bridge in`
//! commits a run of frames, [`Mirror::sync`] reads the frames it has not applied yet from the
//! journal and applies them, in journal order. Its progress is kept in a small file next to the
//! journal (`JOURNAL.bridge-mirror`, two records written alternately, each with a CRC32C), so
//! that every message is applied exactly once across kill -9 (docs/BRIDGE.md argues it):
//!
//! * Before applying a chunk of at most [`CHUNK`] frames, the mirror registers the slots of its
//!   trades and writes the record `{first, n, (slot, sequence before) for every slot touched}`.
//! * On start it redoes the newest record's chunk: a slot's sequence counts its writes (2 per
//!   write), so `(now - before) / 2` of the chunk's trades for that slot were applied, and
//!   exactly the rest are; a bar upsert replayed in order is idempotent (a bar older than the
//!   series' last one was applied already, one with the same time is replaced again and then by
//!   every later rewrite of it), so every bar of the chunk is applied again.
//! * Then it applies the frames the journal holds after the chunk (committed by a run that was
//!   killed before its mirror step).
//!
//! A `Trade` (type 2, 128 bytes) becomes `TradingData { price, timestamp = timestamp_ns,
//! volume = volume as i32 (truncated, saturating), valid = 1 }` in the slot of its symbol, as
//! `shmbus feed` writes them on A. A `Bar` (type 3, 72 bytes) is upserted into its series as
//! A's candle writer does (same time: replaces the live bar; newer: appends). A malformed one
//! (wrong length, a symbol that is empty or not UTF-8, an invalid candle, a bar older than its
//! series' last) is counted and logged, never applied; it stays in the journal. Other types
//! are only journalled.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use shmbus::candles::{BAR_TYPE, Bar, CandleWriter, DEFAULT_SIZE};
use shmbus::journal::{JournalReader, Start};
use shmbus::{
    CandleError, ReadError, RegionError, SlotError, SlotId, SlotWriteError, SlotWriter, TRADE_TYPE,
    Trade, TradingData,
};

/// Frames applied under one progress record, at most (its slot entries fit [`REC_MAX`]).
pub const CHUNK: usize = 256;
const MAGIC: u32 = shmbus::bridge_status::MIRROR_MAGIC; // "SBMR"
/// Bytes of one record slot in the file.
const REC_MAX: u64 = 4096;
const HEAD: usize = 56;
const ENTRY: usize = 12;
const _: () = assert!(HEAD + CHUNK * ENTRY <= REC_MAX as usize);
/// Malformed or refused messages logged one by one, at most (the rest are only counted).
const LOG_MAX: u64 = 20;

/// What to mirror, and how to create what is missing.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Slot table of the latest `TradingData` per symbol (created if missing).
    pub slots: Option<String>,
    /// Capacity (slots) of a slot table the mirror creates.
    pub slots_capacity: u32,
    /// Candle region of the `Bar` messages (created if missing).
    pub candles: Option<String>,
    /// Size in bytes of a candle region the mirror creates.
    pub candles_size: u64,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        Self {
            slots: None,
            slots_capacity: 1024,
            candles: None,
            candles_size: DEFAULT_SIZE,
        }
    }
}

impl MirrorOptions {
    /// Whether there is anything to mirror.
    pub fn enabled(&self) -> bool {
        self.slots.is_some() || self.candles.is_some()
    }
}

/// What the mirror did (this run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Trades written to the slot table.
    pub slot_writes: u64,
    /// Bars written to the candle region.
    pub bar_writes: u64,
    /// Trade or Bar messages not applied because their payload is malformed.
    pub malformed: u64,
    /// Trade or Bar messages not applied because the table or region is full.
    pub refused: u64,
    /// Messages the journal no longer held when the mirror came to them.
    pub missed: u64,
}

impl std::fmt::Display for MirrorStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mirror: slot writes {}, bar writes {}, malformed {}, refused {}, missed {}",
            self.slot_writes, self.bar_writes, self.malformed, self.refused, self.missed
        )
    }
}

/// One progress record: the chunk of frames `first..first + n` is being applied; `entries` are
/// the slots its trades touch, with their sequence before the chunk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Record {
    gen_: u64,
    /// `created_ns` of the slot table (0: none).
    table_id: u64,
    first: u64,
    n: u64,
    /// Whether the chunk was applied in full (written as a new record after it).
    done: bool,
    entries: Vec<(u32, u64)>,
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let len = HEAD + self.entries.len() * ENTRY;
        let mut b = vec![0u8; len];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        b[12..16].copy_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (i, v) in [
            self.gen_,
            self.table_id,
            self.first,
            self.n,
            u64::from(self.done),
        ]
        .iter()
        .enumerate()
        {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        for (i, (slot, seq)) in self.entries.iter().enumerate() {
            let o = HEAD + i * ENTRY;
            b[o..o + 4].copy_from_slice(&slot.to_le_bytes());
            b[o + 4..o + 12].copy_from_slice(&seq.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b[8..]);
        b[4..8].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// The record in `b`, `None` if there is none or it is torn (every length is checked: the
    /// file may hold anything).
    fn decode(b: &[u8]) -> Option<Self> {
        let u32_at = |o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
        let u64_at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
        if u32_at(0)? != MAGIC {
            return None;
        }
        let len = u32_at(8)? as usize;
        let count = u32_at(12)? as usize;
        if len > b.len() || count > CHUNK || len != HEAD + count * ENTRY {
            return None;
        }
        if u32_at(4)? != crc32c::crc32c(&b[8..len]) {
            return None;
        }
        let (first, n) = (u64_at(32)?, u64_at(40)?);
        // A chunk is 1 to CHUNK frames, and its end is a journal sequence.
        if n == 0 || n > CHUNK as u64 || first.checked_add(n).is_none() {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let o = HEAD + i * ENTRY;
            entries.push((u32_at(o)?, u64_at(o + 4)?));
        }
        Some(Self {
            gen_: u64_at(16)?,
            table_id: u64_at(24)?,
            first,
            n,
            done: u64_at(48)? != 0,
            entries,
        })
    }
}

/// The mirror's progress file of journal `name`: its path plus `.bridge-mirror`.
///
/// # Errors
///
/// The name is not a valid region name.
pub fn mirror_path(name: &str) -> Result<PathBuf> {
    let n = shmbus::RegionName::parse(name)?;
    let mut p = n.path().as_os_str().to_owned();
    p.push(shmbus::bridge_status::MIRROR_SUFFIX);
    Ok(PathBuf::from(p))
}

/// The open progress file.
#[derive(Debug)]
struct Progress {
    file: File,
    path: PathBuf,
    /// The newest valid record.
    last: Option<Record>,
}

impl Progress {
    fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open the mirror state file {}", path.display()))?;
        let len = file.metadata()?.len().min(2 * REC_MAX) as usize;
        let mut buf = vec![0u8; 2 * REC_MAX as usize];
        file.read_exact_at(&mut buf[..len], 0)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let (a, b) = buf.split_at(REC_MAX as usize);
        let last = [a, b]
            .into_iter()
            .filter_map(Record::decode)
            .max_by_key(|r| r.gen_);
        Ok(Self {
            file,
            path: path.to_owned(),
            last,
        })
    }

    /// Writes `rec` (its generation set to the next one) into the older slot.
    fn write(&mut self, mut rec: Record) -> Result<()> {
        rec.gen_ = self.last.as_ref().map_or(0, |r| r.gen_) + 1;
        self.file
            .write_all_at(&rec.encode(), (rec.gen_ % 2) * REC_MAX)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.last = Some(rec);
        Ok(())
    }
}

/// A journal frame as the mirror sees it.
enum Item {
    /// A trade for the slot of `symbol` (resolved to `id` once registered).
    Trade {
        symbol: String,
        id: Option<SlotId>,
        rec: TradingData,
    },
    Bar {
        symbol: String,
        interval: String,
        bar: Bar,
    },
    /// A Trade or Bar that cannot be applied: why.
    Bad(String),
    /// Another type: journalled only.
    Other,
}

/// The text of a NUL-padded name field: up to its first NUL, non-empty UTF-8.
fn name_field(b: &[u8], what: &str) -> Result<String, String> {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    match std::str::from_utf8(&b[..n]) {
        Ok("") => Err(format!("{what} is empty")),
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(format!("{what} {:?} is not UTF-8", &b[..n])),
    }
}

fn parse(ty: u16, payload: &[u8], slots: bool, candles: bool) -> Item {
    match ty {
        TRADE_TYPE if slots => {
            if payload.len() != size_of::<Trade>() {
                return Item::Bad(format!(
                    "a Trade of {} bytes (a Trade is {})",
                    payload.len(),
                    size_of::<Trade>()
                ));
            }
            let t: Trade = bytemuck::pod_read_unaligned(payload);
            match name_field(&t.symbol, "symbol") {
                Ok(symbol) => Item::Trade {
                    symbol,
                    id: None,
                    // `as`: truncated toward zero, saturating (NaN gives 0).
                    rec: TradingData::new(t.price, t.volume as i32, t.timestamp_ns),
                },
                Err(e) => Item::Bad(format!("a Trade whose {e}")),
            }
        }
        BAR_TYPE if candles => {
            if payload.len() != size_of::<Bar>() {
                return Item::Bad(format!(
                    "a Bar of {} bytes (a Bar is {})",
                    payload.len(),
                    size_of::<Bar>()
                ));
            }
            let bar: Bar = bytemuck::pod_read_unaligned(payload);
            match (
                name_field(&bar.symbol, "symbol"),
                name_field(&bar.interval, "interval"),
            ) {
                (Ok(symbol), Ok(interval)) => Item::Bar {
                    symbol,
                    interval,
                    bar,
                },
                (Err(e), _) | (_, Err(e)) => Item::Bad(format!("a Bar whose {e}")),
            }
        }
        _ => Item::Other,
    }
}

/// The slot table and candle region of `bridge in`, kept in step with its journal.
pub struct Mirror {
    slots: Option<(String, SlotWriter<TradingData>)>,
    candles: Option<(String, CandleWriter)>,
    journal: String,
    reader: JournalReader,
    progress: Progress,
    table_id: u64,
    /// The journal sequence of the next frame to apply.
    next: u64,
    /// Below this journal sequence, a bar older than its series' last one is a replay (applied
    /// before a restart), not a malformed message.
    replay_until: u64,
    logged: u64,
    stats: MirrorStats,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("slots", &self.slots.as_ref().map(|s| &s.0))
            .field("candles", &self.candles.as_ref().map(|c| &c.0))
            .field("journal", &self.journal)
            .field("next", &self.next)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn open_slots(name: &str, capacity: u32) -> Result<SlotWriter<TradingData>> {
    let what = || format!("--slots {name}: cannot open it as a slot table of TradingData records");
    match SlotWriter::<TradingData>::open(name) {
        Err(SlotError::Region(RegionError::NotFound { .. })) => {
            SlotWriter::<TradingData>::builder(name)
                .capacity(capacity)
                .create()
                .with_context(|| format!("--slots {name}: cannot create the slot table"))
        }
        other => other.with_context(what),
    }
}

fn open_candles(name: &str, size: u64) -> Result<CandleWriter> {
    match CandleWriter::open(name) {
        Err(CandleError::Region {
            error: RegionError::NotFound { .. },
        }) => CandleWriter::builder(name)
            .size(size)
            .create()
            .with_context(|| format!("--candles {name}: cannot create the candle region")),
        Err(e) => {
            // A shmbus region of another kind: say which (the candle format's own check
            // only sees that it is not a QNXS region).
            if let Some(kind) = shmbus::Region::open_options()
                .open(name)
                .ok()
                .and_then(|r| r.kind())
                .filter(|k| *k != shmbus::RegionKind::Candles)
            {
                bail!(
                    "--candles {name}: cannot open it as a candle region: {name} is a {kind} region, not a candles region"
                );
            }
            Err(e).with_context(|| format!("--candles {name}: cannot open it as a candle region"))
        }
        Ok(w) => Ok(w),
    }
}

impl Mirror {
    /// Opens (or creates) the table and region, recovers from an interrupted run and applies
    /// what the journal holds beyond the mirror's progress. `None` if `o` mirrors nothing.
    ///
    /// # Errors
    ///
    /// The table or region cannot be opened or created (another kind of region, a live
    /// writer); the progress file cannot be used or belongs to another table or journal.
    pub fn open(o: &MirrorOptions, journal: &str, journal_next: u64) -> Result<Option<Self>> {
        if !o.enabled() {
            return Ok(None);
        }
        let slots = o
            .slots
            .as_deref()
            .map(|n| Ok::<_, anyhow::Error>((n.to_owned(), open_slots(n, o.slots_capacity)?)))
            .transpose()?;
        let candles = o
            .candles
            .as_deref()
            .map(|n| Ok::<_, anyhow::Error>((n.to_owned(), open_candles(n, o.candles_size)?)))
            .transpose()?;
        let table_id = slots
            .as_ref()
            .map_or(0, |(_, w)| w.region().header().created_ns);
        let path = mirror_path(journal)?;
        let progress = Progress::open(&path)?;
        let reader = JournalReader::open(journal, Start::Beginning)
            .with_context(|| format!("cannot open journal {journal} to mirror it"))?;
        let mut m = Self {
            slots,
            candles,
            journal: journal.to_owned(),
            reader,
            progress,
            table_id,
            next: 0,
            replay_until: 0,
            logged: 0,
            stats: MirrorStats::default(),
        };
        match m.progress.last.clone() {
            Some(rec) if rec.table_id == table_id => {
                if rec.first + rec.n > journal_next {
                    bail!(
                        "{} says the mirror applied journal messages up to {}, but journal {journal} holds {journal_next}: it was re-created or is another journal; remove the file to rebuild the mirror (into a new slot table)",
                        path.display(),
                        rec.first + rec.n,
                    );
                }
                m.next = rec.first + rec.n;
                if !rec.done {
                    eprintln!(
                        "bridge in: mirror: a run stopped inside journal messages {}..{}: redoing them (each applied once)",
                        rec.first,
                        rec.first + rec.n - 1
                    );
                    m.replay_until = rec.first + rec.n;
                    m.redo(&rec)?;
                }
            }
            last => {
                // No progress for this table: the mirror is built from the journal's oldest
                // message, which only an empty table can take (slot sequences count writes).
                if let Some((name, w)) = &m.slots {
                    let n = w.keys().len();
                    if n > 0 {
                        let why = if last.is_some() {
                            "was written for another slot table (this one was re-created or replaced)"
                        } else {
                            "records no mirror into it"
                        };
                        bail!(
                            "slot table {name} already holds {n} symbols and {} {why}: give a new or empty table (the mirror is rebuilt from the journal's oldest message), or remove the table",
                            path.display()
                        );
                    }
                }
                m.next = m
                    .reader
                    .info()
                    .with_context(|| format!("cannot read journal {journal}"))?
                    .oldest_seq;
                // Bars a previous mirror applied to this region are replayed, harmlessly.
                if m.candles
                    .as_ref()
                    .is_some_and(|(_, c)| c.stats().total_symbols > 0)
                {
                    m.replay_until = journal_next;
                }
            }
        }
        m.sync(journal_next)?;
        Ok(Some(m))
    }

    /// What the mirror did so far.
    pub fn stats(&self) -> &MirrorStats {
        &self.stats
    }

    /// Applies every frame before journal sequence `upto` not applied yet.
    ///
    /// # Errors
    ///
    /// The journal cannot be read, the progress file cannot be written, the table or region
    /// was damaged by another process.
    pub fn sync(&mut self, upto: u64) -> Result<()> {
        while self.next < upto {
            let n = (upto - self.next).min(CHUNK as u64);
            let Some((first, mut items)) = self.read(n)? else {
                continue;
            };
            if items.is_empty() {
                break;
            }
            let mut entries: Vec<(u32, u64)> = Vec::new();
            self.resolve(&mut items, first, Some(&mut entries))?;
            let mut rec = Record {
                gen_: 0,
                table_id: self.table_id,
                first,
                n: items.len() as u64,
                done: false,
                entries,
            };
            self.progress.write(rec.clone())?;
            self.apply(first, &items, &mut HashMap::new())?;
            self.next = first + items.len() as u64;
            // Into the other slot: torn, it leaves the record above, and a redo.
            rec.done = true;
            self.progress.write(rec)?;
        }
        Ok(())
    }

    /// Redoes the chunk of the newest record: what of it was applied before a kill is known
    /// from the slots' sequences; bars are replayed (idempotent in order).
    fn redo(&mut self, rec: &Record) -> Result<()> {
        self.next = rec.first;
        let Some((first, mut items)) = self.read(rec.n)? else {
            // Its frames are gone (counted as missed): go on after them.
            self.next = self.next.max(rec.first + rec.n);
            return self.progress.write(Record {
                done: true,
                ..rec.clone()
            });
        };
        self.resolve(&mut items, first, None)?;
        let mut done = HashMap::new();
        if let Some((_, w)) = &self.slots {
            for &(slot, before) in &rec.entries {
                let id = SlotId::from_index(slot);
                let now = w.read(id).ok().flatten().map_or(0, |v| v.seq);
                done.insert(slot, now.saturating_sub(before) / 2);
            }
        }
        let torn = self.apply(first, &items, &mut done)?;
        // A write cut short by the kill was repaired to an all-zero record when the table was
        // opened: its slot's last applied trade is written again (its sequence is then 2
        // higher than A's, the value is right).
        if let Some((_, w)) = &mut self.slots {
            for (id, rec) in torn {
                if w.read(id)?.is_some_and(|v| !v.value.is_valid()) {
                    w.write(id, &rec)?;
                    self.stats.slot_writes += 1;
                }
            }
        }
        self.next = first + items.len() as u64;
        self.progress.write(Record {
            done: true,
            ..rec.clone()
        })
    }

    /// Reads up to `n` frames from `self.next`; `None` if the journal no longer holds
    /// `self.next` (then `self.next` moves to the oldest one it holds).
    fn read(&mut self, n: u64) -> Result<Option<(u64, Vec<Item>)>> {
        let (slots, candles) = (self.slots.is_some(), self.candles.is_some());
        if self.reader.next_seq() != self.next {
            match self.reader.seek(self.next) {
                Ok(()) => {}
                Err(ReadError::TooOld { oldest, .. }) => {
                    self.missed(oldest);
                    return Ok(None);
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot read journal {} to mirror it", self.journal)
                    });
                }
            }
        }
        let first = self.next;
        let mut items = Vec::with_capacity(n as usize);
        while (items.len() as u64) < n {
            match self.reader.next() {
                Ok(Some(m)) => items.push(parse(m.ty, m.payload, slots, candles)),
                Ok(None) => break,
                Err(ReadError::Overrun { resume_seq, .. }) if items.is_empty() => {
                    self.missed(resume_seq);
                    return Ok(None);
                }
                // Apply what was read; the next read reports the overrun.
                Err(ReadError::Overrun { .. }) => break,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot read journal {} to mirror it", self.journal)
                    });
                }
            }
        }
        Ok(Some((first, items)))
    }

    fn missed(&mut self, resume: u64) {
        let lost = resume.saturating_sub(self.next);
        eprintln!(
            "bridge in: mirror: journal {} no longer holds messages {}..{}: they are not mirrored",
            self.journal,
            self.next,
            resume.saturating_sub(1)
        );
        self.stats.missed += lost;
        self.next = resume;
    }

    /// Registers the slots of the chunk's trades; with `entries`, collects each slot touched
    /// and its sequence now.
    fn resolve(
        &mut self,
        items: &mut [Item],
        first: u64,
        mut entries: Option<&mut Vec<(u32, u64)>>,
    ) -> Result<()> {
        let Some((table, w)) = &mut self.slots else {
            return Ok(());
        };
        let mut notes = Vec::new();
        for (i, item) in items.iter_mut().enumerate() {
            let Item::Trade { symbol, id, .. } = item else {
                continue;
            };
            match w.slot(symbol) {
                Ok(s) => {
                    *id = Some(s);
                    if let Some(e) = entries.as_deref_mut() {
                        if !e.iter().any(|&(x, _)| x == s.index()) {
                            let seq = w.read(s)?.map_or(0, |v| v.seq);
                            e.push((s.index(), seq));
                        }
                    }
                }
                Err(SlotWriteError::InvalidKey { reason, .. }) => {
                    let why =
                        format!("a Trade whose symbol {symbol:?} is not a valid key: {reason}");
                    *item = Item::Bad(why);
                }
                Err(e @ SlotWriteError::Full { .. }) => {
                    notes.push((first + i as u64, format!("slot table {table}: {e}")));
                    *item = Item::Other;
                }
                Err(e) => return Err(e).with_context(|| format!("slot table {table}")),
            }
        }
        for (seq, why) in notes {
            self.stats.refused += 1;
            self.log(seq, &why, "refused");
        }
        Ok(())
    }

    /// Applies a chunk in order, skipping `skip[slot]` trades of each slot (already applied).
    /// Returns the last skipped trade of each slot (see [`Mirror::redo`]).
    fn apply(
        &mut self,
        first: u64,
        items: &[Item],
        skip: &mut HashMap<u32, u64>,
    ) -> Result<Vec<(SlotId, TradingData)>> {
        let mut skipped: HashMap<u32, (SlotId, TradingData)> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let seq = first + i as u64;
            match item {
                Item::Other => {}
                Item::Bad(why) => {
                    self.stats.malformed += 1;
                    let why = why.clone();
                    self.log(seq, &why, "malformed");
                }
                Item::Trade {
                    id: Some(id), rec, ..
                } => {
                    let (table, w) = self.slots.as_mut().expect("trades only with --slots");
                    if let Some(k) = skip.get_mut(&id.index()).filter(|k| **k > 0) {
                        *k -= 1;
                        skipped.insert(id.index(), (*id, *rec));
                        continue;
                    }
                    w.write(*id, rec)
                        .with_context(|| format!("cannot write slot table {table}"))?;
                    skipped.remove(&id.index());
                    self.stats.slot_writes += 1;
                }
                Item::Trade { id: None, .. } => {}
                Item::Bar {
                    symbol,
                    interval,
                    bar,
                } => {
                    let (region, w) = self.candles.as_mut().expect("bars only with --candles");
                    match w.write_candles(symbol, interval, &[bar.candle]) {
                        Ok(_) => self.stats.bar_writes += 1,
                        Err(CandleError::OutOfOrder { .. }) if seq < self.replay_until => {}
                        Err(
                            e @ (CandleError::OutOfOrder { .. }
                            | CandleError::InvalidName { .. }
                            | CandleError::InvalidCandle { .. }),
                        ) => {
                            self.stats.malformed += 1;
                            self.log(seq, &format!("a Bar {e}"), "malformed");
                        }
                        Err(
                            e @ (CandleError::Full { .. }
                            | CandleError::TooManySeries { .. }
                            | CandleError::TooManyCandles { .. }),
                        ) => {
                            let why = format!("candle region {region}: {e}");
                            self.stats.refused += 1;
                            self.log(seq, &why, "refused");
                        }
                        Err(e) => {
                            return Err(e)
                                .with_context(|| format!("cannot write candle region {region}"));
                        }
                    }
                }
            }
        }
        Ok(skipped.into_values().collect())
    }

    fn log(&mut self, seq: u64, why: &str, what: &str) {
        self.logged += 1;
        if self.logged <= LOG_MAX {
            eprintln!(
                "bridge in: mirror: journal {} message {seq}: {why}; journalled, not mirrored ({what}){}",
                self.journal,
                if self.logged == LOG_MAX {
                    "; further ones are only counted"
                } else {
                    ""
                }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_ones_are_refused() {
        let r = Record {
            gen_: 7,
            table_id: 42,
            first: 1000,
            n: 256,
            done: true,
            entries: vec![(3, 10), (0, 0), (1023, u64::MAX - 1)],
        };
        let b = r.encode();
        assert_eq!(Record::decode(&b), Some(r.clone()));
        for cut in [0, 4, 55, b.len() - 1] {
            assert_eq!(Record::decode(&b[..cut]), None, "cut at {cut}");
        }
        for at in [5, 9, 13, 20, 50, b.len() - 1] {
            let mut bad = b.clone();
            bad[at] ^= 1;
            assert_eq!(Record::decode(&bad), None, "flipped byte {at}");
        }
        // Sizes no chunk has, with a matching length and CRC, are refused too.
        for (first, n) in [(0, 0), (0, CHUNK as u64 + 1), (u64::MAX, 1)] {
            let odd = Record {
                first,
                n,
                ..r.clone()
            };
            assert_eq!(Record::decode(&odd.encode()), None, "{first} {n}");
        }
        let mut big = r;
        big.entries = vec![(1, 1); CHUNK + 1];
        assert_eq!(Record::decode(&big.encode()), None);
    }

    #[test]
    fn the_newer_valid_record_wins_and_a_torn_one_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.bridge-mirror");
        let mut s = Progress::open(&p).unwrap();
        assert!(s.last.is_none());
        for first in [0, 256, 512] {
            s.write(Record {
                first,
                n: 256,
                entries: vec![(1, first)],
                ..Record::default()
            })
            .unwrap();
        }
        let s = Progress::open(&p).unwrap();
        assert_eq!(s.last.as_ref().map(|r| (r.gen_, r.first)), Some((3, 512)));
        // Tear generation 3 (slot 1): generation 2 answers.
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.write_all_at(&[0xAB; 5], REC_MAX + 30).unwrap();
        let s = Progress::open(&p).unwrap();
        assert_eq!(s.last.as_ref().map(|r| (r.gen_, r.first)), Some((2, 256)));
    }

    /// The slots (key, seq, value) and every series' candles a mirror holds.
    type Snapshot = (
        Vec<(String, u64, TradingData)>,
        Vec<Vec<shmbus::candles::Candle>>,
    );

    fn snapshot(m: &Mirror) -> Snapshot {
        let (_, w) = m.slots.as_ref().unwrap();
        let mut keys = w.keys();
        keys.sort();
        let slots = keys
            .into_iter()
            .map(|(k, id)| {
                let v = w.read(id).unwrap().unwrap();
                (k, v.seq, v.value)
            })
            .collect();
        let (_, c) = m.candles.as_ref().unwrap();
        let series = ["A", "B", "C"]
            .iter()
            .flat_map(|s| ["1s", "1m"].map(|i| c.read_series(s, i).unwrap_or_default()))
            .collect();
        (slots, series)
    }

    /// A kill -9 inside a chunk, simulated: the chunk's record is written and only its first
    /// `cut` frames are applied; the next start must leave exactly what one pass leaves.
    #[test]
    fn a_chunk_cut_anywhere_is_redone_exactly_once() {
        use shmbus::candles::Candle;
        use shmbus::journal::JournalWriter;
        let dir = tempfile::tempdir().unwrap();
        let name = |n: &str| dir.path().join(n).display().to_string();
        let j = name("J");
        let mut w = JournalWriter::builder(&j).ring(1 << 20).create().unwrap();
        // 600 frames (3 chunks): trades of 3 symbols, live bars rewritten and rolled, others.
        for i in 0..600u64 {
            let sym = ["A", "B", "C"][(i % 3) as usize];
            match i % 5 {
                0..=2 => {
                    let t = Trade::new(i, sym, "X", i as f64, 1.0, 0, "t");
                    w.append(TRADE_TYPE, bytemuck::bytes_of(&t)).unwrap();
                }
                3 => {
                    let ts = (i / 20) * 1000;
                    let c = Candle::new(ts, 1.0, 2.0 + i as f64, 0.5, 1.5, i as f64);
                    let bar = Bar::new(sym, if i % 2 == 0 { "1s" } else { "1m" }, c);
                    w.append(BAR_TYPE, bytemuck::bytes_of(&bar)).unwrap();
                }
                _ => {
                    w.append(7, b"other").unwrap();
                }
            }
        }
        w.commit();
        let opts = |t: &str| MirrorOptions {
            slots: Some(name(&format!("{t}.slots"))),
            candles: Some(name(&format!("{t}.candles"))),
            candles_size: 1 << 20,
            ..MirrorOptions::default()
        };
        // The reference: one pass.
        let reference = snapshot(&Mirror::open(&opts("ref"), &j, 600).unwrap().unwrap());
        assert_eq!(reference.0.len(), 3);
        assert_eq!(reference.0[0].1, 2 * 120, "A: 120 trades");
        // (chunk, frames applied, whether the kill hit inside the write of the next one)
        for (case, (chunk, cut, torn)) in [
            (0, 0, false),
            (0, 1, false),
            (0, 100, false),
            (0, 255, false),
            (0, 256, false),
            (1, 77, false),
            (2, 87, false),
            (0, 100, true),
            (0, 255, true),
        ]
        .into_iter()
        .enumerate()
        {
            let _ = std::fs::remove_file(mirror_path(&j).unwrap());
            let t = format!("cut{case}");
            // Chunks before `chunk` applied in full, as a run that was not killed does.
            let mut m = Mirror::open(&opts(&t), &j, (chunk * CHUNK) as u64)
                .unwrap()
                .unwrap();
            let (first, mut items) = m.read(CHUNK as u64).unwrap().unwrap();
            let mut entries = Vec::new();
            m.resolve(&mut items, first, Some(&mut entries)).unwrap();
            m.progress
                .write(Record {
                    gen_: 0,
                    table_id: m.table_id,
                    first,
                    n: items.len() as u64,
                    done: false,
                    entries,
                })
                .unwrap();
            m.apply(first, &items[..cut.min(items.len())], &mut HashMap::new())
                .unwrap();
            let mut expect = reference.clone();
            if torn {
                // The kill lands inside the slot write of frame `cut` (a trade): its sequence
                // stays odd, and the next writer repairs the slot to zeros.
                let Item::Trade {
                    id: Some(id),
                    symbol,
                    ..
                } = &items[cut]
                else {
                    panic!("frame {cut} is a trade")
                };
                let guard = m.slots.as_mut().unwrap().1.update(*id).unwrap();
                std::mem::forget(guard);
                // Exact unless it was its slot's last trade of the chunk: then the redo
                // writes that value again, and the slot's sequence is 2 ahead.
                let later = items[cut + 1..]
                    .iter()
                    .any(|i| matches!(i, Item::Trade { symbol: s, .. } if s == symbol));
                if !later {
                    expect.0.iter_mut().find(|e| &e.0 == symbol).unwrap().1 += 2;
                }
            }
            drop(m);
            let m = Mirror::open(&opts(&t), &j, 600).unwrap().unwrap();
            assert_eq!(
                snapshot(&m),
                expect,
                "chunk {chunk} cut after {cut} frames (torn {torn})"
            );
            assert_eq!(m.stats().malformed, 0);
            // And again: a start with nothing to do changes nothing.
            drop(m);
            let m = Mirror::open(&opts(&t), &j, 600).unwrap().unwrap();
            assert_eq!(snapshot(&m), expect);
            assert_eq!(m.stats().slot_writes + m.stats().bar_writes, 0);
        }
    }

    #[test]
    fn malformed_payloads_are_told_apart() {
        let t = Trade::new(5, "BTCUSD", "SIM", 1.5, 7.9, 0, "1");
        match parse(TRADE_TYPE, bytemuck::bytes_of(&t), true, true) {
            Item::Trade { symbol, rec, .. } => {
                assert_eq!(symbol, "BTCUSD");
                assert_eq!(rec, TradingData::new(1.5, 7, 5));
            }
            _ => panic!("a trade"),
        }
        assert!(
            matches!(parse(TRADE_TYPE, &[0; 127], true, true), Item::Bad(w) if w.contains("127 bytes"))
        );
        let mut bad = t;
        bad.symbol = [0xFF; 16];
        assert!(
            matches!(parse(TRADE_TYPE, bytemuck::bytes_of(&bad), true, true), Item::Bad(w) if w.contains("not UTF-8"))
        );
        bad.symbol = [0; 16];
        assert!(
            matches!(parse(TRADE_TYPE, bytemuck::bytes_of(&bad), true, true), Item::Bad(w) if w.contains("empty"))
        );
        // Without --slots a trade is only journalled.
        assert!(matches!(
            parse(TRADE_TYPE, &[0; 3], false, true),
            Item::Other
        ));
        assert!(matches!(
            parse(BAR_TYPE, &[0; 71], true, true),
            Item::Bad(_)
        ));
        assert!(matches!(parse(9, &[0; 72], true, true), Item::Other));
    }
}
