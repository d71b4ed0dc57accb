//! Helpers of the unit tests.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU32, Ordering};

/// A unique region name under /tmp, removed (forcibly) on drop.
pub(crate) struct TempName {
    name: String,
    c: CString,
}

impl TempName {
    pub(crate) fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "/tmp/shmbus-c-test-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let c = CString::new(name.clone()).unwrap();
        Self { name, c }
    }

    pub(crate) fn c(&self) -> &CStr {
        &self.c
    }
}

impl std::ops::Deref for TempName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

impl Drop for TempName {
    fn drop(&mut self) {
        if std::path::Path::new(&self.name).is_dir() {
            let _ = shmbus::journal::remove(&self.name, true);
        } else {
            let _ = shmbus::Region::remove(&self.name, true);
        }
    }
}

/// This thread's last error message.
pub(crate) fn last_error() -> String {
    // SAFETY: the library returns a NUL-terminated string valid until the next failing call.
    unsafe { CStr::from_ptr(crate::status::shmbus_last_error()) }
        .to_string_lossy()
        .into_owned()
}
