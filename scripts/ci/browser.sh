#!/usr/bin/env bash
# The dashboard in a real browser (tests/browser), from a fresh machine to green:
#   1. scripts/setup.sh when chromium or the test's npm packages (playwright-core) are missing;
#   2. the shmbus CLI (target/release/shmbus), which the test runs as real processes;
#   3. node --test tests/browser/dashboard.test.js: chromium opens the dashboard of a real
#      `shmbus serve` over a real feed (bounded: every wait has a timeout, the whole test at most
#      110 s; about 10 s).
#
#   scripts/ci/browser.sh
#   UPDATE_SCREENSHOT=1 scripts/ci/browser.sh     # also writes docs/dashboard.png
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DIR=$ROOT/tests/browser

if [ ! -x /usr/bin/chromium ] || ! command -v node >/dev/null 2>&1 || [ ! -d "$DIR/node_modules/playwright-core" ] ||
  [ "$DIR/package-lock.json" -nt "$DIR/node_modules/.package-lock.json" ]; then
  bash scripts/setup.sh
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "browser.sh: Node.js $(node --version) is too old; playwright-core needs >= 20" >&2
  exit 1
fi
cargo build --release -q -p shmbus-cli
# `timeout` is the last bound (the test bounds every wait itself); on SIGTERM the test stops
# everything it started.
SHMBUS=$ROOT/target/release/shmbus timeout --kill-after=10 150 node --test --test-timeout=120000 "$DIR/dashboard.test.js"
