-- Tell the shard of a membership epoch. It keeps the newest it has been told of and never goes
-- back, so a node that learns epochs out of order cannot lower the fence. ARGV: epoch.
-- Reply: the shard's epoch afterwards.
local told = tonumber(ARGV[1])
local recorded = tonumber(redis.call('GET', 'fs:epoch') or '0')
if told > recorded then
    redis.call('SET', 'fs:epoch', ARGV[1])
    return told
end
return recorded
