#!/usr/bin/env bash
# Scale-out on one DynamoDB table: one dynalite, two keelds started at the
# same time from conf/dynamodb.yaml (separate data dirs and ports, the same
# KEEL_DYNAMODB_TABLE; both may try to create the table). KEEL_DDB_SCALE_ORDERS
# (1000) orders are POSTed to each node concurrently (distinct id prefixes).
# Then:
#  - every order is CONFIRMED, seen through either node;
#  - the confirmation numbers are distinct across both nodes and Damm-valid;
#  - each node's listings hold exactly the orders of both nodes' customers,
#    each once, newest first; each node's GET finds orders stored through
#    the other; re-POSTing an order to the other node answers 200 with the
#    same number (and another payload 409);
#  - both queues drain with empty DLQs; no errors logged; both exit 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/dynamodb_lib.sh"

ORDERS=${KEEL_DDB_SCALE_ORDERS:-1000}
CONCURRENCY=${KEEL_DDB_SCALE_CONCURRENCY:-16}
DEADLINE=${KEEL_DDB_SCALE_DEADLINE:-180}

DPORT=$(free_port)
start_dynalite "$DPORT" || { finish; exit; }

# Both nodes at once: the table bootstrap races.
PORT_A=$(free_port)
PORT_B=$(free_port)
while [ "$PORT_B" = "$PORT_A" ]; do PORT_B=$(free_port); done
launch_ddb_keeld a "$PORT_A" "$DDB_CONF"
launch_ddb_keeld b "$PORT_B" "$DDB_CONF"
if ! wait_ddb_ready a "$PORT_A" || ! wait_ddb_ready b "$PORT_B"; then
  finish
  exit
fi
BASE_A=http://127.0.0.1:$PORT_A
BASE_B=http://127.0.0.1:$PORT_B

# Both nodes take orders at once, each under its own id prefix (orders_load
# derives customers from the prefix too); the checks read both through each.
node "$NODE_TOOL" post --base="$BASE_A" --count="$ORDERS" --concurrency="$CONCURRENCY" --customers=5 \
  --prefix="SA$$" --out="$TEST_DIR/acked.a" >"$TEST_DIR/post.a" 2>&1 &
POST_A=$!
node "$NODE_TOOL" post --base="$BASE_B" --count="$ORDERS" --concurrency="$CONCURRENCY" --customers=5 \
  --prefix="SB$$" --out="$TEST_DIR/acked.b" >"$TEST_DIR/post.b" 2>&1 &
POST_B=$!
EXTRA_PIDS+=("$POST_A" "$POST_B")
wait_exit "$POST_A" $((DEADLINE + 60))
verdicts "$TEST_DIR/post.a"
wait_exit "$POST_B" $((DEADLINE + 60))
verdicts "$TEST_DIR/post.b"
cat "$TEST_DIR/acked.a" "$TEST_DIR/acked.b" >"$TEST_DIR/acked.all"

# All CONFIRMED, each node's orders seen through the other node.
run_to "$TEST_DIR/wait.ab" timeout --kill-after=5 $((DEADLINE + 30)) node "$NODE_TOOL" wait --base="$BASE_B" \
  --acked="$TEST_DIR/acked.a" --deadline="$DEADLINE"
sed -E 's/^(ok|fail) /\1 [node a orders via node b] /' "$TEST_DIR/wait.ab" >"$TEST_DIR/wait.ab.v"
verdicts "$TEST_DIR/wait.ab.v"
run_to "$TEST_DIR/wait.ba" timeout --kill-after=5 $((DEADLINE + 30)) node "$NODE_TOOL" wait --base="$BASE_A" \
  --acked="$TEST_DIR/acked.b" --deadline="$DEADLINE"
sed -E 's/^(ok|fail) /\1 [node b orders via node a] /' "$TEST_DIR/wait.ba" >"$TEST_DIR/wait.ba.v"
verdicts "$TEST_DIR/wait.ba.v"

# Exact listings, distinct numbers across both nodes, GETs and re-POSTs of
# all orders through each node.
for n in a b; do
  base_var=BASE_${n^^}
  run_to "$TEST_DIR/check.$n" timeout --kill-after=5 240 node "$NODE_TOOL" check --base="${!base_var}" \
    --acked="$TEST_DIR/acked.all" --exact --sample=300 --repost=20
  sed -E "s/^(ok|fail) /\1 [via node $n] /" "$TEST_DIR/check.$n" >"$TEST_DIR/check.$n.v"
  verdicts "$TEST_DIR/check.$n.v"
done

# Both nodes show the same number for the same order.
python3 - "$TEST_DIR/acked.all" "$BASE_A" "$BASE_B" >"$TEST_DIR/same.out" 2>&1 <<'PY' || true
import json, random, sys, urllib.request
ids = [l.split()[1] for l in open(sys.argv[1]) if l.startswith('acked ')]
diff = []
sample = random.sample(ids, min(200, len(ids)))
for i in sample:
    got = []
    for base in sys.argv[2:4]:
        with urllib.request.urlopen(f"{base}/api/v1/orders/{i}", timeout=10) as r:
            j = json.load(r)
        got.append((j.get('status'), j.get('confirmation_number'), j.get('created_at')))
    if got[0] != got[1]:
        diff.append(f"{i}: {got[0]} vs {got[1]}")
print(f"ok both nodes answer the same status, number and created_at for {len(sample)} orders" if not diff
      else f"fail nodes disagree: {len(diff)} e.g. {diff[:3]}")
PY
verdicts "$TEST_DIR/same.out"

run_to "$TEST_DIR/items.out" timeout --kill-after=5 120 node "$CROSSCHECK" items --table="$KEEL_DYNAMODB_TABLE" \
  --base="$BASE_A" --acked="$TEST_DIR/acked.all" --sample=100 --customers=4
verdicts "$TEST_DIR/items.out"

for n in a b; do
  base_var=BASE_${n^^}
  if s=$(wait_drained "${!base_var}" 30); then pass "node $n: queue orders drained, DLQ empty"; else fail "node $n: queue not drained (visible in_flight delayed dlq): $s"; fi
done
for n in a b; do
  stop_ddb_keeld "$n"
  errors=$(logged_errors "$TEST_DIR/$n.log")
  if [ -z "$errors" ]; then pass "keeld $n logged no error"; else fail "keeld $n logged errors: $(head -n 5 <<<"$errors")"; fi
done
finish
