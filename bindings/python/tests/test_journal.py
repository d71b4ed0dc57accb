"""The journal from Python: commit visibility, iteration, batches, seeking, waits that release
the GIL, asyncio with several readers, other processes, the Rust CLI, and the errors."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np
import pytest
from conftest import run_cli, spawn_python

import shmbus
from shmbus import JournalReader, JournalWriter, Message


def test_commit_makes_a_batch_visible(region_name):
    w = JournalWriter.create(region_name, ring=1 << 20)
    r = JournalReader(region_name)
    assert w.append(b"first", type=1) == 0
    assert w.append(b"second", type=2) == 1
    assert w.pending_bytes > 0
    assert r.next() is None and list(r) == [] and not r.has_next()  # not committed yet
    w.commit()
    assert r.has_next()
    m = next(r)
    assert isinstance(m, Message)
    assert (m.seq, m.type, m.data, bytes(m), len(m)) == (0, 1, b"first", b"first", 5)
    assert m.position == 0
    assert [(m.seq, m.type, m.data) for m in r] == [(1, 2, b"second")]
    assert list(r) == []  # stops at the end...
    w.append_commit(b"third")
    assert [m.data for m in r] == [b"third"]  # ...and continues when more comes
    assert r.next_seq == 3 and w.next_seq == 3
    assert m == Message(0, 1, b"first") and m != Message(0, 1, b"other")
    w.close()


def test_payload_kinds_and_empty_messages(region_name):
    with JournalWriter.create(region_name, ring=1 << 20) as w:
        w.append(b"")
        w.append(bytearray(b"ba"))
        w.append(memoryview(b"xmvx")[1:3])
        w.append(np.array([1.5, -2.0]))  # any buffer: its bytes
        assert w.append_many([b"a", b"bb", b"ccc"], type=9) == 3
    data = [(m.type, m.data) for m in JournalReader(region_name)]
    assert data == [(0, b""), (0, b"ba"), (0, b"mv"), (0, np.array([1.5, -2.0]).tobytes()),
                    (9, b"a"), (9, b"bb"), (9, b"ccc")]
    # Leaving the `with` block by an exception discards what was not committed.
    w = JournalWriter.open(region_name)
    with pytest.raises(RuntimeError):
        with w:
            w.append(b"lost")
            raise RuntimeError("boom")
    assert JournalReader(region_name, start=7).next() is None
    assert JournalWriter.open(region_name).next_seq == 7


def test_start_seek_prev_and_info(region_name):
    w = JournalWriter.create(region_name, ring=1 << 20, crc=True)
    for i in range(200):
        w.append(i.to_bytes(4, "little"), type=i % 3)
    w.commit()
    assert [m.seq for m in JournalReader(region_name, start="beginning").read_batch(3)] == [0, 1, 2]
    assert JournalReader(region_name, start="end").next() is None
    r = JournalReader(region_name, start=150)
    assert r.next().data == (150).to_bytes(4, "little")
    r.seek(10)
    assert r.next_seq == 10 and r.next().seq == 10
    assert r.prev().seq == 10 and r.prev().seq == 9 and r.next().seq == 9
    r.seek("end")
    assert r.next() is None and r.next_seq == 200
    r.seek("beginning")
    assert r.next().seq == 0
    info = r.info()
    assert info["mode"] == "ring" and info["crc"] and info["next_seq"] == 200
    assert info["oldest_seq"] == 0 and info["segments"] == 1 and info["writer_alive"]
    with pytest.raises(shmbus.NotYet) as e:
        JournalReader(region_name, start=201)
    assert (e.value.seq, e.value.next) == (201, 200)
    with pytest.raises(ValueError):
        JournalReader(region_name, start="middle")
    w.close()
    assert not JournalReader(region_name).info()["writer_alive"]


def test_read_batch(region_name):
    w = JournalWriter.create(region_name, ring=1 << 20)
    r = JournalReader(region_name)
    assert r.read_batch(10) == []
    for i in range(25):
        w.append(bytes([i]) * i)
    w.commit()
    b1, b2, b3 = r.read_batch(10), r.read_batch(10), r.read_batch(10)
    assert [m.seq for m in b1 + b2 + b3] == list(range(25))
    assert all(m.data == bytes([m.seq]) * m.seq for m in b1 + b2 + b3)
    assert r.read_batch(10) == [] and r.read_batch(0) == []
    # With a timeout it waits for the first message, then takes what is ready.
    t = threading.Timer(0.1, lambda: (w.append(b"x"), w.append(b"y"), w.commit()))
    t.start()
    start = time.monotonic()
    got = r.read_batch(10, timeout=5)
    assert [m.data for m in got] == [b"x", b"y"]
    assert 0.05 < time.monotonic() - start < 4
    t.join()
    assert r.read_batch(10, timeout=0.05) == []
    w.close()


def test_next_timeout_releases_the_gil(region_name):
    """While one thread waits in next(timeout), another Python thread keeps running; a commit
    wakes the waiter at once."""
    w = JournalWriter.create(region_name, ring=1 << 20)
    r = JournalReader(region_name, start="end")
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        before = ticks
        time.sleep(0.5)  # the baseline: time.sleep releases the GIL
        baseline = ticks - before
        before = ticks
        start = time.monotonic()
        assert r.next(timeout=0.5) is None
        waited = time.monotonic() - start
        progressed = ticks - before
    finally:
        stop.set()
        t.join()
    assert 0.45 < waited < 3, waited
    # A wait that held the GIL would leave the other thread almost still (about 1% of the
    # baseline when tried); a released GIL lets it count as during time.sleep.
    assert progressed > 0.3 * baseline, (progressed, baseline)

    timer = threading.Timer(0.2, lambda: w.append_commit(b"wake"))
    timer.start()
    start = time.monotonic()
    m = r.next(timeout=10)
    elapsed = time.monotonic() - start
    timer.join()
    assert m is not None and m.data == b"wake"
    assert 0.15 < elapsed < 2, elapsed
    # timeout=None waits without limit (here until the commit).
    threading.Timer(0.1, lambda: w.append_commit(b"forever")).start()
    assert r.next(timeout=None).data == b"forever"
    w.close()


def test_ctrl_c_interrupts_an_endless_wait(region_name):
    """next(timeout=None) waits in slices and checks for signals between them: SIGINT raises
    KeyboardInterrupt in the waiting process within a slice."""
    import select
    import signal

    w = JournalWriter.create(region_name, ring=1 << 20)
    # Python leaves SIGINT ignored in a process that inherits it ignored (a test run started in
    # the background by a non-interactive shell): the child installs the usual handler itself.
    child = spawn_python(f"""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import shmbus
        r = shmbus.JournalReader({region_name!r}, start="end")
        print("waiting", flush=True)
        try:
            r.next(timeout=None)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)

    def line(within: float) -> str:
        # A line from the child, or "" if none comes in time (never hangs the test run).
        ready, _, _ = select.select([child.stdout], [], [], within)
        return child.stdout.readline().strip() if ready else ""

    try:
        assert line(30) == "waiting"
        time.sleep(0.2)
        start = time.monotonic()
        child.send_signal(signal.SIGINT)
        assert line(10) == "interrupted"
        assert time.monotonic() - start < 2
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
        w.close()


def test_wait_keeps_the_message(region_name):
    w = JournalWriter.create(region_name, ring=1 << 20)
    r = JournalReader(region_name)
    assert not r.wait(0.05)
    threading.Timer(0.05, lambda: w.append_commit(b"kept")).start()
    assert r.wait(5)
    assert r.next_seq == 0 and r.has_next()
    assert r.next().data == b"kept"
    w.close()


def test_follow(region_name):
    w = JournalWriter.create(region_name, ring=1 << 20)
    r = JournalReader(region_name)

    def feed() -> None:
        for i in range(5):
            time.sleep(0.01)
            w.append_commit(bytes([i]))

    t = threading.Thread(target=feed)
    t.start()
    got = [m.data for m in r.follow(timeout=1.0)]
    t.join()
    assert got == [bytes([i]) for i in range(5)]
    w.close()


def test_overrun_reports_the_loss_and_resumes(region_name):
    w = JournalWriter.create(region_name, ring=1 << 16)
    r = JournalReader(region_name)
    payload = b"p" * 1000
    for i in range(1000):  # ~1 MB through a 64 KiB ring
        w.append_commit(payload)
    with pytest.raises(shmbus.Overrun) as e:
        r.next()
    o = e.value
    assert o.expected_seq == 0 and o.lost == o.resume_seq > 900 and o.lost < 1000
    assert f"{o.lost} messages lost" in str(o)
    assert r.next().seq == o.resume_seq
    rest = [m.seq for m in r]
    assert rest == list(range(o.resume_seq + 1, 1000))
    # In a batch, the messages before a lap are returned and the error comes next.
    r2 = JournalReader(region_name, start="end")
    w.append_commit(b"a")
    assert [m.data for m in r2.read_batch(10)] == [b"a"]
    with pytest.raises(shmbus.TooOld) as old:
        JournalReader(region_name, start=0)
    assert old.value.seq == 0 and old.value.oldest > 0
    w.close()


def test_journal_errors(region_name, names):
    w = JournalWriter.create(region_name, ring=1 << 16)
    with pytest.raises(shmbus.MessageTooLarge) as big:
        w.append(b"x" * (w.max_message + 1))
    assert (big.value.len, big.value.max) == (w.max_message + 1, w.max_message)
    with pytest.raises(shmbus.BatchTooLarge) as batch:
        for _ in range(100):
            w.append(b"y" * 8000)
    assert batch.value.capacity == 1 << 16 and batch.value.pending > 0
    with pytest.raises(shmbus.WriterBusy):
        JournalWriter.open(region_name)
    with pytest.raises(shmbus.RegionExists):
        JournalWriter.create(region_name, ring=1 << 16)
    with pytest.raises(ValueError):
        JournalWriter.create(names[0], ring=1 << 16, segment_size=1 << 20)
    with pytest.raises(shmbus.RegionNotFound):
        JournalReader(names[1])
    w.close()
    with pytest.raises(shmbus.Closed):
        w.append(b"z")
    shmbus.SlotWriter.create(names[2], capacity=1).close()
    with pytest.raises(shmbus.KindMismatch):
        JournalReader(names[2])


def test_persisted_journal_across_segments(tmp_path):
    name = str(tmp_path / "ticks.journal")
    w = JournalWriter.create(name, segment_size=1 << 16, retain_segments=100)
    r = JournalReader(name)
    for i in range(3000):
        w.append(i.to_bytes(8, "little") * 4)
        if i % 100 == 99:
            w.commit()
    w.commit()
    got = []
    while True:
        batch = r.read_batch(512)
        if not batch:
            break
        got.extend(batch)
    assert [int.from_bytes(m.data[:8], "little") for m in got] == list(range(3000))
    assert r.info()["mode"] == "persisted" and r.info()["segments"] > 1
    w.close()
    # A file that is not a segment: the directory is refused, even with force, by its code.
    notes = tmp_path / "ticks.journal" / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(shmbus.ShmbusError) as e:
        shmbus.remove(name, force=True)
    assert (e.value.code, e.value.code_number) == ("foreign_file", 123)
    assert e.value.file == str(notes) and e.value.reason == "not a segment file name"
    notes.unlink()
    shmbus.remove(name)
    assert not (tmp_path / "ticks.journal").exists()
    # A file that is not shmbus's at all.
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x01" * 4096)
    with pytest.raises(shmbus.ShmbusError) as e:
        shmbus.remove(str(junk), force=True)
    assert (e.value.code, e.value.reason) == ("not_a_region", "no shmbus header")
    assert junk.exists()


def test_stream_from_another_process(region_name):
    """A writer process appends 200k numbered messages in batches; this process reads them all
    in order with read_batch, waiting (GIL released) when it is ahead."""
    n = 200_000
    writer = spawn_python(f"""
        import shmbus, sys
        w = shmbus.JournalWriter.create({region_name!r}, ring=1 << 24)  # holds all: no lap
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range({n}):
            w.append(i.to_bytes(8, "little"), type=i % 7)
            if i % 100 == 99:
                w.commit()
        w.close()
    """)
    try:
        assert writer.stdout.readline().strip() == "ready"
        r = JournalReader(region_name)
        writer.stdin.write("go\n")
        writer.stdin.flush()
        expect = 0
        deadline = time.monotonic() + 120
        while expect < n and time.monotonic() < deadline:
            for m in r.read_batch(4096, timeout=1.0):
                assert m.seq == expect and m.type == expect % 7
                assert int.from_bytes(m.data, "little") == expect
                expect += 1
        assert expect == n
        assert r.next(timeout=0.05) is None
    finally:
        assert writer.wait(60) == 0, writer.stderr.read()


def test_rust_cli_and_python_read_each_other(region_name, names, cli):
    name = region_name.lstrip("/")
    run_cli(cli, "journal", "create", name, "--ring", "1M", "--crc")
    run_cli(cli, "append", name, "first message", "second message")
    assert [m.data for m in JournalReader(region_name)] == [b"first message", b"second message"]
    other = names[0]
    with JournalWriter.create(other, ring=1 << 20) as w:
        w.append(b"from python", type=7)
        w.append(b"two")
    lines = run_cli(cli, "tail", other.lstrip("/"), "--from", "start", "--json").splitlines()
    got = [json.loads(line) for line in lines]
    assert [(g["seq"], g["type"], g["payload"]) for g in got] == [
        (0, 7, "from python"), (1, 0, "two")]


# --- asyncio ---------------------------------------------------------------------------------


def test_async_for_with_several_readers(region_name):
    """Four readers iterate with `async for` while a thread writes 2000 messages in bursts;
    each gets every message in order, and the event loop keeps ticking meanwhile."""
    n, readers = 2000, 4
    w = JournalWriter.create(region_name, ring=1 << 22)

    async def consume(k: int) -> list:
        out = []
        async for m in JournalReader(region_name):
            out.append((m.seq, m.data))
            if len(out) == n:
                break
        return out

    async def ticker(stop: asyncio.Event) -> int:
        ticks = 0
        while not stop.is_set():
            await asyncio.sleep(0.001)
            ticks += 1
        return ticks

    def feed() -> None:
        for i in range(n):
            w.append(i.to_bytes(4, "little"))
            if i % 50 == 49:
                w.commit()
                time.sleep(0.01)
        w.commit()

    async def main() -> tuple:
        stop = asyncio.Event()
        tick_task = asyncio.create_task(ticker(stop))
        tasks = [asyncio.create_task(consume(k)) for k in range(readers)]
        await asyncio.sleep(0.05)  # every reader is waiting on an empty journal
        feeder = threading.Thread(target=feed)
        start = time.monotonic()
        feeder.start()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
        elapsed = time.monotonic() - start
        stop.set()
        feeder.join()
        return results, await tick_task, elapsed

    results, ticks, elapsed = asyncio.run(main())
    want = [(i, i.to_bytes(4, "little")) for i in range(n)]
    for got in results:
        assert got == want
    # The feed takes >= 0.4 s (40 pauses of 10 ms): a loop blocked by a wait could not tick.
    assert elapsed >= 0.4
    assert ticks > 0.25 * elapsed / 0.001 * 0.5, (ticks, elapsed)
    w.close()


def test_async_timeout_and_cancellation_lose_nothing(region_name):
    w = JournalWriter.create(region_name, ring=1 << 20)
    r = JournalReader(region_name)

    async def main() -> list:
        assert await r.next_async(timeout=0.05) is None  # cancelled while waiting
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, lambda: w.append_commit(b"after the cancel"))
        m = await r.next_async(timeout=5)
        w.append(b"b1")
        w.append(b"b2")
        w.commit()
        batch = await r.read_batch_async(10, timeout=5)
        empty = await r.read_batch_async(10, timeout=0.05)
        return [m.data, [x.data for x in batch], empty]

    assert asyncio.run(main()) == [b"after the cancel", [b"b1", b"b2"], []]
    r.close()
    assert r.closed
    w.close()
