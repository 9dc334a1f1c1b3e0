-- A cart's release of its item: a release that also releases a reservation prepared for the
-- cart's commit. ARGV: sku, reservation id, caller's epoch.
-- Reply: {'ok', id, user, quantity, status, expiresAt, requestId}
--      | {'refused', reason, id, user, quantity, status, expiresAt, requestId} | {'unknown_reservation'} | {'archived'} | {'moved', epoch}
return resolve('cartRelease')
