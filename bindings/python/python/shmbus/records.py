"""Record layouts for slot tables: ``TradingData`` (seed 001) and records you describe.

A :class:`RecordType` names a record's fields, their types and offsets, exactly as a Rust
``Record`` or a C++ struct does; the region stores the layout's fingerprint (computed by the
Rust core from these facts), so a table created from Python opens from Rust or C++ with the same
struct, and a mismatch is a :class:`~shmbus.errors.LayoutMismatch` at open.

Only the record's own bytes are packed here (with :mod:`struct`); the slot table, its seqlock
and its header are the Rust core's.
"""

from __future__ import annotations

import collections
import struct
from typing import Any, Callable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

__all__ = ["TradingData", "RecordType", "TRADING_DATA", "FIELD_TYPES"]


class TradingData(NamedTuple):
    """Last trade of one symbol, as seed 001's Python ``TradingData``.

    24 bytes in shared memory: price f64 at 0, timestamp u64 at 8 (ns since the Unix epoch),
    volume i32 at 16, valid u8 at 20, 3 bytes of padding.
    """

    price: float
    volume: int
    timestamp: int
    valid: bool


#: Field type codes (those of the Rust ``FieldType``) and their :mod:`struct` formats.
FIELD_TYPES = {
    "u8": "B",
    "i8": "b",
    "u16": "H",
    "i16": "h",
    "u32": "I",
    "i32": "i",
    "u64": "Q",
    "i64": "q",
    "f32": "f",
    "f64": "d",
    "bool": "?",
}

# numpy-style and C-style spellings accepted for convenience.
_ALIASES = {
    "uint8": "u8", "int8": "i8", "uint16": "u16", "int16": "i16", "uint32": "u32",
    "int32": "i32", "uint64": "u64", "int64": "i64", "float32": "f32", "float64": "f64",
    "float": "f32", "double": "f64", "u1": "u8", "i1": "i8", "u2": "u16", "i2": "i16",
    "u4": "u32", "i4": "i32", "f4": "f32", "f8": "f64", "?": "bool",
}

FieldSpec = Union[Tuple[str, str], Tuple[str, str, int]]


def _size_of(code: str) -> int:
    if code.startswith("bytes"):
        return int(code[5:])
    return struct.calcsize("<" + FIELD_TYPES[code])


def _normalise(code: str) -> str:
    code = _ALIASES.get(code.lower().lstrip("<="), code.lower().lstrip("<="))
    if code in FIELD_TYPES:
        return code
    if code.startswith("bytes") and code[5:].isdigit() and int(code[5:]) > 0:
        return code
    raise ValueError(
        f"unknown field type {code!r}: use u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, "
        "bool or bytesN"
    )


class RecordType:
    """A plain-data record layout: name, fields (name, type, offset) and size.

    ``fields`` lists ``(name, type)`` pairs, laid out as a C compiler would (each field at the
    next multiple of its size, the record padded to a multiple of 8), or ``(name, type,
    offset)`` triples with explicit offsets. Types are the codes of :data:`FIELD_TYPES`
    (``"f64"``, ``"i32"``, ``"bool"`` ...) or ``"bytesN"`` (N bytes, NUL-padded).

    Values are instances of ``tuple_type`` (by default a :func:`collections.namedtuple` with
    the fields in the order given); :meth:`pack` also accepts a dict or a plain tuple.

    >>> Quote = RecordType("Quote", [("bid", "f64"), ("ask", "f64"), ("size", "i32")])
    >>> Quote.size, Quote.offsets
    (24, {'bid': 0, 'ask': 8, 'size': 16})
    >>> Quote.unpack(Quote.pack({"bid": 1.5, "ask": 2.0, "size": 7}))
    Quote(bid=1.5, ask=2.0, size=7)
    """

    def __init__(
        self,
        name: str,
        fields: Sequence[FieldSpec],
        *,
        size: Optional[int] = None,
        tuple_type: Optional[Callable[..., Any]] = None,
    ) -> None:
        if not fields:
            raise ValueError("a record needs at least one field")
        self.name = name
        laid: list[Tuple[str, str, int]] = []
        end = 0
        for spec in fields:
            if len(spec) == 3:
                fname, code, offset = spec
                code = _normalise(code)
            else:
                fname, code = spec
                code = _normalise(code)
                align = 1 if code.startswith("bytes") else _size_of(code)
                offset = -(-end // align) * align
            laid.append((fname, code, int(offset)))
            end = max(end, int(offset) + _size_of(code))
        self.size = int(size) if size is not None else -(-end // 8) * 8
        self.fields: Tuple[Tuple[str, str, int], ...] = tuple(laid)
        self.offsets = {f: o for f, _, o in laid}
        self.names = tuple(f for f, _, _ in laid)
        self.tuple_type = tuple_type or collections.namedtuple(
            name.replace(".", "_"), self.names
        )
        # struct format in memory order, with explicit padding.
        fmt = "<"
        order = sorted(laid, key=lambda f: f[2])
        pos = 0
        for _, code, offset in order:
            if offset < pos:
                raise ValueError(f"fields of {name} overlap at offset {offset}")
            fmt += "x" * (offset - pos)
            fmt += f"{code[5:]}s" if code.startswith("bytes") else FIELD_TYPES[code]
            pos = offset + _size_of(code)
        if pos > self.size:
            raise ValueError(f"fields of {name} end at {pos}, beyond the size {self.size}")
        fmt += "x" * (self.size - pos)
        self._struct = struct.Struct(fmt)
        self._memory_order = tuple(f for f, _, _ in order)
        self._bytes_fields = frozenset(f for f, c, _ in laid if c.startswith("bytes"))
        tt_fields = getattr(self.tuple_type, "_fields", self.names)
        # Positions of the tuple type's fields in memory order, and back.
        self._to_tuple = tuple(self._memory_order.index(f) for f in tt_fields)
        self._from_tuple = tuple(tt_fields.index(f) for f in self._memory_order)
        self._tt_fields = tuple(tt_fields)

    @property
    def spec(self) -> Tuple[str, int, List[Tuple[str, str, int]]]:
        """The layout as the native module takes it: (name, size, [(field, type, offset)])."""
        return (self.name, self.size, list(self.fields))

    def pack(self, value: Any) -> bytes:
        """The record's bytes: ``value`` is a ``tuple_type`` instance, a mapping with every
        field, or a tuple in ``tuple_type``'s field order."""
        if isinstance(value, Mapping):
            vals = [value[f] for f in self._memory_order]
        elif isinstance(value, tuple):
            if len(value) != len(self._tt_fields):
                raise ValueError(
                    f"{self.name} has {len(self._tt_fields)} fields {self._tt_fields}, "
                    f"got {len(value)} values"
                )
            vals = [value[i] for i in self._from_tuple]
        else:
            vals = [getattr(value, f) for f in self._memory_order]
        for i, f in enumerate(self._memory_order):
            if f in self._bytes_fields and isinstance(vals[i], str):
                vals[i] = vals[i].encode()
        return self._struct.pack(*vals)

    def unpack(self, data: bytes) -> Any:
        """The ``tuple_type`` value of the record's bytes."""
        vals = self._struct.unpack(data)
        return self.tuple_type(*[vals[i] for i in self._to_tuple])

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}: {c} @{o}" for n, c, o in self.fields)
        return f"RecordType({self.name!r}, size={self.size}, [{fields}])"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RecordType)
            and (self.name, self.size, self.fields) == (other.name, other.size, other.fields)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.size, self.fields))


#: The layout of seed 001's ``TradingData`` (the same facts as the Rust ``TradingData`` and the
#: C++ struct, hence the same fingerprint). Values are :class:`TradingData` tuples.
TRADING_DATA = RecordType(
    "TradingData",
    [("price", "f64", 0), ("timestamp", "u64", 8), ("volume", "i32", 16), ("valid", "bool", 20)],
    size=24,
    tuple_type=TradingData,
)

