-- The previous owner's last step of a handoff, once the new owner has acknowledged the import:
-- drop the frozen state and keep only the moved marker. ARGV: sku.
-- Reply: 1 when there was frozen state to drop, 0 otherwise.
local k = sku_keys(ARGV[1])
if redis.call('EXISTS', k.frozen) == 0 then
    return 0
end
redis.call('DEL', k.frozen, k.users, k.res, k.req, k.exp)
redis.call('SREM', MOVING_INDEX, k.sku)
return 1
