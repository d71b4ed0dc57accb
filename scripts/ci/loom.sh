#!/usr/bin/env bash
# The loom model of the seqlock protocol, plus the deliberately broken variant it must catch.
set -euo pipefail
RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release --target-dir target/loom -- seqlock
