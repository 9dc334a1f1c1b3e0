-- The donor forgets a transfer the recipient has taken (transfer_in.lua answered).
-- ARGV: donor bucket, sequence, caller's epoch.
-- Reply: {'done'} (also when that transfer was already finished) | {'unknown_sku'} | {'moved', epoch}
--      | {'stale_epoch', the shard's epoch}
local k, _, refusal = open_sku('unknown_sku')
if refusal then
    return refusal
end
local out = unfinished_transfer(k.meta)
if out and out.sequence == tonumber(ARGV[2]) then
    redis.call('HDEL', k.meta, 'xout')
    redis.call('SREM', TRANSFER_INDEX, k.sku)
end
return { 'done' }
