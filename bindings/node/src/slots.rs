//! Slot tables of seed 001's `TradingData` record (price, timestamp in ns, volume, valid), keyed
//! by symbol: a writer and a reader.
//!
//! Slot ids cross the boundary as their index (a number). The core hands out `SlotId`s only by
//! key, so each side keeps the ids it has seen, indexed by number, and maps them back.

use std::time::Duration;

use napi::Env;
use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use shmbus::{SlotId, SlotReader as CoreReader, SlotWriter as CoreWriter, TradingData as Core};

use crate::errors::{self, Facts, OrThrow};

/// A `TradingData` value to write. `timestamp` is nanoseconds since the Unix epoch (a BigInt
/// keeps every digit; a number is accepted up to 2^53); it defaults to now, `volume` to 0 and
/// `valid` to true.
#[napi(object)]
#[derive(Debug)]
pub struct TradingDataInput {
    /// Price.
    pub price: f64,
    /// Volume (a 32-bit signed integer).
    pub volume: Option<i32>,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: Option<Either<BigInt, f64>>,
    /// Whether the record holds a value.
    pub valid: Option<bool>,
}

/// A `TradingData` value read from a slot, with the slot's sequence at that read.
#[napi(object)]
#[derive(Debug)]
pub struct SlotValue {
    /// The slot's sequence (2 x writes so far); pass it to `readIfChanged`.
    pub seq: f64,
    /// Price.
    pub price: f64,
    /// Volume.
    pub volume: i32,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: BigInt,
    /// Whether the record holds a value.
    pub valid: bool,
}

/// A key and its slot id.
#[napi(object)]
#[derive(Debug)]
pub struct SlotKey {
    /// The key (a symbol).
    pub key: String,
    /// Its slot id.
    pub id: u32,
}

fn value(v: shmbus::Versioned<Core>) -> SlotValue {
    SlotValue {
        seq: v.seq as f64,
        price: v.value.price,
        volume: v.value.volume,
        timestamp: BigInt::from(v.value.timestamp),
        valid: v.value.valid != 0,
    }
}

fn record(v: &TradingDataInput) -> Result<Core, Facts> {
    let ts = match &v.timestamp {
        None => shmbus::now_unix_ns(),
        Some(Either::A(b)) => {
            let (negative, ts, lossless) = b.get_u64();
            if negative || !lossless {
                return Err(errors::invalid_arg(
                    "timestamp must be a non-negative BigInt below 2^64 (nanoseconds)",
                ));
            }
            ts
        }
        Some(Either::B(n)) => crate::journal::u64_arg(*n, "timestamp")?,
    };
    let mut r = Core::new(v.price, v.volume.unwrap_or(0), ts);
    if v.valid == Some(false) {
        r.valid = 0;
    }
    Ok(r)
}

/// Ids seen so far, by index.
#[derive(Debug, Default)]
struct Ids(Vec<Option<SlotId>>);

impl Ids {
    fn add(&mut self, id: SlotId) -> u32 {
        let i = id.index();
        let n = i as usize + 1;
        if self.0.len() < n {
            self.0.resize(n, None);
        }
        self.0[i as usize] = Some(id);
        i
    }

    fn get(&self, i: u32) -> Option<SlotId> {
        self.0.get(i as usize).copied().flatten()
    }
}

fn bad_slot(index: u32, count: u32) -> Facts {
    errors::invalid_arg(format!(
        "slot id {index} is not a slot of this table ({count} slots): get ids from slot(), find() or keys()"
    ))
    .num("index", index)
}

/// The one writer of a `TradingData` slot table (holds the writer lock until `close()`).
#[napi]
#[derive(Debug)]
pub struct SlotWriter {
    inner: Option<CoreWriter<Core>>,
    ids: Ids,
}

#[napi]
impl SlotWriter {
    /// Creates the table `name` (exclusive) with room for `capacity` keys (default 1024).
    #[napi(factory)]
    pub fn create(env: &Env, name: String, capacity: Option<u32>) -> napi::Result<Self> {
        let w = CoreWriter::<Core>::builder(&name)
            .capacity(capacity.unwrap_or(1024))
            .create()
            .or_throw(env)?;
        Ok(Self::from(w))
    }

    /// Opens an existing table as its writer (repairing a slot left mid-write by a dead writer).
    #[napi(factory)]
    pub fn open(env: &Env, name: String) -> napi::Result<Self> {
        Ok(Self::from(CoreWriter::<Core>::open(&name).or_throw(env)?))
    }

    fn from(w: CoreWriter<Core>) -> Self {
        let mut ids = Ids::default();
        for (_, id) in w.keys() {
            ids.add(id);
        }
        Self {
            inner: Some(w),
            ids,
        }
    }

    fn writer(&mut self) -> Result<&mut CoreWriter<Core>, Facts> {
        self.inner
            .as_mut()
            .ok_or_else(|| errors::closed("SlotWriter"))
    }

    /// The slot id of `key`, registering the key if it is new.
    #[napi]
    pub fn slot(&mut self, env: &Env, key: String) -> napi::Result<u32> {
        let id = self.writer().or_throw(env)?.slot(&key).or_throw(env)?;
        Ok(self.ids.add(id))
    }

    fn id(&mut self, index: u32) -> Result<SlotId, Facts> {
        let count = self.writer()?.keys().len() as u32;
        self.ids.get(index).ok_or_else(|| bad_slot(index, count))
    }

    /// Publishes `value` in slot `id` (readers never see half of it).
    #[napi]
    pub fn write(&mut self, env: &Env, id: u32, value: TradingDataInput) -> napi::Result<()> {
        let r = record(&value).or_throw(env)?;
        let id = self.id(id).or_throw(env)?;
        self.writer().or_throw(env)?.write(id, &r).or_throw(env)
    }

    /// Publishes `value` under `key` (registering it if new); returns its slot id.
    #[napi]
    pub fn put(&mut self, env: &Env, key: String, value: TradingDataInput) -> napi::Result<u32> {
        let r = record(&value).or_throw(env)?;
        let id = self.writer().or_throw(env)?.put(&key, &r).or_throw(env)?;
        Ok(self.ids.add(id))
    }

    /// The value in slot `id` (`null` if never written).
    #[napi]
    pub fn read(&mut self, env: &Env, id: u32) -> napi::Result<Option<SlotValue>> {
        let id = self.id(id).or_throw(env)?;
        Ok(self
            .writer()
            .or_throw(env)?
            .read(id)
            .or_throw(env)?
            .map(value))
    }

    /// Every key with its slot id.
    #[napi]
    pub fn keys(&mut self, env: &Env) -> napi::Result<Vec<SlotKey>> {
        let keys = self.writer().or_throw(env)?.keys();
        Ok(keys
            .into_iter()
            .map(|(key, id)| SlotKey {
                key,
                id: self.ids.add(id),
            })
            .collect())
    }

    /// Slots the table can hold.
    #[napi(getter)]
    pub fn capacity(&mut self, env: &Env) -> napi::Result<u32> {
        Ok(self.writer().or_throw(env)?.capacity())
    }

    /// Slots a dead writer had left mid-write, repaired by this writer's `open`.
    #[napi(getter)]
    pub fn repaired(&mut self, env: &Env) -> napi::Result<u32> {
        Ok(self.writer().or_throw(env)?.repaired())
    }

    /// Releases the writer lock. Safe to call twice.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
    }
}

/// A reader of a `TradingData` slot table: maps it read-only, reads consistent copies.
#[napi]
#[derive(Debug)]
pub struct SlotReader {
    inner: Option<CoreReader<Core>>,
    ids: Ids,
}

#[napi]
impl SlotReader {
    /// Opens the table `name` for reading.
    #[napi(constructor)]
    pub fn new(env: &Env, name: String) -> napi::Result<Self> {
        Ok(Self {
            inner: Some(CoreReader::<Core>::open(&name).or_throw(env)?),
            ids: Ids::default(),
        })
    }

    fn reader(&self) -> Result<&CoreReader<Core>, Facts> {
        self.inner
            .as_ref()
            .ok_or_else(|| errors::closed("SlotReader"))
    }

    fn id(&mut self, index: u32) -> Result<SlotId, Facts> {
        if let Some(id) = self.ids.get(index) {
            return Ok(id);
        }
        // A slot the writer registered since: learn the current keys.
        let keys = self.reader()?.keys();
        for (_, id) in &keys {
            self.ids.add(*id);
        }
        self.ids
            .get(index)
            .ok_or_else(|| bad_slot(index, keys.len() as u32))
    }

    /// The slot id of `key` (`UNKNOWN_KEY` if the writer has not registered it).
    #[napi]
    pub fn find(&mut self, env: &Env, key: String) -> napi::Result<u32> {
        let id = self.reader().or_throw(env)?.find(&key).or_throw(env)?;
        Ok(self.ids.add(id))
    }

    /// The value in slot `id` (`null` if never written). Throws `WRITER_DIED` if the writer
    /// died mid-write of this slot, `BUSY` if a live writer keeps it mid-write too long.
    #[napi]
    pub fn read(&mut self, env: &Env, id: u32) -> napi::Result<Option<SlotValue>> {
        let id = self.id(id).or_throw(env)?;
        Ok(self
            .reader()
            .or_throw(env)?
            .read(id)
            .or_throw(env)?
            .map(value))
    }

    /// The value of `key` (`null` if never written).
    #[napi]
    pub fn get(&mut self, env: &Env, key: String) -> napi::Result<Option<SlotValue>> {
        Ok(self
            .reader()
            .or_throw(env)?
            .get(&key)
            .or_throw(env)?
            .map(value))
    }

    /// The value in slot `id` if its sequence differs from `seq`, else `null`.
    #[napi]
    pub fn read_if_changed(
        &mut self,
        env: &Env,
        id: u32,
        seq: f64,
    ) -> napi::Result<Option<SlotValue>> {
        let seq = crate::journal::u64_arg(seq, "seq").or_throw(env)?;
        let id = self.id(id).or_throw(env)?;
        let r = self.reader().or_throw(env)?;
        Ok(r.read_if_changed(id, seq).or_throw(env)?.map(value))
    }

    /// The current sequence of slot `id` (cheap change detection).
    #[napi]
    pub fn sequence(&mut self, env: &Env, id: u32) -> napi::Result<f64> {
        let id = self.id(id).or_throw(env)?;
        Ok(self.reader().or_throw(env)?.sequence(id).or_throw(env)? as f64)
    }

    /// Every key with its slot id.
    #[napi]
    pub fn keys(&mut self, env: &Env) -> napi::Result<Vec<SlotKey>> {
        let keys = self.reader().or_throw(env)?.keys();
        Ok(keys
            .into_iter()
            .map(|(key, id)| SlotKey {
                key,
                id: self.ids.add(id),
            })
            .collect())
    }

    /// Keys registered.
    #[napi(getter)]
    pub fn length(&self, env: &Env) -> napi::Result<u32> {
        Ok(self.reader().or_throw(env)?.len())
    }

    /// Slots the table can hold.
    #[napi(getter)]
    pub fn capacity(&self, env: &Env) -> napi::Result<u32> {
        Ok(self.reader().or_throw(env)?.capacity())
    }

    /// How long a read waits for a slot a live writer keeps mid-write before `BUSY`.
    #[napi]
    pub fn set_timeout(&mut self, env: &Env, ms: f64) -> napi::Result<()> {
        let ms = crate::journal::u64_arg(ms, "ms").or_throw(env)?;
        let r = self
            .inner
            .as_mut()
            .ok_or_else(|| errors::closed("SlotReader"))
            .or_throw(env)?;
        r.set_timeout(Duration::from_millis(ms));
        Ok(())
    }

    /// Unmaps the table. Safe to call twice.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
    }
}
