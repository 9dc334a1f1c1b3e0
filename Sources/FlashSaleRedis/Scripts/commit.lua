-- Commit a reservation. ARGV: sku, reservation id, caller's epoch.
-- Reply: {'ok', id, user, quantity, status, expiresAt, requestId}
--      | {'refused', reason, id, user, quantity, status, expiresAt, requestId} | {'unknown_reservation'} | {'archived'} | {'moved', epoch}
return resolve('commit')
