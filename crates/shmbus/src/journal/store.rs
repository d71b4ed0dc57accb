//! Where a journal lives: one ring file, or a directory of segment files.

use std::path::{Path, PathBuf};

use crate::error::{JournalError, RegionError};
use crate::name::RegionName;

/// Segment files are named by their number, zero-padded so that names sort in order.
pub(crate) fn segment_file(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:010}.seg"))
}

/// The journal's path: `/dev/shm/NAME` for a shm name, else the path given.
pub(crate) fn journal_path(name: &str) -> Result<PathBuf, JournalError> {
    Ok(RegionName::parse(name)?.path().to_path_buf())
}

/// The journal's path and what is there (a ring file or a persisted journal's directory),
/// without following a symbolic link.
pub(crate) fn journal_meta(name: &str) -> Result<(PathBuf, std::fs::Metadata), JournalError> {
    let path = journal_path(name)?;
    match std::fs::symlink_metadata(&path) {
        Ok(meta) => Ok((path, meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(JournalError::Region(RegionError::NotFound {
                name: name.to_owned(),
                path,
            }))
        }
        Err(e) => Err(io_err(&path, "stat", e)),
    }
}

/// The segment numbers present in `dir`, sorted.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u32>, JournalError> {
    let rd = std::fs::read_dir(dir).map_err(|e| io_err(dir, "list", e))?;
    let mut out: Vec<u32> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            let stem = name.strip_suffix(".seg")?;
            (stem.len() == 10).then(|| stem.parse().ok())?
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

pub(crate) fn io_err(path: &Path, op: &'static str, source: std::io::Error) -> JournalError {
    JournalError::Region(RegionError::Io {
        op,
        path: path.to_path_buf(),
        error: source,
    })
}

pub(crate) fn seg_name(dir: &Path, index: u32) -> String {
    let p = segment_file(dir, index);
    let s = p.to_string_lossy().into_owned();
    // A bare relative directory name ("trades") still yields a path with a '/'.
    if s.starts_with('/') || s.starts_with("./") {
        s
    } else {
        format!("./{s}")
    }
}

/// Removes a journal: a ring file (as [`crate::Region::remove`]) or a persisted journal's
/// directory with its segment files. Refuses while a writer is alive, and refuses a directory
/// holding anything but segment files, unless `force`.
///
/// # Errors
///
/// [`RegionError::InUse`], [`RegionError::NotFound`], [`JournalError::Layout`] for a directory
/// that is not a journal, and I/O errors.
pub fn remove(name: &str, force: bool) -> Result<(), JournalError> {
    let (path, meta) = journal_meta(name)?;
    if !meta.is_dir() {
        return crate::Region::remove(name, force).map_err(Into::into);
    }
    let entries: Vec<_> = std::fs::read_dir(&path)
        .map_err(|e| io_err(&path, "list", e))?
        .filter_map(Result::ok)
        .collect();
    let segments = list_segments(&path)?;
    if !force && entries.len() != segments.len() {
        return Err(JournalError::Layout {
            journal: name.to_owned(),
            what: format!(
                "{} holds files that are not journal segments; not removing it (pass --force)",
                path.display()
            ),
        });
    }
    if !force {
        let fd = crate::os::open_dir(&path).map_err(|e| io_err(&path, "open", e))?;
        if crate::os::writer_lock_held(&fd).map_err(|e| io_err(&path, "probe the lock of", e))? {
            return Err(RegionError::InUse { path, pid: None }.into());
        }
    }
    std::fs::remove_dir_all(&path).map_err(|e| io_err(&path, "remove", e))
}

/// Whether `path` is a persisted journal: a directory with at least one segment file.
pub fn is_persisted_journal(path: &Path) -> bool {
    path.is_dir() && list_segments(path).is_ok_and(|s| !s.is_empty())
}
