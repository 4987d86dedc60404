#!/usr/bin/env bash
# Slow and greedy clients: a client sending one byte a second is closed
# after read_timeout while other requests keep being served, and
# connections beyond max_connections are closed at once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

PORT=$(free_port)
{ kernel_header; cat <<YAML; } >"$TEST_DIR/slow.yaml"
plugins:
$(http_plugin_entry "limits: {read_timeout: 2s, max_connections: 3}")
YAML
http_up slow || { finish; exit; }

# One byte per second on a raw connection.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
( req='GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
  for ((i = 0; i < ${#req}; i++)); do printf '%s' "${req:i:1}" >&3 2>/dev/null || exit 0; sleep 1; done ) &
WRITER=$!
start=$SECONDS
served=0
for i in 1 2 3 4 5 6; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/healthz")" = 200 ] && served=$((served + 1))
  sleep 0.2
done
[ "$served" = 6 ] && pass "6 /healthz requests served while the slow client trickles" || fail "only $served of 6 served"
if timeout 10 cat <&3 >"$TEST_DIR/slow.out"; then
  elapsed=$((SECONDS - start))
  if [ "$elapsed" -le 6 ] && ! grep -q '200 OK' "$TEST_DIR/slow.out"; then
    pass "the slow client was disconnected after ~${elapsed}s (read_timeout 2s), without a response"
  else
    fail "slow client: closed after ${elapsed}s: $(head -c 100 "$TEST_DIR/slow.out")"
  fi
else
  fail "the slow client was never disconnected"
fi
exec 3<&-
kill "$WRITER" 2>/dev/null || true
wait "$WRITER" 2>/dev/null || true
wait_for_file_match "$TEST_DIR/slow.log" "request not received within read_timeout" 5 &&
  pass "the disconnection is logged" || fail "no log line for the slow client"

# max_connections: 3 idle connections held, a 4th request is refused.
exec 4<>"/dev/tcp/127.0.0.1/$PORT" 5<>"/dev/tcp/127.0.0.1/$PORT" 6<>"/dev/tcp/127.0.0.1/$PORT"
sleep 0.2
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/healthz" || true)
[ "$code" = 000 ] && pass "a 4th connection beyond max_connections 3 is closed (curl: $code)" ||
  fail "4th connection answered $code"
exec 4<&- 5<&- 6<&-
deadline=$((SECONDS + 10))
code=000
while [ $SECONDS -lt $deadline ] && [ "$code" != 200 ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/healthz" || true)
  [ "$code" = 200 ] || sleep 0.1
done
[ "$code" = 200 ] && pass "served again once the connections closed" || fail "not served again: $code"
check "metrics" 200 "$BASE/metrics"
body_has 'keel_http_rejected_total\{instance="web",reason="max_connections"\} [1-9]' "rejections counted by reason (max_connections)"
body_has 'keel_http_rejected_total\{instance="web",reason="read_timeout"\} [1-9]' "rejections counted by reason (read_timeout)"
http_down slow
finish
