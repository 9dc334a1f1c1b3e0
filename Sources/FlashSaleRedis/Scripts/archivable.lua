-- The archiver's candidates on this shard: SKUs whose sale has ended (on this shard's clock) and
-- whose reservations are all resolved, after expiring what is due; at most ARGV[1] of them, the
-- longest ended first. A SKU that still holds reservations moves back in the index to when its
-- first one falls due, so that it does not keep others from their turn. A split SKU's own entry
-- holds no reservations: it leaves the index (its buckets are candidates of their own). A bucket
-- with a transfer not yet finished waits.
-- ARGV: how many at most (unfenced: it changes nothing the fence guards but due expiries).
-- Reply: {sku, version, ...}
local now = now_ms()
local ended = redis.call('ZRANGEBYSCORE', ENDS_INDEX, '-inf', int(now), 'LIMIT', 0, tonumber(ARGV[1]))
local reply = {}
for _, sku in ipairs(ended) do
    local k = sku_keys(sku)
    local s = load_sku(k)
    if not s or s.archived or s.buckets > 1 then
        redis.call('ZREM', ENDS_INDEX, sku)
    elseif s.ends and s.ends <= now then
        expire_due(k, s, now, LAZY_EXPIRY_MAX)
        local first_due = redis.call('ZRANGE', k.exp, 0, 0, 'WITHSCORES')
        if s.reserved > 0 and first_due[2] then
            redis.call('ZADD', ENDS_INDEX, first_due[2], sku)
        elseif s.reserved == 0 and redis.call('HEXISTS', k.meta, 'xout') == 0 then
            reply[#reply + 1] = sku
            reply[#reply + 1] = s.version
        end
    end
end
return reply
