#!/usr/bin/env python3
"""The Python side of the interop matrix: writes or reads the values of tests/interop/SPEC.md.

    python interop.py write slots|journal|candles NAME   # create NAME, write the values, exit 0
    python interop.py read  slots|journal|candles NAME   # check every value; "ok python read ..."

Exit codes of ``read``: 0 all values as specified, 1 a mismatch (printed on stderr: kind,
index, field, expected, found), 2 an error opening (printed).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

import shmbus

SLOT_KEYS = 8
MESSAGES = 1000
RING = 1 << 20
CANDLE_REGION = 8 << 20
T0 = 1_700_000_000_000
KINDS = ("slots", "journal", "candles")


class Mismatch(Exception):
    """A value that differs from the contract."""


def check(kind: str, at: Any, field: str, want: Any, got: Any) -> None:
    if want != got:
        raise Mismatch(f"{kind} {at}: field {field}: expected {want!r}, found {got!r}")


def slot_value(k: int) -> shmbus.TradingData:
    return shmbus.TradingData(
        price=100.25 + 1.5 * k,
        volume=1000 + 7 * k,
        timestamp=1_700_000_000_000_000_000 + k,
        valid=True,
    )


def msg_type(i: int) -> int:
    return 1 + i % 5


def msg_payload(i: int) -> bytes:
    return bytes((31 * i + 7 * j) % 256 for j in range((7 * i) % 300))


def series() -> List[Tuple[str, str, np.ndarray]]:
    def make(n: int, step: int, open_: Callable[[np.ndarray], np.ndarray],
             high: float, low: float, close: float,
             volume: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        i = np.arange(n)
        a = np.empty(n, shmbus.CANDLE_DTYPE)
        a["timestamp"] = T0 + step * i
        o = open_(i)
        a["open"] = o
        a["high"] = o + high
        a["low"] = o - low
        a["close"] = o + close
        a["volume"] = volume(i)
        return a

    return [
        ("BTCUSDT", "1m", make(500, 60_000, lambda i: 100 + 0.5 * i, 2, 1.25, 0.75,
                               lambda i: 10 * i + 0.5)),
        ("BTCUSDT", "1h", make(50, 3_600_000, lambda i: 200.0 + i, 3, 2, 1,
                               lambda i: i + 1.0)),
        ("GOOG", "1d", make(30, 86_400_000, lambda i: 150 + 0.25 * i, 1, 1, 0.5,
                            lambda i: 1_000_000.0 + i)),
    ]


def write(kind: str, name: str) -> None:
    if kind == "slots":
        with shmbus.SlotWriter.create(name, capacity=16) as w:
            for k in range(SLOT_KEYS):
                key = f"SYM{k}"
                w.put(key, shmbus.TradingData(0.0, 0, 0, True))
                w.put(key, slot_value(k))
    elif kind == "journal":
        with shmbus.JournalWriter.create(name, ring=RING) as w:
            for i in range(MESSAGES):
                w.append(msg_payload(i), type=msg_type(i))
                if i % 10 == 9:
                    w.commit()
    elif kind == "candles":
        with shmbus.CandleWriter.create(name, CANDLE_REGION) as w:
            for symbol, interval, candles in series():
                calls = 5 if interval == "1m" else 1
                for chunk in np.split(candles, calls):
                    w.write_candles(symbol, interval, chunk)
    else:
        raise ValueError(f"unknown kind {kind!r} (slots, journal or candles)")


def read(kind: str, name: str) -> int:
    if kind == "slots":
        with shmbus.SlotReader(name) as r:
            check("slots", "table", "keys", SLOT_KEYS, len(r))
            for k in range(SLOT_KEYS):
                key = f"SYM{k}"
                got = r.read(key)
                if got is None:
                    raise Mismatch(f"slots {key}: never written")
                want = slot_value(k)
                for field in ("price", "timestamp", "volume", "valid"):
                    check("slots", key, field, getattr(want, field), getattr(got, field))
        return SLOT_KEYS
    if kind == "journal":
        with shmbus.JournalReader(name, start="beginning") as r:
            for i in range(MESSAGES):
                m = r.next()
                if m is None:
                    raise Mismatch(f"journal: only {i} messages, expected {MESSAGES}")
                check("journal", i, "seq", i, m.seq)
                check("journal", i, "type", msg_type(i), m.type)
                want = msg_payload(i)
                check("journal", i, "length", len(want), len(m.data))
                if m.data != want:
                    j = next(j for j in range(len(want)) if want[j] != m.data[j])
                    check("journal", i, f"payload byte {j}", want[j], m.data[j])
            extra = r.next()
            if extra is not None:
                raise Mismatch(f"journal: an extra message, sequence {extra.seq}")
        return MESSAGES
    if kind == "candles":
        with shmbus.CandleReader(name) as r:
            check("candles", "region", "series", 3, len(r.list_series()))
            count = 0
            for symbol, interval, want in series():
                got = r.read(symbol, interval)
                at = f"{symbol} {interval}"
                check("candles", at, "count", len(want), len(got))
                for field in want.dtype.names:
                    diff = np.flatnonzero(want[field] != got[field])
                    if diff.size:
                        i = int(diff[0])
                        check("candles", f"{at} #{i}", field, want[field][i].item(),
                              got[field][i].item())
                count += len(got)
        return count
    raise ValueError(f"unknown kind {kind!r} (slots, journal or candles)")


def main(argv: List[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("write", "read") or argv[1] not in KINDS:
        print("usage: interop.py write|read slots|journal|candles NAME", file=sys.stderr)
        return 2
    verb, kind, name = argv
    if verb == "write":
        try:
            write(kind, name)
        except (shmbus.ShmbusError, OSError, ValueError) as e:
            print(f"interop python write {kind} {name}: {e}", file=sys.stderr)
            return 2
        return 0
    try:
        n = read(kind, name)
    except Mismatch as e:
        print(f"interop python read {name}: {e}", file=sys.stderr)
        return 1
    except (shmbus.ShmbusError, OSError, ValueError) as e:
        print(f"interop python read {kind} {name}: {e}", file=sys.stderr)
        return 2
    print(f"ok python read {kind} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
