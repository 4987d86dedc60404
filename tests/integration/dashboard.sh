#!/usr/bin/env bash
# The dashboard (web/dashboard.html) in a real browser: keeld with
# conf/keel.yaml plus a poison gate ([confirm, gate, store], as in
# orders_poison.sh) and a DLQ alarm (threshold 0), orders flowing in the
# background and one poison order dead-lettered. Chromium (playwright-core)
# opens the dashboard from the order page's link, waits until every chart has
# points, checks tiles, the queue table, the dead letter with its reason and
# the FIRING alarm, and saves a screenshot to <build>/browser/dashboard.png.
# Skips (77) when chromium, node or playwright-core is missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

CHROMIUM=${KEEL_CHROMIUM:-/usr/bin/chromium}
NODE_DIR=$KEEL_SOURCE_DIR/tests/node
STEP_SO=$KEEL_TEST_PLUGIN_DIR/test_step.so
[ -x "$CHROMIUM" ] || { echo "skip: no chromium at $CHROMIUM"; exit 77; }
command -v node >/dev/null || { echo "skip: node is not installed"; exit 77; }
[ -d "$NODE_DIR/node_modules/playwright-core" ] ||
  { echo "skip: playwright-core missing: run 'npm ci' in $NODE_DIR"; exit 77; }
[ -f "$STEP_SO" ] || { echo "test plugin not built: $STEP_SO"; exit 77; }
[ -f "$PLUGIN_BUILD_DIR/alarm.so" ] || { echo "alarm plugin not built"; exit 77; }

SHOT_DIR=$(dirname "$(dirname "$KEELD")")/browser
mkdir -p "$SHOT_DIR"
SHOT=$SHOT_DIR/dashboard.png
rm -f "$SHOT"

CONFIG=$TEST_DIR/dashboard.yaml
python3 - "$KEEL_SOURCE_DIR/conf/keel.yaml" "$CONFIG" "$STEP_SO" <<'PY'
import sys
src, dst, so = sys.argv[1:]
text = open(src).read()
# conf/keel.yaml's own alarm instance gives way to the test's.
import re
text, n = re.subn(r"\n  - name: alarm\n    module: alarm\n(?:      .*\n|    config:\n)*", "\n", text)
assert n == 1, "conf/keel.yaml has no alarm instance to replace"
extra = f"""  - name: gate
    module: {so}
    config:
      fail_attr: "customer_id=POISON"

  - name: alarm
    module: alarm
    config:
      queue: queue
      rules:
        - name: orders-dlq
          queue_name: orders
          dlq_threshold: 0
          period: 1s

pipelines:
"""
assert text.count("\npipelines:\n") == 1 and text.count("steps: [confirm, store]") == 1, "conf/keel.yaml changed shape"
text = text.replace("pipelines:\n", extra, 1).replace("steps: [confirm, store]", "steps: [confirm, gate, store]")
open(dst, "w").write(text)
PY

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
LOG=$TEST_DIR/keeld.log
KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web KEEL_LOG_LEVEL=warn \
  start_keeld "$CONFIG" "$LOG"
deadline=$((SECONDS + 30))
until curl -sf -o /dev/null "$BASE/readyz"; do
  if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    fail "keeld did not become ready: $(tail -n 5 "$LOG")"
    finish
    exit
  fi
  sleep 0.1
done
pass "keeld with a poison gate and a DLQ alarm is ready on $BASE"

check "GET /dashboard.html" 200 "$BASE/dashboard.html"
check "GET /dashboard.js" 200 "$BASE/dashboard.js"
check "GET /dashboard.css" 200 "$BASE/dashboard.css"

check "POST a poison order" 202 -H 'Content-Type: application/json' \
  --data-binary "$(order_json "POISON-$$" POISON)" "$BASE/api/v1/orders"

# Orders keep flowing while the page watches (a few per second for ~40 s),
# with a poison one now and then.
(
  for i in $(seq 1 200); do
    id=DASH-$$-$i customer=CUST-DASH$((i % 7))
    [ $((i % 40)) = 0 ] && id=POISON-$id customer=POISON
    curl -s -o /dev/null --max-time 5 -H 'Content-Type: application/json' \
      --data-binary "$(order_json "$id" "$customer")" "$BASE/api/v1/orders" || true
    sleep 0.2
  done
) &
LOAD_PID=$!
trap 'kill "$LOAD_PID" 2>/dev/null || true; cleanup' EXIT

if timeout --kill-after=5 120 node "$NODE_DIR/dashboard_test.mjs" "$BASE" "$SHOT"; then
  pass "dashboard browser test"
else
  fail "dashboard browser test (exit $?)"
fi
kill "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
[ -s "$SHOT" ] && pass "screenshot: $SHOT" || fail "no screenshot at $SHOT"
http_down dashboard
grep -E ' (error|fatal) ' "$LOG" | head -n 5 || true
finish
