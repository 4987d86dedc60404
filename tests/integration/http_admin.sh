#!/usr/bin/env bash
# The admin API against a real queue_lmdb instance: three messages fail in
# a pipeline step and land in the DLQ; the API lists queue stats, pages
# through the DLQ without consuming it, redrives one id back to the queue
# and purges the rest.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/http_lib.sh"

queue_entry() {
  cat <<YAML
  - name: queue
    module: $QUEUE_SO
    config:
      queues: [{name: orders, visibility_timeout: 2s, max_receives: 3}]
YAML
}
PORT=$(free_port)
{ kernel_header; cat <<YAML; } >"$TEST_DIR/fill.yaml"
plugins:
$(queue_entry)
  - name: producer
    module: $KEEL_TEST_PLUGIN_DIR/test_producer.so
    config: {queue: queue, producers: 1, count: 1, prefix: good, bodies: [bad-1, bad-2, bad-3]}
  - name: step
    module: $KEEL_TEST_PLUGIN_DIR/test_step.so
    config: {fail_on: [bad-1, bad-2, bad-3]}
$(http_plugin_entry "queue: queue")
pipelines:
  - {name: orders, queue: queue, steps: [step], batch_size: 1}
YAML
http_up fill || { finish; exit; }
Q=$BASE/api/v1/admin/queues
dlq_full() {
  curl -s "$Q" | python3 -c '
import json, sys
q = json.load(sys.stdin)["queues"][0]
sys.exit(0 if q["dlq_depth"] == 3 and q["visible"] == 0 and q["in_flight"] == 0 else 1)'
}
wait_until 30 dlq_full && pass "three failed messages reached the DLQ" || fail "DLQ not filled: $(curl -s "$Q")"
check "GET /api/v1/admin/queues" 200 "$Q"
python3 - "$BODY" <<'PY' && pass "queue stats have every field" || fail "stats: $(cat "$BODY")"
import json, sys
q = json.load(open(sys.argv[1]))["queues"][0]
assert q["name"] == "orders" and q["dlq_depth"] == 3
for k in ("visible", "in_flight", "delayed", "oldest_age_seconds"):
    assert k in q, k
c = q["counters"]
assert c["sent"] == 4 and c["dead_lettered"] == 3 and c["deleted"] == 1, c
PY
check "DLQ list" 200 "$Q/orders/dlq"
cp "$BODY" "$TEST_DIR/dlq1.json"
check "DLQ list again" 200 "$Q/orders/dlq"
python3 - "$TEST_DIR/dlq1.json" "$BODY" <<'PY' && pass "listing twice gives the same 3 entries with all fields (peek does not consume)" || fail "DLQ list: $(cat "$BODY")"
import json, re, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert a == b and len(a["messages"]) == 3 and a["next_cursor"] is None
bodies = sorted(m["body"] for m in a["messages"])
assert bodies == ["bad-1", "bad-2", "bad-3"], bodies
ts = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
for m in a["messages"]:
    assert len(m["message_id"]) == 26 and m["receive_count"] >= 1
    assert "fail_on" in m["last_error"] and m["failed_step"] == "step", m
    assert ts.match(m["sent_at"]) and ts.match(m["dead_lettered_at"]), m
PY
check "DLQ page of 2" 200 "$Q/orders/dlq?limit=2"
cursor=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["messages"])==2; print(d["next_cursor"])' "$BODY" || true)
[ -n "$cursor" ] && [ "$cursor" != None ] && pass "limit=2 gives 2 entries and a next_cursor" || fail "page: $(cat "$BODY")"
check "DLQ next page" 200 --get --data-urlencode "cursor=$cursor" "$Q/orders/dlq"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["messages"])==1 and d["next_cursor"] is None' "$BODY" &&
  pass "the cursor gives the last entry and next_cursor null" || fail "next page: $(cat "$BODY")"
check "bad limit" 400 "$Q/orders/dlq?limit=0"
check "unknown queue (list)" 404 "$Q/nope/dlq"
is_error_json not_found
check "unknown queue (redrive)" 404 -X POST "$Q/nope/dlq/redrive"
check "unknown queue (purge)" 404 -X DELETE "$Q/nope/dlq"
http_down fill

# Same data without the failing pipeline: redrive one id, purge the rest.
queue_admin_up admin
id=$(curl -s "$Q/orders/dlq" | python3 -c 'import json,sys; print([m["message_id"] for m in json.load(sys.stdin)["messages"] if m["body"]=="bad-1"][0])' || true)
check "redrive one id" 200 -H 'Content-Type: application/json' -d "{\"ids\": [\"$id\"], \"rate_per_second\": 10}" "$Q/orders/dlq/redrive"
body_has '^\{"moved":1\}$' "redrive answers {\"moved\":1}"
check "stats after redrive" 200 "$Q"
body_has '"visible":1,.*"dlq_depth":2' "the redriven message is visible again, 2 left in the DLQ"
check "purge the DLQ" 200 -X DELETE "$Q/orders/dlq"
body_has '^\{"deleted":2\}$' "purge answers {\"deleted\":2}"
check "DLQ after purge" 200 "$Q/orders/dlq"
body_has '"messages":\[\]' "the DLQ is empty"
check "stats after purge" 200 "$Q"
body_has '"visible":1,.*"dlq_depth":0' "the queue keeps the redriven message"
http_down admin
finish
