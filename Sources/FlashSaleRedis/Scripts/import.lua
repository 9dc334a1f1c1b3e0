-- The new owner's side of a handoff: install a SKU's state as export.lua returned it.
-- ARGV: sku, stock, reserved, committed, limit, ttl, version, buckets, starts, ends (0: none),
-- archived (its version when archived, 0: not; an archived SKU comes without reservations),
-- transfers (a bucket's
-- bookkeeping as export.lua gives it), then per reservation: id, status (or "prepared"),
-- quantity, expiresAt, version, user, requestId; the caller's epoch last.
-- Replaces whatever an earlier stay left here (a SKU can move away and come back) and rebuilds
-- what follows from the reservations: the per-user holdings, the requestId index, the expiry
-- index. Appends nothing to the outbox: the previous shard's outbox already holds every event up
-- to this version, and the record keeps the newest version of each row whichever shard sends it.
-- Idempotent: an import repeated after a lost acknowledgement finds the SKU at this version or
-- newer (it may have been sold from since) and changes nothing.
-- Reply: {'imported'} | {'already', version} | {'stale_epoch', epoch}
local stale = stale_caller()
if stale then
    return stale
end
local k = sku_keys(ARGV[1])
local version = tonumber(ARGV[7])
local here = load_sku(k)
if here and here.version >= version then
    return { 'already', here.version }
end
redis.call('DEL', k.meta, k.frozen, k.moved, k.users, k.res, k.req, k.exp)
redis.call('SREM', MOVING_INDEX, k.sku)
redis.call('HSET', k.meta, 'stock', ARGV[2], 'reserved', ARGV[3], 'committed', ARGV[4],
    'limit', ARGV[5], 'ttl', ARGV[6], 'version', ARGV[7], 'buckets', ARGV[8])
local starts, ends, archived = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
write_window(k, starts ~= 0 and starts or nil, ends ~= 0 and ends or nil)
if archived ~= 0 then
    redis.call('HSET', k.meta, 'archived', ARGV[11])
    redis.call('ZREM', ENDS_INDEX, k.sku)
    redis.call('SADD', ARCHIVED_INDEX, k.sku)
else
    redis.call('SREM', ARCHIVED_INDEX, k.sku)
end
restore_transfers(k, ARGV[12])
local first_expiry = nil
for i = 13, #ARGV - 1, 7 do
    local r = {
        id = ARGV[i], status = ARGV[i + 1], qty = tonumber(ARGV[i + 2]), exp = tonumber(ARGV[i + 3]),
        version = tonumber(ARGV[i + 4]), user = ARGV[i + 5], rid = ARGV[i + 6],
    }
    if r.status == 'prepared' then
        r.status, r.prepared = 'reserved', true
    end
    save_reservation(k, r)
    redis.call('HSET', k.req, r.rid, r.id)
    if r.status == 'reserved' or r.status == 'committed' then
        redis.call('HINCRBY', k.users, r.user, int(r.qty))
    end
    if r.status == 'reserved' and not r.prepared then
        redis.call('ZADD', k.exp, int(r.exp), r.id)
        if first_expiry == nil or r.exp < first_expiry then
            first_expiry = r.exp
        end
    end
end
redis.call('SADD', SKU_INDEX, k.sku)
if first_expiry then
    redis.call('ZADD', EXPIRY_INDEX, int(first_expiry), k.sku)
end
return { 'imported' }
