package store

import "github.com/redis/go-redis/v9"

// The monitors' Lua scripts build on luaPrelude (its claimFair round robin,
// dequeue and nextDueOf are shared with the watches) and are called the same
// way (KEYS[1] routes, ARGV[1] is the prefix). docs/ARCHITECTURE.md lists
// the keys:
//
//   - <prefix>:m:<channel>:<thread>, a hash, is one monitor: field "#" is
//     "user|created_ms|seq|open" (seq numbers its announcement intents, open
//     is the intent still gathering changes, "" for none), "#t" the targets
//     as typed, and one field per address, "token|SP|rest": token fences the
//     current claim (0 when unclaimed), S is the confirmed status (p, f, e,
//     or - before the first answer), P is y while resolvers disagree with
//     the authoritative servers, rest is Go's (encodeState).
//   - <prefix>:mq:<channel>, a sorted set, is the channel's queue:
//     "<thread> <ip>" → due time, every monitored address exactly once;
//     its size is the channel's address count for the caps. <prefix>:mr and
//     <prefix>:mw are its READY and WAIT sets (see claimFair).
//   - <prefix>:mi:<channel>:<thread>, a hash, holds the monitor's
//     announcement intents: seq → "attempts|parts|changes" (changes: JSON
//     array elements, the brackets left off); <prefix>:ma, a sorted set,
//     schedules them: "<channel>:<thread> <seq>" → due time.
//   - <prefix>:mn counts monitored addresses (Total cap); <prefix>:mu:<user>
//     and <prefix>:mc:<channel> index monitors by owner and channel.
const luaMonitorPrelude = luaPrelude + `
local MANN, MN = P .. ':ma', P .. ':mn'
local MAXPARTS = 64
local function mkey(mid) return P .. ':m:' .. mid end
local function mikey(mid) return P .. ':mi:' .. mid end
local function mqkey(ch) return P .. ':mq:' .. ch end
local MQ = {ready = P .. ':mr', wait = P .. ':mw', q = mqkey}
local function split(mid) return string.match(mid, '^([^:]*):(.*)$') end
local function mparse(v)
  local u, c, s, o = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  return {u = u, c = c, s = tonumber(s), o = o}
end
local function menc(m) return m.u .. '|' .. m.c .. '|' .. m.s .. '|' .. m.o end
-- menqueue schedules member in channel ch's queue at score.
local function menqueue(ch, member, score)
  redis.call('ZADD', mqkey(ch), score, member)
  redis.call('ZADD', MQ.wait, 'LT', score, ch)
end
-- claimMon leases one queued address (see claimFair): it appends
-- {mid, ip, due_ms, state} to out. A member whose address is gone is dropped.
local function claimMon(out, member, due_ms, tok, ch)
  local th, ip = string.match(member, '^(%S*) (%S+)$')
  local mid = ch .. ':' .. (th or '')
  local v = ip and redis.call('HGET', mkey(mid), ip)
  if not v then
    dequeue(MQ, ch, member)
    return
  end
  local rest = string.match(v, '^[^|]*|(.*)$')
  redis.call('HSET', mkey(mid), ip, tok .. '|' .. rest)
  redis.call('ZADD', mqkey(ch), tok, member)
  out[#out + 1] = {mid, ip, due_ms, rest}
end
MQ.claim = claimMon
-- intend records changes (JSON array elements) for monitor mid: appended to
-- its open intent while that one is unclaimed and small, else a new intent
-- due at due_ms.
local function intend(mid, parts, due_ms)
  local mk = mkey(mid)
  local mv = redis.call('HGET', mk, '#')
  if not mv then return end
  local m = mparse(mv)
  if m.o ~= '' then
    local cur = redis.call('HGET', mikey(mid), m.o)
    local a, n, body = string.match(cur or '', '^(%d+)|(%d+)|(.*)$')
    if a == '0' and tonumber(n) + #parts <= MAXPARTS then
      redis.call('HSET', mikey(mid), m.o, '0|' .. (tonumber(n) + #parts) .. '|' .. body .. ',' .. table.concat(parts, ','))
      return
    end
  end
  m.s = m.s + 1
  m.o = tostring(m.s)
  redis.call('HSET', mikey(mid), m.o, '0|' .. #parts .. '|' .. table.concat(parts, ','))
  redis.call('ZADD', MANN, due_ms, mid .. ' ' .. m.o)
  redis.call('HSET', mk, '#', menc(m))
end
-- mcomplete applies one outcome from ARGV[i]...: mid, ip, token, next_ms,
-- state, changes. It returns 1, or -1 when the lease was lost.
local function mcomplete(i)
  local mid, ip, tok = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local v = redis.call('HGET', mkey(mid), ip)
  if not v or string.match(v, '^([^|]*)|') ~= tok then return -1 end
  redis.call('HSET', mkey(mid), ip, '0|' .. ARGV[i + 4])
  local ch, th = split(mid)
  local nx = tonumber(ARGV[i + 3])
  redis.call('ZADD', mqkey(ch), 'XX', nx, th .. ' ' .. ip)
  if nx < tonumber(tok) then redis.call('ZADD', MQ.wait, 'LT', nx, ch) end
  return 1
end
-- claimMAnn leases up to max intents due at now_ms for lease_ms; it returns
-- (mid, seq, attempts, changes, meta) quintuples. A claimed intent stops
-- gathering.
local function claimMAnn(now, max, lease)
  local tok = tonumber(now) + tonumber(lease)
  local out = {}
  if tonumber(max) <= 0 then return out end
  for _, e in ipairs(redis.call('ZRANGEBYSCORE', MANN, '-inf', now, 'LIMIT', 0, max)) do
    local mid, seq = string.match(e, '^(%S+) (%d+)$')
    local cur = mid and redis.call('HGET', mikey(mid), seq)
    local mv = mid and redis.call('HGET', mkey(mid), '#')
    if cur and mv then
      local a, n, body = string.match(cur, '^(%d+)|(%d+)|(.*)$')
      a = tonumber(a) + 1
      redis.call('HSET', mikey(mid), seq, a .. '|' .. n .. '|' .. body)
      redis.call('ZADD', MANN, tok, e)
      local m = mparse(mv)
      if m.o == seq then
        m.o = ''
        redis.call('HSET', mkey(mid), '#', menc(m))
      end
      for _, x in ipairs({mid, seq, tostring(a), body, mv}) do out[#out + 1] = x end
    else
      redis.call('ZREM', MANN, e)
      if mid then redis.call('HDEL', mikey(mid), seq) end
    end
  end
  return out
end
`

// ARGV: prefix, mid, user, created_ms, targets, per-channel cap, total cap
// (0: none), n, then n (ip, due_ms, state) triples. Returns how many
// addresses were new, or -1 (channel cap) or -2 (total cap): nothing changed.
var scriptMonitorAdd = redis.NewScript(luaMonitorPrelude + `
local mid, user = ARGV[2], ARGV[3]
local ch, th = split(mid)
local mk = mkey(mid)
local n, new = tonumber(ARGV[8]), 0
for j = 9, 8 + 3 * n, 3 do
  if redis.call('HEXISTS', mk, ARGV[j]) == 0 then new = new + 1 end
end
local lc, lt = tonumber(ARGV[6]), tonumber(ARGV[7])
if lc > 0 and redis.call('ZCARD', mqkey(ch)) + new > lc then return -1 end
if lt > 0 and tonumber(redis.call('GET', MN) or '0') + new > lt then return -2 end
redis.call('HSETNX', mk, '#', user .. '|' .. ARGV[4] .. '|0|')
local t = redis.call('HGET', mk, '#t')
if not t then redis.call('HSET', mk, '#t', ARGV[5])
elseif #t + #ARGV[5] < 1024 and ARGV[5] ~= '' then redis.call('HSET', mk, '#t', t .. ',' .. ARGV[5]) end
for j = 9, 8 + 3 * n, 3 do
  if redis.call('HSETNX', mk, ARGV[j], '0|' .. ARGV[j + 2]) == 1 then
    menqueue(ch, th .. ' ' .. ARGV[j], ARGV[j + 1])
  end
end
redis.call('INCRBY', MN, new)
redis.call('HSET', P .. ':mu:' .. mparse(redis.call('HGET', mk, '#')).u, mid, '')
redis.call('HSET', P .. ':mc:' .. ch, th, '')
return new
`)

// ARGV: prefix, mid, n, then n IPs (n 0: every address). Returns how many
// addresses were removed; a monitor left without any is deleted with its
// pending announcements.
var scriptMonitorRemove = redis.NewScript(luaMonitorPrelude + `
local mid, n = ARGV[2], tonumber(ARGV[3])
local ch, th = split(mid)
local mk = mkey(mid)
local mv = redis.call('HGET', mk, '#')
if not mv then return 0 end
local ips = {}
if n == 0 then
  for _, f in ipairs(redis.call('HKEYS', mk)) do
    if string.sub(f, 1, 1) ~= '#' then ips[#ips + 1] = f end
  end
else
  for j = 4, 3 + n do
    if redis.call('HEXISTS', mk, ARGV[j]) == 1 then ips[#ips + 1] = ARGV[j] end
  end
end
for _, ip in ipairs(ips) do
  redis.call('HDEL', mk, ip)
  dequeue(MQ, ch, th .. ' ' .. ip)
end
redis.call('DECRBY', MN, #ips)
if redis.call('HLEN', mk) <= 2 then
  for _, seq in ipairs(redis.call('HKEYS', mikey(mid))) do redis.call('ZREM', MANN, mid .. ' ' .. seq) end
  redis.call('DEL', mk, mikey(mid))
  redis.call('HDEL', P .. ':mu:' .. mparse(mv).u, mid)
  redis.call('HDEL', P .. ':mc:' .. ch, th)
end
return #ips
`)

// ARGV: prefix, mode (u or c), id. Returns (mid, meta, targets, addresses,
// failing, propagating, next_ms) septuples.
var scriptMonitorList = redis.NewScript(luaMonitorPrelude + `
local mode, id = ARGV[2], ARGV[3]
local out = {}
for _, f in ipairs(redis.call('HKEYS', P .. ':m' .. mode .. ':' .. id)) do
  local mid = f
  if mode == 'c' then mid = id .. ':' .. f end
  local ch, th = split(mid)
  local all = redis.call('HGETALL', mkey(mid))
  local meta, targets, n, failing, prop, nx = nil, '', 0, 0, 0, nil
  for i = 1, #all, 2 do
    local k, v = all[i], all[i + 1]
    if k == '#' then meta = v
    elseif k == '#t' then targets = v
    else
      n = n + 1
      local s, g = string.match(v, '^[^|]*|(.)(.)')
      if s == 'f' or s == 'e' then failing = failing + 1 end
      if g == 'y' then prop = prop + 1 end
      local d = tonumber(redis.call('ZSCORE', mqkey(ch), th .. ' ' .. k) or nil)
      if d and string.match(v, '^0|') and (not nx or d < nx) then nx = d end
    end
  end
  if meta then
    for _, x in ipairs({mid, meta, targets, tostring(n), tostring(failing), tostring(prop), nx and string.format('%d', nx) or ''}) do out[#out + 1] = x end
  end
end
return out
`)

// ARGV: prefix, now_ms, max, check_lease_ms, announce_lease_ms, gather_ms,
// n, then n outcomes as mcomplete reads them. Returns {statuses, claimMAnn's
// reply, claimFair's, nextDueOf's}: one monitor pass in one round trip. The
// changes of the outcomes applied go to one intent per monitor, due
// gather_ms from now.
var scriptMonitorCycle = redis.NewScript(luaMonitorPrelude + `
local now = ARGV[2]
local st, parts, order = {}, {}, {}
local i = 8
for k = 1, tonumber(ARGV[7]) do
  st[k] = mcomplete(i)
  local c = ARGV[i + 5]
  if st[k] == 1 and c ~= '' then
    local mid = ARGV[i]
    if not parts[mid] then
      parts[mid] = {}
      order[#order + 1] = mid
    end
    table.insert(parts[mid], c)
  end
  i = i + 6
end
for _, mid in ipairs(order) do intend(mid, parts[mid], tonumber(now) + tonumber(ARGV[6])) end
local anns = claimMAnn(now, ARGV[3], ARGV[5])
local claims, ready = claimFair(MQ, now, tonumber(ARGV[3]) - #anns / 5, ARGV[4])
return {st, anns, claims, nextDueOf(MQ, MANN, now, ready)}
`)

// ARGV: prefix, mid, seq.
var scriptMonitorPosted = redis.NewScript(luaMonitorPrelude + `
redis.call('HDEL', mikey(ARGV[2]), ARGV[3])
redis.call('ZREM', MANN, ARGV[2] .. ' ' .. ARGV[3])
return 1
`)
