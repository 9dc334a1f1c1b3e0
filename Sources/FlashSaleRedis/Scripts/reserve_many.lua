-- Reserve for many buyers of one SKU in one call: the requests that queued behind the SKU's last
-- call, each answered on its own as reserve.lua would answer it alone, in order (so the second of
-- two with one requestId is 'repeated'), with one outbox event per reservation as now; the SKU's
-- counters and the shard's expiry index are written once. ARGV: sku, then for each reservation
-- user, quantity, requestId, id for a new reservation; the caller's epoch last.
-- Reply: {reply of reserve.lua, ...} one per reservation | {'unknown_sku'} | {'split', buckets} | {'archived'}
--      | {'moved', epoch} | {'stale_epoch', the shard's epoch} (a refusal of the whole call)
local k, s, refusal = open_reservable_sku()
if refusal then
    return refusal
end
local now = now_ms()
local replies = {}
local first_expiry = nil
for i = 2, #ARGV - 1, 4 do
    local reply, expires = reserve_one(k, s, ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], now)
    replies[#replies + 1] = reply
    if expires and (first_expiry == nil or expires < first_expiry) then
        first_expiry = expires
    end
end
if first_expiry then
    write_sku(k, s)
    redis.call('ZADD', EXPIRY_INDEX, 'LT', int(first_expiry), k.sku)
end
return replies
