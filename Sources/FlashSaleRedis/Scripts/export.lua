-- Freeze a SKU for its handoff and return its whole state. ARGV: sku, caller's epoch.
-- The first call renames the SKU's meta hash to fs:{sku}:frozen, marks the SKU moved at the
-- caller's epoch and takes it out of the shard's indexes, all in this one atomic call: every
-- later script on the SKU answers 'moved', so its stock is never live here and at the new owner
-- at once. The reservations stay until the new owner acknowledges the import (handed.lua), so a
-- crash in between loses nothing; a repeated call (a handoff resumed) returns the same state.
-- Reply: {'snapshot', stock, reserved, committed, limit, ttl, version, buckets, starts, ends (0: none),
--          archived (its version when archived, 0: not; nothing changes an archived SKU), transfers,
--          then per reservation: id, status (or "prepared": reserved, prepared for a cart's commit),
--          quantity, expiresAt, version, user, requestId}
--      | {'absent'} (never here) | {'gone', epoch} (left and acknowledged) | {'stale_epoch', epoch}
local stale = stale_caller()
if stale then
    return stale
end
local k = sku_keys(ARGV[1])
if redis.call('EXISTS', k.meta) == 1 then
    redis.call('RENAME', k.meta, k.frozen)
    redis.call('SET', k.moved, caller_epoch())
    redis.call('ZREM', EXPIRY_INDEX, k.sku)
    redis.call('SREM', SKU_INDEX, k.sku)
    redis.call('SADD', MOVING_INDEX, k.sku)
    redis.call('SREM', TRANSFER_INDEX, k.sku)
    redis.call('ZREM', ENDS_INDEX, k.sku)
    redis.call('SREM', ARCHIVED_INDEX, k.sku)
elseif redis.call('EXISTS', k.frozen) == 0 then
    local moved = redis.call('GET', k.moved)
    if moved then
        return { 'gone', tonumber(moved) }
    end
    return { 'absent' }
end
local v = redis.call('HMGET', k.frozen, 'stock', 'reserved', 'committed', 'limit', 'ttl', 'version', 'buckets', 'starts', 'ends', 'archived')
local reply = { 'snapshot', v[1], v[2], v[3], v[4], v[5], v[6], v[7] or '1', v[8] or '0', v[9] or '0', v[10] or '0', transfers_text(k.frozen) }
local entries = redis.call('HGETALL', k.res)
for i = 1, #entries, 2 do
    local r = load_reservation(k, entries[i])
    -- A reservation prepared for a cart's commit travels as status 'prepared'.
    for _, field in ipairs({ r.id, r.prepared and 'prepared' or r.status, int(r.qty), int(r.exp), int(r.version), r.user, r.rid }) do
        reply[#reply + 1] = field
    end
end
return reply
