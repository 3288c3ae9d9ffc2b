-- Shared by every script of the Redis backend (crates/signaling-ws/src/backend/redis.rs).
-- ARGV[1] key prefix, ARGV[2] resume buffer messages, ARGV[3] resume buffer bytes; the
-- operation's own arguments follow. Keys are built here, so this needs one Redis (not Cluster).
local P = ARGV[1]
local MAXN = tonumber(ARGV[2])
local MAXB = tonumber(ARGV[3])

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function proc_of(own)
  return string.sub(own, 1, string.find(own, ':', 1, true) - 1)
end

-- Tells the process that owns a connection ("proc:conn") about frame `seq` (0: close code).
local function tell(own, seq, payload)
  if own and own ~= '' then
    local i = string.find(own, ':', 1, true)
    redis.call('PUBLISH', P .. 'C:' .. string.sub(own, 1, i - 1),
      string.sub(own, i + 1) .. ' ' .. seq .. ' ' .. payload)
  end
end

-- Numbers a frame for `to`, keeps it in its inbox stream (bounded), and fans it out.
local function deliver(to, head, tail)
  local pk = P .. 'P:' .. to
  if redis.call('EXISTS', pk) == 0 then return end
  local seq = redis.call('HINCRBY', pk, 'seq', 1)
  local frame = head .. seq .. tail
  local ik = P .. 'I:' .. to
  redis.call('XADD', ik, seq .. '-1', 'f', frame)
  local kb = redis.call('HINCRBY', pk, 'kb', #frame)
  local n = redis.call('XLEN', ik)
  while n > 1 and (n > MAXN or kb > MAXB) do
    local e = redis.call('XRANGE', ik, '-', '+', 'COUNT', 1)
    redis.call('XDEL', ik, e[1][1])
    kb = redis.call('HINCRBY', pk, 'kb', -#e[1][2][2])
    n = n - 1
  end
  local ttl = redis.call('PTTL', pk)
  if ttl > 0 then redis.call('PEXPIRE', ik, ttl) end
  tell(redis.call('HGET', pk, 'own'), seq, frame)
end

local function tell_room(room, who, kind)
  local head = '{"type":"' .. kind .. '","seq":'
  local tail = ',"peer_id":"' .. who .. '"}'
  for _, m in ipairs(redis.call('ZRANGE', P .. 'R:' .. room, 0, -1)) do
    if m ~= who then deliver(m, head, tail) end
  end
end

local function roster(room, me)
  local out = {}
  for _, m in ipairs(redis.call('ZRANGE', P .. 'R:' .. room, 0, -1)) do
    if m ~= me then
      out[#out + 1] = m
      out[#out + 1] = redis.call('HGET', P .. 'P:' .. m, 'st') or 'a'
    end
  end
  return out
end

-- Drops inbox entries up to and including `upto`.
local function trim_upto(id, upto)
  local pk, ik = P .. 'P:' .. id, P .. 'I:' .. id
  for _, e in ipairs(redis.call('XRANGE', ik, '-', upto .. '-1')) do
    redis.call('XDEL', ik, e[1])
    redis.call('HINCRBY', pk, 'kb', -#e[2][2])
  end
end

-- Removes a peer and tells its room; `code` closes its connection, if any.
local function remove(id, code)
  local pk = P .. 'P:' .. id
  local f = redis.call('HMGET', pk, 'room', 'tok', 'own')
  redis.call('ZREM', P .. 'grace', id)
  if not f[1] then return end
  redis.call('DEL', pk, P .. 'I:' .. id, P .. 'T:' .. f[2])
  if f[3] and f[3] ~= '' then
    redis.call('SREM', P .. 'O:' .. proc_of(f[3]), id)
    if code then tell(f[3], 0, code) end
  end
  redis.call('ZREM', P .. 'R:' .. f[1], id)
  tell_room(f[1], id, 'peer-left')
end

-- Suspends a peer for `grace` ms: the reaper removes it unless it resumes.
local function suspend(id, grace)
  local pk = P .. 'P:' .. id
  local f = redis.call('HMGET', pk, 'room', 'tok')
  if not f[1] then return end
  redis.call('HSET', pk, 'st', 's', 'own', '')
  redis.call('ZADD', P .. 'grace', now_ms() + grace, id)
  local keep = grace + 60000
  redis.call('PEXPIRE', pk, keep)
  redis.call('PEXPIRE', P .. 'I:' .. id, keep)
  redis.call('PEXPIRE', P .. 'T:' .. f[2], keep)
  tell_room(f[1], id, 'peer-suspended')
end
