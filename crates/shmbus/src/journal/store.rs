//! Where a journal lives: one ring file, or a directory of segment files.

use std::path::{Path, PathBuf};

use crate::error::{ForeignFileReason, RegionError, RemoveError};
use crate::header::RegionKind;
use crate::name::RegionName;
use crate::os;

/// Segment files are named by their number, zero-padded so that names sort in order.
pub(crate) fn segment_file(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:010}.seg"))
}

/// The journal's path: `/dev/shm/NAME` for a shm name, else the path given.
pub(crate) fn journal_path(name: &str) -> Result<PathBuf, RegionError> {
    Ok(RegionName::parse(name)?.path().to_path_buf())
}

/// The journal's path and what is there (a ring file or a persisted journal's directory),
/// without following a symbolic link.
pub(crate) fn journal_meta(name: &str) -> Result<(PathBuf, os::PathStat), RegionError> {
    let path = journal_path(name)?;
    match os::path_stat(&path) {
        Ok(meta) => Ok((path, meta)),
        Err(e) if os::failure(&e) == os::Failure::NotFound => Err(RegionError::NotFound {
            name: name.to_owned(),
            path,
        }),
        Err(e) => Err(io_err(&path, "stat", e)),
    }
}

/// The segment numbers present in `dir`, sorted.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u32>, RegionError> {
    let rd = os::list_dir(dir).map_err(|e| io_err(dir, "list", e))?;
    let mut out: Vec<u32> = rd
        .filter_map(Result::ok)
        .filter_map(|e| segment_number(&e.name))
        .collect();
    out.sort_unstable();
    Ok(out)
}

pub(crate) fn io_err(path: &Path, op: &'static str, source: std::io::Error) -> RegionError {
    RegionError::Io {
        op,
        path: path.to_path_buf(),
        error: source,
    }
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
/// directory with its segment files, then the journal's reader registry (`NAME.readers`), if
/// it has one.
///
/// A directory is removed only if it holds nothing but segment files (`NNNNNNNNNN.seg`, regular
/// files, each with a journal region's header, or empty: a segment whose creator was killed),
/// and at least one: anything else in it is named and refused, **even with `force`**, and the
/// directory is never removed recursively (its segments are unlinked one by one, then the empty
/// directory). `force` only skips the check for a live writer.
///
/// # Errors
///
/// [`RemoveError::InUse`] (with the writer's pid when known), [`RemoveError::NotARegion`] for
/// a directory without segment files, [`RemoveError::ForeignFile`] for one holding anything
/// else, the errors of [`crate::Region::remove`] for anything that is not a directory, and the
/// region errors of finding and unlinking the files ([`RemoveError::Region`]).
pub fn remove(name: &str, force: bool) -> Result<(), RemoveError> {
    let (path, meta) = journal_meta(name)?;
    if !meta.is_dir() {
        // (A ring journal's reader registry goes with it.)
        return crate::Region::remove(name, force);
    }
    let mut segments = Vec::new();
    for entry in os::list_dir(&path).map_err(|e| io_err(&path, "list", e))? {
        let entry = entry.map_err(|e| io_err(&path, "list", e))?;
        let file = entry.path;
        let foreign = |reason| RemoveError::ForeignFile {
            journal: name.to_owned(),
            dir: path.clone(),
            file: file.clone(),
            reason,
        };
        if segment_number(&entry.name).is_none() {
            return Err(foreign(ForeignFileReason::NotASegmentName));
        }
        match crate::region::identify(&file) {
            Ok((st, crate::region::Identity::Shmbus(Some(RegionKind::Journal))))
            | Ok((st, crate::region::Identity::Unpublished | crate::region::Identity::Empty)) => {
                segments.push((file, st));
            }
            Ok((_, crate::region::Identity::Foreign(why))) => {
                return Err(foreign(ForeignFileReason::NotShmbus(why)));
            }
            Ok(_) => return Err(foreign(ForeignFileReason::NotAJournalSegment)),
            Err(e) => match os::failure(&e) {
                os::Failure::NotRegular(what) => {
                    return Err(foreign(ForeignFileReason::NotRegular(what)));
                }
                os::Failure::Symlink => return Err(foreign(ForeignFileReason::Symlink)),
                _ => return Err(io_err(&file, "read the header of", e).into()),
            },
        }
    }
    if segments.is_empty() {
        return Err(RemoveError::NotARegion {
            path,
            reason: crate::NotARegionReason::NoSegments,
        });
    }
    if !force {
        let fd = os::open_dir(&path).map_err(|e| io_err(&path, "open", e))?;
        if os::writer_lock_held(&fd).map_err(|e| io_err(&path, "probe the lock of", e))? {
            return Err(RemoveError::InUse {
                pid: super::writer::dir_writer_pid(&path),
                path,
            });
        }
    }
    for (file, st) in &segments {
        os::unlink_same(file, st).map_err(|e| io_err(file, "remove", e))?;
    }
    os::remove_dir(&path).map_err(|e| io_err(&path, "remove", e))?;
    super::readers::remove_registry(name)?;
    Ok(crate::bridge_status::remove_bridges(name)?)
}

/// The number of a segment file name (`NNNNNNNNNN.seg`: ten decimal digits), if it is one.
fn segment_number(name: &std::ffi::OsStr) -> Option<u32> {
    let stem = name.to_str()?.strip_suffix(".seg")?;
    if stem.len() != 10 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Whether `path` is a persisted journal: a directory (not a symbolic link to one, which no
/// command would open) with at least one segment file.
pub fn is_persisted_journal(path: &Path) -> bool {
    os::path_stat(path).is_ok_and(|m| m.is_dir())
        && list_segments(path).is_ok_and(|s| !s.is_empty())
}
