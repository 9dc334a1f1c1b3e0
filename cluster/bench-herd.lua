-- wrk script for cluster/bench-herd: every request a new buyer (user and requestId) of one SKU,
-- PATH the reservations path. Counts answers by status: 201 created, 409 refused (sold out),
-- 503 shed (admission control), other.
local threads = {}

function setup(thread)
    thread:set("thread_id", #threads)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(os.time() * 1000 + thread_id + math.floor(os.clock() * 1e6))
    path = args[1]
    prefix = "h" .. thread_id .. "-" .. math.random(1, 1000000000) .. "-"
    counter = 0
    created, refused, shed, other = 0, 0, 0, 0
end

function request()
    counter = counter + 1
    local name = prefix .. counter
    local body = '{"user":"' .. name .. '","quantity":1,"requestId":"' .. name .. '"}'
    return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
    if status == 201 then
        created = created + 1
    elseif status == 409 then
        refused = refused + 1
    elseif status == 503 then
        shed = shed + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local totals = { created = 0, refused = 0, shed = 0, other = 0 }
    for _, thread in ipairs(threads) do
        for name, _ in pairs(totals) do totals[name] = totals[name] + thread:get(name) end
    end
    local errors = summary.errors
    io.write(string.format(
        "RESULT created=%d refused=%d shed=%d other=%d timeouts=%d connect_errors=%d read_errors=%d seconds=%.3f p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
        totals.created, totals.refused, totals.shed, totals.other, errors.timeout, errors.connect, errors.read,
        summary.duration / 1e6, latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
