#!/usr/bin/env bash
# All Rust tests: unit, integration (real processes), doc tests. Release mode: the cross-process
# tests hammer slots millions of times.
set -euo pipefail
cargo test --workspace --release --all-features
