-- Read a reservation (expiring it first if its time is up). ARGV: sku, reservation id.
-- Reply: {'ok', id, user, quantity, status, expiresAt, requestId}
--      | {'refused', reason, id, user, quantity, status, expiresAt, requestId} | {'unknown_reservation'}
local k = sku_keys(ARGV[1])
local s = load_sku(k)
local r = s and load_reservation(k, ARGV[2])
if not r then
    return { 'unknown_reservation' }
end
return apply(k, s, r, 'expireIfDue', now_ms())
