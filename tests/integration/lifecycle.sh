#!/usr/bin/env bash
# A running keeld: stops cleanly on SIGTERM and SIGINT in the middle of
# work without losing a message, reopens its log on SIGHUP, enforces grants
# from config, and the default config starts (what `make run` runs).
source "$(dirname "$0")/lib.sh"

busy_config() {
  { kernel_header "$TEST_DIR/data-$1"; cat <<YAML; } >"$TEST_DIR/$1.yaml"
  log_file: $TEST_DIR/$1.log
plugins:
  - name: source
    module: test_ingress
    config: {topic: work, inflight: 128}
  - name: fast
    module: test_capture
    config: {topics: [work]}
  - name: slow
    module: test_capture
    config: {topics: [work], delay: 1ms, async: true}
YAML
}

# stop_during_work SIGNAL
stop_during_work() {
  local sig=$1 log="$TEST_DIR/$1.log"
  busy_config "$sig"
  start_keeld "$TEST_DIR/$sig.yaml" "$TEST_DIR/$sig.stderr"
  if ! wait_for_file_match "$log" "test_ingress: progress published=[0-9]*[1-9]" 30; then
    fail "$sig: no work in progress: $(cat "$log" "$TEST_DIR/$sig.stderr" 2>/dev/null)"
    return
  fi
  kill -"$sig" "$KEELD_PID"
  wait_exit "$KEELD_PID" 60
  local status=$STATUS
  local line
  line=$(grep -E "test_ingress: published=" "$log" || true)
  local published completed
  published=$(sed -nE 's/.*published=([0-9]+) completed=([0-9]+).*/\1/p' <<<"$line")
  completed=$(sed -nE 's/.*published=([0-9]+) completed=([0-9]+).*/\2/p' <<<"$line")
  if [ "$status" = 0 ] && [ -n "$published" ] && [ "$published" -gt 0 ] &&
     [ "$published" = "$completed" ] && grep -q "keel stopped cleanly" "$log" &&
     [ "$(grep -c 'test_capture: handled=' "$log")" = 2 ]; then
    pass "$sig during work: exit 0, every stop and destroy ran, published=$published completed=$completed"
  else
    fail "$sig during work: status $status, $line: $(tail -5 "$log")"
  fi
}

stop_during_work TERM
stop_during_work INT

# SIGHUP reopens the log file after rotation.
busy_config hup
start_keeld "$TEST_DIR/hup.yaml" "$TEST_DIR/hup.stderr"
wait_for_file_match "$TEST_DIR/hup.log" "keel started" 30 || fail "hup: did not start"
mv "$TEST_DIR/hup.log" "$TEST_DIR/hup.log.1"
kill -HUP "$KEELD_PID"
if wait_for_file_match "$TEST_DIR/hup.log" "SIGHUP: log reopened" 20; then
  pass "SIGHUP reopens the log file"
else
  fail "SIGHUP: no new log file"
fi
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 60
status=$STATUS
[ "$status" = 0 ] && grep -q "keel stopped cleanly" "$TEST_DIR/hup.log" &&
  pass "after SIGHUP, SIGTERM still exits 0 and logs to the new file" ||
  fail "after SIGHUP: status $status"

# Grants: without allow, the prober is refused; with allow, it may.
probe_config() {
  { kernel_header "$TEST_DIR/data-probe"; cat <<YAML; } >"$TEST_DIR/$1.yaml"
plugins:
  - {name: mine, module: test_counter}
  - {name: theirs, module: test_counter}
  - name: listener
    module: test_capture
    config: {topics: [allowed, secret]}
  - name: probe
    module: test_prober
    config: {granted_topic: allowed, target: mine, denied_topic: secret, denied_instance: theirs}
$2
YAML
}
probe_run() {
  start_keeld "$TEST_DIR/$1.yaml" "$TEST_DIR/$1.log"
  wait_for_file_match "$TEST_DIR/$1.log" "keel started" 30 || true
  kill -TERM "$KEELD_PID" 2>/dev/null || true
  wait_exit "$KEELD_PID" 30
}
probe_config probe_denied ""
probe_run probe_denied
if grep -q "probe: publish_granted=0 publish_denied=-4 lookup_granted=0 lookup_denied=-4" "$TEST_DIR/probe_denied.log" &&
   grep -q "\[probe\] refused: may not publish to topic 'secret'" "$TEST_DIR/probe_denied.log" &&
   grep -q "\[probe\] refused: may not use services of instance 'theirs'" "$TEST_DIR/probe_denied.log"; then
  pass "ungranted publish and lookup are refused with a log line"
else
  fail "grants: $(cat "$TEST_DIR/probe_denied.log")"
fi
probe_config probe_allowed "    allow: {publish: [secret], services: [theirs]}"
probe_run probe_allowed
if grep -q "probe: publish_granted=0 publish_denied=0 lookup_granted=0 lookup_denied=0" "$TEST_DIR/probe_allowed.log"; then
  pass "allow.publish and allow.services grant what they list"
else
  fail "allow: $(grep -E 'probe' "$TEST_DIR/probe_allowed.log")"
fi

# The default config: what `make run` starts, on a free port.
conf="$KEEL_SOURCE_DIR/conf/keel.yaml"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
export KEEL_DATA_DIR="$TEST_DIR/default" KEEL_LISTEN="127.0.0.1:$port" KEEL_WEB_ROOT="$KEEL_SOURCE_DIR/web"
run_to "$TEST_DIR/default.check" "$KEELD" --check-config "$conf"
[ "$STATUS" = 0 ] && pass "conf/keel.yaml passes --check-config" ||
  fail "conf/keel.yaml: $(cat "$TEST_DIR/default.check")"
start_keeld "$conf" "$TEST_DIR/default.log"
if wait_for_file_match "$TEST_DIR/default.log" "keel started" 30 &&
   [ "$(curl -s -o "$TEST_DIR/healthz" -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ] &&
   [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 200 ]; then
  pass "keeld -c conf/keel.yaml serves /healthz and the web page on $KEEL_LISTEN"
  code=$(curl -s -o "$TEST_DIR/post" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"order_id":"ORD-1","customer_id":"C-1","items":[{"product_id":"P-1","quantity":2,"price":1.50}],"amount":3.00}' \
    "http://127.0.0.1:$port/api/v1/orders")
  [ "$code" = 202 ] && pass "the default config accepts an order: 202 $(cat "$TEST_DIR/post")" ||
    fail "POST an order to the default config: $code $(cat "$TEST_DIR/post")"
  # A second keeld on the same data dir, or on the same address, refuses to
  # start and names why; the first one keeps serving.
  first=$KEELD_PID
  port2=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  run_to "$TEST_DIR/second-dir.log" env KEEL_LISTEN="127.0.0.1:$port2" timeout 30 "$KEELD" -c "$conf"
  [ "$STATUS" = 1 ] && grep -q "data dir $KEEL_DATA_DIR is in use by another keeld (pid $first)" "$TEST_DIR/second-dir.log" &&
    pass "a second keeld on the same data dir exits 1: $(grep -o 'data dir .*in use[^;]*' "$TEST_DIR/second-dir.log")" ||
    fail "second keeld on the same data dir: exit $STATUS: $(tail -n 3 "$TEST_DIR/second-dir.log")"
  run_to "$TEST_DIR/second-port.log" env KEEL_DATA_DIR="$TEST_DIR/second" timeout 30 "$KEELD" -c "$conf"
  [ "$STATUS" = 1 ] && grep -q "cannot listen on 127.0.0.1:$port: the address is in use" "$TEST_DIR/second-port.log" &&
    pass "a second keeld on the same address exits 1 (no silent SO_REUSEPORT sharing)" ||
    fail "second keeld on the same address: exit $STATUS: $(tail -n 3 "$TEST_DIR/second-port.log")"
  codes=""
  for _ in 1 2 3 4 5 6; do
    codes+="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/orders/ORD-1") "
  done
  [ "$codes" = "200 200 200 200 200 200 " ] && pass "the first keeld still answers for its order: $codes" ||
    fail "GET ORD-1 after the refused starts: $codes"
  kill -TERM "$KEELD_PID"
  wait_exit "$KEELD_PID" 30
  [ "$STATUS" = 0 ] && pass "keeld -c conf/keel.yaml runs until SIGTERM, exit 0" ||
    fail "default config exit $STATUS"
else
  fail "default config did not start or serve: $(tail -n 5 "$TEST_DIR/default.log")"
fi

# A queue name the queue instance does not have: keeld would look ready
# while orders are never processed (pipeline) or all answered 500 (http).
# It refuses to start instead, naming the queues there are.
sed 's/^    steps: \[confirm, store\]$/    source: ghostq\n    steps: [confirm, store]/' "$conf" >"$TEST_DIR/ghost-source.yaml"
python3 - "$conf" "$TEST_DIR/ghost-http.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
at = text.index("    module: http\n")
at = text.index("      queue: queue\n", at) + len("      queue: queue\n")
open(sys.argv[2], "w").write(text[:at] + "      orders_queue: ghostq\n" + text[at:])
PY
for name in ghost-source ghost-http; do
  grep -q ghostq "$TEST_DIR/$name.yaml" || { fail "$name: conf/keel.yaml changed shape"; continue; }
  run_to "$TEST_DIR/$name.log" env KEEL_DATA_DIR="$TEST_DIR/$name" timeout 30 "$KEELD" -c "$TEST_DIR/$name.yaml"
  [ "$STATUS" = 1 ] && grep -q "has no queue named 'ghostq' (it has: orders)" "$TEST_DIR/$name.log" &&
    pass "$name: keeld exits 1: $(grep -o "queue instance 'queue' has no queue named 'ghostq'.*" "$TEST_DIR/$name.log" | head -n 1)" ||
    fail "$name: exit $STATUS: $(grep -i error "$TEST_DIR/$name.log" | head -n 3)"
done

finish
