#!/usr/bin/env python3
"""Interleaved A/B comparison of shmbus builds on a noisy machine.

The host moves the two vCPUs between placements every 10-30 s, so two builds measured one after
the other are not comparable. This runs the builds in turn, one short measurement each, many
times, and prints the medians (and ranges) of the ratios that `shmbus bench` measures against
its own baselines in the same run.

    python3 scripts/bench/ab.py --runs 8 old=/tmp/old/target/release/shmbus new=target/release/shmbus
    python3 scripts/bench/ab.py --bench throughput --batch 64 old=... new=...

Build the old version in a worktree: `git worktree add /tmp/old COMMIT && (cd /tmp/old &&
cargo build --release -p shmbus-cli)`.
"""
import argparse
import json
import statistics
import subprocess
import sys


def latency(binary, args):
    cmd = [binary, "bench", "latency", "--mode", "busy", "--runs", "1",
           "--messages", str(args.messages), "--size", str(args.size), "--json"]
    m = json.loads(run(cmd))["measurements"][0]
    r = m["ratios"]
    return {
        "journal p50 (ns)": m["journal"]["p50"],
        "journal/floor p50": r["p50_vs_floor_before"],
        "journal/msg floor p50": r["p50_vs_msg_floor_before"],
        "journal/msg floor p99.9": r["p999_vs_msg_floor_before"],
    }


def throughput(binary, args):
    cmd = [binary, "bench", "throughput", "--seconds", str(args.seconds),
           "--batch", str(args.batch), "--size", str(args.size), "--json"]
    r = json.loads(run(cmd))["results"][0]
    return {
        "writer (M msg/s)": r["writer_msgs_per_sec"] / 1e6,
        "reader (M msg/s)": min(x["msgs_per_sec"] for x in r["reader_reports"]) / 1e6,
    }


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs="+", help="NAME=PATH of a shmbus binary (2 or more)")
    ap.add_argument("--bench", choices=["latency", "throughput"], default="latency")
    ap.add_argument("--runs", type=int, default=6, help="measurements per build")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--messages", type=int, default=300_000, help="latency: round trips")
    ap.add_argument("--seconds", type=float, default=1.5, help="throughput: seconds per run")
    ap.add_argument("--batch", type=int, default=64, help="throughput: commit every N")
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    if len(builds) < 2 or any(len(b) != 2 for b in builds):
        ap.error("give at least two builds as NAME=PATH")
    measure = latency if args.bench == "latency" else throughput
    results = {name: [] for name, _ in builds}
    for i in range(args.runs):
        for name, path in builds:
            results[name].append(measure(path, args))
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    for name, rows in results.items():
        print(f"{name}: {len(rows)} runs")
        for key in rows[0]:
            v = [r[key] for r in rows]
            print(f"  {key:<26} median {statistics.median(v):9.2f}   range {min(v):.2f}-{max(v):.2f}")


if __name__ == "__main__":
    main()
