#!/usr/bin/env bash
# Backpressure in queue_lmdb: (a) past max_depth, sends fail fast with
# KEEL_EFULL and nothing more is admitted; once a pipeline consumes, the
# producers reach their targets. (b) with a tiny LMDB map and 4 KiB bodies,
# a full map turns sends into KEEL_EFULL: keeld keeps running, stops
# cleanly, and every acked message is still there after a restart.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"

QUEUE_SO=${KEEL_QUEUE_SO:-$(cd "$(dirname "$KEELD")/.." && pwd)/lib/keel/plugins/queue_lmdb.so}

all_processed() { [ "$(missing_acked "$1" "$2" | wc -l)" -eq 0 ]; }
acked_reaches() { [ "$(count_lines "$1" '^acked ')" -ge "$2" ]; }
full_after_acked() { grep -q '^full ' "$1" 2>/dev/null && acked_reaches "$1" "$2"; }

# write_config NAME DATA QUEUE_YAML PRODUCER_YAML PIPELINE(yes|no) RECORD_PREFIX
write_config() {
  cat >"$TEST_DIR/$1.yaml" <<YAML
kernel:
  data_dir: $2
  log_file: $TEST_DIR/$1.log
  worker_threads: 2
plugins:
  - name: queue
    module: $QUEUE_SO
    config: $3
  - name: producer
    module: $KEEL_TEST_PLUGIN_DIR/test_producer.so
    config: {queue: queue, record: $TEST_DIR/$6.acked, report: true, report_every: 200ms, $4}
  - name: step
    module: $KEEL_TEST_PLUGIN_DIR/test_step.so
    config: {record: $TEST_DIR/$6.processed}
YAML
  if [ "$5" = yes ]; then
    printf 'pipelines:\n  - {name: orders, queue: queue, steps: [producer, step]}\n' >>"$TEST_DIR/$1.yaml"
  fi
}

# stop_keeld NAME: SIGTERM; passes when keeld exits 0.
stop_keeld() {
  kill -TERM "$KEELD_PID"
  wait_exit "$KEELD_PID" 60
  if [ "$STATUS" = 0 ]; then
    pass "$1: SIGTERM -> exit 0 ($(grep -o 'test_producer: acked=.*' "$TEST_DIR/$1.log"))"
  else
    fail "$1: SIGTERM -> status $STATUS: $(tail -n 5 "$TEST_DIR/$1.log" "$TEST_DIR/$1.stderr" 2>&1)"
  fi
}

if [ ! -f "$QUEUE_SO" ]; then
  fail "queue_lmdb plugin not built: $QUEUE_SO"
  finish
  exit
fi

# ---- (a) max_depth ---------------------------------------------------------
DEPTH_QUEUE="{queues: [{name: orders, max_depth: 100, visibility_timeout: 10s}]}"
acked=$TEST_DIR/depth.acked
processed=$TEST_DIR/depth.processed
touch "$acked" "$processed"
write_config depth1 "$TEST_DIR/depth" "$DEPTH_QUEUE" "producers: 4, count: 100, prefix: a" no depth
started=$(now_ms)
start_keeld "$TEST_DIR/depth1.yaml" "$TEST_DIR/depth1.stderr"
if wait_until 30 full_after_acked "$acked" 100; then
  first_full=$(($(now_ms) - started))
  if wait_until 10 stats_show "$TEST_DIR/depth1.log" '^visible=100 in_flight=0 ' &&
     [ "$(count_lines "$acked" '^acked ')" = 100 ]; then
    pass "max_depth 100, no consumer: 100 acked, then KEEL_EFULL (within $first_full ms of start); stats: $(last_stats "$TEST_DIR/depth1.log")"
  else
    fail "max_depth 100: $(count_lines "$acked" '^acked ') acked; stats: $(last_stats "$TEST_DIR/depth1.log")"
  fi
else
  fail "max_depth 100: no KEEL_EFULL after 100 acked: $(count_lines "$acked" '^acked ') acked, $(count_lines "$acked" '^(full|error) ') failures; $(grep -m 3 -E '^(full|error) ' "$acked" | tr '\n' ';') $(tail -n 3 "$TEST_DIR/depth1.log")"
fi
if kill -0 "$KEELD_PID" 2>/dev/null; then
  stop_keeld depth1
  grep -Eq 'test_producer: acked=100 fulls=[1-9]' "$TEST_DIR/depth1.log" ||
    fail "depth1: the producers' own count: $(grep -o 'test_producer: acked=.*' "$TEST_DIR/depth1.log")"
fi

# The same queue with a pipeline and fresh producers (prefix b): the 100
# waiting and 400 new ones all go through.
write_config depth2 "$TEST_DIR/depth" "$DEPTH_QUEUE" "producers: 4, count: 100, prefix: b" yes depth
started=$(now_ms)
start_keeld "$TEST_DIR/depth2.yaml" "$TEST_DIR/depth2.stderr"
if wait_until 90 acked_reaches "$acked" 500 && wait_until 90 all_processed "$acked" "$processed" &&
   wait_until 10 stats_show "$TEST_DIR/depth2.log" '^visible=0 in_flight=0 delayed=0 dlq=0 '; then
  pass "with a consumer, the producers recovered: 500 acked, all processed, queue empty after $(($(now_ms) - started)) ms"
else
  fail "max_depth recovery: $(count_lines "$acked" '^acked ') of 500 acked, $(missing_acked "$acked" "$processed" | wc -l) not processed; stats: $(last_stats "$TEST_DIR/depth2.log")"
fi
stop_keeld depth2

# ---- (b) a tiny LMDB map ----------------------------------------------------
TINY_QUEUE="{map_size: 1MiB, queues: [{name: orders, visibility_timeout: 10s}]}"
acked=$TEST_DIR/tiny.acked
processed=$TEST_DIR/tiny.processed
touch "$acked" "$processed"
write_config tiny1 "$TEST_DIR/tiny" "$TINY_QUEUE" "producers: 4, body_size: 4KiB, prefix: t" no tiny
start_keeld "$TEST_DIR/tiny1.yaml" "$TEST_DIR/tiny1.stderr"
if wait_until 60 grep -Eq '^(full|error) ' "$acked"; then
  if ! grep -q '^error ' "$acked" && kill -0 "$KEELD_PID" 2>/dev/null; then
    pass "a 1 MiB map filled up after $(count_lines "$acked" '^acked ') 4 KiB sends: KEEL_EFULL, keeld still running"
  else
    fail "tiny map: alive=$(kill -0 "$KEELD_PID" 2>/dev/null && echo yes || echo no), failures: $(grep -m 3 -E '^(full|error) ' "$acked" | tr '\n' ';')"
  fi
else
  fail "tiny map: sends never failed ($(count_lines "$acked" '^acked ') acked): $(tail -n 5 "$TEST_DIR/tiny1.log" "$TEST_DIR/tiny1.stderr" 2>&1)"
fi
tiny_acked=$(count_lines "$acked" '^acked ')
if kill -0 "$KEELD_PID" 2>/dev/null; then
  stop_keeld tiny1
else
  wait_exit "$KEELD_PID" 5
  fail "tiny1: keeld died with status $STATUS: $(tail -n 5 "$TEST_DIR/tiny1.log" "$TEST_DIR/tiny1.stderr" 2>&1)"
fi

# Restart on the full map with a consumer and 100 more sends (prefix u):
# everything acked before and after is processed, bodies intact.
write_config tiny2 "$TEST_DIR/tiny" "$TINY_QUEUE" "producers: 4, count: 25, body_size: 4KiB, prefix: u" yes tiny
start_keeld "$TEST_DIR/tiny2.yaml" "$TEST_DIR/tiny2.stderr"
if wait_until 90 acked_reaches "$acked" $((tiny_acked + 100)) &&
   wait_until 90 all_processed "$acked" "$processed" &&
   wait_until 10 stats_show "$TEST_DIR/tiny2.log" '^visible=0 in_flight=0 delayed=0 dlq=0 '; then
  pass "after a restart all $tiny_acked acked 4 KiB messages were processed, and 100 more were sent and processed"
else
  fail "tiny map after restart: $(count_lines "$acked" '^acked ') of $((tiny_acked + 100)) acked, $(missing_acked "$acked" "$processed" | wc -l) not processed; stats: $(last_stats "$TEST_DIR/tiny2.log") $(tail -n 3 "$TEST_DIR/tiny2.log")"
fi
stop_keeld tiny2

if grep -h "corrupt body" "$TEST_DIR"/*.log >/dev/null 2>&1; then
  fail "bodies corrupted: $(grep -h "corrupt body" "$TEST_DIR"/*.log | head -n 3)"
else
  pass "every delivered body, 4 KiB ones included, matched its checksum"
fi
finish
