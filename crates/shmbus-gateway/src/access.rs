//! Which regions a request may name: every shared-memory name, and a file-path region only
//! when it was named on the command line (`--region`). Names go through the core's parser, so a
//! URL cannot reach `..`, an absolute path or anything outside what was configured.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use shmbus::RegionName;

use crate::Config;
use crate::error::ApiError;

/// The serving policy.
#[derive(Debug)]
pub(crate) struct Access {
    /// The `--region` paths, as given and canonicalised (when they exist at start).
    allowed: HashSet<PathBuf>,
    /// The `--region` names as given, for listing.
    pub(crate) regions: Vec<String>,
}

fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

impl Access {
    pub(crate) fn new(config: &Config) -> Self {
        let mut allowed = HashSet::new();
        for r in &config.regions {
            if let Ok(n) = RegionName::parse(r) {
                allowed.insert(n.path().to_path_buf());
                allowed.extend(canonical(n.path()));
            }
        }
        Self {
            allowed,
            regions: config.regions.clone(),
        }
    }

    /// The name to open for `raw` (a name taken from a URL or a WebSocket message), or why
    /// it may not be served.
    pub(crate) fn resolve(&self, raw: &str) -> Result<String, ApiError> {
        let name = RegionName::parse(raw)?;
        if name.is_shm() {
            return Ok(name.as_str().to_owned());
        }
        let path = name.path();
        // Both the path as given and its real location must be one the operator named: a
        // symlink placed next to an allowed file does not lead elsewhere.
        let given = self.allowed.contains(path);
        let real = canonical(path).is_none_or(|c| self.allowed.contains(&c));
        if given && real {
            return Ok(name.as_str().to_owned());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_served",
            format!(
                "region path {raw} is not served: file-path regions are served only when named on the command line (shmbus serve --region {raw})"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shm_names_are_served_paths_only_when_named() {
        let dir = std::env::temp_dir().join(format!("shmbus-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let allowed = dir.join("a.shm");
        std::fs::write(&allowed, b"x").unwrap();
        let config = Config {
            regions: vec![allowed.to_str().unwrap().to_owned()],
            ..Config::default()
        };
        let access = Access::new(&config);
        assert_eq!(access.resolve("/prices").unwrap(), "prices");
        assert_eq!(
            access.resolve(allowed.to_str().unwrap()).unwrap(),
            allowed.to_str().unwrap()
        );
        let code = |n: &str| access.resolve(n).unwrap_err().code;
        assert_eq!(code(dir.join("b.shm").to_str().unwrap()), "not_served");
        assert_eq!(code("/etc/passwd"), "not_served");
        for bad in ["..", "../x", "a/../b", "a b", "x\0y", ""] {
            assert_eq!(code(bad), "invalid_name", "{bad:?}");
        }
        // The allowed name, replaced by a symlink to elsewhere after start: refused.
        std::fs::remove_file(&allowed).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &allowed).unwrap();
        assert_eq!(code(allowed.to_str().unwrap()), "not_served");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
