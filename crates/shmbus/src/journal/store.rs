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
        source,
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
