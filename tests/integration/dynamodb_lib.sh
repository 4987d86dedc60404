# shellcheck shell=bash
# Helpers for the DynamoDB integration tests (sourced after lib.sh): dynalite
# (tests/node) on a random 127.0.0.1 port, the AWS_* environment keeld and
# the SDK read, keelds started from conf/dynamodb.yaml, all stopped by PID.
# Skips (exit 77) when node or dynalite is not installed.

DYNALITE=$KEEL_SOURCE_DIR/tests/node/node_modules/.bin/dynalite
CROSSCHECK=$KEEL_SOURCE_DIR/tests/node/ddb_crosscheck.mjs
NODE_TOOL=$KEEL_SOURCE_DIR/tests/node/orders_load.mjs
DDB_CONF=$KEEL_SOURCE_DIR/conf/dynamodb.yaml
command -v node >/dev/null || { echo "skip: node is not installed"; exit 77; }
[ -x "$DYNALITE" ] || { echo "skip: dynalite is not installed ($DYNALITE)"; exit 77; }
[ -f "$DDB_CONF" ] || { echo "FAIL - $DDB_CONF is missing"; exit 1; }

DYNALITE_PID=""
EXTRA_PIDS=()
ddb_cleanup() {
  local p
  for p in "${EXTRA_PIDS[@]}"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  if [ -n "$DYNALITE_PID" ] && kill -0 "$DYNALITE_PID" 2>/dev/null; then
    kill -KILL "$DYNALITE_PID" 2>/dev/null || true
    { wait "$DYNALITE_PID"; } 2>/dev/null || true
  fi
  cleanup
}
trap ddb_cleanup EXIT

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# Dummy credentials, the region, no machine AWS set-up; the endpoint is set
# by start_dynalite.
export AWS_ACCESS_KEY_ID=AKIDKEELTEST
export AWS_SECRET_ACCESS_KEY=keel-test-secret
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_SHARED_CREDENTIALS_FILE=$TEST_DIR/no-aws-credentials
export AWS_CONFIG_FILE=$TEST_DIR/no-aws-config
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION AWS_ENDPOINT_URL
export KEEL_DYNAMODB_TABLE=keel-it-$$-$RANDOM

# dynalite_answers PORT: a ListTables gets an HTTP answer.
dynalite_answers() {
  curl -s -o /dev/null --max-time 2 -X POST "http://127.0.0.1:$1/" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'X-Amz-Date: 20150830T123600Z' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00' \
    -d '{}'
}

# start_dynalite PORT [DIR]: dynalite on 127.0.0.1:PORT (persisted in DIR
# when given), waits until it answers (20 s); sets DYNALITE_PID.
start_dynalite() {
  local port=$1 dir=${2:-} log=$TEST_DIR/dynalite.log
  if [ -n "$dir" ]; then
    "$DYNALITE" --host 127.0.0.1 --port "$port" --createTableMs 0 --path "$dir" >>"$log" 2>&1 &
  else
    "$DYNALITE" --host 127.0.0.1 --port "$port" --createTableMs 0 >>"$log" 2>&1 &
  fi
  DYNALITE_PID=$!
  export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$port
  local deadline=$((SECONDS + 20))
  until dynalite_answers "$port"; do
    if ! kill -0 "$DYNALITE_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      fail "dynalite did not answer on port $port: $(tail -n 5 "$log")"
      return 1
    fi
    sleep 0.1
  done
}

# launch_ddb_keeld NAME PORT CONFIG: starts keeld NAME (data in
# $TEST_DIR/NAME, log $TEST_DIR/NAME.log) on 127.0.0.1:PORT; its PID in the
# variable PID_<NAME> (and in EXTRA_PIDS).
launch_ddb_keeld() {
  local name=$1 port=$2 conf=$3 pid
  KEEL_DATA_DIR=$TEST_DIR/$name KEEL_LISTEN=127.0.0.1:$port KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web \
    KEEL_LOG_LEVEL=${KEEL_LOG_LEVEL:-warn} "$KEELD" -c "$conf" 2>"$TEST_DIR/$name.log" &
  pid=$!
  EXTRA_PIDS+=("$pid")
  printf -v "PID_$name" '%s' "$pid"
}

# wait_ddb_ready NAME PORT: waits up to 30 s for keeld NAME's /readyz.
wait_ddb_ready() {
  local name=$1 port=$2 var=PID_$1
  local pid=${!var}
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz"; do
    if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      fail "keeld $name did not become ready on $port: $(tail -n 5 "$TEST_DIR/$name.log") readyz: $(curl -s --max-time 2 "http://127.0.0.1:$port/readyz" | head -c 300)"
      return 1
    fi
    sleep 0.1
  done
  pass "keeld $name is ready on 127.0.0.1:$port (table $KEEL_DYNAMODB_TABLE)"
}

# start_ddb_keeld NAME PORT CONFIG: launch_ddb_keeld, then wait_ddb_ready.
start_ddb_keeld() {
  launch_ddb_keeld "$@"
  wait_ddb_ready "$1" "$2"
}

# stop_ddb_keeld NAME: SIGTERM, expect exit 0 within 30 s.
stop_ddb_keeld() {
  local var=PID_$1
  local pid=${!var}
  kill -TERM "$pid" 2>/dev/null || true
  wait_exit "$pid" 30
  if [ "$STATUS" = 0 ]; then pass "keeld $1: SIGTERM -> exit 0"; else fail "keeld $1: exit $STATUS: $(tail -n 5 "$TEST_DIR/$1.log")"; fi
}

# verdicts FILE: the node tools' "ok ..."/"fail ..." lines into pass/fail.
verdicts() {
  local verdict text any=0
  while read -r verdict text; do
    case $verdict in
    ok) pass "$text"; any=1 ;;
    fail) fail "$text"; any=1 ;;
    esac
  done <"$1"
  [ $any = 1 ] || fail "no verdict from the node tool: $(tail -n 5 "$1")"
}

# queue_state BASE: "visible in_flight delayed dlq_depth" of the orders queue.
queue_state() {
  curl -s --max-time 5 "$1/api/v1/admin/queues" | python3 -c '
import json, sys
q = [q for q in json.load(sys.stdin)["queues"] if q["name"] == "orders"][0]
print(q["visible"], q["in_flight"], q["delayed"], q["dlq_depth"])' 2>/dev/null || echo "? ? ? ?"
}

# wait_drained BASE TIMEOUT_S: nothing visible, in flight, delayed or dead.
wait_drained() {
  local deadline=$((SECONDS + $2)) s
  while :; do
    s=$(queue_state "$1")
    [ "$s" = "0 0 0 0" ] && return 0
    [ $SECONDS -lt $deadline ] || { echo "$s"; return 1; }
    sleep 0.2
  done
}

# logged_errors LOG: error/fatal lines of a keeld log (text format).
logged_errors() { grep -E '^[^ ]+ (error|fatal) ' "$1" || true; }

# conf_without_store FILE: FILE without comments, blank lines and the
# `store` plugin instance (from "- name: store" to the next list item or
# top-level key), trailing blanks trimmed: what must not change between
# conf/keel.yaml and conf/dynamodb.yaml.
conf_without_store() {
  awk '
    { sub(/[ \t]+$/, "") }
    /^[ \t]*#/ || /^[ \t]*$/ { next }
    { line = $0; sub(/[ \t]+#[^"'\''}]*$/, "", line) }
    skip && (line ~ /^[^ ]/ || line ~ "^" indent "- ") { skip = 0 }
    !skip && line ~ /^[ ]*- name:[ ]*"?store"?$/ { skip = 1; indent = line; sub(/-.*/, "", indent); next }
    !skip { print line }
  ' "$1"
}

# store_block FILE: the store instance, comments and blank lines removed.
store_block() {
  awk '
    /^[ \t]*#/ || /^[ \t]*$/ { next }
    on && ($0 ~ /^[^ ]/ || $0 ~ "^" indent "- ") { on = 0 }
    $0 ~ /^[ ]*- name:[ ]*"?store"?[ \t]*$/ { on = 1; indent = $0; sub(/-.*/, "", indent) }
    on { print }
  ' "$1"
}
