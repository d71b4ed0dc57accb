//! Slot tables over records whose layout Python describes at run time (the core's
//! `RawSlotWriter` / `RawSlotReader`). Records cross the boundary as `bytes` of exactly the
//! layout's size; `shmbus/slots.py` packs and unpacks them (`TradingData` and user records).
//!
//! A layout is given as `(name, size, [(field, type, offset), ...])` with the type codes of
//! `shmbus::FieldType` (`u8` … `f64`, `bool`, `bytesN`): the same facts, hence the same
//! fingerprint, as the Rust `Record` or the C++ struct describing the same record.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shmbus::slots::{RawSlotReader as CoreReader, RawSlotWriter as CoreWriter};
use shmbus::{FieldType, RecordLayoutBuf, SlotError, SlotId};

use crate::errors::{OrRaise, closed, to_pyerr};

/// A record layout as Python passes it: name, size, and (field, type code, offset) triples.
pub(crate) type LayoutSpec = (String, u32, Vec<(String, String, u32)>);

fn field_type(layout: &str, code: &str) -> PyResult<FieldType> {
    Ok(match code {
        "u8" => FieldType::U8,
        "i8" => FieldType::I8,
        "u16" => FieldType::U16,
        "i16" => FieldType::I16,
        "u32" => FieldType::U32,
        "i32" => FieldType::I32,
        "u64" => FieldType::U64,
        "i64" => FieldType::I64,
        "f32" => FieldType::F32,
        "f64" => FieldType::F64,
        "bool" => FieldType::Bool,
        other => match other.strip_prefix("bytes").map(str::parse::<u32>) {
            Some(Ok(n)) if n > 0 => FieldType::Bytes(n),
            _ => {
                return Err(SlotError::InvalidLayout {
                    name: layout.to_owned(),
                    reason: shmbus::LayoutProblem::UnknownFieldType {
                        ty: other.to_owned(),
                    },
                })
                .or_raise();
            }
        },
    })
}

/// Builds the core's run-time layout from its Python description.
pub(crate) fn layout_from_spec(spec: LayoutSpec) -> PyResult<RecordLayoutBuf> {
    let (name, size, fields) = spec;
    let mut layout = RecordLayoutBuf::new(name.clone(), size);
    for (field, code, offset) in fields {
        layout = layout.field(field, field_type(&name, &code)?, offset);
    }
    Ok(layout)
}

/// Slot ids by index: the core hands out `SlotId`s only through `slot`, `find` and `keys`, so
/// each table keeps the ids it has seen and refreshes them from `keys()` on a miss.
#[derive(Debug, Default)]
struct Ids(Vec<SlotId>);

impl Ids {
    fn learn(&mut self, id: SlotId) -> u32 {
        let i = id.index();
        if i as usize == self.0.len() {
            self.0.push(id);
        }
        i
    }

    fn reload(&mut self, keys: Vec<(String, SlotId)>) {
        self.0 = keys.into_iter().map(|(_, id)| id).collect();
    }

    fn get(&self, index: u32) -> Option<SlotId> {
        self.0.get(index as usize).copied()
    }
}

fn bad_slot(region: &str, index: u32, count: u32) -> PyErr {
    to_pyerr(
        SlotError::BadSlot {
            region: region.to_owned(),
            index,
            count,
        }
        .into(),
    )
}

/// The writer of a slot table of run-time layout records (holds the writer lock).
#[pyclass(module = "shmbus._shmbus")]
#[derive(Debug)]
pub struct RawSlotWriter {
    inner: Option<CoreWriter>,
    ids: Ids,
    name: String,
}

impl RawSlotWriter {
    fn w(&self) -> PyResult<&CoreWriter> {
        self.inner.as_ref().ok_or_else(|| closed("SlotWriter"))
    }

    fn w_mut(&mut self) -> PyResult<&mut CoreWriter> {
        self.inner.as_mut().ok_or_else(|| closed("SlotWriter"))
    }

    fn wrap(name: &str, w: CoreWriter) -> Self {
        let mut ids = Ids::default();
        ids.reload(w.keys());
        Self {
            inner: Some(w),
            ids,
            name: name.to_owned(),
        }
    }

    fn id(&mut self, index: u32) -> PyResult<SlotId> {
        if let Some(id) = self.ids.get(index) {
            return Ok(id);
        }
        let keys = self.w()?.keys();
        self.ids.reload(keys);
        match self.ids.get(index) {
            Some(id) => Ok(id),
            None => Err(bad_slot(&self.name, index, self.w()?.capacity())),
        }
    }
}

#[pymethods]
impl RawSlotWriter {
    /// Creates a table (exclusive) of `capacity` slots (or as many as `size` bytes hold).
    #[staticmethod]
    #[pyo3(signature = (name, layout, capacity = 1024, size = None, group_shared = false, populate = false))]
    fn create(
        py: Python<'_>,
        name: &str,
        layout: LayoutSpec,
        capacity: u32,
        size: Option<u64>,
        group_shared: bool,
        populate: bool,
    ) -> PyResult<Self> {
        let layout = layout_from_spec(layout)?;
        let mut b = CoreWriter::builder(name, layout)
            .capacity(capacity)
            .group_shared(group_shared)
            .populate(populate);
        if let Some(size) = size {
            b = b.size(size);
        }
        let w = py.detach(|| b.create()).or_raise()?;
        Ok(Self::wrap(name, w))
    }

    /// Opens an existing table as its writer (after a crash too: repairs torn slots).
    #[staticmethod]
    fn open(py: Python<'_>, name: &str, layout: LayoutSpec) -> PyResult<Self> {
        let layout = layout_from_spec(layout)?;
        let w = py.detach(|| CoreWriter::open(name, &layout)).or_raise()?;
        Ok(Self::wrap(name, w))
    }

    /// The slot index of `key`, registering the key if new.
    fn slot(&mut self, key: &str) -> PyResult<u32> {
        let id = self.w_mut()?.slot(key).or_raise()?;
        Ok(self.ids.learn(id))
    }

    /// Publishes `record` (exactly the record size) in slot `index`.
    fn write(&mut self, index: u32, record: &[u8]) -> PyResult<()> {
        let id = self.id(index)?;
        self.w_mut()?.write(id, record).or_raise()
    }

    /// Publishes `record` under `key`; returns the slot index.
    fn put(&mut self, key: &str, record: &[u8]) -> PyResult<u32> {
        let id = self.w_mut()?.put(key, record).or_raise()?;
        Ok(self.ids.learn(id))
    }

    /// The writer's own read of slot `index`: `(seq, bytes)`, `None` if never written.
    fn read<'py>(
        &mut self,
        py: Python<'py>,
        index: u32,
    ) -> PyResult<Option<(u64, Bound<'py, PyBytes>)>> {
        let id = self.id(index)?;
        let w = self.w()?;
        let mut buf = vec![0u8; w.record_size()];
        let seq = w.read_into(id, &mut buf).or_raise()?;
        Ok(seq.map(|s| (s, PyBytes::new(py, &buf))))
    }

    /// `(key, index)` of every slot in use, in index order.
    fn keys(&mut self) -> PyResult<Vec<(String, u32)>> {
        let keys = self.w()?.keys();
        let out = keys.iter().map(|(k, id)| (k.clone(), id.index())).collect();
        self.ids.reload(keys);
        Ok(out)
    }

    /// Number of slots.
    #[getter]
    fn capacity(&self) -> PyResult<u32> {
        Ok(self.w()?.capacity())
    }

    /// Record size in bytes.
    #[getter]
    fn record_size(&self) -> PyResult<usize> {
        Ok(self.w()?.record_size())
    }

    /// Slots repaired when this writer opened the table (left mid-write by a dead writer).
    #[getter]
    fn repaired(&self) -> PyResult<u32> {
        Ok(self.w()?.repaired())
    }

    /// The region's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Releases the writer lock and unmaps the table.
    fn close(&mut self) {
        self.inner = None;
    }
}

/// A reader of a slot table (maps it read-only, never writes).
#[pyclass(module = "shmbus._shmbus")]
#[derive(Debug)]
pub struct RawSlotReader {
    inner: Option<CoreReader>,
    /// Behind a lock so that reads take `&self`: several Python threads may share a reader
    /// (each read releases the GIL) without tripping over a borrow.
    ids: Mutex<Ids>,
    name: String,
}

impl RawSlotReader {
    fn r(&self) -> PyResult<&CoreReader> {
        self.inner.as_ref().ok_or_else(|| closed("SlotReader"))
    }

    fn ids(&self) -> MutexGuard<'_, Ids> {
        // The cache is rebuilt from the table on a miss, so a poisoned one is still usable.
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn id(&self, index: u32) -> PyResult<SlotId> {
        let r = self.r()?;
        let mut ids = self.ids();
        if let Some(id) = ids.get(index) {
            return Ok(id);
        }
        ids.reload(r.keys());
        match ids.get(index) {
            Some(id) => Ok(id),
            None => Err(bad_slot(&self.name, index, r.len())),
        }
    }

    /// Reads with the GIL released: a slot that a stopped writer keeps mid-write makes the core
    /// wait (up to its timeout) and other Python threads keep running meanwhile.
    fn read_with<'py>(
        &self,
        py: Python<'py>,
        index: u32,
        since: Option<u64>,
    ) -> PyResult<Option<(u64, Bound<'py, PyBytes>)>> {
        let id = self.id(index)?;
        let r = self.r()?;
        let mut buf = vec![0u8; r.record_size()];
        let seq = py
            .detach(|| match since {
                None => r.read_into(id, &mut buf),
                Some(since) => r.read_into_if_changed(id, since, &mut buf),
            })
            .or_raise()?;
        Ok(seq.map(|s| (s, PyBytes::new(py, &buf))))
    }
}

#[pymethods]
impl RawSlotReader {
    /// Opens a table for reading; `layout=None` accepts any record layout (raw bytes).
    #[new]
    #[pyo3(signature = (name, layout = None))]
    fn new(py: Python<'_>, name: &str, layout: Option<LayoutSpec>) -> PyResult<Self> {
        let layout = layout.map(layout_from_spec).transpose()?;
        let r = py
            .detach(|| CoreReader::open(name, layout.as_ref()))
            .or_raise()?;
        let mut ids = Ids::default();
        ids.reload(r.keys());
        Ok(Self {
            inner: Some(r),
            ids: Mutex::new(ids),
            name: name.to_owned(),
        })
    }

    /// The slot index of `key`.
    fn find(&self, key: &str) -> PyResult<u32> {
        let id = self.r()?.find(key).or_raise()?;
        Ok(self.ids().learn(id))
    }

    /// A consistent copy of slot `index`: `(seq, bytes)`, `None` if never written.
    fn read<'py>(
        &self,
        py: Python<'py>,
        index: u32,
    ) -> PyResult<Option<(u64, Bound<'py, PyBytes>)>> {
        self.read_with(py, index, None)
    }

    /// As `read`, but `None` while the slot's sequence is still `since`.
    fn read_if_changed<'py>(
        &self,
        py: Python<'py>,
        index: u32,
        since: u64,
    ) -> PyResult<Option<(u64, Bound<'py, PyBytes>)>> {
        self.read_with(py, index, Some(since))
    }

    /// The current sequence of slot `index` (odd while a write is in progress).
    fn sequence(&self, index: u32) -> PyResult<u64> {
        let id = self.id(index)?;
        self.r()?.sequence(id).or_raise()
    }

    /// `(key, index)` of every slot in use, in index order.
    fn keys(&self) -> PyResult<Vec<(String, u32)>> {
        let keys = self.r()?.keys();
        let out = keys.iter().map(|(k, id)| (k.clone(), id.index())).collect();
        self.ids().reload(keys);
        Ok(out)
    }

    /// How long a read waits for a live writer that keeps a slot mid-write (seconds).
    fn set_timeout(&mut self, seconds: f64) -> PyResult<()> {
        let d = Duration::try_from_secs_f64(seconds)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        self.inner
            .as_mut()
            .ok_or_else(|| closed("SlotReader"))?
            .set_timeout(d);
        Ok(())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.r()?.len() as usize)
    }

    /// Number of slots.
    #[getter]
    fn capacity(&self) -> PyResult<u32> {
        Ok(self.r()?.capacity())
    }

    /// Record size in bytes.
    #[getter]
    fn record_size(&self) -> PyResult<usize> {
        Ok(self.r()?.record_size())
    }

    /// The record type's name stored in the region header.
    #[getter]
    fn layout_name(&self) -> PyResult<String> {
        Ok(self.r()?.region().header().layout_name.clone())
    }

    /// Whether a writer holds the table's lock.
    #[getter]
    fn writer_alive(&self) -> PyResult<bool> {
        self.r()?.region().writer_alive().or_raise()
    }

    /// The region's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Unmaps the table.
    fn close(&mut self) {
        self.inner = None;
    }
}
