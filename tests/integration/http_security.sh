#!/usr/bin/env bash
# The http plugin's guards: API keys (401 missing, 403 wrong, admin keys
# for admin routes), CORS (preflight allowed/denied, Allow-Origin on simple
# responses), rate limiting (429 + Retry-After), and the refusal to start
# on a non-loopback address without keys.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
CLIENT=client-key-1
ADMIN=admin-key-1
PORT=$(free_port)
{ kernel_header; cat <<YAML; } >"$TEST_DIR/auth.yaml"
plugins:
  - name: queue
    module: $QUEUE_SO
    config:
      queues: [{name: orders}]
$(http_plugin_entry "queue: queue
auth:
  api_keys: [$(sha $CLIENT)]
  admin_keys: [$(sha $ADMIN)]
cors:
  allow_origins: [https://shop.example]
  allow_methods: [GET, POST, DELETE]
  max_age: 5m")
YAML
http_up auth || { finish; exit; }
Q=$BASE/api/v1/admin/queues
check "admin route without a key" 401 "$Q"
is_error_json unauthorized
check "admin route with a wrong key" 403 -H 'Authorization: Bearer nope' "$Q"
is_error_json forbidden
check "admin route with a client key" 403 -H "X-Api-Key: $CLIENT" "$Q"
check "admin route with the admin key (Bearer)" 200 -H "Authorization: Bearer $ADMIN" "$Q"
body_has '"name":"orders"' "the admin key lists the queues"
check "admin route with the admin key (X-Api-Key)" 200 -H "X-Api-Key: $ADMIN" "$Q"
check "unknown API route with the client key" 404 -H "X-Api-Key: $CLIENT" "$BASE/api/v1/nothing"
check "health needs no key" 200 "$BASE/healthz"
check "static files need no key" 200 "$BASE/app.css"

# CORS.
check "preflight from an allowed origin" 204 -X OPTIONS -H 'Origin: https://shop.example' \
  -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type' "$Q"
[ "$(header Access-Control-Allow-Origin)" = "https://shop.example" ] &&
  [ "$(header Access-Control-Allow-Methods)" = "GET, POST, DELETE" ] &&
  [ "$(header Access-Control-Max-Age)" = 300 ] &&
  [[ "$(header Access-Control-Allow-Headers)" == *Content-Type* ]] &&
  pass "preflight has Allow-Origin, -Methods, -Headers, Max-Age" ||
  fail "preflight headers: $(tr -d '\r' <"$HEADERS" | grep -i access-control | tr '\n' ' ')"
[ -n "$(header X-Request-Id)" ] && pass "preflight has X-Request-Id" || fail "preflight without X-Request-Id"
check "preflight from another origin" 403 -X OPTIONS -H 'Origin: https://evil.example' \
  -H 'Access-Control-Request-Method: POST' "$Q"
[ -z "$(header Access-Control-Allow-Origin)" ] && pass "denied preflight has no Allow-Origin" || fail "denied preflight allowed"
check "preflight for a method not allowed" 403 -X OPTIONS -H 'Origin: https://shop.example' \
  -H 'Access-Control-Request-Method: PUT' "$Q"
check "simple request from the allowed origin" 200 -H 'Origin: https://shop.example' \
  -H "X-Api-Key: $ADMIN" "$Q"
[ "$(header Access-Control-Allow-Origin)" = "https://shop.example" ] && [[ "$(header Access-Control-Expose-Headers)" == *X-Request-Id* ]] &&
  pass "simple response has Allow-Origin and exposes X-Request-Id" || fail "simple response CORS headers missing"
check "simple request from another origin" 200 -H 'Origin: https://evil.example' -H "X-Api-Key: $ADMIN" "$Q"
[ -z "$(header Access-Control-Allow-Origin)" ] && pass "no Allow-Origin for another origin" || fail "Allow-Origin for evil"
http_down auth

# Rate limit: 1 request/s per client address, burst 3.
PORT=$(free_port)
{ kernel_header "$TEST_DIR/data-rl"; cat <<YAML; } >"$TEST_DIR/rl.yaml"
plugins:
$(http_plugin_entry "rate_limit: {rate: 1, burst: 3, by: address}")
YAML
http_up rl || { finish; exit; }
codes=""
for i in 1 2 3 4 5; do codes="$codes $(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/x")"; done
[ "$codes" = " 404 404 404 429 429" ] && pass "burst 3 then 429: $codes" || fail "rate limit codes:$codes"
check "rate limited" 429 "$BASE/app.css"
ra=$(header Retry-After)
[[ "$ra" =~ ^[1-9][0-9]*$ ]] && pass "429 has Retry-After: $ra" || fail "Retry-After '$ra'"
is_error_json rate_limited
check "health probes are not rate limited" 200 "$BASE/healthz"
sleep "${ra:-1}"
check "a token again after Retry-After" 200 "$BASE/app.css"
http_down rl

# Non-loopback without keys: refused at init, with a clear message.
PORT=$(free_port)
{ kernel_header "$TEST_DIR/data-open"; cat <<YAML; } >"$TEST_DIR/open.yaml"
plugins:
  - name: web
    module: $HTTP_SO
    config: {listen: "0.0.0.0:$PORT"}
YAML
run_to "$TEST_DIR/open.out" "$KEELD" -c "$TEST_DIR/open.yaml"
if [ "$STATUS" = 1 ] && grep -q "not a loopback address and no API keys are configured" "$TEST_DIR/open.out"; then
  pass "0.0.0.0 without keys: exit 1, $(grep -o "listen: .*" "$TEST_DIR/open.out" | head -c 120)"
else
  fail "0.0.0.0 without keys: status $STATUS: $(tail -n 3 "$TEST_DIR/open.out")"
fi
sed -i "s|config: {listen: \"0.0.0.0:$PORT\"}|config: {listen: \"0.0.0.0:$PORT\", auth: {api_keys: [not-a-hash]}}|" "$TEST_DIR/open.yaml"
run_to "$TEST_DIR/open2.out" "$KEELD" -c "$TEST_DIR/open.yaml"
[ "$STATUS" = 1 ] && grep -q "auth.api_keys\[0\]: not a lowercase hex SHA-256" "$TEST_DIR/open2.out" &&
  pass "a key that is not a SHA-256 hex is refused" || fail "bad hash: $STATUS $(tail -n 2 "$TEST_DIR/open2.out")"
sed -i "s|auth: {api_keys: \[not-a-hash\]}|auth: {allow_anonymous: true}|" "$TEST_DIR/open.yaml"
http_up open && check "0.0.0.0 with allow_anonymous serves" 200 "$BASE/healthz" && http_down open
finish
