#!/usr/bin/env bash
# Installs what the test suite needs when it is missing. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/staticcheck" ]; then
  echo "deps: installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

browsers=""
command -v chromium >/dev/null 2>&1 || browsers="$browsers chromium"
# Firefox for the cross-browser tests (e2e/firefox_test.go), driven by
# puppeteer-core (e2e/js) over WebDriver BiDi.
command -v firefox-esr >/dev/null 2>&1 || command -v firefox >/dev/null 2>&1 || browsers="$browsers firefox-esr"
if [ -n "$browsers" ]; then
  echo "deps: installing$browsers from Debian packages"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq $browsers >/dev/null
fi

# The deployment tests: podman builds the image, busybox-static is the
# shell of its offline builder base, qemu-user runs the arm64 release
# binary, systemd-analyze checks the unit.
missing=""
command -v podman >/dev/null 2>&1 || missing="$missing podman"
{ command -v busybox >/dev/null 2>&1 && ! file -L "$(command -v busybox)" | grep -q dynamically; } || missing="$missing busybox-static"
command -v qemu-aarch64 >/dev/null 2>&1 || missing="$missing qemu-user"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v file >/dev/null 2>&1 || missing="$missing file"
# internal/tlsrec checks its record layer against OpenSSL's s_client.
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v nft >/dev/null 2>&1 || missing="$missing nftables" # the NAT lab's NATs and firewalls
if [ -n "$missing" ]; then
  echo "deps: installing$missing from Debian packages"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq $missing >/dev/null
fi

# Installed again whenever the lock file changed since the last install.
if [ -f e2e/js/package.json ] && ! cmp -s e2e/js/package-lock.json e2e/js/node_modules/.duet-installed-lock; then
  echo "deps: installing npm packages for the browser tests"
  (cd e2e/js && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.duet-installed-lock)
fi
if [ -f bench/peerjs/package.json ] && [ ! -d bench/peerjs/node_modules ]; then
  echo "deps: installing the PeerJS server for the benchmark tests"
  (cd bench/peerjs && npm ci --no-audit --no-fund --loglevel=error)
fi
# Each module's own requirements (GOWORK=off: in the workspace, go mod
# download would fetch every module the workspace's larger graph names,
# tests of dependencies included). go.work lists the first two.
GOWORK=off go mod download
(cd client && GOWORK=off go mod download)
(cd deploy && GOWORK=off go mod download)
