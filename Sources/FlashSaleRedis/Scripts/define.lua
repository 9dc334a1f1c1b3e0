-- Define or update a SKU. ARGV: sku, stock, perUserLimit, reservationTtlSeconds, mode, caller's
-- epoch. mode 'create' defines a SKU this shard does not hold; 'update' only updates one it holds
-- (the new owner of a SKU, during a handoff, asks the previous one to update it if it is still there).
-- A SKU that moved away is never defined again here: only its import brings it back.
-- Reply: {'created'|'updated', stock, reserved, committed, limit, ttl} | {'stock_below_sold', reserved + committed}
--      | {'unknown_sku'} (mode update) | {'moved', epoch} | {'outbox_full'} | {'stale_epoch', the shard's epoch}
local stale = stale_caller()
if stale then
    return stale
end
if outbox_full() then
    return { 'outbox_full' }
end
local k = sku_keys(ARGV[1])
local stock, limit, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local s = load_sku(k)
local created = s == nil
if created and (ARGV[5] ~= 'create' or redis.call('EXISTS', k.moved) == 1) then
    return missing(k, 'unknown_sku')
end
if created then
    s = { stock = 0, reserved = 0, committed = 0, limit = limit, ttl = ttl, version = 0 }
else
    expire_due(k, s, now_ms(), LAZY_EXPIRY_MAX)
    if stock < s.reserved + s.committed then
        return { 'stock_below_sold', s.reserved + s.committed }
    end
end
s.stock, s.limit, s.ttl = stock, limit, ttl
save_sku(k, s)
redis.call('SADD', SKU_INDEX, k.sku)
record('defined', k, s, nil)
return { created and 'created' or 'updated', s.stock, s.reserved, s.committed, s.limit, s.ttl }
