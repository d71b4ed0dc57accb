//! Rust errors as Python exceptions: one class per error kind, all under `shmbus.ShmbusError`.
//!
//! The classes live in `shmbus/errors.py` (so they can also derive from the matching built-in
//! exception, e.g. `RegionNotFound` is a `FileNotFoundError`). The class is chosen by the error's
//! stable code ([`class_of`], docs/ERRORS.md), never by its message; the variant's facts become
//! keyword attributes, the code's name and number the attributes `code` and `code_number`, and
//! the Rust message is `str()`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use shmbus::{
    AppendError, CandleError, ErrorCode, JournalError, ReadError, RegionError, RemoveError,
    SlotError, SlotReadError, SlotWriteError,
};

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
    /// Removing a region or journal.
    Remove(RemoveError),
    /// A method called after `close()`; the value names the object.
    Closed(&'static str),
}

impl From<RegionError> for Failure {
    fn from(e: RegionError) -> Self {
        Self::Region(e)
    }
}

impl From<RemoveError> for Failure {
    fn from(e: RemoveError) -> Self {
        match e {
            RemoveError::Region(e) => Self::Region(e),
            e => Self::Remove(e),
        }
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

impl From<SlotReadError> for Failure {
    fn from(e: SlotReadError) -> Self {
        SlotError::from(e).into()
    }
}

impl From<SlotWriteError> for Failure {
    fn from(e: SlotWriteError) -> Self {
        SlotError::from(e).into()
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Self {
        JournalError::from(e).into()
    }
}

impl From<AppendError> for Failure {
    fn from(e: AppendError) -> Self {
        JournalError::from(e).into()
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
    /// The stable code, set as the `code` and `code_number` attributes (not facts).
    code: Option<ErrorCode>,
}

impl<'py> Exc<'py> {
    fn new(py: Python<'py>, class: &'static str) -> Self {
        Self {
            py,
            class,
            facts: PyDict::new(py),
            code: None,
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
        if let Some(code) = self.code {
            instance.setattr("code", code.as_str())?;
            instance.setattr("code_number", code.number())?;
        }
        Ok(PyErr::from_value(instance))
    }
}

/// The exception class (in `shmbus.errors`) of each stable error code.
fn class_of(code: ErrorCode) -> &'static str {
    use ErrorCode as C;
    match code {
        C::InvalidName | C::InvalidSeriesName => "InvalidName",
        C::NotFound => "RegionNotFound",
        C::AlreadyExists => "RegionExists",
        C::Symlink => "SymlinkRefused",
        C::NotRegularFile => "NotRegularFile",
        C::ForeignOwner => "ForeignOwner",
        C::PermissionDenied => "PermissionDenied",
        C::NoSpace => "NoSpace",
        C::SizeTooSmall => "SizeTooSmall",
        C::SizeTooLarge => "SizeTooLarge",
        C::Truncated => "Truncated",
        C::NotReady => "NotReady",
        C::BadMagic => "BadMagic",
        C::VersionMismatch => "VersionMismatch",
        C::KindMismatch => "KindMismatch",
        C::LayoutMismatch => "LayoutMismatch",
        C::TruncatedWhileMapped => "TruncatedWhileMapped",
        C::SizeMismatch => "SizeMismatch",
        C::Corrupt | C::JournalCorrupt | C::JournalLayout | C::CandlesCorrupt => "CorruptRegion",
        C::WriterBusy => "WriterBusy",
        C::InUse => "InUse",
        C::Io => "IoError",
        C::UnknownKey => "UnknownKey",
        C::InvalidKey => "InvalidKey",
        C::SlotsFull => "SlotTableFull",
        C::WriterDied => "WriterDied",
        C::SlotBusy | C::CandlesBusy => "Busy",
        C::BadSlot => "BadSlot",
        C::InvalidLayout => "InvalidLayout",
        C::RecordSize => "RecordSizeMismatch",
        C::MessageTooLarge => "MessageTooLarge",
        C::BatchTooLarge => "BatchTooLarge",
        C::Overrun => "Overrun",
        C::TooOld => "TooOld",
        C::NotYet => "NotYet",
        C::InvalidCandle => "InvalidCandle",
        C::OutOfOrder => "OutOfOrder",
        C::CandlesFull => "Full",
        C::SeriesNotFound => "SeriesNotFound",
        C::TooManySeries => "TooManySeries",
        C::TooManyCandles => "TooManyCandles",
        // not_a_region, readers_full, invalid_reader_name, and codes added later.
        _ => "ShmbusError",
    }
}

fn describe<'py>(py: Python<'py>, failure: &Failure) -> (Exc<'py>, String) {
    let with_code = |exc: Exc<'py>, code: ErrorCode| Exc {
        code: Some(code),
        ..exc
    };
    match failure {
        Failure::Region(e) => (with_code(region(py, e), e.code()), e.to_string()),
        Failure::Slot(e) => (with_code(slot(py, e), e.code()), e.to_string()),
        Failure::Journal(e) => (with_code(journal(py, e), e.code()), e.to_string()),
        Failure::Candle(e) => (with_code(candle(py, e), e.error_code()), e.to_string()),
        Failure::Remove(e) => (with_code(remove(py, e), e.code()), e.to_string()),
        Failure::Closed(what) => (
            Exc::new(py, "Closed").fact("object", *what),
            format!("this {what} is closed"),
        ),
    }
}

fn remove<'py>(py: Python<'py>, e: &RemoveError) -> Exc<'py> {
    let x = || Exc::new(py, class_of(e.code()));
    match e {
        RemoveError::Region(e) => region(py, e),
        RemoveError::NotARegion { path, reason } => {
            x().path(path).fact("reason", reason.to_string())
        }
        RemoveError::ForeignFile {
            journal,
            dir,
            file,
            reason,
        } => x()
            .fact("journal", journal)
            .path(dir)
            .fact("file", file.display().to_string())
            .fact("reason", reason.to_string()),
        RemoveError::InUse { path, pid } => x().path(path).fact("pid", pid),
        _ => x(),
    }
}

fn region<'py>(py: Python<'py>, e: &RegionError) -> Exc<'py> {
    let x = || Exc::new(py, class_of(e.code()));
    match e {
        RegionError::InvalidName { name, reason } => {
            x().fact("name", name).fact("reason", reason.to_string())
        }
        RegionError::NotFound { name, path } => x().fact("name", name).path(path),
        RegionError::AlreadyExists { name, path } => x().fact("name", name).path(path),
        RegionError::Symlink { path } => x().path(path),
        RegionError::NotRegularFile { path, what } => x().path(path).fact("what", *what),
        RegionError::ForeignOwner { path, owner, me } => {
            x().path(path).fact("owner", owner).fact("me", me)
        }
        RegionError::PermissionDenied { op, path } => x().fact("op", *op).path(path),
        RegionError::NoSpace {
            path,
            requested,
            free,
        } => x()
            .path(path)
            .fact("requested", requested)
            .fact("free", free),
        RegionError::SizeTooSmall {
            kind,
            requested,
            min,
        } => x()
            .fact("kind", kind.name())
            .fact("requested", requested)
            .fact("min", min),
        RegionError::SizeTooLarge { requested, max } => {
            x().fact("requested", requested).fact("max", max)
        }
        RegionError::Truncated { path, size, min } => {
            x().path(path).fact("size", size).fact("min", min)
        }
        RegionError::NotReady { path } => x().path(path),
        RegionError::TruncatedWhileMapped { path } => x().path(path),
        RegionError::BadMagic {
            path,
            expected,
            found,
        } => x()
            .path(path)
            .fact("expected", expected)
            .fact("found", found),
        RegionError::VersionMismatch {
            path,
            expected,
            found,
        } => x()
            .path(path)
            .fact("expected", expected)
            .fact("found", found),
        RegionError::KindMismatch {
            path,
            expected,
            found,
        } => x()
            .path(path)
            .fact("expected", expected.name())
            .fact("found", found),
        RegionError::LayoutMismatch {
            path,
            expected_name,
            expected,
            found_name,
            found,
        } => x()
            .path(path)
            .fact("expected_name", expected_name)
            .fact("expected", expected)
            .fact("found_name", found_name)
            .fact("found", found),
        RegionError::SizeMismatch {
            path,
            header_size,
            file_size,
        } => x()
            .path(path)
            .fact("header_size", header_size)
            .fact("file_size", file_size),
        RegionError::Corrupt { path, what } => x().path(path).fact("what", what.to_string()),
        RegionError::WriterBusy { path, pid } => x().path(path).fact("pid", pid),
        RegionError::Io { op, path, error } => x()
            .fact("op", *op)
            .path(path)
            .fact("errno", error.raw_os_error()),
        _ => x(),
    }
}

fn slot<'py>(py: Python<'py>, e: &SlotError) -> Exc<'py> {
    let x = || Exc::new(py, class_of(e.code()));
    match e {
        SlotError::Region(r) => region(py, r),
        SlotError::UnknownKey { region, key } => x().fact("region", region).fact("key", key),
        SlotError::InvalidKey { key, reason } => {
            x().fact("key", key).fact("reason", reason.to_string())
        }
        SlotError::Full { region, capacity } => {
            x().fact("region", region).fact("capacity", capacity)
        }
        SlotError::WriterDied { region, key, seq } => {
            x().fact("region", region).fact("key", key).fact("seq", seq)
        }
        SlotError::Busy {
            region,
            key,
            waited_ms,
        } => x()
            .fact("region", region)
            .fact("key", key)
            .fact("waited_ms", waited_ms),
        SlotError::BadSlot {
            region,
            index,
            count,
        } => x()
            .fact("region", region)
            .fact("index", index)
            .fact("count", count),
        SlotError::InvalidLayout { name, reason } => {
            x().fact("name", name).fact("reason", reason.to_string())
        }
        SlotError::RecordSize {
            region,
            expected,
            found,
        } => x()
            .fact("region", region)
            .fact("expected", expected)
            .fact("found", found),
        _ => x(),
    }
}

fn journal<'py>(py: Python<'py>, e: &JournalError) -> Exc<'py> {
    let x = || Exc::new(py, class_of(e.code()));
    match e {
        JournalError::Region(r) => region(py, r),
        JournalError::MessageTooLarge { journal, len, max } => x()
            .fact("journal", journal)
            .fact("len", len)
            .fact("max", max),
        JournalError::BatchTooLarge {
            journal,
            pending,
            capacity,
        } => x()
            .fact("journal", journal)
            .fact("pending", pending)
            .fact("capacity", capacity),
        JournalError::Overrun {
            journal,
            lost,
            expected_seq,
            resume_seq,
        } => x()
            .fact("journal", journal)
            .fact("lost", lost)
            .fact("expected_seq", expected_seq)
            .fact("resume_seq", resume_seq),
        JournalError::Corrupt {
            journal,
            position,
            what,
        } => x()
            .fact("journal", journal)
            .fact("position", position)
            .fact("what", what.to_string()),
        JournalError::TooOld {
            journal,
            seq,
            oldest,
        } => x()
            .fact("journal", journal)
            .fact("seq", seq)
            .fact("oldest", oldest),
        JournalError::NotYet { journal, seq, next } => x()
            .fact("journal", journal)
            .fact("seq", seq)
            .fact("next", next),
        JournalError::Layout { journal, what } => {
            x().fact("journal", journal).fact("what", what.to_string())
        }
        _ => x(),
    }
}

fn candle<'py>(py: Python<'py>, e: &CandleError) -> Exc<'py> {
    let x = || Exc::new(py, class_of(e.error_code()));
    let exc = match e {
        CandleError::Region { error } => region(py, error),
        CandleError::InvalidName {
            what,
            value,
            reason,
        } => x()
            .fact("what", *what)
            .fact("name", value)
            .fact("reason", *reason),
        CandleError::InvalidCandle {
            index,
            timestamp,
            reason,
        } => x()
            .fact("index", index)
            .fact("timestamp", timestamp)
            .fact("reason", reason),
        CandleError::OutOfOrder {
            symbol,
            interval,
            index,
            timestamp,
            last,
        } => x()
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
        } => x()
            .fact("region", region)
            .fact("needed", needed)
            .fact("free", free)
            .fact("size", size)
            .fact("suggested", suggested),
        CandleError::NotFound {
            region,
            symbol,
            interval,
        } => x()
            .fact("region", region)
            .fact("symbol", symbol)
            .fact("interval", interval),
        CandleError::TooManySeries { region, max } => x().fact("region", region).fact("max", max),
        CandleError::TooManyCandles {
            symbol,
            interval,
            count,
            max,
        } => x()
            .fact("symbol", symbol)
            .fact("interval", interval)
            .fact("count", count)
            .fact("max", max),
        CandleError::Corrupt { region, what } => {
            x().fact("region", region).fact("what", what.to_string())
        }
        CandleError::Busy { region, attempts } => {
            x().fact("region", region).fact("attempts", attempts)
        }
        _ => x(),
    };
    let code = e.code();
    exc.fact("qnxs_code", code.number())
        .fact("qnxs_name", code.name())
}
