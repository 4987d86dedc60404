#!/usr/bin/env bash
# A poison message that crashes the process (the step abort()s on it) is
# delivered exactly max_receives (3) times, because every receive is
# committed before the step sees it, then lands in the DLQ with its receive
# count and a reason; the 50 normal messages sent with it are all processed.
# A supervisor loop restarts keeld each time it dies, at most 10 times.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"

QUEUE_SO=${KEEL_QUEUE_SO:-$(cd "$(dirname "$KEELD")/.." && pwd)/lib/keel/plugins/queue_lmdb.so}
NORMAL=50
MAX_RESTARTS=10
ACKED=$TEST_DIR/acked
PROCESSED=$TEST_DIR/processed
touch "$ACKED" "$PROCESSED"

# write_config NAME PRODUCERS: the first run sends 50 messages, then the
# poison; later runs only consume (and report the stats every 300 ms).
write_config() {
  cat >"$TEST_DIR/$1.yaml" <<YAML
kernel:
  data_dir: $TEST_DIR/data
  log_file: $TEST_DIR/$1.log
  worker_threads: 2
plugins:
  - name: queue
    module: $QUEUE_SO
    config:
      queues: [{name: orders, visibility_timeout: 2s, max_receives: 3}]
  - name: producer
    module: $KEEL_TEST_PLUGIN_DIR/test_producer.so
    config:
      queue: queue
      producers: $2
      count: $NORMAL
      prefix: n
      bodies: [poison]
      record: $ACKED
      report: true
      report_every: 300ms
  - name: step
    module: $KEEL_TEST_PLUGIN_DIR/test_step.so
    config: {abort_on: poison, record: $PROCESSED}
pipelines:
  # One message at a time, so that the crashes take no normal message along.
  - {name: orders, queue: queue, steps: [producer, step], batch_size: 1, concurrency: 1}
YAML
}

# done_draining LOG: every normal message processed and the latest stats
# show an empty queue with one dead letter.
done_draining() {
  [ "$(count_lines "$ACKED" '^acked [^ ]+ n-')" -ge "$NORMAL" ] &&
    [ "$(missing_acked "$ACKED" "$PROCESSED" | grep -vc ' poison$')" -eq 0 ] &&
    grep -E 'stats queue=orders' "$1" 2>/dev/null | tail -n 1 |
    grep -Eq 'visible=0 in_flight=0 delayed=0 dlq=1 '
}

if [ ! -f "$QUEUE_SO" ]; then
  fail "queue_lmdb plugin not built: $QUEUE_SO"
  finish
  exit
fi

run=1
crashes=0
statuses=""
clean_stop=""
write_config run1 1
start_keeld "$TEST_DIR/run1.yaml" "$TEST_DIR/run1.stderr"
while :; do
  log=$TEST_DIR/run$run.log
  if wait_until 60 done_draining "$log"; then
    kill -TERM "$KEELD_PID"
    wait_exit "$KEELD_PID" 60
    clean_stop=$STATUS
    echo "run $run: queue drained, poison in the DLQ; SIGTERM -> exit $STATUS"
    break
  fi
  if kill -0 "$KEELD_PID" 2>/dev/null; then
    fail "run $run: neither drained nor dead after 60 s: $(grep 'stats queue' "$log" | tail -n 1)"
    break
  fi
  wait_exit "$KEELD_PID" 10
  crashes=$((crashes + 1))
  statuses="$statuses $STATUS"
  echo "run $run: keeld died with status $STATUS ($(grep -o 'poison message [^ ]* (receive [0-9]*)' "$log" | tail -n 1))"
  if [ "$crashes" -gt "$MAX_RESTARTS" ]; then
    fail "more than $MAX_RESTARTS crashes: the poison message is never dead-lettered"
    break
  fi
  run=$((run + 1))
  write_config "run$run" 0
  start_keeld "$TEST_DIR/run$run.yaml" "$TEST_DIR/run$run.stderr"
done

if [ "$crashes" = 3 ] && [ "$statuses" = " 134 134 134" ]; then
  pass "the poison crashed keeld 3 times (SIGABRT), then it ran on"
else
  fail "crashes: $crashes, exit statuses:$statuses (expected 3 x 134)"
fi

attempts=$(grep -E '^attempt [^ ]+ [0-9]+ poison$' "$PROCESSED" || true)
poison_id=$(awk 'NR == 1 { print $2 }' <<<"$attempts")
counts=$(awk '{ printf "%s ", $3 }' <<<"$attempts")
if [ "$(grep -c . <<<"$attempts")" = 3 ] && [ "$counts" = "1 2 3 " ]; then
  pass "the poison message $poison_id was attempted exactly 3 times (receive counts $counts)"
else
  fail "poison attempts: '$attempts'"
fi

final_log=$TEST_DIR/run$run.log
dlq_line=$(grep -E "dlq $poison_id receives=" "$final_log" || true)
if [ "$clean_stop" = 0 ] && [ -n "$poison_id" ] &&
   grep -Eq "dlq $poison_id receives=3 step=.* last_error=[^ ].* body=poison$" <<<"$dlq_line" &&
   grep -q "dlq listed=1$" "$final_log"; then
  pass "the DLQ lists it alone, with its reason: ${dlq_line#*dlq }"
else
  fail "DLQ report (clean stop: $clean_stop): '$dlq_line' $(grep -E 'dlq' "$final_log" | tail -n 3)"
fi

normal_acked=$(count_lines "$ACKED" '^acked [^ ]+ n-')
missing=$(missing_acked "$ACKED" "$PROCESSED" | grep -v ' poison$' || true)
if [ "$normal_acked" = "$NORMAL" ] && [ -z "$missing" ]; then
  pass "all $NORMAL normal messages were processed ($(count_lines "$PROCESSED" '^ok ') ok lines)"
else
  fail "normal messages: $normal_acked acked, not processed: $(head -n 3 <<<"$missing")"
fi
if grep -Eq '^ok [^ ]+ [0-9]+ poison$' "$PROCESSED"; then
  fail "the poison message was reported OK"
fi
stats=$(grep 'stats queue=orders' "$final_log" | tail -n 1)
echo "final ${stats#*] }"
finish
