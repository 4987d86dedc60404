#!/usr/bin/env bash
# The order pipeline end to end on DynamoDB (dynalite): conf/dynamodb.yaml is
# conf/keel.yaml with only the store instance swapped (store_dynamodb, table
# ${KEEL_DYNAMODB_TABLE:-keel-orders}, create_table: true); keeld on it
# creates the table and becomes ready. Then the flow of orders_e2e.sh with
# KEEL_DDB_E2E_ORDERS (2000) orders (KEEL_DDB_E2E_CONCURRENCY 32, 10
# customers): all 202, all CONFIRMED within KEEL_DDB_E2E_DEADLINE (180) s,
# distinct Damm-valid numbers, listings exact and newest first, GETs return
# the orders sent, re-POSTs answer 200/409. Then @aws-sdk/client-dynamodb
# (tests/node/ddb_crosscheck.mjs) checks the table (key, GSI), the items keel
# wrote (GetItem, GSI Query: attribute names and types, CONFIRMED, numbers
# as keel's GET shows), and that items the SDK writes are read, listed and
# replayed by keel. The queue drains; keeld logs no error and exits 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/dynamodb_lib.sh"

ORDERS=${KEEL_DDB_E2E_ORDERS:-2000}
CONCURRENCY=${KEEL_DDB_E2E_CONCURRENCY:-32}
CUSTOMERS=${KEEL_DDB_E2E_CUSTOMERS:-10}
DEADLINE=${KEEL_DDB_E2E_DEADLINE:-180}
SAMPLE=${KEEL_DDB_E2E_SAMPLE:-200}

# 1. The config: conf/keel.yaml with only the store instance swapped.
if diff <(conf_without_store "$KEEL_SOURCE_DIR/conf/keel.yaml") <(conf_without_store "$DDB_CONF") >"$TEST_DIR/conf.diff"; then
  pass "conf/dynamodb.yaml equals conf/keel.yaml but for the store instance ($(conf_without_store "$DDB_CONF" | wc -l) lines compared)"
else
  fail "conf/dynamodb.yaml differs from conf/keel.yaml outside the store instance: $(head -n 20 "$TEST_DIR/conf.diff")"
fi
[ "$(conf_without_store "$DDB_CONF" | wc -l)" -gt 20 ] || fail "the config comparison compared almost nothing"
store_block "$DDB_CONF" >"$TEST_DIR/store.block"
if grep -Eq '^[ ]+module:[ ]*"?store_dynamodb"?[ ]*$' "$TEST_DIR/store.block" &&
  grep -Eq '^[ ]+table:[ ]*"?\$\{KEEL_DYNAMODB_TABLE:-keel-orders\}"?[ ]*$' "$TEST_DIR/store.block" &&
  grep -Eq '^[ ]+create_table:[ ]*true[ ]*$' "$TEST_DIR/store.block"; then
  pass "its store instance is module store_dynamodb, table \${KEEL_DYNAMODB_TABLE:-keel-orders}, create_table true"
else
  fail "the store instance of conf/dynamodb.yaml: $(tr '\n' '|' <"$TEST_DIR/store.block")"
fi
grep -Eq '^[ ]+module:[ ]*store_lmdb' <(store_block "$KEEL_SOURCE_DIR/conf/keel.yaml") ||
  fail "conf/keel.yaml's store instance is not store_lmdb"
if KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web "$KEELD" --check-config "$DDB_CONF" >"$TEST_DIR/check.out" 2>&1; then
  pass "keeld --check-config conf/dynamodb.yaml"
else
  fail "keeld --check-config conf/dynamodb.yaml: $(tail -n 5 "$TEST_DIR/check.out")"
fi

# 2. dynalite, then keeld: the table is created.
DPORT=$(free_port)
start_dynalite "$DPORT" || { finish; exit; }
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
start_ddb_keeld node "$PORT" "$DDB_CONF" || { finish; exit; }
run_to "$TEST_DIR/table.out" timeout 60 node "$CROSSCHECK" table --table="$KEEL_DYNAMODB_TABLE"
verdicts "$TEST_DIR/table.out"
curl -s --max-time 5 "$BASE/readyz" >"$TEST_DIR/readyz" || true
pass "readyz: $(head -c 300 "$TEST_DIR/readyz")"

# 3. The orders_e2e flow.
ACKED=$TEST_DIR/acked
started=$(date +%s%N)
run_to "$TEST_DIR/post.out" timeout --kill-after=5 $((DEADLINE + 60)) node "$NODE_TOOL" post --base="$BASE" \
  --count="$ORDERS" --concurrency="$CONCURRENCY" --customers="$CUSTOMERS" --prefix="DDB$$" --out="$ACKED"
verdicts "$TEST_DIR/post.out"
[ "$STATUS" = 0 ] || fail "the load client exited with $STATUS: $(tail -n 3 "$TEST_DIR/post.out")"
grep '^\[' "$TEST_DIR/post.out" || true
run_to "$TEST_DIR/wait.out" timeout --kill-after=5 $((DEADLINE + 30)) node "$NODE_TOOL" wait --base="$BASE" \
  --acked="$ACKED" --deadline="$DEADLINE"
verdicts "$TEST_DIR/wait.out"
echo "timing: $ORDERS orders CONFIRMED $((($(date +%s%N) - started) / 1000000)) ms after the first POST"
run_to "$TEST_DIR/check.out" timeout --kill-after=5 240 node "$NODE_TOOL" check --base="$BASE" \
  --acked="$ACKED" --exact --sample="$SAMPLE" --repost=20
verdicts "$TEST_DIR/check.out"

# 4. The cross-check with the AWS SDK.
run_to "$TEST_DIR/items.out" timeout --kill-after=5 180 node "$CROSSCHECK" items --table="$KEEL_DYNAMODB_TABLE" \
  --base="$BASE" --acked="$ACKED" --sample="$SAMPLE" --customers=3
verdicts "$TEST_DIR/items.out"
run_to "$TEST_DIR/foreign.out" timeout --kill-after=5 120 node "$CROSSCHECK" foreign --table="$KEEL_DYNAMODB_TABLE" \
  --base="$BASE" --prefix="SDK$$" --acked="$ACKED"
verdicts "$TEST_DIR/foreign.out"

# 5. Drained, no errors, clean exit.
if s=$(wait_drained "$BASE" 30); then pass "queue orders drained, DLQ empty"; else fail "queue orders not drained (visible in_flight delayed dlq): $s"; fi
stop_ddb_keeld node
errors=$(logged_errors "$TEST_DIR/node.log")
if [ -z "$errors" ]; then pass "keeld logged no error"; else fail "keeld logged errors: $(head -n 5 <<<"$errors")"; fi
finish
