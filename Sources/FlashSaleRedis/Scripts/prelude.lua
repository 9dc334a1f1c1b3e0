-- Shared by every script: RedisScript.swift prepends this file to each one before SCRIPT LOAD.
--
-- Data model of one SKU (all its keys share the hash tag {sku}):
--   fs:{sku}:meta   hash    stock, reserved, committed, limit, ttl (seconds), version, buckets
--                           (over how many buckets a split SKU's stock is; its own entry then
--                           holds no stock: only its settings), the sale's window when it has
--                           one: starts and ends (epoch ms on this shard's clock, each optional;
--                           see outside_window), archived (the SKU's version when archive.lua
--                           took its reservations out of Redis), and for a bucket of a split SKU
--                           its transfers: xseq (transfers out so far), xout (the one not yet
--                           finished: 'recipient:sequence:units:ms'), xin (the last sequence
--                           taken in from each donor: 'donor:sequence,...')
--   fs:{sku}:users  hash    user -> quantity held (reserved + committed), for the per-user limit
--   fs:{sku}:res    hash    reservation id -> msgpack {status, quantity, expiresAt ms, version, user, requestId}
--   fs:{sku}:req    hash    requestId -> reservation id, for idempotency
--   fs:{sku}:exp    zset    reservation id -> expiresAt ms, reserved ones only
--   fs:{sku}:moved  string  the membership epoch at which the SKU left this shard (export.lua)
--   fs:{sku}:frozen hash    the meta hash of a SKU that left, kept until its new owner has it
-- Shard-wide keys:
--   fs:expiry       zset    sku -> no later than the first instant one of its reservations expires
--   fs:skus         set     every SKU defined on this shard
--   fs:moving       set     SKUs frozen for a handoff whose new owner has not acknowledged them
--   fs:outbox       stream  one entry for every change, in the same call as the change
--   fs:transfers    set     buckets here with a transfer out not yet finished (pending.lua)
--   fs:outbox:limit string  the most entries the outbox may hold before new work is refused
--   fs:epoch        string  the newest membership epoch this shard has been told of (epoch.lua)
--   fs:ends         zset    sku -> the end of its sale, for SKUs here whose sale has an end and
--                           that are not archived yet (archivable.lua's candidates)
--   fs:archived     set     the SKUs here whose reservations are archived
--   fs:generation   string  how many times a replica of this shard has been promoted (ShardGuardian)
--   fs:syncer:read  string  the outbox position the syncer last read from, written after the read
--                           so that the WAIT of its round trip covers the entries read
-- Each coordinator owns its whole Redis, so scripts derive the SKU's keys from its name.
-- Time is now_ms(), defined before this prelude: Redis TIME in production (redis_time.lua), one
-- clock per shard whichever coordinator calls; a test's hand-moved clock in tests (supplied_time.lua).

local EXPIRY_INDEX = 'fs:expiry'
local SKU_INDEX = 'fs:skus'
local OUTBOX = 'fs:outbox'
local MOVING_INDEX = 'fs:moving'
local TRANSFER_INDEX = 'fs:transfers'
local ENDS_INDEX = 'fs:ends'
local ARCHIVED_INDEX = 'fs:archived'

local function sku_keys(sku)
    local prefix = 'fs:{' .. sku .. '}:'
    return {
        sku = sku,
        meta = prefix .. 'meta',
        users = prefix .. 'users',
        res = prefix .. 'res',
        req = prefix .. 'req',
        exp = prefix .. 'exp',
        moved = prefix .. 'moved',
        frozen = prefix .. 'frozen',
    }
end

-- Integers as exact decimal text: Lua numbers are doubles and would otherwise print as 1e+12.
local function int(n)
    return string.format('%d', n)
end

-- The membership fence. Every SKU script's last ARGV is the caller's membership epoch, or
-- 'unfenced' for a store that is its shard's only writer (tests, tools). A caller whose
-- membership is older than the newest epoch the shard knows may route by a placement that has
-- changed, so it is refused and reads the membership again. A caller with a newer epoch raises
-- the shard's in the same atomic call: once a node has acted on a SKU under epoch E here (the new
-- owner asking whether the SKU is still here, say), no call under an older epoch can follow it.
-- Reply: {'stale_epoch', the shard's epoch} or nil.
local function stale_caller()
    if ARGV[#ARGV] == 'unfenced' then
        return nil
    end
    local recorded = tonumber(redis.call('GET', 'fs:epoch') or '0')
    local caller = tonumber(ARGV[#ARGV])
    if caller == nil or caller < recorded then
        return { 'stale_epoch', recorded }
    end
    if caller > recorded then
        redis.call('SET', 'fs:epoch', ARGV[#ARGV])
    end
    return nil
end

-- The caller's epoch as text; 0 for an unfenced caller.
local function caller_epoch()
    if ARGV[#ARGV] == 'unfenced' then
        return '0'
    end
    return ARGV[#ARGV]
end

-- The reply for a SKU this shard does not hold: moved away (its handoff started here) or unknown.
local function missing(k, otherwise)
    local moved = redis.call('GET', k.moved)
    if moved then
        return { 'moved', tonumber(moved) }
    end
    return { otherwise }
end

local function load_sku(k)
    local v = redis.call('HMGET', k.meta, 'stock', 'reserved', 'committed', 'limit', 'ttl', 'version', 'buckets', 'starts', 'ends', 'archived')
    if not v[1] then
        return nil
    end
    return {
        stock = tonumber(v[1]),
        reserved = tonumber(v[2]),
        committed = tonumber(v[3]),
        limit = tonumber(v[4]),
        ttl = tonumber(v[5]),
        version = tonumber(v[6]),
        buckets = tonumber(v[7] or '1'),
        starts = tonumber(v[8]),
        ends = tonumber(v[9]),
        archived = tonumber(v[10]),
    }
end

-- Writes the SKU's counters and settings; its window is written apart (write_window), as only a
-- define, a close or an import changes it, never a reservation.
local function write_sku(k, s)
    redis.call('HSET', k.meta,
        'stock', int(s.stock), 'reserved', int(s.reserved), 'committed', int(s.committed),
        'limit', int(s.limit), 'ttl', int(s.ttl), 'version', int(s.version), 'buckets', int(s.buckets))
end
local function save_sku(k, s)
    s.version = s.version + 1
    write_sku(k, s)
end

-- The sale's window: from starts (inclusive) to ends (exclusive), epoch ms, either one optional.
-- Both are decided on this shard's clock (now_ms), so a coordinator whose own clock is off can
-- neither open a sale early nor keep it open late. A SKU with an end waits in fs:ends for
-- archiving.
local function write_window(k, starts, ends)
    if starts then
        redis.call('HSET', k.meta, 'starts', int(starts))
    else
        redis.call('HDEL', k.meta, 'starts')
    end
    if ends then
        redis.call('HSET', k.meta, 'ends', int(ends))
        redis.call('ZADD', ENDS_INDEX, int(ends), k.sku)
    else
        redis.call('HDEL', k.meta, 'ends')
        redis.call('ZREM', ENDS_INDEX, k.sku)
    end
end

-- Why a new reservation cannot be made now: {'sale_ended'} or {'not_started', ms until the
-- opening}; nil while the sale is open. The end comes first: a sale closed before its opening
-- never opens.
local function outside_window(s, now)
    if s.ends and now >= s.ends then
        return { 'sale_ended' }
    end
    if s.starts and now < s.starts then
        return { 'not_started', s.starts - now }
    end
    return nil
end

-- A SKU's settings and counters as a reply: {outcome, stock, reserved, committed, limit, ttl,
-- buckets, starts, ends, archived}, with 0 for a window end not set and archived 1 or 0.
local function sku_reply(outcome, s)
    return { outcome, s.stock, s.reserved, s.committed, s.limit, s.ttl, s.buckets, s.starts or 0, s.ends or 0, s.archived and 1 or 0 }
end

-- A bucket's transfer bookkeeping as one text, for a handoff: 'xseq|xout|xin'.
local TRANSFER_FIELDS = { 'xseq', 'xout', 'xin' }
local function transfers_text(meta)
    local v = redis.call('HMGET', meta, unpack(TRANSFER_FIELDS))
    return (v[1] or '') .. '|' .. (v[2] or '') .. '|' .. (v[3] or '')
end

-- A bucket's transfer out not yet finished (its meta's xout), or nil.
local function unfinished_transfer(meta)
    local out = redis.call('HGET', meta, 'xout')
    if not out then
        return nil
    end
    local recipient, sequence, units, since = string.match(out, '^(%d+):(%d+):(%d+):(%d+)$')
    return { recipient = tonumber(recipient), sequence = tonumber(sequence), units = tonumber(units), since = tonumber(since) }
end

local function restore_transfers(k, text)
    local index = 1
    for value in string.gmatch(text .. '|', '([^|]*)|') do
        if value ~= '' and TRANSFER_FIELDS[index] then
            redis.call('HSET', k.meta, TRANSFER_FIELDS[index], value)
        end
        index = index + 1
    end
    if redis.call('HEXISTS', k.meta, 'xout') == 1 then
        redis.call('SADD', TRANSFER_INDEX, k.sku)
    end
end

local function load_reservation(k, id)
    local packed = redis.call('HGET', k.res, id)
    if not packed then
        return nil
    end
    local f = cmsgpack.unpack(packed)
    return { id = id, status = f[1], qty = f[2], exp = f[3], version = f[4], user = f[5], rid = f[6], prepared = f[7] == 1 }
end

local function save_reservation(k, r)
    local f = { r.status, r.qty, r.exp, r.version, r.user, r.rid }
    if r.prepared then
        f[7] = 1
    end
    redis.call('HSET', k.res, r.id, cmsgpack.pack(f))
end

-- A reply: the given leading fields, then the reservation as {id, user, quantity, status, expiresAt, requestId}.
local function answer(r, ...)
    local reply = { ... }
    for _, v in ipairs({ r.id, r.user, r.qty, r.status, r.exp, r.rid }) do
        reply[#reply + 1] = v
    end
    return reply
end

-- The transactional outbox: every change appends its event in the same script call.
local function record(kind, k, s, r)
    local fields = {
        'kind', kind, 'sku', k.sku,
        'stock', int(s.stock), 'reserved', int(s.reserved), 'committed', int(s.committed),
        'perUserLimit', int(s.limit), 'ttl', int(s.ttl), 'skuVersion', int(s.version),
    }
    if s.buckets > 1 then
        fields[#fields + 1] = 'buckets'
        fields[#fields + 1] = int(s.buckets)
    end
    if r then
        local more = {
            'id', r.id, 'user', r.user, 'quantity', int(r.qty), 'status', r.status,
            'requestId', r.rid, 'expiresAt', int(r.exp), 'version', int(r.version),
        }
        for _, v in ipairs(more) do
            fields[#fields + 1] = v
        end
    end
    redis.call('XADD', OUTBOX, '*', unpack(fields))
end

-- The outbox is bounded: when the record falls this far behind (PostgreSQL down), new work (define,
-- reserve) is refused with a retryable answer instead of growing without end. The node writes the
-- limit to fs:outbox:limit (0 or missing: no limit). Resolutions (commit, release, expiry) still
-- append: there is at most one per reservation, so the stream stays under twice the limit.
local function outbox_full()
    local limit = tonumber(redis.call('GET', 'fs:outbox:limit') or '0')
    return limit > 0 and redis.call('XLEN', OUTBOX) >= limit
end

-- The reservation lifecycle: the same table as ReservationLifecycle.swift (a test compares the two).
-- Returns 'unchanged' | 'transition', status | 'refuse', reason, expiring_now.
-- A reservation prepared for a cart's commit (r.prepared) is never due, and a release is refused.
local function decide(r, command, now)
    local due = r.status == 'reserved' and not r.prepared and now >= r.exp
    if r.status == 'reserved' then
        if command == 'commit' then
            if due then return 'refuse', 'expired', true end
            return 'transition', 'committed'
        elseif command == 'release' then
            if r.prepared then return 'refuse', 'committed', false end
            if due then return 'refuse', 'expired', true end
            return 'transition', 'released'
        elseif command == 'cartRelease' then
            if due then return 'refuse', 'expired', true end
            return 'transition', 'released'
        elseif command == 'prepareCommit' then
            if due then return 'refuse', 'expired', true end
            if r.prepared then return 'unchanged' end
            return 'prepare'
        end
        if due then return 'transition', 'expired' end
        return 'unchanged'
    elseif r.status == 'committed' then
        if command == 'release' or command == 'cartRelease' then return 'refuse', 'committed', false end
        return 'unchanged'
    elseif r.status == 'released' then
        if command == 'commit' or command == 'prepareCommit' then return 'refuse', 'released', false end
        return 'unchanged'
    end
    if command == 'expireIfDue' then return 'unchanged' end
    return 'refuse', 'expired', false
end

-- Moves a reserved reservation to its final status, keeping the SKU's counters, the user's
-- holding, the expiry index and the outbox in step.
local function transition(k, s, r, status)
    s.reserved = s.reserved - r.qty
    if status == 'committed' then
        s.committed = s.committed + r.qty
    else
        -- Released or expired: the quantity returns to stock and no longer counts against the user.
        local held = redis.call('HINCRBY', k.users, r.user, -r.qty)
        if held <= 0 then
            redis.call('HDEL', k.users, r.user)
        end
    end
    redis.call('ZREM', k.exp, r.id)
    r.status = status
    r.prepared = nil
    r.version = r.version + 1
    save_reservation(k, r)
    save_sku(k, s)
    record(status, k, s, r)
end

-- Applies a command to one reservation and builds the reply.
local function apply(k, s, r, command, now)
    local action, argument, expiring_now = decide(r, command, now)
    if action == 'transition' then
        transition(k, s, r, argument)
    elseif action == 'prepare' then
        -- Out of the expiry index: the sweeper and lazy expiry never reach it. No event: its
        -- status and version are unchanged, so the record has nothing new to hold.
        r.prepared = true
        redis.call('ZREM', k.exp, r.id)
        save_reservation(k, r)
    elseif action == 'refuse' then
        if expiring_now then
            transition(k, s, r, 'expired')
        end
        return answer(r, 'refused', argument)
    end
    return answer(r, 'ok')
end

-- How most SKU scripts start: the membership fence, then the SKU named by ARGV[1].
-- Returns k, s; or nil, nil and the reply for a refused caller or a SKU not here (`otherwise` when it never was).
local function open_sku(otherwise)
    local stale = stale_caller()
    if stale then
        return nil, nil, stale
    end
    local k = sku_keys(ARGV[1])
    local s = load_sku(k)
    if not s then
        return nil, nil, missing(k, otherwise)
    end
    return k, s
end

-- The whole of commit.lua, release.lua and read.lua, which differ only in their command.
-- ARGV: sku, reservation id, caller's epoch. An archived SKU's reservations are in the record
-- only: {'archived'} sends the caller there.
local function resolve(command)
    local k, s, refusal = open_sku('unknown_reservation')
    if refusal then
        return refusal
    end
    if s.archived then
        return { 'archived' }
    end
    local r = load_reservation(k, ARGV[2])
    if not r then
        return { 'unknown_reservation' }
    end
    return apply(k, s, r, command, now_ms())
end

-- Expires up to `max` due reservations of one SKU, earliest first; returns how many it expired.
local function expire_due(k, s, now, max)
    local due = redis.call('ZRANGEBYSCORE', k.exp, '-inf', int(now), 'LIMIT', 0, max)
    local expired = 0
    for _, id in ipairs(due) do
        local r = load_reservation(k, id)
        if r and r.status == 'reserved' and not r.prepared then
            transition(k, s, r, 'expired')
            expired = expired + 1
        else
            redis.call('ZREM', k.exp, id)
        end
    end
    return expired
end

-- Lookups bounded per call so no script runs long on a shard that fell behind.
local LAZY_EXPIRY_MAX = 64

-- The SKU of a reserve call (ARGV[1]), or the refusal of the whole call: a stale caller, an
-- unknown or moved SKU, a split SKU's own entry, which holds no stock (the caller reserves in
-- the user's bucket), or an archived SKU, whose requestIds only the record knows.
local function open_reservable_sku()
    local k, s, refusal = open_sku('unknown_sku')
    if refusal then
        return nil, nil, refusal
    end
    if s.archived then
        return nil, nil, { 'archived' }
    end
    if s.buckets > 1 then
        return nil, nil, { 'split', s.buckets }
    end
    return k, s
end

-- One reservation, alone (reserve.lua) or in a batch (reserve_many.lua): idempotency by requestId
-- (a repeat answers its reservation even after the sale ended), the sale's window, the outbox
-- bound, stock (quantity > available -> 'sold_out', after expiring what is due when it
-- looks short), the per-user limit, then create. A created reservation bumps the SKU's version and
-- appends its event with the SKU's counters as of it, exactly as a call of its own would; the
-- caller then writes the SKU's meta once (write_sku) and indexes the expiry. Returns the reply
-- and, when it created one, its expiry instant.
local function reserve_one(k, s, user, qty, rid, new_id, now)
    -- Idempotency: a repeated requestId answers the reservation it made, as it is now.
    local existing = redis.call('HGET', k.req, rid)
    if existing then
        local reply = apply(k, s, load_reservation(k, existing), 'expireIfDue', now)
        reply[1] = 'repeated'
        return reply, nil
    end
    local outside = outside_window(s, now)
    if outside then
        return outside, nil
    end
    if outbox_full() then
        return { 'outbox_full' }, nil
    end
    if qty > s.stock - s.reserved - s.committed then
        -- Stock may be held by reservations whose time is up but that no sweep has reached yet.
        expire_due(k, s, now, LAZY_EXPIRY_MAX)
        if qty > s.stock - s.reserved - s.committed then
            return { 'sold_out' }, nil
        end
    end
    local held = tonumber(redis.call('HGET', k.users, user) or '0')
    if held + qty > s.limit then
        return { 'limit_exceeded' }, nil
    end
    local r = { id = new_id, status = 'reserved', qty = qty, exp = now + s.ttl * 1000, version = 1, user = user, rid = rid }
    save_reservation(k, r)
    redis.call('HSET', k.req, rid, new_id)
    redis.call('HINCRBY', k.users, user, int(qty))
    redis.call('ZADD', k.exp, int(r.exp), new_id)
    s.reserved = s.reserved + qty
    s.version = s.version + 1
    record('reserved', k, s, r)
    return answer(r, 'created'), r.exp
end
