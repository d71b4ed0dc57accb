"""Slot tables: the latest value per key, never torn (a seqlock in the Rust core).

:class:`SlotWriter` / :class:`SlotReader` work on any :class:`~shmbus.records.RecordType`
(``TradingData`` by default). :class:`SharedMemoryConsumer` and :class:`SharedMemoryProducer`
are seed 001's single-record API on top of them.

**The seed-001 record in a slot table.** ``/trading_data`` is a slot table of ``TradingData``
records; *the* record is its first slot (index 0). :class:`SharedMemoryProducer` creates the
table and registers that slot under the key ``"default"``; :class:`SharedMemoryConsumer` reads
slot 0 whatever its key, so a table filled by ``shmbus slot put trading_data BTCUSD ...`` or by
the C++ ``shmbus::Slot<TradingData>`` reads the same way.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

from . import _shmbus as _native
from .errors import BadSlot, Closed, NotReady, RegionExists, RegionNotFound
from .records import TRADING_DATA, RecordType, TradingData

__all__ = [
    "Versioned",
    "SlotWriter",
    "SlotReader",
    "SharedMemoryConsumer",
    "SharedMemoryProducer",
    "TradingDataWriter",
    "DEFAULT_KEY",
]

#: The key under which :class:`SharedMemoryProducer` registers seed 001's single record.
DEFAULT_KEY = "default"

Slot = Union[int, str]


class Versioned(NamedTuple):
    """A value with the slot sequence it was read at (even; bigger is newer)."""

    seq: int
    value: Any


def _unpacker(record: Optional[RecordType]) -> Callable[[bytes], Any]:
    if record is None:
        return bytes
    return record.unpack


class SlotWriter:
    """The one writer of a slot table (holds the writer lock while open).

    Make one with :meth:`create`, :meth:`open` or :meth:`open_or_create`. Slots are found by
    key once (:meth:`slot`) and then written by index on the hot path.
    """

    def __init__(self, native: _native.RawSlotWriter, record: RecordType) -> None:
        self._w = native
        self.record = record
        self._index: Dict[str, int] = {k: i for k, i in native.keys()}

    @classmethod
    def create(
        cls,
        name: str,
        record: RecordType = TRADING_DATA,
        *,
        capacity: int = 1024,
        size: Optional[int] = None,
        group_shared: bool = False,
        populate: bool = False,
    ) -> "SlotWriter":
        """Creates table ``name`` (exclusive) for ``capacity`` records (or as many as ``size``
        bytes hold). Raises :class:`~shmbus.errors.RegionExists` if the name is taken."""
        native = _native.RawSlotWriter.create(
            name, record.spec, capacity, size, group_shared, populate
        )
        return cls(native, record)

    @classmethod
    def open(cls, name: str, record: RecordType = TRADING_DATA) -> "SlotWriter":
        """Opens an existing table as its writer; slots a dead writer left mid-write are
        repaired (:attr:`repaired`). Raises :class:`~shmbus.errors.WriterBusy` if a writer
        lives."""
        return cls(_native.RawSlotWriter.open(name, record.spec), record)

    @classmethod
    def open_or_create(
        cls, name: str, record: RecordType = TRADING_DATA, **create_options: Any
    ) -> "SlotWriter":
        """Creates the table, or opens it as its writer if it exists (a restarted feed)."""
        try:
            return cls.create(name, record, **create_options)
        except RegionExists:
            return cls.open(name, record)

    def slot(self, key: str) -> int:
        """The slot index of ``key``, registering the key if new."""
        i = self._index.get(key)
        if i is None:
            i = self._w.slot(key)
            self._index[key] = i
        return i

    def write(self, slot: Slot, value: Any) -> None:
        """Publishes ``value`` in ``slot`` (an index from :meth:`slot`, or a key)."""
        if isinstance(slot, str):
            slot = self.slot(slot)
        self._w.write(slot, self.record.pack(value))

    def put(self, key: str, value: Any) -> int:
        """Publishes ``value`` under ``key`` (registering it if new); returns the slot index."""
        i = self._w.put(key, self.record.pack(value))
        self._index[key] = i
        return i

    __setitem__ = put

    def read(self, slot: Slot) -> Any:
        """The writer's own read of ``slot``: the value, ``None`` if never written."""
        if isinstance(slot, str):
            slot = self.slot(slot)
        got = self._w.read(slot)
        return None if got is None else self.record.unpack(got[1])

    def keys(self) -> List[str]:
        """Keys in use, in slot order."""
        pairs = self._w.keys()
        self._index = {k: i for k, i in pairs}
        return [k for k, _ in pairs]

    @property
    def capacity(self) -> int:
        """Number of slots."""
        return self._w.capacity

    @property
    def repaired(self) -> int:
        """Slots repaired when this writer opened the table."""
        return self._w.repaired

    @property
    def name(self) -> str:
        """The region's name."""
        return self._w.name

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._w.closed

    def close(self) -> None:
        """Releases the writer lock (the table stays for readers)."""
        self._w.close()

    def __enter__(self) -> "SlotWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._index)}/{self.capacity} slots"
        return f"<SlotWriter {self.name!r} of {self.record.name} ({state})>"


class SlotReader:
    """A reader of a slot table: maps it read-only and never writes to it.

    ``record`` is the layout the caller expects (checked against the table's fingerprint);
    ``record=None`` accepts any table and returns raw ``bytes``. Reads are consistent copies,
    never a mix of two writes; a slot that a stopped writer keeps mid-write raises
    :class:`~shmbus.errors.Busy` after ``timeout`` seconds (1 s by default), one whose writer
    died mid-write :class:`~shmbus.errors.WriterDied`. The GIL is released during reads.
    """

    def __init__(
        self,
        name: str,
        record: Optional[RecordType] = TRADING_DATA,
        *,
        timeout: Optional[float] = None,
    ) -> None:
        self._r = _native.RawSlotReader(name, None if record is None else record.spec)
        self.record = record
        self._unpack = _unpacker(record)
        self._index: Dict[str, int] = {}
        if timeout is not None:
            self._r.set_timeout(timeout)

    def find(self, key: str) -> int:
        """The slot index of ``key``; raises :class:`~shmbus.errors.UnknownKey`."""
        i = self._index.get(key)
        if i is None:
            i = self._r.find(key)
            self._index[key] = i
        return i

    def _slot(self, slot: Slot) -> int:
        return self.find(slot) if isinstance(slot, str) else slot

    def read(self, slot: Slot) -> Any:
        """The value in ``slot`` (index or key), ``None`` if never written."""
        got = self._r.read(self._slot(slot))
        return None if got is None else self._unpack(got[1])

    def read_versioned(self, slot: Slot) -> Optional[Versioned]:
        """``Versioned(seq, value)`` of ``slot``, ``None`` if never written."""
        got = self._r.read(self._slot(slot))
        return None if got is None else Versioned(got[0], self._unpack(got[1]))

    def read_if_changed(self, slot: Slot, since: int) -> Optional[Versioned]:
        """As :meth:`read_versioned`, but ``None`` while the slot's sequence is still ``since``
        (cheap: one load when unchanged)."""
        got = self._r.read_if_changed(self._slot(slot), since)
        return None if got is None else Versioned(got[0], self._unpack(got[1]))

    def sequence(self, slot: Slot) -> int:
        """The slot's current sequence (odd while a write is in progress)."""
        return self._r.sequence(self._slot(slot))

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, ``default`` if the key is unknown or never written."""
        try:
            value = self.read(key)
        except KeyError:
            return default
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        return self.read(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self.find(key)
        except KeyError:
            return False
        return True

    def keys(self) -> List[str]:
        """Keys in use, in slot order."""
        pairs = self._r.keys()
        self._index.update(pairs)
        return [k for k, _ in pairs]

    def items(self) -> List[Tuple[str, Any]]:
        """``(key, value)`` of every slot in use (``None`` for slots never written)."""
        return [(k, self.read(i)) for k, i in self._r.keys()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._r)

    def set_timeout(self, seconds: float) -> None:
        """How long a read waits for a live writer that keeps a slot mid-write."""
        self._r.set_timeout(seconds)

    @property
    def capacity(self) -> int:
        """Number of slots."""
        return self._r.capacity

    @property
    def record_size(self) -> int:
        """Record size in bytes."""
        return self._r.record_size

    @property
    def layout_name(self) -> str:
        """The record type's name stored in the region."""
        return self._r.layout_name

    @property
    def writer_alive(self) -> bool:
        """Whether a writer holds the table's lock."""
        return self._r.writer_alive

    @property
    def name(self) -> str:
        """The region's name."""
        return self._r.name

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._r.closed

    def close(self) -> None:
        """Unmaps the table."""
        self._r.close()

    def __enter__(self) -> "SlotReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        rec = "bytes" if self.record is None else self.record.name
        return f"<SlotReader {self.name!r} of {rec}>"


_EMPTY = TradingData(0.0, 0, 0, False)


class SharedMemoryConsumer:
    """Seed 001's consumer: reads the single ``TradingData`` record of ``name``.

    >>> consumer = SharedMemoryConsumer("/trading_data")        # doctest: +SKIP
    >>> if consumer.connect():                                   # doctest: +SKIP
    ...     data = consumer.read_trading_data()
    ...     print(f"Price: {data.price}, Volume: {data.volume}")

    Unlike the seed, the region is mapped read-only (the consumer can never become a second
    writer), its layout is checked, and a read is never a mix of two updates.
    """

    def __init__(self, name: str = "/trading_data", record: RecordType = TRADING_DATA) -> None:
        self.name = name
        self.record = record
        self._reader: Optional[SlotReader] = None
        self._seq = 0

    def connect(self) -> bool:
        """Opens the region; ``False`` if it does not exist yet or is still being created
        (the producer is not running). Other problems (another layout, a corrupt region)
        raise their :class:`~shmbus.errors.ShmbusError`."""
        if self._reader is not None:
            return True
        try:
            self._reader = SlotReader(self.name, self.record)
        except (RegionNotFound, NotReady):
            return False
        return True

    @property
    def is_connected(self) -> bool:
        """Whether :meth:`connect` succeeded (and :meth:`close` was not called since)."""
        return self._reader is not None

    def _read(self) -> Optional[Versioned]:
        if self._reader is None:
            raise Closed(
                f"SharedMemoryConsumer({self.name!r}) is not connected: call connect() first",
                object="SharedMemoryConsumer",
            )
        try:
            return self._reader.read_versioned(0)
        except BadSlot:
            return None  # no record registered yet

    def read_trading_data(self) -> Any:
        """The current record; ``TradingData(0.0, 0, 0, False)`` until the producer writes."""
        got = self._read()
        if got is None:
            return _EMPTY if self.record is TRADING_DATA else None
        self._seq = got.seq
        return got.value

    def read_if_changed(self) -> Any:
        """The record if it changed since the last read, else ``None`` (one load when not)."""
        if self._reader is None:
            self._read()
        assert self._reader is not None
        try:
            got = self._reader.read_if_changed(0, self._seq)
        except BadSlot:
            return None
        if got is None:
            return None
        self._seq = got.seq
        return got.value

    @property
    def sequence(self) -> int:
        """The sequence of the last record read (2 x the writes so far)."""
        return self._seq

    def close(self) -> None:
        """Unmaps the region."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    disconnect = close

    def __enter__(self) -> "SharedMemoryConsumer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SharedMemoryProducer:
    """The writer of seed 001's single ``TradingData`` record.

    Creates ``name`` (a ``TradingData`` slot table of ``capacity`` slots) and registers slot 0
    under ``key``; if the region exists (a restart), it is opened as its writer instead of
    being re-initialised, so live readers keep their mapping. Only one producer at a time:
    another live one raises :class:`~shmbus.errors.WriterBusy`.

    >>> p = SharedMemoryProducer("/trading_data")                # doctest: +SKIP
    >>> p.write_trading_data(100.5, 1000)                        # doctest: +SKIP
    """

    def __init__(
        self,
        name: str = "/trading_data",
        *,
        record: RecordType = TRADING_DATA,
        key: str = DEFAULT_KEY,
        capacity: int = 16,
    ) -> None:
        self.name = name
        self.record = record
        self._writer = SlotWriter.open_or_create(name, record, capacity=capacity)
        keys = self._writer.keys()
        self._slot = 0 if keys else self._writer.slot(key)

    def write(self, data: Any) -> None:
        """Publishes a record (a ``TradingData`` or anything :meth:`RecordType.pack` takes)."""
        self._writer.write(self._slot, data)

    def write_trading_data(
        self, price: float, volume: int, timestamp: Optional[int] = None, valid: bool = True
    ) -> None:
        """Publishes price and volume, stamped ``timestamp`` (ns since the Unix epoch; now by
        default)."""
        if timestamp is None:
            timestamp = _native.now_unix_ns()
        self._writer.write(self._slot, TradingData(price, volume, timestamp, valid))

    def read_trading_data(self) -> Any:
        """The record as last written (the writer's own read)."""
        value = self._writer.read(self._slot)
        return _EMPTY if value is None else value

    def close(self, remove: bool = False) -> None:
        """Releases the writer lock; with ``remove=True`` also removes the region (readers
        that have it mapped keep reading the last value)."""
        self._writer.close()
        if remove:
            _native.remove(self.name, False)

    def __enter__(self) -> "SharedMemoryProducer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


#: Another name for :class:`SharedMemoryProducer`.
TradingDataWriter = SharedMemoryProducer
