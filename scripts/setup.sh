#!/usr/bin/env bash
# Installs what `make demo` and `make test` need on a fresh machine of this kind. Idempotent.
set -euo pipefail
need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "setup: please install: ${need_apt[*]}" >&2
    exit 1
  fi
fi
# redis-server: the gateway benchmark's Redis path (make bench-gateway, test-bench-gateway).
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
  else
    echo "setup: please install redis-server (apt-get install redis-server)" >&2
    exit 1
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi
for comp in rustfmt clippy; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$comp"
  fi
done
# nats-server (JetStream) for the `shmbus bridge` tests: Debian's package; the tests start it
# themselves on free loopback ports with temporary stores.
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server
  else
    echo "setup: please install nats-server (apt-get install nats-server)" >&2
    exit 1
  fi
fi
# The openssl CLI: the bridge's TLS test makes its CA and certificates with it.
if ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl
  else
    echo "setup: please install openssl (apt-get install openssl)" >&2
    exit 1
  fi
fi
# The real-browser test of the dashboard (tests/browser): Debian's chromium, and the test's npm
# packages (playwright-core, pinned in tests/browser/package-lock.json) under tests/browser/node_modules.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium (Debian package) for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: please install chromium (/usr/bin/chromium) for the browser test" >&2
    exit 1
  fi
fi
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ -f "$browser_dir/package-lock.json" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing Node.js and npm (Debian packages) for the browser test"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "setup: please install Node.js and npm for the browser test" >&2
      exit 1
    fi
  fi
  stamp="$browser_dir/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$browser_dir/package-lock.json" -nt "$stamp" ]; then
    echo "setup: npm ci (tests/browser)"
    (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error 2>&1 | grep -v -e 'Unknown user config' -e '^added [0-9]* package' -e '^$' || true)
    [ -d "$browser_dir/node_modules/playwright-core" ] || { echo "setup: npm ci in tests/browser failed" >&2; exit 1; }
    touch "$stamp"
  fi
fi
