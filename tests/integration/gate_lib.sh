# shellcheck shell=bash
# Helpers for the tests that run conf/keel.yaml's own pipeline with a test
# `gate` step first ([gate, confirm, store]); sourced after lib.sh,
# queue_lib.sh and http_lib.sh.

STEP_SO=$KEEL_TEST_PLUGIN_DIR/test_step.so
[ -f "$STEP_SO" ] || { echo "test plugin not built: $STEP_SO"; exit 77; }

# gate_config OUT GATE_CONFIG_LINES [FROM TO]...: conf/keel.yaml with the
# gate (test_step.so, the given config lines, indented here) and each
# further FROM replaced by TO once (each must occur exactly once).
gate_config() {
  local out=$1 lines=$2
  shift 2
  python3 - "$KEEL_SOURCE_DIR/conf/keel.yaml" "$out" "$STEP_SO" "$lines" "$@" <<'PY'
import sys
src, dst, so, lines, *pairs = sys.argv[1:]
text = open(src).read()
config = "".join(f"      {line}\n" for line in lines.splitlines() if line.strip())
gate = f"\n  - name: gate\n    module: {so}\n    config:\n{config}\npipelines:\n"
swaps = [("\npipelines:\n", gate), ("steps: [confirm, store]", "steps: [gate, confirm, store]")]
swaps += list(zip(pairs[0::2], pairs[1::2]))
for old, new in swaps:
    assert text.count(old) == 1, f"conf/keel.yaml changed shape: {old!r}"
    text = text.replace(old, new, 1)
open(dst, "w").write(text)
PY
}

# gate_up NAME CONFIG: keeld on $TEST_DIR/data (kept across restarts) with
# CONFIG on a free port, log $TEST_DIR/NAME.log; waits for /readyz, or
# ends the test.
gate_up() {
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  KEEL_DATA_DIR=$TEST_DIR/data KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web \
    start_keeld "$2" "$TEST_DIR/$1.log"
  gate_ready() { curl -sf -o /dev/null "$BASE/readyz"; }
  if ! wait_until 30 gate_ready; then
    fail "$1: keeld did not become ready: $(tail -n 5 "$TEST_DIR/$1.log")"
    finish
    exit
  fi
}

# order_status ID: the order's status (or its error code), "" when unreadable.
order_status() {
  curl -s "$BASE/api/v1/orders/$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("status") or d.get("error"))' 2>/dev/null || true
}
