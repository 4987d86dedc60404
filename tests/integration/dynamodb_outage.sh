#!/usr/bin/env bash
# DynamoDB goes away and comes back. keeld runs conf/dynamodb.yaml with the
# orders queue's visibility_timeout shortened to KEEL_DDB_OUTAGE_VISIBILITY
# (15s: longer than the outage plus a dynalite restart, so a message that
# failed during the outage is not received a third time before DynamoDB is
# back; max_receives stays 3), against dynalite persisting in a directory.
# Orders are POSTed continuously (tests/node/orders_load.mjs stream). Then
# dynalite is SIGKILLed for KEEL_DDB_OUTAGE_SECONDS (10):
#  - POSTs keep being answered 202 (the queue accepts; the store catches up);
#  - /readyz answers 503 within 15 s;
#  - nothing reaches the DLQ.
# dynalite restarts on the same port and directory:
#  - /readyz answers 200 again within 30 s;
#  - every order answered 202 reaches CONFIRMED within KEEL_DDB_OUTAGE_DEADLINE
#    (120) s, each listed once, with distinct valid numbers; the queue drains
#    with an empty DLQ; the SDK finds the items as keel shows them.
# (dynalite is not crash-consistent: index entries a SIGKILL left without
# their item are removed, and shown, before the listings are checked; see
# ddb_crosscheck.mjs repair-gsi.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/dynamodb_lib.sh"

OUTAGE=${KEEL_DDB_OUTAGE_SECONDS:-10}
VISIBILITY=${KEEL_DDB_OUTAGE_VISIBILITY:-15s}
DEADLINE=${KEEL_DDB_OUTAGE_DEADLINE:-120}
CONCURRENCY=${KEEL_DDB_OUTAGE_CONCURRENCY:-8}
STREAM_PID=""
STOP=$TEST_DIR/stop

# The test's copy of conf/dynamodb.yaml: only the queue's visibility timeout
# differs.
CONF=$TEST_DIR/outage.yaml
sed -E "s/^([ ]+visibility_timeout:)[ ]*[0-9a-z]+/\1 $VISIBILITY/" "$DDB_CONF" >"$CONF"
grep -q "visibility_timeout: $VISIBILITY" "$CONF" || { fail "could not set visibility_timeout in $CONF"; finish; exit; }
grep -Eq '^[ ]+max_receives: 3' "$CONF" || fail "conf/dynamodb.yaml's orders queue does not have max_receives: 3"

DPORT=$(free_port)
DDB_DIR=$TEST_DIR/dynalite-data
mkdir -p "$DDB_DIR"
start_dynalite "$DPORT" "$DDB_DIR" || { finish; exit; }
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
start_ddb_keeld node "$PORT" "$CONF" || { finish; exit; }

acked_count() { grep -c '^acked ' "$ACKED" 2>/dev/null || true; }
# status_lines: non-202 answers the load client logged so far.
status_lines() { grep -c '^status ' "$ACKED" 2>/dev/null || true; }
readyz_code() { curl -s -o "$TEST_DIR/readyz.body" -w '%{http_code}' --max-time 3 "$BASE/readyz" || echo 000; }

ACKED=$TEST_DIR/acked
: >"$ACKED"
node "$NODE_TOOL" stream --base="$BASE" --concurrency="$CONCURRENCY" --customers=6 --prefix="OUT$$" \
  --out="$ACKED" --stop="$STOP" --max-seconds=$((OUTAGE + 120)) >"$TEST_DIR/stream.out" 2>&1 &
STREAM_PID=$!
EXTRA_PIDS+=("$STREAM_PID")

deadline=$((SECONDS + 30))
until [ "$(acked_count)" -ge 200 ] || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
sleep 1
a0=$(acked_count)
s0=$(status_lines)
[ "$a0" -ge 200 ] && pass "$a0 orders acknowledged before the outage" || fail "only $a0 orders acknowledged in 30 s before the outage: $(tail -n 3 "$ACKED")"

# The outage.
kill -KILL "$DYNALITE_PID"
wait "$DYNALITE_PID" 2>/dev/null || true
DYNALITE_PID=""
t_kill=$SECONDS
not_ready_after=""
while [ $((SECONDS - t_kill)) -lt "$OUTAGE" ]; do
  if [ -z "$not_ready_after" ] && [ "$(readyz_code)" = 503 ]; then
    not_ready_after=$((SECONDS - t_kill))
    cp "$TEST_DIR/readyz.body" "$TEST_DIR/readyz.down"
  fi
  sleep 0.2
done
if [ -z "$not_ready_after" ]; then # bounded: 15 s in all
  until [ $((SECONDS - t_kill)) -ge 15 ]; do
    [ "$(readyz_code)" = 503 ] && { not_ready_after=$((SECONDS - t_kill)); cp "$TEST_DIR/readyz.body" "$TEST_DIR/readyz.down"; break; }
    sleep 0.2
  done
fi
a1=$(acked_count)
s1=$(status_lines)
dlq_during=$(queue_state "$BASE")
if [ -n "$not_ready_after" ]; then
  pass "/readyz answered 503 ${not_ready_after} s after dynalite was killed: $(head -c 200 "$TEST_DIR/readyz.down")"
else
  fail "/readyz never answered 503 within 15 s of the outage (last: $(readyz_code) $(head -c 200 "$TEST_DIR/readyz.body"))"
fi
if [ $((a1 - a0)) -ge 20 ]; then
  pass "$((a1 - a0)) orders answered 202 during the ${OUTAGE} s outage"
else
  fail "only $((a1 - a0)) orders answered 202 during the ${OUTAGE} s outage"
fi
if [ $((s1 - s0)) -eq 0 ]; then
  pass "no POST got another status than 202 during the outage"
else
  fail "$((s1 - s0)) POSTs got another status during the outage, e.g. $(grep '^status ' "$ACKED" | tail -n +$((s0 + 1)) | awk '{print $3}' | sort | uniq -c | tr '\n' ' ') $(grep '^status ' "$ACKED" | tail -n 1 | cut -c1-250)"
fi
read -r _ _ _ dlq <<<"$dlq_during"
[ "$dlq" = 0 ] && pass "DLQ empty at the end of the outage (visible in_flight delayed dlq: $dlq_during)" ||
  fail "DLQ not empty during the outage (visible in_flight delayed dlq: $dlq_during)"

# DynamoDB is back on the same port and data.
start_dynalite "$DPORT" "$DDB_DIR" || { finish; exit; }
t_back=$SECONDS
deadline=$((SECONDS + 30))
until [ "$(readyz_code)" = 200 ] || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
if [ "$(readyz_code)" = 200 ]; then pass "/readyz is 200 again $((SECONDS - t_back)) s after dynalite came back"; else fail "/readyz not 200 within 30 s after dynalite came back: $(head -c 200 "$TEST_DIR/readyz.body")"; fi
sleep 3
touch "$STOP"
wait_exit "$STREAM_PID" 30
[ "$STATUS" = 0 ] && pass "load client stopped: $(tail -n 1 "$TEST_DIR/stream.out")" ||
  fail "load client: $STATUS $(tail -n 3 "$TEST_DIR/stream.out")"
grep -q '^bad202 ' "$ACKED" && fail "malformed 202 answers: $(grep '^bad202 ' "$ACKED" | head -n 3)"
echo "acknowledged: $(acked_count) orders; other statuses: $(grep '^status ' "$ACKED" | awk '{print $3}' | sort | uniq -c | tr '\n' ' ')"

# Everything acknowledged has been processed once the queue is empty: keel
# is idle. dynalite is not crash-consistent (an item and its index entries
# are separate writes): remove index entries the SIGKILL left without their
# item (counted and shown; DynamoDB itself never shows this).
if s=$(wait_drained "$BASE" $((DEADLINE))); then pass "queue orders drained after the outage, DLQ empty"; else
  fail "queue orders not drained (visible in_flight delayed dlq): $s $(curl -s --max-time 5 "$BASE/api/v1/admin/queues/orders/dlq?limit=3" | head -c 400)"
fi
run_to "$TEST_DIR/repair.out" timeout --kill-after=5 120 node "$CROSSCHECK" repair-gsi --table="$KEEL_DYNAMODB_TABLE" --acked="$ACKED"
verdicts "$TEST_DIR/repair.out"
grep '^stale-index ' "$TEST_DIR/repair.out" || true

run_to "$TEST_DIR/wait.out" timeout --kill-after=5 $((DEADLINE + 30)) node "$NODE_TOOL" wait --base="$BASE" \
  --acked="$ACKED" --deadline="$DEADLINE"
verdicts "$TEST_DIR/wait.out"
# Not --exact: a POST whose answer was lost may still have been enqueued.
run_to "$TEST_DIR/check.out" timeout --kill-after=5 240 node "$NODE_TOOL" check --base="$BASE" \
  --acked="$ACKED" --sample=200 --repost=10
verdicts "$TEST_DIR/check.out"
if s=$(wait_drained "$BASE" 30); then pass "queue orders still drained, DLQ empty"; else fail "queue orders (visible in_flight delayed dlq): $s"; fi
run_to "$TEST_DIR/items.out" timeout --kill-after=5 120 node "$CROSSCHECK" items --table="$KEEL_DYNAMODB_TABLE" \
  --base="$BASE" --acked="$ACKED" --sample=100 --customers=6
verdicts "$TEST_DIR/items.out"
stop_ddb_keeld node
errors=$(grep -E '^[^ ]+ fatal ' "$TEST_DIR/node.log" || true)
[ -z "$errors" ] && pass "keeld logged no fatal error ($(grep -Ec '^[^ ]+ error ' "$TEST_DIR/node.log" || true) error lines, expected during the outage)" ||
  fail "keeld logged fatal errors: $(head -n 3 <<<"$errors")"
finish
