-- The snapshot a node keeps in memory to answer a sold-out SKU's herd without Redis (SoldOutMemo):
-- after returning the stock of due reservations, whether nothing is available, every requestId
-- that took stock of the SKU, and the milliseconds until its first held reservation falls due.
-- ARGV: sku, caller's epoch.
-- Reply: {'sold_out', first due in ms or -1 when none is held, requestId...} | {'available'}
--      | {'unknown_sku'} | {'moved', epoch} | {'stale_epoch', the shard's epoch}
local k, s, refusal = open_sku('unknown_sku')
if refusal then
    return refusal
end
local now = now_ms()
if s.buckets > 1 or s.archived or outside_window(s, now) then
    -- A split SKU's own entry holds no stock; its buckets are memoised one by one. A sale not
    -- open answers not_started or sale_ended, and an archived SKU's requestIds are in the record
    -- only: neither is memoised.
    return { 'available' }
end
expire_due(k, s, now, LAZY_EXPIRY_MAX)
if s.stock - s.reserved - s.committed > 0 then
    return { 'available' }
end
local first = redis.call('ZRANGE', k.exp, 0, 0, 'WITHSCORES')
local due_in = -1
if first[2] then
    due_in = math.max(0, tonumber(first[2]) - now)
end
local reply = redis.call('HKEYS', k.req)
table.insert(reply, 1, int(due_in))
table.insert(reply, 1, 'sold_out')
return reply
