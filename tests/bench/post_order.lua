-- post_order.lua — wrk script for the HTTP benchmarks: POSTs the order of
-- seed 004 to /api/v1/orders with a fresh orderId per request.
--
-- Environment:
--   KEEL_BENCH_BODY_FILE  the order JSON (one line, contains "ORD-12345")
--   KEEL_BENCH_RUN_TAG    makes the ids unique across runs on one data dir
--   KEEL_BENCH_COUNT_202  1: count statuses in response() (slows wrk down)
-- done() prints one machine-readable line, "WRK_RESULT key=value ...".

local body_file = os.getenv("KEEL_BENCH_BODY_FILE") or error("KEEL_BENCH_BODY_FILE is not set")
local f = assert(io.open(body_file, "rb"))
local order = f:read("*a"):gsub("%s+$", "")
f:close()

-- Split the body around the sample id once; each request only concatenates.
local id_at, id_end = order:find("ORD-12345", 1, true)
assert(id_at, "the order has no ORD-12345 to replace")
local head, tail = order:sub(1, id_at - 1), order:sub(id_end + 1)
local tag = os.getenv("KEEL_BENCH_RUN_TAG") or "r"
local count_statuses = os.getenv("KEEL_BENCH_COUNT_202") == "1"

local threads = {}
local thread_no = 0

function setup(thread)
  thread:set("prefix", string.format("BENCH-%s-%d-", tag, thread_no))
  thread_no = thread_no + 1
  table.insert(threads, thread)
end

local counter = 0
-- Globals, so that done() can read them from each thread with t:get().
accepted, other = 0, 0
local headers = {["Content-Type"] = "application/json"}

function request()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/orders", headers, head .. prefix .. counter .. tail)
end

if count_statuses then
  function response(status)
    if status == 202 then accepted = accepted + 1 else other = other + 1 end
  end
end

function done(summary, latency, requests)
  local n202, nother = 0, 0
  for _, t in ipairs(threads) do
    n202 = n202 + (t:get("accepted") or 0)
    nother = nother + (t:get("other") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d " ..
    "counted=%s status202=%d status_other=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout,
    tostring(count_statuses), n202, nother))
end
