//! Status codes, the mapping of every core error onto them, and the thread-local message of the
//! last failed call.

use std::cell::{Cell, RefCell};
use std::ffi::{CString, c_char};
use std::sync::LazyLock;

use shmbus::{
    AppendError, CandleError, ErrorCode, JournalError, ReadError, RegionError, RemoveError,
    SlotError, SlotReadError, SlotWriteError,
};

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

/// The stable error codes of docs/ERRORS.md, for C: `shmbus_last_error_code()` returns one of
/// these (or 0). They are finer than [`ShmbusStatus`] (e.g. `SHMBUS_CORRUPT` is
/// `SHMBUS_ERR_CORRUPT`, `SHMBUS_ERR_JOURNAL_CORRUPT` or `SHMBUS_ERR_CANDLES_CORRUPT`), never
/// below 100, and never reused; new codes may be added.
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)]
pub enum ShmbusErrorCode {
    /// The last failure had no core error behind it (an argument error, a bad handle, a
    /// panic), or no call has failed.
    ShmbusErrNone = 0,
    /// A region name breaks a naming rule (the message says which).
    ShmbusErrInvalidName = 100,
    /// No region or journal exists under that name.
    ShmbusErrNotFound = 101,
    /// Create is exclusive and the name is taken.
    ShmbusErrAlreadyExists = 102,
    /// The name is a symbolic link; regions are never opened through one.
    ShmbusErrSymlink = 103,
    /// The name is a FIFO, socket, device or directory.
    ShmbusErrNotRegularFile = 104,
    /// The region belongs to another user.
    ShmbusErrForeignOwner = 105,
    /// The operating system refused access.
    ShmbusErrPermissionDenied = 106,
    /// The file system cannot hold the region (found at create, never as SIGBUS later).
    ShmbusErrNoSpace = 107,
    /// The size cannot hold the headers and one record.
    ShmbusErrSizeTooSmall = 108,
    /// The size is beyond what shmbus supports.
    ShmbusErrSizeTooLarge = 109,
    /// The file is shorter than a region header.
    ShmbusErrTruncated = 110,
    /// The creator has not finished setting the region up, or died doing so.
    ShmbusErrNotReady = 111,
    /// The file is not a shmbus region.
    ShmbusErrBadMagic = 112,
    /// Written by an incompatible format version.
    ShmbusErrVersionMismatch = 113,
    /// The region holds another kind of data (e.g. a journal opened as a slot table).
    ShmbusErrKindMismatch = 114,
    /// The region's records have another layout than the caller's.
    ShmbusErrLayoutMismatch = 115,
    /// Another process truncated the file while it was mapped; its data is gone.
    ShmbusErrTruncatedWhileMapped = 116,
    /// The file's size disagrees with its header.
    ShmbusErrSizeMismatch = 117,
    /// A header field is impossible (the error names it).
    ShmbusErrCorrupt = 118,
    /// Another process is the writer (one at a time).
    ShmbusErrWriterBusy = 119,
    /// Remove refused a file that is not shmbus's own, even with force.
    ShmbusErrNotARegion = 120,
    /// Remove refused: a writer is alive.
    ShmbusErrInUse = 121,
    /// Any other I/O failure (the OS error is in the message).
    ShmbusErrIo = 122,
    /// Remove refused a journal directory holding a file that is not one of its segments,
    /// even with force.
    ShmbusErrForeignFile = 123,
    /// No slot has this key (the writer has not published it yet).
    ShmbusErrUnknownKey = 200,
    /// A key that cannot be stored (empty, too long, NUL, control character).
    ShmbusErrInvalidKey = 201,
    /// Every slot of the table is taken.
    ShmbusErrSlotsFull = 202,
    /// The writer died in the middle of writing this slot.
    ShmbusErrWriterDied = 203,
    /// A live writer kept the slot mid-write longer than the read timeout.
    ShmbusErrSlotBusy = 204,
    /// A slot id from another table or beyond the table.
    ShmbusErrBadSlot = 205,
    /// A run-time record layout a slot table cannot hold.
    ShmbusErrInvalidLayout = 206,
    /// A record buffer of the wrong size for the table.
    ShmbusErrRecordSize = 207,
    /// The message is larger than the journal accepts.
    ShmbusErrMessageTooLarge = 300,
    /// The uncommitted batch no longer fits in the ring.
    ShmbusErrBatchTooLarge = 301,
    /// The reader was lapped, or its segments removed: messages were lost.
    ShmbusErrOverrun = 302,
    /// A journal frame is malformed.
    ShmbusErrJournalCorrupt = 303,
    /// The sequence asked for is no longer stored.
    ShmbusErrTooOld = 304,
    /// The sequence asked for has not been written yet.
    ShmbusErrNotYet = 305,
    /// The journal directory or one of its segments is unusable.
    ShmbusErrJournalLayout = 306,
    /// Every entry of the reader registry is held by a live reader.
    ShmbusErrReadersFull = 307,
    /// A reader name that cannot be registered.
    ShmbusErrInvalidReaderName = 308,
    /// A candle symbol or interval that does not fit the format.
    ShmbusErrInvalidSeriesName = 400,
    /// A candle of the batch is invalid; nothing was written.
    ShmbusErrInvalidCandle = 401,
    /// The batch starts before the last stored candle; nothing was written.
    ShmbusErrOutOfOrder = 402,
    /// The candle region is full.
    ShmbusErrCandlesFull = 403,
    /// No series with this symbol and interval.
    ShmbusErrSeriesNotFound = 404,
    /// The region's index already holds its maximum of series.
    ShmbusErrTooManySeries = 405,
    /// A series would exceed its candle limit.
    ShmbusErrTooManyCandles = 406,
    /// The candle region's index or blocks are inconsistent.
    ShmbusErrCandlesCorrupt = 407,
    /// No consistent read: the writer kept writing, or died mid-write.
    ShmbusErrCandlesBusy = 408,
}

#[cfg(test)]
impl ShmbusErrorCode {
    /// Every code, in number order (0 first).
    pub(crate) const ALL: [ShmbusErrorCode; 51] = [
        Self::ShmbusErrNone,
        Self::ShmbusErrInvalidName,
        Self::ShmbusErrNotFound,
        Self::ShmbusErrAlreadyExists,
        Self::ShmbusErrSymlink,
        Self::ShmbusErrNotRegularFile,
        Self::ShmbusErrForeignOwner,
        Self::ShmbusErrPermissionDenied,
        Self::ShmbusErrNoSpace,
        Self::ShmbusErrSizeTooSmall,
        Self::ShmbusErrSizeTooLarge,
        Self::ShmbusErrTruncated,
        Self::ShmbusErrNotReady,
        Self::ShmbusErrBadMagic,
        Self::ShmbusErrVersionMismatch,
        Self::ShmbusErrKindMismatch,
        Self::ShmbusErrLayoutMismatch,
        Self::ShmbusErrTruncatedWhileMapped,
        Self::ShmbusErrSizeMismatch,
        Self::ShmbusErrCorrupt,
        Self::ShmbusErrWriterBusy,
        Self::ShmbusErrNotARegion,
        Self::ShmbusErrInUse,
        Self::ShmbusErrIo,
        Self::ShmbusErrForeignFile,
        Self::ShmbusErrUnknownKey,
        Self::ShmbusErrInvalidKey,
        Self::ShmbusErrSlotsFull,
        Self::ShmbusErrWriterDied,
        Self::ShmbusErrSlotBusy,
        Self::ShmbusErrBadSlot,
        Self::ShmbusErrInvalidLayout,
        Self::ShmbusErrRecordSize,
        Self::ShmbusErrMessageTooLarge,
        Self::ShmbusErrBatchTooLarge,
        Self::ShmbusErrOverrun,
        Self::ShmbusErrJournalCorrupt,
        Self::ShmbusErrTooOld,
        Self::ShmbusErrNotYet,
        Self::ShmbusErrJournalLayout,
        Self::ShmbusErrReadersFull,
        Self::ShmbusErrInvalidReaderName,
        Self::ShmbusErrInvalidSeriesName,
        Self::ShmbusErrInvalidCandle,
        Self::ShmbusErrOutOfOrder,
        Self::ShmbusErrCandlesFull,
        Self::ShmbusErrSeriesNotFound,
        Self::ShmbusErrTooManySeries,
        Self::ShmbusErrTooManyCandles,
        Self::ShmbusErrCandlesCorrupt,
        Self::ShmbusErrCandlesBusy,
    ];
}

/// A failed call: its status, the message `shmbus_last_error()` will return and the core's
/// error code `shmbus_last_error_code()` will return (none for the binding's own errors).
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) status: ShmbusStatus,
    pub(crate) message: String,
    pub(crate) code: Option<ErrorCode>,
}

impl Error {
    pub(crate) fn new(status: ShmbusStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
        }
    }

    /// The same error, carrying the core's code for what it reports.
    pub(crate) fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = Some(code);
        self
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
        RegionError::Io { .. } => S::ShmbusIo,
        RegionError::TruncatedWhileMapped { .. } => S::ShmbusTruncatedWhileMapped,
        _ => S::ShmbusOther,
    }
}

impl From<RegionError> for Error {
    fn from(e: RegionError) -> Self {
        Self::new(region_status(&e), e.to_string()).with_code(e.code())
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
        Self::new(status, e.to_string()).with_code(e.code())
    }
}

impl From<SlotReadError> for Error {
    fn from(e: SlotReadError) -> Self {
        SlotError::from(e).into()
    }
}

impl From<SlotWriteError> for Error {
    fn from(e: SlotWriteError) -> Self {
        SlotError::from(e).into()
    }
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        JournalError::from(e).into()
    }
}

impl From<AppendError> for Error {
    fn from(e: AppendError) -> Self {
        JournalError::from(e).into()
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
        Self::new(status, e.to_string()).with_code(e.code())
    }
}

impl From<RemoveError> for Error {
    fn from(e: RemoveError) -> Self {
        use ShmbusStatus as S;
        let status = match &e {
            RemoveError::Region(r) => region_status(r),
            RemoveError::NotARegion { .. } | RemoveError::ForeignFile { .. } => S::ShmbusNotARegion,
            RemoveError::InUse { .. } => S::ShmbusInUse,
            _ => S::ShmbusOther,
        };
        Self::new(status, e.to_string()).with_code(e.code())
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
        Self::new(status, e.to_string()).with_code(e.error_code())
    }
}

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
    /// The core error code of the last failed call on this thread (0: none).
    static LAST_ERROR_CODE: Cell<i32> = const { Cell::new(0) };
}

/// Records `message` and `code` as this thread's last error (NUL bytes, which C cannot carry,
/// become `?`).
pub(crate) fn set_last_error(message: &str, code: Option<ErrorCode>) {
    let c = CString::new(message.replace('\0', "?")).unwrap_or_default();
    LAST_ERROR.with(|m| *m.borrow_mut() = Some(c));
    let number = code.map_or(0, |c| i32::try_from(c.number()).unwrap_or(0));
    LAST_ERROR_CODE.with(|n| n.set(number));
}

/// The stable error code (docs/ERRORS.md, `shmbus_error_code`) of the last call that failed on
/// the calling thread, e.g. `SHMBUS_ERR_WRITER_BUSY` (119); 0 (`SHMBUS_ERR_NONE`) if that
/// failure had no core error behind it (an invalid argument, a bad handle, a small buffer) or
/// none has failed. Finer than the status: match on it rather than on the message.
///
/// Like `errno`, successful calls leave it unchanged.
#[unsafe(no_mangle)]
pub extern "C" fn shmbus_last_error_code() -> i32 {
    LAST_ERROR_CODE.try_with(Cell::get).unwrap_or(0)
}

/// The snake_case names of the codes, NUL-terminated, in `ErrorCode::ALL` order.
static CODE_NAMES: LazyLock<Vec<(i32, CString)>> = LazyLock::new(|| {
    ErrorCode::ALL
        .iter()
        .filter_map(|c| {
            Some((
                i32::try_from(c.number()).ok()?,
                CString::new(c.as_str()).ok()?,
            ))
        })
        .collect()
});

/// The stable name of an error code as a static string, e.g. `"writer_busy"` for 119
/// (`""` for 0 or a value that is not a code).
#[unsafe(no_mangle)]
pub extern "C" fn shmbus_error_code_name(code: i32) -> *const c_char {
    CODE_NAMES
        .iter()
        .find(|(n, _)| *n == code)
        .map_or(c"".as_ptr(), |(_, name)| name.as_ptr())
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
