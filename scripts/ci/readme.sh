#!/usr/bin/env bash
# Runs every ```sh block of README.md, in order, against the release `shmbus` binary, and fails
# if any command fails: the README's examples must really run.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p shmbus-cli
export PATH="$PWD/target/release:$PATH"
export SHMBUS_FIXTURES="$PWD/crates/shmbus-cli/tests/fixtures"
script=$(mktemp)
trap 'rm -f "$script"' EXIT
awk '/^```sh$/ {on=1; next} /^```/ {on=0} on' README.md > "$script"
[ -s "$script" ] || { echo "readme: no sh blocks found" >&2; exit 1; }
n=$(grep -c . "$script")
echo "readme: running $n lines of shell examples from README.md"
# Run in a scratch directory, so relative paths in the examples land there.
work=$(mktemp -d)
trap 'rm -f "$script"; rm -rf "$work"' EXIT
(cd "$work" && bash -euo pipefail -x "$script") > /tmp/shmbus-readme.log 2>&1 || {
  cat /tmp/shmbus-readme.log; echo "readme: an example failed" >&2; exit 1; }
echo "readme: all examples ran"
