#!/usr/bin/env bash
# The http plugin's core: health, readiness, metrics, static files (MIME,
# ETag/304, Last-Modified, no listing, no traversal), request ids, unknown
# API routes, 405, request limits (413, 415, 400 for bad JSON/UTF-8/depth/
# NUL, oversized headers), chunked bodies, graceful SIGTERM.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

PORT=$(free_port)
{ kernel_header; cat <<YAML; } >"$TEST_DIR/basic.yaml"
plugins:
  - name: queue
    module: $QUEUE_SO
    config:
      queues: [{name: orders}]
$(http_plugin_entry "queue: queue")
YAML
http_up basic || { finish; exit; }

check "GET /healthz" 200 "$BASE/healthz"
body_has '^\{"status":"ok"\}$' "healthz body is {\"status\":\"ok\"}"
check "GET /readyz" 200 "$BASE/readyz"
body_has '^\{"status":"ready"\}$' "readyz body is {\"status\":\"ready\"}"
check "HEAD /healthz" 200 -I "$BASE/healthz"
check "GET /metrics" 200 "$BASE/metrics"
[ "$(header Content-Type)" = "text/plain; version=0.0.4; charset=utf-8" ] &&
  pass "metrics Content-Type is the Prometheus text format" || fail "metrics type: $(header Content-Type)"
body_has 'keel_http_requests_total\{instance="web",route="healthz",method="GET",status="2xx"\} [1-9]' \
  "metrics count the /healthz requests (keel_http_requests_total)"
body_has '^keel_http_connections\{instance="web"\} [1-9]' "metrics have keel_http_connections"
body_has 'keel_http_request_seconds_bucket\{instance="web",route="healthz"' "metrics have the latency histogram"

# Request ids: echoed when valid, generated otherwise, on every response.
check "X-Request-Id echoed" 200 -H 'X-Request-Id: abc.DEF_123-x' "$BASE/healthz"
[ "$(header X-Request-Id)" = "abc.DEF_123-x" ] && pass "a valid X-Request-Id is echoed" || fail "echo: $(header X-Request-Id)"
check "invalid X-Request-Id replaced" 200 -H 'X-Request-Id: bad id!' "$BASE/healthz"
rid=$(header X-Request-Id)
[[ "$rid" =~ ^[0-9A-Z]{26}$ ]] && pass "an invalid X-Request-Id is replaced by a new id ($rid)" || fail "generated: '$rid'"
long=$(printf 'a%.0s' $(seq 129))
check "129-char X-Request-Id replaced" 200 -H "X-Request-Id: $long" "$BASE/healthz"
[ "$(header X-Request-Id)" != "$long" ] && pass "a 129-char X-Request-Id is not echoed" || fail "long id echoed"

# Static files.
check "GET / serves index.html" 200 "$BASE/"
[ "$(header Content-Type)" = "text/html; charset=utf-8" ] && pass "index.html is text/html" || fail "type $(header Content-Type)"
for f in app.css:text/css app.js:text/javascript data.json:application/json logo.svg:image/svg+xml; do
  check "GET /${f%%:*}" 200 "$BASE/${f%%:*}"
  [[ "$(header Content-Type)" == "${f#*:}"* ]] && pass "${f%%:*} is ${f#*:}" || fail "${f%%:*}: $(header Content-Type)"
done
check "GET /app.css for its ETag" 200 "$BASE/app.css"
etag=$(header ETag)
modified=$(header Last-Modified)
[[ "$etag" =~ ^\"[0-9a-f-]+\"$ ]] && pass "strong ETag $etag" || fail "etag '$etag'"
check "If-None-Match with the ETag" 304 -H "If-None-Match: $etag" "$BASE/app.css"
[ ! -s "$BODY" ] && pass "304 has no body" || fail "304 body: $(cat "$BODY")"
check "If-None-Match with another ETag" 200 -H 'If-None-Match: "nope"' "$BASE/app.css"
check "If-Modified-Since Last-Modified" 304 -H "If-Modified-Since: $modified" "$BASE/app.css"
check "If-Modified-Since long ago" 200 -H "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT" "$BASE/app.css"
check "HEAD /app.css" 200 -I "$BASE/app.css"
[ "$(header Content-Length)" = 20 ] && pass "HEAD has Content-Length 20" || fail "HEAD length $(header Content-Length)"
check "missing file" 404 "$BASE/nope.html"
is_error_json not_found
check "directory without its slash" 301 "$BASE/sub"
[ "$(header Location)" = /sub/ ] && pass "301 to /sub/ (where its index.html would be)" ||
  fail "Location: '$(header Location)'"
check "directory without its slash, with a query" 301 "$BASE/sub?x=1"
[ "$(header Location)" = "/sub/?x=1" ] && pass "the 301 keeps the query" || fail "Location: '$(header Location)'"
check "directory with slash: no listing" 404 "$BASE/sub/"
mkdir -p "$WEB/.git" "$WEB/.well-known"
printf 'SECRET=1\n' >"$WEB/.env"
printf '[core]\n' >"$WEB/.git/config"
printf 'x\n' >"$WEB/sub/.hidden"
printf 'token\n' >"$WEB/.well-known/acme-token"
ln -s .env "$WEB/plain-name"
for path in /.env /.git/config /sub/.hidden /%2eenv /.well-known/../.env /plain-name; do
  code=$(curl -s -o "$BODY" -w '%{http_code}' --path-as-is "$BASE$path" || true)
  [ "$code" = 404 ] || [ "$code" = 400 ] && ! grep -q -e SECRET -e core -e '^x$' "$BODY" &&
    pass "dotfile $path is not served ($code)" || fail "dotfile $path: $code $(head -c 80 "$BODY")"
done
check "/.well-known/ is served" 200 "$BASE/.well-known/acme-token"
check "POST to a static path" 405 -X POST -d x "$BASE/app.css"
[ "$(header Allow)" = "GET, HEAD" ] && pass "405 has Allow: GET, HEAD" || fail "Allow: $(header Allow)"
is_error_json method_not_allowed

# Traversal: never a file outside web_root.
for path in '/../secret.txt' '/%2e%2e/secret.txt' '/sub/%2E%2E/%2e%2e/secret.txt' '/..%2fsecret.txt' \
            '/sub%2f..%2f..%2fsecret.txt' '/%00' '/app.css%00.html' '/..\secret.txt'; do
  code=$(curl -s -o "$BODY" -w '%{http_code}' --path-as-is "$BASE$path")
  if [[ "$code" =~ ^40[04]$ ]] && ! grep -q 'top secret' "$BODY"; then
    pass "traversal $path -> $code, nothing outside web_root"
  else
    fail "traversal $path -> $code: $(head -c 100 "$BODY")"
  fi
done
ln -s "$TEST_DIR/secret.txt" "$WEB/link.txt"
check "symlink out of web_root" 404 "$BASE/link.txt"

# API: unknown routes, methods.
check "unknown API route" 404 "$BASE/api/v1/nothing"
is_error_json not_found
check "orders route not built yet" 404 -X POST -H 'Content-Type: application/json' -d '{}' "$BASE/api/v1/orders"
check "PUT on the DLQ route" 405 -X PUT "$BASE/api/v1/admin/queues/orders/dlq"
[ "$(header Allow)" = "GET, HEAD, DELETE" ] && pass "405 Allow: GET, HEAD, DELETE" || fail "Allow: $(header Allow)"

# Bodies on the admin POST.
REDRIVE=$BASE/api/v1/admin/queues/orders/dlq/redrive
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$TEST_DIR/big"
check "10 MB body" 413 -H 'Content-Type: application/json' --data-binary @"$TEST_DIR/big" "$REDRIVE"
check "text/plain body" 415 -H 'Content-Type: text/plain' -d '{}' "$REDRIVE"
is_error_json unsupported_media_type
check "malformed JSON" 400 -H 'Content-Type: application/json' -d '{"ids": [' "$REDRIVE"
is_error_json bad_request
python3 -c 'print("[" * 100000 + "]" * 100000)' >"$TEST_DIR/deep"
check "100,000-deep JSON" 400 -H 'Content-Type: application/json' --data-binary @"$TEST_DIR/deep" "$REDRIVE"
body_has 'max_json_depth' "the deep body is refused for its depth"
printf '{"ids":["\xff\xfe"]}' >"$TEST_DIR/badutf8"
check "invalid UTF-8" 400 -H 'Content-Type: application/json' --data-binary @"$TEST_DIR/badutf8" "$REDRIVE"
body_has 'UTF-8' "the invalid UTF-8 body is refused as such"
check "wrong field types" 400 -H 'Content-Type: application/json' -d '{"ids": 5}' "$REDRIVE"
check "chunked JSON body" 200 -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
  -d '{"ids": [], "rate_per_second": 0}' "$REDRIVE"
body_has '^\{"moved":0\}$' "chunked redrive answers {\"moved\":0}"
check "NUL in the path" 400 --path-as-is "$BASE/api/v1/admin/queues/orders%00/dlq"

# Header limits (8 KiB of headers, at most 64 of them).
bigheader=$(head -c 65536 /dev/zero | tr '\0' 'h')
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $bigheader" "$BASE/healthz" || true)
[[ "$code" =~ ^(400|431)$ ]] && pass "a 64 KiB header line is refused ($code)" || fail "64 KiB header: $code"
args=()
for i in $(seq 200); do args+=(-H "X-H$i: v"); done
check "200 headers" 431 "${args[@]}" "$BASE/healthz"
is_error_json headers_too_large
check "still serving after the limits" 200 "$BASE/healthz"

grep -q '"method":"GET","path":"/healthz","query":null,"status":200' "$TEST_DIR/basic.log" &&
  pass "access log has JSON lines" || fail "no access log line: $(grep access "$TEST_DIR/basic.log" | head -n 2)"
grep -Eq 'access \{.*"latency_ms":[0-9.e-]+,"request_id":"abc.DEF_123-x","client":"127.0.0.1"\}' "$TEST_DIR/basic.log" &&
  pass "access log has latency, request id and client" || fail "access log fields: $(grep access "$TEST_DIR/basic.log" | head -n 1)"
http_down basic
finish
