#!/usr/bin/env bash
# /readyz reflects every instance's health: with an instance whose health
# callback reports a failure, /readyz answers 503 with the instance and its
# reason while /healthz (liveness) stays 200.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

PORT=$(free_port)
{ kernel_header; cat <<YAML; } >"$TEST_DIR/sick.yaml"
plugins:
  - name: backend
    module: test_capture
    config: {topics: [nothing], unhealthy: "database unreachable"}
$(http_plugin_entry "")
YAML
http_up sick || { finish; exit; }

check "GET /healthz with a sick backend" 200 "$BASE/healthz"
check "GET /readyz with a sick backend" 503 "$BASE/readyz"
body_has '"status":"not ready"' "readyz says not ready"
body_has '"reason":"backend: database unreachable"' "readyz names the instance and its reason"
[ -n "$(header X-Request-Id)" ] && pass "503 carries X-Request-Id" || fail "503 without X-Request-Id"
http_down sick

finish
