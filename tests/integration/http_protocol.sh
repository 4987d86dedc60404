#!/usr/bin/env bash
# HTTP/1.1 on the wire (tests/integration/http_protocol.py on raw sockets):
# keep-alive, pipelining, HTTP/1.0, Expect: 100-continue, chunked bodies in
# pieces, absolute-form targets, and framing errors (413, 431, 400, 501,
# 505) answered as JSON with a request id before the connection closes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

PORT=$(free_port)
{ kernel_header; cat <<YAML; } >"$TEST_DIR/protocol.yaml"
plugins:
  - name: queue
    module: $QUEUE_SO
    config:
      queues: [{name: orders}]
$(http_plugin_entry "queue: queue")
YAML
head -c $((2 * 1024 * 1024)) /dev/urandom >"$WEB/big.bin"
http_up protocol || { finish; exit; }

while IFS= read -r line; do
  case "$line" in
    "ok "*) pass "${line#ok }" ;;
    "not ok "*) fail "${line#not ok }" ;;
    *) echo "$line" ;;
  esac
done < <(timeout 120 python3 "$(dirname "$0")/http_protocol.py" "$PORT" "$WEB/big.bin" 2>&1 || echo "not ok http_protocol.py exited with status $?")
check "still serving after the protocol checks" 200 "$BASE/healthz"
http_down protocol
finish
