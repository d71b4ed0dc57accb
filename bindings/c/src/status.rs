//! Status codes, the mapping of every core error onto them, and the thread-local message of the
//! last failed call.

use std::cell::RefCell;
use std::ffi::{CString, c_char};

use shmbus::{CandleError, JournalError, RegionError, SlotError};

/// What a call did. Every function of the library returns one.
///
/// `SHMBUS_OK` and `SHMBUS_NO_DATA` are outcomes, not errors; every other value is an error, and
/// `shmbus_last_error()` then returns its message (which says what to do). New codes may be
/// added: treat an unknown value as an error.
// The variants carry the C prefix so that the header says `SHMBUS_OK`, not `SHMBUS_STATUS_OK`.
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)]
pub enum ShmbusStatus {
    /// Success.
    ShmbusOk = 0,
    /// Nothing to return, and not an error: no message before the timeout, a slot never written
    /// or unchanged since the given sequence, an empty candle series.
    ShmbusNoData = 1,
    /// A NULL or misaligned pointer, text that is not UTF-8, an unknown flag or enum value.
    ShmbusInvalidArgument = 2,
    /// A handle of another kind (e.g. a journal reader passed as a slot reader).
    ShmbusBadHandle = 3,
    /// The caller's buffer is too small; the count or length out-parameter says how much is
    /// needed, and nothing was lost (retry with a larger buffer).
    ShmbusBufferTooSmall = 4,
    /// An internal error (a bug in shmbus, caught before it could cross the C boundary).
    ShmbusInternal = 5,
    /// No region (or journal) exists under that name.
    ShmbusNotFound = 10,
    /// Create is exclusive and the name is taken.
    ShmbusAlreadyExists = 11,
    /// A region name, slot key, symbol or interval breaks a naming rule.
    ShmbusInvalidName = 12,
    /// The operating system refused access, or the region belongs to another user.
    ShmbusPermissionDenied = 13,
    /// The file system cannot hold the region (reported at create, never as SIGBUS later).
    ShmbusNoSpace = 14,
    /// A size too small or too large for the region.
    ShmbusInvalidSize = 15,
    /// The file is not a shmbus region (too short, bad magic, a link, not a regular file).
    ShmbusNotARegion = 16,
    /// The region's creator has not finished setting it up (or died doing so).
    ShmbusNotReady = 17,
    /// The region was written by an incompatible version of the format.
    ShmbusVersionMismatch = 18,
    /// The region holds another kind of data (e.g. a journal opened as a slot table).
    ShmbusKindMismatch = 19,
    /// The region's records have another layout than the caller's.
    ShmbusLayoutMismatch = 20,
    /// The region, a journal frame or a candle index is damaged.
    ShmbusCorrupt = 21,
    /// Another process is the writer (one writer at a time).
    ShmbusWriterBusy = 22,
    /// Remove refused: a writer is alive (pass force).
    ShmbusInUse = 23,
    /// Another I/O error.
    ShmbusIo = 24,
    /// Another process truncated the region's file while this handle had it mapped: its data
    /// is gone (the handle reads zeros, which are never returned as data). Close the handle and
    /// reopen the region once it is recreated.
    ShmbusTruncatedWhileMapped = 25,
    /// No slot has this key (yet).
    ShmbusUnknownKey = 30,
    /// The slot table or candle region is full.
    ShmbusFull = 31,
    /// The slot's writer died in the middle of writing it; a new writer repairs it on open.
    ShmbusWriterDied = 32,
    /// A live writer kept the data mid-write for longer than the read timeout.
    ShmbusBusy = 33,
    /// A slot id that is not a registered slot of this table.
    ShmbusBadSlot = 34,
    /// A record layout a slot table cannot hold (name, size, overlapping fields).
    ShmbusInvalidLayout = 35,
    /// A record buffer whose size is not the table's record size.
    ShmbusRecordSize = 36,
    /// The message is larger than the journal accepts.
    ShmbusMessageTooLarge = 40,
    /// The uncommitted batch no longer fits in the ring: commit more often.
    ShmbusBatchTooLarge = 41,
    /// The reader was lapped by the writer: messages were lost (see
    /// `shmbus_journal_reader_lost`); it resumes at the oldest message still stored.
    ShmbusOverrun = 42,
    /// The sequence asked for is no longer stored.
    ShmbusTooOld = 43,
    /// The sequence asked for has not been written yet.
    ShmbusNotYet = 44,
    /// A candle of the batch is invalid (NaN, negative, high < low, timestamps not increasing);
    /// nothing was written.
    ShmbusInvalidCandle = 50,
    /// The batch starts before the last stored candle; nothing was written.
    ShmbusOutOfOrder = 51,
    /// No series with this symbol and interval.
    ShmbusUnknownSeries = 52,
    /// The region already holds 256 series.
    ShmbusTooManySeries = 53,
    /// A series would exceed its candle limit.
    ShmbusTooManyCandles = 54,
    /// An error this version of the C ABI has no code for (see the message).
    ShmbusOther = 99,
}

impl ShmbusStatus {
    /// Every status, in code order.
    pub(crate) const ALL: [ShmbusStatus; 40] = [
        Self::ShmbusOk,
        Self::ShmbusNoData,
        Self::ShmbusInvalidArgument,
        Self::ShmbusBadHandle,
        Self::ShmbusBufferTooSmall,
        Self::ShmbusInternal,
        Self::ShmbusNotFound,
        Self::ShmbusAlreadyExists,
        Self::ShmbusInvalidName,
        Self::ShmbusPermissionDenied,
        Self::ShmbusNoSpace,
        Self::ShmbusInvalidSize,
        Self::ShmbusNotARegion,
        Self::ShmbusNotReady,
        Self::ShmbusVersionMismatch,
        Self::ShmbusKindMismatch,
        Self::ShmbusLayoutMismatch,
        Self::ShmbusCorrupt,
        Self::ShmbusWriterBusy,
        Self::ShmbusInUse,
        Self::ShmbusIo,
        Self::ShmbusTruncatedWhileMapped,
        Self::ShmbusUnknownKey,
        Self::ShmbusFull,
        Self::ShmbusWriterDied,
        Self::ShmbusBusy,
        Self::ShmbusBadSlot,
        Self::ShmbusInvalidLayout,
        Self::ShmbusRecordSize,
        Self::ShmbusMessageTooLarge,
        Self::ShmbusBatchTooLarge,
        Self::ShmbusOverrun,
        Self::ShmbusTooOld,
        Self::ShmbusNotYet,
        Self::ShmbusInvalidCandle,
        Self::ShmbusOutOfOrder,
        Self::ShmbusUnknownSeries,
        Self::ShmbusTooManySeries,
        Self::ShmbusTooManyCandles,
        Self::ShmbusOther,
    ];

    /// The C name of the status, NUL-terminated.
    pub(crate) const fn c_name(self) -> &'static str {
        match self {
            Self::ShmbusOk => "SHMBUS_OK\0",
            Self::ShmbusNoData => "SHMBUS_NO_DATA\0",
            Self::ShmbusInvalidArgument => "SHMBUS_INVALID_ARGUMENT\0",
            Self::ShmbusBadHandle => "SHMBUS_BAD_HANDLE\0",
            Self::ShmbusBufferTooSmall => "SHMBUS_BUFFER_TOO_SMALL\0",
            Self::ShmbusInternal => "SHMBUS_INTERNAL\0",
            Self::ShmbusNotFound => "SHMBUS_NOT_FOUND\0",
            Self::ShmbusAlreadyExists => "SHMBUS_ALREADY_EXISTS\0",
            Self::ShmbusInvalidName => "SHMBUS_INVALID_NAME\0",
            Self::ShmbusPermissionDenied => "SHMBUS_PERMISSION_DENIED\0",
            Self::ShmbusNoSpace => "SHMBUS_NO_SPACE\0",
            Self::ShmbusInvalidSize => "SHMBUS_INVALID_SIZE\0",
            Self::ShmbusNotARegion => "SHMBUS_NOT_A_REGION\0",
            Self::ShmbusNotReady => "SHMBUS_NOT_READY\0",
            Self::ShmbusVersionMismatch => "SHMBUS_VERSION_MISMATCH\0",
            Self::ShmbusKindMismatch => "SHMBUS_KIND_MISMATCH\0",
            Self::ShmbusLayoutMismatch => "SHMBUS_LAYOUT_MISMATCH\0",
            Self::ShmbusCorrupt => "SHMBUS_CORRUPT\0",
            Self::ShmbusWriterBusy => "SHMBUS_WRITER_BUSY\0",
            Self::ShmbusInUse => "SHMBUS_IN_USE\0",
            Self::ShmbusIo => "SHMBUS_IO\0",
            Self::ShmbusTruncatedWhileMapped => "SHMBUS_TRUNCATED_WHILE_MAPPED\0",
            Self::ShmbusUnknownKey => "SHMBUS_UNKNOWN_KEY\0",
            Self::ShmbusFull => "SHMBUS_FULL\0",
            Self::ShmbusWriterDied => "SHMBUS_WRITER_DIED\0",
            Self::ShmbusBusy => "SHMBUS_BUSY\0",
            Self::ShmbusBadSlot => "SHMBUS_BAD_SLOT\0",
            Self::ShmbusInvalidLayout => "SHMBUS_INVALID_LAYOUT\0",
            Self::ShmbusRecordSize => "SHMBUS_RECORD_SIZE\0",
            Self::ShmbusMessageTooLarge => "SHMBUS_MESSAGE_TOO_LARGE\0",
            Self::ShmbusBatchTooLarge => "SHMBUS_BATCH_TOO_LARGE\0",
            Self::ShmbusOverrun => "SHMBUS_OVERRUN\0",
            Self::ShmbusTooOld => "SHMBUS_TOO_OLD\0",
            Self::ShmbusNotYet => "SHMBUS_NOT_YET\0",
            Self::ShmbusInvalidCandle => "SHMBUS_INVALID_CANDLE\0",
            Self::ShmbusOutOfOrder => "SHMBUS_OUT_OF_ORDER\0",
            Self::ShmbusUnknownSeries => "SHMBUS_UNKNOWN_SERIES\0",
            Self::ShmbusTooManySeries => "SHMBUS_TOO_MANY_SERIES\0",
            Self::ShmbusTooManyCandles => "SHMBUS_TOO_MANY_CANDLES\0",
            Self::ShmbusOther => "SHMBUS_OTHER\0",
        }
    }
}

/// A failed call: its status and the message `shmbus_last_error()` will return.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) status: ShmbusStatus,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: ShmbusStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ShmbusStatus::ShmbusInvalidArgument, message)
    }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// The status of each region error, variant by variant.
fn region_status(e: &RegionError) -> ShmbusStatus {
    use ShmbusStatus as S;
    match e {
        RegionError::InvalidName { .. } => S::ShmbusInvalidName,
        RegionError::NotFound { .. } => S::ShmbusNotFound,
        RegionError::AlreadyExists { .. } => S::ShmbusAlreadyExists,
        RegionError::Symlink { .. }
        | RegionError::NotRegularFile { .. }
        | RegionError::Truncated { .. }
        | RegionError::BadMagic { .. } => S::ShmbusNotARegion,
        RegionError::ForeignOwner { .. } | RegionError::PermissionDenied { .. } => {
            S::ShmbusPermissionDenied
        }
        RegionError::NoSpace { .. } => S::ShmbusNoSpace,
        RegionError::SizeTooSmall { .. } | RegionError::SizeTooLarge { .. } => S::ShmbusInvalidSize,
        RegionError::NotReady { .. } => S::ShmbusNotReady,
        RegionError::VersionMismatch { .. } => S::ShmbusVersionMismatch,
        RegionError::KindMismatch { .. } => S::ShmbusKindMismatch,
        RegionError::LayoutMismatch { .. } => S::ShmbusLayoutMismatch,
        RegionError::SizeMismatch { .. } | RegionError::Corrupt { .. } => S::ShmbusCorrupt,
        RegionError::WriterBusy { .. } => S::ShmbusWriterBusy,
        RegionError::InUse { .. } => S::ShmbusInUse,
        RegionError::Io { .. } => S::ShmbusIo,
        RegionError::TruncatedWhileMapped { .. } => S::ShmbusTruncatedWhileMapped,
        _ => S::ShmbusOther,
    }
}

impl From<RegionError> for Error {
    fn from(e: RegionError) -> Self {
        Self::new(region_status(&e), e.to_string())
    }
}

impl From<SlotError> for Error {
    fn from(e: SlotError) -> Self {
        use ShmbusStatus as S;
        let status = match &e {
            SlotError::Region(r) => region_status(r),
            SlotError::UnknownKey { .. } => S::ShmbusUnknownKey,
            SlotError::InvalidKey { .. } => S::ShmbusInvalidName,
            SlotError::Full { .. } => S::ShmbusFull,
            SlotError::WriterDied { .. } => S::ShmbusWriterDied,
            SlotError::Busy { .. } => S::ShmbusBusy,
            SlotError::BadSlot { .. } => S::ShmbusBadSlot,
            SlotError::InvalidLayout { .. } => S::ShmbusInvalidLayout,
            SlotError::RecordSize { .. } => S::ShmbusRecordSize,
            _ => S::ShmbusOther,
        };
        Self::new(status, e.to_string())
    }
}

impl From<JournalError> for Error {
    fn from(e: JournalError) -> Self {
        use ShmbusStatus as S;
        let status = match &e {
            JournalError::Region(r) => region_status(r),
            JournalError::MessageTooLarge { .. } => S::ShmbusMessageTooLarge,
            JournalError::BatchTooLarge { .. } => S::ShmbusBatchTooLarge,
            JournalError::Overrun { .. } => S::ShmbusOverrun,
            JournalError::Corrupt { .. } | JournalError::Layout { .. } => S::ShmbusCorrupt,
            JournalError::TooOld { .. } => S::ShmbusTooOld,
            JournalError::NotYet { .. } => S::ShmbusNotYet,
            _ => S::ShmbusOther,
        };
        Self::new(status, e.to_string())
    }
}

impl From<CandleError> for Error {
    fn from(e: CandleError) -> Self {
        use ShmbusStatus as S;
        let status = match &e {
            CandleError::Region { error } => region_status(error),
            CandleError::InvalidName { .. } => S::ShmbusInvalidName,
            CandleError::InvalidCandle { .. } => S::ShmbusInvalidCandle,
            CandleError::OutOfOrder { .. } => S::ShmbusOutOfOrder,
            CandleError::Full { .. } => S::ShmbusFull,
            CandleError::NotFound { .. } => S::ShmbusUnknownSeries,
            CandleError::TooManySeries { .. } => S::ShmbusTooManySeries,
            CandleError::TooManyCandles { .. } => S::ShmbusTooManyCandles,
            CandleError::Corrupt { .. } => S::ShmbusCorrupt,
            CandleError::Busy { .. } => S::ShmbusBusy,
            _ => S::ShmbusOther,
        };
        Self::new(status, e.to_string())
    }
}

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records `message` as this thread's last error (NUL bytes, which C cannot carry, become `?`).
pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "?")).unwrap_or_default();
    LAST_ERROR.with(|m| *m.borrow_mut() = Some(c));
}

/// The message of the last call that failed on the calling thread (any status other than
/// `SHMBUS_OK` and `SHMBUS_NO_DATA`), or `""` if none has failed.
///
/// Like `errno`, successful calls leave it unchanged. The string belongs to the library and
/// stays valid until the next failing call on the same thread; copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn shmbus_last_error() -> *const c_char {
    // No other borrow of the cell can be live (nothing runs while this one is held), so this
    // cannot panic; the pointer stays valid until the CString is replaced by the next error.
    LAST_ERROR
        .try_with(|m| m.borrow().as_ref().map(|c| c.as_ptr()))
        .ok()
        .flatten()
        .unwrap_or(c"".as_ptr())
}

/// The name of a status as a static string, e.g. `"SHMBUS_NOT_FOUND"`
/// (`"SHMBUS_UNKNOWN_STATUS"` for a value that is not a status).
#[unsafe(no_mangle)]
pub extern "C" fn shmbus_status_name(status: i32) -> *const c_char {
    let name = ShmbusStatus::ALL
        .iter()
        .find(|s| **s as i32 == status)
        .map_or("SHMBUS_UNKNOWN_STATUS\0", |s| s.c_name());
    name.as_ptr().cast()
}
