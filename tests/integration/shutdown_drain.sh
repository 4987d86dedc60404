#!/usr/bin/env bash
# SIGTERM while a batch is still being processed: keeld stops accepting
# orders at once (503 shutting_down with Retry-After), keeps answering
# reads and probes while the pipeline finishes its batch, then exits 0;
# the order in flight is CONFIRMED after a restart and the refused one
# was never enqueued. The gate stalls while a file exists.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/http_lib.sh"
source "$(dirname "$0")/gate_lib.sh"

STALL=$TEST_DIR/stall
gate_config "$TEST_DIR/drain.yaml" "stall_while: $STALL
stall_max: 60s"
post() { curl -s -o "$BODY" -D "$HEADERS" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$(order_json "$1" CUST-DRAIN)" "$BASE/api/v1/orders" || true; }

gate_up first "$TEST_DIR/drain.yaml"
touch "$STALL"
got=$(post DRAIN-1)
[ "$got" = 202 ] && pass "an order is accepted (202)" || fail "POST DRAIN-1: $got $(cat "$BODY")"
processing() { [ "$(order_status DRAIN-1)" = PROCESSING ]; }
wait_until 20 processing && pass "its batch is stalled in the gate step (PROCESSING)" ||
  fail "DRAIN-1 never reached PROCESSING: $(order_status DRAIN-1)"

kill -TERM "$KEELD_PID"
# The stop has begun once /readyz says so (an order sent before it would
# rightly be accepted).
stopping() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" || true)" = 503 ]; }
wait_until 10 stopping || fail "/readyz never said stopping"
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
[ "$(order_status DRAIN-1)" = PROCESSING ] && pass "reads are still answered while stopping (DRAIN-1 PROCESSING)" ||
  fail "GET during the stop: '$(order_status DRAIN-1)'"

rm -f "$STALL"
wait_exit "$KEELD_PID" 60
[ "$STATUS" = 0 ] && pass "the batch finishes and keeld exits 0" || fail "exit $STATUS: $(tail -n 5 "$TEST_DIR/first.log")"

gate_up second "$TEST_DIR/drain.yaml"
confirmed() { [ "$(order_status DRAIN-1)" = CONFIRMED ]; }
wait_until 20 confirmed && pass "after a restart the order in flight is CONFIRMED" ||
  fail "DRAIN-1 after the restart: '$(order_status DRAIN-1)'"
got=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/orders/DRAIN-2" || true)
[ "$got" = 404 ] && pass "the refused order was never enqueued (404)" || fail "GET DRAIN-2: $got"
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 30
[ "$STATUS" = 0 ] && pass "second keeld: SIGTERM -> exit 0" || fail "second keeld exit $STATUS"
finish
