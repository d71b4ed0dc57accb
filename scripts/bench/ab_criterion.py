#!/usr/bin/env python3
"""Interleaved A/B comparison of two builds' criterion benchmarks on a noisy machine.

Criterion's own `--baseline` compares against a run made minutes earlier; on these hosts the
vCPUs move between placements every 10-30 s, so that comparison mixes the code's change with the
machine's. This runs the two builds' bench executables in turn, one short measurement of each
benchmark per round, many rounds, and prints per benchmark the median time of each build and the
median (and range) of the per-round ratio new/old.

    python3 scripts/bench/ab_criterion.py --rounds 5 old=/tmp/old-benches new=/tmp/new-benches

Each side is a directory holding the bench executables named after their bench (journal, slots,
candles, readers), as copied from `cargo bench -p shmbus --no-run`'s "Executable" lines:

    scripts/bench/ab_criterion.py --collect DIR   # builds this tree's benches and copies them

`--filter` picks benchmarks by substring (criterion's own filter), e.g. `--filter journal/`.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys

BENCHES = ["journal", "slots", "candles", "readers"]
TIME = re.compile(r"^(\S+)\s*\n?\s*time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", re.M)
UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def collect(dest):
    """Builds this tree's criterion benches and copies the executables into `dest`."""
    out = subprocess.run(
        ["cargo", "bench", "-p", "shmbus", "--no-run", "--message-format", "json"],
        capture_output=True, text=True, check=True).stdout
    os.makedirs(dest, exist_ok=True)
    import json
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        t = m.get("target", {})
        if m.get("reason") == "compiler-artifact" and "bench" in t.get("kind", []) \
                and t.get("name") in BENCHES and m.get("executable"):
            shutil.copy2(m["executable"], os.path.join(dest, t["name"]))
            print(f"{t['name']}: {m['executable']} -> {dest}")


def measure(exe, args):
    """One short criterion run of `exe`: {benchmark: median ns}."""
    cmd = [exe, "--bench", "--noplot", "--warm-up-time", str(args.warm_up),
           "--measurement-time", str(args.measurement)]
    if args.filter:
        cmd.append(args.filter)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return {name: float(v) * UNITS[u] for name, v, u in TIME.findall(p.stdout)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collect", metavar="DIR", help="build this tree's benches into DIR and exit")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--filter", default="")
    ap.add_argument("--benches", default=",".join(BENCHES))
    ap.add_argument("--warm-up", type=float, default=0.5)
    ap.add_argument("--measurement", type=float, default=1.5)
    ap.add_argument("sides", nargs="*", help="old=DIR new=DIR")
    args = ap.parse_args()
    if args.collect:
        collect(args.collect)
        return
    if len(args.sides) != 2 or not all("=" in s for s in args.sides):
        ap.error("give two sides: old=DIR new=DIR")
    sides = [s.split("=", 1) for s in args.sides]
    (a, _), (b, _) = sides
    times = {}  # (bench, side) -> [ns per round]
    for r in range(args.rounds):
        order = sides if r % 2 == 0 else sides[::-1]
        for bench in args.benches.split(","):
            for label, d in order:
                exe = os.path.join(d, bench)
                if not os.path.exists(exe):
                    sys.exit(f"no {exe}: collect it with --collect {d}")
                for name, ns in measure(exe, args).items():
                    times.setdefault((name, label), []).append(ns)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    names = sorted({n for n, _ in times})
    print(f"{'benchmark':44} {a + ' (ns)':>12} {b + ' (ns)':>12} {b + '/' + a:>10}  range")
    for n in names:
        x, y = times.get((n, a)), times.get((n, b))
        if not x or not y:
            continue
        ratios = [q / p for p, q in zip(x, y)]
        print(f"{n:44} {statistics.median(x):12.2f} {statistics.median(y):12.2f} "
              f"{statistics.median(ratios):10.3f}  {min(ratios):.3f}-{max(ratios):.3f}")


if __name__ == "__main__":
    main()
