#!/usr/bin/env bash
# Orders survive kill -9: keeld runs conf/keel.yaml (with the queue's
# visibility timeout shortened to KEEL_CRASH_VISIBILITY, 5s, so the messages
# in flight at a kill come back quickly) on one data dir and port, while
# tests/node/orders_load.mjs POSTs orders continuously (unique ids; it records
# every 202). KEEL_CRASH_KILLS (5) times, 1-3 s apart and after at least
# KEEL_CRASH_MIN_ACKED (100) more acks, the test snapshots the numbers of a
# few CONFIRMED orders, kills keeld with SIGKILL and restarts it; the client
# keeps going (connection errors just leave orders unacknowledged). Then,
# within KEEL_CRASH_DEADLINE (120) s, every acknowledged order is CONFIRMED
# and listed exactly once, no number is shared or changed or Damm-invalid,
# re-POSTs answer 200 with the original number, and the queue drains.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

KILLS=${KEEL_CRASH_KILLS:-5}
MIN_ACKED=${KEEL_CRASH_MIN_ACKED:-100}
DEADLINE=${KEEL_CRASH_DEADLINE:-120}
VISIBILITY=${KEEL_CRASH_VISIBILITY:-5s}
CONCURRENCY=${KEEL_CRASH_CONCURRENCY:-16}
NODE_TOOL=$KEEL_SOURCE_DIR/tests/node/orders_load.mjs
command -v node >/dev/null || { echo "skip: node is not installed"; exit 77; }

STREAM_PID=""
STOP=$TEST_DIR/stop
crash_cleanup() {
  touch "$STOP"
  if [ -n "$STREAM_PID" ] && kill -0 "$STREAM_PID" 2>/dev/null; then kill -KILL "$STREAM_PID" 2>/dev/null || true; fi
  cleanup
}
trap crash_cleanup EXIT

verdicts() {
  local verdict text any=0
  while read -r verdict text; do
    case $verdict in
    ok) pass "$text"; any=1 ;;
    fail) fail "$text"; any=1 ;;
    esac
  done <"$1"
  [ $any = 1 ] || fail "no verdict from the node tool: $(tail -n 5 "$1")"
}

queue_drained() {
  curl -s --max-time 5 "$BASE/api/v1/admin/queues" | python3 -c '
import json, sys
q = [q for q in json.load(sys.stdin)["queues"] if q["name"] == "orders"][0]
print(json.dumps(q), file=open(sys.argv[1], "w"))
assert q["visible"] + q["in_flight"] + q["delayed"] == 0 and q["dlq_depth"] == 0' "$TEST_DIR/stats" 2>/dev/null
}

acked_count() { grep -c '^acked ' "$ACKED" 2>/dev/null || true; }

CONFIG=$TEST_DIR/keel.yaml
sed "s/visibility_timeout: 60s/visibility_timeout: $VISIBILITY/" "$KEEL_SOURCE_DIR/conf/keel.yaml" >"$CONFIG"
grep -q "visibility_timeout: $VISIBILITY\$" "$CONFIG" || { fail "conf/keel.yaml has no 'visibility_timeout: 60s' to shorten"; finish; exit; }

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
ACKED=$TEST_DIR/acked
SNAPSHOTS=$TEST_DIR/snapshots
touch "$ACKED" "$SNAPSHOTS"

# up N: starts keeld (log keeld.N.log) and waits for /readyz.
up() {
  KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web KEEL_LOG_LEVEL=warn \
    start_keeld "$CONFIG" "$TEST_DIR/keeld.$1.log"
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null --max-time 2 "$BASE/readyz"; do
    if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      fail "start $1: keeld did not become ready: $(tail -n 5 "$TEST_DIR/keeld.$1.log")"
      return 1
    fi
    sleep 0.05
  done
}

up 0 || { finish; exit; }
pass "keeld (conf/keel.yaml, visibility_timeout $VISIBILITY) is ready on $BASE"
node "$NODE_TOOL" stream --base="$BASE" --concurrency="$CONCURRENCY" --customers=8 --prefix="CR$$" \
  --out="$ACKED" --stop="$STOP" --max-seconds=$((DEADLINE + 120)) >"$TEST_DIR/stream.out" 2>&1 &
STREAM_PID=$!

kills_ok=0
for k in $(seq 1 "$KILLS"); do
  want=$(($(acked_count) + MIN_ACKED))
  deadline=$((SECONDS + 60))
  while [ "$(acked_count)" -lt "$want" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  if [ "$(acked_count)" -lt "$want" ]; then
    fail "kill $k: fewer than $want orders acknowledged within 60 s ($(acked_count)): $(tail -n 3 "$TEST_DIR/keeld.$((k - 1)).log" "$TEST_DIR/stream.out")"
    break
  fi
  # 1-3 s between kills, random: the kill lands at any point of the pipeline.
  sleep "$((1 + RANDOM % 2)).$((RANDOM % 10))"
  timeout 20 node "$NODE_TOOL" snapshot --base="$BASE" --acked="$ACKED" --count=3 --out="$SNAPSHOTS" >/dev/null 2>&1 || true
  at=$(acked_count)
  kill -KILL "$KEELD_PID"
  wait_exit "$KEELD_PID" 30
  if [ "$STATUS" != 137 ]; then
    fail "kill $k: keeld ended with $STATUS, not by the SIGKILL: $(tail -n 5 "$TEST_DIR/keeld.$((k - 1)).log")"
    break
  fi
  t0=$(date +%s%N)
  up "$k" || break
  echo "kill $k: SIGKILL at $at acked orders; restarted and ready in $((($(date +%s%N) - t0) / 1000000)) ms"
  kills_ok=$((kills_ok + 1))
done
[ "$kills_ok" = "$KILLS" ] && pass "$KILLS kill -9 + restart cycles under load, each restart ready again"

# Let the client reach the last keeld, then stop it.
want=$(($(acked_count) + MIN_ACKED))
deadline=$((SECONDS + 30))
while [ "$(acked_count)" -lt "$want" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
touch "$STOP"
wait_exit "$STREAM_PID" 30
[ "$STATUS" = 0 ] && pass "load client stopped: $(tail -n 1 "$TEST_DIR/stream.out")" ||
  fail "load client: status $STATUS: $(tail -n 3 "$TEST_DIR/stream.out")"
STREAM_PID=""
acked=$(acked_count)
echo "acknowledged orders: $acked; snapshots: $(wc -l <"$SNAPSHOTS")"
if grep -Eq '^(bad202|status) ' "$ACKED"; then
  other=$(grep -E '^(bad202|status) ' "$ACKED" | awk '{print $1, $3}' | sort | uniq -c | tr '\n' ';')
  # 503 (not ready / unavailable, with Retry-After) is an honest answer during a restart.
  if grep -E '^(bad202|status) ' "$ACKED" | grep -Ev '^status [^ ]+ 503 ' >/dev/null; then
    fail "answers other than 202 and 503: $other e.g. $(grep -E '^(bad202|status) ' "$ACKED" | grep -Ev '^status [^ ]+ 503 ' | head -n 2)"
  else
    pass "non-202 answers were all 503: $other"
  fi
else
  pass "every HTTP answer the client got was 202 (the rest were connection errors)"
fi

started=$(date +%s%N)
run_to "$TEST_DIR/wait.out" timeout --kill-after=5 $((DEADLINE + 30)) node "$NODE_TOOL" wait --base="$BASE" \
  --acked="$ACKED" --deadline="$DEADLINE"
verdicts "$TEST_DIR/wait.out"
echo "timing: all $acked acknowledged orders CONFIRMED $((($(date +%s%N) - started) / 1000000)) ms after the client stopped"

run_to "$TEST_DIR/check.out" timeout --kill-after=5 180 node "$NODE_TOOL" check --base="$BASE" \
  --acked="$ACKED" --sample=200 --repost=20 --snapshots="$SNAPSHOTS" --no-money-text
verdicts "$TEST_DIR/check.out"

deadline=$((SECONDS + 30))
until queue_drained; do
  [ $SECONDS -lt $deadline ] || break
  sleep 0.2
done
if queue_drained; then
  pass "queue orders drained (visible+in_flight 0, dlq_depth 0): $(cat "$TEST_DIR/stats")"
else
  fail "queue orders not drained: $(cat "$TEST_DIR/stats" 2>/dev/null)"
fi

http_down crash
if grep -E '^[^ ]+ (error|fatal) ' "$TEST_DIR"/keeld.*.log >/dev/null; then
  fail "keeld logged errors: $(grep -E '^[^ ]+ (error|fatal) ' "$TEST_DIR"/keeld.*.log | head -n 5)"
else
  pass "keeld logged no error in its $((KILLS + 1)) runs"
fi
grep -h ' warn ' "$TEST_DIR"/keeld.*.log | head -n 5 || true
finish
