#!/usr/bin/env bash
# The fuzz targets of fuzz/ (cargo-fuzz, libFuzzer; docs/RELIABILITY.md says what each covers):
#   1. installs cargo-fuzz (pinned, --locked) when it is missing or another version;
#   2. builds every target (stable Rust with RUSTC_BOOTSTRAP=1: cargo-fuzz needs nightly flags);
#   3. runs each target for FUZZ_SECONDS (default 600) from the checked-in seeds (fuzz/corpus/T,
#      never written to) and the working corpus it keeps growing (fuzz/target/corpus/T), with a
#      10 s hang limit per input; prints the executions of each and appends them to
#      fuzz/target/fuzz-runs.tsv (date, target, seconds, executions, result). A crash, hang or
#      leak stops that target, leaves the input in fuzz/artifacts/T/ and fails the script.
#      Several runs of one target may go at once (one per core): they share the working corpus,
#      each counts its own executions.
#
#   scripts/ci/fuzz.sh                          # every target, FUZZ_SECONDS each (make fuzz)
#   FUZZ_SECONDS=8 scripts/ci/fuzz.sh           # the short run of make test (make test-fuzz)
#   scripts/ci/fuzz.sh candles csv_rows         # some targets
#   scripts/ci/fuzz.sh --seeds                  # rewrite the seed corpus with the real writers
#   scripts/ci/fuzz.sh --replay                 # run each target once over its seeds, its
#                                               # working corpus and fuzz/artifacts, without
#                                               # fuzzing
#
# FUZZ_SANITIZER=none builds without AddressSanitizer (5-6x the executions per second; every
# run keeps overflow checks and debug assertions) into fuzz/target/nosan, for long runs; the
# inputs such a run adds to the working corpus are checked under AddressSanitizer by --replay.
# The TSV's last column says which sanitizer a run used.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARGO_FUZZ_VERSION=0.13.1
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
case $FUZZ_SANITIZER in
address) build=(--sanitizer address) ;;
none) build=(--sanitizer none --target-dir fuzz/target/nosan) ;;
*)
  echo "fuzz.sh: FUZZ_SANITIZER is address or none, not $FUZZ_SANITIZER" >&2
  exit 2
  ;;
esac
TARGETS=(region_open journal_file journal_frames candles csv_rows cli_parsers)
export RUSTC_BOOTSTRAP=1

mode=run
picked=()
for a in "$@"; do
  case $a in
  --seeds) mode=seeds ;;
  --replay) mode=replay ;;
  -*)
    echo "fuzz.sh: unknown option $a" >&2
    exit 2
    ;;
  *) picked+=("$a") ;;
  esac
done
[ ${#picked[@]} -gt 0 ] && TARGETS=("${picked[@]}")

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked --quiet --force cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# Scratch files of the targets (regions written from fuzz inputs): a directory of this run's own.
# In /dev/shm when there is one (tmpfs: the targets write a file per input, 1.5x faster there).
TMPDIR=$(mktemp -d -p /dev/shm shmbus-fuzz.XXXXXX 2>/dev/null || mktemp -d -t shmbus-fuzz.XXXXXX)
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

if [ $mode = seeds ]; then
  cargo run --quiet --release --manifest-path fuzz/Cargo.toml --example seeds
  exit 0
fi

cargo fuzz build "${build[@]}"
mkdir -p fuzz/target/corpus fuzz/target/logs fuzz/artifacts
tsv=fuzz/target/fuzz-runs.tsv
[ -f "$tsv" ] || printf 'date\ttarget\tseconds\texecutions\tresult\tsanitizer\n' >"$tsv"
fail=0
total=0
for t in "${TARGETS[@]}"; do
  if [ ! -d "fuzz/corpus/$t" ]; then
    echo "fuzz: no target $t (targets: region_open journal_file journal_frames candles csv_rows cli_parsers)" >&2
    exit 2
  fi
  log=fuzz/target/logs/$t.log
  [ $mode = replay ] && log=fuzz/target/logs/$t.replay.log
  mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
  if [ $mode = replay ]; then
    inputs=("fuzz/corpus/$t")
    [ -n "$(ls -A "fuzz/target/corpus/$t")" ] && inputs+=("fuzz/target/corpus/$t")
    [ -n "$(ls -A "fuzz/artifacts/$t")" ] && inputs+=("fuzz/artifacts/$t")
    if cargo fuzz run "${build[@]}" "$t" "${inputs[@]}" -- -runs=0 >"$log" 2>&1; then
      echo "fuzz: $t: replayed $(grep -m1 -o 'INITED.*' "$log" || echo 'its inputs')"
    else
      echo "fuzz: $t: FAILED on a stored input (log: $log)" >&2
      tail -n 40 "$log" >&2
      fail=1
    fi
    continue
  fi
  start=$(date +%s)
  result=ok
  # The run logs into this invocation's own directory (two runs of one target at a time, one
  # per core, would write over each other's log and counts), copied to $log when it ends.
  # -timeout: an input taking 10 s is a hang; -rss_limit_mb: a runaway allocation.
  if ! cargo fuzz run "${build[@]}" "$t" "fuzz/target/corpus/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"$TMPDIR/$t.log" 2>&1; then
    result=FAILED
    fail=1
  fi
  cp "$TMPDIR/$t.log" "$log"
  secs=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  execs=${execs:-0}
  total=$((total + execs))
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$secs" "$execs" "$result" \
    "$FUZZ_SANITIZER" >>"$tsv"
  rate=$((execs / (secs > 0 ? secs : 1)))
  echo "fuzz: $t: $execs executions in ${secs}s ($rate/s), $result"
  if [ $result != ok ]; then
    grep -m1 -A 30 -E 'panicked|ERROR: libFuzzer|ERROR: AddressSanitizer|==[0-9]+==' "$log" >&2 || tail -n 40 "$log" >&2
    ls -t "fuzz/artifacts/$t" | head -n 3 | sed "s|^|fuzz: crash input: fuzz/artifacts/$t/|" >&2
  fi
done
if [ $mode = run ]; then
  echo "fuzz: $total executions in all ($tsv keeps every run)"
fi
exit $fail
