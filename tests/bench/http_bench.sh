#!/usr/bin/env bash
# http_bench.sh BUILD_DIR — keel's HTTP ingress against two references, in
# one run on this machine:
#   keel   keeld (conf/keel.yaml without its pipeline, fresh data dir): wrk, one thread, 64
#          connections, POSTing the order of seed 004 with a fresh orderId
#          per request; each 202 means the order is durable in the queue.
#   nginx  one worker answering 202 to the same POST without doing anything.
#   redis  redis-server with appendfsync always; redis-benchmark LPUSHes the
#          same order (fresh id per push) from 64 clients.
#   ram    a second keeld, the same build and config, with its data dir in
#          RAM (/dev/shm, tmpfs: fdatasync returns at once). Not durable, so
#          never a figure of keel's; it is this machine's ceiling for the
#          same work without the disk's syncs, which tells how much of the
#          gap to the floor is the disk and how much is CPU.
# The servers run side by side and are measured in ROUNDS interleaved
# rounds (keel, ram, nginx, redis, keel, ...), so that the shared machine's
# drift (its disk's fdatasync latency moves 2-4x within minutes) hits them
# alike. Prints each round, then keel's durable orders/s (all rounds)
# with p50 (median of rounds) and p99 (worst round), the references, the
# ratios (median of the per-round ratios) and whether the floor (>= 40,000
# orders/s with p99 <= 10 ms) is met, then the key figures as BENCH_RESULT
# http.KEY=VALUE lines for run.sh's report.
#
# Environment: KEEL_BENCH_HTTP_SECONDS (10, per target in all), KEEL_BENCH_HTTP_ROUNDS
# (3), KEEL_BENCH_CONNECTIONS (64),
# KEEL_BENCH_WARMUP_SECONDS (2), KEEL_BENCH_PERF=1 (perf profile of keeld),
# KEEL_BENCH_RAM=0 (skip the RAM-backed keeld),
# KEEL_BENCH_COUNT_202=1 (count 202s in wrk's response() hook; slows wrk),
# KEEL_BENCH_STRICT=1 (exit 1 when the floor is not met), KEEL_BENCH_KEEP=1
# (keep the temp dir).
# shellcheck disable=SC2317  # readiness checks are called through wait_until
set -euo pipefail
# shellcheck source=tests/bench/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"

build=$(cd "${1:-build}" && pwd)
secs=${KEEL_BENCH_HTTP_SECONDS:-10}
conns=${KEEL_BENCH_CONNECTIONS:-64}
warmup=${KEEL_BENCH_WARMUP_SECONDS:-2}
rounds=${KEEL_BENCH_HTTP_ROUNDS:-3}
per_round=$(((secs + rounds - 1) / rounds))
[ "$per_round" -ge 2 ] || per_round=2
floor_rps=40000
floor_p99_ms=10

if ! need_tools wrk curl python3 >/dev/null; then
  echo "http_bench: skipped, $(need_tools wrk curl python3)"
  exit 0
fi
if [ ! -x "$build/bin/keeld" ]; then
  echo "http_bench: skipped, $build/bin/keeld is not built"
  exit 0
fi

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/keel-http-bench.XXXXXX")
# The RAM-backed keeld's data lives in /dev/shm: removed with the rest.
cleanup() {
  bench_cleanup
  [ -z "${RAM_TMP:-}" ] || rm -rf "$RAM_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
write_order_body "$BENCH_TMP/order.json"
export KEEL_BENCH_COUNT_202=${KEEL_BENCH_COUNT_202:-0}
echo "http_bench: ${rounds} rounds of ${per_round}s per target, wrk -t1 -c$conns, order of seed 004 ($(($(wc -c <"$BENCH_TMP/order.json") - 1)) bytes), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- start the three servers ------------------------------------------------
keel_port=$(free_port)
# The ingress alone: conf/keel.yaml without its pipeline, so the orders
# stay in the queue and the figure is durable ingest (e2e_bench.sh measures
# the whole path).
sed '/^pipelines:/,$d' "$REPO_DIR/conf/keel.yaml" >"$BENCH_TMP/ingest.yaml"
start_keeld "$build" "$BENCH_TMP/keel-data" "$keel_port" "$BENCH_TMP/keeld.log" "$BENCH_TMP/ingest.yaml"
keel_url=http://127.0.0.1:$keel_port
KEEL_BENCH_RUN_TAG=warm run_wrk "$keel_url" "$warmup" "$conns" "$BENCH_TMP/wrk-keel-warmup.out"
keeld_alive "$BENCH_TMP/keeld.log" "during the warm-up"
keel_pid=$KEELD_PID

# The same keeld with its data in RAM: the ceiling without the disk.
ram_url='' ram_note='' ram_pid='' RAM_TMP=''
if [ "${KEEL_BENCH_RAM:-1}" = 0 ]; then
  ram_note="skipped (KEEL_BENCH_RAM=0)"
elif [ "$(stat -f -c %T /dev/shm 2>/dev/null || true)" != tmpfs ]; then
  ram_note="skipped, /dev/shm is not a tmpfs"
else
  RAM_TMP=$(mktemp -d /dev/shm/keel-http-bench.XXXXXX)
  ram_port=$(free_port)
  if start_keeld "$build" "$RAM_TMP/data" "$ram_port" "$BENCH_TMP/keeld-ram.log" "$BENCH_TMP/ingest.yaml"; then
    ram_pid=$KEELD_PID
    ram_url=http://127.0.0.1:$ram_port
    KEEL_BENCH_RUN_TAG=warm run_wrk "$ram_url" "$warmup" "$conns" "$BENCH_TMP/wrk-ram-warmup.out"
    keeld_alive "$BENCH_TMP/keeld-ram.log" "(data in RAM) during the warm-up"
  else
    ram_note="did not start: $(tail -n 3 "$BENCH_TMP/keeld-ram.log" | tr '\n' ' ')"
  fi
  KEELD_PID=$keel_pid
fi

nginx_url='' nginx_note='' nginx_pid=''
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$nginx_bin" ]; then
  prefix=$BENCH_TMP/nginx
  mkdir -p "$prefix/logs"
  user_line=
  [ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
  nginx_ready() {
    kill -0 "$nginx_pid" 2>/dev/null || return 2
    [ "$(http_status "http://127.0.0.1:$nginx_port/api/v1/orders")" = 202 ]
  }
  # Up to 3 attempts, each on a fresh port: on a busy machine the port
  # free_port saw free can be taken before nginx binds it.
  for attempt in 1 2 3; do
    nginx_port=$(free_port)
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$nginx_port|g" -e "s|@USER@|$user_line|" \
      "$BENCH_DIR/nginx.conf.in" >"$prefix/nginx.conf"
    # daemon off: the master stays our child, so its PID is $!.
    "$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
      >>"$prefix/logs/stdout.log" 2>&1 &
    nginx_pid=$!
    BENCH_PIDS+=("$nginx_pid")
    if wait_until 15 nginx_ready; then
      nginx_url=http://127.0.0.1:$nginx_port
      break
    fi
    echo "http_bench: nginx attempt $attempt did not answer on port $nginx_port:" \
      "$(cat "$prefix/logs/error.log" "$prefix/logs/stdout.log" 2>/dev/null | tail -n 3 | tr '\n' ' ' || true)" >&2
    stop_pid "$nginx_pid" 5
  done
  if [ -n "$nginx_url" ]; then
    KEEL_BENCH_RUN_TAG=warm run_wrk "$nginx_url" "$warmup" "$conns" "$BENCH_TMP/wrk-nginx-warmup.out"
  else
    nginx_note="did not start: $(cat "$prefix/logs/error.log" "$prefix/logs/stdout.log" 2>/dev/null | tail -n 3 | tr '\n' ' ' || true)"
  fi
else
  nginx_note="skipped, nginx is not installed"
fi

redis_n='' redis_note='' redis_pid=''
if need_tools redis-server redis-benchmark redis-cli >/dev/null; then
  redis_port=$(free_port)
  mkdir -p "$BENCH_TMP/redis"
  redis-server --bind 127.0.0.1 --port "$redis_port" --appendonly yes --appendfsync always \
    --save '' --dir "$BENCH_TMP/redis" --daemonize no --logfile "$BENCH_TMP/redis/redis.log" &
  redis_pid=$!
  BENCH_PIDS+=("$redis_pid")
  redis_ready() {
    kill -0 "$redis_pid" 2>/dev/null || return 2
    [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ]
  }
  # The same order; -r replaces __rand_int__ with a fresh 12-digit number per push.
  payload=$(sed 's/"ORD-12345"/"ORD-__rand_int__"/' "$BENCH_TMP/order.json")
  # redis_bench N OUT: LPUSH the order N times from $conns clients, CSV output.
  redis_bench() {
    timeout $((per_round * 4 + 60)) redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$conns" -n "$1" \
      -r 1000000000 --csv LPUSH orders "$payload" >"$2" 2>&1
  }
  # csv_field FILE N: field N (1 rps, 2 avg, 3 min, 4 p50, 5 p95, 6 p99, 7 max
  # latency in ms) of the last CSV row. The command column holds the payload
  # with its quotes unescaped, so count the seven numbers from the end.
  csv_field() {
    python3 -c '
import re, sys
row = open(sys.argv[1]).read().strip().splitlines()[-1]
print(re.findall(r"\"([0-9.]+)\"", row)[-7:][int(sys.argv[2]) - 1])' "$1" "$2"
  }
  if wait_until 15 redis_ready; then
    # Calibrate (doubles as the warm-up): each round then pushes about
    # $per_round seconds' worth.
    if redis_bench 20000 "$BENCH_TMP/redis-warmup.csv"; then
      calib=$(csv_field "$BENCH_TMP/redis-warmup.csv" 1)
      redis_n=$(awk -v r="$calib" -v s="$per_round" 'BEGIN { printf "%d", r * s }')
      [ "$redis_n" -ge 10000 ] || redis_n=10000
    else
      redis_note="redis-benchmark failed: $(tail -n 2 "$BENCH_TMP/redis-warmup.csv" | tr '\n' ' ')"
    fi
  else
    redis_note="did not start: $(tail -n 3 "$BENCH_TMP/redis/redis.log" 2>/dev/null | tr '\n' ' ' || true)"
  fi
else
  redis_note="skipped, $(need_tools redis-server redis-benchmark redis-cli)"
fi

# ---- interleaved rounds ------------------------------------------------------
sent_before=$(queue_field "$keel_port" orders counters.sent)
# Commit counters, to show how many orders one durable commit carries.
commit_metrics() {
  echo "$(metric "$keel_port" keel_queue_commit_batch_size_count)" \
    "$(metric "$keel_port" keel_queue_commit_seconds_sum)" \
    "$(metric "$keel_port" keel_store_commits_total)"
}
read -r qc0 qs0 sc0 < <(commit_metrics)

perf_pid=''
if [ "${KEEL_BENCH_PERF:-0}" = 1 ]; then
  if command -v perf >/dev/null 2>&1; then
    # Samples keeld (only keeld) through all rounds; stopped with SIGINT.
    perf record -g -o "$BENCH_TMP/perf.data" -p "$KEELD_PID" >"$BENCH_TMP/perf-record.log" 2>&1 &
    perf_pid=$!
    BENCH_PIDS+=("$perf_pid")
  else
    echo "http_bench: KEEL_BENCH_PERF=1 but perf is not installed"
  fi
fi

keel_requests=0 keel_duration=0 keel_non2xx=0 keel_sock_errors=0 keel_202=0 keel_other=0 keel_max=0
keel_p50s=() keel_p99s=() nginx_p50s=() nginx_p99s=() redis_p50s=() redis_p99s=()
ram_ok=0 ram_duration=0 ram_non2xx=0 ram_p50s=() ram_p99s=() ratio_ram=()
nginx_ok=0 nginx_duration=0 nginx_non2xx=0 redis_pushes=0 redis_seconds=0
ratio_nginx=() ratio_redis=()
echo
printf '  %-5s %10s %10s %10s %10s %8s %8s %8s   %s\n' round "keel/s" "ram/s" "nginx/s" "redis/s" "k/ram" "k/nginx" "k/redis" "keel p50/p99 ms"
for round in $(seq "$rounds"); do
  KEEL_BENCH_RUN_TAG=r$round run_wrk "$keel_url" "$per_round" "$conns" "$BENCH_TMP/wrk-keel-$round.out"
  keeld_alive "$BENCH_TMP/keeld.log" "during round $round"
  k_ok=$((WRK_requests - WRK_non2xx))
  k_rps=$(per_sec "$k_ok" "$WRK_duration_us")
  keel_requests=$((keel_requests + WRK_requests)) keel_duration=$((keel_duration + WRK_duration_us))
  keel_non2xx=$((keel_non2xx + WRK_non2xx)) keel_202=$((keel_202 + WRK_status202))
  keel_other=$((keel_other + WRK_status_other))
  keel_sock_errors=$((keel_sock_errors + WRK_connect_errors + WRK_read_errors + WRK_write_errors + WRK_timeouts))
  [ "$WRK_max_us" -le "$keel_max" ] || keel_max=$WRK_max_us
  keel_p50s+=("$WRK_p50_us") keel_p99s+=("$WRK_p99_us")
  k_lat="$(fmt_ms "$WRK_p50_us")/$(fmt_ms "$WRK_p99_us")"
  m_rps=-
  if [ -n "$ram_url" ]; then
    KEEL_BENCH_RUN_TAG=r$round run_wrk "$ram_url" "$per_round" "$conns" "$BENCH_TMP/wrk-ram-$round.out"
    KEELD_PID=$ram_pid keeld_alive "$BENCH_TMP/keeld-ram.log" "(data in RAM) during round $round"
    m_rps=$(per_sec "$((WRK_requests - WRK_non2xx))" "$WRK_duration_us")
    ram_ok=$((ram_ok + WRK_requests - WRK_non2xx)) ram_duration=$((ram_duration + WRK_duration_us))
    ram_non2xx=$((ram_non2xx + WRK_non2xx))
    ram_p50s+=("$WRK_p50_us") ram_p99s+=("$WRK_p99_us")
    ratio_ram+=("$(ratio "$k_rps" "$m_rps")")
  fi
  n_rps=-
  if [ -n "$nginx_url" ]; then
    KEEL_BENCH_RUN_TAG=r$round run_wrk "$nginx_url" "$per_round" "$conns" "$BENCH_TMP/wrk-nginx-$round.out"
    n_rps=$(per_sec "$((WRK_requests - WRK_non2xx))" "$WRK_duration_us")
    nginx_ok=$((nginx_ok + WRK_requests - WRK_non2xx)) nginx_duration=$((nginx_duration + WRK_duration_us))
    nginx_non2xx=$((nginx_non2xx + WRK_non2xx))
    nginx_p50s+=("$WRK_p50_us") nginx_p99s+=("$WRK_p99_us")
    ratio_nginx+=("$(ratio "$k_rps" "$n_rps")")
  fi
  r_rps=-
  if [ -n "$redis_n" ]; then
    if redis_bench "$redis_n" "$BENCH_TMP/redis-$round.csv"; then
      r_rps=$(csv_field "$BENCH_TMP/redis-$round.csv" 1 | awk '{ printf "%.0f", $1 }')
      redis_pushes=$((redis_pushes + redis_n))
      redis_seconds=$(awk -v a="$redis_seconds" -v n="$redis_n" -v r="$r_rps" 'BEGIN { printf "%.6f", a + n / r }')
      redis_p50s+=("$(csv_field "$BENCH_TMP/redis-$round.csv" 4 | awk '{ printf "%.0f", $1 * 1000 }')")
      redis_p99s+=("$(csv_field "$BENCH_TMP/redis-$round.csv" 6 | awk '{ printf "%.0f", $1 * 1000 }')")
      ratio_redis+=("$(ratio "$k_rps" "$r_rps")")
    else
      redis_note="redis-benchmark failed in round $round: $(tail -n 2 "$BENCH_TMP/redis-$round.csv" | tr '\n' ' ')"
      redis_n=''
    fi
  fi
  printf '  %-5s %10s %10s %10s %10s %8s %8s %8s   %s\n' "$round" "$k_rps" "$m_rps" "$n_rps" "$r_rps" \
    "${ratio_ram[-1]:--}" "${ratio_nginx[-1]:--}" "${ratio_redis[-1]:--}" "$k_lat"
done
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
fi
sent_after=$(queue_field "$keel_port" orders counters.sent)
keel_sent=$((sent_after - sent_before))
read -r qc1 qs1 sc1 < <(commit_metrics)
keel_commits=$(awk -v a="$qc0" -v b="$qc1" -v sa="$qs0" -v sb="$qs1" -v c="$sc0" -v d="$sc1" -v n="$keel_sent" \
  'BEGIN { q = b - a; if (q > 0) printf "queue: %d commits, %.1f sends each, %.2f ms each; store: %d commits",
           q, n / q, (sb - sa) * 1000 / q, d - c; else printf "no queue commit metrics" }')

# median VALUES...: the middle value (the lower of the two middle ones).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
# worst VALUES...: the largest.
worst() { printf '%s\n' "$@" | sort -g | tail -n 1; }

# Stop keeld by PID and check it exits cleanly; then the references.
kill -TERM "$KEELD_PID"
if wait_until 60 pid_gone "$KEELD_PID"; then
  keel_exit=0
  wait "$KEELD_PID" || keel_exit=$?
else
  keel_exit="still running after 60 s"
fi
keel_log_errors=$(grep -ciE 'error|fatal|abort' "$BENCH_TMP/keeld.log" || true)
[ -z "$ram_pid" ] || stop_pid "$ram_pid" 60
[ -z "$nginx_pid" ] || stop_pid "$nginx_pid" 15
if [ -n "$redis_pid" ]; then
  [ "$redis_pushes" = 0 ] || redis_note="$redis_pushes LPUSHes, list length $(redis-cli -h 127.0.0.1 -p "$redis_port" llen orders)"
  stop_pid "$redis_pid" 15
fi

# Durable orders: the 2xx answers (each one follows a durable enqueue).
keel_ok=$((keel_requests - keel_non2xx))
keel_rps=$(per_sec "$keel_ok" "$keel_duration")
keel_p50=$(median "${keel_p50s[@]}") keel_p99=$(worst "${keel_p99s[@]}")
nginx_rps='' nginx_p50='' nginx_p99=''
if [ "$nginx_duration" -gt 0 ]; then
  nginx_rps=$(per_sec "$nginx_ok" "$nginx_duration")
  nginx_p50=$(median "${nginx_p50s[@]}") nginx_p99=$(worst "${nginx_p99s[@]}")
  [ "$nginx_non2xx" = 0 ] || nginx_note="$nginx_non2xx non-2xx"
fi
redis_rps='' redis_p50='' redis_p99=''
if [ "$redis_pushes" -gt 0 ]; then
  redis_rps=$(awk -v n="$redis_pushes" -v s="$redis_seconds" 'BEGIN { printf "%.0f", n / s }')
  redis_p50=$(median "${redis_p50s[@]}") redis_p99=$(worst "${redis_p99s[@]}")
fi
ram_rps='' ram_p50='' ram_p99=''
if [ "$ram_duration" -gt 0 ]; then
  ram_rps=$(per_sec "$ram_ok" "$ram_duration")
  ram_p50=$(median "${ram_p50s[@]}") ram_p99=$(worst "${ram_p99s[@]}")
  [ "$ram_non2xx" = 0 ] || ram_note="$ram_non2xx non-2xx"
fi
keel_vs_ram=$( ((${#ratio_ram[@]})) && median "${ratio_ram[@]}" || echo n/a)
keel_vs_nginx=$( ((${#ratio_nginx[@]})) && median "${ratio_nginx[@]}" || echo n/a)
keel_vs_redis=$( ((${#ratio_redis[@]})) && median "${ratio_redis[@]}" || echo n/a)

# ---- report ----------------------------------------------------------------
ms_or_dash() { if [ -n "$1" ]; then fmt_ms "$1"; else printf -- -; fi; }
echo
printf '  %-7s %12s %9s %9s  %s\n' target "req/s" "p50 ms" "p99 ms" "notes (all rounds: rate over all, median p50, worst p99)"
printf '  %-7s %12s %9s %9s  %s\n' keel "$keel_rps" "$(fmt_ms "$keel_p50")" "$(fmt_ms "$keel_p99")" \
  "durable orders/s; $keel_ok 2xx, $keel_non2xx non-2xx, $keel_sock_errors socket errors, queue sent +$keel_sent, max $(fmt_ms "$keel_max") ms"
printf '  %-7s %12s %9s %9s  %s\n' ram "${ram_rps:--}" "$(ms_or_dash "$ram_p50")" \
  "$(ms_or_dash "$ram_p99")" "the same keeld, data in /dev/shm: no disk syncs, not durable${ram_note:+; $ram_note}"
printf '  %-7s %12s %9s %9s  %s\n' nginx "${nginx_rps:--}" "$(ms_or_dash "$nginx_p50")" \
  "$(ms_or_dash "$nginx_p99")" "1 worker, return 202${nginx_note:+; $nginx_note}"
printf '  %-7s %12s %9s %9s  %s\n' redis "${redis_rps:--}" "$(ms_or_dash "$redis_p50")" \
  "$(ms_or_dash "$redis_p99")" "appendfsync always, LPUSH${redis_note:+; $redis_note}"
echo
if [ "$KEEL_BENCH_COUNT_202" = 1 ]; then
  echo "  keel statuses counted by wrk: $keel_202 x 202, $keel_other other"
fi
echo "  keel/nginx = $keel_vs_nginx (goal >= 0.5)   keel/redis = $keel_vs_redis (goal >= 1)   (medians of the per-round ratios)"
echo "  keel/ram = $keel_vs_ram: the share of the RAM-backed rate left once the disk syncs (1 = the disk costs nothing)"
floor_met=no
if awk -v r="$keel_rps" -v p="$keel_p99" -v fr="$floor_rps" -v fp="$floor_p99_ms" \
  'BEGIN { exit !(r >= fr && p <= fp * 1000) }' && [ "$keel_non2xx" = 0 ]; then
  floor_met=yes
fi
echo "  floor (>= $floor_rps durable orders/s, p99 <= $floor_p99_ms ms, no errors) at $conns connections: $floor_met"
echo "  keel commits during the run: $keel_commits"
echo "  keeld: exit status $keel_exit after SIGTERM, $keel_log_errors error line(s) in its log"
if [ "$keel_log_errors" != 0 ]; then
  grep -iE 'error|fatal|abort' "$BENCH_TMP/keeld.log" | head -n 5 | sed 's/^/    /'
fi

bench_result http.seconds "$secs"
bench_result http.rounds "$rounds"
bench_result http.keel_vs_nginx "$keel_vs_nginx"
bench_result http.keel_vs_redis "$keel_vs_redis"
bench_result http.connections "$conns"
bench_result http.keel_rps "$keel_rps"
bench_result http.keel_p50_us "$keel_p50"
bench_result http.keel_p99_us "$keel_p99"
bench_result http.keel_non2xx "$keel_non2xx"
bench_result http.keel_socket_errors "$keel_sock_errors"
bench_result http.keel_exit "$keel_exit"
bench_result http.ram_rps "$ram_rps"
bench_result http.ram_p99_us "$ram_p99"
bench_result http.keel_vs_ram "$keel_vs_ram"
bench_result http.nginx_rps "$nginx_rps"
bench_result http.nginx_p50_us "$nginx_p50"
bench_result http.nginx_p99_us "$nginx_p99"
bench_result http.nginx_note "$nginx_note"
bench_result http.redis_rps "$redis_rps"
bench_result http.redis_p50_us "$redis_p50"
bench_result http.redis_p99_us "$redis_p99"
bench_result http.redis_note "$redis_note"

if [ -n "$perf_pid" ]; then
  echo
  echo "  perf profile of keeld during the rounds (flat, --no-children; call graphs: perf report -i perf.data with KEEL_BENCH_KEEP=1):"
  if [ -s "$BENCH_TMP/perf.data" ] &&
    perf report -i "$BENCH_TMP/perf.data" --stdio --no-children -g none --percent-limit 0.3 2>/dev/null >"$BENCH_TMP/perf.txt"; then
    grep -v -e '^#' -e '^$' "$BENCH_TMP/perf.txt" | head -n 60 | sed 's/^/    /'
  else
    echo "    perf unavailable here: $(tail -n 2 "$BENCH_TMP/perf-record.log" | tr '\n' ' ')"
  fi
fi

if [ "${KEEL_BENCH_STRICT:-0}" = 1 ] && { [ "$floor_met" != yes ] || [ "$keel_exit" != 0 ]; }; then
  exit 1
fi
[ -z "${KEEL_BENCH_KEEP:-}" ] || echo "  temp dir kept: $BENCH_TMP"
exit 0
