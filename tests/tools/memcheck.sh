#!/usr/bin/env bash
# make memcheck: the memcheck tests of BUILD (tests/tools/memcheck.cmake),
# then a summary of every valgrind report that holds an error, with its
# first stacks. Exit status: ctest's.
# Environment: KEEL_MEMCHECK_JOBS (nproc), KEEL_MEMCHECK_REGEX (ctest -R,
# e.g. 'unit\.' or 'integration\.http').
set -uo pipefail
build=${1:-build}
jobs=${KEEL_MEMCHECK_JOBS:-$(nproc)}
command -v valgrind >/dev/null || { echo "memcheck: valgrind is not installed (apt-get install valgrind)"; exit 1; }
rm -rf "$build/memcheck"
mkdir -p "$build/memcheck"
start=$(date +%s)
args=(--test-dir "$build" -C memcheck -L memcheck --output-on-failure -j "$jobs")
[ -z "${KEEL_MEMCHECK_REGEX:-}" ] || args+=(-R "$KEEL_MEMCHECK_REGEX")
rc=0
ctest "${args[@]}" || rc=$?
echo
echo "memcheck: $(($(date +%s) - start)) s; valgrind reports in $build/memcheck"
bad=0
while IFS= read -r -d '' log; do
  if grep -qE 'ERROR SUMMARY: [1-9]' "$log"; then
    bad=$((bad + 1))
    echo "---- $log"
    grep -vE '^==[0-9]+== *$' "$log" | grep -A 25 -E '== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and dest|Argument)|definitely lost in loss' | head -n 80
  fi
done < <(find "$build/memcheck" -name '*.log' -print0)
echo "memcheck: $bad valgrind report(s) with errors"
[ "$bad" = 0 ] || [ "$rc" != 0 ] || rc=1
exit "$rc"
