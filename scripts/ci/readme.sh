#!/usr/bin/env bash
# Runs the examples of README.md and fails if any fails: the README's examples must really run.
#   ```sh      blocks: in order, as one script, against the release `shmbus` binary;
#   ```python  blocks: each on its own, with the repository's venv (the Python binding);
#   ```js      blocks: each on its own, with node and `require('shmbus')` resolving to
#              bindings/node.
# (The README's Rust examples are doc tests; its C++ examples are files in examples/, built and
# run by scripts/ci/c.sh.)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
cargo build --release -q -p shmbus-cli
export PATH="$ROOT/target/release:$PATH"
export SHMBUS_FIXTURES="$ROOT/crates/shmbus-cli/tests/fixtures"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log="$work/log"

extract() { # LANG OUTPREFIX: one file per block
  awk -v lang="$1" -v out="$2" '
    $0 == "```" lang { on = 1; n++; next }
    /^```/ { on = 0 }
    on { print > (out n) }' README.md
}

extract sh "$work/sh."
[ -e "$work/sh.1" ] || { echo "readme: no sh blocks found" >&2; exit 1; }
cat "$work"/sh.* >"$work/all.sh"
echo "readme: running $(grep -c . "$work/all.sh") lines of shell examples"
mkdir -p "$work/run"
(cd "$work/run" && bash -euo pipefail -x "$work/all.sh") >"$log" 2>&1 || {
  cat "$log"; echo "readme: a shell example failed" >&2; exit 1; }

extract python "$work/py."
if ls "$work"/py.* >/dev/null 2>&1; then
  py="$ROOT/.venv/bin/python"
  [ -x "$py" ] || { echo "readme: $py is missing (scripts/ci/python.sh makes it)" >&2; exit 1; }
  for f in "$work"/py.*; do
    echo "readme: python example ${f##*.}"
    (cd "$work/run" && "$py" "$f") >"$log" 2>&1 || {
      cat "$f"; cat "$log"; echo "readme: a Python example failed" >&2; exit 1; }
  done
fi

extract js "$work/js."
if ls "$work"/js.* >/dev/null 2>&1; then
  mkdir -p "$work/run/node_modules"
  ln -sfn "$ROOT/bindings/node" "$work/run/node_modules/shmbus"
  for f in "$work"/js.*; do
    echo "readme: js example ${f##*.}"
    cp "$f" "$work/run/example.js"
    (cd "$work/run" && node example.js) >"$log" 2>&1 || {
      cat "$f"; cat "$log"; echo "readme: a JavaScript example failed" >&2; exit 1; }
  done
fi
echo "readme: all examples ran"
