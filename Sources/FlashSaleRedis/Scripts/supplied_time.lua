-- A test's clock: the milliseconds a test set in fs:test:clock_ms, so that a test moves time by
-- hand instead of waiting for it. Never loaded in production (ScriptTime.redis is the default).
local function now_ms()
    local ms = tonumber(redis.call('GET', 'fs:test:clock_ms'))
    if not ms then
        error('supplied script time: fs:test:clock_ms is not set')
    end
    return ms
end

