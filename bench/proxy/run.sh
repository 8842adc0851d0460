#!/usr/bin/env bash
# Compare `mcplink proxy` with mcp-remote@0.15.1 against the same loopback
# Streamable HTTP server. Usage: bash bench/proxy/run.sh [extra proxybench flags]
# MCP_REMOTE_CACHE (default ~/.cache/mcplink-bench) holds the npm install;
# SKIP_MCP_REMOTE=1 measures mcplink alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/mcplink ./cmd/mcplink
remote=""
if [ "${SKIP_MCP_REMOTE:-}" != "1" ]; then
	cache="${MCP_REMOTE_CACHE:-$HOME/.cache/mcplink-bench}"
	js="$cache/node_modules/mcp-remote/dist/proxy.js"
	if [ ! -f "$js" ]; then
		mkdir -p "$cache"
		npm install --prefix "$cache" --no-audit --no-fund mcp-remote@0.15.1 >&2
	fi
	remote="node $js"
fi
go run ./bench/proxy -mcplink bin/mcplink -mcp-remote "$remote" "$@"
