#!/usr/bin/env bash
# Release binaries: mcplink for six platforms in dist/, with SHA256SUMS.
#
# Reproducible: the same commit and Go toolchain give the same bytes on any
# machine (-trimpath drops local paths, -buildid= the random build ID, and
# the stamped date is the commit's time, not the clock). VERSION defaults to
# `git describe --tags --always --dirty`.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"}
PKG=github.com/mcplink/mcplink/internal/cli

commit=$(git rev-parse HEAD)
version=${VERSION:-$(git describe --tags --always --dirty)}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$epoch" +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w -buildid= -X $PKG.version=$version -X $PKG.commit=$commit -X $PKG.date=$date"

rm -rf dist
mkdir -p dist
for p in $PLATFORMS; do
  os=${p%/*} arch=${p#*/}
  out=dist/mcplink_${os}_${arch}
  [ "$os" = windows ] && out=$out.exe
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch $GO build -trimpath -ldflags "$ldflags" -o "$out" ./cmd/mcplink
done
(cd dist && sha256sum mcplink_* > SHA256SUMS)

# The binary for this machine reports what was stamped.
host=dist/mcplink_$($GO env GOOS)_$($GO env GOARCH)
[ -x "$host" ] || host=$host.exe
if [ -x "$host" ]; then
  got=$("$host" --version)
  case $got in
    "mcplink $version (commit ${commit:0:12}, $date, "*) ;;
    *) echo "dist: $host --version printed \"$got\", not version $version, commit ${commit:0:12}, date $date" >&2; exit 1 ;;
  esac
  echo "dist: $got"
fi
cat dist/SHA256SUMS
