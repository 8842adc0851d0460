#!/usr/bin/env bash
# Installs opencode's official SDK (@opencode-ai/sdk, pinned by
# package-lock.json) into e2e/opencode/node_modules, from the npm registry.
# Idempotent and fast when nothing changed: a stamp records the lockfile that
# was installed. e2e/opencode_test.go runs e2e/opencode/sdk.mjs with Node
# against a real `mcplink serve`; it skips (fails under CI) when this was not run.
#
# Usage: e2e/opencode/install.sh
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$DIR"
STAMP=node_modules/.mcplink-e2e-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f node_modules/@opencode-ai/sdk/package.json ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "e2e/opencode/install.sh: npm not found; install Node.js and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
echo "e2e: installing @opencode-ai/sdk into $DIR/node_modules" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
echo "$want" >"$STAMP"
