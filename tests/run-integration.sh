#!/bin/sh
# run-integration.sh - run the integration tests (tests/integration/*.test.js,
# or the files named after LABEL) with node's built-in runner from the
# repository root, print node's TAP output, then ONE summary line for the
# top-level runner:
#   == LABEL (node --test): N tests, P passed, F failed   (LABEL: $1, default "integration")
# and exit non-zero if anything failed (or node itself failed). A test that
# hangs is failed after 120 s (--test-timeout: routing-soak.test.js runs its
# four topologies for a minute).
# Nothing the tests start may outlive them: node runs in a session of its
# own (setsid) with ROOMCAST_TEST_RUN set to an id of this run, and every
# process it starts inherits both (a test that starts its own session, as
# `make run` in its own process group does, keeps the variable).  Once node
# has exited, any process left with either is listed, killed, and counted
# as one failure; other runs on the machine (other sessions, other ids)
# are never touched.
# Env: ROOMCAST_BIN, ROOMCAST_ECHO_BIN override the binaries;
# ROOMCAST_TARGET=reference runs against the Node reference server instead.
cd "$(dirname "$0")/.." || exit 2

label=${1:-integration}
[ $# -gt 0 ] && shift
[ $# -eq 0 ] && set -- tests/integration/

out=$(mktemp) || exit 2
sidfile=$(mktemp) || exit 2
trap 'rm -f "$out" "$sidfile"' EXIT INT TERM
run_id="roomcast-test-$$-$(date +%s%N)"

# sh's pid is the session's id: setsid made it the leader before the exec
ROOMCAST_TEST_RUN=$run_id setsid -w sh -c 'echo $$ > "$0"; exec "$@"' "$sidfile" \
	node --test --test-concurrency=2 --test-timeout=120000 --test-reporter=tap "$@" >"$out" 2>&1
rc=$?
cat "$out"
sid=$(cat "$sidfile")

# The processes of this run still there: "PID COMMAND LINE" lines.
leftovers() {
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		stat=$(cat "$d/stat" 2>/dev/null) || continue
		# after the command name's ")": state ppid pgrp session ...
		session=$(echo "${stat##*) }" | cut -d' ' -f4)
		if [ "$session" = "$sid" ] ||
			{ tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qx "ROOMCAST_TEST_RUN=$run_id"; then
			echo "$p $({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null)"
		fi
	done
}
# a peer stopped in an after() hook may still be on its way out
left=$(leftovers)
waited=0
while [ -n "$left" ] && [ $waited -lt 50 ]; do
	sleep 0.1
	waited=$((waited + 1))
	left=$(leftovers)
done

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
if [ -n "$left" ]; then
	echo "# processes the tests started and left running (now killed):"
	echo "$left" | sed 's/^/#   /'
	echo "$left" | while read -r p _; do kill -KILL "$p" 2>/dev/null; done
	fail=$((fail + 1))
	rc=1
fi
echo "== $label (node --test): $tests tests, $pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
