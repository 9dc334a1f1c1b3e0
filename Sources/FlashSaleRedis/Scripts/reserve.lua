-- Reserve stock for a user. ARGV: sku, user, quantity, requestId, id for a new reservation,
-- caller's epoch.
-- Reply: {'created'|'repeated', id, user, quantity, status, expiresAt, requestId}
--      | {'not_started', ms until the opening} | {'sale_ended'} | {'sold_out'} | {'limit_exceeded'} | {'outbox_full'}
--      | {'unknown_sku'} | {'split', buckets} | {'archived'} | {'moved', epoch} | {'stale_epoch', the shard's epoch}
local k, s, refusal = open_reservable_sku()
if refusal then
    return refusal
end
local reply, expires = reserve_one(k, s, ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], now_ms())
if expires then
    write_sku(k, s)
    redis.call('ZADD', EXPIRY_INDEX, 'LT', int(expires), k.sku)
end
return reply
