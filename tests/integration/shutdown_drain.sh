#!/usr/bin/env bash
# SIGTERM while a batch is still being processed: keeld stops accepting
# orders at once (503 shutting_down with Retry-After), keeps answering
# reads and probes while the pipeline finishes its batch, then exits 0;
# the order in flight is CONFIRMED after a restart and the refused one
# was never enqueued. conf/keel.yaml's pipeline with a gate step that
# stalls while a file exists: [gate, confirm, store].
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

STEP_SO=$KEEL_TEST_PLUGIN_DIR/test_step.so
[ -f "$STEP_SO" ] || { echo "test plugin not built: $STEP_SO"; exit 77; }
STALL=$TEST_DIR/stall

python3 - "$KEEL_SOURCE_DIR/conf/keel.yaml" "$TEST_DIR/drain.yaml" "$STEP_SO" "$STALL" <<'PY'
import sys
src, dst, so, stall = sys.argv[1:]
text = open(src).read()
gate = f"""  - name: gate
    module: {so}
    config:
      stall_while: {stall}
      stall_max: 60s

pipelines:
"""
assert text.count("\npipelines:\n") == 1 and text.count("steps: [confirm, store]") == 1, "conf/keel.yaml changed shape"
text = text.replace("pipelines:\n", gate, 1).replace("steps: [confirm, store]", "steps: [gate, confirm, store]")
open(dst, "w").write(text)
PY

order_json() {
  cat <<JSON
{"orderId":"$1","customerId":"CUST-DRAIN","orderDate":"2025-03-06T16:30:00Z",
"items":[{"productId":"PROD-001","name":"Widget Pro","quantity":2,"price":19.99}],
"shippingAddress":{"street":"123 Main St","city":"Anytown","state":"CA","zipCode":"12345"},
"paymentMethod":"credit_card","totalAmount":39.98}
JSON
}
post() { curl -s -o "$BODY" -D "$HEADERS" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$(order_json "$1")" "$BASE/api/v1/orders" || true; }
status_of() { curl -s "$BASE/api/v1/orders/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",""))' 2>/dev/null || true; }

# start: keeld on $TEST_DIR/data (kept across the restart).
start() {
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web \
    start_keeld "$TEST_DIR/drain.yaml" "$TEST_DIR/$1.log"
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
got=$(post DRAIN-1)
[ "$got" = 202 ] && pass "an order is accepted (202)" || fail "POST DRAIN-1: $got $(cat "$BODY")"
deadline=$((SECONDS + 20))
until [ "$(status_of DRAIN-1)" = PROCESSING ] || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
[ "$(status_of DRAIN-1)" = PROCESSING ] && pass "its batch is stalled in the gate step (PROCESSING)" ||
  fail "DRAIN-1 never reached PROCESSING: $(status_of DRAIN-1)"

kill -TERM "$KEELD_PID"
# The stop has begun once /readyz says so (an order sent before it would
# rightly be accepted).
deadline=$((SECONDS + 10))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" || true)" = 503 ] || [ $SECONDS -ge $deadline ]; do
  sleep 0.05
done
got=$(post DRAIN-2)
retry=$(header Retry-After)
[ "$got" = 503 ] && grep -q '"error":"shutting_down"' "$BODY" && [ -n "$retry" ] &&
  pass "after SIGTERM a new order gets 503 shutting_down, Retry-After: $retry" ||
  fail "POST after SIGTERM: $got $(cat "$BODY") Retry-After '$retry'"
for i in 1 2 3; do
  got=$(post "DRAIN-3-$i")
  [ "$got" = 503 ] || break
done
[ "$got" = 503 ] && pass "and so do the next ones while the batch finishes" || fail "a later POST got $got"
kill -0 "$KEELD_PID" 2>/dev/null && pass "keeld still runs: the stalled batch holds the stop" ||
  fail "keeld exited before the stalled batch finished"
[ "$(status_of DRAIN-1)" = PROCESSING ] && pass "reads are still answered while stopping (DRAIN-1 PROCESSING)" ||
  fail "GET during the stop: '$(status_of DRAIN-1)'"
got=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" || true)
[ "$got" = 503 ] && pass "/readyz says 503 while stopping" || fail "/readyz while stopping: $got"

rm -f "$STALL"
wait_exit "$KEELD_PID" 60
[ "$STATUS" = 0 ] && pass "the batch finishes and keeld exits 0" || fail "exit $STATUS: $(tail -n 5 "$TEST_DIR/first.log")"

start second
deadline=$((SECONDS + 20))
until [ "$(status_of DRAIN-1)" = CONFIRMED ] || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
[ "$(status_of DRAIN-1)" = CONFIRMED ] && pass "after a restart the order in flight is CONFIRMED" ||
  fail "DRAIN-1 after the restart: '$(status_of DRAIN-1)'"
got=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/orders/DRAIN-2" || true)
[ "$got" = 404 ] && pass "the refused order was never enqueued (404)" || fail "GET DRAIN-2: $got"
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 30
[ "$STATUS" = 0 ] && pass "second keeld: SIGTERM -> exit 0" || fail "second keeld exit $STATUS"
finish
