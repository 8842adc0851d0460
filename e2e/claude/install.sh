#!/usr/bin/env bash
# Installs the real Claude Code CLI (npm @anthropic-ai/claude-code, pinned
# below) into ~/.cache/mcplink-claude, from the npm registry, for the
# `mcplink install claude-code` test (internal/cli/testdata/script/
# install_claude.txtar: `claude mcp list` must show the server connected
# through `mcplink proxy`). The tests put its bin directory on PATH; under CI
# the test fails when it is missing. Idempotent: a stamp records the version.
#
# Usage: e2e/claude/install.sh
set -euo pipefail
VERSION=2.1.332
DIR=${MCPLINK_CLAUDE_DIR:-$HOME/.cache/mcplink-claude}
STAMP="$DIR/.mcplink-stamp"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$VERSION" ] && [ -x "$DIR/node_modules/.bin/claude" ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "e2e/claude/install.sh: npm not found; install Node.js and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$DIR"
echo "e2e: installing @anthropic-ai/claude-code@$VERSION into $DIR" >&2
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$VERSION" >&2
echo "$VERSION" >"$STAMP"
