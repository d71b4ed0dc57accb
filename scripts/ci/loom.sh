#!/usr/bin/env bash
# The loom tests of the seqlock and of the journal's publication protocol (both run the
# production code on loom atomics) and the model of the reader registry, plus the deliberately
# broken variants they must catch.
set -euo pipefail
RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release --target-dir target/loom -- seqlock loom_journal
