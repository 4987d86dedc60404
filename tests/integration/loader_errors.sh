#!/usr/bin/env bash
# keeld refuses broken plugins with a message naming the file and exits 1
# (not a crash); a plugin built against an older ABI minor still runs.
source "$(dirname "$0")/lib.sh"

# expect_refusal PLUGIN REGEX
expect_refusal() {
  local plugin=$1 regex=$2 cfg="$TEST_DIR/$1.yaml" log="$TEST_DIR/$1.log"
  { kernel_header; printf 'plugins:\n  - name: victim\n    module: %s\n' "$plugin"; } >"$cfg"
  run_to "$log" timeout 30 "$KEELD" -c "$cfg"
  local status=$STATUS
  if [ "$status" = 1 ] && grep -Eq -- "$regex" "$log"; then
    pass "$plugin: exit 1: $(grep -E -- "$regex" "$log" | head -1 | cut -c1-160)"
  else
    fail "$plugin: status $status (want 1), log: $(cat "$log")"
  fi
}

so="$KEEL_TEST_PLUGIN_DIR"
expect_refusal bad_magic "$so/bad_magic.so: bad magic"
expect_refusal bad_major "$so/bad_major.so: built for keel ABI 2.0"
expect_refusal bad_minor "$so/bad_minor.so: needs keel ABI"
expect_refusal bad_noentry "$so/bad_noentry.so: no 'keel_plugin_entry' symbol"
expect_refusal bad_unresolved "$so/bad_unresolved.so: cannot load plugin: .*keel_function_that_does_not_exist"
expect_refusal bad_nullinit "$so/bad_nullinit.so: the plugin descriptor has no init callback"
expect_refusal bad_initfail "plugin instance 'victim' \(module bad_initfail, $so/bad_initfail.so\) failed to init"

# A failing init after a good instance: the good one is destroyed, exit 1.
cfg="$TEST_DIR/partial.yaml"
{ kernel_header; cat <<'YAML'; } >"$cfg"
plugins:
  - name: fine
    module: test_capture
    config: {topics: [t]}
  - name: broken
    module: bad_initfail
YAML
run_to "$TEST_DIR/partial.log" timeout 30 "$KEELD" -c "$cfg"
status=$STATUS
if [ "$status" = 1 ] && grep -q "test_capture: handled=0" "$TEST_DIR/partial.log" &&
   grep -q "\[broken\] cannot open the frobnicator" "$TEST_DIR/partial.log"; then
  pass "init failure unwinds the instances already initialised"
else
  fail "partial start: status $status: $(cat "$TEST_DIR/partial.log")"
fi

# Duplicate instance names stop start-up too.
cfg="$TEST_DIR/dup.yaml"
{ kernel_header; printf 'plugins:\n  - {name: a, module: test_counter}\n  - {name: a, module: test_counter}\n'; } >"$cfg"
run_to "$TEST_DIR/dup.log" timeout 30 "$KEELD" -c "$cfg"
status=$STATUS
if [ "$status" = 1 ] && grep -q "duplicate instance name 'a'" "$TEST_DIR/dup.log"; then
  pass "duplicate instance name: exit 1"
else
  fail "duplicate: status $status: $(cat "$TEST_DIR/dup.log")"
fi

# ABI 1.0 plugin in a newer host: loads, inits with its config, stops cleanly.
cfg="$TEST_DIR/old.yaml"
{ kernel_header; printf 'plugins:\n  - name: veteran\n    module: old_minor\n    config: {greeting: ahoy}\n'; } >"$cfg"
start_keeld "$cfg" "$TEST_DIR/old.log"
if wait_for_file_match "$TEST_DIR/old.log" "keel started" 20 &&
   grep -q "old_minor says ahoy" "$TEST_DIR/old.log"; then
  pass "an ABI 1.0 plugin loads and runs"
else
  fail "old_minor: $(cat "$TEST_DIR/old.log")"
fi
kill -TERM "$KEELD_PID"
wait_exit "$KEELD_PID" 30
status=$STATUS
[ "$status" = 0 ] && pass "old_minor: SIGTERM exit 0" || fail "old_minor: exit $status"

finish
