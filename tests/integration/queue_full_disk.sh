#!/usr/bin/env bash
# queue_lmdb on a full disk: with the data dir on a small filesystem filled
# to ENOSPC, sends fail cleanly (a non-zero status, counted by the
# producers) and keeld keeps running; once space is freed the same sends
# succeed, the environment is intact (mdb_stat), and after a restart every
# acked message is processed. Needs root to mount; prints SKIP otherwise.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"

QUEUE_SO=${KEEL_QUEUE_SO:-$(cd "$(dirname "$KEELD")/.." && pwd)/lib/keel/plugins/queue_lmdb.so}
DISK=$TEST_DIR/disk
DATA=$DISK/data
ACKED=$TEST_DIR/acked
PROCESSED=$TEST_DIR/processed
GATE=$TEST_DIR/gate
PRODUCERS=4
COUNT=500
MOUNTED=""
mkdir -p "$DISK"
touch "$ACKED" "$PROCESSED"

# keeld first (it holds files on the mount), then the mount, then lib.sh's
# cleanup of the temp dir.
disk_cleanup() {
  if [ -n "$KEELD_PID" ] && kill -0 "$KEELD_PID" 2>/dev/null; then
    kill -KILL "$KEELD_PID" 2>/dev/null || true
    wait "$KEELD_PID" 2>/dev/null || true
  fi
  if [ -n "$MOUNTED" ] && mountpoint -q "$DISK"; then
    umount "$DISK" 2>/dev/null || umount -l "$DISK" || true
  fi
  cleanup
}
trap disk_cleanup EXIT

all_processed() { [ "$(missing_acked "$ACKED" "$PROCESSED" | wc -l)" -eq 0 ]; }
acked_reaches() { [ "$(count_lines "$ACKED" '^acked ')" -ge "$1" ]; }
lines_more_than() { [ "$(count_lines "$1" "$2")" -gt "$3" ]; }
# failure_kinds: "<n> x <full|error> <status>; ..." from the record.
failure_kinds() {
  grep -E '^(full|error) ' "$ACKED" | awk '{ $2 = ""; print }' | sort | uniq -c |
    awk '{ $1 = $1 " x"; printf "%s%s", sep, $0; sep = "; " }'
}
# expect_status_0 PASS_TEXT FAIL_TEXT: judges $STATUS.
expect_status_0() { if [ "$STATUS" = 0 ]; then pass "$1"; else fail "$2"; fi; }
avail_bytes() { df --output=avail -B1 "$DISK" | tail -n 1 | tr -d ' '; }

# write_config NAME PRODUCERS PIPELINE(yes|no)
write_config() {
  cat >"$TEST_DIR/$1.yaml" <<YAML
kernel:
  data_dir: $DATA
  log_file: $TEST_DIR/$1.log
  worker_threads: 2
plugins:
  - name: queue
    module: $QUEUE_SO
    config: {map_size: 64MiB, queues: [{name: orders, visibility_timeout: 10s}]}
  - name: producer
    module: $KEEL_TEST_PLUGIN_DIR/test_producer.so
    config:
      queue: queue
      producers: $2
      count: $COUNT
      prefix: d
      gate: $GATE
      record: $ACKED
      report: true
      report_every: 200ms
  - name: step
    module: $KEEL_TEST_PLUGIN_DIR/test_step.so
    config: {record: $PROCESSED}
YAML
  if [ "$3" = yes ]; then
    printf 'pipelines:\n  - {name: orders, queue: queue, steps: [producer, step]}\n' >>"$TEST_DIR/$1.yaml"
  fi
}

if mount -t tmpfs -o size=8m tmpfs "$DISK" 2>"$TEST_DIR/mount.err"; then
  MOUNTED=tmpfs
elif truncate -s 16M "$TEST_DIR/disk.img" && mkfs.ext4 -q -F "$TEST_DIR/disk.img" 2>>"$TEST_DIR/mount.err" &&
     mount -o loop "$TEST_DIR/disk.img" "$DISK" 2>>"$TEST_DIR/mount.err"; then
  MOUNTED=ext4-loop
else
  echo "SKIP: cannot mount a small filesystem (tmpfs or loop ext4): $(tr '\n' ' ' <"$TEST_DIR/mount.err")"
  exit 77 # ctest reports it as skipped (SKIP_RETURN_CODE)
fi
echo "data dir on a $MOUNTED filesystem of $(df -h --output=size "$DISK" | tail -n 1 | tr -d ' ')"

if [ ! -f "$QUEUE_SO" ]; then
  fail "queue_lmdb plugin not built: $QUEUE_SO"
  finish
  exit
fi

# The producers wait for the gate: fill the disk first.
write_config full "$PRODUCERS" no
start_keeld "$TEST_DIR/full.yaml" "$TEST_DIR/full.stderr"
if ! wait_for_file_match "$TEST_DIR/full.log" "keel started" 30; then
  fail "keeld did not start on the small disk: $(tail -n 5 "$TEST_DIR/full.log" "$TEST_DIR/full.stderr" 2>&1)"
  finish
  exit
fi
dd if=/dev/zero of="$DISK/filler" bs=64k 2>"$TEST_DIR/dd.err" || true
grep -q "No space left" "$TEST_DIR/dd.err" &&
  echo "disk filled: filler $(du -h "$DISK/filler" | cut -f1), $(avail_bytes) bytes left"
touch "$GATE"

if wait_until 30 grep -Eq '^(full|error) ' "$ACKED"; then
  stats_before=$(count_lines "$TEST_DIR/full.log" 'stats queue=orders')
  if wait_until 10 lines_more_than "$TEST_DIR/full.log" 'stats queue=orders' "$stats_before" &&
     kill -0 "$KEELD_PID" 2>/dev/null; then
    pass "full disk: sends fail cleanly (first failures: $(failure_kinds) after $(count_lines "$ACKED" '^acked ') acked); keeld runs and answers stats: $(last_stats "$TEST_DIR/full.log")"
  else
    fail "full disk: keeld died or stopped answering: $(tail -n 5 "$TEST_DIR/full.log" "$TEST_DIR/full.stderr" 2>&1)"
  fi
else
  fail "full disk: no send failed ($(count_lines "$ACKED" '^acked ') acked, $(avail_bytes) bytes free): $(tail -n 3 "$TEST_DIR/full.log")"
fi
acked_while_full=$(count_lines "$ACKED" '^acked ')

rm -f "$DISK/filler"
if wait_until 60 acked_reaches $((PRODUCERS * COUNT)); then
  pass "space freed: the same sends succeeded, all $((PRODUCERS * COUNT)) acked ($acked_while_full while full)"
else
  fail "space freed, but only $(count_lines "$ACKED" '^acked ') of $((PRODUCERS * COUNT)) acked: $(grep -E 'ERROR|WARN' "$TEST_DIR/full.log" | tail -n 5)"
fi
if kill -0 "$KEELD_PID" 2>/dev/null; then
  kill -TERM "$KEELD_PID"
  wait_exit "$KEELD_PID" 60
  expect_status_0 "SIGTERM -> exit 0 ($(grep -o 'test_producer: acked=.*' "$TEST_DIR/full.log"))" \
    "SIGTERM -> status $STATUS: $(tail -n 5 "$TEST_DIR/full.log")"
else
  wait_exit "$KEELD_PID" 5
  fail "keeld died with status $STATUS: $(tail -n 5 "$TEST_DIR/full.log" "$TEST_DIR/full.stderr" 2>&1)"
fi

check_env "$DATA/queue"
expect_status_0 "mdb_stat -a opens the environment cleanly" \
  "mdb_stat: status $STATUS: $(head -n 20 "$TEST_DIR/mdb_stat.out")"

# Drain with a pipeline: every acked message is there, body intact.
write_config drain 0 yes
start_keeld "$TEST_DIR/drain.yaml" "$TEST_DIR/drain.stderr"
if wait_until 90 all_processed &&
   wait_until 10 stats_show "$TEST_DIR/drain.log" '^visible=0 in_flight=0 delayed=0 dlq=0 '; then
  pass "after a restart all $(count_lines "$ACKED" '^acked ') acked messages were processed with their bodies"
else
  fail "drain: $(missing_acked "$ACKED" "$PROCESSED" | wc -l) acked messages not processed; stats: $(last_stats "$TEST_DIR/drain.log")"
fi
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 60
expect_status_0 "drain: SIGTERM -> exit 0" "drain: SIGTERM -> status $STATUS"
if grep -h "corrupt body" "$TEST_DIR"/*.log >/dev/null 2>&1; then
  fail "bodies corrupted: $(grep -h "corrupt body" "$TEST_DIR"/*.log | head -n 3)"
fi
finish
