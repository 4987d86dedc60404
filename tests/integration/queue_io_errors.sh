#!/usr/bin/env bash
# queue_lmdb when the disk misbehaves. keeld runs under the fault_io.so
# shim (tests/tools): while faults are switched on, every fdatasync fails
# with EIO, then every LMDB meta-page write fails (which leaves the
# environment in MDB_PANIC). Sends must fail cleanly (no ack), keeld must
# keep running and recover (reopening the environment) as soon as I/O works
# again, and every message acked at any point must be processed in the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"

QUEUE_SO=${KEEL_QUEUE_SO:-$(cd "$(dirname "$KEELD")/.." && pwd)/lib/keel/plugins/queue_lmdb.so}
SHIM=$(cd "$(dirname "$KEELD")/.." && pwd)/tests/tools/fault_io.so
FAULT=$TEST_DIR/fault
ACKED=$TEST_DIR/acked
PROCESSED=$TEST_DIR/processed
LOG=$TEST_DIR/keeld.log
touch "$ACKED" "$PROCESSED"

acked_count() { count_lines "$ACKED" '^acked '; }
acked_beyond() { [ "$(acked_count)" -ge "$1" ]; }
errors_beyond() { [ "$(count_lines "$ACKED" '^error ')" -gt "$1" ]; }
all_processed() { [ "$(missing_acked "$ACKED" "$PROCESSED" | wc -l)" -eq 0 ]; }

# write_config NAME WITH_PRODUCERS(yes|no)
write_config() {
  local producer=""
  [ "$2" = yes ] && producer="  - name: producer
    module: $KEEL_TEST_PLUGIN_DIR/test_producer.so
    config: {queue: queue, producers: 4, record: $ACKED}"
  cat >"$TEST_DIR/$1.yaml" <<YAML
kernel:
  data_dir: $TEST_DIR/data
  log_file: $LOG
  worker_threads: 2
plugins:
  - name: queue
    module: $QUEUE_SO
    config: {queues: [{name: orders, visibility_timeout: 5s}]}
$producer
  - name: step
    module: $KEEL_TEST_PLUGIN_DIR/test_step.so
    config: {record: $PROCESSED}
pipelines:
  - {name: orders, queue: queue, steps: [step]}
YAML
}

for f in "$QUEUE_SO" "$SHIM"; do
  if [ ! -f "$f" ]; then
    fail "not built: $f"
    finish
    exit
  fi
done

write_config faulty yes
# The sanitizer runtime must come first in a sanitized keeld; the shim
# only wraps libc, so the link-order check can be relaxed.
LD_PRELOAD=$SHIM KEEL_FAULT_FILE=$FAULT ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
  start_keeld "$TEST_DIR/faulty.yaml" "$TEST_DIR/stderr"

# inject KIND: switch a fault on until sends fail, then off until acks flow.
inject() {
  local kind=$1 before_errors before_acks
  before_errors=$(count_lines "$ACKED" '^error ')
  echo "$kind" >"$FAULT"
  if wait_until 30 errors_beyond "$before_errors"; then
    pass "$kind faults: sends fail cleanly ($(count_lines "$ACKED" '^error ') error lines, no ack)"
  else
    fail "$kind faults: no send failed: $(tail -n 5 "$LOG")"
  fi
  local held
  held=$(acked_count)
  if kill -0 "$KEELD_PID" 2>/dev/null; then
    pass "$kind faults: keeld still running"
  else
    fail "$kind faults: keeld died: $(tail -n 20 "$TEST_DIR/stderr" "$LOG")"
  fi
  rm -f "$FAULT"
  before_acks=$(acked_count)
  if wait_until 60 acked_beyond $((before_acks + 200)); then
    pass "$kind faults cleared: sends succeed again (acked $held -> $(acked_count))"
  else
    fail "$kind faults cleared: no recovery: $(tail -n 10 "$LOG")"
  fi
}

if wait_until 30 acked_beyond 200; then
  pass "producers running: $(acked_count) acked"
else
  fail "producers did not start: $(tail -n 10 "$LOG" "$TEST_DIR/stderr")"
fi
inject fdatasync
inject meta
if grep -q "MDB_PANIC\|reopen" "$LOG"; then
  pass "the environment was reopened after the failed meta write: $(grep -m1 -o '[^]]*\(MDB_PANIC\|reopen\).*' "$LOG" | cut -c1-120)"
else
  fail "no reopen after MDB_PANIC in the log"
fi

kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 60
[ "$STATUS" = 0 ] && pass "SIGTERM after the faults: exit 0" || fail "SIGTERM: status $STATUS"

check_env "$TEST_DIR/data/queue"
[ "$STATUS" = 0 ] && pass "mdb_stat opens the environment cleanly" ||
  fail "mdb_stat: $(cat "$TEST_DIR/mdb_stat.out")"

# A data dir on a network filesystem is refused at start, with the reason.
echo nfs >"$FAULT"
LD_PRELOAD=$SHIM KEEL_FAULT_FILE=$FAULT ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
  run_to "$TEST_DIR/nfs.out" "$KEELD" -c "$TEST_DIR/faulty.yaml"
rm -f "$FAULT"
if [ "$STATUS" = 1 ] && grep -q "network filesystem" "$LOG"; then
  pass "a data dir on NFS is refused: $(grep -m1 -o "'[^']*' is on a network filesystem[^:]*" "$LOG")"
else
  fail "NFS: status $STATUS: $(tail -n 5 "$LOG" "$TEST_DIR/nfs.out")"
fi

# Without producers: everything acked before, between and after the faults
# is processed with its body.
write_config drain no
start_keeld "$TEST_DIR/drain.yaml" "$TEST_DIR/stderr2"
if wait_until 60 all_processed; then
  pass "all $(acked_count) acked messages processed after the faults"
else
  fail "$(missing_acked "$ACKED" "$PROCESSED" | wc -l) acked messages missing: $(missing_acked "$ACKED" "$PROCESSED" | head -3)"
fi
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 60
[ "$STATUS" = 0 ] || fail "drain: SIGTERM status $STATUS"

finish
