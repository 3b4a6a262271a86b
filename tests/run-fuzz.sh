#!/bin/sh
# run-fuzz.sh SECONDS BINARY... - replay each libFuzzer target's corpus
# (tests/fuzz/corpus/<name without fuzz_>/), then fuzz it for SECONDS with
# new inputs kept in a scratch folder and the target's dictionary
# (tests/fuzz/<name without fuzz_>.dict) if it has one.  Prints one
# summary line; exits non-zero on the first crash, leak or sanitizer report.
seconds=$1
shift
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
total=0
for bin in "$@"; do
	name=$(basename "$bin")
	corpus=tests/fuzz/corpus/${name#fuzz_}
	dict=tests/fuzz/${name#fuzz_}.dict
	mkdir -p "$scratch/$name"
	dict_opt=
	[ -f "$dict" ] && dict_opt=-dict=$dict
	if ! "$bin" ${dict_opt:+"$dict_opt"} -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$scratch/" "$scratch/$name" "$corpus" >"$scratch/$name.log" 2>&1; then
		cat "$scratch/$name.log"
		echo "== fuzz: $name FAILED (crash input kept in the log above)"
		exit 1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$name.log")
	total=$((total + ${runs:-0}))
done
echo "== fuzz (libFuzzer): $# targets, corpus replayed, $total runs, no findings"
