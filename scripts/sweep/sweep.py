#!/usr/bin/env python3
"""An adversarial sweep of the built `shmbus` CLI (issue 10): runs it on corrupted regions,
hostile names, sizes and arguments, closed and full stdout, FIFOs and directories where files are
expected, and writers killed with SIGKILL, and counts runs and failures.

    python3 scripts/sweep/sweep.py --shmbus target/release/shmbus [--quick] [--seed N]

A failure is: an exit by a signal (SIGPIPE on a closed stdout excepted), exit status 101 (a Rust
panic), "panicked at" on stderr, a run still going after the timeout (a hang), a raw control
byte other than \\n and \\t in what a command prints, a read-only command changing a region's
bytes, a write error to /dev/full reported as success, and, after kill -9, a committed message
lost or a table that cannot be read and written again. A clear error (exit 1) is never a failure.

Everything the sweep makes lives in /dev/shm/shmbus-sweep-PID (a private directory, regions named
by path) and in /dev/shm names starting with shmbus-sweep-PID; all of it is removed at the end.
The corrupted inputs of the first failures are kept (their path is printed) so each failure's
command reproduces it. Python 3.11 standard library only. Exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates/shmbus-cli/tests/fixtures"
GOOG = str(FIXTURES / "GOOG.csv")
BTC = str(FIXTURES / "BTCUSD.csv")

# Bytes no human-readable output may carry raw: C0 controls but \t and \n, and DEL.
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
CATEGORIES = ["corrupt", "names", "args", "stdout", "fifo", "kill"]


@dataclass
class Result:
    code: int | None  # exit status, None when killed by the harness
    sig: int | None  # the signal that ended it
    out: bytes
    err: bytes
    hung: bool
    secs: float
    interrupted: bool = False  # the harness sent SIGINT (Ctrl-C) to end a valid long run


@dataclass
class Failure:
    kind: str
    command: str
    detail: str


@dataclass
class Stats:
    runs: int = 0
    failures: list[Failure] = field(default_factory=list)


def digest(paths: list[str]) -> dict[str, str]:
    """The bytes of every regular file at or under `paths`, hashed (what a reader must not change)."""
    out = {}
    for p in paths:
        todo = [p]
        while todo:
            q = todo.pop()
            try:
                st = os.lstat(q)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                try:
                    todo.extend(os.path.join(q, n) for n in os.listdir(q))
                except OSError:
                    pass
            elif stat.S_ISREG(st.st_mode):
                try:
                    with open(q, "rb") as f:
                        out[q] = hashlib.sha1(f.read()).hexdigest()
                except OSError:
                    pass
    return out


def quote(arg: str) -> str:
    """A shell word for `arg` that prints no control character: $'...' when it holds one."""
    if not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", arg):
        return shlex.quote(arg)
    out = []
    for ch in arg:
        o = ord(ch)
        if ch in "\\'":
            out.append("\\" + ch)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0x80 <= o <= 0x9F or ch in "\u2028\u2029" or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def join(args: list[str]) -> str:
    return " ".join(quote(a) for a in args)


def show(b: bytes, n: int = 300) -> str:
    s = b.decode("utf-8", "backslashreplace")
    s = s.encode("unicode_escape").decode("ascii")
    return s if len(s) <= n else s[:n] + "..."


class Sweep:
    def __init__(self, shmbus: str, seed: int, quick: bool, timeout: float):
        self.bin = os.path.abspath(shmbus)
        self.rng = random.Random(seed)
        self.seed = seed
        self.quick = quick
        self.timeout = timeout
        self.tag = f"shmbus-sweep-{os.getpid()}"
        self.dir = f"/dev/shm/{self.tag}"
        self.keep = tempfile.mkdtemp(prefix=f"{self.tag}-failures-")
        self.kept = 0
        self.stats = {c: Stats() for c in CATEGORIES}
        self.n = 0
        self.killed = self.killed_mid = 0  # killed appenders, and those killed mid-stream

    # ----------------------------------------------------------------------------------------
    # running shmbus

    def fresh(self, stem: str) -> str:
        """A new path-named region in the sweep's directory."""
        self.n += 1
        return f"{self.dir}/{stem}-{self.n}"

    def shm(self, stem: str) -> str:
        """A new shm name (in /dev/shm) starting with the sweep's tag."""
        self.n += 1
        return f"{self.tag}-{stem}-{self.n}"

    def exec(
        self,
        args: list[str],
        *,
        stdin: bytes | None = None,
        stdout=subprocess.PIPE,
        timeout: float | None = None,
        may_run: bool = False,
    ) -> Result:
        """Runs shmbus; past the timeout a `may_run` command (a valid long duration) gets SIGINT
        and a few seconds to stop as Ctrl-C stops it, anything else is killed as hung."""
        timeout = timeout or self.timeout
        t = time.monotonic()
        p = subprocess.Popen(
            [self.bin, *args],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
        hung = interrupted = False
        try:
            out, err = p.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            if may_run:
                interrupted = True
                p.send_signal(signal.SIGINT)
                try:
                    out, err = p.communicate(timeout=3)
                except subprocess.TimeoutExpired:
                    hung = True
            else:
                hung = True
            if hung:
                p.kill()
                out, err = p.communicate()
        out = out or b""
        rc = p.returncode
        return Result(
            code=None if hung or rc < 0 else rc,
            sig=-rc if rc is not None and rc < 0 and not hung else None,
            out=out,
            err=err or b"",
            hung=hung,
            secs=time.monotonic() - t,
            interrupted=interrupted,
        )

    def fail(self, cat: str, kind: str, args: list[str], detail: str, note: str = "") -> None:
        cmd = join([self.bin, *args]) + note
        self.stats[cat].failures.append(Failure(kind, cmd, detail))

    def judge(
        self,
        cat: str,
        args: list[str],
        r: Result,
        *,
        note: str = "",
        sigpipe_ok: bool = False,
        text_out: bool = True,
    ) -> bool:
        """Counts the run and records what went wrong; true if nothing did."""
        self.stats[cat].runs += 1
        bad = []
        if r.hung:
            bad.append(("hang", f"still running after {r.secs:.1f} s (killed)"))
        elif r.sig is not None and not (
            (sigpipe_ok and r.sig == signal.SIGPIPE) or (r.interrupted and r.sig == signal.SIGINT)
        ):
            name = signal.Signals(r.sig).name
            bad.append((f"signal {name}", f"killed by {name}; stderr: {show(r.err)}"))
        elif r.code == 101:
            bad.append(("exit 101", show(r.err)))
        if b"panicked at" in r.err and not any(k == "exit 101" for k, _ in bad):
            bad.append(("panic", show(r.err)))
        for name, data in (("stdout", r.out if text_out else b""), ("stderr", r.err)):
            m = CONTROL.search(data)
            if m:
                i = m.start()
                bad.append(
                    (
                        "control byte",
                        f"raw 0x{data[i]:02x} in {name}: {show(data[max(0, i - 40) : i + 40])}",
                    )
                )
                break
        for kind, detail in bad:
            self.fail(cat, kind, args, detail, note)
        return not bad

    def run(
        self,
        cat: str,
        args: list[str],
        *,
        readonly: list[str] | None = None,
        stdin: bytes | None = None,
        may_run: bool = False,
        timeout: float | None = None,
        keep: str | None = None,
        why: str = "",
    ) -> Result:
        """Runs and judges one command; `readonly` are files it must not change. A failing run's
        input `keep` (taken before the run) is kept, and its command names the kept copy."""
        hangs = sum(f.kind == "hang" for f in self.stats[cat].failures)
        if hangs >= 3 and not may_run:
            # This category hangs already: find the rest of its hangs sooner (a run that works
            # takes milliseconds), so a broken build still finishes in minutes.
            timeout = min(timeout or self.timeout, 0.3)
        before = digest(readonly) if readonly else None
        stash = self.stash(keep) if keep else None
        first = len(self.stats[cat].failures)
        r = self.exec(args, stdin=stdin, may_run=may_run, timeout=timeout)
        ok = self.judge(cat, args, r)
        if readonly:
            after = digest(readonly)
            if after != before:
                changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
                self.fail(cat, "reader wrote", args, f"changed: {', '.join(changed)}")
                ok = False
        if keep and stash:
            if ok:
                shutil.rmtree(stash, ignore_errors=True)
            else:
                kept = self.save(stash, keep)
                for f in self.stats[cat].failures[first:]:
                    if kept:
                        f.command = f.command.replace(quote(keep), quote(kept))
                    if why:
                        f.detail += f"\n    (input: {why})"
        return r

    def stash(self, path: str) -> str | None:
        """A copy of a run's input as it was before the run."""
        dst = tempfile.mkdtemp(prefix=f"{self.tag}-stash-", dir="/dev/shm")
        target = os.path.join(dst, os.path.basename(path))
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.copytree(path, target, symlinks=True)
            elif os.path.isfile(path):
                shutil.copy2(path, target)
        except OSError:
            pass
        return dst

    def save(self, stash: str, path: str) -> str | None:
        """Keeps a stashed input of a failing run (the first 40); its kept path."""
        if self.kept >= 40:
            shutil.rmtree(stash, ignore_errors=True)
            return None
        dst = Path(self.keep) / str(self.kept)
        self.kept += 1
        shutil.move(stash, dst)
        return str(dst / os.path.basename(path))

    def must(self, args: list[str], stdin: bytes | None = None) -> Result:
        """A setup step that has to work."""
        r = self.exec(args, stdin=stdin, timeout=60)
        if r.code != 0:
            raise SystemExit(f"sweep setup failed: {join([self.bin, *args])}\n{show(r.err, 2000)}")
        return r

    # ----------------------------------------------------------------------------------------
    # regions made by real shmbus commands

    def make_regions(self, where: str) -> dict[str, str]:
        """One region of each kind, with data, in directory `where`."""
        os.makedirs(where, exist_ok=True)
        p = {k: f"{where}/{k}" for k in ("raw", "slots", "ring", "persisted", "candles")}
        self.must(["create", p["raw"], "--kind", "raw", "--size", "4K"])
        self.must(["create", p["slots"], "--kind", "slots", "--size", "16K"])
        self.must(["journal", "create", p["ring"], "--ring", "64K"])
        self.must(["journal", "create", p["persisted"], "--segment-size", "16K", "--crc"])
        self.must(["create", p["candles"], "--kind", "candles", "--size", "1M"])
        for sym, price in (("BTCUSD", "97000.5"), ("ETHUSD", "3150.25"), ("AAPL", "228")):
            self.must(["slot", "put", p["slots"], sym, "--price", price, "--volume", "3"])
        self.must(["feed", p["slots"], "--seconds", "0.2", "--rate", "500", "--journal", p["ring"]])
        self.must(["append", p["ring"], "hello", "world", "{\"a\": 1}"])
        self.must(["replay", f"{GOOG}=GOOG:1d", "--journal", p["ring"], "--quiet"])
        lines = "".join(f"message {i} {'x' * (i % 90)}\n" for i in range(400)).encode()
        self.must(["append", p["persisted"], "--batch", "7"], stdin=lines)
        self.must(["candles", "import", p["candles"], GOOG, "--symbol", "GOOG", "--interval", "1d"])
        self.must(["candles", "import", p["candles"], BTC, "--symbol", "BTCUSD", "--interval", "1M"])
        return p

    def read_commands(self, p: str, d: str) -> list[list[str]]:
        """Every read-only command on region `p` (in directory `d`)."""
        return [
            ["inspect", p],
            ["inspect", p, "--json"],
            ["inspect", p, "--hex"],
            ["inspect", p, "--hex", "--offset", "100", "--len", "5000"],
            ["slot", "get", p],
            ["slot", "get", p, "--json"],
            ["slot", "get", p, "BTCUSD"],
            ["tail", p],
            ["tail", p, "--json"],
            ["tail", p, "--from", "start", "-n", "100000"],
            ["dump", p],
            ["dump", p, "--rev"],
            ["stats", p, "--interval", "0.01"],
            ["stats", p, "--interval", "0.01", "--json"],
            ["candles", "show", p],
            ["candles", "show", p, "--json"],
            ["candles", "show", p, "GOOG", "1d"],
            ["candles", "stats", p],
            ["candles", "stats", p, "--json"],
            ["ls", d],
            ["ls", d, "--json"],
            ["ls", d, "--all"],
        ]

    def write_commands(self, p: str) -> list[list[str]]:
        return [
            ["slot", "put", p, "SWEEP", "--price", "1.5"],
            ["append", p, "sweep message"],
            ["candles", "import", p, GOOG, "--symbol", "SWEEP", "--interval", "1h"],
        ]

    # ----------------------------------------------------------------------------------------
    # 1. corrupted copies of every kind

    def mutate_file(self, path: str) -> str:
        """Damages one file in place; says how."""
        rng = self.rng
        data = bytearray(Path(path).read_bytes())
        n = len(data)
        head = min(n, 1024)
        how = rng.choice(["flip", "flip", "field", "field", "truncate", "extend", "zero", "fill"])
        if how == "flip" and n:
            spots = []
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(head) if rng.random() < 0.7 else rng.randrange(n)
                x = rng.randrange(1, 256)
                data[i] ^= x
                spots.append(f"{i:#x}^{x:#04x}")
            desc = "flip " + " ".join(spots)
        elif how == "field" and head >= 8:
            width = rng.choice([4, 8])
            i = rng.randrange(0, head - width + 1, width)
            v = rng.choice(
                [0, 1, 2, 3, 7, 0x7F, 0x80, 0xFF, 4095, 4096, 65535, 65536, n, n + 1, n - 1,
                 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1, rng.getrandbits(64)]
            ) % (1 << (8 * width))
            data[i : i + width] = v.to_bytes(width, "little")
            desc = f"u{width * 8} at {i:#x} = {v:#x}"
        elif how == "truncate":
            m = rng.choice([0, 1, 8, 64, 127, 128, 255, 256, 511, 4095, 4096, n // 2, n - 1,
                            max(0, n - 4096), rng.randrange(max(n, 1))])
            m = max(0, min(m, n - 1)) if n else 0
            del data[m:]
            desc = f"truncate to {m}"
        elif how == "extend":
            k = rng.choice([1, 7, 8, 4096, rng.randrange(1, 20000)])
            data += bytes(k) if rng.random() < 0.5 else rng.randbytes(k)
            desc = f"extend by {k}"
        elif how == "zero" and n:
            i = rng.randrange(n)
            k = rng.randrange(1, min(n - i, 8192) + 1)
            data[i : i + k] = bytes(k)
            desc = f"zero {k} at {i:#x}"
        else:
            i = rng.randrange(max(n, 1))
            k = min(n - i, rng.randrange(1, 512))
            data[i : i + k] = b"\xff" * k
            desc = f"0xff x{k} at {i:#x}"
        Path(path).write_bytes(bytes(data))
        return desc

    def mutate_dir(self, path: str) -> str:
        """Damages a persisted journal: one segment's bytes, or which segment files there are."""
        rng = self.rng
        segs = sorted(n for n in os.listdir(path) if n.endswith(".seg"))
        how = rng.choice(["file", "file", "file", "delete", "huge", "extra", "stray"])
        if how == "delete" and len(segs) > 1:
            victim = rng.choice(segs)
            os.unlink(f"{path}/{victim}")
            return f"delete {victim}"
        if how == "huge" and segs:
            os.rename(f"{path}/{segs[-1]}", f"{path}/4294967295.seg")
            return f"rename {segs[-1]} to 4294967295.seg"
        if how == "extra" and segs:
            name = f"{int(segs[-1][:10]) + rng.choice([1, 2, 100]):010}.seg"
            shutil.copy(f"{path}/{segs[0]}", f"{path}/{name}")
            return f"copy {segs[0]} to {name}"
        if how == "stray":
            Path(f"{path}/{rng.choice(['0000000000.segx', 'x.seg', '12.seg', '.lock'])}").write_bytes(
                rng.randbytes(64)
            )
            return "stray file"
        victim = rng.choice(segs) if segs else None
        if victim is None:
            return "no segments"
        return f"{victim}: {self.mutate_file(f'{path}/{victim}')}"

    def corrupt(self) -> None:
        pristine = self.make_regions(f"{self.dir}/pristine")
        rounds = 6 if self.quick else 120
        for kind, src in pristine.items():
            for _ in range(rounds):
                work = f"{self.dir}/work"
                shutil.rmtree(work, ignore_errors=True)
                os.makedirs(work)
                p = f"{work}/{kind}"
                if os.path.isdir(src):
                    shutil.copytree(src, p)
                    desc = self.mutate_dir(p)
                else:
                    shutil.copy(src, p)
                    desc = self.mutate_file(p)
                why = f"{kind}, {desc}"
                for args in self.read_commands(p, work):
                    self.run("corrupt", args, readonly=[p], keep=p, why=why)
                for args in self.write_commands(p):
                    self.run("corrupt", args, keep=p, why=why)
                # What the writers left must still be read safely.
                self.run("corrupt", ["inspect", p], keep=p, why=why)
                self.run("corrupt", ["tail", p, "--json"], keep=p, why=why)
        shutil.rmtree(f"{self.dir}/work", ignore_errors=True)
        self.live()

    def live(self) -> None:
        """A writer and readers running while someone truncates, extends or overwrites their
        regions (a group member can): each must end with a clear error or normally, never by a
        signal (SIGBUS), a panic or a hang."""
        rounds = 3 if self.quick else 30
        for rnd in range(rounds):
            d = f"{self.dir}/live"
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            s, j, c = f"{d}/slots", f"{d}/ring", f"{d}/candles"
            self.must(["create", s, "--kind", "slots", "--size", "64K"])
            self.must(["journal", "create", j, "--ring", "256K"])
            self.must(["create", c, "--kind", "candles", "--size", "1M"])
            self.must(["candles", "import", c, GOOG, "--symbol", "GOOG", "--interval", "1d"])
            cmds = [
                ["feed", s, "--seconds", "1.5", "--rate", "20000", "--journal", j],
                ["slot", "watch", s, "--seconds", "1.5", "--interval-ms", "100"],
                ["journal", "watch", j, "--seconds", "1.5"],
                ["tail", j, "-f"],
                ["replay", BTC, "--candles", c, "--duration", "1.2", "--quiet"],
            ]
            procs = [(a, subprocess.Popen([self.bin, *a], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
                     for a in cmds]
            time.sleep(0.4)
            victim = self.rng.choice([s, j, c])
            how = self.rng.choice(["truncate 0", "truncate half", "truncate 4096", "zero", "extend"])
            try:
                size = os.path.getsize(victim)
                with open(victim, "r+b") as f:
                    if how == "truncate 0":
                        f.truncate(0)
                    elif how == "truncate half":
                        f.truncate(size // 2)
                    elif how == "truncate 4096":
                        f.truncate(4096)
                    elif how == "zero":
                        f.seek(self.rng.randrange(size))
                        f.write(bytes(self.rng.randrange(1, 65536)))
                    else:
                        f.truncate(size * 2)
            except OSError:
                pass
            for a, p in procs:
                try:
                    _, err = p.communicate(timeout=2.0)
                    hung = False
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGINT)  # tail -f runs until Ctrl-C
                    try:
                        _, err = p.communicate(timeout=3)
                        hung = False
                    except subprocess.TimeoutExpired:
                        p.kill()
                        _, err = p.communicate()
                        hung = True
                rc = p.returncode
                res = Result(code=None if hung or rc < 0 else rc,
                             sig=-rc if rc < 0 and not hung else None, out=b"", err=err or b"",
                             hung=hung, secs=0.0)
                if os.environ.get("SWEEP_DEBUG"):
                    print(f"live {rnd} {how} {os.path.basename(victim)}: {a[0]} rc={rc} "
                          f"{show(err or b'', 120)}", file=sys.stderr)
                self.judge("corrupt", a, res,
                           note=f"    # while {victim} was hit: {how} (live round {rnd})")
        shutil.rmtree(f"{self.dir}/live", ignore_errors=True)

    # ----------------------------------------------------------------------------------------
    # 2. hostile names and sizes

    def cleanup_shm(self) -> None:
        for n in os.listdir("/dev/shm"):
            if n.startswith(self.tag) and f"/dev/shm/{n}" != self.dir:
                p = f"/dev/shm/{n}"
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    try:
                        os.unlink(p)
                    except OSError:
                        pass

    def names(self) -> None:
        t = self.shm("n")
        tagged = [
            f"{t}\x1b]0;PWNED\x07",
            f"{t}\x1b[31mred",
            f"{t}\nshmbus: error: fake",
            f"{t}\r",
            f"{t}\x7f",
            f"{t}\u202e",
            f"{t}%n%s%x",
            f"{t}*?[",
            f"{t} spaced",
            f"{t}" + "x" * 250,
            f"{t}" + "é" * 130,
            f"/{t}",
            f"/dev/shm/{t}-abs",
            f"/dev/shm/{self.tag}/../{t}-dotdot",
            f"{self.dir}/{t}\x1b[2J",
        ]
        # Never created or removed: only read commands, which must refuse them.
        untagged = ["", "/", ".", "..", "./", "../", "/.", "a" * 300, "-", "--", "/dev/null",
                    "/dev/zero", "/etc/passwd", "/dev/shm", "/dev/shm/"]
        for name in tagged + untagged:
            reads = [["inspect", name], ["inspect", name, "--json"], ["slot", "get", name],
                     ["tail", name], ["stats", name, "--interval", "0.01"], ["candles", "show", name]]
            if name in untagged:
                for args in reads:
                    self.run("names", args)
                continue
            self.run("names", ["create", name, "--kind", "raw", "--size", "4K"])
            for args in reads:
                self.run("names", args)
            self.run("names", ["journal", "create", name + "-j", "--ring", "64K"])
            self.run("names", ["ls"])
            self.run("names", ["ls", self.dir])
            self.run("names", ["rm", name])
            self.run("names", ["rm", name + "-j"])
            self.cleanup_shm()
        sizes = ["-1", "0", "1", "7", "127", "128", "4095", "1K", "4K", "1.5K", "0x1000", "4K ",
                 " 4K", "4k", "4KiB", "4 K", "1e3", "inf", "nan", "-0", "18446744073709551615",
                 "18446744073709551616", "9223372036854775808", "16E", "8E", "1P", "99999999T",
                 "", "K", "abc"]
        if self.quick:
            sizes = sizes[::2]
        for s in sizes:
            for kind in ("raw", "slots", "candles"):
                p = self.fresh(f"size-{kind}")
                self.run("names", ["create", p, "--kind", kind, "--size", s])
                self.run("names", ["inspect", p])
            p = self.fresh("size-ring")
            self.run("names", ["journal", "create", p, "--ring", s])
            p = self.fresh("size-seg")
            self.run("names", ["journal", "create", p, "--segment-size", s])
        self.cleanup_shm()

    # ----------------------------------------------------------------------------------------
    # 3. hostile arguments

    def args(self) -> None:
        r = self.make_regions(f"{self.dir}/args")
        S, J, D, C = r["slots"], r["ring"], r["persisted"], r["candles"]
        values = ["inf", "-inf", "nan", "1e300", "-1e300", "1e-300", "-1", "0", "-0",
                  "18446744073709551615", "18446744073709551616", "9223372036854775808",
                  "4294967296", "65536", "99999999999999999999999", "", "abc", "0x10", "1_000", " 5"]
        if self.quick:
            values = ["inf", "nan", "1e300", "1e-300", "-1", "0", "18446744073709551616", "", "abc"]
        new = lambda s: self.fresh(s)  # noqa: E731
        # (arguments with V for the value, whether a valid value may make it run long)
        templates = [
            (lambda v: ["stats", J, "--interval", v], True),
            (lambda v: ["journal", "watch", J, "--seconds", v], True),
            (lambda v: ["slot", "watch", S, "--seconds", v], True),
            (lambda v: ["slot", "watch", S, "--seconds", "0.1", "--interval-ms", v], True),
            (lambda v: ["slot", "watch", S, "--seconds", "0.1", "--poll-us", v], True),
            (lambda v: ["feed", S, "--seconds", v, "--rate", "100"], True),
            (lambda v: ["feed", S, "--seconds", "0.1", "--rate", v], True),
            (lambda v: ["feed", S, "--seconds", "0.1", "--symbols", v], True),
            (lambda v: ["feed", S, "--seconds", "0.1", "--seed", v], True),
            (lambda v: ["replay", GOOG, "--journal", J, "--duration", v, "--quiet"], True),
            (lambda v: ["replay", GOOG, "--journal", J, "--speed", v, "--quiet"], True),
            (lambda v: ["tail", J, "-n", v], False),
            (lambda v: ["tail", J, "--from", v], False),
            (lambda v: ["dump", J, "-n", v], False),
            (lambda v: ["inspect", S, "--hex", "--offset", v], False),
            (lambda v: ["inspect", S, "--hex", "--len", v], False),
            (lambda v: ["append", J, "--batch", v, "m"], False),
            (lambda v: ["append", J, "--type", v, "m"], False),
            (lambda v: ["append", D, "--retain", v, "m"], False),
            (lambda v: ["journal", "create", new("a-ring"), "--ring", v], False),
            (lambda v: ["journal", "create", new("a-seg"), "--segment-size", v], False),
            (lambda v: ["journal", "create", new("a-ret"), "--retain", v], False),
            (lambda v: ["journal", "create", new("a-retb"), "--retain-bytes", v], False),
            (lambda v: ["candles", "show", C, "GOOG", "1d", "--last", v], False),
            (lambda v: ["candles", "import", new("a-c"), GOOG, "--symbol", "G", "--interval", "1d",
                        "--size", v], False),
            (lambda v: ["replay", GOOG, "--candles", new("a-rc"), "--size", v, "--quiet"], False),
            (lambda v: ["create", new("a-slots"), "--kind", "slots", "--size", v], False),
            (lambda v: ["slot", "put", S, "X", "--price", v], False),
            (lambda v: ["slot", "put", S, "X", "--price", "1", "--volume", v], False),
            (lambda v: ["slot", "put", S, "X", "--price", "1", "--timestamp", v], False),
        ]
        long_wait = 0.5 if self.quick else 2.0
        for make, may_run in templates:
            for v in values:
                args = make(v)
                self.run("args", args, may_run=may_run, timeout=long_wait if may_run else None)
                # A huge but valid size reserves its memory: give it back at once.
                for made in args:
                    if made.startswith(f"{self.dir}/a-"):
                        if os.path.isdir(made):
                            shutil.rmtree(made, ignore_errors=True)
                        elif os.path.lexists(made):
                            os.unlink(made)
        # Hostile strings where text is expected.
        for s in ["", "x" * 100, "\x1b[31mred", "a\nb", "é" * 20, "-", "GOOG\x7f"]:
            self.run("args", ["slot", "put", S, s, "--price", "1"])
            self.run("args", ["slot", "get", S])
            self.run("args", ["candles", "import", C, BTC, "--symbol", s, "--interval", "1d"])
            self.run("args", ["candles", "import", C, BTC, "--symbol", "Z", "--interval", s])
            self.run("args", ["candles", "import", C, GOOG, "--symbol", "Q", "--interval", "1d",
                              "--tz", s])
            self.run("args", ["candles", "show", C])
            self.run("args", ["append", J, s])
            self.run("args", ["tail", J, "-n", "3"])
        # Hostile CSV files.
        tmp = f"{self.dir}/csv"
        os.makedirs(tmp, exist_ok=True)
        csvs = {
            "empty": b"",
            "header-only": b"date,open,high,low,close\n",
            "no-columns": b"a,b,c\n1,2,3\n",
            "huge-ts": b"date,open,high,low,close\n100000000000000000000,1,1,1,1\n",
            "ts-u64max": b"date,open,high,low,close\n18446744073709551615,1,1,1,1\n",
            "year-10000": b"date,open,high,low,close\n10000-01-01,1,1,1,1\n",
            "year-9999": b"date,open,high,low,close\n9999-12-31T23:59:59Z,1,1,1,1\n",
            "pre-1970": b"date,open,high,low,close\n1969-12-31,1,1,1,1\n",
            "nan": b"date,open,high,low,close,volume\n2024-01-01,NaN,1,1,1,1\n",
            "inf": b"date,open,high,low,close,volume\n2024-01-01,1,inf,1,1,1\n",
            "negative": b"date,open,high,low,close,volume\n2024-01-01,1,1,1,1,-5\n",
            "huge-number": b"date,open,high,low,close\n2024-01-01,1e400,1,1,1\n",
            "binary": bytes(range(256)) * 16,
            "bom-crlf": b"\xef\xbb\xbfDate,Open,High,Low,Close\r\n2024-01-01,1,2,0.5,1\r\n",
            "quoted-newline": b'date,open,high,low,close\n"2024-01-01\n",1,1,1,1\n',
            "many-columns": b",".join([b"c"] * 20000) + b"\n",
            "control": b"date,open,high,low,close\n2024\x1b]0;PWNED\x07-01-01,1,1,1,1\n",
            "unsorted": b"date,open,high,low,close\n2024-01-02,1,1,1,1\n2024-01-01,1,1,1,1\n2024-01-03,1,1,1,1\n",
            "dup": b"date,open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-01,1,1,1,1\n",
            "long-line": b"date,open,high,low,close\n" + b"9" * (3 << 20) + b"\n",
            "bad-utf8": b"date,open,high,low,close\n2024-01-01,\xff\xfe,1,1,1\n",
        }
        for name, data in csvs.items():
            f = f"{tmp}/{name}.csv"
            Path(f).write_bytes(data)
            c = self.fresh("csv-c")
            self.run("args", ["candles", "import", c, f, "--symbol", "S", "--interval", "1d",
                              "--size", "1M"], keep=f)
            self.run("args", ["candles", "import", c, "-", "--symbol", "T", "--interval", "1d",
                              "--size", "1M"], stdin=data, keep=f)
            self.run("args", ["replay", f, "--candles", self.fresh("csv-r"), "--size", "1M",
                              "--quiet"], keep=f)
        shutil.rmtree(f"{self.dir}/args", ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)

    # ----------------------------------------------------------------------------------------
    # 4. closed stdout and /dev/full

    def stdout(self) -> None:
        r = self.make_regions(f"{self.dir}/stdout")
        S, J, C, D = r["slots"], r["ring"], r["candles"], r["persisted"]
        d = f"{self.dir}/stdout"
        commands = [
            lambda: ["ls"],
            lambda: ["ls", d],
            lambda: ["ls", d, "--json"],
            lambda: ["ls", d, "--all"],
            lambda: ["inspect", S],
            lambda: ["inspect", S, "--json"],
            lambda: ["inspect", S, "--hex"],
            lambda: ["inspect", J],
            lambda: ["inspect", C, "--json"],
            lambda: ["slot", "get", S],
            lambda: ["slot", "get", S, "--json"],
            lambda: ["slot", "get", S, "BTCUSD"],
            lambda: ["tail", J],
            lambda: ["tail", J, "--json"],
            lambda: ["tail", D, "--from", "start"],
            lambda: ["dump", J],
            lambda: ["dump", D],
            lambda: ["stats", J, "--interval", "0.01"],
            lambda: ["stats", J, "--interval", "0.01", "--json"],
            lambda: ["candles", "show", C],
            lambda: ["candles", "show", C, "--json"],
            lambda: ["candles", "show", C, "GOOG", "1d"],
            lambda: ["candles", "show", C, "GOOG", "1d", "--json"],
            lambda: ["candles", "stats", C],
            lambda: ["candles", "stats", C, "--json"],
            lambda: ["create", self.fresh("out-raw"), "--kind", "raw", "--size", "4K"],
            lambda: ["journal", "create", self.fresh("out-j"), "--ring", "64K"],
            lambda: ["slot", "put", S, "OUT", "--price", "1"],
            lambda: ["append", J, "out"],
            lambda: ["candles", "import", self.fresh("out-c"), GOOG, "--symbol", "G",
                     "--interval", "1d", "--size", "1M"],
            lambda: ["replay", GOOG, "--journal", J, "--quiet"],
            lambda: ["feed", S, "--seconds", "0.1", "--rate", "100"],
            lambda: ["journal", "watch", J, "--seconds", "0.1"],
            lambda: ["slot", "watch", S, "--seconds", "0.1"],
            lambda: ["rm", self.made_raw("out-rm")],
            lambda: ["--help"],
            lambda: ["--version"],
            lambda: ["candles", "--help"],
        ]
        for make in commands:
            args = make()
            normal = self.exec(args)
            self.judge("stdout", args, normal)
            # A pipe whose reader is gone.
            args = make()
            rd, wr = os.pipe()
            os.close(rd)
            try:
                res = self.exec(args, stdout=wr)
            finally:
                os.close(wr)
            ok = self.judge("stdout", args, res, note=" | (reader closed)", sigpipe_ok=True)
            if ok and (b"Broken pipe" in res.err or b"os error 32" in res.err):
                self.fail("stdout", "noisy closed pipe", args, show(res.err), " | (reader closed)")
            # A full disk.
            args = make()
            with open("/dev/full", "wb") as full:
                res = self.exec(args, stdout=full)
            ok = self.judge("stdout", args, res, note=" > /dev/full")
            if ok and res.code == 0 and normal.out.strip():
                self.fail("stdout", "write error ignored", args,
                          "exit 0 though stdout could not be written", " > /dev/full")
            elif ok and res.code not in (0, None) and not any(
                line.startswith(b"shmbus: error:") for line in res.err.splitlines()
            ):
                self.fail("stdout", "unclear write error", args, show(res.err), " > /dev/full")
        shutil.rmtree(d, ignore_errors=True)

    def made_raw(self, stem: str) -> str:
        p = self.fresh(stem)
        self.must(["create", p, "--kind", "raw", "--size", "4K"])
        return p

    # ----------------------------------------------------------------------------------------
    # 5. FIFOs and directories where files are expected

    def fifo(self) -> None:
        base = f"{self.dir}/fifo"
        r = self.make_regions(f"{base}/regions")
        d = f"{base}/targets"
        os.makedirs(d)
        os.mkfifo(f"{d}/fifo")
        os.mkdir(f"{d}/dir")
        shm_fifo = self.shm("fifo")
        os.mkfifo(f"/dev/shm/{shm_fifo}")
        # Persisted journals with a FIFO, or a directory, where a segment file should be.
        jf = f"{base}/journal-fifo"
        shutil.copytree(r["persisted"], jf)
        last = sorted(os.listdir(jf))[-1]
        os.mkfifo(f"{jf}/{int(last[:10]) + 1:010}.seg")
        jf0 = f"{base}/journal-fifo0"
        os.mkdir(jf0)
        os.mkfifo(f"{jf0}/0000000000.seg")
        jd = f"{base}/journal-dirseg"
        shutil.copytree(r["persisted"], jd)
        os.mkdir(f"{jd}/{int(last[:10]) + 1:010}.seg")
        targets = [f"{d}/fifo", f"{d}/dir", shm_fifo, jf, jf0, jd]
        for t in targets:
            for args in self.read_commands(t, d)[:19]:
                self.run("fifo", args)
            for args in self.write_commands(t):
                self.run("fifo", args)
            self.run("fifo", ["journal", "watch", t, "--seconds", "0.2"])
            self.run("fifo", ["slot", "watch", t, "--seconds", "0.2"])
            self.run("fifo", ["rm", t])
        for args in (["ls", d], ["ls", d, "--all"], ["ls", d, "--json"], ["ls", base],
                     ["ls", "/dev/shm"]):
            self.run("fifo", args)
        # FIFOs and directories as CSV inputs.
        for src in (f"{d}/fifo", f"{d}/dir", "/dev/zero", "/dev/null", f"/dev/shm/{shm_fifo}"):
            if not os.path.exists(src):
                continue
            self.run("fifo", ["candles", "import", self.fresh("fifo-c"), src, "--symbol", "F",
                              "--interval", "1d", "--size", "1M"])
            self.run("fifo", ["replay", src, "--candles", self.fresh("fifo-r"), "--size", "1M"])
        # rm --force only on the sweep's own targets (rm of a directory is issue 10, item 8).
        for t in (f"{d}/fifo", f"{d}/dir", shm_fifo):
            if os.path.lexists(t if "/" in t else f"/dev/shm/{t}"):
                self.run("fifo", ["rm", "--force", t])
        self.cleanup_shm()
        shutil.rmtree(base, ignore_errors=True)

    # ----------------------------------------------------------------------------------------
    # 6. kill -9 of writers, then readers check what was committed

    def kill_appenders(self) -> None:
        """Rounds of: an append that completes (what it reports is committed), then an appender
        fed from a pipe and killed with SIGKILL at a random point. A reader must then see every
        committed message, in order, each killed appender's messages as a prefix of what it was
        sent, and consecutive sequences; the next append must work."""
        rounds = 5 if self.quick else 50
        cap = 1 << 20  # bytes fed to each killed appender, so the ring never wraps
        for mode in ("ring", "persisted"):
            j = self.fresh(f"kill-{mode}")
            if mode == "ring":
                self.must(["journal", "create", j, "--ring", str(rounds * 2 * cap)])
            else:
                self.must(["journal", "create", j, "--segment-size", "256K"])
            # What must be there, in order: ("exact", messages) or ("prefix", messages).
            plan: list[tuple[str, list[str]]] = []
            for rnd in range(rounds):
                msgs = [f"c{rnd}-{i}-{'y' * self.rng.randrange(150)}"
                        for i in range(self.rng.randint(1, 20))]
                args = ["append", j, "--batch", str(self.rng.randint(1, 5)), *msgs]
                res = self.exec(args)
                if self.judge("kill", args, res) and res.code != 0:
                    self.fail("kill", "append failed after kill -9", args, show(res.err))
                if res.code == 0:
                    m = re.search(rb"appended (\d+) messages", res.err)
                    if not m or int(m.group(1)) != len(msgs):
                        self.fail("kill", "append miscounted", args, show(res.err))
                    plan.append(("exact", msgs))
                # An appender killed at a random point.
                batch = self.rng.randint(1, 8)
                pad = self.rng.randrange(300)
                sent: list[str] = []
                p = subprocess.Popen([self.bin, "append", j, "--batch", str(batch)],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

                def feed(p=p, sent=sent, rnd=rnd, pad=pad) -> None:
                    size = 0
                    try:
                        while size < cap:
                            line = f"k{rnd}-{len(sent)}-{'z' * ((len(sent) * 7 + pad) % 300)}"
                            sent.append(line)
                            p.stdin.write((line + "\n").encode())
                            size += len(line) + 1
                            if len(sent) % 16 == 0:
                                p.stdin.flush()
                        p.stdin.flush()
                    except (BrokenPipeError, ValueError, OSError):
                        pass

                th = threading.Thread(target=feed, daemon=True)
                th.start()
                time.sleep(self.rng.uniform(0.002, 0.05))
                p.kill()
                p.wait()
                th.join(10)
                try:
                    p.stdin.close()
                except OSError:
                    pass
                self.stats["kill"].runs += 1
                plan.append(("prefix", sent))
            args = ["append", j, "last"]
            res = self.exec(args)
            if self.judge("kill", args, res) and res.code != 0:
                self.fail("kill", "append failed after kill -9", args, show(res.err))
            if res.code == 0:
                plan.append(("exact", ["last"]))
            # The reader's view.
            args = ["tail", j, "--from", "start", "-n", "100000000", "--json"]
            res = self.exec(args, timeout=60)
            if not self.judge("kill", args, res):
                continue
            if res.code != 0:
                self.fail("kill", "reader failed after kill -9", args, show(res.err))
                continue
            docs = [json.loads(line) for line in res.out.splitlines() if line.strip()]
            seqs = [d["seq"] for d in docs]
            if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                self.fail("kill", "sequence gap", args, f"{mode}: sequences not consecutive")
            got = [d.get("payload") for d in docs]
            i = 0
            for what, msgs in plan:
                if what == "exact":
                    if got[i : i + len(msgs)] != msgs:
                        self.fail("kill", "committed message lost", args,
                                  f"{mode}: at message {i}, expected {msgs[0][:30]!r}.. "
                                  f"({len(msgs)} reported committed), got "
                                  f"{[g[:30] if g else g for g in got[i : i + 3]]}")
                        break
                    i += len(msgs)
                else:
                    k = 0
                    while i < len(got) and k < len(msgs) and got[i] == msgs[k]:
                        i, k = i + 1, k + 1
                    self.killed_mid += 0 < k < len(msgs)
                    self.killed += 1
            else:
                if i != len(got):
                    self.fail("kill", "unexpected message", args,
                              f"{mode}: {len(got) - i} messages nobody sent or out of order, "
                              f"first {str(got[i])[:40]!r}")

    def kill_slot_writers(self) -> None:
        rounds = 6 if self.quick else 100
        s = self.fresh("kill-slots")
        self.must(["create", s, "--kind", "slots", "--size", "16K"])
        for rnd in range(rounds):
            p = subprocess.Popen([self.bin, "feed", s, "--rate", "1000000", "--symbols", "8",
                                  "--seconds", "30"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(self.rng.uniform(0.01, 0.1))
            p.kill()
            p.wait()
            self.stats["kill"].runs += 1
            # A reader: the table, or a clear "writer died" error for a slot left mid-write.
            self.run("kill", ["slot", "get", s, "--json"], readonly=[s])
            # The next writer repairs and publishes; then every slot reads.
            args = ["slot", "put", s, "BTCUSD", "--price", str(rnd)]
            res = self.run("kill", args)
            if res.code != 0 and not res.hung:
                self.fail("kill", "writer refused after kill -9", args, show(res.err))
            args = ["slot", "get", s, "--json"]
            res = self.run("kill", args)
            if res.code != 0:
                self.fail("kill", "table unreadable after repair", args, show(res.err))
                continue
            try:
                rows = {d["symbol"]: d for d in json.loads(res.out)}
            except (ValueError, KeyError, TypeError):
                self.fail("kill", "table unreadable after repair", args, show(res.out))
                continue
            if rows.get("BTCUSD", {}).get("price") != rnd:
                self.fail("kill", "lost write", args, f"BTCUSD is {rows.get('BTCUSD')}, wrote {rnd}")
        # A candle writer killed mid-replay, then read and written again.
        for rnd in range(2 if self.quick else 20):
            c = self.fresh("kill-candles")
            p = subprocess.Popen([self.bin, "replay", GOOG, BTC, "--candles", c, "--size", "1M",
                                  "--duration", "0.5", "--quiet"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(self.rng.uniform(0.02, 0.4))
            p.kill()
            p.wait()
            self.stats["kill"].runs += 1
            if not os.path.exists(c):
                continue
            self.run("kill", ["candles", "show", c, "--json"], readonly=[c])
            args = ["candles", "import", c, GOOG, "--symbol", "AFTER", "--interval", "1d"]
            res = self.run("kill", args)
            if res.code != 0 and not res.hung:
                self.fail("kill", "writer refused after kill -9", args, show(res.err))
            self.run("kill", ["candles", "stats", c])

    def kill(self) -> None:
        self.kill_appenders()
        print(f"sweep: kill: {self.killed_mid} of {self.killed} killed appenders had committed "
              "part of their input", file=sys.stderr)
        self.kill_slot_writers()

    # ----------------------------------------------------------------------------------------

    def report(self, secs: float) -> int:
        total_runs = sum(s.runs for s in self.stats.values())
        total_fail = sum(len(s.failures) for s in self.stats.values())
        print(f"\nshmbus sweep: {self.bin}, seed {self.seed}{', quick' if self.quick else ''}, "
              f"{secs:.1f} s")
        print(f"{'category':<10} {'runs':>8} {'failures':>9}")
        for c in CATEGORIES:
            s = self.stats[c]
            print(f"{c:<10} {s.runs:>8} {len(s.failures):>9}")
        print(f"{'total':<10} {total_runs:>8} {total_fail:>9}")
        for c in CATEGORIES:
            kinds: dict[str, list[Failure]] = {}
            for f in self.stats[c].failures:
                kinds.setdefault(f.kind, []).append(f)
            for kind, fs in kinds.items():
                print(f"\n[{c}] {kind}: {len(fs)}")
                for f in fs[:3]:
                    print(f"  $ {f.command}\n    {f.detail}")
        if self.kept:
            print(f"\ninputs of failing runs kept in {self.keep}")
        else:
            shutil.rmtree(self.keep, ignore_errors=True)
        return 1 if total_fail else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shmbus", default=str(ROOT / "target/release/shmbus"),
                    help="the shmbus binary to sweep (default: target/release/shmbus)")
    ap.add_argument("--quick", action="store_true", help="a short sweep (under 60 s) for make test")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds before a run counts as hung (default 10, 3 with --quick)")
    ap.add_argument("--only", choices=CATEGORIES, action="append", help="run only these categories")
    a = ap.parse_args()
    if not os.access(a.shmbus, os.X_OK):
        print(f"sweep: {a.shmbus} is not an executable; build it: cargo build --release -p shmbus-cli",
              file=sys.stderr)
        return 2
    seed = a.seed if a.seed is not None else random.randrange(1 << 32)
    timeout = a.timeout or (3.0 if a.quick else 10.0)
    sw = Sweep(a.shmbus, seed, a.quick, timeout)
    os.makedirs(sw.dir)
    t = time.monotonic()
    try:
        for c in a.only or CATEGORIES:
            t_c = time.monotonic()
            getattr(sw, c)()
            print(f"sweep: {c}: {sw.stats[c].runs} runs, {len(sw.stats[c].failures)} failures "
                  f"({time.monotonic() - t_c:.1f} s)", file=sys.stderr)
    except KeyboardInterrupt:
        print("sweep: interrupted", file=sys.stderr)
    finally:
        shutil.rmtree(sw.dir, ignore_errors=True)
        sw.cleanup_shm()
    return sw.report(time.monotonic() - t)


if __name__ == "__main__":
    sys.exit(main())
