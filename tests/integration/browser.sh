#!/usr/bin/env bash
# The order page in web/ in a real browser: Debian's chromium driven by
# playwright-core (tests/node, `npm ci` there once) against keeld started
# with conf/keel.yaml. Places an order through the form (a 422 first), waits
# for CONFIRMED and its confirmation number, looks the order up by id and
# by customer, and saves a screenshot to <build>/browser/order.png.
# Skips (77) when chromium, node or playwright-core is missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

CHROMIUM=${KEEL_CHROMIUM:-/usr/bin/chromium}
NODE_DIR=$KEEL_SOURCE_DIR/tests/node
[ -x "$CHROMIUM" ] || { echo "skip: no chromium at $CHROMIUM"; exit 77; }
command -v node >/dev/null || { echo "skip: node is not installed"; exit 77; }
[ -d "$NODE_DIR/node_modules/playwright-core" ] ||
  { echo "skip: playwright-core missing: run 'npm ci' in $NODE_DIR"; exit 77; }

SHOT_DIR=$(dirname "$(dirname "$KEELD")")/browser
mkdir -p "$SHOT_DIR"
SHOT=$SHOT_DIR/order.png
rm -f "$SHOT"

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
LOG=$TEST_DIR/keeld.log
KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web KEEL_LOG_LEVEL=warn \
  start_keeld "$KEEL_SOURCE_DIR/conf/keel.yaml" "$LOG"
deadline=$((SECONDS + 30))
until curl -sf -o /dev/null "$BASE/readyz"; do
  if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    fail "keeld with conf/keel.yaml did not become ready: $(tail -n 5 "$LOG")"
    finish
    exit
  fi
  sleep 0.1
done
pass "keeld with conf/keel.yaml is ready on $BASE"

# The browser run is bounded too: its own waits are, and this is the backstop.
if timeout --kill-after=5 120 node "$NODE_DIR/browser_test.mjs" "$BASE" "$SHOT"; then
  pass "browser test"
else
  fail "browser test (exit $?)"
fi
[ -s "$SHOT" ] && pass "screenshot: $SHOT" || fail "no screenshot at $SHOT"
http_down browser
grep -E ' (error|fatal) ' "$LOG" | head -n 5 || true
finish
