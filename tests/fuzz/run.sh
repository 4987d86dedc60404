#!/usr/bin/env bash
# run.sh FUZZER FUZZ_SRC_DIR WORK_DIR SECONDS MAX_LEN
#
# Runs one libFuzzer target: first every checked-in crash input of
# FUZZ_SRC_DIR/regressions/<target>/ (each must now pass), then SECONDS of
# fuzzing on a scratch copy of FUZZ_SRC_DIR/corpus/<target>/ (the seeds in
# the tree are never modified). Crash inputs stay in
# WORK_DIR/<target>/artifacts/ (until the next run moves them to artifacts.prev).
# KEEL_FUZZ_SECONDS in the environment overrides SECONDS (make fuzz).
# Prints one summary line; exits non-zero on any crash, leak or timeout.
set -u
fuzzer=$1 src=$2 work=$3 seconds=${KEEL_FUZZ_SECONDS:-$4} max_len=$5
name=$(basename "$fuzzer")
dir=$work/$name
# A previous run's crash inputs move to artifacts.prev: only new ones count.
rm -rf "$dir/corpus" "$dir/artifacts.prev"
[ -d "$dir/artifacts" ] && mv "$dir/artifacts" "$dir/artifacts.prev"
mkdir -p "$dir/corpus" "$dir/artifacts"
cp "$src/corpus/$name/"* "$dir/corpus/" 2>/dev/null || true

regressions=("$src/regressions/$name/"*)
if [ -e "${regressions[0]}" ]; then
    if ! "$fuzzer" -runs=1 "${regressions[@]}" >"$dir/regressions.log" 2>&1; then
        echo "fuzz $name: FAIL: a regression input crashes again (log: $dir/regressions.log)"
        tail -n 30 "$dir/regressions.log"
        exit 1
    fi
fi

"$fuzzer" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/fuzz.log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -n 1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log" | tail -n 1)
corpus=$(find "$dir/corpus" -type f | wc -l)
crashes=$(find "$dir/artifacts" -type f | wc -l)
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    echo "fuzz $name: FAIL (exit $rc) after ${execs:-?} runs; inputs kept in $dir/artifacts/:"
    find "$dir/artifacts" -type f -printf '  %p\n'
    grep -m 1 -A 25 'ERROR: \|runtime error' "$dir/fuzz.log"
    echo "  full log: $dir/fuzz.log"
    exit 1
fi
echo "fuzz $name: ok, ${seconds}s, ${execs:-?} runs, ${speed:-?} exec/s, corpus $corpus files"
