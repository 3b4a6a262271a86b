#!/bin/sh
# run-unit.sh LABEL BINARY... - run cmocka unit test programs, print one
# summary line for the runner, exit non-zero if any test failed.
label=$1
shift
passed=0
failed=0
bad=""
for bin in "$@"; do
	out=$("$bin" 2>&1)
	rc=$?
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
		printf '%s\n' "$out"
		bad="$bad $(basename "$bin")"
		[ "$f" -eq 0 ] && failed=$((failed + 1))
	fi
done
echo "== $label: $# programs, $passed passed, $failed failed${bad:+ (in$bad)}"
[ "$failed" -eq 0 ]
