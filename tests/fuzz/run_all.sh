#!/usr/bin/env bash
# run_all.sh BUILD_DIR SECONDS [JOBS]: every fuzz target of BUILD_DIR (a
# -DKEEL_FUZZ=ON build) for SECONDS each, JOBS at a time, through ctest
# (fuzz.<target>: regressions first, then fuzzing; see run.sh). Prints one
# line per target and fails if any target crashed.
set -u
build=$1 seconds=$2 jobs=${3:-2}
KEEL_FUZZ_SECONDS=$seconds ctest --test-dir "$build" -R '^fuzz\.' -j "$jobs" --timeout $((seconds + 600)) \
    --output-on-failure >"$build/fuzz-ctest.log" 2>&1
rc=$?
echo "fuzz summary (${seconds}s per target):"
grep -h '^fuzz fuzz_' "$build"/Testing/Temporary/LastTest.log | sed 's/^/  /'
if [ "$rc" -ne 0 ]; then
    echo "fuzz: FAILED; crash inputs and logs under $build/fuzz-runs/ (ctest log: $build/fuzz-ctest.log)"
    grep -h -A12 'FAIL' "$build/fuzz-ctest.log" | head -n 60
    exit 1
fi
