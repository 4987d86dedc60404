#!/usr/bin/env bash
# The DLQ alarm (plugins/alarm): conf/keel.yaml's pipeline with a poison gate,
# [confirm, gate, store] as in orders_poison.sh, plus an `alarm` instance
# watching the orders DLQ (threshold 5, period 1s) with a webhook on a tiny
# HTTP server written here that records every POST body.
#  1. Webhook up: 6 poison orders -> the alarm fires (WARN line, gauge
#     keel_alarm_firing 1, webhook FIRING with dlq_depth 6); a DLQ purge
#     through the admin API clears it (INFO line, gauge 0, webhook OK).
#  2. Webhook down at first: the alarm fires, the webhook is retried with
#     backoff (retry counter and log), the server comes up and gets FIRING;
#     the cause is removed, a redrive drains the DLQ, and OK follows.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

STEP_SO=$KEEL_TEST_PLUGIN_DIR/test_step.so
ALARM_SO=$PLUGIN_BUILD_DIR/alarm.so
[ -f "$STEP_SO" ] || { echo "test plugin not built: $STEP_SO"; exit 77; }
[ -f "$ALARM_SO" ] || { echo "alarm plugin not built: $ALARM_SO"; exit 77; }
POISON_FILE=$TEST_DIR/poison-on
HOOK_LOG=$TEST_DIR/hook.jsonl
HOOK_PID=""

# The webhook receiver: appends each POST body as one line to $HOOK_LOG.
cat >"$TEST_DIR/hook.py" <<'PY'
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Hook).serve_forever()
PY
hook_up() {
  python3 "$TEST_DIR/hook.py" "$HOOK_PORT" "$HOOK_LOG" &
  HOOK_PID=$!
  local deadline=$((SECONDS + 10))
  until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$HOOK_PORT" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { fail "the webhook receiver did not start"; return 1; }
    sleep 0.05
  done
}
hook_down() {
  if [ -n "$HOOK_PID" ]; then
    kill "$HOOK_PID" 2>/dev/null || true
    wait "$HOOK_PID" 2>/dev/null || true
    HOOK_PID=""
  fi
}
trap 'hook_down; cleanup' EXIT

# make_config NAME: conf/keel.yaml + the gate + the alarm, into $TEST_DIR/NAME.yaml.
make_config() {
  python3 - "$KEEL_SOURCE_DIR/conf/keel.yaml" "$TEST_DIR/$1.yaml" "$STEP_SO" "$POISON_FILE" \
    "http://127.0.0.1:$HOOK_PORT/hook" <<'PY'
import sys
src, dst, so, poison, hook = sys.argv[1:]
text = open(src).read()
# conf/keel.yaml's own alarm instance gives way to the test's.
import re
text, n = re.subn(r"\n  - name: alarm\n    module: alarm\n(?:      .*\n|    config:\n)*", "\n", text)
assert n == 1, "conf/keel.yaml has no alarm instance to replace"
extra = f"""  - name: gate
    module: {so}
    config:
      fail_attr: "customer_id=POISON"
      fail_while: {poison}

  - name: alarm
    module: alarm
    config:
      queue: queue
      webhook_backoff: 200ms
      webhook_backoff_max: 1s
      webhook_attempts: 20
      webhook_timeout: 2s
      rules:
        - name: orders-dlq
          queue_name: orders
          dlq_threshold: 5
          period: 1s
          webhook: {hook}

pipelines:
"""
assert text.count("\npipelines:\n") == 1 and text.count("steps: [confirm, store]") == 1, "conf/keel.yaml changed shape"
text = text.replace("pipelines:\n", extra, 1).replace("steps: [confirm, store]", "steps: [confirm, gate, store]")
open(dst, "w").write(text)
PY
}

# keeld_up NAME: starts keeld with $TEST_DIR/NAME.yaml (fresh data) and waits for /readyz.
keeld_up() {
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  LOG=$TEST_DIR/$1.log
  rm -rf "$TEST_DIR/data"
  KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web KEEL_LOG_LEVEL=info \
    start_keeld "$TEST_DIR/$1.yaml" "$LOG"
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null "$BASE/readyz"; do
    if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      fail "$1: keeld did not become ready: $(tail -n 5 "$LOG")"
      return 1
    fi
    sleep 0.1
  done
  pass "$1: keeld with the gate and the alarm is ready on $BASE"
}


# post_poison N TAG: N poison orders, each answered 202.
post_poison() {
  local n=$1 tag=$2 ok=0 code
  for i in $(seq 1 "$n"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      --data-binary "$(order_json "POISON-$tag-$i" POISON)" "$BASE/api/v1/orders")
    [ "$code" = 202 ] && ok=$((ok + 1))
  done
  [ "$ok" = "$n" ] && pass "$n poison orders accepted (202)" || fail "only $ok of $n poison orders got 202"
}

# gauge_is VALUE TIMEOUT_S: polls /metrics until keel_alarm_firing{alarm="orders-dlq"} is VALUE.
gauge_is() {
  local want=$1 deadline=$((SECONDS + $2)) line
  while :; do
    line=$(curl -s "$BASE/metrics" | grep -E '^keel_alarm_firing\{' | grep 'alarm="orders-dlq"' | grep 'queue="orders"' || true)
    [ "${line##* }" = "$want" ] && return 0
    [ $SECONDS -lt $deadline ] || { echo "# last gauge line: '$line'"; return 1; }
    sleep 0.2
  done
}

# hook_has STATE DEPTH_EXPR TIMEOUT_S: waits for a webhook body in state STATE
# whose dlq_depth satisfies the Python expression DEPTH_EXPR (on d).
hook_has() {
  local state=$1 expr=$2 deadline=$((SECONDS + $3))
  while :; do
    if [ -f "$HOOK_LOG" ] && python3 - "$HOOK_LOG" "$state" "$expr" <<'PY'
import json, re, sys
path, state, expr = sys.argv[1:]
for line in open(path):
    d = json.loads(line)
    if d.get("state") != state:
        continue
    assert d["alarm"] == "orders-dlq" and d["queue"] == "orders" and d["threshold"] == 5, d
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", d["at"]), d
    assert isinstance(d["dlq_depth"], int), d
    if eval(expr):
        sys.exit(0)
sys.exit(1)
PY
    then return 0; fi
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

HOOK_PORT=$(free_port)

# ---- 1. webhook up; cleared by a purge ----
touch "$POISON_FILE"
make_config up
hook_up
if keeld_up up; then
  gauge_is 0 10 && pass "before any failure: keel_alarm_firing{alarm=\"orders-dlq\",queue=\"orders\"} 0 in /metrics" ||
    fail "the alarm gauge should be 0 at start"
  post_poison 5 a
  sleep 2.5 # two evaluations with 5 in the DLQ (once they are there): must not fire
  python3 -c 'import json,sys; q=[q for q in json.load(open(sys.argv[1]))["queues"] if q["name"]=="orders"][0]; sys.exit(0 if q["dlq_depth"]<=5 else 1)' <(curl -s "$BASE/api/v1/admin/queues") &&
    ! grep -q 'FIRING' "$LOG" && pass "5 dead letters (= threshold): no alarm" || fail "fired at 5: $(grep FIRING "$LOG" | head -n 2)"
  post_poison 1 b
  if wait_for_file_match "$LOG" 'alarm orders-dlq FIRING' 20; then
    pass "WARN log line: $(grep 'alarm orders-dlq FIRING' "$LOG" | head -n 1)"
  else
    fail "no FIRING log line: $(tail -n 5 "$LOG")"
  fi
  grep 'alarm orders-dlq FIRING' "$LOG" | grep -qiE '\bwarn' && pass "the FIRING line is logged at WARN" ||
    fail "the FIRING line is not at WARN: $(grep 'alarm orders-dlq FIRING' "$LOG" | head -n 1)"
  gauge_is 1 10 && pass "keel_alarm_firing{alarm=\"orders-dlq\",queue=\"orders\"} 1 in /metrics" ||
    fail "the alarm gauge did not become 1"
  hook_has FIRING 'd["dlq_depth"] == 6' 15 && pass "webhook received {state: FIRING, dlq_depth: 6, threshold: 5}" ||
    fail "webhook: no FIRING body: $(cat "$HOOK_LOG" 2>/dev/null)"
  [ "$(grep -c FIRING "$HOOK_LOG" 2>/dev/null)" = 1 ] && pass "exactly one FIRING notification while it keeps firing" ||
    fail "FIRING notifications: $(cat "$HOOK_LOG")"

  check "purge the DLQ through the admin API" 200 -X DELETE "$BASE/api/v1/admin/queues/orders/dlq"
  wait_for_file_match "$LOG" 'alarm orders-dlq OK' 15 &&
    pass "INFO log line: $(grep 'alarm orders-dlq OK' "$LOG" | head -n 1)" || fail "no clear log line: $(tail -n 5 "$LOG")"
  grep 'alarm orders-dlq OK' "$LOG" | grep -qiE '\binfo' && pass "the clear line is logged at INFO" ||
    fail "the clear line is not at INFO"
  gauge_is 0 10 && pass "after the purge: keel_alarm_firing 0" || fail "the gauge did not go back to 0"
  hook_has OK 'd["dlq_depth"] == 0' 15 && pass "webhook received {state: OK, dlq_depth: 0}" ||
    fail "webhook: no OK body: $(cat "$HOOK_LOG" 2>/dev/null)"
  python3 -c 'import json,sys; s=[json.loads(l)["state"] for l in open(sys.argv[1])]; sys.exit(0 if s == ["FIRING", "OK"] else 1)' "$HOOK_LOG" &&
    pass "webhook bodies in order: FIRING, OK" || fail "webhook bodies: $(cat "$HOOK_LOG")"
  http_down up
fi
hook_down

# ---- 2. webhook down at first: retried; cleared by a redrive ----
rm -f "$HOOK_LOG"
HOOK_PORT=$(free_port)
make_config down
touch "$POISON_FILE"
if keeld_up down; then
  post_poison 6 c
  wait_for_file_match "$LOG" 'alarm orders-dlq FIRING' 20 && pass "fires with the webhook down" ||
    fail "no FIRING log line: $(tail -n 5 "$LOG")"
  gauge_is 1 10 && pass "gauge 1 with the webhook down" || fail "gauge not 1"
  wait_for_file_match "$LOG" 'webhook .* attempt [0-9]+ failed .*retrying in' 15 &&
    pass "a failed attempt is logged and retried: $(grep -oE 'webhook .* attempt [0-9]+ failed.*' "$LOG" | head -n 1)" ||
    fail "no retry log line: $(grep webhook "$LOG" | head -n 3)"
  sleep 1
  retries=$(curl -s "$BASE/metrics" | awk '/^keel_alarm_webhook_retries_total\{/ {print $2}')
  [ -n "$retries" ] && [ "${retries%%.*}" -ge 2 ] && pass "keel_alarm_webhook_retries_total is $retries" ||
    fail "retries counter: '$retries'"
  [ ! -s "$HOOK_LOG" ] && pass "nothing delivered while the receiver is down" || fail "delivered while down?"
  hook_up
  hook_has FIRING 'd["dlq_depth"] == 6' 15 && pass "once the receiver is up, a retry delivers FIRING" ||
    fail "FIRING not delivered after the receiver came up: $(grep webhook "$LOG" | tail -n 3)"
  rm -f "$POISON_FILE"
  check "redrive the DLQ (the gate lets them through now)" 200 -H 'Content-Type: application/json' --data-binary '{}' \
    "$BASE/api/v1/admin/queues/orders/dlq/redrive"
  gauge_is 0 20 && pass "after the redrive: gauge 0" || fail "gauge did not clear after the redrive"
  hook_has OK 'd["dlq_depth"] <= 5' 15 && pass "webhook received OK after the redrive" ||
    fail "no OK webhook after the redrive: $(cat "$HOOK_LOG")"
  curl -s "$BASE/metrics" | grep -E '^keel_alarm_webhook_deliveries_total\{.*result="delivered"' | grep -qE ' 2$' &&
    pass "keel_alarm_webhook_deliveries_total{result=\"delivered\"} 2" ||
    fail "deliveries: $(curl -s "$BASE/metrics" | grep keel_alarm_webhook)"
  http_down down
fi
hook_down

# ---- 3. config errors are refused at start ----
cat >"$TEST_DIR/bad.yaml" <<YAML
$(sed -n '/^kernel:/,/^plugins:/p' "$KEEL_SOURCE_DIR/conf/keel.yaml" | sed "s|\${KEEL_DATA_DIR:-./var}|$TEST_DIR/bad-data|")
  - name: queue
    module: queue_lmdb
    config:
      queues: [{name: orders}]
  - name: alarm
    module: alarm
    config:
      queue: queue
      rules: [{queue_name: nope, dlq_threshold: 5}]
YAML
run_to "$TEST_DIR/bad.out" timeout 20 "$KEELD" -c "$TEST_DIR/bad.yaml"
[ "$STATUS" != 0 ] && grep -q "no queue 'nope'" "$TEST_DIR/bad.out" &&
  pass "a rule naming an unknown queue stops start-up: $(grep -o "rules.*nope'" "$TEST_DIR/bad.out" | head -n 1)" ||
  fail "unknown queue: exit $STATUS: $(tail -n 3 "$TEST_DIR/bad.out")"
sed -i "s|rules: .*|rules: [{queue_name: orders, dlq_threshold: 5, webhook: 'ftp://x'}]|" "$TEST_DIR/bad.yaml"
run_to "$TEST_DIR/bad.out" timeout 20 "$KEELD" -c "$TEST_DIR/bad.yaml"
[ "$STATUS" != 0 ] && grep -q "not an http:// or https:// URL" "$TEST_DIR/bad.out" &&
  pass "a non-http webhook is refused" || fail "ftp webhook: exit $STATUS: $(tail -n 3 "$TEST_DIR/bad.out")"
finish
