#!/usr/bin/env bash
# kill -9 right after the 202s, before the orders' QUEUED records were
# written (they are written lazily: lazy_delay 1s here). The orders are in
# the queue; after the restart keeld rebuilds their records from it, so
# GET /api/v1/orders/{id} finds every one of them. Here they then fail in
# the gate and dead-letter: each must show FAILED with the gate's reason
# (without the rebuilt record it was 404 for good). The gate stalls while
# a file exists and FAILs customer POISON.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/http_lib.sh"
source "$(dirname "$0")/gate_lib.sh"

STALL=$TEST_DIR/stall
N=6
gate_config "$TEST_DIR/lost.yaml" "stall_while: $STALL
stall_max: 60s
fail_attr: \"customer_id=POISON\"" \
  $'    module: store_lmdb\n' $'    module: store_lmdb\n    config: {lazy_delay: 1s}\n' \
  "visibility_timeout: 60s" "visibility_timeout: 2s"

gate_up first "$TEST_DIR/lost.yaml"
touch "$STALL"
accepted=0
for i in $(seq $N); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$(order_json "LOST-$i" POISON)" "$BASE/api/v1/orders" || true)
  [ "$code" = 202 ] && accepted=$((accepted + 1))
done
kill -9 "$KEELD_PID"
wait "$KEELD_PID" 2>/dev/null || true
[ "$accepted" = $N ] && pass "$N orders accepted (202), then kill -9 at once" || fail "only $accepted of $N accepted"

rm -f "$STALL"
gate_up second "$TEST_DIR/lost.yaml"
all_failed() {
  for i in $(seq $N); do
    [ "$(order_status "LOST-$i")" = FAILED ] || return 1
  done
}
if wait_until 30 all_failed; then
  pass "after the restart all $N orders are found, dead-lettered by the gate: $(curl -s "$BASE/api/v1/orders/LOST-1" | head -c 200)"
else
  got=""
  for i in $(seq $N); do got+="LOST-$i=$(order_status "LOST-$i") "; done
  fail "orders after the crash and restart: $got"
fi
grep -q "recovered [1-9][0-9]* QUEUED order record(s) lost in a crash" "$TEST_DIR/second.log" &&
  pass "the log says so: $(grep -o 'recovered [0-9]* QUEUED.*' "$TEST_DIR/second.log")" ||
  fail "no recovery line in the log: $(grep -i recover "$TEST_DIR/second.log" | head -n 3)"
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 30
[ "$STATUS" = 0 ] && pass "second keeld: SIGTERM -> exit 0" || fail "second keeld exit $STATUS"
finish
