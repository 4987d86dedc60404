#!/usr/bin/env python3
"""http_protocol.py PORT — the ingress's HTTP/1.1 framing on raw sockets:
keep-alive, pipelining, HTTP/1.0, Expect: 100-continue, chunked bodies,
absolute-form targets, and framing errors answered as JSON with a request
id before the connection closes. Prints "ok NAME" / "not ok NAME: why"."""
import json
import random
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])
failures = 0


def report(ok, name, why=""):
    global failures
    print(("ok " if ok else "not ok ") + name + ("" if ok else ": " + why))
    failures += 0 if ok else 1


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    """Reads responses (Content-Length framed) off one socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return lines[0], status, headers, body

    def closed(self, deadline=5.0):
        """True when the server closes the connection (EOF) in time."""
        self.sock.settimeout(deadline)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def expect_error(name, raw, status, code):
    s = connect()
    r = Reader(s)
    try:
        s.sendall(raw)
        _, got, headers, body = r.response()
        doc = json.loads(body)
        ok = (got == status and doc.get("error") == code and
              doc.get("request_id") == headers.get("x-request-id") and
              headers.get("connection") == "close" and r.closed())
        report(ok, name, f"status {got}, headers {headers}, body {body[:200]!r}")
    except Exception as e:  # noqa: BLE001 - a test reports every failure
        report(False, name, repr(e))
    finally:
        s.close()


# Keep-alive: three requests on one connection, then pipelined requests
# answered in order.
s = connect()
r = Reader(s)
for i in range(3):
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ka-%d\r\n\r\n" % i)
    _, st, h, body = r.response()
    if st != 200 or h.get("x-request-id") != f"ka-{i}":
        break
report(st == 200 and h.get("x-request-id") == "ka-2", "keep-alive: 3 requests on one connection")
s.sendall(b"".join(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: p-%d\r\n\r\n" % i
                   for i in range(20)))
ids = [r.response()[2].get("x-request-id") for _ in range(20)]
report(ids == [f"p-{i}" for i in range(20)], "20 pipelined requests answered in order", str(ids))
# A pipelined POST with a body between two GETs.
body = b'{"ids": []}'
s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
          b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
          b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" % (len(body), body))
got = [r.response() for _ in range(3)]
report([g[1] for g in got] == [200, 200, 200] and got[1][3].strip() == b'{"moved":0}',
       "pipelined GET, POST with body, GET", str([(g[1], g[3][:40]) for g in got]))
s.close()

# HTTP/1.0: closes after the answer unless keep-alive is asked for.
s = connect()
r = Reader(s)
s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
status_line, st, h, _ = r.response()
report(st == 200 and r.closed(), "HTTP/1.0 without keep-alive: answered, then closed")
s.close()
s = connect()
r = Reader(s)
s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
_, st, h, _ = r.response()
s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
_, st2, h2, _ = r.response()
report(st == st2 == 200 and h.get("connection", "").lower() == "keep-alive",
       "HTTP/1.0 keep-alive: two requests, Connection: keep-alive", str(h))
s.close()

# Expect: 100-continue gets the interim answer before the body is sent.
s = connect()
r = Reader(s)
s.sendall(b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
          % len(body))
_, st, _, _ = r.response()
s.sendall(body)
_, st2, _, b2 = r.response()
report(st == 100 and st2 == 200 and b2.strip() == b'{"moved":0}', "Expect: 100-continue", f"{st} {st2}")
s.close()

# A chunked body sent a few bytes at a time, with an extension and a trailer.
s = connect()
r = Reader(s)
raw = (b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
       b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
       b"4;x=y\r\n{\"id\r\n7\r\ns\": []}\r\n0\r\nX-Trailer: 1\r\n\r\n")
for i in range(0, len(raw), 5):
    s.sendall(raw[i:i + 5])
    time.sleep(0.002)
_, st, _, b2 = r.response()
report(st == 200 and b2.strip() == b'{"moved":0}', "chunked body in 5-byte writes", f"{st} {b2!r}")
s.close()

# An absolute-form target is served like its path.
s = connect()
r = Reader(s)
s.sendall(b"GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
_, st, _, b2 = r.response()
report(st == 200 and b"ok" in b2, "absolute-form request target", f"{st}")
s.close()

# Framing errors: JSON, a request id, Connection: close, then closed.
expect_error("413 for a Content-Length over max_body, without reading it",
             b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{", 413,
             "payload_too_large")
expect_error("413 for a chunked body over max_body",
             b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"FFFFFF\r\n", 413, "payload_too_large")
expect_error("431 for a 64 KiB header line",
             b"GET /healthz HTTP/1.1\r\nX-Big: " + b"h" * 65536 + b"\r\n\r\n", 431,
             "headers_too_large")
expect_error("400 for Content-Length with Transfer-Encoding (smuggling)",
             b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request")
expect_error("400 for a malformed request line", b"GET  / HTTP/1.1\r\n\r\n", 400, "bad_request")
expect_error("400 for a NUL in a header", b"GET / HTTP/1.1\r\nA: \x00\r\n\r\n", 400, "bad_request")
expect_error("400 for a bad chunk size",
             b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             400, "bad_request")
expect_error("501 for an unknown transfer coding",
             b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented")
expect_error("505 for HTTP/2.0 in an HTTP/1 request line", b"GET / HTTP/2.0\r\n\r\n", 505,
             "http_version_not_supported")

# A client that sends a whole over-limit body before reading still gets
# its 413: the server drops the rest instead of resetting the connection.
s = connect()
r = Reader(s)
big = b"x" * (3 << 20)
try:
    s.sendall(b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
    _, st, h, b2 = r.response()
    report(st == 413 and json.loads(b2).get("error") == "payload_too_large",
           "413 read after sending a 3 MB body whole (lingering close)", f"{st} {b2[:80]!r}")
except Exception as e:  # noqa: BLE001
    report(False, "413 read after sending a 3 MB body whole (lingering close)", repr(e))
s.close()
expect_error("400 for HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400,
             "bad_request")
expect_error("400 for two Host lines", b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
             400, "bad_request")
expect_error("400 for chunked in HTTP/1.0",
             b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request")

# A static file larger than the copy limit goes out whole and intact, also
# to a client that reads slowly.
s = connect()
r = Reader(s)
s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(0.3)
_, st, h, b2 = r.response()
with open(sys.argv[2], "rb") as f:
    want = f.read()
report(st == 200 and b2 == want, "a 2 MB static file, read slowly, arrives intact",
       f"{st} {len(b2)} bytes, want {len(want)}")
s.close()

# A client that closes mid-request is dropped, and the server still serves.
s = connect()
s.sendall(b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
          b"Content-Length: 100\r\n\r\n{")
s.close()
s = connect()
r = Reader(s)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
report(r.response()[1] == 200, "still serving after a truncated request")
s.close()


def random_pipeline(rnd, conn_no):
    """Up to 30 mixed requests on one connection, sent in random pieces
    (sometimes then half-closed) while the answers are read: returns None
    when every answer came, in order, else what went wrong."""
    reqs, want = [], []
    for i in range(rnd.randrange(1, 31)):
        rid = b"r%d-%d" % (conn_no, i)
        kind = rnd.randrange(4)
        if kind == 0:
            reqs.append(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\n\r\n" % rid)
        elif kind == 1:
            reqs.append(b"GET /nope-%d HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\n\r\n" % (i, rid))
        else:
            head = (b"POST /api/v1/admin/queues/orders/dlq/redrive HTTP/1.1\r\nHost: x\r\n"
                    b"X-Request-Id: %s\r\nContent-Type: application/json\r\n" % rid)
            if kind == 2:
                reqs.append(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                reqs.append(head + b"Transfer-Encoding: chunked\r\n\r\n4\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                            % (body[:4], len(body) - 4, body[4:]))
        want.append(rid.decode())
    data = b"".join(reqs)
    half_close = rnd.random() < 0.5
    pieces, pos = [], 0
    while pos < len(data):
        n = rnd.choice([1, 7, 100, 1000, len(data)])
        pieces.append(data[pos:pos + n])
        pos += n
    sock = connect()
    reader = Reader(sock)

    def send():
        try:
            for piece in pieces:
                sock.sendall(piece)
                if rnd.random() < 0.05:
                    time.sleep(0.001)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the reader reports what went wrong

    sender = threading.Thread(target=send)
    sender.start()
    got = []
    try:
        while len(got) < len(want):
            got.append(reader.response()[2].get("x-request-id"))
        return None if got == want else f"answers out of order: {got} want {want}"
    except Exception as e:  # noqa: BLE001
        return f"{len(got)} of {len(want)} answers, then {e!r} (half-close {half_close})"
    finally:
        sender.join()
        sock.close()


# Pipelining under random timing: 200 connections, seeded so a failure
# repeats.
rnd = random.Random(20261122)
problems = [p for p in (random_pipeline(rnd, n) for n in range(200)) if p]
report(not problems, "200 connections of up to 30 pipelined requests in random pieces",
       "; ".join(problems[:3]))
sys.exit(1 if failures else 0)
