#!/usr/bin/env bash
# The loom models of the seqlock, journal and reader-registry protocols, plus the deliberately
# broken variants they must catch.
set -euo pipefail
RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release --target-dir target/loom -- seqlock loom_journal
