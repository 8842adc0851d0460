#!/usr/bin/env bash
# Benchmarks that print numbers: start-up time, `list` fan-out and memory, and
# the Go micro-benchmarks of the packages. Usage: bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/mcplink ./cmd/mcplink
echo "== whole-process: start-up and list fan-out =="
go run ./bench/listbench -bin bin/mcplink -n 20 -latency 100ms -runs 7
echo
echo "== Go benchmarks =="
go test -run '^$' -bench . -benchtime 20x ./manager ./authstore ./callback ./oauth
echo
echo "== HTTP API: GET /mcp throughput and pending-flow memory =="
go test -run '^$' -bench . -benchtime 1x ./bench/api/
echo
echo "== proxy vs mcp-remote (installs mcp-remote@0.15.1 from npm into a cache) =="
bash bench/proxy/run.sh
