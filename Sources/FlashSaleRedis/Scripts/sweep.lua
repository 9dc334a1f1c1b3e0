-- The sweeper's pass: expire due reservations across the shard. ARGV: SKUs per call, reservations per SKU.
-- Reply: how many reservations it expired.
local now = now_ms()
local skus = redis.call('ZRANGEBYSCORE', EXPIRY_INDEX, '-inf', int(now), 'LIMIT', 0, tonumber(ARGV[1]))
local expired = 0
for _, sku in ipairs(skus) do
    local k = sku_keys(sku)
    local s = load_sku(k)
    if s then
        expired = expired + expire_due(k, s, now, tonumber(ARGV[2]))
    end
    local first = redis.call('ZRANGE', k.exp, 0, 0, 'WITHSCORES')
    if first[2] then
        redis.call('ZADD', EXPIRY_INDEX, first[2], sku)
    else
        redis.call('ZREM', EXPIRY_INDEX, sku)
    end
end
return expired
