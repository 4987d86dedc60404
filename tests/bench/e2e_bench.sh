#!/usr/bin/env bash
# e2e_bench.sh BUILD_DIR — end-to-end orders/s: wrk POSTs the order of seed
# 004 (fresh orderId each) at 64 connections for 30 s while the pipeline of
# conf/keel.yaml (orders -> confirm -> store) confirms them. Prints the POSTs
# accepted per second, the orders processed per second (the delta of the
# pipeline's ok counter in /metrics), the queue backlog sampled during the
# run and whether it grew, then how long the backlog takes to drain.
# Target: >= 20,000 orders/s end to end with the backlog not growing.
#
# Environment: KEEL_BENCH_E2E_SECONDS (30), KEEL_BENCH_CONNECTIONS (64),
# KEEL_BENCH_E2E_SAMPLE_SECONDS (3), KEEL_BENCH_E2E_DRAIN_SECONDS (60),
# KEEL_BENCH_E2E_CONFIG (conf/keel.yaml), KEEL_BENCH_E2E_PIPELINE (orders),
# KEEL_BENCH_E2E_QUEUE (orders), KEEL_BENCH_KEEP=1 (keep the temp dir).
# shellcheck disable=SC2317  # readiness checks are called through wait_until
set -euo pipefail
# shellcheck source=tests/bench/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"

build=$(cd "${1:-build}" && pwd)
secs=${KEEL_BENCH_E2E_SECONDS:-30}
conns=${KEEL_BENCH_CONNECTIONS:-64}
sample_every=${KEEL_BENCH_E2E_SAMPLE_SECONDS:-3}
drain_limit=${KEEL_BENCH_E2E_DRAIN_SECONDS:-60}
config=${KEEL_BENCH_E2E_CONFIG:-$REPO_DIR/conf/keel.yaml}
pipeline=${KEEL_BENCH_E2E_PIPELINE:-orders}
queue=${KEEL_BENCH_E2E_QUEUE:-orders}
target=20000

if ! need_tools wrk curl python3 >/dev/null; then
  echo "e2e_bench: skipped, $(need_tools wrk curl python3)"
  exit 0
fi
if [ ! -x "$build/bin/keeld" ]; then
  echo "e2e_bench: skipped, $build/bin/keeld is not built"
  exit 0
fi

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/keel-e2e-bench.XXXXXX")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
write_order_body "$BENCH_TMP/order.json"

port=$(free_port)
url=http://127.0.0.1:$port
start_keeld "$build" "$BENCH_TMP/data" "$port" "$BENCH_TMP/keeld.log" "$config"

# pipeline_ok: the pipeline's ok counter, empty when there is no such metric.
pipeline_ok() {
  curl -s -m 5 "$url/metrics" | awk -v want="pipeline=\"$pipeline\"" '
    $1 ~ /^keel_pipeline_messages_total\{/ && index($1, want) && index($1, "result=\"ok\"") { print $2; exit }'
}
# backlog: visible + in flight + delayed messages of the queue.
backlog() {
  local counts
  counts=$(queue_field "$port" "$queue" visible in_flight delayed) || return 1
  echo $((${counts// /+}))
}

ok_before=$(pipeline_ok)
if [ -z "$ok_before" ]; then
  echo "e2e_bench: no pipeline configured, skipped (no keel_pipeline_messages_total{pipeline=\"$pipeline\",result=\"ok\"} in /metrics)"
  exit 0
fi
echo "e2e_bench: ${secs}s, wrk -t1 -c$conns POST /api/v1/orders, pipeline '$pipeline' on queue '$queue'"

# Backlog sampler: "<ms since start> <backlog>" every $sample_every s until
# the stop file appears (bounded by the run length plus slack anyway).
samples=$BENCH_TMP/backlog.samples
stop_file=$BENCH_TMP/sampler.stop
start_ms=$(now_ms)
(
  deadline=$((start_ms + (secs + 30) * 1000))
  while [ ! -e "$stop_file" ] && [ "$(now_ms)" -lt "$deadline" ]; do
    b=$(backlog) && echo "$(($(now_ms) - start_ms)) $b" >>"$samples"
    sleep "$sample_every"
  done
) &
sampler_pid=$!
BENCH_PIDS+=("$sampler_pid")

KEEL_BENCH_RUN_TAG=e2e run_wrk "$url" "$secs" "$conns" "$BENCH_TMP/wrk.out"
keeld_alive "$BENCH_TMP/keeld.log" "during the wrk run"
ok_after=$(pipeline_ok)
end_backlog=$(backlog)
end_ms=$(($(now_ms) - start_ms))
echo "$end_ms $end_backlog" >>"$samples"
touch "$stop_file"
wait "$sampler_pid" 2>/dev/null || true

accepted=$((WRK_requests - WRK_non2xx))
posts_rps=$(per_sec "$accepted" "$WRK_duration_us")
processed=$(awk -v a="$ok_after" -v b="$ok_before" 'BEGIN { printf "%.0f", a - b }')
processed_rps=$(per_sec "$processed" "$WRK_duration_us")

# Backlog growth: the slope between the middle sample and the end, in
# orders/s; "growing" when it exceeds 1% of the accepted rate (and 100/s).
read -r start_t start_b < <(head -n 1 "$samples")
read -r mid_t mid_b < <(sed -n "$(( ($(wc -l <"$samples") + 1) / 2 ))p" "$samples")
growth=$(awk -v b0="$mid_b" -v b1="$end_backlog" -v t0="$mid_t" -v t1="$end_ms" \
  'BEGIN { g = 0; if (t1 > t0) g = int((b1 - b0) * 1000 / (t1 - t0)); printf "%d", g }')
grows=$(awk -v g="$growth" -v r="$posts_rps" 'BEGIN { print (g > 100 && g > r / 100) ? "yes" : "no" }')

echo
echo "  POSTs accepted:      $posts_rps/s ($accepted 2xx, $WRK_non2xx non-2xx, p50 $(fmt_ms "$WRK_p50_us") ms, p99 $(fmt_ms "$WRK_p99_us") ms)"
echo "  orders processed:    $processed_rps/s ($processed ok in the pipeline during the run; target >= $target/s)"
echo "  backlog samples:     start $start_b (t=${start_t}ms), middle $mid_b (t=${mid_t}ms), end $end_backlog (t=${end_ms}ms)"
echo "  all samples (ms:n):  $(awk '{ printf "%s:%s ", $1, $2 }' "$samples")"
echo "  backlog growing:     $grows ($growth orders/s from middle to end)"

# Drain: how long until the backlog is empty (bounded).
drain_start=$(now_ms)
backlog_empty() { [ "$(backlog)" = 0 ]; }
if wait_until "$drain_limit" backlog_empty; then
  echo "  drained:             in $(($(now_ms) - drain_start)) ms"
else
  echo "  drained:             no, backlog still $(backlog) after ${drain_limit}s"
fi
ok_final=$(pipeline_ok)
echo "  pipeline ok total:   $ok_final (ok counter before the run: $ok_before)"

# The newest order of the run, end to end: it should be CONFIRMED in the store.
newest=$(curl -s -m 5 "$url/api/v1/orders?customer_id=CUST-6789&limit=1" | python3 -c '
import json, sys
o = (json.load(sys.stdin).get("orders") or [{}])[0]
print(o.get("order_id", "?"), o.get("status", "?"))' 2>/dev/null || echo "? ?")
echo "  newest order:        ${newest% *} is ${newest##* }"

met=$(awk -v r="$processed_rps" -v t="$target" 'BEGIN { print (r >= t) ? "yes" : "no" }')
[ "$grows" = no ] || met=no
echo "  target (>= $target orders/s end to end, backlog not growing): $met"

kill -TERM "$KEELD_PID"
if wait_until 60 pid_gone "$KEELD_PID"; then
  rc=0
  wait "$KEELD_PID" || rc=$?
  echo "  keeld: exit status $rc after SIGTERM, $(grep -ciE 'error|fatal|abort' "$BENCH_TMP/keeld.log" || true) error line(s) in its log"
else
  echo "  keeld: still running 60 s after SIGTERM"
fi
[ -z "${KEEL_BENCH_KEEP:-}" ] || echo "  temp dir kept: $BENCH_TMP"
exit 0
