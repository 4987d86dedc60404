#!/usr/bin/env bash
# kill -9 right after the 202s, before the orders' QUEUED records were
# written (they are written lazily: lazy_delay 1s here). The orders are in
# the queue; after the restart keeld rebuilds their records from it, so
# GET /api/v1/orders/{id} finds every one of them. Here they then fail in
# a gate step and dead-letter: each must show FAILED with the gate's
# reason (without the rebuilt record it was 404 for good).
# conf/keel.yaml with [gate, confirm, store]; the gate stalls while a file
# exists and FAILs customer POISON.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/http_lib.sh"

STEP_SO=$KEEL_TEST_PLUGIN_DIR/test_step.so
[ -f "$STEP_SO" ] || { echo "test plugin not built: $STEP_SO"; exit 77; }
STALL=$TEST_DIR/stall
N=6

python3 - "$KEEL_SOURCE_DIR/conf/keel.yaml" "$TEST_DIR/lost.yaml" "$STEP_SO" "$STALL" <<'PY'
import sys
src, dst, so, stall = sys.argv[1:]
text = open(src).read()
gate = f"""  - name: gate
    module: {so}
    config:
      stall_while: {stall}
      stall_max: 60s
      fail_attr: "customer_id=POISON"

pipelines:
"""
for old, new in (("\npipelines:\n", "\n" + gate),
                 ("steps: [confirm, store]", "steps: [gate, confirm, store]"),
                 ("    module: store_lmdb\n", "    module: store_lmdb\n    config: {lazy_delay: 1s}\n"),
                 ("visibility_timeout: 60s", "visibility_timeout: 2s")):
    assert text.count(old) == 1, f"conf/keel.yaml changed shape: {old!r}"
    text = text.replace(old, new, 1)
open(dst, "w").write(text)
PY

order_json() {
  cat <<JSON
{"orderId":"$1","customerId":"POISON","orderDate":"2025-03-06T16:30:00Z",
"items":[{"productId":"PROD-001","name":"Widget Pro","quantity":2,"price":19.99}],
"shippingAddress":{"street":"123 Main St","city":"Anytown","state":"CA","zipCode":"12345"},
"paymentMethod":"credit_card","totalAmount":39.98}
JSON
}
shown() { curl -s "$BASE/api/v1/orders/$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("status") or d.get("error"), d.get("error", ""))' 2>/dev/null || true; }

start() {
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web \
    start_keeld "$TEST_DIR/lost.yaml" "$TEST_DIR/$1.log"
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null "$BASE/readyz"; do
    if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      fail "$1: keeld did not become ready: $(tail -n 5 "$TEST_DIR/$1.log")"
      finish
      exit
    fi
    sleep 0.05
  done
}

start first
touch "$STALL"
accepted=0
for i in $(seq $N); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$(order_json "LOST-$i")" "$BASE/api/v1/orders" || true)
  [ "$code" = 202 ] && accepted=$((accepted + 1))
done
kill -9 "$KEELD_PID"
wait "$KEELD_PID" 2>/dev/null || true
[ "$accepted" = $N ] && pass "$N orders accepted (202), then kill -9 at once" || fail "only $accepted of $N accepted"

rm -f "$STALL"
start second
all_failed() {
  for i in $(seq $N); do
    [ "$(shown "LOST-$i" | cut -d' ' -f1)" = FAILED ] || return 1
  done
}
if wait_until 30 all_failed; then
  pass "after the restart all $N orders are found, dead-lettered by the gate: $(shown LOST-1)"
else
  got=""
  for i in $(seq $N); do got+="LOST-$i=$(shown "LOST-$i" | cut -d' ' -f1) "; done
  fail "orders after the crash and restart: $got"
fi
grep -q "recovered [1-9][0-9]* QUEUED order record(s) lost in a crash" "$TEST_DIR/second.log" &&
  pass "the log says so: $(grep -o 'recovered [0-9]* QUEUED.*' "$TEST_DIR/second.log")" ||
  fail "no recovery line in the log: $(grep -i recover "$TEST_DIR/second.log" | head -n 3)"
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 30
[ "$STATUS" = 0 ] && pass "second keeld: SIGTERM -> exit 0" || fail "second keeld exit $STATUS"
finish
