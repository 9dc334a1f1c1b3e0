-- Close a SKU's sale now, on this shard's clock: its window ends at this instant, unless it ended
-- already. Reservations made before stay: they can still be committed or released, or expire; a
-- new one is refused 'sale_ended'. The outbox records the SKU as a define would. ARGV: sku,
-- caller's epoch.
-- Reply: {'closed', stock, reserved, committed, limit, ttl, buckets, starts, ends, archived} (sku_reply)
--      | {'unknown_sku'} | {'moved', epoch} | {'stale_epoch', the shard's epoch}
local k, s, refusal = open_sku('unknown_sku')
if refusal then
    return refusal
end
local now = now_ms()
if s.ends == nil or s.ends > now then
    s.ends = now
    save_sku(k, s)
    write_window(k, s.starts, s.ends)
    record('defined', k, s, nil)
end
return sku_reply('closed', s)
