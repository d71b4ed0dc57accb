"""shmbus exceptions: one class per error kind, all under :class:`ShmbusError`.

Each exception carries the facts of the Rust error as attributes (``e.path``, ``e.pid``,
``e.lost`` ...) and the Rust message, which says what to do, as ``str(e)``. Where a built-in
exception fits, the class also derives from it, so ``except FileNotFoundError`` catches a
missing region and ``except KeyError`` an unknown slot key.

Every error of the core also carries its stable code: ``e.code`` (e.g. ``"writer_busy"``) and
``e.code_number`` (e.g. 119), listed in docs/ERRORS.md; the class is chosen by that code.

Candle-store errors also carry ``qnxs_code`` (int) and ``qnxs_name`` (e.g. ``"WRITE_FAILED"``),
the error codes of the original QuantNexus writer.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ShmbusError",
    "Closed",
    "InvalidName",
    "RegionNotFound",
    "RegionExists",
    "SymlinkRefused",
    "NotRegularFile",
    "PermissionDenied",
    "ForeignOwner",
    "NoSpace",
    "SizeTooSmall",
    "SizeTooLarge",
    "NotReady",
    "IncompatibleRegion",
    "BadMagic",
    "VersionMismatch",
    "KindMismatch",
    "LayoutMismatch",
    "CorruptRegion",
    "Truncated",
    "TruncatedWhileMapped",
    "SizeMismatch",
    "WriterBusy",
    "InUse",
    "IoError",
    "UnknownKey",
    "InvalidKey",
    "Full",
    "SlotTableFull",
    "WriterDied",
    "Timeout",
    "Busy",
    "BadSlot",
    "InvalidLayout",
    "RecordSizeMismatch",
    "MessageTooLarge",
    "BatchTooLarge",
    "Overrun",
    "TooOld",
    "NotYet",
    "InvalidCandle",
    "OutOfOrder",
    "SeriesNotFound",
    "TooManySeries",
    "TooManyCandles",
]


class ShmbusError(Exception):
    """Base of every shmbus error. ``str(e)`` is the Rust message; ``e.facts`` the attributes.

    ``e.code`` is the error's stable code (e.g. ``"writer_busy"``) and ``e.code_number`` its
    number (e.g. 119), as listed in docs/ERRORS.md: match on these, never on the message. Both
    are None for errors of the binding itself (e.g. :class:`Closed`)."""

    message: str
    facts: dict[str, Any]
    code: str | None = None
    code_number: int | None = None

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts
        self.__dict__.update(facts)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        # Picklable (multiprocessing): the message as argument, the facts as state.
        return (type(self), (self.message,), dict(self.__dict__))


class Closed(ShmbusError, ValueError):
    """A method was called after ``close()``. ``object``: which kind of object."""


# --- regions: naming, creating, opening -----------------------------------------------------


class InvalidName(ShmbusError, ValueError):
    """A region, symbol or interval name breaks a rule. ``name``, ``reason`` (and ``what`` for
    candle names: "symbol" or "interval")."""


class RegionNotFound(ShmbusError, FileNotFoundError):
    """No region of that name. ``name``, ``path``."""


class RegionExists(ShmbusError, FileExistsError):
    """Create is exclusive and the name is taken. ``name``, ``path``."""


class SymlinkRefused(ShmbusError):
    """The name is a symbolic link; regions are never opened through one. ``path``."""


class NotRegularFile(ShmbusError):
    """The name exists but is not a regular file. ``path``."""


class PermissionDenied(ShmbusError, PermissionError):
    """The operating system refused access. ``op``, ``path``."""


class ForeignOwner(PermissionDenied):
    """The region belongs to another user. ``path``, ``owner``, ``me`` (uids)."""


class NoSpace(ShmbusError):
    """The file system cannot hold the region (reported at create, never as SIGBUS later).
    ``path``, ``requested``, ``free`` (bytes; None if unknown)."""


class SizeTooSmall(ShmbusError, ValueError):
    """The size cannot hold the region's headers and one record. ``kind``, ``requested``,
    ``min``."""


class SizeTooLarge(ShmbusError, ValueError):
    """The size is beyond what shmbus supports. ``requested``, ``max``."""


class NotReady(ShmbusError):
    """The region's creator has not finished setting it up (or died doing so). ``path``."""


class IncompatibleRegion(ShmbusError):
    """The file is not the region the caller expects (base of the four classes below)."""


class BadMagic(IncompatibleRegion):
    """Not a shmbus region. ``path``, ``expected``, ``found``."""


class VersionMismatch(IncompatibleRegion):
    """Written by an incompatible format version. ``path``, ``expected``, ``found``."""


class KindMismatch(IncompatibleRegion):
    """Another kind of region (e.g. a journal opened as a slot table). ``path``, ``expected``,
    ``found`` (kind names)."""


class LayoutMismatch(IncompatibleRegion):
    """The region's records have another layout than the caller's. ``path``,
    ``expected_name``, ``expected`` (fingerprint), ``found_name``, ``found``."""


class CorruptRegion(ShmbusError):
    """The region is damaged: an impossible header field, a malformed journal frame, an
    inconsistent candle index. ``what`` and where: ``path``, or ``journal`` and ``position``,
    or ``region``."""


class Truncated(CorruptRegion):
    """The file is shorter than a header. ``path``, ``size``, ``min``."""


class TruncatedWhileMapped(ShmbusError):
    """Another process truncated the region's file while this object had it mapped: its data
    is gone (the mapping reads zeros, which shmbus never returns as data) and the object is
    unusable. Close it and reopen the region once it is recreated. ``path``."""


class SizeMismatch(CorruptRegion):
    """The file's size disagrees with its header. ``path``, ``header_size``, ``file_size``."""


class WriterBusy(ShmbusError):
    """Another process is the writer (one writer at a time). ``path``, ``pid`` (or None)."""


class InUse(ShmbusError):
    """Remove refused: a writer is alive. ``path``, ``pid`` (or None)."""


class IoError(ShmbusError, OSError):
    """Any other I/O failure. ``op``, ``path``, ``errno``."""


# --- slots ------------------------------------------------------------------------------------


class UnknownKey(ShmbusError, KeyError):
    """No slot has this key. ``region``, ``key``."""


class InvalidKey(ShmbusError, ValueError):
    """A key that cannot be stored (empty, over 31 bytes, NUL). ``key``, ``reason``."""


class Full(ShmbusError):
    """No room. For a candle region: ``region``, ``needed``, ``free``, ``size``, ``suggested``
    (bytes)."""


class SlotTableFull(Full):
    """Every slot of the table is taken. ``region``, ``capacity``."""


class WriterDied(ShmbusError):
    """The writer died in the middle of writing this slot; a new writer repairs it on open.
    ``region``, ``key``, ``seq``."""


class Timeout(ShmbusError, TimeoutError):
    """Gave up waiting."""


class Busy(Timeout):
    """No consistent read in time: a live writer keeps the record mid-write (stopped?).
    Slots: ``region``, ``key``, ``waited_ms``; candles: ``region``, ``attempts``."""


class BadSlot(ShmbusError, IndexError):
    """A slot index beyond the table. ``region``, ``index``, ``count``."""


class InvalidLayout(ShmbusError, ValueError):
    """A record layout a slot table cannot hold. ``name``, ``reason``."""


class RecordSizeMismatch(ShmbusError, ValueError):
    """A record of the wrong size for the table. ``region``, ``expected``, ``found``."""


# --- journal ----------------------------------------------------------------------------------


class MessageTooLarge(ShmbusError, ValueError):
    """The message exceeds the journal's maximum. ``journal``, ``len``, ``max``."""


class BatchTooLarge(ShmbusError):
    """The uncommitted batch no longer fits in the ring: commit more often. ``journal``,
    ``pending``, ``capacity``."""


class Overrun(ShmbusError):
    """The reader was lapped (ring) or its segments were removed: ``lost`` messages are gone,
    it resumes at ``resume_seq`` (``expected_seq`` is where it was). ``journal``."""


class TooOld(ShmbusError, LookupError):
    """The sequence asked for is no longer stored. ``journal``, ``seq``, ``oldest``."""


class NotYet(ShmbusError, LookupError):
    """The sequence asked for has not been written yet. ``journal``, ``seq``, ``next``."""


# --- candles ----------------------------------------------------------------------------------


class InvalidCandle(ShmbusError, ValueError):
    """A candle of the batch is invalid; nothing was written. ``index``, ``timestamp``,
    ``reason``."""


class OutOfOrder(ShmbusError, ValueError):
    """The batch starts before the last stored candle; nothing was written. ``symbol``,
    ``interval``, ``index``, ``timestamp``, ``last``."""


class SeriesNotFound(ShmbusError, KeyError):
    """No such series. ``region``, ``symbol``, ``interval``."""


class TooManySeries(ShmbusError):
    """The region's index is full. ``region``, ``max``."""


class TooManyCandles(ShmbusError):
    """A series would exceed its candle limit. ``symbol``, ``interval``, ``count``, ``max``."""
