-- wrk script for the cluster/bench* scripts: POST one reservation per request, every request with
-- its own user and requestId so each one is a real reservation (or a real sold-out answer).
-- Arguments: PATH (one hot SKU, e.g. /v1/skus/hot/reservations), or PREFIX SKU_COUNT [PAUSE_MS]:
-- a SKU drawn uniformly from PREFIX0 .. PREFIX(SKU_COUNT-1) for each request, and with PAUSE_MS
-- each connection waits that long before each request, which caps the rate.
local threads = {}

function setup(thread)
    thread:set("thread_id", #threads)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(os.time() * 1000 + thread_id + math.floor(os.clock() * 1e6))
    sku_count = tonumber(args[2] or "0")
    if sku_count > 0 then
        sku_prefix = args[1]
    else
        hot_path = args[1] or "/v1/skus/hot/reservations"
    end
    pause_ms = tonumber(args[3] or "0")
    prefix = "w" .. thread_id .. "-" .. math.random(1, 1000000000) .. "-"
    counter = 0
    created = 0
    refused = 0
    other = 0
    unavailable = 0
end

function request()
    counter = counter + 1
    local name = prefix .. counter
    local path = hot_path or ("/v1/skus/" .. sku_prefix .. math.random(0, sku_count - 1) .. "/reservations")
    local body = '{"user":"' .. name .. '","quantity":1,"requestId":"' .. name .. '"}'
    return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
end

function delay()
    return pause_ms
end

function response(status, headers, body)
    if status == 201 then
        created = created + 1
    elseif status == 409 then
        refused = refused + 1
    else
        other = other + 1
        if status == 503 then
            unavailable = unavailable + 1
        end
    end
end

function done(summary, latency, requests)
    local created_total, refused_total, other_total, unavailable_total = 0, 0, 0, 0
    for _, thread in ipairs(threads) do
        created_total = created_total + thread:get("created")
        refused_total = refused_total + thread:get("refused")
        other_total = other_total + thread:get("other")
        unavailable_total = unavailable_total + thread:get("unavailable")
    end
    -- "other" counts neither 201 nor 409 (errors), "unavailable" the 503s among them; "refused"
    -- counts 409 (sold out, over the limit); timeouts and socket errors are requests never answered.
    local errors = summary.errors
    io.write(string.format(
        "RESULT created=%d refused=%d other=%d unavailable=%d timeouts=%d connect_errors=%d read_errors=%d seconds=%.3f p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
        created_total, refused_total, other_total, unavailable_total, errors.timeout, errors.connect, errors.read,
        summary.duration / 1e6, latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
