#!/usr/bin/env bash
# An order whose step answered RETRY waits in the queue for its retry: no
# worker has it, so it shows QUEUED (with the step's error), not
# PROCESSING, until a worker receives it again. conf/keel.yaml with
# [gate, confirm, store]; the gate RETRYs customer RETRY.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/http_lib.sh"

STEP_SO=$KEEL_TEST_PLUGIN_DIR/test_step.so
[ -f "$STEP_SO" ] || { echo "test plugin not built: $STEP_SO"; exit 77; }
python3 - "$KEEL_SOURCE_DIR/conf/keel.yaml" "$TEST_DIR/retry.yaml" "$STEP_SO" <<'PY'
import sys
src, dst, so = sys.argv[1:]
text = open(src).read()
gate = f"""  - name: gate
    module: {so}
    config:
      retry_attr: "customer_id=RETRY"

pipelines:
"""
for old, new in (("\npipelines:\n", "\n" + gate),
                 ("steps: [confirm, store]", "steps: [gate, confirm, store]")):
    assert text.count(old) == 1, f"conf/keel.yaml changed shape: {old!r}"
    text = text.replace(old, new, 1)
open(dst, "w").write(text)
PY
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web \
  start_keeld "$TEST_DIR/retry.yaml" "$TEST_DIR/retry.log"
ready() { curl -sf -o /dev/null "$BASE/readyz"; }
wait_until 30 ready || { fail "keeld did not become ready: $(tail -n 5 "$TEST_DIR/retry.log")"; finish; exit; }

code=$(curl -s -o "$BODY" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"order_id":"RT-1","customer_id":"RETRY","items":[{"product_id":"P-1","quantity":1,"price":2.00}],"amount":2.00}' \
  "$BASE/api/v1/orders" || true)
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
    pass "waiting for its retry it shows QUEUED with the step's error: $(cat "$BODY" | head -c 160)" ||
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
