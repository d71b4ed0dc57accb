//! Region names: a POSIX shared-memory name (`prices`, `/prices` → `/dev/shm/prices`) or a file
//! path (any name with a `/` after its first character, e.g. `./data/prices.shm`).

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::RegionError;

pub use crate::os::SHM_DIR;
use crate::os::SHM_NAME_MAX;

/// A validated region name and the file that backs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegionName {
    display: String,
    path: PathBuf,
    shm: bool,
}

impl RegionName {
    /// Parses and validates a name.
    ///
    /// A name without a `/` after its first character is a shared-memory name: letters, digits,
    /// `.`, `_` and `-`, at most 255 bytes, not `.` or `..`. Anything else is a file path, which
    /// may not contain a `..` component.
    ///
    /// # Errors
    ///
    /// [`RegionError::InvalidName`] saying which rule the name breaks.
    pub fn parse(name: &str) -> Result<Self, RegionError> {
        let invalid = |reason: &str| RegionError::InvalidName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.is_empty() || name == "/" {
            return Err(invalid("the name is empty"));
        }
        if name.contains('\0') {
            return Err(invalid("the name contains a NUL byte"));
        }
        let bare = name.strip_prefix('/').unwrap_or(name);
        if !bare.contains('/') {
            if bare == "." || bare == ".." {
                return Err(invalid("`.` and `..` are not region names"));
            }
            if bare.len() > SHM_NAME_MAX {
                return Err(invalid("a shared-memory name has at most 255 bytes"));
            }
            if let Some(c) = bare
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            {
                return Err(invalid(&format!(
                    "character {c:?} is not allowed in a shared-memory name (use letters, digits, \
                     `.`, `_`, `-`, or give a file path containing `/`)"
                )));
            }
            return Ok(Self {
                display: bare.to_owned(),
                path: Path::new(SHM_DIR).join(bare),
                shm: true,
            });
        }
        let path = PathBuf::from(name);
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(invalid("a region path may not contain `..`"));
        }
        if name.ends_with('/') {
            return Err(invalid("a region path names a file, not a directory"));
        }
        Ok(Self {
            display: name.to_owned(),
            path,
            shm: false,
        })
    }

    /// The file that backs the region.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this is a POSIX shared-memory name (as opposed to a file path).
    pub fn is_shm(&self) -> bool {
        self.shm
    }

    /// The name as the user should type it (without the leading `/` of a shm name).
    pub fn as_str(&self) -> &str {
        &self.display
    }
}

impl fmt::Display for RegionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shm_names_map_to_dev_shm() {
        let n = RegionName::parse("/trading_data").unwrap();
        assert!(n.is_shm());
        assert_eq!(n.path(), Path::new("/dev/shm/trading_data"));
        assert_eq!(n.as_str(), "trading_data");
        assert_eq!(RegionName::parse("trading_data").unwrap(), n);
    }

    #[test]
    fn paths_are_files() {
        let n = RegionName::parse("./data/prices.shm").unwrap();
        assert!(!n.is_shm());
        assert_eq!(n.path(), Path::new("./data/prices.shm"));
        assert!(!RegionName::parse("/tmp/x/y").unwrap().is_shm());
    }

    #[test]
    fn bad_names_are_refused_with_a_reason() {
        for bad in [
            "", "/", "..", "/..", ".", "a b", "a\0b", "x/../y", "../x", "dir/", "ä",
        ] {
            match RegionName::parse(bad) {
                Err(RegionError::InvalidName { reason, .. }) => assert!(!reason.is_empty()),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(RegionName::parse(&"x".repeat(256)).is_err());
        assert!(RegionName::parse(&"x".repeat(255)).is_ok());
    }
}
