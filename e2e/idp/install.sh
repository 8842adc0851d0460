#!/usr/bin/env bash
# Installs the end-to-end identity provider's npm dependencies (oidc-provider,
# pinned by package-lock.json) into e2e/idp/node_modules, from the npm registry.
# Idempotent and fast when nothing changed: a stamp records the lockfile that
# was installed. The Go tests in e2e/ run e2e/idp/server.mjs with /usr/bin/node
# (or $MCPLINK_E2E_NODE) and skip (t.Fatal under CI) when this was not run.
#
# Usage: e2e/idp/install.sh
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$DIR"
STAMP=node_modules/.mcplink-e2e-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f node_modules/oidc-provider/package.json ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "e2e/idp/install.sh: npm not found; install Node.js and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
echo "e2e: installing oidc-provider into $DIR/node_modules" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
echo "$want" >"$STAMP"
