#!/usr/bin/env bash
# keeld --check-config: every kind of config mistake is refused with
# file:line:column, the key, and what is allowed; good configs pass.
source "$(dirname "$0")/lib.sh"

# expect_error NAME REGEX: the config in $TEST_DIR/NAME.yaml must fail with
# a line matching REGEX.
expect_error() {
  local name=$1 regex=$2 file="$TEST_DIR/$1.yaml"
  run_to "$TEST_DIR/$name.out" "$KEELD" --check-config "$file"
  local status=$STATUS
  if [ "$status" = 1 ] && grep -Eq -- "$regex" "$TEST_DIR/$name.out"; then
    pass "$name: exit 1, message: $(grep -E -- "$regex" "$TEST_DIR/$name.out" | head -1)"
  else
    fail "$name: status $status, wanted 1 and /$regex/; got: $(cat "$TEST_DIR/$name.out")"
  fi
}

expect_ok() {
  local name=$1 file="$TEST_DIR/$1.yaml"
  run_to "$TEST_DIR/$name.out" "$KEELD" --check-config "$file"
  local status=$STATUS
  if [ "$status" = 0 ] && grep -q "OK" "$TEST_DIR/$name.out"; then
    pass "$name: accepted"
  else
    fail "$name: status $status: $(cat "$TEST_DIR/$name.out")"
  fi
}

F="$TEST_DIR"
{ kernel_header; cat <<'YAML'; } >"$F/good.yaml"
plugins:
  - name: counter
    module: test_counter
    config:
      start: 5
  - name: probe
    module: test_prober
    config:
      granted_topic: out
      target: counter
      denied_topic: secret
      denied_instance: counter
    allow:
      publish: [audit]
      services: [counter]
YAML
expect_ok good

cat >"$F/unknown_kernel_key.yaml" <<'YAML'
kernel:
  data_dir: /tmp/x
  log_levl: debug
YAML
expect_error unknown_kernel_key \
  "unknown_kernel_key.yaml:3:3: kernel: unknown key 'log_levl'; allowed keys: data_dir, plugin_dir, log_level"

cat >"$F/empty_data_dir.yaml" <<'YAML'
kernel:
  data_dir: ${KEEL_TEST_EMPTY}
YAML
export KEEL_TEST_EMPTY=''
expect_error empty_data_dir "empty_data_dir.yaml:2:13: kernel.data_dir: empty"

cat >"$F/wrong_type.yaml" <<'YAML'
kernel:
  worker_threads: many
YAML
expect_error wrong_type "wrong_type.yaml:2:19: kernel.worker_threads: expected int"

{ kernel_header; cat <<'YAML'; } >"$F/unknown_plugin_key.yaml"
plugins:
  - name: counter
    module: test_counter
    config:
      start: 1
      stat: 2
YAML
expect_error unknown_plugin_key \
  "unknown_plugin_key.yaml:10:7: plugins\[0\].config: unknown key 'stat'; allowed keys: start"

{ kernel_header; cat <<'YAML'; } >"$F/plugin_wrong_type.yaml"
plugins:
  - name: counter
    module: test_counter
    config:
      start: ten
YAML
expect_error plugin_wrong_type "plugin_wrong_type.yaml:9:14: plugins\[0\].config.start: expected int"

{ kernel_header; cat <<'YAML'; } >"$F/missing_required.yaml"
plugins:
  - name: cap
    module: test_capture
    config:
      result: ok
YAML
expect_error missing_required \
  "missing_required.yaml:[0-9]+:[0-9]+: plugins\[0\].config: missing required key 'topics'"

{ kernel_header; cat <<'YAML'; } >"$F/dangling.yaml"
plugins:
  - name: probe
    module: test_prober
    config:
      granted_topic: out
      target: ghost
      denied_topic: secret
      denied_instance: x
YAML
expect_error dangling "dangling.yaml:10:15: plugins\[0\].config.target: no instance named 'ghost'; instances: probe"

{ kernel_header; cat <<'YAML'; } >"$F/dangling_allow.yaml"
plugins:
  - name: counter
    module: test_counter
    allow:
      services: [phantom]
YAML
expect_error dangling_allow "dangling_allow.yaml:9:18: plugins\[0\].allow.services\[0\]: no instance named 'phantom'"

printf 'kernel:\n  data_dir: [unclosed\n' >"$F/bad_yaml.yaml"
expect_error bad_yaml "bad_yaml.yaml:[0-9]+:[0-9]+: "

{ kernel_header; cat <<'YAML'; } >"$F/duplicate_name.yaml"
plugins:
  - name: counter
    module: test_counter
  - name: counter
    module: test_counter
YAML
expect_error duplicate_name \
  "duplicate_name.yaml:8:11: plugins\[1\].name: duplicate instance name 'counter' \(first defined at line 6\)"

{ kernel_header; cat <<'YAML'; } >"$F/unknown_module.yaml"
plugins:
  - name: x
    module: no_such_module
YAML
expect_error unknown_module "unknown_module.yaml:7:13: plugins\[0\].module: no plugin module 'no_such_module'"

cat >"$F/unknown_top.yaml" <<'YAML'
kernal:
  data_dir: /tmp
YAML
expect_error unknown_top "unknown_top.yaml:1:1: config: unknown key 'kernal'; allowed keys: kernel, plugins, pipelines"

# ${VAR} substitution: unset without default is an error at the scalar...
{ kernel_header; cat <<'YAML'; } >"$F/env.yaml"
plugins:
  - name: counter
    module: test_counter
    config:
      start: ${KEEL_IT_START}
YAML
unset KEEL_IT_START
expect_error env "env.yaml:9:14: .*KEEL_IT_START"
# ...and set, it is substituted and type-checked.
KEEL_IT_START=42 expect_ok env
KEEL_IT_START=forty expect_error env "env.yaml:9:14: plugins\[0\].config.start: expected int"

# --describe-plugin prints keys, types, defaults and descriptions.
out=$("$KEELD" --describe-plugin test_capture --plugin-dir "$KEEL_TEST_PLUGIN_DIR" 2>&1) || true
if grep -q "topics" <<<"$out" && grep -q "duration" <<<"$out" && grep -q "time each message takes" <<<"$out"; then
  pass "describe-plugin lists keys with types and descriptions"
else
  fail "describe-plugin output: $out"
fi
run_to "$TEST_DIR/describe.out" "$KEELD" --describe-plugin nope --plugin-dir "$KEEL_TEST_PLUGIN_DIR"
status=$STATUS
[ "$status" = 1 ] && pass "describe-plugin of a missing module exits 1" || fail "describe-plugin missing: $status"

# Pipelines: steps must exist and be able to run as steps; sizes in range.
{ kernel_header; cat <<'YAML'; } >"$F/pipeline_bad_step.yaml"
plugins:
  - {name: q, module: test_counter}
  - {name: counter, module: test_counter}
pipelines:
  - name: orders
    queue: q
    steps: [counter, ghost]
    batch_size: 11
YAML
expect_error pipeline_bad_step "pipeline_bad_step.yaml:11:13: pipelines\[0\].steps\[0\]: instance 'counter' \(module test_counter\) cannot be a pipeline step"
expect_error pipeline_bad_step "pipeline_bad_step.yaml:11:22: pipelines\[0\].steps\[1\]: no instance named 'ghost'"
expect_error pipeline_bad_step "pipeline_bad_step.yaml:12:17: pipelines\[0\].batch_size: 11 is out of range 1..10"

{ kernel_header; cat <<'YAML'; } >"$F/pipeline_bad_queue.yaml"
plugins:
  - {name: s, module: test_step}
pipelines:
  - {name: orders, queue: nowhere, steps: [s]}
YAML
expect_error pipeline_bad_queue "pipeline_bad_queue.yaml:8:27: pipelines\[0\].queue: no instance named 'nowhere'"

# The plugins' own checks run too (--check-config runs their init in a
# scratch data dir): what keeld -c would refuse, --check-config refuses.
conf=$KEEL_SOURCE_DIR/conf/keel.yaml
export KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web
sed 's/          max_receives: 3/          max_receives: 0/' "$conf" >"$F/plugin_range.yaml"
expect_error plugin_range "queue 'orders': 'max_receives' is 0, must be 1..1000"
sed 's/^    steps: \[confirm, store\]$/    source: ghostq\n    steps: [confirm, store]/' "$conf" >"$F/pipeline_source.yaml"
expect_error pipeline_source "queue instance 'queue' has no queue named 'ghostq' \\(it has: orders\\)"
sed 's|^          dlq_retention: 14d$|          dlq_retention: 14d\n        - name: "or ders"|' "$conf" >"$F/queue_name.yaml"
grep -q '"or ders"' "$F/queue_name.yaml" && expect_error queue_name "queues\\[1\\]: 'name' must be 1-80 letters" || fail "queue_name: conf/keel.yaml changed shape"
# Many queues: the orders queue is found however many come before it.
python3 - "$conf" "$F/many_queues.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
many = "".join(f"        - name: q{i}\n" for i in range(70))
assert text.count("        - name: orders\n") == 1, "conf/keel.yaml changed shape"
open(sys.argv[2], "w").write(text.replace("        - name: orders\n", many + "        - name: orders\n", 1))
PY
expect_ok many_queues
ls -d "${TMPDIR:-/tmp}"/keeld-check-* >/dev/null 2>&1 && fail "--check-config left a scratch dir: $(ls -d "${TMPDIR:-/tmp}"/keeld-check-*)" ||
  pass "--check-config removes its scratch data dir"
finish
