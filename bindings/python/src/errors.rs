//! Rust errors as Python exceptions: one class per error kind, all under `shmbus.ShmbusError`.
//!
//! The classes live in `shmbus/errors.py` (so they can also derive from the matching built-in
//! exception, e.g. `RegionNotFound` is a `FileNotFoundError`); this module maps every variant of
//! the core's error enums explicitly to its class, with the variant's facts as keyword
//! attributes and the Rust message as `str()`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use shmbus::{CandleError, JournalError, RegionError, SlotError};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Any error the core reports, or a use of a closed object.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Opening, creating or locking a region.
    Region(RegionError),
    /// A slot table operation.
    Slot(SlotError),
    /// A journal operation.
    Journal(JournalError),
    /// A candle store operation.
    Candle(CandleError),
    /// A method called after `close()`; the value names the object.
    Closed(&'static str),
}

impl From<RegionError> for Failure {
    fn from(e: RegionError) -> Self {
        Self::Region(e)
    }
}

impl From<SlotError> for Failure {
    fn from(e: SlotError) -> Self {
        Self::Slot(e)
    }
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}

impl From<CandleError> for Failure {
    fn from(e: CandleError) -> Self {
        Self::Candle(e)
    }
}

/// `result.or_raise()?`: turns a core error into the matching Python exception.
pub(crate) trait OrRaise<T> {
    /// Maps the error to its Python exception.
    fn or_raise(self) -> PyResult<T>;
}

impl<T, E: Into<Failure>> OrRaise<T> for Result<T, E> {
    #[inline]
    fn or_raise(self) -> PyResult<T> {
        self.map_err(|e| to_pyerr(e.into()))
    }
}

/// The Python exception for a core error.
pub(crate) fn to_pyerr(failure: Failure) -> PyErr {
    Python::attach(|py| {
        let (exc, message) = describe(py, &failure);
        exc.build(message).unwrap_or_else(|e| e)
    })
}

/// The exception for a use after `close()`.
pub(crate) fn closed(what: &'static str) -> PyErr {
    to_pyerr(Failure::Closed(what))
}

/// An exception being built: its class name in `shmbus.errors` and its facts.
struct Exc<'py> {
    py: Python<'py>,
    class: &'static str,
    facts: Bound<'py, PyDict>,
}

impl<'py> Exc<'py> {
    fn new(py: Python<'py>, class: &'static str) -> Self {
        Self {
            py,
            class,
            facts: PyDict::new(py),
        }
    }

    fn fact<V: IntoPyObject<'py>>(self, key: &str, value: V) -> Self {
        // A fact that cannot be converted is left out; the message still states it.
        let _ = self.facts.set_item(key, value);
        self
    }

    fn path(self, path: &std::path::Path) -> Self {
        self.fact("path", path.display().to_string())
    }

    fn build(self, message: String) -> PyResult<PyErr> {
        let module = ERRORS
            .get_or_try_init(self.py, || {
                self.py.import("shmbus.errors").map(Bound::unbind)
            })?
            .bind(self.py);
        let class = module.getattr(self.class)?;
        let instance = class.call((message,), Some(&self.facts))?;
        Ok(PyErr::from_value(instance))
    }
}

fn describe<'py>(py: Python<'py>, failure: &Failure) -> (Exc<'py>, String) {
    match failure {
        Failure::Region(e) => (region(py, e), e.to_string()),
        Failure::Slot(e) => (slot(py, e), e.to_string()),
        Failure::Journal(e) => (journal(py, e), e.to_string()),
        Failure::Candle(e) => (candle(py, e), e.to_string()),
        Failure::Closed(what) => (
            Exc::new(py, "Closed").fact("object", *what),
            format!("this {what} is closed"),
        ),
    }
}

fn region<'py>(py: Python<'py>, e: &RegionError) -> Exc<'py> {
    let x = |class| Exc::new(py, class);
    match e {
        RegionError::InvalidName { name, reason } => {
            x("InvalidName").fact("name", name).fact("reason", reason)
        }
        RegionError::NotFound { name, path } => x("RegionNotFound").fact("name", name).path(path),
        RegionError::AlreadyExists { name, path } => {
            x("RegionExists").fact("name", name).path(path)
        }
        RegionError::Symlink { path } => x("SymlinkRefused").path(path),
        RegionError::NotRegularFile { path, what } => {
            x("NotRegularFile").path(path).fact("what", *what)
        }
        RegionError::ForeignOwner { path, owner, me } => x("ForeignOwner")
            .path(path)
            .fact("owner", owner)
            .fact("me", me),
        RegionError::PermissionDenied { op, path } => {
            x("PermissionDenied").fact("op", *op).path(path)
        }
        RegionError::NoSpace {
            path,
            requested,
            free,
        } => x("NoSpace")
            .path(path)
            .fact("requested", requested)
            .fact("free", free),
        RegionError::SizeTooSmall {
            kind,
            requested,
            min,
        } => x("SizeTooSmall")
            .fact("kind", kind.name())
            .fact("requested", requested)
            .fact("min", min),
        RegionError::SizeTooLarge { requested, max } => x("SizeTooLarge")
            .fact("requested", requested)
            .fact("max", max),
        RegionError::Truncated { path, size, min } => x("Truncated")
            .path(path)
            .fact("size", size)
            .fact("min", min),
        RegionError::NotReady { path } => x("NotReady").path(path),
        RegionError::TruncatedWhileMapped { path } => x("TruncatedWhileMapped").path(path),
        RegionError::BadMagic {
            path,
            expected,
            found,
        } => x("BadMagic")
            .path(path)
            .fact("expected", expected)
            .fact("found", found),
        RegionError::VersionMismatch {
            path,
            expected,
            found,
        } => x("VersionMismatch")
            .path(path)
            .fact("expected", expected)
            .fact("found", found),
        RegionError::KindMismatch {
            path,
            expected,
            found,
        } => x("KindMismatch")
            .path(path)
            .fact("expected", expected.name())
            .fact("found", found),
        RegionError::LayoutMismatch {
            path,
            expected_name,
            expected,
            found_name,
            found,
        } => x("LayoutMismatch")
            .path(path)
            .fact("expected_name", expected_name)
            .fact("expected", expected)
            .fact("found_name", found_name)
            .fact("found", found),
        RegionError::SizeMismatch {
            path,
            header_size,
            file_size,
        } => x("SizeMismatch")
            .path(path)
            .fact("header_size", header_size)
            .fact("file_size", file_size),
        RegionError::Corrupt { path, what } => x("CorruptRegion").path(path).fact("what", what),
        RegionError::WriterBusy { path, pid } => x("WriterBusy").path(path).fact("pid", pid),
        RegionError::InUse { path, pid } => x("InUse").path(path).fact("pid", pid),
        RegionError::Io { op, path, error } => x("IoError")
            .fact("op", *op)
            .path(path)
            .fact("errno", error.raw_os_error()),
        _ => x("ShmbusError"),
    }
}

fn slot<'py>(py: Python<'py>, e: &SlotError) -> Exc<'py> {
    let x = |class| Exc::new(py, class);
    match e {
        SlotError::Region(r) => region(py, r),
        SlotError::UnknownKey { region, key } => {
            x("UnknownKey").fact("region", region).fact("key", key)
        }
        SlotError::InvalidKey { key, reason } => {
            x("InvalidKey").fact("key", key).fact("reason", *reason)
        }
        SlotError::Full { region, capacity } => x("SlotTableFull")
            .fact("region", region)
            .fact("capacity", capacity),
        SlotError::WriterDied { region, key, seq } => x("WriterDied")
            .fact("region", region)
            .fact("key", key)
            .fact("seq", seq),
        SlotError::Busy {
            region,
            key,
            waited_ms,
        } => x("Busy")
            .fact("region", region)
            .fact("key", key)
            .fact("waited_ms", waited_ms),
        SlotError::BadSlot {
            region,
            index,
            count,
        } => x("BadSlot")
            .fact("region", region)
            .fact("index", index)
            .fact("count", count),
        SlotError::InvalidLayout { name, reason } => {
            x("InvalidLayout").fact("name", name).fact("reason", reason)
        }
        SlotError::RecordSize {
            region,
            expected,
            found,
        } => x("RecordSizeMismatch")
            .fact("region", region)
            .fact("expected", expected)
            .fact("found", found),
        _ => x("ShmbusError"),
    }
}

fn journal<'py>(py: Python<'py>, e: &JournalError) -> Exc<'py> {
    let x = |class| Exc::new(py, class);
    match e {
        JournalError::Region(r) => region(py, r),
        JournalError::MessageTooLarge { journal, len, max } => x("MessageTooLarge")
            .fact("journal", journal)
            .fact("len", len)
            .fact("max", max),
        JournalError::BatchTooLarge {
            journal,
            pending,
            capacity,
        } => x("BatchTooLarge")
            .fact("journal", journal)
            .fact("pending", pending)
            .fact("capacity", capacity),
        JournalError::Overrun {
            journal,
            lost,
            expected_seq,
            resume_seq,
        } => x("Overrun")
            .fact("journal", journal)
            .fact("lost", lost)
            .fact("expected_seq", expected_seq)
            .fact("resume_seq", resume_seq),
        JournalError::Corrupt {
            journal,
            position,
            what,
        } => x("CorruptRegion")
            .fact("journal", journal)
            .fact("position", position)
            .fact("what", what),
        JournalError::TooOld {
            journal,
            seq,
            oldest,
        } => x("TooOld")
            .fact("journal", journal)
            .fact("seq", seq)
            .fact("oldest", oldest),
        JournalError::NotYet { journal, seq, next } => x("NotYet")
            .fact("journal", journal)
            .fact("seq", seq)
            .fact("next", next),
        JournalError::Layout { journal, what } => x("CorruptRegion")
            .fact("journal", journal)
            .fact("what", what),
        _ => x("ShmbusError"),
    }
}

fn candle<'py>(py: Python<'py>, e: &CandleError) -> Exc<'py> {
    let x = |class| Exc::new(py, class);
    let exc = match e {
        CandleError::Region { error } => region(py, error),
        CandleError::InvalidName {
            what,
            value,
            reason,
        } => x("InvalidName")
            .fact("what", *what)
            .fact("name", value)
            .fact("reason", *reason),
        CandleError::InvalidCandle {
            index,
            timestamp,
            reason,
        } => x("InvalidCandle")
            .fact("index", index)
            .fact("timestamp", timestamp)
            .fact("reason", reason),
        CandleError::OutOfOrder {
            symbol,
            interval,
            index,
            timestamp,
            last,
        } => x("OutOfOrder")
            .fact("symbol", symbol)
            .fact("interval", interval)
            .fact("index", index)
            .fact("timestamp", timestamp)
            .fact("last", last),
        CandleError::Full {
            region,
            needed,
            free,
            size,
            suggested,
        } => x("Full")
            .fact("region", region)
            .fact("needed", needed)
            .fact("free", free)
            .fact("size", size)
            .fact("suggested", suggested),
        CandleError::NotFound {
            region,
            symbol,
            interval,
        } => x("SeriesNotFound")
            .fact("region", region)
            .fact("symbol", symbol)
            .fact("interval", interval),
        CandleError::TooManySeries { region, max } => {
            x("TooManySeries").fact("region", region).fact("max", max)
        }
        CandleError::TooManyCandles {
            symbol,
            interval,
            count,
            max,
        } => x("TooManyCandles")
            .fact("symbol", symbol)
            .fact("interval", interval)
            .fact("count", count)
            .fact("max", max),
        CandleError::Corrupt { region, what } => {
            x("CorruptRegion").fact("region", region).fact("what", what)
        }
        CandleError::Busy { region, attempts } => {
            x("Busy").fact("region", region).fact("attempts", attempts)
        }
        _ => x("ShmbusError"),
    };
    let code = e.code();
    let name = code.to_string();
    let name = name.rsplit(' ').next().unwrap_or_default().to_owned();
    exc.fact("qnxs_code", code as u8).fact("qnxs_name", name)
}
