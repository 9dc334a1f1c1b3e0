-- Read a SKU, after returning the stock of its due reservations. ARGV: sku, caller's epoch.
-- Reply: {'ok', stock, reserved, committed, limit, ttl, buckets, starts, ends, archived} (sku_reply) | {'unknown_sku'} | {'moved', epoch}
-- (a split SKU's own entry: its stock as defined, no reservations; its buckets hold the sale)
local k, s, refusal = open_sku('unknown_sku')
if refusal then
    return refusal
end
expire_due(k, s, now_ms(), LAZY_EXPIRY_MAX)
return sku_reply('ok', s)
