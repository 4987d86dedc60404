#!/usr/bin/env bash
# An order whose step answered RETRY waits in the queue for its retry: no
# worker has it, so it shows QUEUED (with the step's error), not
# PROCESSING, until a worker receives it again. The gate RETRYs customer
# RETRY.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/http_lib.sh"
source "$(dirname "$0")/gate_lib.sh"

gate_config "$TEST_DIR/retry.yaml" 'retry_attr: "customer_id=RETRY"'
gate_up retry "$TEST_DIR/retry.yaml"
code=$(curl -s -o "$BODY" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "$(order_json RT-1 RETRY)" "$BASE/api/v1/orders" || true)
[ "$code" = 202 ] && pass "an order for customer RETRY is accepted (202)" || fail "POST: $code $(cat "$BODY")"
# After the gate's RETRY it waits out the queue's visibility timeout (60 s).
retrying() {
  curl -s "$BASE/api/v1/orders/RT-1" >"$BODY"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d.get("error") else 1)' "$BODY"
}
if wait_until 20 retrying; then
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "QUEUED" and "retry_attr" in d["error"], d' "$BODY" &&
    pass "waiting for its retry it shows QUEUED with the step's error: $(head -c 160 "$BODY")" ||
    fail "status while waiting for the retry: $(cat "$BODY")"
else
  fail "the order never showed the RETRY: $(cat "$BODY")"
fi
check "stats: the order counts in flight (invisible) meanwhile" 200 "$BASE/api/v1/admin/queues"
body_has '"in_flight":1' "the queue counts it in flight, as SQS does"
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 30
[ "$STATUS" = 0 ] && pass "SIGTERM -> exit 0" || fail "exit $STATUS"
finish
