"""A region truncated under a Python reader or writer (by another process, or another user) is a
``TruncatedWhileMapped`` exception, never a SIGBUS that kills the interpreter (issue 10, item 1).

The truncation runs as uid 65534 when the tests run as root (the region is group-shared with
group 65534), else as this user: the kernel raises the same SIGBUS either way.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import shmbus
from shmbus import CandleReader, CandleWriter, JournalReader, JournalWriter, SlotReader, SlotWriter
from shmbus import TradingData

NOBODY = 65534


def truncate(name: str) -> None:
    path = Path(shmbus.region_path(name))
    if os.geteuid() == 0:
        os.chown(path, -1, NOBODY)
        subprocess.run(["truncate", "-s", "0", str(path)], check=True, user=NOBODY, group=NOBODY,
                       extra_groups=[])
    else:
        os.truncate(path, 0)
    assert path.stat().st_size == 0


def check(e: pytest.ExceptionInfo[shmbus.TruncatedWhileMapped], name: str) -> None:
    assert isinstance(e.value, shmbus.ShmbusError)
    assert e.value.path == shmbus.region_path(name)
    assert "truncated by another process" in str(e.value)


def test_slot_reader_and_writer(region_name):
    w = SlotWriter.create(region_name, capacity=8, group_shared=True)
    w.put("BTCUSD", TradingData(1.0, 1, 1, True))
    r = SlotReader(region_name)
    assert r["BTCUSD"].price == 1.0
    truncate(region_name)
    with pytest.raises(shmbus.TruncatedWhileMapped) as e:
        r["BTCUSD"]
    check(e, region_name)
    with pytest.raises(shmbus.TruncatedWhileMapped) as e:
        w.put("BTCUSD", TradingData(2.0, 1, 2, True))
    check(e, region_name)
    w.close()


def test_journal_reader_waiting_and_writer(region_name):
    w = JournalWriter.create(region_name, ring=1 << 20, group_shared=True)
    w.append(b"first")
    w.commit()
    r = JournalReader(region_name)
    assert r.next().data == b"first"
    truncate(region_name)
    # A blocking wait ends with the error, not a hang or a crash.
    with pytest.raises(shmbus.TruncatedWhileMapped) as e:
        r.next(timeout=0.2)
    check(e, region_name)
    with pytest.raises(shmbus.TruncatedWhileMapped) as e:
        w.append(b"second")
    check(e, region_name)
    w.close()


def test_candle_reader(region_name):
    w = CandleWriter.create(region_name, size=1 << 20, group_shared=True)
    w.write_candles("BTCUSD", "1m", [(60_000, 1.0, 2.0, 0.5, 1.5, 10.0)])
    r = CandleReader(region_name)
    assert r.latest("BTCUSD", "1m") is not None
    truncate(region_name)
    with pytest.raises(shmbus.TruncatedWhileMapped) as e:
        r.latest("BTCUSD", "1m")
    check(e, region_name)
    w.close()
