#!/usr/bin/env bash
# Packs the browser SDK (web/sdk) as the npm package @duet-rtc/sdk, with
# the version of duet it is released with: dist/duet-rtc-sdk-VERSION.tgz.
# Install it in a project with `npm install ./duet-rtc-sdk-VERSION.tgz`.
#
#   scripts/sdk-pack.sh                       # VERSION from git describe
#   VERSION=v1.2.3 DIST=/tmp/out scripts/sdk-pack.sh
#
# The version is duet's without the v (1.2.3); one that is not semantic
# (a bare commit from git describe --always) becomes 0.0.0-<it>. It prints
# the tarball's path.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
DIST="${DIST:-dist}"
v="${VERSION#v}"
if ! [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]]; then
  v="0.0.0-${v//[^0-9A-Za-z-]/-}"
fi
mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A copy, so that the checkout's package.json keeps its development version.
cp web/sdk/package.json web/sdk/*.js web/sdk/*.d.ts LICENSE "$work/"
(
  cd "$work"
  npm pkg set version="$v" >/dev/null
  npm pack --pack-destination "$DIST" --silent >/dev/null
)
echo "$DIST/duet-rtc-sdk-$v.tgz"
