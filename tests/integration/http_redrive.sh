#!/usr/bin/env bash
# One DLQ redrive per queue at a time: while a rate-limited redrive runs,
# another one is refused with 409 (it would bypass the first one's rate);
# once it finished, the next one is accepted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/http_lib.sh"

queue_entry() {
  cat <<YAML
  - name: queue
    module: $QUEUE_SO
    config:
      sweep_interval: 60s
      queues: [{name: orders, visibility_timeout: 2s, max_receives: 1}]
YAML
}
PORT=$(free_port)
{ kernel_header; cat <<YAML; } >"$TEST_DIR/fill.yaml"
plugins:
$(queue_entry)
  - name: producer
    module: $KEEL_TEST_PLUGIN_DIR/test_producer.so
    config: {queue: queue, producers: 1, count: 1, prefix: good, bodies: [bad-1, bad-2, bad-3, bad-4, bad-5]}
  - name: step
    module: $KEEL_TEST_PLUGIN_DIR/test_step.so
    config: {fail_on: [bad-1, bad-2, bad-3, bad-4, bad-5]}
$(http_plugin_entry "queue: queue")
pipelines:
  - {name: orders, queue: queue, steps: [step], batch_size: 1}
YAML
http_up fill || { finish; exit; }
Q=$BASE/api/v1/admin/queues
stats_are() { curl -s "$Q" | grep -q "$1"; }
wait_until 30 stats_are '"visible":0,"in_flight":0,.*"dlq_depth":5' &&
  pass "five failed messages reached the DLQ" || fail "DLQ not filled: $(curl -s "$Q")"
http_down fill

# The same data without the failing pipeline: redriven messages stay visible.
queue_admin_up admin
# The queue gauges are right from the start (the first sweep, every 60 s
# here, no longer sets them), the DLQ's age among them.
gauges_set() { curl -s "$BASE/metrics" | grep -q '^keel_queue_dlq_depth{instance="queue",queue="orders"} 5$'; }
wait_until 10 gauges_set && pass "keel_queue_dlq_depth is 5 at once after the start" ||
  fail "gauges after the start: $(curl -s "$BASE/metrics" | grep '^keel_queue_dlq')"
age_set() { curl -s "$BASE/metrics" | grep -Eq '^keel_queue_dlq_oldest_age_seconds\{instance="queue",queue="orders"\} [0-9.]*[1-9]'; }
wait_until 10 age_set &&
  pass "keel_queue_dlq_oldest_age_seconds is exported: $(curl -s "$BASE/metrics" | grep '^keel_queue_dlq_oldest_age_seconds')" ||
  fail "no DLQ age gauge: $(curl -s "$BASE/metrics" | grep '^keel_queue_dlq')"
# 5 at 1/s take 4 s: longer than the 2 s the route waits before its 202.
check "a redrive at 1/s" 202 -H 'Content-Type: application/json' -d '{"rate_per_second": 1}' "$Q/orders/dlq/redrive"
body_has '^\{"redriving":true\}$' "it runs in the background"
check "a second redrive while it runs" 409 -H 'Content-Type: application/json' -d '{}' "$Q/orders/dlq/redrive"
is_error_json conflict
check "stats while the first one runs" 200 "$Q"
python3 -c 'import json,sys; q=json.load(open(sys.argv[1]))["queues"][0]; sys.exit(0 if q["dlq_depth"] > 0 else 1)' "$BODY" &&
  pass "the refused redrive moved nothing at once: $(grep -o '"visible":[0-9]*' "$BODY"), $(grep -o '"dlq_depth":[0-9]*' "$BODY")" ||
  fail "the DLQ was emptied at once: $(cat "$BODY")"
wait_until 30 stats_are '"visible":5,.*"dlq_depth":0' &&
  pass "the first redrive moved all 5 at its own rate" || fail "after the slow redrive: $(curl -s "$Q")"
# The task ends a moment after its last move (its next step finds nothing).
redrive_accepted() {
  [ "$(curl -s -o "$BODY" -w '%{http_code}' -H 'Content-Type: application/json' -d '{}' "$Q/orders/dlq/redrive")" != 409 ]
}
wait_until 10 redrive_accepted && grep -q '^{"moved":0}$' "$BODY" &&
  pass "once it finished, the next redrive is accepted: $(cat "$BODY")" || fail "the next redrive: $(cat "$BODY")"
http_down admin
finish
