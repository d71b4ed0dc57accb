//! Directories: a persisted journal's directory of segment files, and region listings.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// Where POSIX shared-memory objects live on Linux (what `shm_open` uses): a shared-memory name
/// `NAME` is the file `SHM_DIR/NAME`.
pub const SHM_DIR: &str = "/dev/shm";

/// Longest shared-memory name, as `NAME_MAX` on Linux.
pub(crate) const SHM_NAME_MAX: usize = 255;

/// Opens a directory (never through a symlink), for its writer lock and listing.
///
/// Linux: `open(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)`. A symbolic link gives `ELOOP`
/// ([`super::Failure::Symlink`]), a file `ENOTDIR`.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Into::into)
}

/// Creates the directory `path` with exactly the permission bits `mode`, whatever the umask.
///
/// Linux: `mkdir(path, mode)`, then `open` of the new directory (`O_NOFOLLOW`, so a symbolic
/// link swapped in meanwhile is refused, never followed) and `fchmod`. An existing path gives
/// [`super::Failure::Exists`] and is left alone. If the permissions cannot be set (`fchmod`
/// fails), the new directory is removed again and the error returned: a journal is never left
/// with permissions other than those asked for.
pub(crate) fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    rustix::fs::mkdir(path, Mode::from_raw_mode(mode))?;
    let set = open_dir(path).and_then(|fd| super::file::set_mode(&fd, mode));
    if let Err(e) = set {
        let _ = remove_dir(path);
        return Err(e);
    }
    Ok(())
}

/// Removes an empty directory (`rmdir`); a non-empty one gives `ENOTEMPTY`.
pub(crate) fn remove_dir(path: &Path) -> io::Result<()> {
    rustix::fs::rmdir(path).map_err(Into::into)
}

/// One name in a directory listing.
#[derive(Debug, Clone)]
pub(crate) struct DirEntry {
    /// The entry's file name.
    pub name: OsString,
    /// The directory joined with the name.
    pub path: PathBuf,
    /// Whether it is a regular file (a symbolic link is not; neither is an entry whose type
    /// could not be read).
    pub is_file: bool,
}

/// The entries of `dir` (without `.` and `..`), in directory order. The outer error is the
/// directory's (it cannot be opened); an inner one an entry's (it could not be read).
///
/// Linux: `opendir` and `readdir` (the entry's type from `d_type`, or `lstat` where the file
/// system does not fill it).
pub(crate) fn list_dir(dir: &Path) -> io::Result<impl Iterator<Item = io::Result<DirEntry>>> {
    Ok(std::fs::read_dir(dir)?.map(|entry| {
        let entry = entry?;
        Ok(DirEntry {
            name: entry.file_name(),
            path: entry.path(),
            is_file: entry.file_type().is_ok_and(|t| t.is_file()),
        })
    }))
}
