#!/usr/bin/env bash
set -euo pipefail
cargo fmt --all -- --check
# The fuzz targets are a workspace of their own (fuzz/Cargo.toml).
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
echo "fmt: clean"
