"""Slot tables from Python: TradingData and user records, seed 001's API, other processes, the
Rust CLI, and every error a user can meet."""

from __future__ import annotations

import json
import time

import pytest
from conftest import run_cli, run_python, spawn_python

import shmbus
from shmbus import RecordType, SlotReader, SlotWriter, TradingData


def test_write_read_trading_data(region_name):
    with SlotWriter.create(region_name, capacity=8) as w:
        btc = w.slot("BTCUSD")
        assert btc == 0 and w.slot("ETHUSD") == 1 and w.slot("BTCUSD") == 0
        w.write(btc, TradingData(97_000.5, 3, 1_700_000_000_123_456_789, True))
        w.put("ETHUSD", TradingData(3150.25, -7, 42, False))
        assert w.read("ETHUSD") == TradingData(3150.25, -7, 42, False)

        r = SlotReader(region_name)
        assert r.keys() == ["BTCUSD", "ETHUSD"] and len(r) == 2 and r.capacity == 8
        assert r["BTCUSD"] == TradingData(97_000.5, 3, 1_700_000_000_123_456_789, True)
        assert r.read(1) == TradingData(3150.25, -7, 42, False)
        assert r.layout_name == "TradingData" and r.record_size == 24
        assert r.writer_alive
        v = r.read_versioned("BTCUSD")
        assert v is not None and v.seq == 2
        # Change detection: nothing new until the writer publishes again.
        assert r.read_if_changed("BTCUSD", v.seq) is None
        w.write(btc, TradingData(97_001.0, 4, 5, True))
        changed = r.read_if_changed("BTCUSD", v.seq)
        assert changed == (4, TradingData(97_001.0, 4, 5, True))
        assert r.sequence(btc) == 4
        assert "BTCUSD" in r and "XRPUSD" not in r
        assert r.get("XRPUSD", "none") == "none"
        assert dict(r.items()) == {
            "BTCUSD": TradingData(97_001.0, 4, 5, True),
            "ETHUSD": TradingData(3150.25, -7, 42, False),
        }
    assert not SlotReader(region_name).writer_alive


def test_registered_but_never_written_slot_reads_none(region_name):
    with SlotWriter.create(region_name, capacity=2) as w:
        w.slot("A")
        r = SlotReader(region_name)
        assert r.read("A") is None and r.read_versioned(0) is None
        assert r.get("A", 1) == 1


def test_user_record_layout(region_name):
    Quote = RecordType(
        "Quote",
        [("bid", "f64"), ("ask", "f64"), ("bid_size", "i32"), ("ask_size", "u32"),
         ("venue", "bytes8"), ("live", "bool")],
    )
    assert Quote.offsets == {"bid": 0, "ask": 8, "bid_size": 16, "ask_size": 20, "venue": 24,
                             "live": 32}
    assert Quote.size == 40
    with SlotWriter.create(region_name, Quote, capacity=4) as w:
        w.put("BTCUSD", Quote.tuple_type(1.5, 2.5, -3, 4, b"BINANCE", True))
        w.put("ETHUSD", {"bid": 10.0, "ask": 11.0, "bid_size": 1, "ask_size": 2,
                         "venue": "KRAKEN", "live": False})
        r = SlotReader(region_name, Quote)
        q = r["BTCUSD"]
        assert (q.bid, q.ask, q.bid_size, q.ask_size, q.live) == (1.5, 2.5, -3, 4, True)
        assert q.venue.rstrip(b"\0") == b"BINANCE"
        assert r["ETHUSD"].venue.rstrip(b"\0") == b"KRAKEN"
        # The layout is checked: the same table is not TradingData, and a raw reader sees bytes.
        with pytest.raises(shmbus.LayoutMismatch) as e:
            SlotReader(region_name)
        assert (e.value.expected_name, e.value.found_name) == ("TradingData", "Quote")
        assert e.value.expected != e.value.found
        raw = SlotReader(region_name, None)
        assert raw.layout_name == "Quote" and raw.record_size == 40
        assert raw["BTCUSD"] == Quote.pack(q)
        # A field order change is another layout.
        Swapped = RecordType("Quote", [(n, c, o) for n, c, o in Quote.fields], size=40)
        assert Swapped == Quote
        Other = RecordType("Quote", [("ask", "f64"), ("bid", "f64"), ("bid_size", "i32"),
                                     ("ask_size", "u32"), ("venue", "bytes8"), ("live", "bool")])
        with pytest.raises(shmbus.LayoutMismatch):
            SlotReader(region_name, Other)


def test_invalid_layout_is_refused(region_name):
    with pytest.raises(shmbus.InvalidLayout) as e:
        SlotWriter.create(region_name, RecordType("Odd", [("a", "f64")], size=12))
    assert e.value.name == "Odd" and "multiple of 8" in e.value.reason
    with pytest.raises(ValueError):
        RecordType("Bad", [("a", "complex")])


def test_slot_errors(region_name, names):
    with pytest.raises(shmbus.RegionNotFound) as e:
        SlotReader(region_name)
    assert isinstance(e.value, FileNotFoundError)
    assert e.value.path == f"/dev/shm{region_name}" and e.value.name == region_name.lstrip("/")
    assert "create it first" in str(e.value)

    w = SlotWriter.create(region_name, capacity=2)
    with pytest.raises(shmbus.RegionExists):
        SlotWriter.create(region_name)
    with pytest.raises(shmbus.WriterBusy) as busy:
        SlotWriter.open(region_name)
    assert busy.value.path == f"/dev/shm{region_name}"
    with pytest.raises(shmbus.InvalidKey) as bad:
        w.slot("x" * 32)
    assert bad.value.key == "x" * 32 and "31 bytes" in bad.value.reason
    w.slot("A")
    w.slot("B")
    with pytest.raises(shmbus.SlotTableFull) as full:
        w.slot("C")
    assert full.value.capacity == 2 and isinstance(full.value, shmbus.Full)
    r = SlotReader(region_name)
    with pytest.raises(shmbus.UnknownKey) as unknown:
        r["C"]
    assert isinstance(unknown.value, KeyError) and unknown.value.key == "C"
    with pytest.raises(shmbus.BadSlot) as bad_slot:
        r.read(5)
    assert isinstance(bad_slot.value, IndexError) and bad_slot.value.index == 5
    with pytest.raises(shmbus.RecordSizeMismatch) as size:
        shmbus._shmbus.RawSlotWriter.write(w._w, 0, b"short")
    assert (size.value.expected, size.value.found) == (24, 5)
    w.close()
    with pytest.raises(shmbus.Closed):
        w.put("A", TradingData(1, 1, 1, True))
    r.close()
    with pytest.raises(shmbus.Closed):
        r.read(0)

    # Another kind of region, and a size that holds no slot.
    shmbus.JournalWriter.create(names[0], ring=1 << 16).close()
    with pytest.raises(shmbus.KindMismatch) as kind:
        SlotReader(names[0])
    assert (kind.value.expected, kind.value.found) == ("slots", "journal")
    with pytest.raises(shmbus.SizeTooSmall) as small:
        SlotWriter.create(names[1], size=100)
    assert small.value.requested == 100 and small.value.min > 100


def test_writer_in_another_process(region_name):
    """A feed process writes 20k updates whose fields agree; this process reads all the while:
    never a torn record, sequences only grow, and the last value is the last written."""
    feed = spawn_python(f"""
        import shmbus, sys
        w = shmbus.SlotWriter.create({region_name!r}, capacity=4)
        slot = w.slot("BTCUSD")
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(1, 20001):
            w.write(slot, shmbus.TradingData(float(i), i, i, True))
        print("done", flush=True)
        sys.stdin.readline()
    """)
    try:
        assert feed.stdout.readline().strip() == "ready"
        r = SlotReader(region_name)
        feed.stdin.write("go\n")
        feed.stdin.flush()
        last_seq, reads = 0, 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            v = r.read_versioned("BTCUSD")
            reads += 1
            if v is None:
                continue
            assert v.value.price == v.value.volume == v.value.timestamp, v
            assert v.seq >= last_seq and v.seq == 2 * v.value.volume
            last_seq = v.seq
            if v.value.volume == 20000:
                break
        assert last_seq == 40000, f"the reader never saw the last write ({reads} reads)"
        assert feed.stdout.readline().strip() == "done"
        assert r.writer_alive
    finally:
        feed.stdin.write("exit\n")
        feed.stdin.flush()
        assert feed.wait(30) == 0, feed.stderr.read()
    assert not r.writer_alive
    # The lock went with the process: a new writer opens the table at once.
    with SlotWriter.open(region_name) as w2:
        assert w2.read("BTCUSD") == TradingData(20000.0, 20000, 20000, True)
        assert w2.repaired == 0


def test_writer_busy_names_the_live_writer(region_name):
    holder = spawn_python(f"""
        import shmbus, sys
        w = shmbus.SlotWriter.create({region_name!r}, capacity=4)
        print("ready", flush=True)
        sys.stdin.readline()
    """)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(shmbus.WriterBusy) as e:
            SlotWriter.open(region_name)
        assert e.value.pid == holder.pid
        assert f"pid {holder.pid}" in str(e.value)
        with pytest.raises(shmbus.InUse):
            shmbus.remove(region_name)
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(30) == 0
    with SlotWriter.open(region_name):
        pass


def test_rust_cli_and_python_read_each_other(region_name, names, cli):
    name = region_name.lstrip("/")
    run_cli(cli, "create", name, "--kind", "slots", "--size", "64K")
    run_cli(cli, "slot", "put", name, "BTCUSD", "--price", "97000.5", "--volume", "3")
    r = SlotReader(region_name)
    got = r["BTCUSD"]
    assert (got.price, got.volume, got.valid) == (97000.5, 3, True)
    assert abs(got.timestamp - shmbus.now_unix_ns()) < 60e9
    # And the other way: Python writes, the Rust CLI reads.
    other = names[0]
    with SlotWriter.create(other, capacity=4) as w:
        w.put("ETHUSD", TradingData(3150.25, 12, 1_700_000_000_000_000_007, True))
        out = json.loads(run_cli(cli, "slot", "get", other.lstrip("/"), "ETHUSD", "--json"))
    assert (out["price"], out["volume"], out["timestamp"], out["valid"]) == (
        3150.25, 12, 1_700_000_000_000_000_007, True)


# --- seed 001 --------------------------------------------------------------------------------


def test_seed001_consumer_and_producer(region_name):
    consumer = shmbus.SharedMemoryConsumer(region_name)
    assert not consumer.connect()  # the producer is not running yet
    with pytest.raises(shmbus.Closed):
        consumer.read_trading_data()
    run_python(f"""
        import shmbus
        p = shmbus.SharedMemoryProducer({region_name!r})
        p.write_trading_data(100.50, 1000, timestamp=1_700_000_000_000_000_000)
        p.close()
    """)
    assert consumer.connect() and consumer.is_connected
    data = consumer.read_trading_data()
    assert data == TradingData(100.50, 1000, 1_700_000_000_000_000_000, True)
    assert isinstance(data, tuple) and data._fields == ("price", "volume", "timestamp", "valid")
    assert consumer.read_if_changed() is None
    # A restarted producer continues the same table (readers keep their mapping).
    with shmbus.SharedMemoryProducer(region_name) as p:
        assert p.read_trading_data() == data
        p.write(TradingData(101.0, 5, 7, True))
        assert consumer.read_if_changed() == TradingData(101.0, 5, 7, True)
        with pytest.raises(shmbus.WriterBusy):
            shmbus.SharedMemoryProducer(region_name)
    assert SlotReader(region_name).keys() == [shmbus.DEFAULT_KEY]
    consumer.close()
    assert not consumer.is_connected


def test_seed001_consumer_before_first_write(region_name):
    w = SlotWriter.create(region_name, capacity=1)
    consumer = shmbus.SharedMemoryConsumer(region_name)
    assert consumer.connect()
    assert consumer.read_trading_data() == TradingData(0.0, 0, 0, False)  # no key yet
    w.slot("default")
    assert consumer.read_trading_data() == TradingData(0.0, 0, 0, False)  # never written
    w.write(0, TradingData(1.0, 2, 3, True))
    assert consumer.read_trading_data() == TradingData(1.0, 2, 3, True)
    w.close()


def test_seed001_consumer_reads_a_table_the_cli_made(region_name, cli):
    name = region_name.lstrip("/")
    run_cli(cli, "create", name, "--kind", "slots", "--size", "64K")
    run_cli(cli, "slot", "put", name, "BTCUSD", "--price", "97000.5", "--volume", "3")
    run_cli(cli, "slot", "put", name, "ETHUSD", "--price", "1", "--volume", "1")
    consumer = shmbus.SharedMemoryConsumer(name)
    assert consumer.connect()
    assert consumer.read_trading_data()[:2] == (97000.5, 3)  # slot 0, whatever its key


def test_seed001_consumer_reports_a_wrong_layout(region_name):
    SlotWriter.create(region_name, RecordType("Other", [("x", "f64")]), capacity=1).close()
    with pytest.raises(shmbus.LayoutMismatch):
        shmbus.SharedMemoryConsumer(region_name).connect()


def test_threads_share_one_reader(region_name):
    """Reads release the GIL; several threads reading through one SlotReader at once must not
    trip over each other."""
    import threading

    w = SlotWriter.create(region_name, capacity=4)
    for k in ("A", "B", "C"):
        w.put(k, TradingData(1.0, 1, 1, True))
    r = SlotReader(region_name)
    errors: list = []

    def work() -> None:
        try:
            for i in range(20_000):
                assert r.read(i % 3).valid
                r.read_if_changed("B", 0)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(20_000):
        w.write(0, TradingData(float(i), i, i, True))
    for t in threads:
        t.join()
    assert errors == []
    w.close()
