#!/usr/bin/env python3
"""startup_bench.py BUILD_DIR [STARTS] — keeld's start-up time.

Each start spawns BUILD/bin/keeld -c conf/keel.yaml on a fresh, empty data
dir (under $TMPDIR) and a free port of 127.0.0.1, then polls GET /readyz
every millisecond over a raw socket until it answers 200. Measured from
just before the spawn: the first line keeld logs (stderr, log_level info)
and ready; then SIGTERM and the time to exit. Prints the median and the
worst of STARTS (KEEL_BENCH_STARTS, 10) starts and BENCH_RESULT startup.*
lines for run.sh's report. Target: ready <= 100 ms.
"""
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
starts = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("KEEL_BENCH_STARTS", "10"))
repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
keeld = os.path.join(build, "bin", "keeld")
config = os.environ.get("KEEL_BENCH_STARTUP_CONFIG", os.path.join(repo, "conf", "keel.yaml"))
if not os.access(keeld, os.X_OK):
    print(f"startup_bench: skipped, {keeld} is not built")
    sys.exit(0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def one_start(i):
    data = tempfile.mkdtemp(prefix="keel-startup.")
    port = free_port()
    env = dict(os.environ, KEEL_DATA_DIR=os.path.join(data, "var"),
               KEEL_LISTEN=f"127.0.0.1:{port}", KEEL_WEB_ROOT=os.path.join(repo, "web"),
               KEEL_LOG_LEVEL="info")
    first_line = []
    t0 = time.perf_counter()
    proc = subprocess.Popen([keeld, "-c", config], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)

    def drain():
        for line in proc.stderr:
            if not first_line:
                first_line.append(time.perf_counter())
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    t_ready = None
    deadline = t0 + 30
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            break
        if ready(port):
            t_ready = time.perf_counter()
            break
        time.sleep(0.001)
    t_term = time.perf_counter()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    t_exit = time.perf_counter()
    reader.join(timeout=5)
    shutil.rmtree(data, ignore_errors=True)
    if t_ready is None:
        print(f"  start {i + 1}: keeld not ready within 30 s (exit status {rc})")
        return None
    log_ms = (first_line[0] - t0) * 1000 if first_line else float("nan")
    return (t_ready - t0) * 1000, log_ms, (t_exit - t_term) * 1000, rc


results = [r for r in (one_start(i) for i in range(starts)) if r]
print(f"\n== start-up: keeld -c {os.path.relpath(config, repo)}, empty data dir, /readyz polled every 1 ms, {starts} starts")
if not results:
    print("startup_bench: keeld never became ready")
    print("BENCH_RESULT startup.starts=0")
    sys.exit(0)
ready_ms = [r[0] for r in results]
log_ms = [r[1] for r in results if r[1] == r[1]]
stop_ms = [r[2] for r in results]
bad_exits = sum(1 for r in results if r[3] != 0)
print(f"  to ready:           median {statistics.median(ready_ms):7.1f} ms, min {min(ready_ms):.1f}, max {max(ready_ms):.1f}  (target <= 100 ms)")
if log_ms:
    print(f"  to first log line:  median {statistics.median(log_ms):7.1f} ms")
print(f"  SIGTERM to exit:    median {statistics.median(stop_ms):7.1f} ms; {bad_exits} non-zero exit(s)")
print(f"BENCH_RESULT startup.starts={len(results)}")
print(f"BENCH_RESULT startup.ready_ms_median={statistics.median(ready_ms):.1f}")
print(f"BENCH_RESULT startup.ready_ms_max={max(ready_ms):.1f}")
print(f"BENCH_RESULT startup.first_log_ms_median={statistics.median(log_ms):.1f}" if log_ms else "BENCH_RESULT startup.first_log_ms_median=")
print(f"BENCH_RESULT startup.stop_ms_median={statistics.median(stop_ms):.1f}")
print(f"BENCH_RESULT startup.bad_exits={bad_exits}")
