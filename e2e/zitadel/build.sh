#!/usr/bin/env bash
# Builds the Zitadel OIDC example OP (e2e/zitadel/op: a Go module of its own
# that pins github.com/zitadel/oidc/v3 and runs its example/server) into a
# cache, from the Go module proxy. Idempotent and fast when nothing changed: the
# binary's name carries the pinned version and a hash of the module's sources,
# which is also how the Go tests in e2e/ find it (e2e/zitadel_test.go); they
# skip (t.Fatal under CI) when this was not run.
#
# Usage: e2e/zitadel/build.sh     (prints the binary's path)
#
# Environment:
#   MCPLINK_ZITADEL_CACHE  where the binary goes
#                          (default ${XDG_CACHE_HOME:-$HOME/.cache}/mcplink-zitadel)
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/op" && pwd)
cd "$DIR"
CACHE=${MCPLINK_ZITADEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcplink-zitadel}
version=$(sed -n 's#^require github.com/zitadel/oidc/v3 \(v[^ ]*\)$#\1#p' go.mod)
[ -n "$version" ] || { echo "e2e/zitadel/build.sh: no 'require github.com/zitadel/oidc/v3 vX.Y.Z' line in $DIR/go.mod" >&2; exit 1; }
hash=$(cat go.mod go.sum main.go | sha256sum | cut -c1-16)
bin=$CACHE/op-$version-$hash
if [ -x "$bin" ]; then
	touch "$bin" # in use: see the clean-up below
	echo "$bin"
	exit 0
fi
command -v go >/dev/null || { echo "e2e/zitadel/build.sh: go not found in PATH" >&2; exit 1; }
mkdir -p "$CACHE"
echo "e2e: building the Zitadel example OP (github.com/zitadel/oidc/v3 $version) into $CACHE" >&2
tmp=$(mktemp "$CACHE/.op-build.XXXXXX")
trap 'rm -f "$tmp"' EXIT
CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly go build -trimpath -o "$tmp" .
mv -f "$tmp" "$bin"
trap - EXIT
# Builds of other versions or sources that no checkout used for 30 days go.
# (Not all of them: other checkouts or branches may use them.)
find "$CACHE" -maxdepth 1 -name 'op-v*' -mtime +30 -delete
echo "$bin"
