//! Region and segment files: open, stat, reserve, permissions, unlink.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FallocateFlags, Mode, OFlags};

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
/// message names it; [`super::failure`] gives it as [`super::Failure::NotRegular`].
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
///
/// Linux: `lstat`, `open(O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, ...)`, `fstat`, and for
/// [`OpenMode::CreateNew`] an `fchmod` to exactly the bits asked for (the umask may have cleared
/// some); a failed `fchmod` is an error. Returns the open descriptor.
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
        set_mode(&fd, perm)?;
    }
    Ok(fd)
}

/// Opens the file `fd` is open on again, read-write: the very same file even if its name was
/// removed, replaced or is relative to a directory the process has left since. Fails as an
/// `open` would if the caller may not write the file.
///
/// Linux: `open("/proc/self/fd/N", O_RDWR | O_CLOEXEC | O_NONBLOCK)` (permissions are checked
/// against the file as for any open). Without /proc: `ENOENT`.
pub(crate) fn reopen_write(fd: impl AsFd) -> io::Result<OwnedFd> {
    let link = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    let fd = rustix::fs::open(
        link.as_str(),
        OFlags::RDWR | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    require_regular(rustix::fs::FileType::from_raw_mode(
        rustix::fs::fstat(&fd)?.st_mode,
    ))?;
    Ok(fd)
}

/// Sets the permission bits of an open file or directory to exactly `mode`.
///
/// Linux: `fchmod`. Returns its error (`EPERM` when the caller does not own the file, or the
/// file system refuses mode changes, as procfs does); never ignored by a caller.
pub(crate) fn set_mode(fd: impl AsFd, mode: u32) -> io::Result<()> {
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(Into::into)
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
    /// Whether the file has no name left (it was removed while open: no hard link counts it).
    pub unlinked: bool,
}

/// The size, owner, permission bits, type and identity (device, inode) of an open file.
///
/// Linux: `fstat`. A negative size (impossible for a regular file) reads as 0.
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
        unlinked: st.st_nlink == 0,
    })
}

/// What is at a path, without following a symbolic link (a journal's ring file or directory).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathStat {
    is_dir: bool,
    mode: u32,
}

impl PathStat {
    /// Whether it is a directory (not a symbolic link to one).
    pub(crate) fn is_dir(&self) -> bool {
        self.is_dir
    }

    /// Its permission bits.
    pub(crate) fn mode(&self) -> u32 {
        self.mode
    }
}

/// What is at `path`, without following a symbolic link.
///
/// Linux: `lstat`. Errors as `lstat`'s ([`super::Failure::NotFound`] when nothing is there).
pub(crate) fn path_stat(path: &Path) -> io::Result<PathStat> {
    let st = rustix::fs::lstat(path)?;
    Ok(PathStat {
        is_dir: rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory,
        mode: st.st_mode & 0o7777,
    })
}

/// The size in bytes of the file at `path`, following symbolic links (`stat`).
pub(crate) fn file_len(path: &Path) -> io::Result<u64> {
    Ok(u64::try_from(rustix::fs::stat(path)?.st_size).unwrap_or(0))
}

/// Reserves `len` bytes of real storage, so that a full tmpfs fails here with `ENOSPC`
/// ([`super::Failure::NoSpace`]) instead of raising SIGBUS at the first touch of a page.
///
/// Linux: `posix_fallocate` (`fallocate` with no flags), which also extends the file to `len`.
pub(crate) fn reserve(fd: impl AsFd, len: u64) -> io::Result<()> {
    rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, len).map_err(Into::into)
}

/// Free bytes on the file system holding `fd`, for error messages; `None` if unknown.
///
/// Linux: `fstatvfs`, `f_bavail * f_frsize`.
pub(crate) fn free_space(fd: impl AsFd) -> Option<u64> {
    let vfs = rustix::fs::fstatvfs(fd).ok()?;
    Some(vfs.f_bavail.saturating_mul(vfs.f_frsize))
}

/// Fills `buf` from the file's bytes at `offset`, without moving the file position.
///
/// Linux: `pread`, repeated until `buf` is full; a file that ends first gives
/// [`io::ErrorKind::UnexpectedEof`].
pub(crate) fn read_exact_at(fd: impl AsFd, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    let fd = fd.as_fd();
    while !buf.is_empty() {
        match rustix::io::pread(fd, &mut *buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Removes the name `path` (`unlink`); mappings and descriptors of the file stay valid.
pub(crate) fn unlink(path: &Path) -> io::Result<()> {
    rustix::fs::unlink(path).map_err(Into::into)
}

/// Unlinks `path` if it is still the file `st` describes (same device and inode): a file
/// swapped in under the name after it was checked is left alone, with an error saying so.
///
/// Linux: `lstat`, then `unlink`.
pub(crate) fn unlink_same(path: &Path, st: &FileStat) -> io::Result<()> {
    let now = rustix::fs::lstat(path)?;
    if (now.st_dev, now.st_ino) != (st.dev, st.ino) {
        return Err(io::Error::other(
            "the file was replaced while it was being checked; nothing removed, retry",
        ));
    }
    unlink(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed permission change is returned, not ignored: procfs refuses every mode change of
    /// a process's directory with `EPERM`, even to root, so `set_mode` (the `fchmod` behind
    /// [`open`]'s create and [`super::super::create_dir`]) must give that error.
    #[test]
    fn a_refused_mode_change_is_an_error() {
        let dir = std::path::PathBuf::from(format!("/proc/{}", super::super::pid()));
        let fd = super::super::open_dir(&dir).expect("open the process's /proc directory");
        let before = rustix::fs::fstat(&fd).unwrap().st_mode & 0o7777;
        let e = set_mode(&fd, 0o700).expect_err("procfs refuses fchmod");
        assert_eq!(
            super::super::failure(&e),
            super::super::Failure::Denied,
            "{e}"
        );
        assert_eq!(rustix::fs::fstat(&fd).unwrap().st_mode & 0o7777, before);
    }

    /// `create_dir` sets exactly the bits asked for, whatever the umask, and refuses an
    /// existing path.
    #[test]
    fn create_dir_sets_exact_bits() {
        let dir = std::env::temp_dir().join(format!("shmbus-os-mkdir-{}", std::process::id()));
        let _ = std::fs::remove_dir(&dir);
        let old = rustix::process::umask(Mode::from_raw_mode(0o077));
        let made = super::super::create_dir(&dir, 0o770);
        rustix::process::umask(old);
        made.expect("create the directory");
        assert_eq!(path_stat(&dir).unwrap().mode(), 0o770);
        assert!(path_stat(&dir).unwrap().is_dir());
        let again = super::super::create_dir(&dir, 0o700).expect_err("it exists");
        assert_eq!(super::super::failure(&again), super::super::Failure::Exists);
        super::super::remove_dir(&dir).unwrap();
    }
}
