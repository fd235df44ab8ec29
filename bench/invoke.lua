-- wrk script for bench/overload.py: POST the body in WRK_BODY_FILE to /invocations
-- and count the answers per HTTP status (wrk itself only counts non-2xx/3xx together).
-- done() prints one JSON line, prefixed "WRK_RESULT ", that the benchmark parses.

local body_file = assert(os.getenv("WRK_BODY_FILE"), "WRK_BODY_FILE is not set")
local handle = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.path = "/invocations"
wrk.body = handle:read("*a")
handle:close()
wrk.headers["Content-Type"] = "text/csv"
wrk.headers["Accept"] = "text/csv"

-- Each wrk thread runs its own Lua state: keep the threads to sum their counts in done().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local percentiles = {}
  for _, q in ipairs({50, 90, 99}) do
    table.insert(percentiles, string.format('"p%d_ms": %.3f', q, latency:percentile(q) / 1000.0))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_s": %.6f, "requests": %d, "bytes": %d, "statuses": {%s}, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"latency": {%s, "mean_ms": %.3f, "max_ms": %.3f}}\n',
    summary.duration / 1e6, summary.requests, summary.bytes, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    table.concat(percentiles, ", "), latency.mean / 1000.0, latency.max / 1000.0
  ))
end
