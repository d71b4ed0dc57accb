//! Candles: QNXS candle regions read into numpy structured arrays and written from them.
//!
//! A read is the core's validated, never-torn copy of the series (`read_series_into`, run with
//! the GIL released), whose buffer is then handed to numpy without a second copy: the array
//! owns it. There is no view of the shared mapping itself: the writer rewrites the live bar
//! in place and moves a growing series to a new block, reusing the old block for other series,
//! so a view could change or be reused under the caller.

use numpy::{Element, IntoPyArray, PyArray1, PyArrayDescr, PyArrayDescrMethods, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use shmbus::candles::{
    Candle, CandleReader as CoreReader, CandleStats, CandleWriter as CoreWriter,
    DEFAULT_MAX_CANDLES, DEFAULT_SIZE, SeriesInfo,
};

use crate::errors::{OrRaise, closed};

/// A candle as numpy sees it: the core's 48-byte `Candle` (timestamp u64 ms, open, high, low,
/// close, volume f64), under a local type so that it can implement numpy's `Element`.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct NpCandle(Candle);

const _: () = assert!(std::mem::size_of::<NpCandle>() == 48);

static DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();

/// The fields of the numpy dtype, in memory order, all little-endian.
const FIELDS: [(&str, &str); 6] = [
    ("timestamp", "<u8"),
    ("open", "<f8"),
    ("high", "<f8"),
    ("low", "<f8"),
    ("close", "<f8"),
    ("volume", "<f8"),
];

/// Builds the candle dtype and checks that numpy lays it out as the Rust struct.
pub(crate) fn candle_dtype(py: Python<'_>) -> PyResult<Bound<'_, PyArrayDescr>> {
    let descr = DTYPE.get_or_try_init(py, || -> PyResult<_> {
        let d = PyArrayDescr::new(py, PyList::new(py, FIELDS)?)?;
        let offsets = [0usize, 8, 16, 24, 32, 40];
        let fields = d.getattr("fields")?;
        for ((name, _), want) in FIELDS.iter().zip(offsets) {
            let at: usize = fields.get_item(name)?.get_item(1)?.extract()?;
            if at != want {
                return Err(PyValueError::new_err(format!(
                    "numpy placed candle field {name} at {at}, expected {want}"
                )));
            }
        }
        if d.itemsize() != 48 {
            return Err(PyValueError::new_err("numpy candle dtype is not 48 bytes"));
        }
        Ok(d.unbind())
    })?;
    Ok(descr.bind(py).clone())
}

// SAFETY: `NpCandle` is a `repr(transparent)` wrapper of the core's `repr(C)` `Candle`: a u64
// then five f64, 48 bytes without padding (asserted above and in the core), plain data with no
// pointers, valid for every bit pattern (`Pod`). Its dtype names exactly these six fields at
// offsets 0, 8, ..., 40 with itemsize 48, little-endian like the target (the core refuses
// big-endian builds), and `candle_dtype` checks numpy's placement when it is built (at module
// import), so numpy and Rust read the same bytes the same way. `IS_COPY` holds: no Python
// objects inside.
unsafe impl Element for NpCandle {
    const IS_COPY: bool = true;

    fn get_dtype(py: Python<'_>) -> Bound<'_, PyArrayDescr> {
        candle_dtype(py).expect("the candle dtype was built when the module was imported")
    }

    fn clone_ref(&self, _py: Python<'_>) -> Self {
        *self
    }
}

/// Hands a series to numpy: the vector's buffer becomes the array's (no copy).
fn to_array(py: Python<'_>, candles: Vec<Candle>) -> Bound<'_, PyArray1<NpCandle>> {
    bytemuck::allocation::cast_vec::<Candle, NpCandle>(candles).into_pyarray(py)
}

/// The candles of a numpy array of the candle dtype (contiguous).
fn as_candles<'a>(array: &'a PyReadonlyArray1<'_, NpCandle>) -> PyResult<&'a [Candle]> {
    let slice = array.as_slice().map_err(|_| {
        PyValueError::new_err("the candle array must be contiguous (use numpy.ascontiguousarray)")
    })?;
    Ok(bytemuck::cast_slice(slice))
}

fn stats_dict<'py>(py: Python<'py>, s: &CandleStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("totalSymbols", s.total_symbols)?;
    d.set_item("totalCandles", s.total_candles)?;
    d.set_item("memoryUsed", s.memory_used)?;
    d.set_item("lastWriteUs", s.last_write_us)?;
    d.set_item("writeCount", s.write_count)?;
    Ok(d)
}

type SeriesTuple = (String, String, u32, u32, u64, u64, u64);

fn series_tuple(s: SeriesInfo) -> SeriesTuple {
    (
        s.symbol,
        s.interval,
        s.count,
        s.capacity,
        s.start_ts,
        s.end_ts,
        s.last_update_us,
    )
}

type CandleTuple = (u64, f64, f64, f64, f64, f64);

fn candle_tuple(c: Candle) -> CandleTuple {
    (c.timestamp, c.open, c.high, c.low, c.close, c.volume)
}

/// A read-only view of a candle region (shmbus's own or the original QuantNexus writer's).
#[pyclass(module = "shmbus._shmbus")]
#[derive(Debug)]
pub struct CandleReader {
    inner: Option<CoreReader>,
    name: String,
}

impl CandleReader {
    fn r(&self) -> PyResult<&CoreReader> {
        self.inner.as_ref().ok_or_else(|| closed("CandleReader"))
    }
}

#[pymethods]
impl CandleReader {
    /// Opens candle region `name` read-only.
    #[new]
    fn new(py: Python<'_>, name: &str) -> PyResult<Self> {
        let r = py.detach(|| CoreReader::open(name)).or_raise()?;
        Ok(Self {
            inner: Some(r),
            name: name.to_owned(),
        })
    }

    /// The series as a numpy structured array (a validated copy owned by the array).
    fn read<'py>(
        &self,
        py: Python<'py>,
        symbol: &str,
        interval: &str,
    ) -> PyResult<Bound<'py, PyArray1<NpCandle>>> {
        let r = self.r()?;
        let candles = py
            .detach(|| {
                let mut out = Vec::new();
                r.read_series_into(symbol, interval, &mut out).map(|_| out)
            })
            .or_raise()?;
        Ok(to_array(py, candles))
    }

    /// The candles with `start_ms <= timestamp < end_ms`.
    fn range<'py>(
        &self,
        py: Python<'py>,
        symbol: &str,
        interval: &str,
        start_ms: u64,
        end_ms: u64,
    ) -> PyResult<Bound<'py, PyArray1<NpCandle>>> {
        let r = self.r()?;
        let candles = py
            .detach(|| r.range(symbol, interval, start_ms, end_ms))
            .or_raise()?;
        Ok(to_array(py, candles))
    }

    /// The last candle of the series as a tuple, `None` if it is empty.
    fn latest(&self, symbol: &str, interval: &str) -> PyResult<Option<CandleTuple>> {
        Ok(self
            .r()?
            .latest(symbol, interval)
            .or_raise()?
            .map(candle_tuple))
    }

    /// Every series: (symbol, interval, count, capacity, start_ts, end_ts, last_update_us).
    fn list_series(&self) -> PyResult<Vec<SeriesTuple>> {
        Ok(self
            .r()?
            .list_series()
            .or_raise()?
            .into_iter()
            .map(series_tuple)
            .collect())
    }

    /// Statistics as seed 000's `getStats()`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.r()?.stats().or_raise()?)
    }

    /// Whether the region was written by the original QuantNexus writer.
    #[getter]
    fn is_foreign(&self) -> PyResult<bool> {
        Ok(self.r()?.is_foreign())
    }

    /// The region's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Unmaps the region.
    fn close(&mut self) {
        self.inner = None;
    }
}

/// The writer of a candle region (holds the writer lock while open).
#[pyclass(module = "shmbus._shmbus")]
#[derive(Debug)]
pub struct CandleWriter {
    inner: Option<CoreWriter>,
    name: String,
}

impl CandleWriter {
    fn w(&self) -> PyResult<&CoreWriter> {
        self.inner.as_ref().ok_or_else(|| closed("CandleWriter"))
    }

    fn w_mut(&mut self) -> PyResult<&mut CoreWriter> {
        self.inner.as_mut().ok_or_else(|| closed("CandleWriter"))
    }
}

#[pymethods]
impl CandleWriter {
    /// Creates a candle region (exclusive; a live region is never re-initialised).
    #[staticmethod]
    #[pyo3(signature = (name, size = DEFAULT_SIZE, max_candles = DEFAULT_MAX_CANDLES, group_shared = false))]
    fn create(
        py: Python<'_>,
        name: &str,
        size: u64,
        max_candles: u32,
        group_shared: bool,
    ) -> PyResult<Self> {
        let b = CoreWriter::builder(name)
            .size(size)
            .max_candles(max_candles)
            .group_shared(group_shared);
        let w = py.detach(|| b.create()).or_raise()?;
        Ok(Self {
            inner: Some(w),
            name: name.to_owned(),
        })
    }

    /// Opens an existing shmbus candle region as its writer.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<Self> {
        let w = py.detach(|| CoreWriter::open(name)).or_raise()?;
        Ok(Self {
            inner: Some(w),
            name: name.to_owned(),
        })
    }

    /// Writes a contiguous array of the candle dtype (validated, all or nothing); returns
    /// (written, replaced, count).
    fn write_candles(
        &mut self,
        symbol: &str,
        interval: &str,
        candles: PyReadonlyArray1<'_, NpCandle>,
    ) -> PyResult<(usize, usize, u32)> {
        let c = as_candles(&candles)?;
        let r = self
            .w_mut()?
            .write_candles(symbol, interval, c)
            .or_raise()?;
        Ok((r.written, r.replaced, r.count))
    }

    /// As `write_candles`, replacing stored candles at or after the batch's first timestamp.
    fn replace_candles(
        &mut self,
        symbol: &str,
        interval: &str,
        candles: PyReadonlyArray1<'_, NpCandle>,
    ) -> PyResult<(usize, usize, u32)> {
        let c = as_candles(&candles)?;
        let r = self
            .w_mut()?
            .replace_candles(symbol, interval, c)
            .or_raise()?;
        Ok((r.written, r.replaced, r.count))
    }

    /// Statistics as seed 000's `getStats()`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.w()?.stats())
    }

    /// The writer's own read of a series.
    fn read<'py>(
        &self,
        py: Python<'py>,
        symbol: &str,
        interval: &str,
    ) -> PyResult<Bound<'py, PyArray1<NpCandle>>> {
        let candles = self.w()?.read_series(symbol, interval).or_raise()?;
        Ok(to_array(py, candles))
    }

    /// Every series: (symbol, interval, count, capacity, start_ts, end_ts, last_update_us).
    fn list_series(&self) -> PyResult<Vec<SeriesTuple>> {
        Ok(self
            .w()?
            .index()
            .or_raise()?
            .series
            .into_iter()
            .map(series_tuple)
            .collect())
    }

    /// The region's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Releases the writer lock and unmaps the region (the region stays for readers).
    fn close(&mut self) {
        self.inner = None;
    }
}
