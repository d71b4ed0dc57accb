//! Python bindings for shmbus.

use pyo3::prelude::*;

/// The native module `shmbus._shmbus`.
#[pymodule]
fn _shmbus(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
