#!/usr/bin/env bash
# /metrics against a Prometheus text-format parser: keeld with conf/keel.yaml
# is scraped, orders flow (N accepted and confirmed, one refused with 422),
# and it is scraped again; tests/node/metrics_check.mjs parses both scrapes
# with parse-prometheus-text-format and a strict reader of its own, checks
# that queue, HTTP, pipeline, store and confirm series exist, and that the
# counters the orders drive moved. Skips (77) without node or the parser
# (`npm ci` in tests/node).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

NODE_DIR=$KEEL_SOURCE_DIR/tests/node
command -v node >/dev/null || { echo "skip: node is not installed"; exit 77; }
[ -d "$NODE_DIR/node_modules/parse-prometheus-text-format" ] ||
  { echo "skip: parse-prometheus-text-format missing: run 'npm ci' in $NODE_DIR"; exit 77; }

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

check "GET /metrics (before)" 200 "$BASE/metrics"
cp "$BODY" "$TEST_DIR/before.prom"
ctype=$(header Content-Type)
[[ "$ctype" == text/plain* && "$ctype" == *version=0.0.4* ]] &&
  pass "Content-Type: $ctype" || fail "Content-Type should be text/plain; version=0.0.4, is '$ctype'"

N=8
accepted=0
for i in $(seq 1 $N); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$(order_json "MET-$$-$i" CUST-MET)" "$BASE/api/v1/orders")
  [ "$code" = 202 ] && accepted=$((accepted + 1))
done
[ "$accepted" = $N ] && pass "$N orders accepted (202)" || fail "only $accepted of $N orders got 202"
check "an invalid order is refused" 422 -H 'Content-Type: application/json' --data-binary '{"orderId":"x"}' "$BASE/api/v1/orders"

# Wait until the pipeline has settled them all (by the counter itself).
deadline=$((SECONDS + 30))
while :; do
  ok_count=$(curl -s "$BASE/metrics" | awk '/^keel_pipeline_messages_total\{/ && /pipeline="orders"/ && /result="ok"/ {print $2}')
  [ "${ok_count:-0}" -ge "$accepted" ] 2>/dev/null && break
  [ $SECONDS -lt $deadline ] || break
  sleep 0.1
done
[ "${ok_count:-0}" -ge "$accepted" ] && pass "the pipeline settled the $accepted orders OK" ||
  fail "pipeline ok count is '$ok_count', want $accepted"

check "GET /metrics (after)" 200 "$BASE/metrics"
cp "$BODY" "$TEST_DIR/after.prom"
if timeout 60 node "$NODE_DIR/metrics_check.mjs" "$TEST_DIR/before.prom" "$TEST_DIR/after.prom" "$accepted"; then
  pass "metrics_check.mjs"
else
  fail "metrics_check.mjs (exit $?); the scrape: $(head -c 400 "$TEST_DIR/after.prom")"
fi
http_down metrics
finish
