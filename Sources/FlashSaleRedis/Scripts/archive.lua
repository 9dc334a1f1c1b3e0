-- Archive a SKU whose sale has ended: its reservations, requestIds and per-user holdings leave
-- Redis once the record holds every one of them as it is here. ARGV: sku, the version the caller
-- read (archivable.lua), and what the record holds for the SKU (a bucket: its reservations only):
-- how many reservations and the sum of their versions; the caller's epoch last.
-- The record never holds a reservation newer than here and holds none that is not here, so the
-- same count and the same sum of versions mean it holds every reservation at its version here.
-- All in this one atomic call, fenced by the epoch and by the version (anything that changed the
-- SKU since the caller read it refuses the call): a crash leaves the SKU whole or archived.
-- The meta hash stays (the SKU's counters, settings and window, a few hundred bytes), marked
-- archived: reads of the SKU answer from it, reads of its reservations from the record.
-- Reply: {'archived', version} | {'not_ready', why} | {'unknown_sku'} | {'moved', epoch} | {'stale_epoch', epoch}
local k, s, refusal = open_sku('unknown_sku')
if refusal then
    return refusal
end
if s.archived then
    return { 'archived', s.archived }
end
local now = now_ms()
if s.buckets > 1 or not s.ends or s.ends > now then
    return { 'not_ready', 'open' }
end
if s.version ~= tonumber(ARGV[2]) then
    return { 'not_ready', 'changed' }
end
if s.reserved > 0 or redis.call('HEXISTS', k.meta, 'xout') == 1 then
    return { 'not_ready', 'held' }
end
local count, version_sum = 0, 0
local entries = redis.call('HVALS', k.res)
for _, packed in ipairs(entries) do
    count = count + 1
    version_sum = version_sum + cmsgpack.unpack(packed)[4]
end
if count ~= tonumber(ARGV[3]) or version_sum ~= tonumber(ARGV[4]) then
    return { 'not_ready', 'unflushed' }
end
redis.call('UNLINK', k.res, k.req, k.users, k.exp)
redis.call('HSET', k.meta, 'archived', int(s.version))
redis.call('ZREM', EXPIRY_INDEX, k.sku)
redis.call('ZREM', ENDS_INDEX, k.sku)
redis.call('SADD', ARCHIVED_INDEX, k.sku)
return { 'archived', s.version }
