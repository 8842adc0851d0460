#!/usr/bin/env bash
# Cross-platform check: every package builds, vets, and every test binary
# compiles and links for each release platform with CGO_ENABLED=0. Nothing
# runs: the test binaries are handed to `true` (go test -exec), so this
# proves Windows and macOS builds on a Linux machine, not their behaviour.
#
#   scripts/crosscheck.sh                    all six platforms
#   PLATFORMS="windows/amd64" scripts/crosscheck.sh
#
# The Go build cache makes a repeated run cheap; see the README for times.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"}
TRUE=$(type -P true) || { echo "crosscheck: no true(1) on PATH" >&2; exit 1; }

start=$SECONDS
for p in $PLATFORMS; do
  t=$SECONDS
  export GOOS=${p%/*} GOARCH=${p#*/} CGO_ENABLED=0
  if ! out=$($GO build ./... 2>&1); then
    printf '%s\n' "$out" >&2; echo "crosscheck: $p: go build ./... failed" >&2; exit 1
  fi
  if ! out=$($GO vet ./... 2>&1); then
    printf '%s\n' "$out" >&2; echo "crosscheck: $p: go vet ./... failed" >&2; exit 1
  fi
  if ! out=$($GO test -count=1 -run '^$' -exec "$TRUE" ./... 2>&1); then
    printf '%s\n' "$out" >&2; echo "crosscheck: $p: test binaries do not compile" >&2; exit 1
  fi
  echo "crosscheck: $p: build, vet, test compile ok ($((SECONDS - t))s)"
done
echo "crosscheck: all platforms ok ($((SECONDS - start))s)"
