"""Fixtures: unique region names removed after each test, the `shmbus` CLI built by cargo, and
helpers that run Python code in another process."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator, List

import pytest

import shmbus

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / "target" / "release" / "shmbus"
FIXTURES = REPO / "crates" / "shmbus-cli" / "tests" / "fixtures"
_counter = itertools.count()


@pytest.fixture
def region_name() -> Iterator[str]:
    """A fresh shm name; the region is removed (forced) after the test."""
    made: List[str] = []

    def new() -> str:
        name = f"/shmbus-pytest-{os.getpid()}-{next(_counter)}"
        made.append(name)
        return name

    name = new()
    yield name
    for n in made:
        try:
            shmbus.remove(n, force=True)
        except shmbus.RegionNotFound:
            pass
        except shmbus.ShmbusError:
            # A test truncated it (test_sigbus.py): an empty file is nothing shmbus can
            # recognise, so shmbus.remove refuses it even when forced; the name is this test's.
            if os.path.getsize(f"/dev/shm{n}") != 0:
                raise
            os.unlink(f"/dev/shm{n}")


@pytest.fixture
def names(region_name: str) -> Iterator[List[str]]:
    """Several fresh shm names (all removed after the test)."""
    base = region_name
    out = [f"{base}-{i}" for i in range(8)]
    yield out
    for n in out:
        try:
            shmbus.remove(n, force=True)
        except shmbus.RegionNotFound:
            pass


@pytest.fixture(scope="session")
def cli() -> Path:
    """The release `shmbus` binary (built by cargo when missing)."""
    if not CLI.exists():
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "shmbus-cli"], cwd=REPO, check=True
        )
    return CLI


def run_cli(cli: Path, *args: str) -> str:
    """Runs the CLI; fails the test with its stderr if it fails."""
    p = subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"shmbus {' '.join(args)} failed: {p.stderr}"
    return p.stdout


def python_code(code: str) -> List[str]:
    """The argv that runs `code` (dedented) in a new Python process of this interpreter."""
    return [sys.executable, "-c", textwrap.dedent(code)]


def run_python(code: str, timeout: float = 120) -> str:
    """Runs `code` in another Python process; fails the test if it fails."""
    p = subprocess.run(python_code(code), capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"child failed ({p.returncode}): {p.stderr}"
    return p.stdout


def spawn_python(code: str, **kw: object) -> "subprocess.Popen[str]":
    """Starts `code` in another Python process (stdin/stdout pipes, text mode)."""
    return subprocess.Popen(
        python_code(code),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[arg-type]
    )
