#!/usr/bin/env bash
# The order pipeline end to end with conf/keel.yaml: KEEL_E2E_ORDERS (10000)
# orders POSTed by tests/node/orders_load.mjs, KEEL_E2E_CONCURRENCY (64) in
# flight over keep-alive connections, spread over KEEL_E2E_CUSTOMERS (20)
# customers, every one answered 202. Then, within KEEL_E2E_DEADLINE (120) s,
# every order is CONFIRMED; the confirmation numbers are distinct and
# Damm-valid; GET of KEEL_E2E_SAMPLE (500) orders returns the order sent; each
# customer's listing (limit 100, cursor paging) holds exactly its orders, each
# once, newest first, next_cursor null at the end; re-POSTing 20 orders
# answers 200 with the same confirmation number (another payload: 409); the
# queue is drained and keeld logged no error.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

ORDERS=${KEEL_E2E_ORDERS:-10000}
CONCURRENCY=${KEEL_E2E_CONCURRENCY:-64}
CUSTOMERS=${KEEL_E2E_CUSTOMERS:-20}
DEADLINE=${KEEL_E2E_DEADLINE:-120}
SAMPLE=${KEEL_E2E_SAMPLE:-500}
NODE_TOOL=$KEEL_SOURCE_DIR/tests/node/orders_load.mjs
command -v node >/dev/null || { echo "skip: node is not installed"; exit 77; }

# verdicts FILE: turns the tool's "ok ..."/"fail ..." lines into pass/fail.
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

# queue_drained: the orders queue has nothing visible, in flight or dead.
queue_drained() {
  curl -s --max-time 5 "$BASE/api/v1/admin/queues" | python3 -c '
import json, sys
q = [q for q in json.load(sys.stdin)["queues"] if q["name"] == "orders"][0]
print(json.dumps(q), file=open(sys.argv[1], "w"))
assert q["visible"] + q["in_flight"] + q["delayed"] == 0 and q["dlq_depth"] == 0' "$TEST_DIR/stats" 2>/dev/null
}

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
LOG=$TEST_DIR/keeld.log
KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web KEEL_LOG_LEVEL=warn \
  start_keeld "$KEEL_SOURCE_DIR/conf/keel.yaml" "$LOG"
deadline=$((SECONDS + 30))
until curl -sf -o /dev/null "$BASE/readyz"; do
  if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    fail "keeld with conf/keel.yaml did not become ready: $(tail -n 5 "$LOG")"
    finish
    exit
  fi
  sleep 0.1
done
pass "keeld with conf/keel.yaml is ready on $BASE"

ACKED=$TEST_DIR/acked
started=$(date +%s%N)
run_to "$TEST_DIR/post.out" timeout --kill-after=5 $((DEADLINE + 60)) node "$NODE_TOOL" post --base="$BASE" \
  --count="$ORDERS" --concurrency="$CONCURRENCY" --customers="$CUSTOMERS" --prefix="E2E$$" --out="$ACKED"
verdicts "$TEST_DIR/post.out"
posted_ms=$((($(date +%s%N) - started) / 1000000))
[ "$STATUS" = 0 ] || fail "the load client exited with $STATUS: $(tail -n 3 "$TEST_DIR/post.out")"
grep '^\[' "$TEST_DIR/post.out" || true

run_to "$TEST_DIR/wait.out" timeout --kill-after=5 $((DEADLINE + 30)) node "$NODE_TOOL" wait --base="$BASE" \
  --acked="$ACKED" --deadline="$DEADLINE"
verdicts "$TEST_DIR/wait.out"
confirmed_ms=$((($(date +%s%N) - started) / 1000000))
echo "timing: $ORDERS POSTs took $posted_ms ms; all CONFIRMED $confirmed_ms ms after the first POST"

run_to "$TEST_DIR/check.out" timeout --kill-after=5 180 node "$NODE_TOOL" check --base="$BASE" \
  --acked="$ACKED" --exact --sample="$SAMPLE" --repost=20
verdicts "$TEST_DIR/check.out"

deadline=$((SECONDS + 30))
until queue_drained; do
  [ $SECONDS -lt $deadline ] || break
  sleep 0.2
done
if queue_drained; then
  pass "queue orders drained: $(cat "$TEST_DIR/stats")"
else
  fail "queue orders not drained: $(cat "$TEST_DIR/stats" 2>/dev/null)"
fi

http_down e2e
if grep -E '^[^ ]+ (error|fatal) ' "$LOG" >/dev/null; then
  fail "keeld logged errors: $(grep -E '^[^ ]+ (error|fatal) ' "$LOG" | head -n 5)"
else
  pass "keeld logged no error ($(wc -l <"$LOG") log lines at level warn)"
fi
finish
