#!/usr/bin/env bash
# A poison order, cured and redriven: conf/keel.yaml's pipeline with a gate
# step, [confirm, gate, store], where gate (tests/plugins/test_step.so) FAILs
# the messages whose attribute customer_id is POISON while the file
# $TEST_DIR/poison-on exists. A normal order is CONFIRMED; the poison order
# ends FAILED with the reason in `error`, and the DLQ listing (admin API)
# shows it with that reason and failed step gate. Once the file is removed,
# a redrive through the admin API sends it back: QUEUED/PROCESSING, then
# CONFIRMED with a Damm-valid number, and the DLQ is empty.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

DEADLINE=${KEEL_POISON_DEADLINE:-30}
STEP_SO=$KEEL_TEST_PLUGIN_DIR/test_step.so
[ -f "$STEP_SO" ] || { echo "test plugin not built: $STEP_SO"; exit 77; }
REASON="test_step: the message carries fail_attr"
POISON_FILE=$TEST_DIR/poison-on

# The default configuration with a gate step between confirm and store.
CONFIG=$TEST_DIR/poison.yaml
python3 - "$KEEL_SOURCE_DIR/conf/keel.yaml" "$CONFIG" "$STEP_SO" "$POISON_FILE" <<'PY'
import sys
src, dst, so, poison = sys.argv[1:]
text = open(src).read()
gate = f"""  # The poison gate of orders_poison.sh.
  - name: gate
    module: {so}
    config:
      fail_attr: "customer_id=POISON"
      fail_while: {poison}

pipelines:
"""
assert text.count("\npipelines:\n") == 1 and text.count("steps: [confirm, store]") == 1, "conf/keel.yaml changed shape"
text = text.replace("pipelines:\n", gate, 1).replace("steps: [confirm, store]", "steps: [confirm, gate, store]")
open(dst, "w").write(text)
PY
[ -s "$CONFIG" ] || { fail "cannot derive the config from conf/keel.yaml"; finish; exit; }

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
O=$BASE/api/v1/orders
Q=$BASE/api/v1/admin/queues/orders
LOG=$TEST_DIR/keeld.log
KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web KEEL_LOG_LEVEL=warn \
  start_keeld "$CONFIG" "$LOG"
deadline=$((SECONDS + 30))
until curl -sf -o /dev/null "$BASE/readyz"; do
  if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    fail "keeld with the gate config did not become ready: $(tail -n 5 "$LOG")"
    finish
    exit
  fi
  sleep 0.1
done
pass "keeld with pipeline [confirm, gate, store] is ready on $BASE"

# order_json ID CUSTOMER: seed 004's order under another id and customer.
order_json() {
  cat <<JSON
{"orderId":"$1","customerId":"$2","orderDate":"2025-03-06T16:30:00Z",
"items":[{"productId":"PROD-001","name":"Widget Pro","quantity":2,"price":19.99},
{"productId":"PROD-002","name":"Super Gadget","quantity":1,"price":49.99}],
"shippingAddress":{"street":"123 Main St","city":"Anytown","state":"CA","zipCode":"12345"},
"paymentMethod":"credit_card","totalAmount":89.97}
JSON
}

# poll TIMEOUT_S PY_EXPR URL: GETs URL until the Python expression on its JSON
# body `d` holds; the last body stays in $BODY.
poll() {
  local timeout=$1 expr=$2 url=$3
  local deadline=$((SECONDS + timeout))
  while :; do
    curl -s --max-time 5 -o "$BODY" "$url" || true
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" "$BODY" 2>/dev/null && return 0
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# number_ok: the last body is CONFIRMED with a well-formed, Damm-valid number.
number_ok() {
  python3 -c '
import json, re, sys
D = ["0317598642", "7092154863", "4206871359", "1750983426", "6123045978",
     "3674209581", "5869720134", "8945362017", "9438617205", "2581436790"]
def interim(digits):
    i = 0
    for c in digits:
        i = int(D[i][int(c)])
    return i
assert interim("572") == 4 and interim("5724") == 0  # the table itself
d = json.load(open(sys.argv[1]))
n = d.get("confirmation_number", "")
assert d["status"] == "CONFIRMED" and re.fullmatch(r"KEEL-\d{8}-\d{9,}", n), d
assert interim(re.sub(r"\D", "", n)) == 0, n
print(n)' "$BODY"
}

touch "$POISON_FILE"
POISON_ID=POISON-$$
check "POST a normal order" 202 -H 'Content-Type: application/json' --data-binary "$(order_json GOOD-$$ CUST-GOOD)" "$O"
check "POST an order of customer POISON" 202 -H 'Content-Type: application/json' --data-binary "$(order_json "$POISON_ID" POISON)" "$O"

if poll "$DEADLINE" 'd["status"] == "CONFIRMED"' "$O/GOOD-$$" && n=$(number_ok); then
  pass "the normal order is CONFIRMED with $n"
else
  fail "the normal order did not end CONFIRMED: $(head -c 300 "$BODY")"
fi

# The DLQ listing shows the poison message with its reason and failing step.
if poll "$DEADLINE" "any(m['attributes'].get('order_id') == '$POISON_ID' for m in d['messages'])" "$Q/dlq"; then
  pass "the poison order reached the DLQ"
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["messages"]) == 1, "the DLQ holds other messages too"
m = d["messages"][0]
assert m["attributes"]["order_id"] == sys.argv[2] and m["attributes"]["customer_id"] == "POISON", m
assert sys.argv[3] in m["last_error"] and sys.argv[3] in m["first_error"], m
assert m["failed_step"] == "gate", m
assert m["receive_count"] == 1, m
body = json.loads(m["body"])
assert body["order_id"] == sys.argv[2] and body["customer_id"] == "POISON", body' "$BODY" "$POISON_ID" "$REASON" &&
    pass "DLQ entry: only the poison order, first/last error '$REASON', failed_step gate, receive_count 1, the canonical body" ||
    fail "DLQ entry: $(head -c 600 "$BODY")"
else
  fail "the poison order is not in the DLQ listing: $(head -c 600 "$BODY")"
fi
poll 5 '[q for q in d["queues"] if q["name"] == "orders"][0]["dlq_depth"] == 1' "$BASE/api/v1/admin/queues" &&
  pass "queue stats: dlq_depth 1" || fail "queue stats: $(head -c 400 "$BODY")"

# Spec §3: moved to the DLQ -> FAILED, and `error` says why.
if poll 10 "d['status'] == 'FAILED' and '$REASON' in d.get('error', '')" "$O/$POISON_ID"; then
  pass "GET of the poison order: FAILED, error '$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$BODY")'"
else
  fail "GET of the poison order should be FAILED with an error naming '$REASON': $(head -c 400 "$BODY")"
fi

# The cause is gone: redrive everything through the admin API.
rm -f "$POISON_FILE"
check "redrive the DLQ (body {})" 200 -H 'Content-Type: application/json' --data-binary '{}' "$Q/dlq/redrive"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"moved": 1}' "$BODY" &&
  pass "redrive answered {moved: 1}" || fail "redrive body: $(cat "$BODY")"
check "GET the poison order right after the redrive" 200 "$O/$POISON_ID"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["status"] in ("QUEUED", "PROCESSING", "CONFIRMED")' "$BODY" &&
  pass "after the redrive the poison order is QUEUED, PROCESSING or CONFIRMED" || fail "after the redrive: $(head -c 300 "$BODY")"

if poll "$DEADLINE" 'd["status"] == "CONFIRMED"' "$O/$POISON_ID" && n=$(number_ok); then
  pass "the redriven order is CONFIRMED with $n"
  python3 -c 'import json,sys; assert "error" not in json.load(open(sys.argv[1]))' "$BODY" &&
    pass "the CONFIRMED order carries no error" || fail "the CONFIRMED order still has an error: $(head -c 300 "$BODY")"
else
  fail "the redriven order did not end CONFIRMED: $(head -c 300 "$BODY")"
fi
poll 5 'd["messages"] == [] and d["next_cursor"] is None' "$Q/dlq" && pass "the DLQ is empty" ||
  fail "the DLQ is not empty: $(head -c 300 "$BODY")"
poll 5 '(lambda q: q["dlq_depth"] == 0 and q["visible"] + q["in_flight"] == 0 and q["counters"]["redriven"] == 1 and q["counters"]["dead_lettered"] == 1)([q for q in d["queues"] if q["name"] == "orders"][0])' "$BASE/api/v1/admin/queues" &&
  pass "queue stats: drained, dlq_depth 0, dead_lettered 1, redriven 1" || fail "queue stats: $(head -c 400 "$BODY")"

http_down poison
if grep -E '^[^ ]+ (error|fatal) ' "$LOG" >/dev/null; then
  echo "keeld logged errors (for the report): $(grep -E '^[^ ]+ (error|fatal) ' "$LOG" | head -n 5)"
fi
finish
