#!/usr/bin/env bash
# Builds duet's release archives in dist/: a static binary (CGO_ENABLED=0,
# -trimpath) for each of linux, darwin and windows on amd64 and arm64, with
# LICENSE and README.md, as .tar.gz (.zip for windows); a CycloneDX SBOM of
# each binary (cyclonedx-gomod, from the module list the binary records);
# the browser SDK as an npm package file of the same version
# (duet-rtc-sdk-VERSION.tgz, scripts/sdk-pack.sh); and checksums.txt with
# the SHA-256 of every file.
#
#   VERSION=v1.2.3 scripts/release.sh                    # or: make release
#   TARGETS="linux/amd64 linux/arm64" DIST=/tmp/out scripts/release.sh
#
# VERSION defaults to `git describe`; COMMIT to HEAD; DATE (the build date
# `duet version` prints) to SOURCE_DATE_EPOCH when set, else now. Archive
# entries are sorted, owned by root and dated DATE, so that the same inputs
# give the same archives.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
COMMIT="${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}"
epoch="${SOURCE_DATE_EPOCH:-$(date +%s)}"
DATE="${DATE:-$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)}"
TARGETS="${TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}"
DIST="${DIST:-dist}"
CYCLONEDX="github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0"

case "$VERSION" in *[!A-Za-z0-9._+-]*) echo "release: VERSION $VERSION has characters a file name should not" >&2; exit 2 ;; esac
mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"
rm -f "$DIST"/duet_* "$DIST"/duet-rtc-sdk-*.tgz "$DIST"/checksums.txt
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "release: $VERSION ($COMMIT, $DATE) for $TARGETS"
GOBIN="$work/bin" go install "$CYCLONEDX"

for target in $TARGETS; do
  os="${target%/*}" arch="${target#*/}"
  name="duet_${VERSION#v}_${os}_${arch}"
  exe=duet
  [ "$os" = windows ] && exe=duet.exe
  mkdir -p "$work/$name"
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath \
    -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
    -o "$work/$name/$exe" ./cmd/duet
  cp LICENSE README.md "$work/$name/"
  "$work/bin/cyclonedx-gomod" bin -json -output "$DIST/$name.sbom.cdx.json" -version "$VERSION" "$work/$name/$exe"
  touch -d "@$epoch" "$work/$name" "$work/$name"/*
  if [ "$os" = windows ]; then
    (cd "$work" && python3 - "$DIST/$name.zip" "$name" <<'PY'
import os, sys, zipfile
out, top = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(os.listdir(top)):
        p = os.path.join(top, f)
        info = zipfile.ZipInfo.from_file(p, p)
        with open(p, "rb") as src:
            z.writestr(info, src.read(), zipfile.ZIP_DEFLATED)
PY
    )
  else
    tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -czf "$DIST/$name.tar.gz" "$name"
  fi
  echo "release: $target"
done

echo "release: $(VERSION="$VERSION" DIST="$DIST" scripts/sdk-pack.sh)"

(cd "$DIST" && find . -maxdepth 1 -type f \( -name 'duet_*' -o -name 'duet-rtc-sdk-*.tgz' \) -printf '%f\n' | LC_ALL=C sort | xargs sha256sum > checksums.txt)
echo "release: $(ls "$DIST" | wc -l) files in $DIST"
