//! Typed errors. Each variant carries the facts a user needs and its message says what to do.

use std::io;
use std::path::PathBuf;

use crate::header::RegionKind;

/// Why a region could not be created, opened, locked or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// The name breaks a naming rule.
    #[error("invalid region name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// No region file exists under that name.
    #[error("no region {name:?} ({path}); create it first or check the name")]
    NotFound {
        /// The region's name.
        name: String,
        /// The file looked for.
        path: PathBuf,
    },
    /// Create is exclusive and the name is taken.
    #[error("region {name:?} already exists ({path}); open it instead, or remove it first")]
    AlreadyExists {
        /// The region's name.
        name: String,
        /// The existing file.
        path: PathBuf,
    },
    /// The final path component is a symbolic link; regions are never opened through one.
    #[error(
        "{path} is a symbolic link; shmbus does not follow links to regions (open the target's path instead)"
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The name exists but is not a regular file (a FIFO, socket, device or directory). It is
    /// refused before it is opened, so a FIFO cannot block the caller.
    #[error("{path} is {what}, not a regular file: shmbus regions and journal segments are regular files; check the name", path = path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is instead: "a FIFO (named pipe)", "a directory", ...
        what: &'static str,
    },
    /// The region belongs to another user (a shared region between users must be asked for).
    #[error(
        "{path} belongs to uid {owner}, not to you (uid {me}); if you trust that user, open it with allow_foreign_owner"
    )]
    ForeignOwner {
        /// The region file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        me: u32,
    },
    /// The operating system refused access.
    #[error("permission denied to {op} {path}: check the file's owner and mode (`ls -l {path}`)")]
    PermissionDenied {
        /// What was being done.
        op: &'static str,
        /// The region file.
        path: PathBuf,
    },
    /// The file system cannot hold the region: reported at create time, never as SIGBUS later.
    #[error("no space for region {path}: asked for {requested} bytes, {free} free on its file system; free space, choose a smaller size, or raise the limit (/dev/shm in a container is often only 64 MiB: `docker run --shm-size=1g`; Kubernetes: an emptyDir with medium Memory)", free = free.map_or_else(|| "unknown".to_owned(), |f| f.to_string()))]
    NoSpace {
        /// The region file.
        path: PathBuf,
        /// Bytes asked for.
        requested: u64,
        /// Bytes available, if known.
        free: Option<u64>,
    },
    /// The size asked for cannot hold the region's headers and at least one record.
    #[error("size {requested} is too small for a {kind} region: it needs at least {min} bytes")]
    SizeTooSmall {
        /// The kind being created.
        kind: RegionKind,
        /// Bytes asked for.
        requested: u64,
        /// The minimum.
        min: u64,
    },
    /// The size asked for is beyond what shmbus supports.
    #[error("size {requested} is too large (at most {max} bytes)")]
    SizeTooLarge {
        /// Bytes asked for.
        requested: u64,
        /// The maximum.
        max: u64,
    },
    /// The file is shorter than a header: truncated, or not a region at all.
    #[error(
        "{path} is {size} bytes, too short to be a shmbus region (a header needs {min}); it is truncated or not a region"
    )]
    Truncated {
        /// The region file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The least a region can be.
        min: u64,
    },
    /// The header is not published yet: its creator is still initialising it, or died doing so.
    #[error("{path} is not initialised: its creator is still setting it up, or died before finishing; retry, or if no writer is alive remove it (an empty file, left by a creator killed before reserving its space, with rm(1))", path = path.display())]
    NotReady {
        /// The region file.
        path: PathBuf,
    },
    /// The magic number is wrong: the file is not a shmbus region.
    #[error("{path} is not a shmbus region (magic {found:#018x}, expected {expected:#018x})", path = path.display())]
    BadMagic {
        /// The region file.
        path: PathBuf,
        /// The magic expected.
        expected: u64,
        /// The magic found.
        found: u64,
    },
    /// The region was written by an incompatible version of the format.
    #[error("{path} has format version {found}, this shmbus reads version {expected}; use a matching shmbus", path = path.display())]
    VersionMismatch {
        /// The region file.
        path: PathBuf,
        /// The version this library speaks.
        expected: u32,
        /// The version found.
        found: u32,
    },
    /// The region holds another kind of data.
    #[error("{path} is a {found} region, not a {expected} region", path = path.display())]
    KindMismatch {
        /// The region file.
        path: PathBuf,
        /// The kind asked for.
        expected: RegionKind,
        /// The kind found (or its raw number when unknown).
        found: String,
    },
    /// The region's records have another layout than the caller's type.
    #[error("{path} holds records `{found_name}` (layout {found:#018x}), but the caller uses `{expected_name}` (layout {expected:#018x}): the two sides disagree on the record struct (field order, types or sizes)", path = path.display())]
    LayoutMismatch {
        /// The region file.
        path: PathBuf,
        /// The caller's record name.
        expected_name: String,
        /// The caller's layout fingerprint.
        expected: u64,
        /// The region's record name.
        found_name: String,
        /// The region's layout fingerprint.
        found: u64,
    },
    /// Another process truncated the region's file while this process had it mapped. The
    /// mapping now reads zeros (shmbus's SIGBUS handler put them there instead of letting the
    /// process die), which are never returned as data: this handle is unusable.
    #[error("{path} was truncated by another process while this one had it mapped: its data is gone; drop this handle and reopen the region once it is recreated, and check who may write it (`ls -l {path}`)", path = path.display())]
    TruncatedWhileMapped {
        /// The region file.
        path: PathBuf,
    },
    /// The file's size disagrees with the size in its header.
    #[error("{path} is {file_size} bytes but its header says {header_size}: the file was truncated or resized by something other than shmbus", path = path.display())]
    SizeMismatch {
        /// The region file.
        path: PathBuf,
        /// Size recorded in the header.
        header_size: u64,
        /// Size of the file.
        file_size: u64,
    },
    /// A header field is impossible (e.g. an offset outside the region), or the table the
    /// region's kind keeps at its body offset is.
    #[error("{path} is corrupt: {what}", path = path.display())]
    Corrupt {
        /// The region file.
        path: PathBuf,
        /// What is wrong.
        what: RegionCorruption,
    },
    /// Another process is the writer.
    #[error("{path} already has a live writer{}; only one writer at a time (stop it first; the lock is released the moment it exits)", pid.map_or_else(String::new, |p| format!(" (pid {p})")), path = path.display())]
    WriterBusy {
        /// The region file.
        path: PathBuf,
        /// The writer's pid, if known.
        pid: Option<u32>,
    },
    /// Any other I/O failure.
    // The OS error is in the message and deliberately not a `source()`: error chains (anyhow's
    // `{:#}`, as the CLI prints) would repeat it.
    #[error("cannot {op} {path}: {error}", path = path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The region file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
}

/// Why removing a region or a journal failed ([`crate::Region::remove`],
/// [`crate::journal::remove`]).
///
/// Removal refuses what opening cannot: a file that is not shmbus's own, a journal directory
/// holding anything else, a live writer. Everything else (the name, a missing file, permissions,
/// without force the open error of a damaged region, the unlink) is the [`RegionError`] it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoveError {
    /// Finding, checking (without force) or unlinking the region failed.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// Remove refused a file that is not recognisably shmbus's own (its header, or a persisted
    /// journal's segment files), even when forced.
    #[error("{path} is not a shmbus region or journal ({reason}); shmbus removes only its own files, even with force (use rm(1) if you mean to delete it)", path = path.display())]
    NotARegion {
        /// The file or directory.
        path: PathBuf,
        /// Why it is not recognised.
        reason: NotARegionReason,
    },
    /// Remove refused a persisted journal's directory: it holds a file that is not one of the
    /// journal's segments, even when forced (the directory is never removed recursively).
    #[error("journal {journal}: not removing {dir}: it holds {file}, which is not a journal segment ({reason}); removing a journal removes only its own files, even with force", dir = dir.display(), file = file.display())]
    ForeignFile {
        /// The journal.
        journal: String,
        /// The journal's directory.
        dir: PathBuf,
        /// The file that is not a segment.
        file: PathBuf,
        /// What it is instead.
        reason: ForeignFileReason,
    },
    /// Remove refused: a writer is alive.
    #[error("{path} has a live writer{}; stop it first, or remove it with force", pid.map_or_else(String::new, |p| format!(" (pid {p})")), path = path.display())]
    InUse {
        /// The region file, or the journal's directory.
        path: PathBuf,
        /// The writer's pid, if known.
        pid: Option<u32>,
    },
}

/// Why a slot table operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlotError {
    /// Opening or creating the region failed.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// No slot has this key.
    #[error(
        "no slot {key:?} in {region}; the writer has not published it yet (check the key against the table's keys)"
    )]
    UnknownKey {
        /// The region.
        region: String,
        /// The key looked for.
        key: String,
    },
    /// Keys are at most [`crate::slots::KEY_MAX`] bytes of UTF-8 without NUL; a key registered
    /// by shmbus has no control characters either.
    #[error("invalid slot key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: KeyProblem,
    },
    /// Every slot is taken.
    #[error("slot table {region} is full ({capacity} slots); create a larger one")]
    Full {
        /// The region.
        region: String,
        /// Its capacity.
        capacity: u32,
    },
    /// The writer died in the middle of writing this slot: the value is lost until a new
    /// writer opens the table (which repairs it).
    #[error(
        "the writer of {region} died in the middle of writing slot {key:?} (sequence {seq}); a new writer repairs it on open"
    )]
    WriterDied {
        /// The region.
        region: String,
        /// The slot's key.
        key: String,
        /// The odd sequence left behind.
        seq: u64,
    },
    /// A live writer kept the slot mid-write for longer than the read timeout (stopped or
    /// descheduled).
    #[error(
        "slot {key:?} of {region} stayed mid-write for {waited_ms} ms while its writer is alive (is the writer stopped?)"
    )]
    Busy {
        /// The region.
        region: String,
        /// The slot's key.
        key: String,
        /// How long the reader waited.
        waited_ms: u64,
    },
    /// A slot id from another table or beyond the table.
    #[error("slot index {index} is out of range for {region} ({count} slots)")]
    BadSlot {
        /// The region.
        region: String,
        /// The index.
        index: u32,
        /// Slots in use.
        count: u32,
    },
    /// A run-time record layout that a slot table cannot hold.
    #[error("invalid record layout {name:?}: {reason}")]
    InvalidLayout {
        /// The layout's name.
        name: String,
        /// Why.
        reason: LayoutProblem,
    },
    /// A record buffer of the wrong size for the table.
    #[error(
        "slot records of {region} are {expected} bytes, got a buffer of {found} bytes; pass exactly one record of the table's layout"
    )]
    RecordSize {
        /// The region.
        region: String,
        /// The table's record size.
        expected: usize,
        /// The buffer's size.
        found: usize,
    },
}

/// What a slot table read can fail with ([`crate::SlotReader::read`], `read_if_changed`, `get`,
/// `find`, `sequence`, the raw reader's and the writers' reads): the read side's subset of
/// [`SlotError`], with the same messages and codes.
///
/// Exhaustive on purpose: a `match` over it covers everything a read can really report. `?`
/// turns it into a [`SlotError`] where a function returns the wider error.
#[derive(Debug, thiserror::Error)]
pub enum SlotReadError {
    /// The file was truncated while mapped, or the table's geometry is corrupt.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// No slot has this key.
    #[error(
        "no slot {key:?} in {region}; the writer has not published it yet (check the key against the table's keys)"
    )]
    UnknownKey {
        /// The region.
        region: String,
        /// The key looked for.
        key: String,
    },
    /// A key no slot can have (empty, too long, with NUL).
    #[error("invalid slot key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: KeyProblem,
    },
    /// The writer died in the middle of writing this slot.
    #[error(
        "the writer of {region} died in the middle of writing slot {key:?} (sequence {seq}); a new writer repairs it on open"
    )]
    WriterDied {
        /// The region.
        region: String,
        /// The slot's key.
        key: String,
        /// The odd sequence left behind.
        seq: u64,
    },
    /// A live writer kept the slot mid-write for longer than the read timeout.
    #[error(
        "slot {key:?} of {region} stayed mid-write for {waited_ms} ms while its writer is alive (is the writer stopped?)"
    )]
    Busy {
        /// The region.
        region: String,
        /// The slot's key.
        key: String,
        /// How long the reader waited.
        waited_ms: u64,
    },
    /// A slot id from another table or beyond the table.
    #[error("slot index {index} is out of range for {region} ({count} slots)")]
    BadSlot {
        /// The region.
        region: String,
        /// The index.
        index: u32,
        /// Slots in use.
        count: u32,
    },
    /// A raw read into a buffer of another size than the table's records.
    #[error(
        "slot records of {region} are {expected} bytes, got a buffer of {found} bytes; pass exactly one record of the table's layout"
    )]
    RecordSize {
        /// The region.
        region: String,
        /// The table's record size.
        expected: usize,
        /// The buffer's size.
        found: usize,
    },
}

/// What a slot table write can fail with ([`crate::SlotWriter::slot`], `put`, `write`,
/// `update`, and the raw writer's): the write side's subset of [`SlotError`], with the same
/// messages and codes.
///
/// Exhaustive on purpose, as [`SlotReadError`]; `?` turns it into a [`SlotError`].
#[derive(Debug, thiserror::Error)]
pub enum SlotWriteError {
    /// The file was truncated while mapped, or the table's geometry is corrupt.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// A key that cannot be registered (empty, too long, with NUL or control characters).
    #[error("invalid slot key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: KeyProblem,
    },
    /// Every slot is taken.
    #[error("slot table {region} is full ({capacity} slots); create a larger one")]
    Full {
        /// The region.
        region: String,
        /// Its capacity.
        capacity: u32,
    },
    /// A slot id from another table or beyond the table.
    #[error("slot index {index} is out of range for {region} ({count} slots)")]
    BadSlot {
        /// The region.
        region: String,
        /// The index.
        index: u32,
        /// Slots in use.
        count: u32,
    },
    /// A raw write of a buffer of another size than the table's records.
    #[error(
        "slot records of {region} are {expected} bytes, got a buffer of {found} bytes; pass exactly one record of the table's layout"
    )]
    RecordSize {
        /// The region.
        region: String,
        /// The table's record size.
        expected: usize,
        /// The buffer's size.
        found: usize,
    },
}

impl From<SlotReadError> for SlotError {
    fn from(e: SlotReadError) -> Self {
        match e {
            SlotReadError::Region(e) => Self::Region(e),
            SlotReadError::UnknownKey { region, key } => Self::UnknownKey { region, key },
            SlotReadError::InvalidKey { key, reason } => Self::InvalidKey { key, reason },
            SlotReadError::WriterDied { region, key, seq } => Self::WriterDied { region, key, seq },
            SlotReadError::Busy {
                region,
                key,
                waited_ms,
            } => Self::Busy {
                region,
                key,
                waited_ms,
            },
            SlotReadError::BadSlot {
                region,
                index,
                count,
            } => Self::BadSlot {
                region,
                index,
                count,
            },
            SlotReadError::RecordSize {
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

impl From<SlotWriteError> for SlotError {
    fn from(e: SlotWriteError) -> Self {
        match e {
            SlotWriteError::Region(e) => Self::Region(e),
            SlotWriteError::InvalidKey { key, reason } => Self::InvalidKey { key, reason },
            SlotWriteError::Full { region, capacity } => Self::Full { region, capacity },
            SlotWriteError::BadSlot {
                region,
                index,
                count,
            } => Self::BadSlot {
                region,
                index,
                count,
            },
            SlotWriteError::RecordSize {
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

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Opening, creating or locking a region failed.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// The message is larger than this journal accepts.
    #[error(
        "message of {len} bytes is larger than the maximum of {max} bytes for {journal} (a quarter of its data area, at most 1 GiB); create the journal with a larger size or segment size"
    )]
    MessageTooLarge {
        /// The journal.
        journal: String,
        /// The message's length.
        len: usize,
        /// The largest message allowed.
        max: usize,
    },
    /// The uncommitted batch no longer fits in the ring.
    #[error(
        "the uncommitted batch of {journal} would overwrite itself ({pending} bytes pending in a {capacity}-byte ring); commit more often"
    )]
    BatchTooLarge {
        /// The journal.
        journal: String,
        /// Bytes appended since the last commit.
        pending: u64,
        /// The ring's data area.
        capacity: u64,
    },
    /// The reader was lapped by the writer (ring), or the segments it needed were removed by
    /// retention: `lost` messages are gone. The reader has moved to the oldest message still
    /// available, `resume_seq`.
    #[error(
        "reader of {journal} was overrun: {lost} messages lost (sequences {expected_seq}..{resume_seq}); it resumes at sequence {resume_seq}"
    )]
    Overrun {
        /// The journal.
        journal: String,
        /// Messages lost.
        lost: u64,
        /// The sequence the reader expected.
        expected_seq: u64,
        /// Where the reader resumes.
        resume_seq: u64,
    },
    /// A frame is malformed: the journal was corrupted.
    #[error("corrupt frame in {journal} at position {position}: {what}")]
    Corrupt {
        /// The journal.
        journal: String,
        /// Logical position of the frame.
        position: u64,
        /// What is wrong.
        what: JournalCorruption,
    },
    /// The sequence asked for is no longer stored.
    #[error("sequence {seq} is no longer in {journal} (the oldest is {oldest})")]
    TooOld {
        /// The journal.
        journal: String,
        /// The sequence asked for.
        seq: u64,
        /// The oldest sequence available.
        oldest: u64,
    },
    /// The sequence asked for has not been written yet.
    #[error("sequence {seq} is not in {journal} yet (the next one will be {next})")]
    NotYet {
        /// The journal.
        journal: String,
        /// The sequence asked for.
        seq: u64,
        /// The next sequence the writer will append.
        next: u64,
    },
    /// The journal directory or one of its segments is unusable.
    #[error("journal {journal}: {what}")]
    Layout {
        /// The journal.
        journal: String,
        /// What is wrong (boxed: the error stays small on hot paths' results).
        what: Box<JournalLayoutProblem>,
    },
    /// Every entry of the journal's reader registry is held by a live process.
    #[error(
        "cannot register a reader of {journal}: all {capacity} entries of {registry} are held by live readers; stop one, or read without registering"
    )]
    ReadersFull {
        /// The journal.
        journal: String,
        /// The registry region.
        registry: String,
        /// Its number of entries.
        capacity: usize,
    },
    /// A reader name that cannot be registered.
    #[error("invalid reader name {name:?}: {reason}")]
    InvalidReaderName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
}

/// What [`crate::journal::JournalReader::next`], `next_timeout`, `prev` and `seek` can fail with: the
/// read side's subset of [`JournalError`], with the same messages and codes.
///
/// Exhaustive on purpose: a `match` over it covers everything a read can really report.
/// `?` turns it into a [`JournalError`] where a function returns the wider error.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The segment was truncated while mapped ([`RegionError::TruncatedWhileMapped`]), or the
    /// next segment of a persisted journal could not be opened.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// The reader was lapped by the writer (ring), or the segments it needed were removed by
    /// retention: `lost` messages are gone. The reader has moved to the oldest message still
    /// available, `resume_seq`, and the next read returns it.
    #[error(
        "reader of {journal} was overrun: {lost} messages lost (sequences {expected_seq}..{resume_seq}); it resumes at sequence {resume_seq}"
    )]
    Overrun {
        /// The journal.
        journal: String,
        /// Messages lost.
        lost: u64,
        /// The sequence the reader expected.
        expected_seq: u64,
        /// Where the reader resumes.
        resume_seq: u64,
    },
    /// A frame is malformed: the journal was corrupted.
    #[error("corrupt frame in {journal} at position {position}: {what}")]
    Corrupt {
        /// The journal.
        journal: String,
        /// Logical position of the frame.
        position: u64,
        /// What is wrong.
        what: JournalCorruption,
    },
    /// `seek`: the sequence asked for is no longer stored.
    #[error("sequence {seq} is no longer in {journal} (the oldest is {oldest})")]
    TooOld {
        /// The journal.
        journal: String,
        /// The sequence asked for.
        seq: u64,
        /// The oldest sequence available.
        oldest: u64,
    },
    /// `seek`: the sequence asked for has not been written yet.
    #[error("sequence {seq} is not in {journal} yet (the next one will be {next})")]
    NotYet {
        /// The journal.
        journal: String,
        /// The sequence asked for.
        seq: u64,
        /// The next sequence the writer will append.
        next: u64,
    },
    /// A persisted journal's directory no longer holds the segment to read next.
    #[error("journal {journal}: {what}")]
    Layout {
        /// The journal.
        journal: String,
        /// What is wrong.
        what: Box<JournalLayoutProblem>,
    },
}

/// What [`crate::journal::JournalWriter::append`], `append_commit` and `reserve` can fail with: the
/// write side's subset of [`JournalError`], with the same messages and codes.
///
/// Exhaustive on purpose, as [`ReadError`]; `?` turns it into a [`JournalError`].
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The segment was truncated while mapped, or the next segment of a persisted journal could
    /// not be created (no space, permissions).
    #[error(transparent)]
    Region(#[from] RegionError),
    /// The message is larger than this journal accepts.
    #[error(
        "message of {len} bytes is larger than the maximum of {max} bytes for {journal} (a quarter of its data area, at most 1 GiB); create the journal with a larger size or segment size"
    )]
    MessageTooLarge {
        /// The journal.
        journal: String,
        /// The message's length.
        len: usize,
        /// The largest message allowed.
        max: usize,
    },
    /// The uncommitted batch no longer fits in the ring.
    #[error(
        "the uncommitted batch of {journal} would overwrite itself ({pending} bytes pending in a {capacity}-byte ring); commit more often"
    )]
    BatchTooLarge {
        /// The journal.
        journal: String,
        /// Bytes appended since the last commit.
        pending: u64,
        /// The ring's data area.
        capacity: u64,
    },
    /// The frames a ring writer is about to overwrite are malformed (another process damaged
    /// the ring).
    #[error("corrupt frame in {journal} at position {position}: {what}")]
    Corrupt {
        /// The journal.
        journal: String,
        /// Logical position of the frame.
        position: u64,
        /// What is wrong.
        what: JournalCorruption,
    },
    /// A full segment cannot be followed by another (no directory, or no segment number left).
    #[error("journal {journal}: {what}")]
    Layout {
        /// The journal.
        journal: String,
        /// What is wrong.
        what: Box<JournalLayoutProblem>,
    },
}

impl From<ReadError> for JournalError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Region(e) => Self::Region(e),
            ReadError::Overrun {
                journal,
                lost,
                expected_seq,
                resume_seq,
            } => Self::Overrun {
                journal,
                lost,
                expected_seq,
                resume_seq,
            },
            ReadError::Corrupt {
                journal,
                position,
                what,
            } => Self::Corrupt {
                journal,
                position,
                what,
            },
            ReadError::TooOld {
                journal,
                seq,
                oldest,
            } => Self::TooOld {
                journal,
                seq,
                oldest,
            },
            ReadError::NotYet { journal, seq, next } => Self::NotYet { journal, seq, next },
            ReadError::Layout { journal, what } => Self::Layout { journal, what },
        }
    }
}

impl From<AppendError> for JournalError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Region(e) => Self::Region(e),
            AppendError::MessageTooLarge { journal, len, max } => {
                Self::MessageTooLarge { journal, len, max }
            }
            AppendError::BatchTooLarge {
                journal,
                pending,
                capacity,
            } => Self::BatchTooLarge {
                journal,
                pending,
                capacity,
            },
            AppendError::Corrupt {
                journal,
                position,
                what,
            } => Self::Corrupt {
                journal,
                position,
                what,
            },
            AppendError::Layout { journal, what } => Self::Layout { journal, what },
        }
    }
}

impl From<ReadError> for AppendError {
    /// A ring writer reads the frames it overwrites, and a segment's geometry is read when it
    /// opens: what such a read finds is the writer's error too. (`Overrun`, `TooOld` and
    /// `NotYet` cannot arise there; were they to, they would be reported as corruption at the
    /// position concerned rather than lost.)
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Region(e) => Self::Region(e),
            ReadError::Corrupt {
                journal,
                position,
                what,
            } => Self::Corrupt {
                journal,
                position,
                what,
            },
            ReadError::Layout { journal, what } => Self::Layout { journal, what },
            ReadError::Overrun {
                journal,
                expected_seq,
                ..
            } => Self::Corrupt {
                journal,
                position: expected_seq,
                what: JournalCorruption::Unexpected,
            },
            ReadError::TooOld { journal, seq, .. } | ReadError::NotYet { journal, seq, .. } => {
                Self::Corrupt {
                    journal,
                    position: seq,
                    what: JournalCorruption::Unexpected,
                }
            }
        }
    }
}

/// What is wrong with a journal's frames ([`JournalError::Corrupt`], [`ReadError::Corrupt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalCorruption {
    /// The bytes at the position are not a valid frame.
    Frame(crate::journal::FrameFault),
    /// The frame after the reader's position carries another sequence than the next one.
    SequenceGap {
        /// The sequence expected.
        expected: u64,
        /// The sequence found.
        found: u64,
    },
    /// The frame before the reader's position carries another sequence than the previous one.
    SequenceGapBackward {
        /// The sequence expected.
        expected: u64,
        /// The sequence found.
        found: u64,
    },
    /// Walking backward, a frame's trailing length does not lead back to a frame start.
    NoFrameStart,
    /// The committed position lies outside the data area.
    CommitOutside {
        /// Where the data area's positions start.
        from: u64,
        /// The data area's size.
        capacity: u64,
    },
    /// The last committed frame lies before the ring's horizon.
    LastFrameBeforeHorizon,
    /// The frames a ring writer overwrites do not lead to the committed end.
    OverwriteMissesCommit,
    /// A ring writer reading the frames it overwrites met a reader-only condition (lapped,
    /// or a sequence out of range): the ring's words disagree.
    Unexpected,
}

impl std::fmt::Display for JournalCorruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Frame(fault) => fault.fmt(f),
            Self::SequenceGap { expected, found } => {
                write!(f, "sequence gap: expected {expected}, found {found}")
            }
            Self::SequenceGapBackward { expected, found } => {
                write!(
                    f,
                    "sequence gap backward: expected {expected}, found {found}"
                )
            }
            Self::NoFrameStart => {
                f.write_str("trailing length does not lead back to a frame start")
            }
            Self::CommitOutside { from, capacity } => write!(
                f,
                "commit position outside the data area (from {from}, {capacity} bytes)"
            ),
            Self::LastFrameBeforeHorizon => {
                f.write_str("the last committed frame lies before the ring's horizon")
            }
            Self::OverwriteMissesCommit => {
                f.write_str("the frames to overwrite do not lead to the committed end")
            }
            Self::Unexpected => f.write_str("the ring's positions and sequences disagree"),
        }
    }
}

/// What is wrong with a journal's directory or segment numbering ([`JournalError::Layout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalLayoutProblem {
    /// A persisted journal's directory holds no segment file.
    NoSegmentFiles {
        /// The directory.
        dir: PathBuf,
    },
    /// A reader reached a sealed segment with the last possible number.
    LastSegmentSealed,
    /// The segment a reader needs next is gone and no later one exists.
    SegmentMissing {
        /// Its number.
        segment: u32,
    },
    /// A full segment opened on its own, not as part of its journal's directory.
    NotInDirectory,
    /// A full segment has the last segment number a journal can have: the message was not
    /// appended, and no later one can be.
    SegmentNumbersExhausted {
        /// Its number.
        segment: u32,
    },
}

impl std::fmt::Display for JournalLayoutProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSegmentFiles { dir } => write!(f, "no segment files in {}", dir.display()),
            Self::LastSegmentSealed => f.write_str("sealed segment has the last possible number"),
            Self::SegmentMissing { segment } => {
                write!(
                    f,
                    "segment {segment} is missing and no later segment exists"
                )
            }
            Self::NotInDirectory => {
                f.write_str("the segment is full and is not part of a journal directory to roll in")
            }
            Self::SegmentNumbersExhausted { segment } => write!(
                f,
                "segment {segment} is full and is the last segment number a journal can have \
                 ({}): this message was not appended, and no later one can be; start a new \
                 journal",
                u32::MAX
            ),
        }
    }
}

/// Why a file in a journal directory is not one of its segments
/// ([`RemoveError::ForeignFile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForeignFileReason {
    /// Its name is not a segment file's name.
    NotASegmentName,
    /// It is not a shmbus region.
    NotShmbus(NotARegionReason),
    /// A shmbus region of another kind.
    NotAJournalSegment,
    /// Not a regular file (what it is instead).
    NotRegular(&'static str),
    /// A symbolic link.
    Symlink,
}

impl std::fmt::Display for ForeignFileReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotASegmentName => f.write_str("not a segment file name"),
            Self::NotShmbus(why) => why.fmt(f),
            Self::NotAJournalSegment => f.write_str("a shmbus region, but not a journal segment"),
            Self::NotRegular(what) => f.write_str(what),
            Self::Symlink => f.write_str("a symbolic link"),
        }
    }
}

/// Why a file is not recognisably shmbus's own, so that remove refuses it
/// ([`RemoveError::NotARegion`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotARegionReason {
    /// An empty file: nothing says whose it is (a creator killed before reserving its space
    /// leaves one, but so do many other programs).
    Empty,
    /// Shorter than a region header.
    ShorterThanHeader,
    /// Long enough, but without a shmbus header.
    NoHeader,
    /// A directory (a persisted journal's place) without segment files.
    NoSegments,
}

impl std::fmt::Display for NotARegionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => {
                "an empty file; if a shmbus creator was killed before reserving its space, \
                 remove it with rm(1)"
            }
            Self::ShorterThanHeader => "shorter than a shmbus header",
            Self::NoHeader => "no shmbus header",
            Self::NoSegments => "a directory without segment files",
        })
    }
}

/// What is impossible in a region ([`RegionError::Corrupt`]): its header, or the table its kind
/// keeps at the body offset. The region was damaged or written by something other than shmbus:
/// remove it (with force) and recreate it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionCorruption {
    /// The header's own length field is not the length of a shmbus header.
    HeaderLength {
        /// The length the header gives.
        found: u32,
        /// The length of a shmbus header.
        expected: u32,
    },
    /// The body offset lies inside the header or past the end of the file.
    BodyOutside {
        /// The body offset the header gives.
        body: u64,
        /// The size of the file.
        file_size: u64,
    },
    /// A journal segment too small to hold the journal header.
    JournalHeaderOutside,
    /// A journal mode other than ring (1) or segment (2).
    JournalMode {
        /// The mode word.
        mode: u32,
    },
    /// The journal header's sizes and offsets contradict each other or the region's size.
    JournalGeometry {
        /// Bytes of the data area.
        capacity: u64,
        /// Offset of the data area.
        data_off: u64,
        /// Entries of the seek index.
        index_n: u32,
        /// Offset of the seek index.
        index_off: u64,
        /// Largest message.
        max_message: u32,
        /// Bytes of the region.
        len: u64,
    },
    /// A persisted journal's segment file carries another number than its name's.
    SegmentNumber {
        /// The number in the file's name.
        file: u32,
        /// The number the segment's header gives.
        says: u32,
    },
    /// A slot table whose header is not 8-byte aligned.
    SlotTableMisaligned {
        /// The body offset, where the table header is.
        offset: u64,
    },
    /// A slot table header, a slot or a slot's key lies outside the mapping.
    SlotOutside {
        /// What lies outside ("the slot table header", "a slot", "a slot key").
        what: &'static str,
        /// Bytes of the mapping.
        len: u64,
    },
    /// The table's slot geometry is not the one of the caller's record.
    SlotGeometry {
        /// Bytes from one slot to the next, as the table says.
        stride: u32,
        /// Bytes of a record, as the table says.
        record: u32,
        /// Bytes of a key, as the table says.
        key: u32,
        /// The caller's record name.
        record_name: String,
        /// The stride of the caller's record.
        expected_stride: u32,
        /// The size of the caller's record.
        expected_record: u32,
        /// The key length of this version.
        expected_key: u32,
    },
    /// The table's record size, read without a layout, is zero or not a multiple of 8.
    SlotRecordSize {
        /// The record size the table gives.
        record: u32,
    },
    /// The slots the table says it has do not fit in the region.
    SlotsDoNotFit {
        /// Slots the table says it has.
        capacity: u32,
        /// Bytes of each.
        stride: u32,
        /// Bytes of the region.
        len: u64,
    },
    /// A reader registry without room for its table header.
    RegistryNoTable {
        /// The body offset, where the table header belongs.
        offset: u64,
    },
    /// A reader registry's entry count or entry size is impossible.
    RegistryEntries {
        /// Entries the table says it has.
        capacity: u32,
        /// Bytes of each, as the table says.
        entry_len: u32,
        /// The most entries a registry has.
        max_capacity: u32,
        /// Bytes of an entry in this version.
        expected_len: u32,
    },
    /// A reader registry's entries run past the region's end (or are misaligned).
    RegistryPastEnd {
        /// Entries the table says it has.
        capacity: u32,
        /// Offset of the first entry.
        entries: u64,
        /// Offset just past the last entry.
        end: u64,
        /// Bytes of the region.
        len: u64,
    },
    /// A bridge's status region is damaged.
    BridgeStatus {
        /// What is wrong.
        fault: BridgeStatusFault,
        /// Whether it is the status of a `bridge in`: it holds the bridge's intent record, and
        /// without it the journal's copy of the stream starts over.
        intent: bool,
    },
}

impl std::fmt::Display for RegionCorruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HeaderLength { found, expected } => {
                write!(f, "header length {found} (expected {expected})")
            }
            Self::BodyOutside { body, file_size } => {
                write!(
                    f,
                    "body offset {body} outside the region ({file_size} bytes)"
                )
            }
            Self::JournalHeaderOutside => f.write_str("the journal header lies outside the region"),
            Self::JournalMode { mode } => write!(f, "unknown journal mode {mode}"),
            Self::JournalGeometry {
                capacity,
                data_off,
                index_n,
                index_off,
                max_message,
                len,
            } => write!(
                f,
                "impossible journal geometry: capacity {capacity}, data at {data_off}, index of \
                 {index_n} at {index_off}, max message {max_message}, in {len} bytes"
            ),
            Self::SegmentNumber { file, says } => {
                write!(f, "segment file {file} says it is segment {says}")
            }
            Self::SlotTableMisaligned { offset } => {
                write!(f, "the slot table offset {offset} is not 8-byte aligned")
            }
            Self::SlotOutside { what, len } => {
                write!(f, "{what} lies outside the {len} byte mapping")
            }
            Self::SlotGeometry {
                stride,
                record,
                key,
                record_name,
                expected_stride,
                expected_record,
                expected_key,
            } => write!(
                f,
                "slot geometry stride {stride}, record {record}, key {key} does not match \
                 {record_name} (stride {expected_stride}, record {expected_record}, key \
                 {expected_key})"
            ),
            Self::SlotRecordSize { record } => write!(
                f,
                "the slot record size {record} is not a non-zero multiple of 8"
            ),
            Self::SlotsDoNotFit {
                capacity,
                stride,
                len,
            } => write!(
                f,
                "{capacity} slots of {stride} bytes do not fit in {len} bytes"
            ),
            Self::RegistryNoTable { offset } => {
                write!(f, "reader registry: no table header at offset {offset}")
            }
            Self::RegistryEntries {
                capacity,
                entry_len,
                max_capacity,
                expected_len,
            } => write!(
                f,
                "reader registry: {capacity} entries of {entry_len} bytes (expected 1 to \
                 {max_capacity} of {expected_len}); remove the registry"
            ),
            Self::RegistryPastEnd {
                capacity,
                entries,
                end,
                len,
            } => write!(
                f,
                "reader registry: {capacity} entries from offset {entries} end at {end}, past \
                 the region's {len} bytes"
            ),
            Self::BridgeStatus { fault, intent } => {
                write!(f, "bridge status: {fault}; remove the region")?;
                if *intent {
                    f.write_str(
                        " (it holds the intent record of `bridge in`: without it the journal's \
                         copy of the stream starts over, so remove the journal too)",
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// What is wrong with a bridge's status region ([`RegionCorruption::BridgeStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BridgeStatusFault {
    /// The status body does not fit the region at its offset, or is misaligned.
    BodyOutside {
        /// The body offset.
        body: u64,
        /// Bytes of the body.
        body_len: u32,
        /// Bytes of the region.
        len: u64,
    },
    /// The body's length word is not this version's.
    BodyLength {
        /// The length the body gives.
        found: u32,
        /// The length of this version's body.
        expected: u32,
    },
    /// A direction code other than 1 (out) or 2 (in).
    Direction {
        /// The direction word.
        code: u32,
    },
    /// The region belongs to the bridge of the other direction.
    WrongDirection {
        /// The direction the region is for: `"out"` or `"in"`.
        found: &'static str,
        /// The direction asked for.
        expected: &'static str,
    },
}

impl std::fmt::Display for BridgeStatusFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::BodyOutside {
                body,
                body_len,
                len,
            } => write!(
                f,
                "a body of {body_len} bytes at offset {body} does not fit the region's {len} bytes"
            ),
            Self::BodyLength { found, expected } => {
                write!(f, "a body of {found} bytes (expected {expected})")
            }
            Self::Direction { code } => write!(f, "direction {code} (expected 1 out or 2 in)"),
            Self::WrongDirection { found, expected } => write!(
                f,
                "it is the region of a `bridge {found}`, not of a `bridge {expected}`"
            ),
        }
    }
}

/// Why a slot key is refused ([`SlotError::InvalidKey`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// The key is empty.
    Empty,
    /// The key is longer than [`crate::slots::KEY_MAX`] bytes.
    TooLong,
    /// The key contains a NUL byte.
    Nul,
    /// A new key contains a control character (keys already in a table stay usable).
    ControlCharacter,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "a key may not be empty",
            Self::TooLong => "a key has at most 31 bytes",
            Self::Nul => "a key may not contain NUL",
            Self::ControlCharacter => {
                "a new key may not contain control characters (newline, tab, escape...)"
            }
        })
    }
}

/// Why a run-time record layout cannot be a slot table's ([`SlotError::InvalidLayout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutProblem {
    /// The record name is empty, longer than 31 bytes or contains NUL.
    Name {
        /// The name.
        name: String,
    },
    /// The record size is zero or not a multiple of 8.
    Size {
        /// The size.
        size: u32,
    },
    /// A field ends beyond the record.
    FieldBeyondRecord {
        /// The field's name.
        field: String,
        /// Its offset.
        offset: u32,
        /// Its size in bytes.
        len: u32,
        /// The record's size.
        size: u32,
    },
    /// Two fields overlap.
    Overlap {
        /// The first field's name.
        first: String,
        /// The second field's name.
        second: String,
    },
    /// A field type a binding does not know (its text form, e.g. `"u128"`).
    UnknownFieldType {
        /// The type as given.
        ty: String,
    },
}

impl std::fmt::Display for LayoutProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name { name } => {
                write!(
                    f,
                    "the record name {name:?} must have 1 to 31 bytes and no NUL"
                )
            }
            Self::Size { size } => write!(
                f,
                "the record size {size} must be a non-zero multiple of 8 (add padding)"
            ),
            Self::FieldBeyondRecord {
                field,
                offset,
                len,
                size,
            } => write!(
                f,
                "field {field:?} (offset {offset}, {len} bytes) ends beyond the record size {size}"
            ),
            Self::Overlap { first, second } => write!(f, "fields {first:?} and {second:?} overlap"),
            Self::UnknownFieldType { ty } => write!(
                f,
                "unknown field type {ty:?} (u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, bool \
                 or bytesN)"
            ),
        }
    }
}

/// What is inconsistent in a candle region ([`CandleError::Corrupt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CandleCorruption {
    /// The QNXS magic number is wrong.
    Magic {
        /// The magic found (0 if unreadable).
        found: u32,
        /// The magic expected.
        expected: u32,
    },
    /// The QNXS format version is not the one this library reads.
    Version {
        /// The version found (0 if unreadable).
        found: u32,
        /// The version this library reads.
        expected: u32,
    },
    /// The region is shorter than its symbol index.
    ShorterThanIndex,
    /// An offset (of an index field or a block field) lies outside the region.
    OffsetOutside {
        /// The offset.
        offset: u64,
    },
    /// A series' block lies outside the data area.
    BlockOutside {
        /// The series' index entry.
        series: usize,
        /// Its symbol.
        symbol: String,
        /// The block's offset.
        block: u64,
        /// The region's size.
        len: u64,
    },
    /// A series' block does not fit the region, or holds more candles than its capacity.
    BlockOverflow {
        /// The series' index entry.
        series: usize,
        /// Its symbol.
        symbol: String,
        /// Its interval.
        interval: String,
        /// Candles it says it holds.
        count: u32,
        /// Candles its block can hold.
        capacity: u32,
        /// The block's offset.
        block: u64,
        /// The region's size.
        len: u64,
    },
    /// The index says it holds more series than it can.
    IndexCount {
        /// The count found.
        count: usize,
        /// The most the index holds.
        max: usize,
    },
    /// A series' candles lie outside the region.
    CandlesOutside,
    /// Two series' blocks overlap.
    BlocksOverlap {
        /// The offset of the later block.
        block: u64,
    },
}

impl std::fmt::Display for CandleCorruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Magic { found, expected } => write!(
                f,
                "not a QNXS candle region (magic {found:#010x}, expected {expected:#010x})"
            ),
            Self::Version { found, expected } => write!(
                f,
                "QNXS version {found} (this shmbus reads version {expected})"
            ),
            Self::ShorterThanIndex => f.write_str("shorter than its symbol index"),
            Self::OffsetOutside { offset } => write!(f, "offset {offset} outside the region"),
            Self::BlockOutside {
                series,
                symbol,
                block,
                len,
            } => write!(
                f,
                "series {series} ({symbol}) has its block at {block}, outside the data area \
                 (16640..{len})"
            ),
            Self::BlockOverflow {
                series,
                symbol,
                interval,
                count,
                capacity,
                block,
                len,
            } => write!(
                f,
                "series {series} ({symbol} {interval}): {count} candles in a block of {capacity} \
                 at {block} does not fit the region ({len} bytes)"
            ),
            Self::IndexCount { count, max } => write!(f, "index count {count} exceeds {max}"),
            Self::CandlesOutside => f.write_str("candles outside the region"),
            Self::BlocksOverlap { block } => {
                write!(f, "the block at {block} overlaps the one before it")
            }
        }
    }
}

/// Declares [`ErrorCode`] from one table: variant, number, snake_case name, meaning.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $number:literal, $name:literal;)*) => {
        /// The stable code of an error: one per error variant of the core, with a snake_case
        /// name ([`ErrorCode::as_str`]) and a number ([`ErrorCode::number`]) that never change
        /// meaning and are never reused (`docs/ERRORS.md` lists them with what to do).
        ///
        /// Programs and bindings match on the code, never on the message: messages may be
        /// reworded, codes may not. Numbers are grouped by area: 1xx regions, 2xx slot tables,
        /// 3xx journals, 4xx candle stores; none is below 100, so a code is never mistaken for
        /// a C status. New codes may be added.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u16)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant = $number,)*
        }

        impl ErrorCode {
            /// Every code, in number order.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)*];

            /// The stable snake_case name, e.g. `"writer_busy"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

error_codes! {
    /// A region name breaks a naming rule.
    InvalidName = 100, "invalid_name";
    /// No region or journal exists under that name.
    NotFound = 101, "not_found";
    /// Create is exclusive and the name is taken.
    AlreadyExists = 102, "already_exists";
    /// The name is a symbolic link; regions are never opened through one.
    Symlink = 103, "symlink";
    /// The name is a FIFO, socket, device or directory, not a regular file.
    NotRegularFile = 104, "not_regular_file";
    /// The region belongs to another user.
    ForeignOwner = 105, "foreign_owner";
    /// The operating system refused access.
    PermissionDenied = 106, "permission_denied";
    /// The file system cannot hold the region.
    NoSpace = 107, "no_space";
    /// The size asked for cannot hold the region's headers and one record.
    SizeTooSmall = 108, "size_too_small";
    /// The size asked for is beyond what shmbus supports.
    SizeTooLarge = 109, "size_too_large";
    /// The file is shorter than a region header.
    Truncated = 110, "truncated";
    /// The region's creator has not finished setting it up, or died doing so.
    NotReady = 111, "not_ready";
    /// The file is not a shmbus region (wrong magic number).
    BadMagic = 112, "bad_magic";
    /// The region was written by an incompatible format version.
    VersionMismatch = 113, "version_mismatch";
    /// The region holds another kind of data.
    KindMismatch = 114, "kind_mismatch";
    /// The region's records have another layout than the caller's.
    LayoutMismatch = 115, "layout_mismatch";
    /// Another process truncated the file while it was mapped; the handle is unusable.
    TruncatedWhileMapped = 116, "truncated_while_mapped";
    /// The file's size disagrees with its header.
    SizeMismatch = 117, "size_mismatch";
    /// A region header field is impossible.
    Corrupt = 118, "corrupt";
    /// Another process is the writer.
    WriterBusy = 119, "writer_busy";
    /// Remove refused a file that is not recognisably shmbus's own.
    NotARegion = 120, "not_a_region";
    /// Remove refused: a writer is alive.
    InUse = 121, "in_use";
    /// Any other I/O failure.
    Io = 122, "io";
    /// Remove refused a journal directory holding a file that is not one of its segments.
    ForeignFile = 123, "foreign_file";
    /// No slot has this key.
    UnknownKey = 200, "unknown_key";
    /// A slot key that cannot be stored.
    InvalidKey = 201, "invalid_key";
    /// Every slot of the table is taken.
    SlotsFull = 202, "slots_full";
    /// The slot's writer died in the middle of writing it.
    WriterDied = 203, "writer_died";
    /// A live writer kept the slot mid-write for longer than the read timeout.
    SlotBusy = 204, "slot_busy";
    /// A slot id from another table or beyond the table.
    BadSlot = 205, "bad_slot";
    /// A run-time record layout that a slot table cannot hold.
    InvalidLayout = 206, "invalid_layout";
    /// A record buffer of the wrong size for the table.
    RecordSize = 207, "record_size";
    /// The message is larger than the journal accepts.
    MessageTooLarge = 300, "message_too_large";
    /// The uncommitted batch no longer fits in the ring.
    BatchTooLarge = 301, "batch_too_large";
    /// The reader was lapped or its segments removed: messages were lost.
    Overrun = 302, "overrun";
    /// A journal frame is malformed.
    JournalCorrupt = 303, "journal_corrupt";
    /// The sequence asked for is no longer stored.
    TooOld = 304, "too_old";
    /// The sequence asked for has not been written yet.
    NotYet = 305, "not_yet";
    /// The journal directory or one of its segments is unusable.
    JournalLayout = 306, "journal_layout";
    /// Every entry of the journal's reader registry is held by a live reader.
    ReadersFull = 307, "readers_full";
    /// A reader name that cannot be registered.
    InvalidReaderName = 308, "invalid_reader_name";
    /// A candle symbol or interval that does not fit the format.
    InvalidSeriesName = 400, "invalid_series_name";
    /// A candle of the batch is invalid; nothing was written.
    InvalidCandle = 401, "invalid_candle";
    /// The batch starts before the last stored candle; nothing was written.
    OutOfOrder = 402, "out_of_order";
    /// The candle region is full.
    CandlesFull = 403, "candles_full";
    /// No series with this symbol and interval.
    SeriesNotFound = 404, "series_not_found";
    /// The candle region's index already holds its maximum of series.
    TooManySeries = 405, "too_many_series";
    /// A series would exceed its candle limit.
    TooManyCandles = 406, "too_many_candles";
    /// The candle region's index or blocks are inconsistent.
    CandlesCorrupt = 407, "candles_corrupt";
    /// No consistent candle read: the writer kept writing, or died mid-write.
    CandlesBusy = 408, "candles_busy";
}

impl ErrorCode {
    /// The stable number, e.g. 119 for `writer_busy` (the C binding's
    /// `shmbus_last_error_code()`).
    pub const fn number(self) -> u32 {
        self as u16 as u32
    }

    /// The code with this number, if there is one.
    pub fn from_number(number: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.number() == number)
    }

    /// The code with this snake_case name, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RegionError {
    /// The stable code of this error (`docs/ERRORS.md`).
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::InvalidName { .. } => C::InvalidName,
            Self::NotFound { .. } => C::NotFound,
            Self::AlreadyExists { .. } => C::AlreadyExists,
            Self::Symlink { .. } => C::Symlink,
            Self::NotRegularFile { .. } => C::NotRegularFile,
            Self::ForeignOwner { .. } => C::ForeignOwner,
            Self::PermissionDenied { .. } => C::PermissionDenied,
            Self::NoSpace { .. } => C::NoSpace,
            Self::SizeTooSmall { .. } => C::SizeTooSmall,
            Self::SizeTooLarge { .. } => C::SizeTooLarge,
            Self::Truncated { .. } => C::Truncated,
            Self::NotReady { .. } => C::NotReady,
            Self::BadMagic { .. } => C::BadMagic,
            Self::VersionMismatch { .. } => C::VersionMismatch,
            Self::KindMismatch { .. } => C::KindMismatch,
            Self::LayoutMismatch { .. } => C::LayoutMismatch,
            Self::TruncatedWhileMapped { .. } => C::TruncatedWhileMapped,
            Self::SizeMismatch { .. } => C::SizeMismatch,
            Self::Corrupt { .. } => C::Corrupt,
            Self::WriterBusy { .. } => C::WriterBusy,
            Self::Io { .. } => C::Io,
        }
    }
}

impl RemoveError {
    /// The stable code of this error (`docs/ERRORS.md`): a [`RegionError`]'s own, else
    /// `not_a_region`, `foreign_file` or `in_use`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Region(e) => e.code(),
            Self::NotARegion { .. } => ErrorCode::NotARegion,
            Self::ForeignFile { .. } => ErrorCode::ForeignFile,
            Self::InUse { .. } => ErrorCode::InUse,
        }
    }
}

impl SlotError {
    /// The stable code of this error (`docs/ERRORS.md`); a region error gives its own code.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::Region(e) => e.code(),
            Self::UnknownKey { .. } => C::UnknownKey,
            Self::InvalidKey { .. } => C::InvalidKey,
            Self::Full { .. } => C::SlotsFull,
            Self::WriterDied { .. } => C::WriterDied,
            Self::Busy { .. } => C::SlotBusy,
            Self::BadSlot { .. } => C::BadSlot,
            Self::InvalidLayout { .. } => C::InvalidLayout,
            Self::RecordSize { .. } => C::RecordSize,
        }
    }
}

impl SlotReadError {
    /// The stable code of this error (`docs/ERRORS.md`): the same as the [`SlotError`] it
    /// converts into.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::Region(e) => e.code(),
            Self::UnknownKey { .. } => C::UnknownKey,
            Self::InvalidKey { .. } => C::InvalidKey,
            Self::WriterDied { .. } => C::WriterDied,
            Self::Busy { .. } => C::SlotBusy,
            Self::BadSlot { .. } => C::BadSlot,
            Self::RecordSize { .. } => C::RecordSize,
        }
    }
}

impl SlotWriteError {
    /// The stable code of this error (`docs/ERRORS.md`): the same as the [`SlotError`] it
    /// converts into.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::Region(e) => e.code(),
            Self::InvalidKey { .. } => C::InvalidKey,
            Self::Full { .. } => C::SlotsFull,
            Self::BadSlot { .. } => C::BadSlot,
            Self::RecordSize { .. } => C::RecordSize,
        }
    }
}

impl ReadError {
    /// The stable code of this error (`docs/ERRORS.md`): the same as the [`JournalError`] it
    /// converts into.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::Region(e) => e.code(),
            Self::Overrun { .. } => C::Overrun,
            Self::Corrupt { .. } => C::JournalCorrupt,
            Self::TooOld { .. } => C::TooOld,
            Self::NotYet { .. } => C::NotYet,
            Self::Layout { .. } => C::JournalLayout,
        }
    }
}

impl AppendError {
    /// The stable code of this error (`docs/ERRORS.md`): the same as the [`JournalError`] it
    /// converts into.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::Region(e) => e.code(),
            Self::MessageTooLarge { .. } => C::MessageTooLarge,
            Self::BatchTooLarge { .. } => C::BatchTooLarge,
            Self::Corrupt { .. } => C::JournalCorrupt,
            Self::Layout { .. } => C::JournalLayout,
        }
    }
}

impl JournalError {
    /// The stable code of this error (`docs/ERRORS.md`); a region error gives its own code.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::Region(e) => e.code(),
            Self::MessageTooLarge { .. } => C::MessageTooLarge,
            Self::BatchTooLarge { .. } => C::BatchTooLarge,
            Self::Overrun { .. } => C::Overrun,
            Self::Corrupt { .. } => C::JournalCorrupt,
            Self::TooOld { .. } => C::TooOld,
            Self::NotYet { .. } => C::NotYet,
            Self::Layout { .. } => C::JournalLayout,
            Self::ReadersFull { .. } => C::ReadersFull,
            Self::InvalidReaderName { .. } => C::InvalidReaderName,
        }
    }
}

/// QuantNexus writer error codes, kept so users of the original writer recognise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QnxsCode {
    /// 1: a symbol or interval that cannot be stored.
    InvalidName = 1,
    /// 2: a region size that cannot work.
    InvalidSize = 2,
    /// 3: the region file could not be created.
    CreateFailed = 3,
    /// 4: the region could not be mapped.
    MappingFailed = 4,
    /// 5: a write failed (out of space, invalid data, out of order).
    WriteFailed = 5,
    /// 6: no such series.
    SymbolNotFound = 6,
    /// 7: more than 256 series.
    SymbolLimitExceeded = 7,
    /// 8: more candles in a series than allowed.
    CandleLimitExceeded = 8,
    /// 9: not a usable candle region.
    NotInitialized = 9,
}

impl QnxsCode {
    /// The code's name, e.g. `"WRITE_FAILED"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvalidName => "INVALID_NAME",
            Self::InvalidSize => "INVALID_SIZE",
            Self::CreateFailed => "CREATE_FAILED",
            Self::MappingFailed => "MAPPING_FAILED",
            Self::WriteFailed => "WRITE_FAILED",
            Self::SymbolNotFound => "SYMBOL_NOT_FOUND",
            Self::SymbolLimitExceeded => "SYMBOL_LIMIT_EXCEEDED",
            Self::CandleLimitExceeded => "CANDLE_LIMIT_EXCEEDED",
            Self::NotInitialized => "NOT_INITIALIZED",
        }
    }

    /// The code's number, 1 to 9.
    pub const fn number(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for QnxsCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QNXS error {} {}", self.number(), self.name())
    }
}

/// Why a candle store operation failed. Each message starts with its QNXS error code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CandleError {
    /// Opening or creating the region failed.
    // Not `#[source]`: the message already includes it, and error chains would repeat it.
    #[error("{code}: {error}", code = CandleError::region_code(error))]
    Region {
        /// The region error.
        error: RegionError,
    },
    /// A symbol or interval that does not fit the format.
    #[error("{}: invalid {what} {value:?}: {reason}", QnxsCode::InvalidName)]
    InvalidName {
        /// "symbol" or "interval".
        what: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A candle of the batch is invalid; nothing was written.
    #[error(
        "{}: candle {index} of the batch (timestamp {timestamp}) is invalid: {reason}; nothing was written",
        QnxsCode::WriteFailed
    )]
    InvalidCandle {
        /// Its index in the batch.
        index: usize,
        /// Its timestamp.
        timestamp: u64,
        /// What is wrong.
        reason: String,
    },
    /// The batch starts before the last stored candle; nothing was written.
    #[error(
        "{}: {symbol} {interval}: candle {index} (timestamp {timestamp}) is older than the last stored candle ({last}); nothing was written (to overwrite that range use replace_candles)",
        QnxsCode::WriteFailed
    )]
    OutOfOrder {
        /// The series' symbol.
        symbol: String,
        /// The series' interval.
        interval: String,
        /// Index in the batch.
        index: usize,
        /// Its timestamp.
        timestamp: u64,
        /// The last stored timestamp.
        last: u64,
    },
    /// The region is full.
    #[error(
        "{}: region {region} is full: the write needs {needed} more bytes but {free} are free (of {size}); create it with at least {suggested} bytes",
        QnxsCode::WriteFailed
    )]
    Full {
        /// The region.
        region: String,
        /// Bytes the write needs.
        needed: u64,
        /// Bytes free.
        free: u64,
        /// The region's size.
        size: u64,
        /// A size that would hold the data with room to grow.
        suggested: u64,
    },
    /// No such series.
    #[error(
        "{}: no series {symbol} {interval} in {region}",
        QnxsCode::SymbolNotFound
    )]
    NotFound {
        /// The region.
        region: String,
        /// Symbol.
        symbol: String,
        /// Interval.
        interval: String,
    },
    /// The index is full.
    #[error(
        "{}: {region} already holds {max} series",
        QnxsCode::SymbolLimitExceeded
    )]
    TooManySeries {
        /// The region.
        region: String,
        /// The limit.
        max: usize,
    },
    /// A series would exceed its candle limit.
    #[error(
        "{}: {symbol} {interval} would hold {count} candles, more than the limit of {max}",
        QnxsCode::CandleLimitExceeded
    )]
    TooManyCandles {
        /// Symbol.
        symbol: String,
        /// Interval.
        interval: String,
        /// Candles it would hold.
        count: u64,
        /// The limit.
        max: u32,
    },
    /// The region's index or blocks are inconsistent.
    #[error("{}: {region} is corrupt: {what}", QnxsCode::NotInitialized)]
    Corrupt {
        /// The region.
        region: String,
        /// What is wrong (boxed: it is large, and `CandleError` is returned on hot paths).
        what: Box<CandleCorruption>,
    },
    /// A reader could not get a consistent copy: the writer kept writing (or died mid-write).
    #[error(
        "{}: {region}: no consistent read after {attempts} attempts (is the writer stuck mid-write?)",
        QnxsCode::NotInitialized
    )]
    Busy {
        /// The region.
        region: String,
        /// Attempts made.
        attempts: u32,
    },
}

impl From<RegionError> for CandleError {
    fn from(error: RegionError) -> Self {
        Self::Region { error }
    }
}

impl CandleError {
    fn region_code(e: &RegionError) -> QnxsCode {
        match e {
            RegionError::InvalidName { .. } => QnxsCode::InvalidName,
            RegionError::SizeTooSmall { .. } | RegionError::SizeTooLarge { .. } => {
                QnxsCode::InvalidSize
            }
            RegionError::AlreadyExists { .. }
            | RegionError::NoSpace { .. }
            | RegionError::PermissionDenied { .. } => QnxsCode::CreateFailed,
            RegionError::Io { .. } => QnxsCode::MappingFailed,
            _ => QnxsCode::NotInitialized,
        }
    }

    /// The stable code of this error (`docs/ERRORS.md`), as every core error has; a region
    /// error gives its own code. (For candle stores, [`CandleError::code`] is the QNXS code, the
    /// contract of the original QuantNexus writer.)
    pub fn error_code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::Region { error } => error.code(),
            Self::InvalidName { .. } => C::InvalidSeriesName,
            Self::InvalidCandle { .. } => C::InvalidCandle,
            Self::OutOfOrder { .. } => C::OutOfOrder,
            Self::Full { .. } => C::CandlesFull,
            Self::NotFound { .. } => C::SeriesNotFound,
            Self::TooManySeries { .. } => C::TooManySeries,
            Self::TooManyCandles { .. } => C::TooManyCandles,
            Self::Corrupt { .. } => C::CandlesCorrupt,
            Self::Busy { .. } => C::CandlesBusy,
        }
    }

    /// The QNXS error code of this error.
    pub fn code(&self) -> QnxsCode {
        match self {
            Self::Region { error } => Self::region_code(error),
            Self::InvalidName { .. } => QnxsCode::InvalidName,
            Self::InvalidCandle { .. } | Self::OutOfOrder { .. } | Self::Full { .. } => {
                QnxsCode::WriteFailed
            }
            Self::NotFound { .. } => QnxsCode::SymbolNotFound,
            Self::TooManySeries { .. } => QnxsCode::SymbolLimitExceeded,
            Self::TooManyCandles { .. } => QnxsCode::CandleLimitExceeded,
            Self::Corrupt { .. } | Self::Busy { .. } => QnxsCode::NotInitialized,
        }
    }
}
