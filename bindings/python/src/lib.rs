//! Python bindings for shmbus: the native module `shmbus._shmbus`.
//!
//! Everything here wraps the Rust core (crate `shmbus`); no region format is implemented
//! twice. The Python package `shmbus` (bindings/python/python/shmbus) builds the public API on
//! these classes:
//!
//! * [`slots::RawSlotWriter`], [`slots::RawSlotReader`]: slot tables of run-time record
//!   layouts (TradingData and user records, packed in Python);
//! * [`journal::JournalWriter`], [`journal::JournalReader`], [`journal::Message`]: the
//!   journal, with GIL-free blocking waits;
//! * [`candles::CandleWriter`], [`candles::CandleReader`]: QNXS candle regions as numpy arrays;
//! * errors mapped one class per kind (module `errors`, classes in `shmbus/errors.py`).

pub mod candles;
mod errors;
pub mod journal;
pub mod slots;

use pyo3::prelude::*;

use crate::errors::OrRaise;

/// Removes region `name` (a slot table, candle region, ring journal or persisted journal
/// directory). Refuses while a writer is alive unless `force`.
#[pyfunction]
#[pyo3(signature = (name, force = false))]
fn remove(py: Python<'_>, name: &str, force: bool) -> PyResult<()> {
    py.detach(|| shmbus::journal::remove(name, force))
        .or_raise()
}

/// The file that backs region `name` (`prices` → `/dev/shm/prices`).
#[pyfunction]
fn region_path(name: &str) -> PyResult<String> {
    let parsed = shmbus::RegionName::parse(name).or_raise()?;
    Ok(parsed.path().display().to_string())
}

/// Nanoseconds since the Unix epoch (the clock shmbus stamps records with).
#[pyfunction]
fn now_unix_ns() -> u64 {
    shmbus::now_unix_ns()
}

/// The native module `shmbus._shmbus`.
#[pymodule]
fn _shmbus(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<slots::RawSlotWriter>()?;
    m.add_class::<slots::RawSlotReader>()?;
    m.add_class::<journal::Message>()?;
    m.add_class::<journal::JournalWriter>()?;
    m.add_class::<journal::JournalReader>()?;
    m.add_class::<candles::CandleWriter>()?;
    m.add_class::<candles::CandleReader>()?;
    m.add_function(wrap_pyfunction!(remove, m)?)?;
    m.add_function(wrap_pyfunction!(region_path, m)?)?;
    m.add_function(wrap_pyfunction!(now_unix_ns, m)?)?;
    m.add("CANDLE_DTYPE", candles::candle_dtype(py)?)?;
    m.add("DEFAULT_CANDLE_REGION_SIZE", shmbus::candles::DEFAULT_SIZE)?;
    m.add("DEFAULT_MAX_CANDLES", shmbus::candles::DEFAULT_MAX_CANDLES)?;
    m.add("MAX_SERIES", shmbus::candles::MAX_SERIES)?;
    m.add("SYMBOL_MAX", shmbus::candles::SYMBOL_MAX)?;
    m.add("INTERVAL_MAX", shmbus::candles::INTERVAL_MAX)?;
    m.add("KEY_MAX", shmbus::slots::KEY_MAX)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
