#!/usr/bin/env bash
# The interop matrix of tests/interop/SPEC.md: for each kind (slots, journal, candles), each of
# Rust, Python, Node.js and C++ writes in its own process and each of the four reads and checks
# every value in another process (4x4 per kind). Then every reader checks the golden files, and
# must *fail* on a copy with one value changed (so a reader that checks nothing cannot pass).
#
#   scripts/ci/interop.sh                    # run (the bindings are built by their own scripts)
#   scripts/ci/interop.sh --regenerate-golden   # after a deliberate format change
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
cargo build --release -q -p shmbus --example interop -p shmbus-cli

LANGS=(${INTEROP_LANGS:-rust python node cpp})
KINDS=(slots journal candles)
GOLDEN=tests/interop/golden

prog() {
  case "$1" in
    rust) echo "$ROOT/target/release/examples/interop" ;;
    python) echo "$ROOT/.venv/bin/python $ROOT/bindings/python/interop.py" ;;
    node) echo "node $ROOT/bindings/node/interop.js" ;;
    cpp) echo "$ROOT/target/interop-cpp" ;;
    *) echo "unknown language $1" >&2; exit 2 ;;
  esac
}

if [ "${1:-}" = --regenerate-golden ]; then
  tmp=$(mktemp -d)
  for k in "${KINDS[@]}"; do
    "$(prog rust)" write "$k" "$tmp/$k.shm"
    gzip -9 -n -c "$tmp/$k.shm" >"$GOLDEN/$k.shm.gz"
  done
  rm -rf "$tmp"
  echo "interop: golden files regenerated in $GOLDEN"
  exit 0
fi

for l in "${LANGS[@]}"; do
  first=$(prog "$l" | cut -d' ' -f1)
  if ! command -v "$first" >/dev/null 2>&1 && [ ! -x "$first" ]; then
    echo "interop: the $l program ($first) is missing; build its binding first (make test does)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
names=()
cleanup() {
  for n in "${names[@]}"; do "$ROOT/target/release/shmbus" rm --force "$n" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail=0
declare -A cell
for k in "${KINDS[@]}"; do
  for w in "${LANGS[@]}"; do
    name="/shmbus-interop-$$-$w-$k"
    names+=("$name")
    if ! $(prog "$w") write "$k" "$name" 2>"$tmp/err"; then
      echo "interop: $w failed to write $k: $(cat "$tmp/err")" >&2
      for r in "${LANGS[@]}"; do cell[$k,$w,$r]=WRITE-FAIL; done
      fail=1
      continue
    fi
    for r in "${LANGS[@]}"; do
      if out=$($(prog "$r") read "$k" "$name" 2>"$tmp/err"); then
        cell[$k,$w,$r]=ok
      else
        cell[$k,$w,$r]=FAIL
        echo "interop: $w -> $r $k: $(cat "$tmp/err")" >&2
        fail=1
      fi
    done
    "$ROOT/target/release/shmbus" rm --force "$name" >/dev/null
  done
done

# Golden files, then tampered copies that every reader must reject with exit 1 (a mismatch).
for k in "${KINDS[@]}"; do
  gunzip -c "$GOLDEN/$k.shm.gz" >"$tmp/golden-$k.shm"
  cp "$tmp/golden-$k.shm" "$tmp/tampered-$k.shm"
  python3 tests/interop/tamper.py "$k" "$tmp/tampered-$k.shm"
  for r in "${LANGS[@]}"; do
    if $(prog "$r") read "$k" "$tmp/golden-$k.shm" >/dev/null 2>"$tmp/err"; then
      cell[$k,golden,$r]=ok
    else
      cell[$k,golden,$r]=FAIL
      echo "interop: $r cannot read the golden $k file: $(cat "$tmp/err")" >&2
      fail=1
    fi
    set +e
    $(prog "$r") read "$k" "$tmp/tampered-$k.shm" >/dev/null 2>"$tmp/err"
    rc=$?
    set -e
    if [ $rc -eq 1 ]; then
      cell[$k,tampered,$r]=caught
    else
      cell[$k,tampered,$r]=MISSED
      echo "interop: $r did not report the changed value in the tampered $k file (exit $rc)" >&2
      fail=1
    fi
  done
done

for k in "${KINDS[@]}"; do
  printf '\n%-9s' "$k"
  for r in "${LANGS[@]}"; do printf '%-9s' "$r"; done
  printf '  (columns: reader)\n'
  for w in "${LANGS[@]}" golden tampered; do
    printf '%-9s' "$w"
    for r in "${LANGS[@]}"; do printf '%-9s' "${cell[$k,$w,$r]}"; done
    printf '\n'
  done
done
if [ $fail -ne 0 ]; then
  echo "interop: FAILED" >&2
  exit 1
fi
echo
echo "interop: ${#LANGS[@]}x${#LANGS[@]} matrix, golden files and tampered copies: all as expected"
