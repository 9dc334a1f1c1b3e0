-- The shard's clock, read inside the script: one clock per shard, whichever coordinator calls.
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

