-- The second half of a transfer: the recipient bucket adds the units the donor took out.
-- ARGV: recipient bucket, donor bucket index, sequence, units, caller's epoch.
-- A donor's transfers out are finished one at a time, in order, so the last sequence taken in
-- from each donor (xin) tells a delivery repeated after a crash or a lost answer, which adds nothing.
-- Reply: {'applied'} | {'already'} | {'unknown_sku'} | {'moved', epoch} | {'stale_epoch', the shard's epoch}
local k, s, refusal = open_sku('unknown_sku')
if refusal then
    return refusal
end
local donor, sequence, units = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local received = {}
for from, last in string.gmatch(redis.call('HGET', k.meta, 'xin') or '', '(%d+):(%d+)') do
    received[from] = tonumber(last)
end
if (received[donor] or 0) >= sequence then
    return { 'already' }
end
received[donor] = sequence
local text = {}
for from, last in pairs(received) do
    text[#text + 1] = from .. ':' .. int(last)
end
table.sort(text)
s.stock = s.stock + units
save_sku(k, s)
redis.call('HSET', k.meta, 'xin', table.concat(text, ','))
record('transferred', k, s, nil)
return { 'applied' }
