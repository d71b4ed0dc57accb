"""Candles: OHLCV series in a QNXS region (byte-compatible with QuantNexus, seed 000), read
into numpy structured arrays.

``CandleReader(name).read(symbol, interval)`` returns an array of :data:`CANDLE_DTYPE`
(``timestamp`` u8 in ms, ``open``/``high``/``low``/``close``/``volume`` f8): a validated copy
taken under the region's seqlock (never torn) whose buffer numpy owns, with no second copy.
There is no zero-copy view of the shared mapping: the writer rewrites the live bar in place and
moves a growing series to a larger block, reusing the old one for other series, so a view could
change or be reused under you. ``to_pandas`` gives a DataFrame when pandas is installed.

:class:`SharedMemoryWriter` mirrors seed 000's Node writer (``create``, ``write_candles``,
``get_stats``, ``close``, ``is_initialized``, with camelCase aliases).
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np

from . import _shmbus as _native

__all__ = [
    "CANDLE_DTYPE",
    "DEFAULT_SIZE",
    "Candle",
    "SeriesInfo",
    "WriteReport",
    "CandleReader",
    "CandleWriter",
    "SharedMemoryWriter",
    "as_candle_array",
    "to_pandas",
]

#: The numpy dtype of a candle: 48 bytes, the QNXS layout.
CANDLE_DTYPE: np.dtype = _native.CANDLE_DTYPE
#: Seed 000's default region size: 128 MiB.
DEFAULT_SIZE: int = _native.DEFAULT_CANDLE_REGION_SIZE

_FIELDS = ("timestamp", "open", "high", "low", "close", "volume")


class Candle(NamedTuple):
    """One bar: timestamp in ms since the Unix epoch, then OHLCV."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class SeriesInfo(NamedTuple):
    """One series of a candle region."""

    symbol: str
    interval: str
    count: int  # type: ignore[assignment]  # the field shadows tuple.count
    capacity: int
    start_ts: int
    end_ts: int
    last_update_us: int


class WriteReport(NamedTuple):
    """What a write did: candles of the batch written, stored candles replaced (the live bar),
    candles in the series now."""

    written: int
    replaced: int
    count: int  # type: ignore[assignment]  # the field shadows tuple.count


def _timestamps_ms(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64).astype(np.uint64)
    if hasattr(values, "dt") and hasattr(values.dt, "tz"):  # pandas datetime Series
        return _timestamps_ms(values.dt.tz_convert(None) if values.dt.tz else values)
    return arr.astype(np.uint64)


def as_candle_array(candles: Any) -> np.ndarray:
    """``candles`` as a contiguous array of :data:`CANDLE_DTYPE`, from:

    * an array of that dtype (returned as is when contiguous), or any structured array or
      record-like object with the six fields by name;
    * a 2-D numeric array of shape ``(n, 6)`` (columns timestamp, open, high, low, close,
      volume);
    * a pandas DataFrame with the columns open, high, low, close, volume and a ``timestamp``
      column or a DatetimeIndex;
    * a list of tuples ``(timestamp, open, high, low, close, volume)``, of :class:`Candle`, or
      of dicts with those keys (seed 000's candle objects).

    Timestamps are ms since the Unix epoch (datetime64 values are converted).
    """
    if isinstance(candles, np.ndarray):
        if candles.dtype == CANDLE_DTYPE:
            return np.ascontiguousarray(candles)
        if candles.dtype.names:
            missing = [f for f in _FIELDS if f not in candles.dtype.names]
            if missing:
                raise ValueError(f"the candle array lacks the fields {missing}")
            out = np.empty(candles.shape[0], CANDLE_DTYPE)
            out["timestamp"] = _timestamps_ms(candles["timestamp"])
            for f in _FIELDS[1:]:
                out[f] = candles[f]
            return out
        if candles.ndim == 2 and candles.shape[1] == 6:
            out = np.empty(candles.shape[0], CANDLE_DTYPE)
            out["timestamp"] = candles[:, 0].astype(np.uint64)
            for i, f in enumerate(_FIELDS[1:], 1):
                out[f] = candles[:, i]
            return out
        raise ValueError(
            f"cannot read candles from an array of dtype {candles.dtype} and shape "
            f"{candles.shape}: use the candle dtype, a structured array with the fields "
            f"{_FIELDS}, or shape (n, 6)"
        )
    if hasattr(candles, "columns") and hasattr(candles, "index"):  # a pandas DataFrame
        cols = set(candles.columns)
        out = np.empty(len(candles), CANDLE_DTYPE)
        if "timestamp" in cols:
            out["timestamp"] = _timestamps_ms(candles["timestamp"])
        else:
            index = candles.index
            if getattr(index, "tz", None) is not None:
                index = index.tz_convert(None)
            out["timestamp"] = _timestamps_ms(np.asarray(index))
        for f in _FIELDS[1:]:
            out[f] = candles[f].to_numpy()
        return out
    rows = list(candles)
    if not rows:
        return np.empty(0, CANDLE_DTYPE)
    if isinstance(rows[0], dict):
        rows = [tuple(r[f] for f in _FIELDS) for r in rows]
    else:
        rows = [tuple(r) for r in rows]
    return np.array(rows, dtype=CANDLE_DTYPE)


def to_pandas(candles: np.ndarray) -> Any:
    """A DataFrame of the candles: columns open, high, low, close, volume, indexed by the bar
    time (UTC, named ``time``). Needs pandas."""
    try:
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("to_pandas needs pandas: pip install pandas") from e
    times = candles["timestamp"].astype(np.int64).view("datetime64[ms]")
    index = pd.DatetimeIndex(times).tz_localize("UTC")
    # No copy of the columns: they view the array (which the frame keeps alive).
    frame = pd.DataFrame({f: candles[f] for f in _FIELDS[1:]}, index=index, copy=False)
    frame.index.name = "time"
    return frame


class CandleReader:
    """A read-only view of candle region ``name``: shmbus's own, or one written by the
    original QuantNexus writer. Never writes to it; reads release the GIL."""

    def __init__(self, name: str) -> None:
        self._r = _native.CandleReader(name)

    def read(self, symbol: str, interval: str) -> np.ndarray:
        """The series as an array of :data:`CANDLE_DTYPE` (a validated copy, owned by the
        array). Raises :class:`~shmbus.errors.SeriesNotFound`."""
        return self._r.read(symbol, interval)

    def range(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> np.ndarray:
        """The candles with ``start_ms <= timestamp < end_ms``."""
        return self._r.range(symbol, interval, start_ms, end_ms)

    def latest(self, symbol: str, interval: str) -> Optional[Candle]:
        """The last candle of the series, ``None`` if it is empty."""
        c = self._r.latest(symbol, interval)
        return None if c is None else Candle(*c)

    def list_series(self) -> List[SeriesInfo]:
        """Every series of the region."""
        return [SeriesInfo(*s) for s in self._r.list_series()]

    def get_stats(self) -> Dict[str, int]:
        """As seed 000's ``getStats()``: totalSymbols, totalCandles, memoryUsed, lastWriteUs,
        writeCount."""
        return self._r.stats()

    stats = getStats = get_stats

    def to_pandas(self, symbol: str, interval: str) -> Any:
        """The series as a pandas DataFrame (see :func:`to_pandas`)."""
        return to_pandas(self.read(symbol, interval))

    @property
    def is_foreign(self) -> bool:
        """Whether the region was written by the original QuantNexus writer."""
        return self._r.is_foreign

    @property
    def name(self) -> str:
        """The region's name."""
        return self._r.name

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._r.closed

    def close(self) -> None:
        """Unmaps the region."""
        self._r.close()

    def __enter__(self) -> "CandleReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CandleReader {self.name!r}>"


class CandleWriter:
    """The one writer of a candle region (holds the writer lock while open)."""

    def __init__(self, native: _native.CandleWriter) -> None:
        self._w = native

    @classmethod
    def create(
        cls,
        name: str,
        size: int = DEFAULT_SIZE,
        *,
        max_candles: int = _native.DEFAULT_MAX_CANDLES,
        group_shared: bool = False,
    ) -> "CandleWriter":
        """Creates region ``name`` of ``size`` bytes (exclusive: a live region is never
        re-initialised). ``max_candles`` limits each series (100,000 as the original)."""
        return cls(_native.CandleWriter.create(name, size, max_candles, group_shared))

    @classmethod
    def open(cls, name: str) -> "CandleWriter":
        """Opens an existing shmbus candle region as its writer."""
        return cls(_native.CandleWriter.open(name))

    def write_candles(self, symbol: str, interval: str, candles: Any) -> WriteReport:
        """Writes candles (anything :func:`as_candle_array` takes) to series (symbol,
        interval): newer candles are appended, one with the last stored timestamp replaces it
        (the live bar), older ones raise :class:`~shmbus.errors.OutOfOrder`. Validated first;
        nothing is written unless all is valid."""
        return WriteReport(*self._w.write_candles(symbol, interval, as_candle_array(candles)))

    def replace_candles(self, symbol: str, interval: str, candles: Any) -> WriteReport:
        """As :meth:`write_candles`, replacing the stored candles at or after the batch's first
        timestamp (re-writing history)."""
        return WriteReport(*self._w.replace_candles(symbol, interval, as_candle_array(candles)))

    def get_stats(self) -> Dict[str, int]:
        """As seed 000's ``getStats()``."""
        return self._w.stats()

    stats = get_stats

    def read(self, symbol: str, interval: str) -> np.ndarray:
        """The writer's own read of a series."""
        return self._w.read(symbol, interval)

    def list_series(self) -> List[SeriesInfo]:
        """Every series of the region."""
        return [SeriesInfo(*s) for s in self._w.list_series()]

    @property
    def name(self) -> str:
        """The region's name."""
        return self._w.name

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._w.closed

    def close(self) -> None:
        """Releases the writer lock (the region stays for readers)."""
        self._w.close()

    def __enter__(self) -> "CandleWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SharedMemoryWriter:
    """Seed 000's ``SharedMemoryWriter``, in Python.

    >>> writer = SharedMemoryWriter()                            # doctest: +SKIP
    >>> writer.create("quantnexus_ohlcv", 128 * 1024 * 1024)     # doctest: +SKIP
    >>> writer.write_candles("BTCUSDT", "1h", candles)           # doctest: +SKIP
    >>> writer.get_stats()                                       # doctest: +SKIP
    {'totalSymbols': 1, 'totalCandles': 100, 'memoryUsed': ..., 'lastWriteUs': ..., 'writeCount': 1}
    >>> writer.close()                                           # doctest: +SKIP

    Unlike the original, ``create`` never re-initialises a live region (it raises
    :class:`~shmbus.errors.RegionExists`; pass ``open_existing=True`` to continue writing an
    existing one), writes are validated and all-or-nothing, and series are keyed by symbol and
    interval.
    """

    def __init__(self) -> None:
        self._w: Optional[CandleWriter] = None

    def create(
        self,
        name: str,
        size: int = DEFAULT_SIZE,
        *,
        max_candles: int = _native.DEFAULT_MAX_CANDLES,
        open_existing: bool = False,
    ) -> None:
        """Creates region ``name`` of ``size`` bytes (128 MiB by default)."""
        if self._w is not None:
            self._w.close()
            self._w = None
        if open_existing:
            from .errors import RegionExists

            try:
                self._w = CandleWriter.create(name, size, max_candles=max_candles)
            except RegionExists:
                self._w = CandleWriter.open(name)
        else:
            self._w = CandleWriter.create(name, size, max_candles=max_candles)

    def _writer(self) -> CandleWriter:
        if self._w is None:
            from .errors import Closed

            raise Closed(
                "QNXS error 9 NOT_INITIALIZED: the SharedMemoryWriter is not initialised "
                "(call create() first)",
                object="SharedMemoryWriter",
                qnxs_code=9,
                qnxs_name="NOT_INITIALIZED",
            )
        return self._w

    def write_candles(self, symbol: str, interval: str, candles: Any) -> WriteReport:
        """Writes candles (objects with timestamp/open/high/low/close/volume, tuples or a numpy
        array) to series (symbol, interval)."""
        return self._writer().write_candles(symbol, interval, candles)

    def get_stats(self) -> Dict[str, int]:
        """``{'totalSymbols', 'totalCandles', 'memoryUsed', 'lastWriteUs', 'writeCount'}``."""
        return self._writer().get_stats()

    def close(self) -> None:
        """Releases the region (it stays for readers; remove it with ``shmbus.remove``)."""
        if self._w is not None:
            self._w.close()
            self._w = None

    def is_initialized(self) -> bool:
        """Whether ``create`` succeeded and ``close`` was not called since."""
        return self._w is not None

    # Seed 000's camelCase names.
    writeCandles = write_candles
    getStats = get_stats
    isInitialized = is_initialized

    def __enter__(self) -> "SharedMemoryWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
