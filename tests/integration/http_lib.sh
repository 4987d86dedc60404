# shellcheck shell=bash
# Helpers for the http plugin's integration tests (sourced after lib.sh):
# a keeld with the http plugin on a random free port of 127.0.0.1, curl
# checks by status code, and header lookups.

PLUGIN_BUILD_DIR=$(cd "$(dirname "$KEELD")/.." && pwd)/lib/keel/plugins
HTTP_SO=${KEEL_HTTP_SO:-$PLUGIN_BUILD_DIR/http.so}
QUEUE_SO=${KEEL_QUEUE_SO:-$PLUGIN_BUILD_DIR/queue_lmdb.so}
WEB=$TEST_DIR/web
mkdir -p "$WEB/sub"
printf '<!doctype html><h1>keel</h1>\n' >"$WEB/index.html"
printf 'body { color: red }\n' >"$WEB/app.css"
printf 'console.log(1)\n' >"$WEB/app.js"
printf '{"a":1}\n' >"$WEB/data.json"
printf '<svg xmlns="http://www.w3.org/2000/svg"/>\n' >"$WEB/logo.svg"
printf 'top secret\n' >"$TEST_DIR/secret.txt"

if [ ! -f "$HTTP_SO" ]; then
  echo "http plugin not built: $HTTP_SO"
  exit 77
fi

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# http_plugin_entry EXTRA_YAML: the http instance entry; EXTRA_YAML lines
# are indented into its config (6 spaces).
http_plugin_entry() {
  cat <<YAML
  - name: web
    module: $HTTP_SO
    config:
      listen: 127.0.0.1:$PORT
      threads: 2
      web_root: $WEB
$(sed 's/^/      /' <<<"${1:-}")
YAML
}

# http_up NAME: starts keeld with $TEST_DIR/NAME.yaml and waits for /healthz.
http_up() {
  BASE=http://127.0.0.1:$PORT
  start_keeld "$TEST_DIR/$1.yaml" "$TEST_DIR/$1.log"
  local deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    curl -s -o /dev/null "$BASE/healthz" && return 0
    kill -0 "$KEELD_PID" 2>/dev/null || break
    sleep 0.05
  done
  fail "$1: keeld did not answer /healthz: $(tail -n 5 "$TEST_DIR/$1.log")"
  return 1
}

# http_down NAME: SIGTERM, expect exit 0.
http_down() {
  kill -TERM "$KEELD_PID" 2>/dev/null || true
  wait_exit "$KEELD_PID" 30
  if [ "$STATUS" = 0 ]; then pass "$1: SIGTERM -> exit 0"; else fail "$1: exit $STATUS: $(tail -n 5 "$TEST_DIR/$1.log")"; fi
  KEELD_PID=""
}

# check NAME WANT_STATUS CURL_ARGS...: body in $BODY, headers in $HEADERS.
BODY=$TEST_DIR/body
HEADERS=$TEST_DIR/headers
check() {
  local name=$1 want=$2 got
  shift 2
  rm -f "$BODY" "$HEADERS"
  got=$(curl -s -o "$BODY" -D "$HEADERS" -w '%{http_code}' --max-time 20 "$@" || true)
  touch "$BODY" "$HEADERS"
  if [ "$got" = "$want" ]; then
    pass "$name: $got $(head -c 160 "$BODY" | tr -d '\n')"
  else
    fail "$name: got $got, want $want: $(head -c 300 "$BODY")"
  fi
}

# header NAME: value of a response header of the last check.
header() { grep -i "^$1:" "$HEADERS" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }

# body_has REGEX WHAT: the last body matches.
body_has() {
  if grep -Eq -- "$1" "$BODY"; then pass "$2"; else fail "$2: $(head -c 300 "$BODY")"; fi
}
# is_error_json CODE: the last body is an error object with CODE and the request id.
is_error_json() {
  local rid
  rid=$(header X-Request-Id)
  if [ -n "$rid" ] && python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["error"] == sys.argv[2] and d["request_id"] == sys.argv[3] and isinstance(d["message"], str)
' "$BODY" "$1" "$rid" 2>/dev/null; then
    pass "error body is {error: $1, message, request_id: $rid}"
  else
    fail "error body for $1 (request id '$rid'): $(head -c 300 "$BODY")"
  fi
}

# order_json ID CUSTOMER: the seed 004 order (camelCase) under ID.
order_json() {
  cat <<JSON
{"orderId":"$1","customerId":"$2","orderDate":"2025-03-06T16:30:00Z",
"items":[{"productId":"PROD-001","name":"Widget Pro","quantity":2,"price":19.99}],
"shippingAddress":{"street":"123 Main St","city":"Anytown","state":"CA","zipCode":"12345"},
"paymentMethod":"credit_card","totalAmount":39.98}
JSON
}

# queue_admin_up NAME: keeld with the test's own queue_entry (a function
# it defines) and an http instance over it on a fresh port, config
# $TEST_DIR/NAME.yaml; $Q is the admin queues URL. Ends the test when
# keeld does not come up.
queue_admin_up() {
  PORT=$(free_port)
  { kernel_header; cat <<YAML; } >"$TEST_DIR/$1.yaml"
plugins:
$(queue_entry)
$(http_plugin_entry "queue: queue")
YAML
  http_up "$1" || { finish; exit; }
  Q=$BASE/api/v1/admin/queues
}
