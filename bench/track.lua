-- wrk script: POST /track batches with unique event ids per request.
-- Environment: SITE_KEY, BATCH (events per request), RUN (makes ids unique across runs).
local site = os.getenv("SITE_KEY")
local run = os.getenv("RUN") or "0"
local batch = tonumber(os.getenv("BATCH") or "10")
local threads = {}
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid
  math.randomseed(os.time() + tid)
end

local pages = {"/", "/pricing", "/features", "/blog/launch", "/contact", "/sky-towers", "/about"}
local types = {"page_view", "click", "scroll", "engagement"}

request = function()
  counter = counter + 1
  local session = string.format("s_bench_%d_%d", thread_id, counter % 5000)
  local visitor = string.format("v_bench_%d_%d", thread_id, counter % 4000)
  local now = os.time() * 1000
  local events = {}
  for i = 1, batch do
    local kind = types[(counter + i) % #types + 1]
    local props = "{}"
    if kind == "scroll" then props = '{"depth":50}'
    elseif kind == "engagement" then props = '{"active_ms":15000}'
    elseif kind == "click" then props = '{"tag":"a","text":"Book a demo","href":"https://example.com/demo","outbound":false}'
    else props = '{"title":"Example page"}' end
    events[i] = string.format(
      '{"id":"evt_%s_%d_%d_%d","type":"%s","ts":%d,"url":"https://example.com%s","props":%s}',
      run, thread_id, counter, i, kind, now + i, pages[(counter + i) % #pages + 1], props)
  end
  local body = string.format(
    '{"site":"%s","visitor_id":"%s","session_id":"%s","fingerprint":"f%08x","timezone":"Europe/Berlin",' ..
    '"language":"de-DE","screen":"1920x1080","referrer":"https://www.google.com/","utm":{"source":"google"},' ..
    '"webdriver":false,"sent_at":%d,"events":[%s]}',
    site, visitor, session, counter % 3000, now, table.concat(events, ","))
  return wrk.format("POST", "/track", {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["Origin"] = "https://example.com",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
  }, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
