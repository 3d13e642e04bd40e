-- wrk script for bench/serve_wrk.py: POSTs JSON bodies read from a file, one
-- body per line, taken in turn (so consecutive requests carry different texts),
-- and prints one JSON line of results when the run ends.
--   BODIES=FILE wrk -s bench/serve_post.lua -c N -d S URL
-- The bodies are read in init() rather than built in Lua strings: a JSON text
-- full of quotes, brackets and backslashes never passes through Lua's quoting.
local bodies = {}
local next_body = 1

function init(args)
  local path = os.getenv("BODIES")
  local f = assert(io.open(path, "r"), "cannot open BODIES=" .. tostring(path))
  for line in f:lines() do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  f:close()
  assert(#bodies > 0, "no bodies in " .. path)
  -- threads start at different bodies
  next_body = (math.random(#bodies) - 1) % #bodies + 1
end

function request()
  local b = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, b)
end

local non2xx = 0
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

-- response() runs per thread: count across threads through the summary instead
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
