#!/usr/bin/env python3
"""Benchmarks of the Python binding; prints medians over several runs.

    python bindings/python/bench.py [--runs 7] [--messages 1000000]

* journal, batched reads: ``read_batch(256)`` over 1M committed 64-byte messages (each a
  ``Message`` with its payload copied into ``bytes``), target >= 1M msg/s; the same with
  ``for m in reader`` (one call per message); and live, with the writer in another process
  appending as fast as it can while this one reads.
* candles: reading a 100k-candle series into a numpy array (validated copy), target <= 2 ms;
  baseline in the same run: a memcpy of the same 4.8 MB into an array allocated beforehand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from typing import Callable, List

import numpy as np

import shmbus

PAYLOAD = 64


def median_of(runs: int, fn: Callable[[], float]) -> List[float]:
    return [fn() for _ in range(runs)]


def fmt_rate(xs: List[float]) -> str:
    return (f"median {statistics.median(xs) / 1e6:6.2f}M msg/s "
            f"(min {min(xs) / 1e6:.2f}M, max {max(xs) / 1e6:.2f}M)")


def fmt_time(xs: List[float]) -> str:
    return (f"median {statistics.median(xs) * 1e3:7.3f} ms "
            f"(min {min(xs) * 1e3:.3f}, max {max(xs) * 1e3:.3f})")


def bench_journal(runs: int, n: int) -> None:
    name = f"/shmbus-pybench-journal-{os.getpid()}"
    ring = 1 << 28  # holds every message: the readers are never lapped
    w = shmbus.JournalWriter.create(name, ring=ring, populate=True)
    payload = bytes(range(PAYLOAD))
    for i in range(n):
        w.append(payload)
        if i % 64 == 63:
            w.commit()
    w.commit()
    try:
        def batched(size: int) -> float:
            r = shmbus.JournalReader(name)
            got = 0
            t = time.perf_counter()
            while True:
                batch = r.read_batch(size)
                if not batch:
                    break
                got += len(batch)
            dt = time.perf_counter() - t
            assert got == n and batch == [] and r.next_seq == n
            return n / dt

        def iterated() -> float:
            r = shmbus.JournalReader(name)
            got = 0
            t = time.perf_counter()
            for _ in r:
                got += 1
            dt = time.perf_counter() - t
            assert got == n
            return n / dt

        print(f"journal, {n} committed messages of {PAYLOAD} B, read in this process:")
        print(f"  read_batch(256)    {fmt_rate(median_of(runs, lambda: batched(256)))}"
              "   target >= 1M msg/s")
        print(f"  read_batch(4096)   {fmt_rate(median_of(runs, lambda: batched(4096)))}"
              "   (big batches fall out of the caches)")
        print(f"  for m in reader    {fmt_rate(median_of(runs, iterated))}")
    finally:
        w.close()
        shmbus.remove(name, force=True)

    def live() -> float:
        live_name = f"/shmbus-pybench-live-{os.getpid()}"
        code = textwrap.dedent(f"""
            import shmbus, sys
            w = shmbus.JournalWriter.create({live_name!r}, ring={ring}, populate=True)
            payload = bytes(range({PAYLOAD}))
            print("ready", flush=True)
            sys.stdin.readline()
            for i in range({n}):
                w.append(payload)
                if i % 64 == 63:
                    w.commit()
            w.close()
        """)
        p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout is not None and p.stdin is not None
            assert p.stdout.readline().strip() == "ready"
            r = shmbus.JournalReader(live_name)
            p.stdin.write("go\n")
            p.stdin.flush()
            first = r.read_batch(256, timeout=10)
            t = time.perf_counter()
            got = len(first)
            while got < n:
                got += len(r.read_batch(256, timeout=10))
            dt = time.perf_counter() - t
            assert got == n
            return (n - len(first)) / dt
        finally:
            p.wait(60)
            shmbus.remove(live_name, force=True)

    print(f"  live: writer process appending {n} (commit per 64), this one reading")
    print(f"  read_batch(256)    {fmt_rate(median_of(max(3, runs // 2), live))}"
          "   (paced by the Python writer)")


def bench_candles(runs: int) -> None:
    name = f"/shmbus-pybench-candles-{os.getpid()}"
    n = 100_000
    a = np.empty(n, shmbus.CANDLE_DTYPE)
    i = np.arange(n)
    a["timestamp"] = 1_700_000_000_000 + 60_000 * i
    a["open"] = 100 + 0.01 * i
    a["high"] = a["open"] + 1
    a["low"] = a["open"] - 1
    a["close"] = a["open"] + 0.5
    a["volume"] = 1.0 + i
    w = shmbus.CandleWriter.create(name, 16 << 20)
    try:
        w.write_candles("BTCUSDT", "1m", a)
        r = shmbus.CandleReader(name)
        assert np.array_equal(r.read("BTCUSDT", "1m"), a)

        def read() -> float:
            t = time.perf_counter()
            got = r.read("BTCUSDT", "1m")
            dt = time.perf_counter() - t
            assert len(got) == n
            return dt

        src, dst = a.view(np.uint8), np.empty(n * 48, np.uint8)

        def memcpy() -> float:
            t = time.perf_counter()
            np.copyto(dst, src)
            return time.perf_counter() - t

        reps = max(runs, 30)
        read()  # warm up
        memcpy()
        print(f"candles, a {n}-candle series ({n * 48 / 1e6:.1f} MB), {reps} reads:")
        print(f"  CandleReader.read  {fmt_time(median_of(reps, read))}   target <= 2 ms")
        print(f"  baseline: memcpy of the same 4.8 MB into a ready array  "
              f"{fmt_time(median_of(reps, memcpy))}")
        try:
            import pandas  # noqa: F401

            def frame() -> float:
                t = time.perf_counter()
                r.to_pandas("BTCUSDT", "1m")
                return time.perf_counter() - t

            print(f"  to_pandas (read + DataFrame)  {fmt_time(median_of(reps, frame))}")
        except ImportError:
            pass
    finally:
        w.close()
        shmbus.remove(name, force=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--messages", type=int, default=1_000_000)
    args = ap.parse_args()
    print(f"shmbus {shmbus.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs; medians of {args.runs} runs")
    bench_journal(args.runs, args.messages)
    bench_candles(args.runs)


if __name__ == "__main__":
    main()
