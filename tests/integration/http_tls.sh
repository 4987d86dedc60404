#!/usr/bin/env bash
# The http plugin over TLS: HTTPS with a self-signed certificate, the
# minimum TLS version, no plain HTTP on the TLS port, a missing key file
# refused at init (and by --check-config, which runs the plugins' init),
# graceful SIGTERM.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

command -v openssl >/dev/null || { echo "openssl not installed"; exit 77; }
CERT=$TEST_DIR/cert.pem
KEY=$TEST_DIR/key.pem
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$KEY" -out "$CERT" 2>"$TEST_DIR/openssl.log" ||
  { fail "openssl req: $(tail -n 3 "$TEST_DIR/openssl.log")"; finish; exit; }

PORT=$(free_port)
BASE=https://127.0.0.1:$PORT
{ kernel_header; cat <<YAML; } >"$TEST_DIR/tls.yaml"
plugins:
$(http_plugin_entry "tls:
  cert: $CERT
  key: $KEY")
YAML
start_keeld "$TEST_DIR/tls.yaml" "$TEST_DIR/tls.log"
up=0
deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ]; do
  if curl -s -o /dev/null --cacert "$CERT" "$BASE/healthz"; then up=1; break; fi
  kill -0 "$KEELD_PID" 2>/dev/null || break
  sleep 0.05
done
[ "$up" = 1 ] || { fail "tls: keeld did not answer https /healthz: $(tail -n 5 "$TEST_DIR/tls.log")"; finish; exit; }
grep -q "listening on https://127.0.0.1:$PORT" "$TEST_DIR/tls.log" &&
  pass "the log says it listens on https://" || fail "no https listening line: $(tail -n 3 "$TEST_DIR/tls.log")"

check "GET https /healthz" 200 --cacert "$CERT" "$BASE/healthz"
body_has '^\{"status":"ok"\}$' "healthz body over TLS is {\"status\":\"ok\"}"
rid=$(header X-Request-Id)
[ -n "$rid" ] && pass "the HTTPS response has X-Request-Id ($rid)" || fail "no X-Request-Id over TLS"
got=$(curl -s -o /dev/null -o /dev/null -w "%{http_code}/%{num_connects} " --max-time 20 --cacert "$CERT" "$BASE/healthz" "$BASE/readyz" || true)
[ "$got" = "200/1 200/0 " ] && pass "keep-alive: two requests on one TLS connection ($got)" || fail "keep-alive over TLS: '$got'"
check "GET https /metrics" 200 --cacert "$CERT" "$BASE/metrics"
body_has '^keel_http_connections\{instance="web"\} [1-9]' "TLS connections are tracked (keel_http_connections)"

got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$CERT" --tls-max 1.1 "$BASE/healthz" || true)
[ "$got" != 200 ] && pass "TLS 1.1 is refused (min_version 1.2): curl got '$got'" || fail "TLS 1.1 got 200"
check "TLS 1.2 is accepted" 200 --cacert "$CERT" --tlsv1.2 --tls-max 1.2 "$BASE/healthz"
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/healthz" || true)
[ "$got" != 200 ] && pass "plain http:// on the TLS port gets no 200 (got '$got')" || fail "plain HTTP got 200 on the TLS port"
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/healthz" || true)
[ "$got" != 200 ] && pass "an untrusted certificate is not accepted by curl (got '$got')" || fail "no verification?"
check "still serving after bad clients" 200 --cacert "$CERT" "$BASE/healthz"

# Requests larger than the head buffer arrive in TLS records of up to 16 KiB:
# what OpenSSL decrypted beyond our room must still be read (no stall until
# read_timeout).
for size in 9000 12000 16000 40000; do
  head -c "$size" /dev/zero | tr '\0' 'a' | sed 's/^/{"a":"/; s/$/"}/' >"$TEST_DIR/body-$size"
  got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 4 --cacert "$CERT" -H 'Content-Type: application/json' \
    --data-binary @"$TEST_DIR/body-$size" "$BASE/api/v1/admin/nothing" || true)
  [ "$got" = 404 ] && pass "a $size-byte POST over TLS is answered at once (404)" ||
    fail "a $size-byte POST over TLS: '$got' (stalled?)"
done
# Connection: close ends with close_notify, so that a client can tell the
# end of the answer from a truncation (Python raises SSLEOFError on a bare
# TCP close when ragged EOFs are not suppressed).
got=$(timeout 20 python3 - "$PORT" "$CERT" <<'PY' 2>&1
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    print("close_notify" if b" 200 " in data.split(b"\r\n", 1)[0] else "status: %r" % data[:40])
except ssl.SSLEOFError as e:
    print("no close_notify: %s" % e)
PY
)
[ "$got" = close_notify ] && pass "Connection: close over TLS ends with close_notify" ||
  fail "Connection: close over TLS: $got"
# A client that sends a whole over-limit body before reading still gets its
# 413 over TLS: the server sends close_notify, then drops what follows
# instead of resetting the connection (the lingering close of plain HTTP).
got=$(timeout 30 python3 - "$PORT" "$CERT" <<'PY' 2>&1
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
big = b"x" * (3 << 20)
outcome = []
for attempt in range(3):
    raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        s.sendall(b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        outcome.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
    except OSError as e:
        outcome.append(type(e).__name__)
    s.close()
print(" | ".join(outcome))
PY
)
[ "$got" = "HTTP/1.1 413 Content Too Large | HTTP/1.1 413 Content Too Large | HTTP/1.1 413 Content Too Large" ] &&
  pass "a 3 MB body sent whole over TLS before reading gets its 413, 3 times in 3" ||
  fail "3 MB body over TLS, then read: $got"
# A static file larger than one TLS record, byte for byte.
head -c 300000 /dev/urandom >"$WEB/big.bin"
if curl -s --max-time 10 --cacert "$CERT" -o "$TEST_DIR/big.got" "$BASE/big.bin" && cmp -s "$WEB/big.bin" "$TEST_DIR/big.got"; then
  pass "a 300 KB static file over TLS arrives intact"
else
  fail "300 KB static file over TLS differs or failed"
fi
http_down tls

# min_version 1.3: TLS 1.2 refused.
PORT=$(free_port)
BASE=https://127.0.0.1:$PORT
{ kernel_header; cat <<YAML; } >"$TEST_DIR/tls13.yaml"
plugins:
$(http_plugin_entry "tls:
  cert: $CERT
  key: $KEY
  min_version: \"1.3\"")
YAML
start_keeld "$TEST_DIR/tls13.yaml" "$TEST_DIR/tls13.log"
deadline=$((SECONDS + 30))
until curl -s -o /dev/null --cacert "$CERT" "$BASE/healthz" || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
check "min_version 1.3: TLS 1.3 accepted" 200 --cacert "$CERT" "$BASE/healthz"
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$CERT" --tls-max 1.2 "$BASE/healthz" || true)
[ "$got" != 200 ] && pass "min_version 1.3: TLS 1.2 refused (got '$got')" || fail "TLS 1.2 got 200 with min 1.3"
http_down tls13

# A missing key file: init fails naming the file, and so does --check-config.
PORT=$(free_port)
{ kernel_header; cat <<YAML; } >"$TEST_DIR/nokey.yaml"
plugins:
$(http_plugin_entry "tls:
  cert: $CERT
  key: $TEST_DIR/missing-key.pem")
YAML
run_to "$TEST_DIR/nokey.check" "$KEELD" --check-config "$TEST_DIR/nokey.yaml"
[ "$STATUS" = 1 ] && grep -q "tls.key: '$TEST_DIR/missing-key.pem': .*No such file" "$TEST_DIR/nokey.check" &&
  pass "missing key file: --check-config exits 1 naming it" || fail "--check-config exit $STATUS: $(tail -n 3 "$TEST_DIR/nokey.check")"
run_to "$TEST_DIR/nokey.log" timeout 30 "$KEELD" -c "$TEST_DIR/nokey.yaml"
[ "$STATUS" = 1 ] && pass "missing key file: keeld exits 1" || fail "missing key file: exit $STATUS"
grep -q "tls.key: '$TEST_DIR/missing-key.pem': .*No such file" "$TEST_DIR/nokey.log" &&
  pass "the error names the missing file: $(grep -o "tls.key: .*" "$TEST_DIR/nokey.log" | head -n 1)" ||
  fail "no error naming the key file: $(tail -n 3 "$TEST_DIR/nokey.log")"

# cert without key: refused at init.
{ kernel_header; cat <<YAML; } >"$TEST_DIR/half.yaml"
plugins:
$(http_plugin_entry "tls:
  cert: $CERT")
YAML
run_to "$TEST_DIR/half.log" timeout 30 "$KEELD" -c "$TEST_DIR/half.yaml"
[ "$STATUS" = 1 ] && grep -q "tls: set both cert and key" "$TEST_DIR/half.log" &&
  pass "cert without key: exit 1, 'tls: set both cert and key'" || fail "cert without key: exit $STATUS: $(tail -n 3 "$TEST_DIR/half.log")"

finish
