//! Every system call shmbus makes lives here; the rest of the crate speaks in safe types.
//!
//! Regions are plain files: a POSIX shared-memory name is the file `/dev/shm/NAME` (exactly what
//! glibc's `shm_open` opens), so one code path opens both, always with `O_NOFOLLOW | O_CLOEXEC`,
//! and only ever a regular file (see [`open`]).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::fs::{FallocateFlags, FlockOperation, Mode, OFlags};

/// How to open a region's file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OpenMode {
    /// `O_RDONLY`: readers never write, so they can never SIGSEGV/SIGBUS on a write.
    Read,
    /// `O_RDWR` on an existing file.
    Write,
    /// `O_RDWR | O_CREAT | O_EXCL` with the given permission bits.
    CreateNew(u32),
}

/// The error [`open`] returns for a path that is not a regular file: what it is instead (for
/// "PATH is a FIFO, not a regular file"). Carried inside an [`io::Error`], so every caller's
/// message names it; `region.rs` turns it into `RegionError::NotRegularFile`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotRegular(pub &'static str);

impl std::fmt::Display for NotRegular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "it is {}, not a regular file", self.0)
    }
}

impl std::error::Error for NotRegular {}

/// What a file of this type is, for messages ("a FIFO"); `None` for a regular file.
fn non_regular_kind(file_type: rustix::fs::FileType) -> Option<&'static str> {
    use rustix::fs::FileType as T;
    match file_type {
        T::RegularFile => None,
        T::Directory => Some("a directory"),
        T::Fifo => Some("a FIFO (named pipe)"),
        T::Socket => Some("a socket"),
        T::CharacterDevice => Some("a character device"),
        T::BlockDevice => Some("a block device"),
        T::Symlink => Some("a symbolic link"),
        _ => Some("not a file"),
    }
}

/// [`NotRegular`] for a file of this type, `Ok` for a regular file.
fn require_regular(file_type: rustix::fs::FileType) -> io::Result<()> {
    match non_regular_kind(file_type) {
        None => Ok(()),
        Some(what) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            NotRegular(what),
        )),
    }
}

/// What a non-regular file is, if `e` is the error [`open`] gave for one.
pub(crate) fn not_regular(e: &io::Error) -> Option<&'static str> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<NotRegular>())
        .map(|n| n.0)
}

/// Opens a region or segment file. Never blocks and never opens anything but a regular file: the
/// path is `lstat`ed first, and anything else (a FIFO, whose open would block until a writer
/// comes; a device, whose open may act; a directory; a socket) is refused with a [`NotRegular`]
/// error before it is opened. The open itself is `O_NONBLOCK` and checked again with `fstat`, so a
/// file swapped for a FIFO in between cannot block it either. (`O_NONBLOCK` does nothing to a
/// regular file's reads, `mmap` or `flock`.) A symbolic link gives `ELOOP`, as `O_NOFOLLOW` does.
pub(crate) fn open(path: &Path, mode: OpenMode) -> io::Result<OwnedFd> {
    let base = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if !matches!(mode, OpenMode::CreateNew(_)) {
        // (O_CREAT | O_EXCL never opens an existing file, nor follows a link.)
        let st = rustix::fs::lstat(path)?;
        let file_type = rustix::fs::FileType::from_raw_mode(st.st_mode);
        if file_type == rustix::fs::FileType::Symlink {
            return Err(rustix::io::Errno::LOOP.into());
        }
        require_regular(file_type)?;
    }
    let (flags, perm) = match mode {
        OpenMode::Read => (base | OFlags::RDONLY, 0),
        OpenMode::Write => (base | OFlags::RDWR, 0),
        OpenMode::CreateNew(perm) => (base | OFlags::RDWR | OFlags::CREATE | OFlags::EXCL, perm),
    };
    let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(perm))?;
    require_regular(rustix::fs::FileType::from_raw_mode(
        rustix::fs::fstat(&fd)?.st_mode,
    ))?;
    if let OpenMode::CreateNew(perm) = mode {
        // The umask may have cleared bits (e.g. group access): set exactly what was asked.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(perm))?;
    }
    Ok(fd)
}

/// What `fstat` says about an open region file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileStat {
    pub size: u64,
    pub uid: u32,
    pub mode: u32,
    pub is_regular: bool,
    pub dev: u64,
    pub ino: u64,
}

pub(crate) fn stat(fd: impl AsFd) -> io::Result<FileStat> {
    let st = rustix::fs::fstat(fd)?;
    let file_type = rustix::fs::FileType::from_raw_mode(st.st_mode);
    Ok(FileStat {
        size: u64::try_from(st.st_size).unwrap_or(0),
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
        is_regular: file_type == rustix::fs::FileType::RegularFile,
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// Reserves `len` bytes of real storage (`posix_fallocate`), so that a full tmpfs fails here with
/// `ENOSPC` instead of raising SIGBUS at the first touch of a page.
pub(crate) fn reserve(fd: impl AsFd, len: u64) -> io::Result<()> {
    rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, len).map_err(Into::into)
}

/// Free bytes on the file system holding `fd`, for error messages.
pub(crate) fn free_space(fd: impl AsFd) -> Option<u64> {
    let vfs = rustix::fs::fstatvfs(fd).ok()?;
    Some(vfs.f_bavail.saturating_mul(vfs.f_frsize))
}

/// Tries to take the exclusive writer lock. `Ok(false)` if another open file holds it.
///
/// `flock` locks belong to the open file description, and the kernel drops them when the last
/// descriptor closes, which includes the death of the process by any signal.
pub(crate) fn try_lock_exclusive(fd: impl AsFd) -> io::Result<bool> {
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether some open file description holds the exclusive writer lock of this file.
///
/// Takes and at once drops a shared lock on `fd` (which must not hold the writer lock itself).
pub(crate) fn writer_lock_held(fd: impl AsFd) -> io::Result<bool> {
    let fd = fd.as_fd();
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            rustix::fs::flock(fd, FlockOperation::Unlock)?;
            Ok(false)
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Opens a directory (never through a symlink), for its writer lock and listing.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Into::into)
}

pub(crate) fn unlink(path: &Path) -> io::Result<()> {
    rustix::fs::unlink(path).map_err(Into::into)
}

pub(crate) fn pid() -> u32 {
    rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether a process with this pid exists (it may belong to another user).
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`), comparable across processes.
pub fn now_unix_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// As [`now_unix_ns`] from `CLOCK_REALTIME_COARSE`: a few ns instead of about 20, at the
/// resolution of the kernel tick (1-4 ms), for timestamps that only humans read.
pub(crate) fn now_unix_ns_coarse() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Sleeps until `word` no longer holds `expected`, a `wake` on it, or the timeout.
///
/// A shared (not process-private) futex: it works across processes and on read-only mappings.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = rustix::thread::futex::Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // EAGAIN (value changed), ETIMEDOUT and EINTR all mean "look again": the caller re-checks.
    let _ = rustix::thread::futex::wait(
        word,
        rustix::thread::futex::Flags::empty(),
        expected,
        Some(&ts),
    );
}

/// Wakes every waiter sleeping on `word`, in any process.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), u32::MAX);
}
