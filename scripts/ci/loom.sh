#!/usr/bin/env bash
# The loom tests of the seqlock, the journal's publication protocol and the reader registry's
# claim protocol (each runs the production code on loom atomics), plus the deliberately broken
# variants they must catch.
set -euo pipefail
RUSTFLAGS="--cfg loom" cargo test -p shmbus --lib --release --target-dir target/loom -- seqlock loom_journal
