-- Read a SKU, after returning the stock of its due reservations. ARGV: sku, caller's epoch.
-- Reply: {'ok', stock, reserved, committed, limit, ttl, buckets} | {'unknown_sku'} | {'moved', epoch}
-- (a split SKU's own entry: its stock as defined, no reservations; its buckets hold the sale)
local stale = stale_caller()
if stale then
    return stale
end
local k = sku_keys(ARGV[1])
local s = load_sku(k)
if not s then
    return missing(k, 'unknown_sku')
end
expire_due(k, s, now_ms(), LAZY_EXPIRY_MAX)
return { 'ok', s.stock, s.reserved, s.committed, s.limit, s.ttl, s.buckets }
