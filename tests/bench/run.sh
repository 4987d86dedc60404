#!/usr/bin/env bash
# make bench: runs every benchmark against the given build directory, in one
# run on this machine, and writes the key figures with their targets to
# BUILD/bench/report.md (also printed at the end). Each bench's full output
# is kept in BUILD/bench/<name>.out; the figures are its BENCH_RESULT
# KEY=VALUE lines (tests/bench/report.py). Targets are reported PASS/MISS,
# never failing the run.
#
# Default length about 3-4 minutes. Environment knobs: KEEL_BENCH_MESSAGES,
# KEEL_BENCH_ROUNDS (bench_pipeline), KEEL_BENCH_JSON_ROUNDS,
# KEEL_BENCH_VALIDATE_ROUNDS, KEEL_BENCH_SECONDS (bench_queue, per part),
# KEEL_BENCH_HTTP_SECONDS (10), KEEL_BENCH_E2E_SECONDS (30),
# KEEL_BENCH_CONNECTIONS (64), KEEL_BENCH_STARTS (10), KEEL_BENCH_TMPDIR
# (where data dirs go; default BUILD/bench/tmp, the build's filesystem), and
# those of http_bench.sh and e2e_bench.sh.
set -euo pipefail
build=${1:-build}
bench_dir=$(cd "$(dirname "$0")" && pwd)
messages=${KEEL_BENCH_MESSAGES:-1000000}
rounds=${KEEL_BENCH_ROUNDS:-3}
# Absolute paths: the benches hand them to nginx -p, redis --dir, keeld.
mkdir -p "$build/bench"
out=$(cd "$build/bench" && pwd)
rm -f "$out"/*.out "$out/report.md"
# Every data dir (keeld's, redis's, bench_queue's fdatasync probe) on one
# filesystem, so the raw fdatasync rate is the one keel's commits pay.
mkdir -p "${KEEL_BENCH_TMPDIR:-$out/tmp}"
TMPDIR=$(cd "${KEEL_BENCH_TMPDIR:-$out/tmp}" && pwd)
export TMPDIR
started=$(date +%s)
{
  echo "BENCH_RESULT run.cpus=$(nproc)"
  echo "BENCH_RESULT run.date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "BENCH_RESULT run.commit=$(git -C "$bench_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "BENCH_RESULT run.kernel=$(uname -sr)"
  echo "BENCH_RESULT run.cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "BENCH_RESULT run.filesystem=$(df -PT "$TMPDIR" | awk 'NR == 2 { print $2 " (" $1 ")" }')"
  echo "BENCH_RESULT run.loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/run.out"
echo "keel benchmarks ($(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)); outputs in $out"

# step NAME CMD...: runs CMD, its output on the terminal and in NAME.out; a
# failing bench is noted in the report and the others still run.
step() {
  local name=$1 rc=0
  shift
  "$@" 2>&1 | tee "$out/$name.out" || rc=$?
  [ "$rc" = 0 ] || echo "BENCH_RESULT $name.failed=exit status $rc" >>"$out/$name.out"
}

step pipeline "$build/bin/bench_pipeline" "$build/tests/bench/bench_step.so" "$messages" "$rounds"
step json "$build/bin/bench_json" "${KEEL_BENCH_JSON_ROUNDS:-500000}"
validate_so="$build/lib/keel/plugins/validate.so"
if [ -f "$validate_so" ]; then
  step validate "$build/bin/bench_validate" "$validate_so" "${KEEL_BENCH_VALIDATE_ROUNDS:-300000}"
else
  echo "bench_validate: skipped, $validate_so is not built" | tee "$out/validate.out"
fi
queue_so="$build/lib/keel/plugins/queue_lmdb.so"
if [ -f "$queue_so" ]; then
  step queue "$build/bin/bench_queue" "$queue_so" "$TMPDIR" "${KEEL_BENCH_SECONDS:-5}"
else
  echo "bench_queue: skipped, $queue_so is not built" | tee "$out/queue.out"
fi
# Start-up time, then HTTP ingress against nginx and redis, then end to end
# through the pipeline (with keeld's memory); each skips itself (exit 0)
# when keeld or a tool is missing.
step startup python3 "$bench_dir/startup_bench.py" "$build"
step http bash "$bench_dir/http_bench.sh" "$build"
step e2e bash "$bench_dir/e2e_bench.sh" "$build"

echo "BENCH_RESULT run.seconds=$(($(date +%s) - started))" >>"$out/run.out"
echo
python3 "$bench_dir/report.py" "$out"
