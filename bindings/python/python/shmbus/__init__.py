"""shmbus: a shared-memory market-data bus (Python bindings of the Rust core).

Three kinds of named shared-memory regions, created safely, validated on open, one writer at a
time, read by any number of processes:

* slot tables, the latest value per key (:class:`SlotWriter`, :class:`SlotReader`, seed 001's
  :class:`SharedMemoryConsumer` / :class:`SharedMemoryProducer` over :class:`TradingData`);
* journals, every message in order (:class:`JournalWriter`, :class:`JournalReader`, an
  iterator with GIL-free waits and ``async for``);
* QNXS candle regions, OHLCV series as numpy arrays (:class:`CandleReader`,
  :class:`CandleWriter`, seed 000's :class:`SharedMemoryWriter`).

Errors are :class:`ShmbusError` subclasses, one per kind (:mod:`shmbus.errors`).
"""

from __future__ import annotations

from . import errors
from ._shmbus import __version__, now_unix_ns, region_path
from ._shmbus import remove as _remove
from .candles import (
    CANDLE_DTYPE,
    Candle,
    CandleReader,
    CandleWriter,
    SeriesInfo,
    SharedMemoryWriter,
    WriteReport,
    as_candle_array,
    to_pandas,
)
from .errors import *  # noqa: F401,F403 - every exception class at the top level
from .errors import ShmbusError
from .journal import JournalReader, JournalWriter, Message
from .records import TRADING_DATA, RecordType, TradingData
from .slots import (
    DEFAULT_KEY,
    SharedMemoryConsumer,
    SharedMemoryProducer,
    SlotReader,
    SlotWriter,
    TradingDataWriter,
    Versioned,
)


def remove(name: str, force: bool = False) -> None:
    """Removes region ``name`` (a slot table, candle region, ring journal or persisted journal
    directory). Refuses while a writer is alive (:class:`~shmbus.errors.InUse`) unless
    ``force``."""
    _remove(name, force)


__all__ = [
    "__version__",
    "errors",
    "ShmbusError",
    "now_unix_ns",
    "region_path",
    "remove",
    # slots
    "TradingData",
    "RecordType",
    "TRADING_DATA",
    "DEFAULT_KEY",
    "SlotWriter",
    "SlotReader",
    "Versioned",
    "SharedMemoryConsumer",
    "SharedMemoryProducer",
    "TradingDataWriter",
    # journal
    "JournalWriter",
    "JournalReader",
    "Message",
    # candles
    "CANDLE_DTYPE",
    "Candle",
    "SeriesInfo",
    "WriteReport",
    "CandleReader",
    "CandleWriter",
    "SharedMemoryWriter",
    "as_candle_array",
    "to_pandas",
    *errors.__all__,
]
