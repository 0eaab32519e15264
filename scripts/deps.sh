#!/usr/bin/env bash
# Installs what the test suite needs when it is missing. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/staticcheck" ]; then
  echo "deps: installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "deps: installing chromium from Debian packages"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq chromium >/dev/null
fi

if [ -f web/test/package.json ] && [ ! -d web/test/node_modules ]; then
  echo "deps: installing npm packages for the browser tests"
  (cd web/test && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -f bench/peerjs/package.json ] && [ ! -d bench/peerjs/node_modules ]; then
  echo "deps: installing the PeerJS server for the benchmark tests"
  (cd bench/peerjs && npm ci --no-audit --no-fund --loglevel=error)
fi
go mod download
