"""Candle regions from Python: numpy arrays in and out, seed 000's writer API, pandas, a live
writer in another process, the Rust CLI, and the QNXS errors."""

from __future__ import annotations

import csv
import datetime as dt
import json

import numpy as np
import pytest
from conftest import FIXTURES, run_cli, spawn_python

import shmbus
from shmbus import CANDLE_DTYPE, Candle, CandleReader, CandleWriter, SharedMemoryWriter

T0 = 1_704_067_200_000
HOUR = 3_600_000


def bars(n: int, start: int = T0, step: int = HOUR) -> np.ndarray:
    i = np.arange(n)
    a = np.empty(n, CANDLE_DTYPE)
    a["timestamp"] = start + step * i
    a["open"] = 100 + 0.5 * i
    a["high"] = a["open"] + 2
    a["low"] = a["open"] - 1.25
    a["close"] = a["open"] + 0.75
    a["volume"] = 10 * i + 0.5
    return a


def test_dtype_is_the_qnxs_candle():
    assert CANDLE_DTYPE.itemsize == 48
    assert CANDLE_DTYPE.names == ("timestamp", "open", "high", "low", "close", "volume")
    assert [CANDLE_DTYPE.fields[f][1] for f in CANDLE_DTYPE.names] == [0, 8, 16, 24, 32, 40]
    assert CANDLE_DTYPE["timestamp"] == np.dtype("<u8")
    assert all(CANDLE_DTYPE[f] == np.dtype("<f8") for f in CANDLE_DTYPE.names[1:])


def test_write_and_read_numpy(region_name):
    want = bars(1000)
    with CandleWriter.create(region_name, 8 << 20) as w:
        rep = w.write_candles("BTCUSDT", "1h", want)
        assert rep == (1000, 0, 1000)
        r = CandleReader(region_name)
        got = r.read("BTCUSDT", "1h")
        assert got.dtype == CANDLE_DTYPE and got.shape == (1000,)
        assert np.array_equal(got, want)
        # The array is the caller's copy: changing it changes nothing in the region.
        assert got.flags.writeable and got.flags.c_contiguous
        got["close"][:] = -1
        assert np.array_equal(r.read("BTCUSDT", "1h"), want)
        # The live bar: same timestamp as the last stored one replaces it.
        live = want[-1:].copy()
        live["close"] = 999.0
        assert w.write_candles("BTCUSDT", "1h", live) == (1, 1, 1000)
        assert r.latest("BTCUSDT", "1h") == Candle(*live[0].tolist())
        assert r.latest("BTCUSDT", "1h").close == 999.0
        day = r.range("BTCUSDT", "1h", T0, T0 + 24 * HOUR)
        assert np.array_equal(day, want[:24])
        # Another interval of the same symbol is another series.
        w.write_candles("BTCUSDT", "1d", bars(3, step=24 * HOUR))
        series = {(s.symbol, s.interval): s for s in r.list_series()}
        assert set(series) == {("BTCUSDT", "1h"), ("BTCUSDT", "1d")}
        s = series[("BTCUSDT", "1h")]
        assert (s.count, s.start_ts, s.end_ts) == (1000, T0, T0 + 999 * HOUR)
        stats = r.get_stats()
        assert stats == w.get_stats()
        assert (stats["totalSymbols"], stats["totalCandles"], stats["writeCount"]) == (2, 1003, 3)
        assert stats["memoryUsed"] > 1003 * 48 and stats["lastWriteUs"] > 0
        assert np.array_equal(w.read("BTCUSDT", "1d"), bars(3, step=24 * HOUR))
        assert not r.is_foreign


def test_input_forms(region_name):
    want = bars(5)
    rows = [tuple(x) for x in want.tolist()]
    dicts = [dict(zip(CANDLE_DTYPE.names, x)) for x in rows]
    two_d = np.column_stack([want[f].astype(np.float64) for f in CANDLE_DTYPE.names])
    reordered = np.zeros(5, dtype=[("close", "f4"), ("volume", "f8"), ("timestamp", "i8"),
                                   ("open", "f8"), ("high", "f8"), ("low", "f8"), ("x", "i1")])
    for f in CANDLE_DTYPE.names:
        reordered[f] = want[f]
    strided = np.zeros(10, CANDLE_DTYPE)
    strided[::2] = want
    forms = {
        "tuples": rows,
        "dicts": dicts,
        "namedtuples": [Candle(*x) for x in rows],
        "2-D": two_d,
        "other dtype": reordered,
        "strided": strided[::2],
    }
    with CandleWriter.create(region_name, 8 << 20) as w:
        for i, (label, form) in enumerate(forms.items()):
            w.write_candles(f"S{i}", "1h", form)
            got = w.read(f"S{i}", "1h")
            assert np.array_equal(got, want), label
        assert shmbus.as_candle_array([]).shape == (0,)
        with pytest.raises(ValueError):
            w.write_candles("X", "1h", np.zeros((3, 4)))


def test_pandas_round_trip(region_name):
    pd = pytest.importorskip("pandas")
    want = bars(48)
    with CandleWriter.create(region_name, 8 << 20) as w:
        w.write_candles("ETHUSDT", "1h", want)
        frame = CandleReader(region_name).to_pandas("ETHUSDT", "1h")
        assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
        assert frame.index.name == "time" and str(frame.index.tz) == "UTC"
        assert frame.index[0] == pd.Timestamp(T0, unit="ms", tz="UTC")
        assert frame["close"].tolist() == want["close"].tolist()
        # A DataFrame indexed by time writes back the same candles.
        w.write_candles("COPY", "1h", frame)
        assert np.array_equal(w.read("COPY", "1h"), want)


def test_candle_errors(region_name, names):
    w = CandleWriter.create(region_name, 1 << 20)
    w.write_candles("BTCUSDT", "1h", bars(10))
    with pytest.raises(shmbus.OutOfOrder) as e:
        w.write_candles("BTCUSDT", "1h", bars(2))
    o = e.value
    assert (o.symbol, o.interval, o.index, o.timestamp, o.last) == (
        "BTCUSDT", "1h", 0, T0, T0 + 9 * HOUR)
    assert (o.qnxs_code, o.qnxs_name) == (5, "WRITE_FAILED")
    assert str(o).startswith("QNXS error 5 WRITE_FAILED")
    bad = bars(3, start=T0 + 100 * HOUR)
    bad["high"][1] = bad["low"][1] - 1
    with pytest.raises(shmbus.InvalidCandle) as e:
        w.write_candles("BTCUSDT", "1h", bad)
    assert e.value.index == 1 and "nothing was written" in str(e.value)
    assert len(w.read("BTCUSDT", "1h")) == 10  # all or nothing
    with pytest.raises(shmbus.Full) as e:
        w.write_candles("BIG", "1m", bars(30_000, step=60_000))
    f = e.value
    assert f.needed > f.free and f.size == 1 << 20 and f.suggested > f.size
    with pytest.raises(shmbus.InvalidName) as e:
        w.write_candles("A_SYMBOL_TOO_LONG", "1h", bars(1))
    assert e.value.what == "symbol" and e.value.qnxs_code == 1
    r = CandleReader(region_name)
    with pytest.raises(shmbus.SeriesNotFound) as e:
        r.read("BTCUSDT", "4h")
    assert isinstance(e.value, KeyError) and e.value.qnxs_code == 6
    assert (e.value.symbol, e.value.interval) == ("BTCUSDT", "4h")
    # The replace path re-writes history.
    assert w.replace_candles("BTCUSDT", "1h", bars(2)).count == 2
    with pytest.raises(shmbus.WriterBusy):
        CandleWriter.open(region_name)
    w.close()
    with pytest.raises(shmbus.Closed):
        w.write_candles("BTCUSDT", "1h", bars(1))

    with pytest.raises(shmbus.RegionExists) as e:
        CandleWriter.create(region_name, 1 << 20)
    assert e.value.qnxs_code == 3  # CREATE_FAILED
    with pytest.raises(shmbus.SizeTooSmall) as e:
        CandleWriter.create(names[0], 1000)
    assert e.value.qnxs_code == 2  # INVALID_SIZE
    with CandleWriter.create(names[1], 2 << 20, max_candles=5) as small:
        with pytest.raises(shmbus.TooManyCandles) as e:
            small.write_candles("X", "1h", bars(6))
        assert (e.value.count, e.value.max, e.value.qnxs_code) == (6, 5, 8)
        for i in range(256):
            small.write_candles(f"S{i}", "1h", bars(1))
        with pytest.raises(shmbus.TooManySeries) as e:
            small.write_candles("ONE_MORE", "1h", bars(1))
        assert e.value.max == 256 and e.value.qnxs_code == 7


def test_seed000_shared_memory_writer(region_name):
    writer = SharedMemoryWriter()
    assert not writer.is_initialized() and not writer.isInitialized()
    with pytest.raises(shmbus.Closed) as e:
        writer.write_candles("BTCUSDT", "1h", [])
    assert e.value.qnxs_code == 9
    writer.create(region_name.lstrip("/"), 8 * 1024 * 1024)
    assert writer.isInitialized()
    candles = [
        {"timestamp": 1704067200000, "open": 42000.0, "high": 42500.0, "low": 41800.0,
         "close": 42300.0, "volume": 125.5},
        {"timestamp": 1704070800000, "open": 42300.0, "high": 42400.0, "low": 42100.0,
         "close": 42200.0, "volume": 80.0},
    ]
    writer.writeCandles("BTCUSDT", "1h", candles)
    writer.write_candles("ETHUSDT", "1h", candles[:1])
    stats = writer.getStats()
    assert set(stats) == {"totalSymbols", "totalCandles", "memoryUsed", "lastWriteUs",
                          "writeCount"}
    assert (stats["totalSymbols"], stats["totalCandles"], stats["writeCount"]) == (2, 3, 2)
    assert abs(stats["lastWriteUs"] - shmbus.now_unix_ns() // 1000) < 60e6
    writer.close()
    assert not writer.is_initialized()
    got = CandleReader(region_name).read("BTCUSDT", "1h")
    assert got["close"].tolist() == [42300.0, 42200.0]
    # create() never re-initialises a live region; open_existing continues it.
    with pytest.raises(shmbus.RegionExists):
        SharedMemoryWriter().create(region_name)
    again = SharedMemoryWriter()
    again.create(region_name, open_existing=True)
    assert again.get_stats()["totalCandles"] == 3
    again.close()


def test_reader_never_sees_a_torn_series(region_name):
    """A writer process appends 20k live bars one by one (each a new bar, then an update of
    it); reading meanwhile always gives a consistent prefix of the series."""
    feed = spawn_python(f"""
        import shmbus, numpy as np, sys
        w = shmbus.CandleWriter.create({region_name!r}, 16 << 20)
        print("ready", flush=True)
        sys.stdin.readline()
        bar = np.zeros(1, shmbus.CANDLE_DTYPE)
        for i in range(20000):
            bar["timestamp"] = {T0} + i * 60000
            bar["open"] = bar["low"] = i
            bar["high"] = bar["close"] = i + 1
            bar["volume"] = 1
            w.write_candles("BTCUSDT", "1m", bar)
            bar["volume"] = 2  # the same bar again: replaces it
            w.write_candles("BTCUSDT", "1m", bar)
        print("done", flush=True)
        sys.stdin.readline()
    """)
    try:
        assert feed.stdout.readline().strip() == "ready"
        feed.stdin.write("go\n")
        feed.stdin.flush()
        r = CandleReader(region_name)
        reads, last = 0, 0
        while last < 20000:
            try:
                a = r.read("BTCUSDT", "1m")
            except shmbus.SeriesNotFound:
                continue
            reads += 1
            n = len(a)
            assert n >= last
            i = np.arange(n)
            assert np.array_equal(a["timestamp"], T0 + i * 60000)
            assert np.array_equal(a["open"], i) and np.array_equal(a["close"], i + 1)
            # Every bar but the last is complete; the last is the new bar or its update.
            assert np.all(a["volume"][:-1] == 2) and a["volume"][-1] in (1, 2)
            last = n
        assert reads > 10
        assert feed.stdout.readline().strip() == "done"
    finally:
        feed.stdin.write("\n")
        feed.stdin.flush()
        assert feed.wait(60) == 0, feed.stderr.read()


def test_rust_cli_and_python_read_each_other(region_name, names, cli):
    name = region_name.lstrip("/")
    run_cli(cli, "create", name, "--kind", "candles", "--size", "8M")
    run_cli(cli, "candles", "import", name, str(FIXTURES / "GOOG.csv"), "--symbol", "GOOG",
            "--interval", "1d")
    got = CandleReader(region_name).read("GOOG", "1d")
    with open(FIXTURES / "GOOG.csv") as f:
        rows = list(csv.reader(f))[1:]
    assert len(got) == len(rows) == 300
    for g, row in zip(got, rows):
        day = dt.datetime.strptime(row[0], "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
        assert int(g["timestamp"]) == int(day.timestamp() * 1000)
        assert [g["open"], g["high"], g["low"], g["close"], g["volume"]] == [
            float(x) for x in row[1:]]
    # Python writes, the Rust CLI reads.
    other = names[0]
    with CandleWriter.create(other, 8 << 20) as w:
        w.write_candles("BTCUSDT", "1h", bars(3))
    shown = json.loads(run_cli(cli, "candles", "show", other.lstrip("/"), "BTCUSDT", "1h",
                               "--json"))
    assert [(c["timestamp"], c["open"], c["close"], c["volume"]) for c in shown] == [
        (int(b["timestamp"]), b["open"], b["close"], b["volume"]) for b in bars(3)]
    stats = json.loads(run_cli(cli, "candles", "stats", other.lstrip("/"), "--json"))
    assert stats == CandleReader(other).get_stats()


def test_100k_candle_series(region_name):
    want = bars(100_000, step=60_000)
    with CandleWriter.create(region_name, 16 << 20) as w:
        w.write_candles("BTCUSDT", "1m", want)
        got = CandleReader(region_name).read("BTCUSDT", "1m")
        assert np.array_equal(got, want)
        with pytest.raises(shmbus.TooManyCandles):
            w.write_candles("BTCUSDT", "1m", bars(1, start=T0 + 100_000 * 60_000))


def test_region_of_the_original_quantnexus_writer(tmp_path):
    """A region as the original QNXS writer leaves it (no shmbus header: test data built here
    from the documented layout) reads into numpy like shmbus's own."""
    import struct

    want = bars(3)
    size, data_offset, capacity = 1 << 20, 16640, 10
    buf = bytearray(size)
    struct.pack_into("<IIIIQQI", buf, 0, 0x514E5853, 1, 4242, 0, 1_704_067_200_000_000, 42, 1)
    struct.pack_into("<I", buf, 256, 1)  # index count
    entry = 264
    struct.pack_into("<16sQIIQ", buf, entry, b"BTCUSDT", data_offset, 56 + capacity * 48, 3,
                     1_704_067_200_000_000)
    struct.pack_into("<16s8sIIQQ", buf, data_offset, b"BTCUSDT", b"1h", 3, capacity,
                     int(want["timestamp"][0]), int(want["timestamp"][-1]))
    buf[data_offset + 56:data_offset + 56 + 3 * 48] = want.tobytes()
    path = tmp_path / "quantnexus_ohlcv"
    path.write_bytes(bytes(buf))
    r = CandleReader(str(path))
    assert r.is_foreign
    assert np.array_equal(r.read("BTCUSDT", "1h"), want)
    assert [(s.symbol, s.interval, s.count) for s in r.list_series()] == [("BTCUSDT", "1h", 3)]
    assert r.get_stats()["writeCount"] == 0
    # The original writer's regions are read, not written: no shmbus writer opens them.
    with pytest.raises(shmbus.ShmbusError):
        CandleWriter.open(str(path))
