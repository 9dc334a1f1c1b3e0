-- The transfers out of this shard's buckets that have been unfinished for at least ARGV[1]
-- milliseconds (their node died or lost its answer between the two halves): the node delivers and
-- finishes them again. Reply: flat {bucket, recipient, sequence, units, ...}.
local now = now_ms()
local reply = {}
for _, bucket in ipairs(redis.call('SMEMBERS', TRANSFER_INDEX)) do
    local out = unfinished_transfer(sku_keys(bucket).meta)
    if not out then
        redis.call('SREM', TRANSFER_INDEX, bucket)
    elseif now - out.since >= tonumber(ARGV[1]) then
        for _, v in ipairs({ bucket, out.recipient, out.sequence, out.units }) do
            reply[#reply + 1] = v
        end
    end
end
return reply
