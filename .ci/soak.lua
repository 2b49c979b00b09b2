-- wrk script for .ci/soak: a request mix chosen by the MIX environment variable.
--   MIX=valid  JWTs of several internal-tier subjects (their quota is never spent), GET /v2/posts
--   MIX=junk   anonymous calls, preflights, bad tokens, bad request ids, unknown versions,
--              wrong Basic passwords, a bad API key
-- Each thread counts responses by class; done() prints one line the script parses:
--   soak-result mix=<mix> requests=<n> s2xx=<n> s3xx=<n> s4xx=<n> s5xx=<n>
local mix = os.getenv("MIX") or "valid"
local requests = {}
local threads = {}

local function add(method, path, headers)
  table.insert(requests, wrk.format(method, path, headers))
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if mix == "valid" then
    local tokens = os.getenv("SOAK_TOKENS") or ""
    for token in string.gmatch(tokens, "[^,]+") do
      add("GET", "/v2/posts", { ["Authorization"] = "Bearer " .. token })
      add("GET", "/v1/posts", { ["Authorization"] = "Bearer " .. token, ["X-Request-Id"] = "soak-valid" })
    end
  else
    add("GET", "/v2/health", {})
    add("OPTIONS", "/v2/posts", {
      ["Origin"] = "https://frontend.example.com",
      ["Access-Control-Request-Method"] = "POST",
      ["Access-Control-Request-Headers"] = "authorization, content-type",
    })
    add("GET", "/v2/posts", { ["Authorization"] = "Bearer not.a.token" })
    add("GET", "/v2/posts", { ["Authorization"] = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." })
    add("GET", "/v2/health", { ["X-Request-Id"] = "<script>alert(1)</script>" })
    add("GET", "/v2/health", { ["X-Request-Id"] = string.rep("a", 4000) })
    add("GET", "/v9/posts", {})
    add("GET", "/posts", { ["API-Version"] = "1", ["Accept"] = "application/vnd.example.v2+json" })
    add("GET", "/v2/posts", { ["Authorization"] = "Basic amFuZTp3cm9uZw==" }) -- jane:wrong
    add("GET", "/v2/posts", { ["X-API-Key"] = "ak_live_wrong" })
  end
  counts = { requests = 0, s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0 }
  n = 0
end

function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end

function response(status, headers, body)
  counts.requests = counts.requests + 1
  local class = math.floor(status / 100)
  if class == 2 then counts.s2xx = counts.s2xx + 1
  elseif class == 3 then counts.s3xx = counts.s3xx + 1
  elseif class == 4 then counts.s4xx = counts.s4xx + 1
  else counts.s5xx = counts.s5xx + 1 end
end

function done(summary, latency, _)
  local total = { requests = 0, s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0 }
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for k, v in pairs(c) do total[k] = total[k] + v end
  end
  local e = summary.errors
  io.write(string.format(
    "soak-result mix=%s requests=%d s2xx=%d s3xx=%d s4xx=%d s5xx=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    mix, total.requests, total.s2xx, total.s3xx, total.s4xx, total.s5xx,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
