//! The journal: a writer with append/commit, and a reader that is a Python iterator whose
//! blocking waits release the GIL.
//!
//! Payloads are copied into `bytes`: a ring frame is overwritten in place once the writer laps
//! it, and a `memoryview` into the mapping could neither be revoked nor keep the bytes stable,
//! so no view of shared memory is ever handed to Python.
//!
//! Waiting (`next(timeout)`, `wait`, `read_batch(timeout=...)`) runs the core's futex wait
//! with the GIL released, in slices of at most 100 ms so that Ctrl-C (a pending signal)
//! is noticed between slices.

use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use shmbus::JournalError;
use shmbus::journal::{
    JournalReader as CoreReader, JournalWriter as CoreWriter, Message as CoreMessage, Mode, Start,
};

use crate::errors::{OrRaise, closed, to_pyerr};

/// Longest single wait with the GIL released before signals are checked.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// A message read from a journal: sequence number, type tag, position and payload (`bytes`).
#[pyclass(module = "shmbus._shmbus", frozen)]
#[derive(Debug)]
pub struct Message {
    /// Sequence number (0 for the journal's first message, then +1 each).
    #[pyo3(get)]
    seq: u64,
    /// The type tag given to `append`.
    #[pyo3(get, name = "type")]
    ty: u16,
    /// Logical byte position of the frame in the journal.
    #[pyo3(get)]
    position: u64,
    /// The payload (a copy: it stays valid after the writer overwrites the frame).
    #[pyo3(get)]
    data: Py<PyBytes>,
}

impl Message {
    fn from_core<'py>(py: Python<'py>, m: &CoreMessage<'_>) -> PyResult<Bound<'py, Message>> {
        Bound::new(
            py,
            Message {
                seq: m.seq,
                ty: m.ty,
                position: m.position,
                data: PyBytes::new(py, m.payload).unbind(),
            },
        )
    }
}

#[pymethods]
impl Message {
    #[new]
    #[pyo3(signature = (seq, r#type, data, position = 0))]
    fn new(seq: u64, r#type: u16, data: Py<PyBytes>, position: u64) -> Self {
        Self {
            seq,
            ty: r#type,
            position,
            data,
        }
    }

    fn __bytes__(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.data.bind(py).as_bytes().len()
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<Message>() else {
            return false;
        };
        let other = other.get();
        self.seq == other.seq
            && self.ty == other.ty
            && self.data.bind(py).as_bytes() == other.data.bind(py).as_bytes()
    }

    fn __hash__(&self) -> u64 {
        self.seq ^ (u64::from(self.ty) << 48)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Message(seq={}, type={}, position={}, len={})",
            self.seq,
            self.ty,
            self.position,
            self.data.bind(py).as_bytes().len()
        )
    }
}

/// A message taken out of the core reader but not yet handed to Python (by `wait`).
#[derive(Debug)]
struct Owned {
    seq: u64,
    ty: u16,
    position: u64,
    data: Vec<u8>,
}

impl Owned {
    fn of(m: &CoreMessage<'_>) -> Self {
        Self {
            seq: m.seq,
            ty: m.ty,
            position: m.position,
            data: m.payload.to_vec(),
        }
    }

    fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, Message>> {
        Bound::new(
            py,
            Message {
                seq: self.seq,
                ty: self.ty,
                position: self.position,
                data: PyBytes::new(py, &self.data).unbind(),
            },
        )
    }
}

fn parse_start(start: Option<&Bound<'_, PyAny>>) -> PyResult<Start> {
    let Some(start) = start else {
        return Ok(Start::Beginning);
    };
    if let Ok(s) = start.cast::<PyString>() {
        return match s.to_str()? {
            "beginning" | "start" | "oldest" => Ok(Start::Beginning),
            "end" | "latest" | "new" => Ok(Start::End),
            other => Err(PyValueError::new_err(format!(
                "start must be \"beginning\", \"end\" or a sequence number, not {other:?}"
            ))),
        };
    }
    Ok(Start::Seq(start.extract::<u64>().map_err(|_| {
        PyValueError::new_err("start must be \"beginning\", \"end\" or a sequence number (int)")
    })?))
}

fn seconds(timeout: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(timeout)
        .map_err(|e| PyValueError::new_err(format!("invalid timeout {timeout}: {e}")))
}

/// One independent reader of a journal (maps it read-only, never writes).
///
/// Iterating yields the committed messages and stops at the end (iterate again later for
/// more); `next(timeout)` waits for one with the GIL released. A reader is used by one thread
/// at a time.
#[pyclass(module = "shmbus._shmbus", subclass)]
#[derive(Debug)]
pub struct JournalReader {
    inner: Option<CoreReader>,
    name: String,
    /// A message `wait` took out of the core reader: returned first by the next read.
    peeked: Option<Owned>,
    /// An error met in the middle of `read_batch`, raised by the next read (the messages
    /// before it were returned).
    pending: Option<JournalError>,
    /// The spin set by `set_spin`, kept across a `seek` that reopens the journal.
    spin: Duration,
}

impl JournalReader {
    fn r(&mut self) -> PyResult<&mut CoreReader> {
        self.inner.as_mut().ok_or_else(|| closed("JournalReader"))
    }

    /// A message that needs no waiting: the peeked one, or the core's next. Raises a pending
    /// error first.
    #[inline]
    fn ready<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, Message>>> {
        if let Some(e) = self.pending.take() {
            return Err(to_pyerr(e.into()));
        }
        if let Some(m) = self.peeked.take() {
            return m.into_py(py).map(Some);
        }
        match self.r()?.next().or_raise()? {
            Some(m) => Message::from_core(py, &m).map(Some),
            None => Ok(None),
        }
    }

    /// Waits up to `timeout` (`None`: forever) for a message, with the GIL released, in
    /// slices so that signals are handled. Only called when `ready` found nothing.
    fn wait_owned(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Owned>> {
        let deadline = match timeout {
            Some(t) => Some(Instant::now() + seconds(t)?),
            None => None,
        };
        let reader = self.r()?;
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_SLICE),
                None => WAIT_SLICE,
            };
            let got = py
                .detach(|| {
                    reader
                        .next_timeout(slice)
                        .map(|m| m.as_ref().map(Owned::of))
                })
                .or_raise()?;
            if got.is_some() {
                return Ok(got);
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    fn reopen(&mut self, start: Start) -> PyResult<()> {
        let mut r = CoreReader::open(&self.name, start).or_raise()?;
        r.set_spin(self.spin);
        self.inner = Some(r);
        Ok(())
    }
}

#[pymethods]
impl JournalReader {
    /// Opens a reader of journal `name` starting at `start`: `"beginning"` (the oldest stored
    /// message, the default), `"end"` (only new messages) or a sequence number.
    #[new]
    #[pyo3(signature = (name, start = None))]
    fn new(py: Python<'_>, name: &str, start: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let start = parse_start(start)?;
        let r = py.detach(|| CoreReader::open(name, start)).or_raise()?;
        Ok(Self {
            inner: Some(r),
            name: name.to_owned(),
            peeked: None,
            pending: None,
            spin: Duration::ZERO,
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, Message>>> {
        self.ready(py)
    }

    /// The next message: `timeout=0` (default) returns `None` at once if there is none,
    /// a number of seconds waits up to that long, `None` waits until one comes. The GIL is
    /// released while waiting.
    #[pyo3(signature = (timeout = Some(0.0)))]
    fn next<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, Message>>> {
        if let Some(m) = self.ready(py)? {
            return Ok(Some(m));
        }
        if timeout == Some(0.0) {
            return Ok(None);
        }
        match self.wait_owned(py, timeout)? {
            Some(m) => m.into_py(py).map(Some),
            None => Ok(None),
        }
    }

    /// Waits (GIL released) until a message can be read without waiting, without consuming
    /// it; `True` if one is ready, `False` on timeout (`None`: no timeout).
    #[pyo3(signature = (timeout = None))]
    fn wait(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        if self.peeked.is_some() || self.pending.is_some() || self.r()?.has_next() {
            return Ok(true);
        }
        // A message taken out while waiting is kept, so a caller that gives up (a cancelled
        // asyncio task) loses nothing: the next read returns it.
        self.peeked = self.wait_owned(py, timeout)?;
        Ok(self.peeked.is_some())
    }

    /// Whether a message can be read without waiting.
    fn has_next(&mut self) -> PyResult<bool> {
        Ok(self.peeked.is_some() || self.pending.is_some() || self.r()?.has_next())
    }

    /// Up to `max` messages that are ready, as a list (empty if none). With a `timeout`
    /// (seconds, or `None` for no limit) it first waits for one when none is ready. An error
    /// after some messages (e.g. `Overrun`) is raised by the next call. Batches of a few
    /// hundred are fastest: the messages of a batch stay in the CPU caches.
    #[pyo3(signature = (max = 256, timeout = Some(0.0)))]
    fn read_batch<'py>(
        &mut self,
        py: Python<'py>,
        max: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut out: Vec<Bound<'py, Message>> = Vec::with_capacity(max.min(4096));
        if max == 0 {
            return PyList::new(py, out);
        }
        match self.ready(py)? {
            Some(m) => out.push(m),
            None if timeout == Some(0.0) => return PyList::new(py, out),
            None => match self.wait_owned(py, timeout)? {
                Some(m) => out.push(m.into_py(py)?),
                None => return PyList::new(py, out),
            },
        }
        let reader = self.inner.as_mut().ok_or_else(|| closed("JournalReader"))?;
        while out.len() < max {
            match reader.next() {
                Ok(Some(m)) => out.push(Message::from_core(py, &m)?),
                Ok(None) => break,
                Err(e) => {
                    self.pending = Some(e.into());
                    break;
                }
            }
        }
        PyList::new(py, out)
    }

    /// The message before the cursor, moving back onto it (`next` returns it again); `None`
    /// at the oldest stored message.
    fn prev<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, Message>>> {
        self.peeked = None;
        self.pending = None;
        match self.r()?.prev().or_raise()? {
            Some(m) => Message::from_core(py, &m).map(Some),
            None => Ok(None),
        }
    }

    /// Moves the cursor: to a sequence number, `"beginning"` or `"end"`.
    fn seek(&mut self, py: Python<'_>, to: &Bound<'_, PyAny>) -> PyResult<()> {
        self.r()?;
        self.peeked = None;
        self.pending = None;
        match parse_start(Some(to))? {
            Start::Seq(seq) => {
                let r = self.r()?;
                py.detach(|| r.seek(seq)).or_raise()
            }
            start => self.reopen(start),
        }
    }

    /// The sequence number of the next message this reader returns (save it to resume with
    /// `JournalReader(name, start=seq)`).
    #[getter]
    fn next_seq(&mut self) -> PyResult<u64> {
        match &self.peeked {
            Some(m) => Ok(m.seq),
            None => Ok(self.r()?.next_seq()),
        }
    }

    /// Spin this long (seconds) before sleeping on the futex when waiting (lower wake-up
    /// latency, one core busy meanwhile). Default 0.
    fn set_spin(&mut self, spin: f64) -> PyResult<()> {
        let d = seconds(spin)?;
        self.r()?.set_spin(d);
        self.spin = d;
        Ok(())
    }

    /// The journal's state: mode, capacity, max_message, crc, oldest_seq, next_seq,
    /// oldest_position, commit_position, segments, writer_alive.
    fn info<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let i = self.r()?.info().or_raise()?;
        let d = PyDict::new(py);
        let mode = match i.mode {
            Mode::Ring => "ring",
            _ => "persisted",
        };
        d.set_item("mode", mode)?;
        d.set_item("capacity", i.capacity)?;
        d.set_item("max_message", i.max_message)?;
        d.set_item("crc", i.crc)?;
        d.set_item("oldest_seq", i.oldest_seq)?;
        d.set_item("next_seq", i.next_seq)?;
        d.set_item("oldest_position", i.oldest_position)?;
        d.set_item("commit_position", i.commit_position)?;
        d.set_item("segments", i.segments)?;
        d.set_item("writer_alive", i.writer_alive)?;
        Ok(d)
    }

    /// The journal's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Unmaps the journal.
    fn close(&mut self) {
        self.inner = None;
        self.peeked = None;
        self.pending = None;
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.close();
        false
    }
}

/// The one writer of a journal (holds the writer lock while open).
#[pyclass(module = "shmbus._shmbus")]
#[derive(Debug)]
pub struct JournalWriter {
    inner: Option<CoreWriter>,
    name: String,
}

impl JournalWriter {
    fn w(&mut self) -> PyResult<&mut CoreWriter> {
        self.inner.as_mut().ok_or_else(|| closed("JournalWriter"))
    }

    fn append_any(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>, ty: u16) -> PyResult<u64> {
        if let Ok(b) = data.cast::<PyBytes>() {
            return self.w()?.append(ty, b.as_bytes()).or_raise();
        }
        // Any other buffer (bytearray, memoryview, numpy array): copied out first, so a
        // failing copy can never leave a half-filled frame behind.
        let bytes = buffer_bytes(py, data)?;
        self.w()?.append(ty, &bytes).or_raise()
    }
}

/// The bytes of any object with the buffer protocol.
fn buffer_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    use pyo3::buffer::PyBuffer;
    if let Ok(buf) = PyBuffer::<u8>::get(data) {
        return buf.to_vec(py);
    }
    // Other item types (e.g. float64 arrays): view the same memory as unsigned bytes.
    let view = py
        .import("builtins")?
        .getattr("memoryview")?
        .call1((data,))?
        .call_method1("cast", ("B",))?;
    PyBuffer::<u8>::get(&view)?.to_vec(py)
}

#[pymethods]
impl JournalWriter {
    /// Creates a journal (exclusive): a ring of `ring` data bytes in one file (for /dev/shm),
    /// or a persisted journal (a directory of `segment_size`-byte segments, 64 MiB by
    /// default) when `ring` is not given.
    #[staticmethod]
    #[pyo3(signature = (name, ring = None, segment_size = None, crc = false, retain_segments = None, retain_bytes = None, group_shared = false, populate = false))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        ring: Option<u64>,
        segment_size: Option<u64>,
        crc: bool,
        retain_segments: Option<u32>,
        retain_bytes: Option<u64>,
        group_shared: bool,
        populate: bool,
    ) -> PyResult<Self> {
        if ring.is_some() && segment_size.is_some() {
            return Err(PyValueError::new_err(
                "give either ring (one ring file) or segment_size (a persisted journal), not both",
            ));
        }
        let mut b = CoreWriter::builder(name)
            .crc(crc)
            .group_shared(group_shared)
            .populate(populate);
        if let Some(s) = segment_size {
            b = b.segment_size(s);
        }
        if let Some(r) = ring {
            b = b.ring(r);
        }
        if let Some(n) = retain_segments {
            b = b.retain_segments(n);
        }
        if let Some(n) = retain_bytes {
            b = b.retain_bytes(n);
        }
        let w = py.detach(|| b.create()).or_raise()?;
        Ok(Self {
            inner: Some(w),
            name: name.to_owned(),
        })
    }

    /// Opens an existing journal as its writer (after a crash too: the uncommitted tail of
    /// the previous writer is discarded and the sequence continues).
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Self> {
        let w = py.detach(|| CoreWriter::open(name)).or_raise()?;
        Ok(Self {
            inner: Some(w),
            name: name.to_owned(),
        })
    }

    /// Appends `data` (bytes or any buffer) with type tag `type`; returns its sequence number.
    /// Invisible to readers until `commit()`.
    #[pyo3(signature = (data, r#type = 0))]
    fn append(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>, r#type: u16) -> PyResult<u64> {
        self.append_any(py, data, r#type)
    }

    /// Appends and commits at once.
    #[pyo3(signature = (data, r#type = 0))]
    fn append_commit(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        r#type: u16,
    ) -> PyResult<u64> {
        let seq = self.append_any(py, data, r#type)?;
        self.w()?.commit();
        Ok(seq)
    }

    /// Appends every item of `items` (bytes or buffers) with type tag `type`; returns how many.
    /// Does not commit.
    #[pyo3(signature = (items, r#type = 0))]
    fn append_many(
        &mut self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        r#type: u16,
    ) -> PyResult<usize> {
        let mut n = 0;
        for item in items.try_iter()? {
            self.append_any(py, &item?, r#type)?;
            n += 1;
        }
        Ok(n)
    }

    /// Publishes every message appended so far, at once, and wakes blocked readers.
    fn commit(&mut self) -> PyResult<()> {
        self.w()?.commit();
        Ok(())
    }

    /// The sequence number the next message will get.
    #[getter]
    fn next_seq(&mut self) -> PyResult<u64> {
        Ok(self.w()?.next_seq())
    }

    /// Bytes appended but not committed.
    #[getter]
    fn pending_bytes(&mut self) -> PyResult<u64> {
        Ok(self.w()?.pending_bytes())
    }

    /// The largest message this journal accepts.
    #[getter]
    fn max_message(&mut self) -> PyResult<usize> {
        Ok(self.w()?.max_message())
    }

    /// The journal's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Commits what is pending (unless `commit=False`: it is discarded, as when a writer
    /// dies) and releases the writer lock.
    #[pyo3(signature = (commit = true))]
    fn close(&mut self, commit: bool) {
        if let Some(mut w) = self.inner.take() {
            if commit {
                w.commit();
            }
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Commits on a normal exit; on an exception the uncommitted messages are discarded.
    fn __exit__(
        &mut self,
        ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.close(ty.is_none());
        false
    }
}
