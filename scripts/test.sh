#!/usr/bin/env bash
# The README's test command (make test): the cross-platform build checks, go
# vet, staticcheck, every Go test (unit, end-to-end with real browsers,
# identity providers and peers), the race detector on the concurrent
# packages, and the official MCP conformance suite. Every step runs even when
# an earlier one failed; the last line sums up:
#   summary: N passed, N failed, N skipped
# preceded by the skipped tests and their reasons and the counts per step.
set -u
cd "$(dirname "$0")/.."
GO=${GO:-go}
RACE_PKGS=${RACE_PKGS:-./authstore ./callback ./oauth ./manager ./proxy ./api ./config}
sum=$(mktemp -d)
trap 'rm -rf "$sum"' EXIT

failed=()
step() {
  local name=$1
  shift
  echo "== $name"
  "$@" || failed+=("$name")
}

step crosscheck env GO="$GO" bash scripts/crosscheck.sh
step install bash -c 'bash e2e/idp/install.sh && bash e2e/opencode/install.sh && bash e2e/zitadel/build.sh && bash e2e/claude/install.sh'
step vet "$GO" vet ./...
step staticcheck "$GO" tool staticcheck ./...
step unit "$GO" run ./internal/testsummary -record "$sum/unit.json" -- "$GO" test -json -count=1 -timeout 10m ./...
# shellcheck disable=SC2086 # RACE_PKGS is a list of packages
step race "$GO" run ./internal/testsummary -record "$sum/race.json" -- "$GO" test -json -race -count=1 -timeout 10m $RACE_PKGS
step conformance bash -c 'set -o pipefail; bash scripts/conformance.sh 2>&1 | tee "$1/conformance.txt"' _ "$sum"

echo "== summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed steps: ${failed[*]}"
fi
"$GO" run ./internal/testsummary -final "$sum" || failed+=(summary)
[ ${#failed[@]} -eq 0 ]
