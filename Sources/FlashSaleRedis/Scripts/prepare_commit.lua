-- Prepare a reservation for its cart's commit: it stays reserved, never expires and refuses a
-- release, until the cart commits it or aborts. ARGV: sku, reservation id, caller's epoch.
-- Reply: {'ok', id, user, quantity, status, expiresAt, requestId}
--      | {'refused', reason, id, user, quantity, status, expiresAt, requestId} | {'unknown_reservation'} | {'archived'} | {'moved', epoch}
return resolve('prepareCommit')
