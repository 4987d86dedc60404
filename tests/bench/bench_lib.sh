# shellcheck shell=bash disable=SC2317,SC2034  # helpers run through wait_until; WRK_* are read by the callers
# bench_lib.sh — helpers shared by http_bench.sh and e2e_bench.sh (sourced).
# Everything listens on 127.0.0.1 only; every wait has a deadline; every
# process we start is recorded in BENCH_PIDS and stopped by PID on exit.

# A command that fails under set -e says which one, instead of a silent exit.
bench_err_rc=0
trap 'bench_err_rc=$?; echo "$(basename "$0"): line $LINENO: \"$BASH_COMMAND\" failed (status $bench_err_rc)" >&2' ERR

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/../.." && pwd)
BENCH_PIDS=()

now_ms() { date +%s%3N; }

# free_port: a port nobody listens on right now (the kernel picks it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS CMD...: polls CMD every 50 ms until it succeeds; 1 on
# timeout or as soon as CMD returns 2 (it can never succeed).
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  local rc
  while :; do
    rc=0
    "$@" || rc=$?
    [ "$rc" = 0 ] && return 0
    [ "$rc" = 2 ] && return 1 # the condition can no longer become true
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# http_status URL: the status code of a GET (000 when nothing answers).
http_status() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true; }
http_is_200() { [ "$(http_status "$1")" = 200 ]; }

# stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 30), then SIGKILL.
stop_pid() {
  local pid=$1 limit=${2:-30}
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  if ! wait_until "$limit" pid_gone "$pid"; then
    echo "  (pid $pid ignored SIGTERM for ${limit}s, sending SIGKILL)" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
pid_gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }

# bench_cleanup: trap handler; stops every recorded PID, removes the temp dir.
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do stop_pid "$pid" 10; done
  if [ -n "${BENCH_TMP:-}" ] && [ -d "$BENCH_TMP" ] && [ -z "${KEEL_BENCH_KEEP:-}" ]; then
    rm -rf "$BENCH_TMP"
  fi
}

# write_order_body FILE: the order of seed 004 from bench_orders.h, as one
# line of JSON (the C string literal pieces joined and unescaped).
write_order_body() {
  python3 - "$BENCH_DIR/bench_orders.h" >"$1" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
decl = re.search(r'order_json\[\]\s*=\s*(.*?);', src, re.S).group(1)
pieces = re.findall(r'"((?:[^"\\]|\\.)*)"', decl)
print(''.join(pieces).encode().decode('unicode_escape'))
PY
  grep -q '"orderId":"ORD-12345"' "$1"
}

# start_keeld BUILD DATA_DIR PORT LOG [CONFIG]: starts keeld in the
# background (KEELD_PID) and waits for /readyz to answer 200.
start_keeld() {
  local build=$1 data=$2 port=$3 log=$4 config=${5:-$REPO_DIR/conf/keel.yaml}
  mkdir -p "$data"
  KEEL_DATA_DIR=$data KEEL_LISTEN=127.0.0.1:$port KEEL_WEB_ROOT=$REPO_DIR/web \
    KEEL_LOG_LEVEL=${KEEL_LOG_LEVEL:-warn} \
    "$build/bin/keeld" -c "$config" >"$log" 2>&1 &
  KEELD_PID=$!
  echo "$KEELD_PID" >"$(dirname "$log")/keeld.pid"
  BENCH_PIDS+=("$KEELD_PID")
  if ! wait_until 30 keeld_ready "$port"; then
    echo "keeld did not become ready on 127.0.0.1:$port within 30 s:" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
}

# keeld_ready PORT: /readyz answers 200; exits the wait early if keeld died.
keeld_ready() {
  kill -0 "$KEELD_PID" 2>/dev/null || { echo "keeld exited during startup" >&2; return 2; }
  http_is_200 "http://127.0.0.1:$1/readyz"
}

# keeld_alive LOG WHAT: exits the script (status 1) with the log's tail when
# keeld is gone, e.g. crashed under load.
keeld_alive() {
  kill -0 "$KEELD_PID" 2>/dev/null && return 0
  local rc=0
  wait "$KEELD_PID" || rc=$?
  echo "keeld died $2 (exit status $rc); the end of its log:" >&2
  tail -n 20 "$1" >&2
  exit 1
}

# run_wrk URL SECONDS CONNECTIONS OUT: one wrk thread POSTing fresh orders;
# the full output goes to OUT, the WRK_RESULT fields become WRK_<key>.
WRK_requests=0 WRK_duration_us=0 WRK_p50_us=0 WRK_p90_us=0 WRK_p99_us=0 WRK_max_us=0
WRK_non2xx=0 WRK_connect_errors=0 WRK_read_errors=0 WRK_write_errors=0 WRK_timeouts=0
WRK_status202=0 WRK_status_other=0
run_wrk() {
  local url=$1 secs=$2 conns=$3 out=$4
  KEEL_BENCH_BODY_FILE=$BENCH_TMP/order.json KEEL_BENCH_RUN_TAG=${KEEL_BENCH_RUN_TAG:-r$RANDOM} \
    timeout $((secs + 30)) wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s --latency \
    -s "$BENCH_DIR/post_order.lua" "$url/api/v1/orders" >"$out" 2>&1 || {
    echo "wrk failed:" >&2
    cat "$out" >&2
    return 1
  }
  local line kv
  line=$(grep '^WRK_RESULT ' "$out") || { cat "$out" >&2; return 1; }
  for kv in ${line#WRK_RESULT }; do
    printf -v "WRK_${kv%%=*}" '%s' "${kv#*=}"
  done
}

# fmt_ms MICROSECONDS: "1.23"
fmt_ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
# ratio A B: A/B with two decimals, "n/a" when B is 0 or empty.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'; }
# per_sec COUNT MICROSECONDS: COUNT per second, no decimals.
per_sec() { awk -v n="$1" -v us="$2" 'BEGIN { if (us > 0) printf "%.0f", n * 1e6 / us; else printf "0" }'; }

# queue_field PORT QUEUE FIELD...: numbers from one GET /api/v1/admin/queues,
# space-separated (FIELD is "visible", "in_flight", ... or "counters.sent").
queue_field() {
  local port=$1
  shift
  curl -s -m 5 "http://127.0.0.1:$port/api/v1/admin/queues" | python3 -c '
import json, sys
q, fields = sys.argv[1], sys.argv[2:]
for e in json.load(sys.stdin)["queues"]:
    if e["name"] == q:
        out = []
        for field in fields:
            v = e
            for part in field.split("."):
                v = v[part]
            out.append(str(v))
        print(" ".join(out))
        break
else:
    sys.exit(1)' "$@"
}

# metric PORT NAME: the sum of a metric's samples in /metrics (0 if absent).
metric() {
  curl -s -m 5 "http://127.0.0.1:$1/metrics" |
    awk -v name="$2" '$1 == name || index($1, name "{") == 1 { s += $2 } END { printf "%.6f\n", s }'
}

need_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "missing: ${missing[*]}"
  return 1
}

# bench_result KEY VALUE: one machine-readable line, collected by run.sh
# into BUILD/bench/report.md (tests/bench/report.py).
bench_result() { echo "BENCH_RESULT $1=${2:-}"; }

# rss_kib PID: "VmRSS RssAnon RssFile" of PID in KiB (RssFile is mostly
# LMDB's map: page-cache pages of the data files, not heap).
rss_kib() {
  awk '$1 == "VmRSS:" { v = $2 } $1 == "RssAnon:" { a = $2 } $1 == "RssFile:" { f = $2 }
       END { if (v == "") exit 1; printf "%d %d %d\n", v, a, f }' "/proc/$1/status" 2>/dev/null
}
