#!/usr/bin/env bash
# Re-fetches the dashboard's vendored chart library, TradingView's lightweight-charts, at the
# pinned version, from the npm registry (`npm pack`), into
# crates/shmbus-gateway/assets/vendor/lightweight-charts/: the standalone production build, its
# LICENSE, the NOTICE (the attribution notice the licence asks for; the npm package does not ship
# it, so it is written here as the project's NOTICE file says it) and a VERSION file. The gateway
# embeds these files at build time; nothing is fetched at run time.
#
# Usage: scripts/vendor-dashboard.sh [VERSION]   (default: the pinned one below)
# To upgrade: run it with the new version, check the dashboard (`shmbus serve`, open /), update
# PINNED here and in crates/shmbus-cli/tests/dashboard.rs, commit the four files.
set -euo pipefail
PINNED=5.2.1
version="${1:-$PINNED}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/crates/shmbus-gateway/assets/vendor/lightweight-charts"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "lightweight-charts@$version" >/dev/null)
tar -xzf "$tmp/lightweight-charts-$version.tgz" -C "$tmp"
got="$(node -p "require('$tmp/package/package.json').version")"
if [ "$got" != "$version" ]; then
  echo "vendor-dashboard: npm gave lightweight-charts $got, not $version" >&2
  exit 1
fi
mkdir -p "$dest"
cp "$tmp/package/dist/lightweight-charts.standalone.production.js" "$dest/"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
printf 'TradingView Lightweight Charts\nCopyright (c) 2023 TradingView, Inc. https://www.tradingview.com/\n' >"$dest/NOTICE"
printf '%s\n' "$version" >"$dest/VERSION"
echo "vendor-dashboard: lightweight-charts $version -> ${dest#"$root"/}"
