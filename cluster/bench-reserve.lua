-- wrk script for cluster/bench: POST one reservation per request on one hot SKU, every request
-- with its own user and requestId so each one is a real, successful reservation.
local threads = {}

function setup(thread)
    thread:set("thread_id", #threads)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(os.time() * 1000 + thread_id)
    sku_path = args[1] or "/v1/skus/hot/reservations"
    prefix = "w" .. thread_id .. "-" .. math.random(1, 1000000000) .. "-"
    counter = 0
    created = 0
    other = 0
end

function request()
    counter = counter + 1
    local name = prefix .. counter
    local body = '{"user":"' .. name .. '","quantity":1,"requestId":"' .. name .. '"}'
    return wrk.format("POST", sku_path, { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
    if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
    local created_total, other_total = 0, 0
    for _, thread in ipairs(threads) do
        created_total = created_total + thread:get("created")
        other_total = other_total + thread:get("other")
    end
    local seconds = summary.duration / 1e6
    io.write(string.format("RESULT created=%d other=%d seconds=%.3f p50_us=%d p99_us=%d p999_us=%d\n",
        created_total, other_total, seconds,
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
