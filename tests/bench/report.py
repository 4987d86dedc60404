#!/usr/bin/env python3
"""report.py OUT_DIR — the `make bench` report: collects the BENCH_RESULT
KEY=VALUE lines of OUT_DIR/*.out (written by tests/bench/run.sh), writes
OUT_DIR/report.md and prints it. Targets are PASS/MISS (or n/a when a figure
is missing), never an exit status."""
import glob, os, sys

out = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
r = {}
for path in sorted(glob.glob(os.path.join(out, "*.out"))):
    for line in open(path, errors="replace"):
        if line.startswith("BENCH_RESULT "):
            key, _, value = line[len("BENCH_RESULT "):].rstrip("\n").partition("=")
            r[key] = value


def note(key, limit=160):
    v = r.get(key, "")
    return v if len(v) <= limit else v[:limit] + "..."


def num(key):
    try:
        return float(r.get(key, ""))
    except ValueError:
        return None


def fmt(v, digits=0, unit=""):
    if v is None:
        return "-"
    return (f"{v:,.{digits}f}" if digits else f"{v:,.0f}") + unit


def ratio(a, b):
    return None if a is None or not b else a / b


def ms(key):
    v = num(key)
    return None if v is None else v / 1000


def mib(key):
    v = num(key)
    return None if v is None else v / 1024


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


conns = r.get("http.connections", "64")
keel, nginx, redis = num("http.keel_rps"), num("http.nginx_rps"), num("http.redis_rps")
# The ingest ratios are the medians of the interleaved rounds' ratios when
# http_bench.sh measured them (robust to the machine's drift), else the
# quotient of the rates.
vs_nginx = num("http.keel_vs_nginx") if num("http.keel_vs_nginx") is not None else ratio(keel, nginx)
vs_redis = num("http.keel_vs_redis") if num("http.keel_vs_redis") is not None else ratio(keel, redis)
e2e_posts, e2e_done = num("e2e.posts_rps"), num("e2e.processed_rps")
fsync = num("queue.fdatasync_per_s")
lines = []
add = lines.append
add("# keel benchmark report")
add("")
add(f"{r.get('run.date', '?')}, commit {r.get('run.commit', '?')}, {r.get('run.cpus', '?')} CPUs "
    f"({r.get('run.cpu_model', '?')}), {r.get('run.kernel', '?')}; data dirs on {r.get('run.filesystem', '?')}; "
    f"load average at the start {r.get('run.loadavg', '?')}; the run took {r.get('run.seconds', '?')} s. "
    "All figures from this one run on this machine; full outputs beside this file (*.out).")
add("")
add(f"## HTTP: durable ingest and end to end (wrk -t1 -c{conns}, the seed 004 order, fresh orderId per request)")
add("")
add("| target | req/s | p50 ms | p99 ms | keel / this | notes |")
add("|---|---:|---:|---:|---:|---|")
add(f"| keel durable ingest (202 = in the queue, fdatasync'd) | {fmt(keel)} | {fmt(ms('http.keel_p50_us'), 2)} | "
    f"{fmt(ms('http.keel_p99_us'), 2)} | 1.00 | {r.get('http.keel_non2xx', '?')} non-2xx, "
    f"{r.get('http.keel_socket_errors', '?')} socket errors; exit {r.get('http.keel_exit', '?')} on SIGTERM |")
vs_ram = num("http.keel_vs_ram")
add(f"| the same keeld, data in RAM (/dev/shm: no disk syncs, not durable; the CPU ceiling) | {fmt(num('http.ram_rps'))} | - | "
    f"{fmt(ms('http.ram_p99_us'), 2)} | {fmt(vs_ram, 2)} | keel/ram: the share left once the disk syncs |")
add(f"| nginx answering 202 (HTTP ceiling) | {fmt(nginx)} | {fmt(ms('http.nginx_p50_us'), 2)} | "
    f"{fmt(ms('http.nginx_p99_us'), 2)} | {fmt(vs_nginx, 2)} | 1 worker {note('http.nginx_note')} |")
add(f"| redis-server appendfsync always, LPUSH (durable-queue peer) | {fmt(redis)} | "
    f"{fmt(ms('http.redis_p50_us'), 2)} | {fmt(ms('http.redis_p99_us'), 2)} | {fmt(vs_redis, 2)} | "
    f"redis-benchmark -c {conns}; {note('http.redis_note')} |")
add(f"| keel end to end: POSTs accepted during the e2e run | {fmt(e2e_posts)} | {fmt(ms('e2e.posts_p50_us'), 2)} | "
    f"{fmt(ms('e2e.posts_p99_us'), 2)} | - | {r.get('e2e.seconds', '?')} s, pipeline orders -> confirm -> store running |")
add(f"| keel end to end: orders processed (CONFIRMED in the store) | {fmt(e2e_done)} | - | - | - | "
    f"backlog growing: {r.get('e2e.backlog_growing', '?')} ({r.get('e2e.backlog_growth_per_s', '?')}/s); "
    f"drained in {r.get('e2e.drain_ms') or '?'} ms |")
add(f"| raw write(256 B) + fdatasync, one thread, same filesystem | {fmt(fsync)} | "
    f"{fmt(1000 / fsync if fsync else None, 3)} | - | {fmt(ratio(keel, fsync), 1)} | keel orders per fdatasync-time |")
add("")
add(f"Ratios: ingest keel/nginx {fmt(vs_nginx, 2)}, keel/redis {fmt(vs_redis, 2)} "
    f"(medians over {r.get('http.rounds', '1')} interleaved rounds), "
    f"keel/fdatasync {fmt(ratio(keel, fsync), 1)}x; end to end (processed) keel/nginx "
    f"{fmt(ratio(e2e_done, nginx), 2)}, keel/redis {fmt(ratio(e2e_done, redis), 2)}, "
    f"keel/fdatasync {fmt(ratio(e2e_done, fsync), 1)}x.")
add("")
add("## keeld: memory and start-up (conf/keel.yaml)")
add("")
add("| figure | value | notes |")
add("|---|---:|---|")
add(f"| idle RSS (ready, no load) | {fmt(mib('e2e.idle_rss_kib'), 1)} MiB | anon {fmt(mib('e2e.idle_rss_anon_kib'), 1)} MiB, "
    f"file-backed {fmt(mib('e2e.idle_rss_file_kib'), 1)} MiB |")
add(f"| peak RSS under the e2e load | {fmt(mib('e2e.load_rss_peak_kib'), 1)} MiB | of which LMDB map pages (file-backed) up to "
    f"{fmt(mib('e2e.load_rss_file_peak_kib'), 1)} MiB, growing with the stored data |")
add(f"| anon RSS after warm-up, 1st half -> 2nd half (max) | {fmt(mib('e2e.load_anon_warm_kib'), 1)} -> "
    f"{fmt(mib('e2e.load_anon_end_kib'), 1)} MiB | growth {r.get('e2e.load_anon_growth_kib', '?')} KiB, "
    f"{r.get('e2e.load_rss_samples', '?')} samples |")
add(f"| anon RSS slope after warm-up | {fmt(num('e2e.load_anon_slope_bytes_per_s') and num('e2e.load_anon_slope_bytes_per_s') / 1024, 0)} KiB/s | "
    f"{r.get('e2e.load_anon_bytes_per_order', '?')} bytes per accepted order; the queue's in-memory dedup index keeps "
    "each order's dedup id (a 24-byte slot, ~35 B with spare room) for dedup_window (5 min): growth proportional to rate x window, "
    "bounded only once the run outlasts the window |")
add(f"| start-up to /readyz 200, empty data dir | {fmt(num('startup.ready_ms_median'), 1)} ms | median of "
    f"{r.get('startup.starts', '?')} starts, max {fmt(num('startup.ready_ms_max'), 1)} ms, /readyz polled every 1 ms |")
add(f"| start-up to first log line | {fmt(num('startup.first_log_ms_median'), 1)} ms | median |")
add(f"| SIGTERM to exit (idle) | {fmt(num('startup.stop_ms_median'), 1)} ms | median; "
    f"{r.get('startup.bad_exits', '?')} non-zero exits |")
add("")
add("## In-process benches")
add("")
add("| bench | figure | reference |")
add("|---|---:|---:|")
add(f"| bench_pipeline: source -> 3 msgpack steps over the worker pool | {fmt(num('pipeline.msgs_per_s'))} msg/s | "
    f"plain calls {fmt(num('pipeline.reference_per_s'))} msg/s |")
add(f"| bench_json: JSON -> msgpack (yajl stream) | {fmt(num('json.yajl_per_s'))} orders/s | "
    f"jansson {fmt(num('json.jansson_per_s'))}, jsmn {fmt(num('json.jsmn_per_s'))} orders/s |")
add(f"| bench_validate: validate.order_parse | {fmt(num('validate.per_s'))} orders/s | "
    f"yajl into msgpack {fmt(num('validate.reference_per_s'))} orders/s |")
add(f"| bench_queue: durable sends, threads x 1 in flight | {fmt(num('queue.sends_threads_per_s'))} msg/s | "
    f"fdatasync {fmt(fsync)}/s |")
add(f"| bench_queue: durable sends from callbacks | {fmt(num('queue.sends_async_per_s'))} msg/s | |")
add(f"| bench_queue: send -> receive -> settle cycle | {fmt(num('queue.cycle_deleted_per_s'))} msg/s deleted | |")
failed = sorted(k for k in r if k.endswith(".failed"))
for k in failed:
    add(f"\n{k[:-7]} failed: {r[k]}")
add("")
add("## Targets")
add("")
idle = mib("e2e.idle_rss_kib")
start = num("startup.ready_ms_median")
bounded = r.get("e2e.load_rss_bounded")
targets = [
    (f"keel durable ingest >= redis appendfsync-always LPUSH at {conns} clients",
     None if vs_redis is None else vs_redis >= 1,
     f"{fmt(keel)} vs {fmt(redis)} req/s; median round ratio {fmt(vs_redis, 2)}"),
    ("idle RSS <= 16 MiB", None if idle is None else idle <= 16, f"{fmt(idle, 1)} MiB"),
    ("RSS bounded under sustained load (anon RSS not growing after warm-up, <= 2 MiB or 5%)",
     None if bounded not in ("yes", "no") else bounded == "yes",
     f"{r.get('e2e.load_anon_growth_kib', '?')} KiB growth"),
    ("start-up to ready <= 100 ms (median, empty data dir)", None if start is None else start <= 100,
     f"{fmt(start, 1)} ms"),
]
for name, ok, detail in targets:
    add(f"- {verdict(ok)}  {name}: {detail}")
add("")
text = "\n".join(lines)
with open(os.path.join(out, "report.md"), "w") as f:
    f.write(text)
print(text)
