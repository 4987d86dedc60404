# Shared helpers for integration tests that drive a real keeld.
# Every process started here is stopped by PID; every wait polls a
# condition with a deadline.
set -euo pipefail

: "${KEELD:?KEELD must point to the keeld binary}"
: "${KEEL_TEST_PLUGIN_DIR:?}"
: "${KEEL_SOURCE_DIR:?}"

TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/keel-it-XXXXXX")
KEELD_PID=""
FAILURES=0
CHECKS=0

cleanup() {
  if [ -n "$KEELD_PID" ] && kill -0 "$KEELD_PID" 2>/dev/null; then
    kill -KILL "$KEELD_PID" 2>/dev/null || true
  fi
  rm -rf "$TEST_DIR"
}
trap cleanup EXIT

pass() { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1)); echo "FAIL - $*"; }

# finish: prints the summary line and sets the exit status.
finish() {
  echo "$((CHECKS - FAILURES)) passed, $FAILURES failed"
  [ "$FAILURES" -eq 0 ]
}

# wait_for_file_match FILE REGEX TIMEOUT_S: polls until FILE has a line
# matching REGEX.
wait_for_file_match() {
  local file=$1 regex=$2 timeout=$3
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt "$deadline" ]; do
    if [ -f "$file" ] && grep -Eq -- "$regex" "$file"; then return 0; fi
    if [ -n "$KEELD_PID" ] && ! kill -0 "$KEELD_PID" 2>/dev/null; then
      grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
      return 1
    fi
    sleep 0.05
  done
  return 1
}

# start_keeld CONFIG LOG: starts keeld in the background, stderr to LOG.
start_keeld() {
  "$KEELD" -c "$1" 2>"$2" &
  KEELD_PID=$!
}

# wait_exit PID TIMEOUT_S: waits for the process; sets STATUS to its exit
# status, or to "timeout" if it still runs at the deadline. (Not in $(...):
# only this shell can wait for its children.)
wait_exit() {
  local pid=$1 timeout=$2
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt "$deadline" ]; do sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then STATUS=timeout; return; fi
  STATUS=0
  wait "$pid" || STATUS=$?
}

# run_to OUTFILE CMD...: runs CMD with stdout and stderr in OUTFILE; sets
# STATUS to its exit status.
run_to() {
  local out=$1
  shift
  STATUS=0
  "$@" >"$out" 2>&1 || STATUS=$?
}

# kernel_header [DATA_DIR]: the kernel section most tests use.
kernel_header() {
  cat <<YAML
kernel:
  data_dir: ${1:-$TEST_DIR/data}
  plugin_dir: $KEEL_TEST_PLUGIN_DIR
  worker_threads: 2
YAML
}
