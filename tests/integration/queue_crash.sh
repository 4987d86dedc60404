#!/usr/bin/env bash
# queue_lmdb survives kill -9: a committed send is never lost. Each round
# runs 8 producers and a pipeline against one data dir, kills keeld with
# SIGKILL once the producers' acked record has grown by a random amount,
# checks that the LMDB environment still opens (mdb_stat -a), restarts
# keeld without producers and waits until every message ever acked was
# processed by the pipeline with the same body (queued, in flight or done
# before the kill). Then SIGTERM must exit 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"

ROUNDS=${KEEL_CRASH_ROUNDS:-20}
QUEUE_SO=${KEEL_QUEUE_SO:-$(cd "$(dirname "$KEELD")/.." && pwd)/lib/keel/plugins/queue_lmdb.so}
DATA=$TEST_DIR/data
ACKED=$TEST_DIR/acked
PROCESSED=$TEST_DIR/processed
touch "$ACKED" "$PROCESSED"

all_processed() { [ "$(missing_acked "$ACKED" "$PROCESSED" | wc -l)" -eq 0 ]; }
acked_at_least() { [ "$(count_lines "$ACKED" '^acked ')" -ge "$1" ]; }

keeld_started() { grep -q 'keel started' "$1" 2>/dev/null; }

# write_config NAME PRODUCERS PREFIX
write_config() {
  cat >"$TEST_DIR/$1.yaml" <<YAML
kernel:
  data_dir: $DATA
  log_file: $TEST_DIR/$1.log
  worker_threads: 2
plugins:
  - name: queue
    module: $QUEUE_SO
    config:
      queues: [{name: orders, visibility_timeout: 2s, max_receives: 3}]
  - name: producer
    module: $KEEL_TEST_PLUGIN_DIR/test_producer.so
    config: {queue: queue, producers: $2, prefix: $3, record: $ACKED}
  - name: step
    module: $KEEL_TEST_PLUGIN_DIR/test_step.so
    config: {record: $PROCESSED}
pipelines:
  - {name: orders, queue: queue, steps: [producer, step]}
YAML
}

if [ ! -f "$QUEUE_SO" ]; then
  fail "queue_lmdb plugin not built: $QUEUE_SO"
  finish
  exit
fi

rounds_ok=0
for round in $(seq 1 "$ROUNDS"); do
  before=$(count_lines "$ACKED" '^acked ')
  grow=$((1 + RANDOM % 8000))
  write_config "crash$round" 8 "r$round"
  start_keeld "$TEST_DIR/crash$round.yaml" "$TEST_DIR/crash$round.stderr"
  if ! wait_until 60 acked_at_least $((before + grow)); then
    fail "round $round: acked did not grow by $grow: $(tail -n 5 "$TEST_DIR/crash$round.log" "$TEST_DIR/crash$round.stderr" 2>&1)"
    break
  fi
  kill -KILL "$KEELD_PID"
  wait_exit "$KEELD_PID" 30
  killed=$STATUS
  at=$(count_lines "$ACKED" '^acked ')
  if [ "$killed" != 137 ]; then
    fail "round $round: keeld ended with status $killed before the kill: $(tail -n 5 "$TEST_DIR/crash$round.log" "$TEST_DIR/crash$round.stderr" 2>&1)"
    break
  fi

  check_env "$DATA/queue"
  if [ "$STATUS" != 0 ]; then
    fail "round $round: mdb_stat after kill -9: status $STATUS: $(head -n 20 "$TEST_DIR/mdb_stat.out")"
    break
  fi

  write_config "drain$round" 0 "unused"
  started=$(now_ms)
  start_keeld "$TEST_DIR/drain$round.yaml" "$TEST_DIR/drain$round.stderr"
  if ! wait_until 90 all_processed; then
    missing=$(missing_acked "$ACKED" "$PROCESSED")
    fail "round $round: $(wc -l <<<"$missing") acked message(s) never processed after the restart, e.g. $(head -n 3 <<<"$missing" | tr '\n' ';') log: $(tail -n 5 "$TEST_DIR/drain$round.log" "$TEST_DIR/drain$round.stderr" 2>&1)"
    break
  fi
  drained=$(($(now_ms) - started))
  # The drain can be over before keeld has even blocked its signals (the
  # crash run may have processed everything): SIGTERM only a started keeld.
  if ! wait_until 60 keeld_started "$TEST_DIR/drain$round.log"; then
    fail "round $round: the drain keeld never logged 'keel started': $(tail -n 5 "$TEST_DIR/drain$round.stderr" 2>&1)"
    break
  fi
  kill -TERM "$KEELD_PID"
  wait_exit "$KEELD_PID" 60
  if [ "$STATUS" != 0 ]; then
    fail "round $round: SIGTERM after the drain: status $STATUS: $(tail -n 5 "$TEST_DIR/drain$round.log")"
    break
  fi
  rounds_ok=$((rounds_ok + 1))
  printf 'round %2d: kill -9 at acked=%d (+%d), exit %s; mdb_stat ok; all %d acked processed %d ms after restart; SIGTERM exit 0\n' \
    "$round" "$at" $((at - before)) "$killed" "$at" "$drained"
done

total=$(count_lines "$ACKED" '^acked ')
if [ "$rounds_ok" = "$ROUNDS" ]; then
  pass "$ROUNDS rounds of kill -9: all $total acked messages were processed with their bodies; LMDB opened cleanly after each kill"
fi
if grep -h "corrupt body" "$TEST_DIR"/*.log >/dev/null 2>&1; then
  fail "bodies corrupted: $(grep -h "corrupt body" "$TEST_DIR"/*.log | head -n 3)"
else
  pass "every delivered body matched its checksum ($(count_lines "$PROCESSED" '^ok ') deliveries processed)"
fi
echo "queue_crash: $rounds_ok/$ROUNDS rounds, $total messages acked, $(count_lines "$PROCESSED" '^ok ') ok deliveries"
finish
