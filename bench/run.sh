#!/usr/bin/env bash
# Benchmarks that print numbers: start-up time, `list` fan-out and memory, and
# the Go micro-benchmarks of the packages. Usage: bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -trimpath -o bin/mcplink ./cmd/mcplink
echo "== whole-process: start-up and list fan-out =="
go run ./bench/listbench -bin bin/mcplink -n 20 -latency 100ms -runs 7
echo
echo "== Go benchmarks =="
go test -run '^$' -bench . -benchtime 20x ./manager ./authstore ./callback ./oauth
