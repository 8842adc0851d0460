#!/usr/bin/env bash
# Opt-in end-to-end test against a real Ory Hydra (`make test-hydra`).
#
# Builds Ory Hydra at a pinned release (cgo, sqlite: about 10 minutes the
# first time; the binary is cached in $MCPLINK_HYDRA_CACHE, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/mcplink-hydra), then
# runs the Go tests in e2e/hydra (build tag "hydra"): Hydra serves with the
# in-memory DSN ("memory") on loopback ports, a small login/consent app
# accepts every request through Hydra's admin API, and an MCP server checks
# Hydra's tokens by introspection. mcplink registers dynamically (Hydra's
# registration answer: "jwks": {}, "metadata": {}, ...), signs in, calls a
# tool, refreshes (Hydra needs offline_access for that), signs in again from
# a second engine reusing the registration, and logs out.
#
# Hydra v2.3.0's Go module cannot be built with `go install module@version`
# (its go.mod replaces hydra-client-go with a directory that is not in the
# module zip), so the source comes from git: HYDRA_GIT (default
# https://github.com/ory/hydra.git; a local mirror works too) at the pinned
# tag, checked against the pinned commit. HYDRA_BIN skips the build and
# uses that binary.
#
# Usage: e2e/hydra/run.sh [go test flags...]
set -euo pipefail

HYDRA_VERSION=v2.3.0
HYDRA_COMMIT=ee8c339ddada3a42529c0416897abc32bad03bbb
HYDRA_GIT=${HYDRA_GIT:-https://github.com/ory/hydra.git}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GO=${GO:-go}
CACHE=${MCPLINK_HYDRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcplink-hydra}

if [ -z "${HYDRA_BIN:-}" ]; then
	HYDRA_BIN="$CACHE/hydra-$HYDRA_VERSION"
	if [ ! -x "$HYDRA_BIN" ]; then
		command -v git >/dev/null || { echo "e2e/hydra: git is needed to fetch Hydra's source" >&2; exit 1; }
		command -v gcc >/dev/null || { echo "e2e/hydra: a C compiler is needed for Hydra's sqlite (Debian: apt-get install gcc)" >&2; exit 1; }
		mkdir -p "$CACHE"
		src=$(mktemp -d "$CACHE/src.XXXXXX")
		trap 'rm -rf "$src"' EXIT
		echo "e2e/hydra: fetching Ory Hydra $HYDRA_VERSION from $HYDRA_GIT" >&2
		git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$HYDRA_VERSION" "$HYDRA_GIT" "$src/hydra"
		got=$(git -C "$src/hydra" rev-parse HEAD)
		if [ "$got" != "$HYDRA_COMMIT" ]; then
			echo "e2e/hydra: $HYDRA_GIT $HYDRA_VERSION is commit $got, want $HYDRA_COMMIT; refusing to build it" >&2
			exit 1
		fi
		echo "e2e/hydra: building Hydra (cgo sqlite; about 10 minutes the first time)" >&2
		start=$(date +%s)
		(cd "$src/hydra" && CGO_ENABLED=1 GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local \
			"$GO" build -trimpath -tags sqlite,sqlite_omit_load_extension -o "$HYDRA_BIN.tmp" .)
		mv "$HYDRA_BIN.tmp" "$HYDRA_BIN"
		echo "e2e/hydra: built $HYDRA_BIN in $(($(date +%s) - start)) s" >&2
	fi
fi

"$HYDRA_BIN" version >&2 || { echo "e2e/hydra: $HYDRA_BIN does not run" >&2; exit 1; }
cd "$ROOT"
HYDRA_BIN="$HYDRA_BIN" "$GO" test -tags hydra -count=1 -timeout 10m "$@" ./e2e/hydra
