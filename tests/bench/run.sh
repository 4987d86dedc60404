#!/usr/bin/env bash
# make bench: runs every benchmark against the given build directory.
set -euo pipefail
build=${1:-build}
messages=${KEEL_BENCH_MESSAGES:-1000000}
rounds=${KEEL_BENCH_ROUNDS:-3}
echo "keel benchmarks ($(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ))"
"$build/bin/bench_pipeline" "$build/tests/bench/bench_step.so" "$messages" "$rounds"
"$build/bin/bench_json" "${KEEL_BENCH_JSON_ROUNDS:-500000}"
validate_so="$build/lib/keel/plugins/validate.so"
if [ -f "$validate_so" ]; then
  "$build/bin/bench_validate" "$validate_so" "${KEEL_BENCH_VALIDATE_ROUNDS:-300000}"
else
  echo "bench_validate: skipped, $validate_so is not built"
fi
queue_so="$build/lib/keel/plugins/queue_lmdb.so"
if [ -f "$queue_so" ]; then
  "$build/bin/bench_queue" "$queue_so" "$build/tests/bench" "${KEEL_BENCH_SECONDS:-5}"
else
  echo "bench_queue: skipped, $queue_so is not built"
fi
# HTTP ingress against nginx and redis, then end to end through the pipeline;
# each script skips itself (exit 0) when keeld or a tool is missing.
bash "$(dirname "$0")/http_bench.sh" "$build"
bash "$(dirname "$0")/e2e_bench.sh" "$build"
