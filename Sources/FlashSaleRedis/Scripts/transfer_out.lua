-- A bucket gives stock to another bucket of its SKU that ran dry: the first half of a transfer.
-- ARGV: donor bucket, recipient bucket index, caller's epoch.
-- Takes half its available stock (rounded up) out of its own stock, records the transfer as not
-- finished (xout, and the shard's fs:transfers index) and appends the new stock to the outbox, all
-- in this call. At most one transfer out is unfinished: while one is, it is answered again (to
-- whichever recipient it goes), and the caller delivers it (transfer_in.lua) and finishes it
-- (transfer_done.lua) before another can start.
-- Reply: {'pending', recipient, sequence, units} | {'empty'} | {'unknown_sku'} | {'moved', epoch}
--      | {'stale_epoch', the shard's epoch}
local k, s, refusal = open_sku('unknown_sku')
if refusal then
    return refusal
end
local out = unfinished_transfer(k.meta)
if out then
    return { 'pending', out.recipient, out.sequence, out.units }
end
if s.archived then
    -- Its sale is over: nothing to give (and an archived SKU's version stays as archived).
    return { 'empty' }
end
local now = now_ms()
if s.stock - s.reserved - s.committed <= 0 then
    expire_due(k, s, now, LAZY_EXPIRY_MAX)
end
local available = s.stock - s.reserved - s.committed
if available <= 0 then
    return { 'empty' }
end
local units = math.ceil(available / 2)
local sequence = tonumber(redis.call('HGET', k.meta, 'xseq') or '0') + 1
s.stock = s.stock - units
save_sku(k, s)
redis.call('HSET', k.meta, 'xseq', int(sequence),
    'xout', ARGV[2] .. ':' .. int(sequence) .. ':' .. int(units) .. ':' .. int(now))
redis.call('SADD', TRANSFER_INDEX, k.sku)
record('transferred', k, s, nil)
return { 'pending', tonumber(ARGV[2]), sequence, units }
