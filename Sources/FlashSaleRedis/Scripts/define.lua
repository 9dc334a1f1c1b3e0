-- Define or update a SKU. ARGV: sku, stock, perUserLimit, reservationTtlSeconds, mode, buckets,
-- startsAt, endsAt (epoch ms, '' for none: a define sets the whole window), caller's epoch. mode 'create' defines a SKU this shard does not hold; 'update' only updates one it holds
-- (the new owner of a SKU, during a handoff, asks the previous one to update it if it is still there).
-- A SKU that moved away is never defined again here: only its import brings it back.
-- A split SKU's settings are fixed once defined, and a bucket (a name with the separator byte 31)
-- is only ever created here: afterwards its stock changes by its sales and transfers alone, so a
-- define repeated by its node after a crash answers the bucket as it is and changes nothing.
-- Reply: {'created'|'updated', stock, reserved, committed, limit, ttl, buckets, starts, ends} (sku_reply)
--      | {'stock_below_sold', reserved + committed} | {'buckets_fixed', buckets} | {'split_fixed'}
--      | {'unknown_sku'} (mode update) | {'moved', epoch} | {'outbox_full'} | {'stale_epoch', the shard's epoch}
--      | {'archived'} (its requestIds have left Redis: the SKU can never sell again)
local stale = stale_caller()
if stale then
    return stale
end
if outbox_full() then
    return { 'outbox_full' }
end
local k = sku_keys(ARGV[1])
local stock, limit, ttl, buckets = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6])
local starts, ends = tonumber(ARGV[7]), tonumber(ARGV[8])
local s = load_sku(k)
local created = s == nil
if created and (ARGV[5] ~= 'create' or redis.call('EXISTS', k.moved) == 1) then
    return missing(k, 'unknown_sku')
end
if s and s.archived then
    return { 'archived' }
end
if created then
    s = { stock = 0, reserved = 0, committed = 0, limit = limit, ttl = ttl, version = 0, buckets = buckets }
else
    if s.buckets ~= buckets then
        return { 'buckets_fixed', s.buckets }
    end
    if s.buckets > 1 and (stock ~= s.stock or limit ~= s.limit or ttl ~= s.ttl or starts ~= s.starts or ends ~= s.ends) then
        return { 'split_fixed' }
    end
    if s.buckets > 1 or string.find(k.sku, '\31', 1, true) then
        return sku_reply('updated', s)
    end
    expire_due(k, s, now_ms(), LAZY_EXPIRY_MAX)
    if stock < s.reserved + s.committed then
        return { 'stock_below_sold', s.reserved + s.committed }
    end
end
s.stock, s.limit, s.ttl, s.starts, s.ends = stock, limit, ttl, starts, ends
save_sku(k, s)
write_window(k, starts, ends)
redis.call('SADD', SKU_INDEX, k.sku)
record('defined', k, s, nil)
return sku_reply(created and 'created' or 'updated', s)
