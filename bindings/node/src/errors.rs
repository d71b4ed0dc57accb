//! Core errors as JavaScript `Error`s: one `code` string per error kind, plus the facts of the
//! error as properties (e.g. `lost` and `resumeSeq` for `OVERRUN`, `qnxsCode` for candle errors).
//!
//! [`Facts`] is plain Rust data (`Send`), so a waiting thread can build one and the JavaScript
//! thread turns it into an `Error` object later ([`Facts::into_napi`]).

use std::path::Path;

use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, JsValue};
use shmbus::{
    AppendError, CandleError, ErrorCode, JournalError, QnxsCode, ReadError, RegionError,
    RemoveError, SlotError, SlotReadError, SlotWriteError,
};

/// A property value of an error.
#[derive(Debug, Clone)]
pub enum Prop {
    /// A number (counts, sizes, sequence numbers below 2^53).
    Num(f64),
    /// A string (paths, keys, names).
    Str(String),
}

/// An error ready to become a JavaScript `Error`: its `code`, its message and its facts.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The `code` property, e.g. `"WRITER_BUSY"`.
    pub code: &'static str,
    /// The core's stable code (docs/ERRORS.md): the `shmbusCode` and `shmbusCodeNumber`
    /// properties; none for the binding's own errors.
    pub stable: Option<ErrorCode>,
    /// The message (the core's `Display`, which says what to do).
    pub message: String,
    /// Further properties.
    pub props: Vec<(&'static str, Prop)>,
}

/// The JavaScript `code` of each stable error code: the binding's SCREAMING_SNAKE codes, as
/// they were before the stable codes, so existing `err.code` checks keep working (several
/// stable codes share one, e.g. `CORRUPT`; `shmbusCode` tells them apart).
pub fn js_code(code: ErrorCode) -> &'static str {
    use ErrorCode as C;
    match code {
        C::InvalidName | C::InvalidSeriesName => "INVALID_NAME",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::Symlink => "SYMLINK",
        C::NotRegularFile => "NOT_REGULAR_FILE",
        C::ForeignOwner => "FOREIGN_OWNER",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::NoSpace => "NO_SPACE",
        C::SizeTooSmall => "SIZE_TOO_SMALL",
        C::SizeTooLarge => "SIZE_TOO_LARGE",
        C::Truncated => "TRUNCATED",
        C::NotReady => "NOT_READY",
        C::BadMagic => "BAD_MAGIC",
        C::VersionMismatch => "VERSION_MISMATCH",
        C::KindMismatch => "KIND_MISMATCH",
        C::LayoutMismatch => "LAYOUT_MISMATCH",
        C::TruncatedWhileMapped => "TRUNCATED_WHILE_MAPPED",
        C::SizeMismatch => "SIZE_MISMATCH",
        C::Corrupt | C::JournalCorrupt | C::CandlesCorrupt => "CORRUPT",
        C::WriterBusy => "WRITER_BUSY",
        C::InUse => "IN_USE",
        C::Io => "IO",
        C::UnknownKey => "UNKNOWN_KEY",
        C::InvalidKey => "INVALID_KEY",
        C::SlotsFull => "SLOTS_FULL",
        C::WriterDied => "WRITER_DIED",
        C::SlotBusy | C::CandlesBusy => "BUSY",
        C::BadSlot => "BAD_SLOT",
        C::InvalidLayout => "INVALID_LAYOUT",
        C::RecordSize => "RECORD_SIZE",
        C::MessageTooLarge => "MESSAGE_TOO_LARGE",
        C::BatchTooLarge => "BATCH_TOO_LARGE",
        C::Overrun => "OVERRUN",
        C::TooOld => "TOO_OLD",
        C::NotYet => "NOT_YET",
        C::JournalLayout => "LAYOUT",
        C::InvalidCandle => "INVALID_CANDLE",
        C::OutOfOrder => "OUT_OF_ORDER",
        C::CandlesFull => "REGION_FULL",
        C::SeriesNotFound => "SYMBOL_NOT_FOUND",
        C::TooManySeries => "SYMBOL_LIMIT_EXCEEDED",
        C::TooManyCandles => "CANDLE_LIMIT_EXCEEDED",
        C::NotARegion | C::ForeignFile => "REGION_ERROR",
        C::ReadersFull | C::InvalidReaderName => "JOURNAL_ERROR",
        // Codes added later: the stable name, in capitals, would need an allocation here.
        _ => "SHMBUS_ERROR",
    }
}

impl Facts {
    /// An error of the binding itself (no core error behind it).
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            stable: None,
            message: message.into(),
            props: Vec::new(),
        }
    }

    /// A core error: its JavaScript `code` and its stable code, both from `code`.
    pub fn core(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            stable: Some(code),
            ..Self::new(js_code(code), message)
        }
    }

    /// The same error, carrying a stable code (a binding-made error that reports a core
    /// condition).
    pub(crate) fn stable(mut self, code: ErrorCode) -> Self {
        self.stable = Some(code);
        self
    }

    pub(crate) fn num(mut self, name: &'static str, v: impl Into<f64>) -> Self {
        self.props.push((name, Prop::Num(v.into())));
        self
    }

    fn u64(self, name: &'static str, v: u64) -> Self {
        self.num(name, v as f64)
    }

    fn str(mut self, name: &'static str, v: impl Into<String>) -> Self {
        self.props.push((name, Prop::Str(v.into())));
        self
    }

    fn path(self, p: &Path) -> Self {
        self.str("path", p.display().to_string())
    }

    pub(crate) fn qnxs(self, code: QnxsCode) -> Self {
        self.num("qnxsCode", code.number())
            .str("qnxsName", code.name())
    }

    /// Builds the JavaScript `Error` object (`name` `ShmbusError`, `code`, the facts).
    pub fn to_object<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        let mut obj = env.create_error(napi::Error::new(
            napi::Status::GenericFailure,
            self.message.clone(),
        ))?;
        obj.set_named_property("code", self.code)?;
        obj.set_named_property("name", "ShmbusError")?;
        if let Some(stable) = self.stable {
            obj.set_named_property("shmbusCode", stable.as_str())?;
            obj.set_named_property("shmbusCodeNumber", stable.number())?;
        }
        for (k, v) in &self.props {
            match v {
                Prop::Num(n) => obj.set_named_property(k, *n)?,
                Prop::Str(s) => obj.set_named_property(k, s.as_str())?,
            }
        }
        Ok(obj)
    }

    /// The `napi::Error` that throws (or rejects with) this error's JavaScript object.
    pub fn into_napi(self, env: &Env) -> napi::Error {
        match self.to_object(env) {
            Ok(obj) => napi::Error::from(obj.to_unknown()),
            Err(e) => e,
        }
    }
}

/// The facts of a region error.
pub fn region(e: &RegionError) -> Facts {
    let f = || Facts::core(e.code(), e.to_string());
    match e {
        RegionError::InvalidName { name, .. } => f().str("region", name.clone()),
        RegionError::NotFound { name, path } => f().str("region", name.clone()).path(path),
        RegionError::AlreadyExists { name, path } => f().str("region", name.clone()).path(path),
        RegionError::Symlink { path } => f().path(path),
        RegionError::NotRegularFile { path, .. } => f().path(path),
        RegionError::ForeignOwner { path, owner, me } => {
            f().path(path).num("owner", *owner).num("uid", *me)
        }
        RegionError::PermissionDenied { path, .. } => f().path(path),
        RegionError::NoSpace {
            path,
            requested,
            free,
        } => {
            let x = f().path(path).u64("requested", *requested);
            match free {
                Some(free) => x.u64("free", *free),
                None => x,
            }
        }
        RegionError::SizeTooSmall { requested, min, .. } => {
            f().u64("requested", *requested).u64("min", *min)
        }
        RegionError::SizeTooLarge { requested, max } => {
            f().u64("requested", *requested).u64("max", *max)
        }
        RegionError::Truncated { path, size, .. } => f().path(path).u64("size", *size),
        RegionError::NotReady { path } => f().path(path),
        RegionError::TruncatedWhileMapped { path } => f().path(path),
        RegionError::BadMagic { path, .. } => f().path(path),
        RegionError::VersionMismatch {
            path,
            expected,
            found,
        } => f()
            .path(path)
            .num("expected", *expected)
            .num("found", *found),
        RegionError::KindMismatch {
            path,
            expected,
            found,
        } => f()
            .path(path)
            .str("expected", expected.to_string())
            .str("found", found.clone()),
        RegionError::LayoutMismatch {
            path,
            expected_name,
            found_name,
            ..
        } => f()
            .path(path)
            .str("expected", expected_name.clone())
            .str("found", found_name.clone()),
        RegionError::SizeMismatch {
            path,
            header_size,
            file_size,
        } => f()
            .path(path)
            .u64("headerSize", *header_size)
            .u64("fileSize", *file_size),
        RegionError::Corrupt { path, .. } => f().path(path),
        RegionError::WriterBusy { path, pid } => {
            let x = f().path(path);
            match pid {
                Some(pid) => x.num("pid", *pid),
                None => x,
            }
        }
        RegionError::Io { path, error, .. } => {
            let x = f().path(path);
            match error.raw_os_error() {
                Some(errno) => x.num("errno", errno),
                None => x,
            }
        }
        _ => f(),
    }
}

/// The facts of a removal's error.
pub fn remove(e: &RemoveError) -> Facts {
    let f = || Facts::core(e.code(), e.to_string());
    match e {
        RemoveError::Region(r) => region(r),
        RemoveError::NotARegion { path, .. } => f().path(path),
        RemoveError::ForeignFile { dir, file, .. } => {
            f().path(dir).str("file", file.display().to_string())
        }
        RemoveError::InUse { path, pid } => {
            let x = f().path(path);
            match pid {
                Some(pid) => x.num("pid", *pid),
                None => x,
            }
        }
        _ => f(),
    }
}

/// The facts of a slot table error.
pub fn slot(e: &SlotError) -> Facts {
    let f = || Facts::core(e.code(), e.to_string());
    match e {
        SlotError::Region(r) => region(r),
        SlotError::UnknownKey { key, .. } => f().str("key", key.clone()),
        SlotError::InvalidKey { key, .. } => f().str("key", key.clone()),
        SlotError::Full { capacity, .. } => f().num("capacity", *capacity),
        SlotError::WriterDied { key, seq, .. } => f().str("key", key.clone()).u64("seq", *seq),
        SlotError::Busy { key, waited_ms, .. } => {
            f().str("key", key.clone()).u64("waitedMs", *waited_ms)
        }
        SlotError::BadSlot { index, count, .. } => f().num("index", *index).num("count", *count),
        SlotError::InvalidLayout { name, .. } => f().str("layout", name.clone()),
        SlotError::RecordSize {
            expected, found, ..
        } => f()
            .u64("expected", *expected as u64)
            .u64("found", *found as u64),
        _ => f(),
    }
}

/// The facts of a journal error.
pub fn journal(e: &JournalError) -> Facts {
    let f = || Facts::core(e.code(), e.to_string());
    match e {
        JournalError::Region(r) => region(r),
        JournalError::MessageTooLarge { len, max, .. } => {
            f().u64("length", *len as u64).u64("max", *max as u64)
        }
        JournalError::BatchTooLarge {
            pending, capacity, ..
        } => f().u64("pending", *pending).u64("capacity", *capacity),
        JournalError::Overrun {
            lost,
            expected_seq,
            resume_seq,
            ..
        } => f()
            .u64("lost", *lost)
            .u64("expectedSeq", *expected_seq)
            .u64("resumeSeq", *resume_seq),
        JournalError::Corrupt { position, .. } => f().u64("position", *position),
        JournalError::TooOld { seq, oldest, .. } => f().u64("seq", *seq).u64("oldest", *oldest),
        JournalError::NotYet { seq, next, .. } => f().u64("seq", *seq).u64("next", *next),
        JournalError::Layout { .. } => f(),
        _ => f(),
    }
}

/// The facts of a candle store error, with its QNXS code (`qnxsCode`, `qnxsName`).
pub fn candle(e: &CandleError) -> Facts {
    let f = || Facts::core(e.error_code(), e.to_string());
    let facts = match e {
        CandleError::Region { error } => {
            // The core's message (with its QNXS prefix), the region error's code and facts.
            let mut r = region(error);
            r.message = e.to_string();
            r
        }
        CandleError::InvalidName { what, value, .. } => {
            f().str("what", *what).str("value", value.clone())
        }
        CandleError::InvalidCandle {
            index, timestamp, ..
        } => f().u64("index", *index as u64).u64("timestamp", *timestamp),
        CandleError::OutOfOrder {
            index,
            timestamp,
            last,
            ..
        } => f()
            .u64("index", *index as u64)
            .u64("timestamp", *timestamp)
            .u64("last", *last),
        CandleError::Full {
            needed,
            free,
            size,
            suggested,
            ..
        } => f()
            .u64("needed", *needed)
            .u64("free", *free)
            .u64("size", *size)
            .u64("suggested", *suggested),
        CandleError::NotFound {
            symbol, interval, ..
        } => f()
            .str("symbol", symbol.clone())
            .str("interval", interval.clone()),
        CandleError::TooManySeries { max, .. } => f().u64("max", *max as u64),
        CandleError::TooManyCandles { count, max, .. } => f().u64("count", *count).num("max", *max),
        CandleError::Corrupt { .. } => f(),
        CandleError::Busy { attempts, .. } => f().num("attempts", *attempts),
        _ => f(),
    };
    facts.qnxs(e.code())
}

/// Turns a core result into a napi result that throws the right JavaScript error.
pub trait OrThrow<T> {
    /// Maps the error with the environment at hand.
    fn or_throw(self, env: &Env) -> napi::Result<T>;
}

impl<T> OrThrow<T> for Result<T, RegionError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| region(&e).into_napi(env))
    }
}

impl<T> OrThrow<T> for Result<T, RemoveError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| remove(&e).into_napi(env))
    }
}

impl<T> OrThrow<T> for Result<T, SlotError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| slot(&e).into_napi(env))
    }
}

impl<T> OrThrow<T> for Result<T, JournalError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| journal(&e).into_napi(env))
    }
}

impl<T> OrThrow<T> for Result<T, SlotReadError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(SlotError::from).or_throw(env)
    }
}

impl<T> OrThrow<T> for Result<T, SlotWriteError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(SlotError::from).or_throw(env)
    }
}

impl<T> OrThrow<T> for Result<T, ReadError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(JournalError::from).or_throw(env)
    }
}

impl<T> OrThrow<T> for Result<T, AppendError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(JournalError::from).or_throw(env)
    }
}

impl<T> OrThrow<T> for Result<T, CandleError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| candle(&e).into_napi(env))
    }
}

impl<T> OrThrow<T> for Result<T, Facts> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| e.into_napi(env))
    }
}

/// The error of a method called after `close()`.
pub fn closed(what: &str) -> Facts {
    Facts::new("CLOSED", format!("this {what} is closed"))
}

/// The error of an argument out of its range.
pub fn invalid_arg(message: impl Into<String>) -> Facts {
    Facts::new("INVALID_ARGUMENT", message)
}
