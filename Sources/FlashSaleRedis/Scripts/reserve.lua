-- Reserve stock for a user. ARGV: sku, user, quantity, requestId, id for a new reservation,
-- caller's epoch.
-- Reply: {'created'|'repeated', id, user, quantity, status, expiresAt, requestId}
--      | {'unknown_sku'} | {'split', buckets} | {'moved', epoch} | {'sold_out'} | {'limit_exceeded'} | {'outbox_full'} | {'stale_epoch', the shard's epoch}
local k, s, refusal = open_sku('unknown_sku')
if refusal then
    return refusal
end
local user, qty, rid, new_id = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
if s.buckets > 1 then
    -- A split SKU's own entry holds no stock: the caller reserves in the user's bucket.
    return { 'split', s.buckets }
end
local now = now_ms()

-- Idempotency: a repeated requestId answers the reservation it made, as it is now.
local existing = redis.call('HGET', k.req, rid)
if existing then
    local reply = apply(k, s, load_reservation(k, existing), 'expireIfDue', now)
    reply[1] = 'repeated'
    return reply
end

if outbox_full() then
    return { 'outbox_full' }
end

if qty > s.stock - s.reserved - s.committed then
    -- Stock may be held by reservations whose time is up but that no sweep has reached yet.
    expire_due(k, s, now, LAZY_EXPIRY_MAX)
    if qty > s.stock - s.reserved - s.committed then
        return { 'sold_out' }
    end
end
local held = tonumber(redis.call('HGET', k.users, user) or '0')
if held + qty > s.limit then
    return { 'limit_exceeded' }
end

local r = { id = new_id, status = 'reserved', qty = qty, exp = now + s.ttl * 1000, version = 1, user = user, rid = rid }
save_reservation(k, r)
redis.call('HSET', k.req, rid, new_id)
redis.call('HINCRBY', k.users, user, int(qty))
redis.call('ZADD', k.exp, int(r.exp), new_id)
redis.call('ZADD', EXPIRY_INDEX, 'LT', int(r.exp), k.sku)
s.reserved = s.reserved + qty
save_sku(k, s)
record('reserved', k, s, r)
return answer(r, 'created')
