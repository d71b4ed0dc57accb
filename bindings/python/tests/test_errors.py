"""The exception classes: one per error kind under ShmbusError, with the Rust facts and
message, matching built-in bases, picklable."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

import shmbus
from shmbus import errors

NATIVE_SRC = Path(__file__).resolve().parents[1] / "src" / "errors.rs"


def test_every_class_the_native_code_raises_exists():
    names = set(re.findall(r'(?:x|Exc::new\(py,|=>)\s*\(?"(\w+)"', NATIVE_SRC.read_text()))
    assert len(names) > 35, names
    for name in sorted(names):
        cls = getattr(errors, name, None)
        assert isinstance(cls, type) and issubclass(cls, shmbus.ShmbusError), name
        assert getattr(shmbus, name) is cls
    assert set(errors.__all__) >= names


def test_builtin_bases():
    assert issubclass(shmbus.RegionNotFound, FileNotFoundError)
    assert issubclass(shmbus.RegionExists, FileExistsError)
    assert issubclass(shmbus.ForeignOwner, PermissionError)
    assert issubclass(shmbus.UnknownKey, KeyError)
    assert issubclass(shmbus.SeriesNotFound, KeyError)
    assert issubclass(shmbus.BadSlot, IndexError)
    assert issubclass(shmbus.Busy, TimeoutError) and issubclass(shmbus.Busy, shmbus.Timeout)
    assert issubclass(shmbus.SlotTableFull, shmbus.Full)
    assert issubclass(shmbus.LayoutMismatch, shmbus.IncompatibleRegion)
    assert issubclass(shmbus.Truncated, shmbus.CorruptRegion)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), shmbus.ShmbusError)


def test_message_facts_and_pickling(region_name):
    with pytest.raises(shmbus.RegionNotFound) as e:
        shmbus.SlotReader(region_name)
    err = e.value
    assert str(err) == err.message and str(err).startswith(f'no region "{region_name[1:]}"')
    assert err.facts == {"name": region_name[1:], "path": f"/dev/shm{region_name}"}
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is shmbus.RegionNotFound
    assert (str(again), again.path, again.name) == (str(err), err.path, err.name)


def test_invalid_region_name():
    with pytest.raises(shmbus.InvalidName) as e:
        shmbus.SlotReader("/a/../b")
    assert isinstance(e.value, ValueError) and e.value.name == "/a/../b" and e.value.reason
    with pytest.raises(shmbus.InvalidName):
        shmbus.region_path("")
    assert shmbus.region_path("prices") == "/dev/shm/prices"
    assert shmbus.region_path("/prices") == "/dev/shm/prices"
    assert shmbus.region_path("./data/p.shm") == "./data/p.shm"


def test_not_a_region(tmp_path):
    junk = tmp_path / "junk.shm"
    junk.write_bytes(b"\x01" * 4096)
    with pytest.raises(shmbus.BadMagic) as e:
        shmbus.SlotReader(str(junk))
    assert e.value.path == str(junk) and e.value.found != e.value.expected
    short = tmp_path / "short.shm"
    short.write_bytes(b"\x01" * 10)
    with pytest.raises(shmbus.Truncated) as t:
        shmbus.JournalReader(str(short))
    assert (t.value.size, t.value.min) == (10, 128)
    link = tmp_path / "link.shm"
    link.symlink_to(junk)
    with pytest.raises(shmbus.SymlinkRefused):
        shmbus.CandleReader(str(link))


def test_stable_codes(region_name):
    """The class and the ``code`` come from the error's stable code, never from its message."""
    with pytest.raises(shmbus.RegionNotFound) as e:
        shmbus.SlotReader(region_name)
    assert (e.value.code, e.value.code_number) == ("not_found", 101)
    again = pickle.loads(pickle.dumps(e.value))
    assert (again.code, again.code_number) == ("not_found", 101)
    w = shmbus.SlotWriter.create(region_name, capacity=4)
    w.slot("A")
    try:
        with pytest.raises(shmbus.WriterBusy) as busy:
            shmbus.SlotWriter.open(region_name)
        assert (busy.value.code, busy.value.code_number) == ("writer_busy", 119)
        with pytest.raises(shmbus.UnknownKey) as key:
            shmbus.SlotReader(region_name)["NOPE"]
        assert key.value.code == "unknown_key"
    finally:
        w.close()
    assert shmbus.ShmbusError("x").code is None
