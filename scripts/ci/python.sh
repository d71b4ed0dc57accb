#!/usr/bin/env bash
# The Python binding, from a fresh machine: a venv in .venv (python3-venv installed if missing),
# maturin/numpy/pytest/pandas/mypy, the extension built into the venv (incremental: it shares
# target/ with the workspace), the pytest suite, a strict type check of the package and its
# stubs, and the interop self-check (Python writes, Python reads, for each kind).
#
#   scripts/ci/python.sh            # everything
#   scripts/ci/python.sh -k journal # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=$VENV/bin/python

if [ ! -x "$PY" ]; then
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    echo "python: installing python3-venv"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
fi
if ! "$PY" -c "import maturin, numpy, pytest, pandas, mypy" >/dev/null 2>&1; then
  echo "python: installing maturin numpy pytest pandas mypy into .venv"
  "$PY" -m pip install -q --disable-pip-version-check maturin numpy pytest pandas mypy
fi

# The CLI the tests exchange regions with, then the extension (editable install into .venv).
cargo build --release -q -p shmbus-cli
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! (cd bindings/python && VIRTUAL_ENV=$VENV PATH=$VENV/bin:$PATH \
      maturin develop --release >"$log" 2>&1); then
  cat "$log"
  echo "python: maturin develop failed" >&2
  exit 1
fi
echo "python: built and installed shmbus $("$PY" -c 'import shmbus; print(shmbus.__version__)') into .venv"

"$PY" -m pytest -q bindings/python/tests "$@"
(cd bindings/python/python && "$PY" -m mypy --strict --no-error-summary -p shmbus)
echo "python: mypy --strict clean (package and native stubs)"

# Interop self-check: each kind written by Python and read back by Python, in two processes.
names=()
cleanup() {
  rm -f "$log"
  for n in "${names[@]}"; do "$PY" -c "import shmbus, sys; shmbus.remove(sys.argv[1], force=True)" "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
for k in slots journal candles; do
  name="/shmbus-pyci-$$-$k"
  names+=("$name")
  "$PY" bindings/python/interop.py write "$k" "$name"
  "$PY" bindings/python/interop.py read "$k" "$name"
done
echo "python: all checks passed"
