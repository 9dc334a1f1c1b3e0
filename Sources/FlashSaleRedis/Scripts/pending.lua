-- The transfers out of this shard's buckets that have been unfinished for at least ARGV[1]
-- milliseconds (their node died or lost its answer between the two halves): the node delivers and
-- finishes them again. Reply: flat {bucket, recipient, sequence, units, ...}.
local now = now_ms()
local reply = {}
for _, bucket in ipairs(redis.call('SMEMBERS', TRANSFER_INDEX)) do
    local out = redis.call('HGET', sku_keys(bucket).meta, 'xout')
    if out then
        local recipient, sequence, units, since = string.match(out, '^(%d+):(%d+):(%d+):(%d+)$')
        if now - tonumber(since) >= tonumber(ARGV[1]) then
            for _, v in ipairs({ bucket, tonumber(recipient), tonumber(sequence), tonumber(units) }) do
                reply[#reply + 1] = v
            end
        end
    else
        redis.call('SREM', TRANSFER_INDEX, bucket)
    end
end
return reply
