#!/usr/bin/env bash
# Soak: keeld (conf/keel.yaml: LMDB queue and store) under steady moderate
# load for KEEL_SOAK_SECONDS (3600): tests/node/orders_load.mjs stream with
# KEEL_SOAK_CONCURRENCY (64) connections at KEEL_SOAK_RATE (200) POSTs/s.
# Every KEEL_SOAK_INTERVAL (5) s a sample goes to a CSV in the build dir
# (KEEL_SOAK_CSV to override): RSS (VmRSS, and RssAnon, the heap: the LMDB
# maps are file pages and grow with the store by design), open fds, the
# size of the queue's and the store's data.mdb, the queue backlog, orders
# acked, and the p50/p99/max latency of the 202s of the interval.
#
# Verdict, comparing the last third of the samples with the middle third
# (the first third is warm-up; it must outlast the queue's dedup window, 5
# min, which KEEL_SOAK_DEDUP_WINDOW shortens for the short form):
#   - RssAnon grows by more than 10% AND still rises over the last third
#   - open fds grow (by more than 32: client reconnects) AND still rise
#   - the queue's data.mdb grows by more than 10% and 1 MiB AND still rises while the
#     backlog is flat (LMDB reuses freed pages: the file reaches a plateau;
#     the store's file grows with the orders kept, so it is only reported)
# fail the run; so does any answer other than 202, a backlog that does not
# drain once the load stops, a DLQ entry, or a sampled acked order that is not
# CONFIRMED.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
: "${KEEL_SOURCE_DIR:=$SRC}"
: "${KEELD:=$SRC/build/bin/keeld}"
: "${KEEL_TEST_PLUGIN_DIR:=$(cd "$(dirname "$KEELD")/.." && pwd)/tests/plugins}"
export KEELD KEEL_TEST_PLUGIN_DIR KEEL_SOURCE_DIR
source "$SRC/tests/integration/lib.sh"

RUN_S=${KEEL_SOAK_SECONDS:-3600}
RATE=${KEEL_SOAK_RATE:-200}
CONC=${KEEL_SOAK_CONCURRENCY:-64}
INTERVAL=${KEEL_SOAK_INTERVAL:-5}
BUILD_DIR=$(cd "$(dirname "$KEELD")/.." && pwd)
CSV=${KEEL_SOAK_CSV:-$BUILD_DIR/soak-$(date -u +%Y%m%dT%H%M%SZ).csv}
NODE_TOOL=$KEEL_SOURCE_DIR/tests/node/orders_load.mjs
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }

DATA=$TEST_DIR/data
ACKED=$TEST_DIR/acked
LAT=$TEST_DIR/latency
STOP=$TEST_DIR/stop
STREAM_PID=""
touch "$ACKED" "$LAT"
soak_cleanup() {
  touch "$STOP"
  for pid in "$STREAM_PID" "$KEELD_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  cleanup
}
trap soak_cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
# The queue remembers every message id for its dedup window (5 min: a log in
# its LMDB file and an index in memory), so both grow for that long before
# they level off. The short form shortens the window to see the plateau.
CONFIG=$KEEL_SOURCE_DIR/conf/keel.yaml
if [ -n "${KEEL_SOAK_DEDUP_WINDOW:-}" ]; then
  CONFIG=$TEST_DIR/soak.yaml
  sed "s/^\( *\)visibility_timeout: 60s\$/&\n\1dedup_window: $KEEL_SOAK_DEDUP_WINDOW/" \
    "$KEEL_SOURCE_DIR/conf/keel.yaml" >"$CONFIG"
  grep -q "dedup_window: $KEEL_SOAK_DEDUP_WINDOW\$" "$CONFIG" || { fail "conf/keel.yaml changed shape"; finish; exit; }
fi
KEEL_DATA_DIR=$DATA KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web KEEL_LOG_LEVEL=warn \
  start_keeld "$CONFIG" "$TEST_DIR/keeld.log"
deadline=$((SECONDS + 30))
until curl -sf -o /dev/null --max-time 2 "$BASE/readyz"; do
  if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    fail "keeld did not become ready: $(tail -n 5 "$TEST_DIR/keeld.log")"
    finish
    exit
  fi
  sleep 0.05
done
pass "keeld ($(basename "$CONFIG")${KEEL_SOAK_DEDUP_WINDOW:+, dedup_window $KEEL_SOAK_DEDUP_WINDOW}) ready on $BASE; soak ${RUN_S}s at ${RATE}/s over $CONC connections, a sample every ${INTERVAL}s -> $CSV"

node "$NODE_TOOL" stream --base="$BASE" --concurrency="$CONC" --rate="$RATE" --customers=32 --prefix="SK$$" \
  --out="$ACKED" --stop="$STOP" --max-seconds=$((RUN_S + 60)) --lat-out="$LAT" --lat-every="$INTERVAL" \
  >"$TEST_DIR/stream.out" 2>&1 &
STREAM_PID=$!

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
backlog() {
  curl -s --max-time 5 "$BASE/api/v1/admin/queues" | python3 -c '
import json, sys
q = [q for q in json.load(sys.stdin)["queues"] if q["name"] == "orders"][0]
print(q["visible"] + q["in_flight"] + q["delayed"], q["dlq_depth"])' 2>/dev/null || echo "NA NA"
}
echo "t_s,vmrss_kb,rssanon_kb,fds,queue_mdb_bytes,store_mdb_bytes,backlog,dlq,acked,n202,p50_ms,p99_ms,max_ms,other" >"$CSV"
t0=$SECONDS
next=$((t0 + INTERVAL))
while [ $((SECONDS - t0)) -lt "$RUN_S" ]; do
  while [ $SECONDS -lt $next ]; do sleep 0.2; done
  next=$((next + INTERVAL))
  kill -0 "$KEELD_PID" 2>/dev/null || { fail "keeld died: $(tail -n 5 "$TEST_DIR/keeld.log")"; break; }
  kill -0 "$STREAM_PID" 2>/dev/null || { fail "the load client died: $(tail -n 3 "$TEST_DIR/stream.out")"; break; }
  rss=$(status_kb "$KEELD_PID" VmRSS)
  anon=$(status_kb "$KEELD_PID" RssAnon)
  fds=$(find "/proc/$KEELD_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  read -r bl dlq <<<"$(backlog)"
  # The last latency line of the client (one per interval, on its own clock).
  read -r _ n202 p50 p99 pmax other <<<"$(tail -n 1 "$LAT" 2>/dev/null || true)"
  echo "$((SECONDS - t0)),$rss,$anon,$fds,$(size_of "$DATA/queue/data.mdb"),$(size_of "$DATA/store/data.mdb"),$bl,$dlq,$(grep -c '^acked ' "$ACKED" || true),${n202:-NA},${p50:-NA},${p99:-NA},${pmax:-NA},${other:-NA}" >>"$CSV"
done

touch "$STOP"
wait_exit "$STREAM_PID" 30
[ "$STATUS" = 0 ] && pass "load client stopped: $(tail -n 1 "$TEST_DIR/stream.out")" ||
  fail "load client: status $STATUS: $(tail -n 3 "$TEST_DIR/stream.out")"
STREAM_PID=""
if grep -Eq '^(bad202|status) ' "$ACKED"; then
  fail "answers other than 202 under a moderate load: $(grep -E '^(bad202|status) ' "$ACKED" | awk '{print $1, $3}' | sort | uniq -c | tr '\n' ';')"
else
  pass "every answer was 202 ($(grep -c '^acked ' "$ACKED" || true) orders)"
fi
# The backlog drains and nothing went to the DLQ; a random sample of the
# acked orders is CONFIRMED. (Listing every order, as orders_load.mjs wait
# does, takes minutes after an hour of load: 85 s for 180k orders.)
deadline=$((SECONDS + 120))
while :; do
  read -r bl dlq <<<"$(backlog)"
  [ "$bl $dlq" = "0 0" ] && break
  [ $SECONDS -lt $deadline ] || break
  sleep 0.2
done
[ "$bl $dlq" = "0 0" ] && pass "queue drained: backlog 0, dlq 0" || fail "queue not drained in 120 s: backlog $bl, dlq $dlq"
if timeout 120 python3 - "$BASE" "$ACKED" >"$TEST_DIR/sample.out" 2>&1 <<'PY'; then
import json, random, sys, urllib.request
base, acked = sys.argv[1], sys.argv[2]
ids = [l.split()[1] for l in open(acked) if l.startswith("acked ")]
bad = []
for i in random.sample(ids, min(300, len(ids))):
    with urllib.request.urlopen(f"{base}/api/v1/orders/{i}", timeout=10) as r:
        d = json.load(r)
    if d.get("status") != "CONFIRMED" or not d.get("confirmation_number"):
        bad.append(f"{i}:{d.get('status')}")
print(f"{min(300, len(ids))} of {len(ids)} acked orders sampled" + (f"; not CONFIRMED: {bad[:5]}" if bad else ", all CONFIRMED"))
sys.exit(1 if bad else 0)
PY
  pass "$(tail -n 1 "$TEST_DIR/sample.out")"
else
  fail "sample: $(tail -n 3 "$TEST_DIR/sample.out")"
fi

kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 60
[ "$STATUS" = 0 ] && pass "SIGTERM -> exit 0" || fail "SIGTERM -> status $STATUS: $(tail -n 5 "$TEST_DIR/keeld.log")"
KEELD_PID=""
for e in queue store; do
  mdb_stat -a "$DATA/$e" >/dev/null 2>&1 && pass "mdb_stat -a reads $e cleanly" || fail "mdb_stat -a $e failed"
done

# The verdict on growth. Under ASan the allocator's quarantine (256 MB)
# keeps freed memory: the heap is reported, not judged.
ASAN=""
ldd "$KEELD" 2>/dev/null | grep -q libasan && ASAN=1
ASAN=$ASAN python3 - "$CSV" >"$TEST_DIR/verdict" <<'PY' || true
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
n = len(rows)
if n < 6:
    print(f"fail only {n} samples: too few for a verdict")
    sys.exit()
def col(name, rs):
    return [float(r[name]) for r in rs if r[name] not in ("NA", "")]
mid, last = rows[n // 3: 2 * n // 3], rows[2 * n // 3:]
def avg(xs): return sum(xs) / len(xs) if xs else float("nan")
def slope(name, rs):  # least squares, units per second
    pts = [(float(r["t_s"]), float(r[name])) for r in rs if r[name] not in ("NA", "")]
    if len(pts) < 2: return 0.0
    mt = avg([p[0] for p in pts]); mv = avg([p[1] for p in pts])
    den = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (v - mv) for t, v in pts) / den if den else 0.0
span = float(last[-1]["t_s"]) - float(last[0]["t_s"]) or 1.0
def growth(name):
    m, l = avg(col(name, mid)), avg(col(name, last))
    rise = slope(name, last) * span  # how much it still rises across the last third
    return m, l, rise
print("info samples", n, "over", rows[-1]["t_s"], "s; thirds compared: middle vs last")
for name, unit in (("vmrss_kb", "kB"), ("rssanon_kb", "kB"), ("fds", ""), ("queue_mdb_bytes", "B"), ("store_mdb_bytes", "B"), ("backlog", "")):
    m, l, rise = growth(name)
    print(f"info {name}: middle avg {m:.0f}{unit}, last avg {l:.0f}{unit}, still rising by {rise:.0f}{unit} across the last third, max {max(col(name, rows)):.0f}")
for name in ("p50_ms", "p99_ms"):
    print(f"info {name}: first third avg {avg(col(name, rows[:n // 3])):.1f}, middle {avg(col(name, mid)):.1f}, last {avg(col(name, last)):.1f}, worst {max(col(name, rows) or [0]):.1f}")
m, l, rise = growth("rssanon_kb")
import os
if os.environ.get("ASAN"):
    print(f"info keeld is built with ASan: RssAnon {m:.0f} -> {l:.0f} kB not judged (the quarantine keeps freed memory)")
elif l > m * 1.10 and rise > 0.05 * l:
    print(f"fail RssAnon grows without levelling off: {m:.0f} -> {l:.0f} kB, +{rise:.0f} kB across the last third")
else:
    print(f"ok RssAnon levels off ({m:.0f} -> {l:.0f} kB)")
m, l, rise = growth("fds")
# Slack for client connections re-opened after slow answers (they come and
# go); a leak of even one fd per hundred requests exceeds it within the run.
if l > m + 32 and rise > 8:
    print(f"fail open fds grow: {m:.0f} -> {l:.0f}")
else:
    print(f"ok open fds flat ({m:.0f} -> {l:.0f})")
m, l, rise = growth("queue_mdb_bytes")
bm, bl, _ = growth("backlog")
flat = bl <= bm * 1.5 + 100
# LMDB cannot reuse pages a reader still sees, so the file creeps up a
# little while it settles; a leak of queue pages outgrows 1 MiB quickly.
if l > m * 1.10 and l - m > 1 << 20 and rise > 0.05 * l and flat:
    print(f"fail the queue's data.mdb grows with a flat backlog ({bm:.0f} -> {bl:.0f}): {m:.0f} -> {l:.0f} B")
else:
    print(f"ok the queue's data.mdb reaches a plateau ({m:.0f} -> {l:.0f} B; backlog {bm:.0f} -> {bl:.0f})")
PY
while read -r verdict text; do
  case $verdict in
  ok) pass "$text" ;;
  fail) fail "$text" ;;
  info) echo "soak: $text" ;;
  esac
done <"$TEST_DIR/verdict"
echo "soak: CSV $CSV ($(($(wc -l <"$CSV") - 1)) samples)"
finish
