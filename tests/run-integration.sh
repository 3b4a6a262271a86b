#!/bin/sh
# run-integration.sh - run the integration tests (tests/integration/*.test.js)
# with node's built-in runner from the repository root, print node's TAP
# output, then ONE summary line for the top-level runner:
#   == LABEL (node --test): N tests, P passed, F failed   (LABEL: $1, default "integration")
# and exit non-zero if anything failed (or node itself failed). A test that
# hangs is failed after 120 s (--test-timeout: routing-soak.test.js runs its
# four topologies for a minute).
# Env: ROOMCAST_BIN, ROOMCAST_ECHO_BIN override the binaries;
# ROOMCAST_TARGET=reference runs against the Node reference server instead.
cd "$(dirname "$0")/.." || exit 2

out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT INT TERM

node --test --test-concurrency=2 --test-timeout=120000 --test-reporter=tap tests/integration/ >"$out" 2>&1
rc=$?
cat "$out"

# node prints the totals once, at the end, as "# tests N" / "# pass P" / "# fail F"
tests=$(sed -n 's/^# tests \([0-9]*\)$/\1/p' "$out" | tail -n 1)
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)
cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$out" | tail -n 1)
tests=${tests:-0}
pass=${pass:-0}
fail=$(( ${fail:-0} + ${cancelled:-0} ))
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
	# node failed without counting a failed test (crash, no test files, ...)
	fail=1
fi
echo "== ${1:-integration} (node --test): $tests tests, $pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
