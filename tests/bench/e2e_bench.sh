#!/usr/bin/env bash
# e2e_bench.sh BUILD_DIR — end-to-end orders/s: wrk POSTs the order of seed
# 004 (fresh orderId each) at 64 connections for 30 s while the pipeline of
# conf/keel.yaml (orders -> confirm -> store) confirms them. Prints the POSTs
# accepted per second, the orders processed per second (the delta of the
# pipeline's ok counter in /metrics), the queue backlog sampled during the
# run and whether it grew, then how long the backlog takes to drain.
# Target: >= 20,000 orders/s end to end with the backlog not growing.
# Also keeld's memory: the idle RSS (KEEL_BENCH_IDLE_SECONDS, 2, after
# /readyz, before any load) and the RSS sampled every
# KEEL_BENCH_RSS_SAMPLE_MS (500) during the run; after the warm-up (the
# first third of the run) the anonymous RSS (heap, stacks: RssAnon) must not
# grow from the first half of the rest to the second (by more than 2 MiB or
# 5%). RssFile, the LMDB map's page-cache pages, grows with the data and is
# shown apart. The key figures end as BENCH_RESULT e2e.KEY=VALUE lines.
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
  # awk reads to the end: quitting at the match would fail curl's write
  # (exit 23) under pipefail.
  curl -s -m 5 "$url/metrics" | awk -v want="pipeline=\"$pipeline\"" '
    $1 ~ /^keel_pipeline_messages_total\{/ && index($1, want) && index($1, "result=\"ok\"") && v == "" { v = $2 }
    END { print v }'
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

# Idle memory: keeld ready, nothing sent yet.
sleep "${KEEL_BENCH_IDLE_SECONDS:-2}"
read -r idle_rss idle_anon idle_file < <(rss_kib "$KEELD_PID")

# RSS sampler: "<ms since start> <VmRSS> <RssAnon> <RssFile>" (KiB).
rss_samples=$BENCH_TMP/rss.samples
rss_every=$(awk -v ms="${KEEL_BENCH_RSS_SAMPLE_MS:-500}" 'BEGIN { printf "%.3f", ms / 1000 }')

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
(
  deadline=$((start_ms + (secs + 30) * 1000))
  while [ ! -e "$stop_file" ] && [ "$(now_ms)" -lt "$deadline" ]; do
    r=$(rss_kib "$KEELD_PID") && echo "$(($(now_ms) - start_ms)) $r" >>"$rss_samples"
    sleep "$rss_every"
  done
) &
rss_sampler_pid=$!
BENCH_PIDS+=("$rss_sampler_pid")

KEEL_BENCH_RUN_TAG=e2e run_wrk "$url" "$secs" "$conns" "$BENCH_TMP/wrk.out"
keeld_alive "$BENCH_TMP/keeld.log" "during the wrk run"
ok_after=$(pipeline_ok)
end_backlog=$(backlog)
end_ms=$(($(now_ms) - start_ms))
echo "$end_ms $end_backlog" >>"$samples"
touch "$stop_file"
wait "$sampler_pid" 2>/dev/null || true
wait "$rss_sampler_pid" 2>/dev/null || true

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

# Memory under load: peak and growth of RssAnon after the warm-up.
warm_ms=$((secs * 1000 / 3))
read -r rss_n rss_peak anon_warm anon_end anon_growth file_peak rss_bounded < <(awk -v w="$warm_ms" '
  { t[NR] = $1; v[NR] = $2; a[NR] = $3; f[NR] = $4
    if ($2 > peak) peak = $2; if ($4 > fpeak) fpeak = $4 }
  END {
    m = 0; for (i = 1; i <= NR; i++) if (t[i] >= w) { m++; idx[m] = i }
    if (m < 2) { printf "%d %d 0 0 0 %d n/a\n", NR, peak, fpeak; exit }
    h = int(m / 2); m1 = 0; m2 = 0
    for (j = 1; j <= h; j++) if (a[idx[j]] > m1) m1 = a[idx[j]]
    for (j = h + 1; j <= m; j++) if (a[idx[j]] > m2) m2 = a[idx[j]]
    g = m2 - m1; lim = m1 * 0.05; if (lim < 2048) lim = 2048
    printf "%d %d %d %d %d %d %s\n", NR, peak, m1, m2, g, fpeak, (g <= lim) ? "yes" : "no" }' "$rss_samples")
echo "  keeld memory:        idle RSS $((idle_rss / 1024)) MiB (anon $((idle_anon / 1024)) MiB, file $((idle_file / 1024)) MiB);" \
  "loaded peak RSS $((rss_peak / 1024)) MiB (file-backed LMDB pages up to $((file_peak / 1024)) MiB)"
# The slope of RssAnon after the warm-up (least squares), in bytes per
# accepted order: memory that grows with the orders (e.g. the queue's dedup
# index keeps every dedup id for its dedup_window, 5 min by default).
anon_slope=$(awk -v w="$warm_ms" '$1 >= w { n++; x = $1 / 1000; y = $3 * 1024; sx += x; sy += y; sxx += x * x; sxy += x * y }
  END { d = n * sxx - sx * sx; if (n >= 2 && d > 0) printf "%.0f", (n * sxy - sx * sy) / d; else printf "0" }' "$rss_samples")
anon_per_order=$(awk -v s="$anon_slope" -v r="$posts_rps" 'BEGIN { if (r > 0) printf "%.0f", s / r; else printf "0" }')
echo "  anon RSS after warm-up: first half max $((anon_warm / 1024)) MiB, second half max $((anon_end / 1024)) MiB," \
  "growth $anon_growth KiB over $rss_n samples: bounded $rss_bounded"
echo "  anon RSS slope:      $((anon_slope / 1024)) KiB/s after the warm-up, $anon_per_order bytes per accepted order"

# Drain: how long until the backlog is empty (bounded).
drain_start=$(now_ms)
backlog_empty() { [ "$(backlog)" = 0 ]; }
if wait_until "$drain_limit" backlog_empty; then
  drain_ms=$(($(now_ms) - drain_start))
  echo "  drained:             in $drain_ms ms"
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
  rc="still running 60 s after SIGTERM"
  echo "  keeld: $rc"
fi
bench_result e2e.seconds "$secs"
bench_result e2e.connections "$conns"
bench_result e2e.posts_rps "$posts_rps"
bench_result e2e.posts_p50_us "$WRK_p50_us"
bench_result e2e.posts_p99_us "$WRK_p99_us"
bench_result e2e.non2xx "$WRK_non2xx"
bench_result e2e.processed_rps "$processed_rps"
bench_result e2e.backlog_growing "$grows"
bench_result e2e.backlog_growth_per_s "$growth"
bench_result e2e.drain_ms "${drain_ms:-}"
bench_result e2e.idle_rss_kib "$idle_rss"
bench_result e2e.idle_rss_anon_kib "$idle_anon"
bench_result e2e.idle_rss_file_kib "$idle_file"
bench_result e2e.load_rss_peak_kib "$rss_peak"
bench_result e2e.load_rss_file_peak_kib "$file_peak"
bench_result e2e.load_anon_warm_kib "$anon_warm"
bench_result e2e.load_anon_end_kib "$anon_end"
bench_result e2e.load_anon_growth_kib "$anon_growth"
bench_result e2e.load_rss_samples "$rss_n"
bench_result e2e.load_rss_bounded "$rss_bounded"
bench_result e2e.load_anon_slope_bytes_per_s "$anon_slope"
bench_result e2e.load_anon_bytes_per_order "$anon_per_order"
bench_result e2e.keel_exit "$rc"
[ -z "${KEEL_BENCH_KEEP:-}" ] || echo "  temp dir kept: $BENCH_TMP"
exit 0
