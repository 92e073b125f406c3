package store

import "github.com/redis/go-redis/v9"

// The monitors' Lua scripts build on luaPrelude (its nextDueOf is shared
// with the watches) and are called the same way (KEYS[1] routes, ARGV[1]
// is the prefix). docs/ARCHITECTURE.md lists the keys:
//
//   - <prefix>:m:<channel>:<thread>, a hash, is one monitor: field "#" is
//     "user|created_ms|seq|open" (seq numbers its announcement intents, open
//     is the intent still gathering changes, "" for none), "#t" the targets
//     as typed, "#n" its number of addresses.
//   - <prefix>:ms:<channel>, a hash, holds the state of every address
//     monitored in the channel: "<thread> <ip>" → "SP|rest", S the confirmed
//     status (p, f, e, or - before the first answer), P y while resolvers
//     disagree with the authoritative servers, rest Go's (encodeState).
//   - <prefix>:mq:<channel>, a sorted set, is the channel's queue:
//     "<thread> <ip>" → due time in Unix ms, every monitored address exactly
//     once; its size is the channel's address count for the caps. A claimed
//     address's score is its lease's end less half a millisecond: the claim
//     is fenced by its score, which no due time (a whole millisecond) and no
//     later claim (whose lease ends later) can equal, and it is due again
//     when the lease ends. <prefix>:mr and <prefix>:mw are the queues'
//     READY and WAIT sets (see mclaim).
//   - <prefix>:mi:<channel>:<thread>, a hash, holds the monitor's
//     announcement intents: seq → "attempts|parts|changes" (changes: JSON
//     array elements, the brackets left off); <prefix>:ma, a sorted set,
//     schedules them: "<channel>:<thread> <seq>" → due time.
//   - <prefix>:mn counts monitored addresses (Total cap); <prefix>:mu:<user>
//     and <prefix>:mc:<channel> index monitors by owner and channel.
//
// Keeping a channel's states in one hash keyed like its queue lets a pass
// claim and record a channel's addresses with a few commands each, however
// many: one ZRANGEBYSCORE, ZADD and HMGET to claim them, one ZMSCORE (the
// fence), HSET and ZADD to record their outcomes.
const luaMonitorPrelude = luaPrelude + `
local MANN, MN = P .. ':ma', P .. ':mn'
local MAXPARTS = 64
local function mkey(mid) return P .. ':m:' .. mid end
local function mikey(mid) return P .. ':mi:' .. mid end
local function mqkey(ch) return P .. ':mq:' .. ch end
local function mskey(ch) return P .. ':ms:' .. ch end
local MQ = {ready = P .. ':mr', wait = P .. ':mw', q = mqkey}
local function split(mid) return string.match(mid, '^([^:]*):(.*)$') end
local function threadOf(member) return string.match(member, '^(%S*) ') end
local function mparse(v)
  local u, c, s, o = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  return {u = u, c = c, s = tonumber(s), o = o}
end
local function menc(m) return m.u .. '|' .. m.c .. '|' .. m.s .. '|' .. m.o end
-- bulk runs cmd on key with the arguments of list (after flag, if any), a
-- bounded number per call, and returns the array replies joined, or the
-- integer replies summed.
local function bulk(cmd, key, list, flag)
  local out, sum = {}, 0
  for i = 1, #list, 200 do
    local j = math.min(i + 199, #list)
    local r
    if flag then r = redis.call(cmd, key, flag, unpack(list, i, j)) else r = redis.call(cmd, key, unpack(list, i, j)) end
    if type(r) == 'table' then
      for k = 1, #r do out[#out + 1] = r[k] end
    else
      sum = sum + r
    end
  end
  return out, sum
end
-- forget counts gone addresses of monitor mid out (the Total cap's count and
-- the monitor's) and deletes the monitor when it has none left.
local function forget(mid, gone)
  if gone <= 0 then return end
  redis.call('DECRBY', MN, gone)
  local mk = mkey(mid)
  if redis.call('HINCRBY', mk, '#n', -gone) > 0 then return end
  local ch, th = split(mid)
  local mv = redis.call('HGET', mk, '#')
  for _, seq in ipairs(redis.call('HKEYS', mikey(mid))) do redis.call('ZREM', MANN, mid .. ' ' .. seq) end
  redis.call('DEL', mk, mikey(mid))
  if mv then redis.call('HDEL', P .. ':mu:' .. mparse(mv).u, mid) end
  redis.call('HDEL', P .. ':mc:' .. ch, th)
end
-- mclaim leases up to max addresses due at now for lease. It returns the
-- token (the lease's end), the claims (per channel served: the channel,
-- the count, then member, score and state of each; Go reads a held score
-- as the lease's end) and whether READY is left non-empty (nil: unknown).
--
-- Fairness is watch's (claimDue in scripts.go), dealt in bulk: the
-- channels of WAIT whose bound is due join READY at the back; the slots are
-- dealt evenly over the first max channels of READY, one more to the first
-- ones when they do not divide evenly; a channel with fewer due gives what
-- it has, and what is left is dealt again among those that had more, the
-- ones dealt less first. That is the round robin of one address per turn,
-- a channel's share taken in one go. A channel served goes to the back of
-- READY; one found with nothing more due goes to WAIT, bounded by its
-- queue's earliest score.
local function mclaim(now, max, lease)
  local tok = tonumber(now) + tonumber(lease)
  local held = tok - 0.5
  local out = {}
  max = tonumber(max)
  if max <= 0 then return tok, out, nil end
  local last = tonumber(redis.call('ZRANGE', MQ.ready, -1, -1, 'WITHSCORES')[2] or '0')
  local function toBack(chans)
    local turns = {}
    for _, ch in ipairs(chans) do
      last = last + 1
      turns[#turns + 1] = last
      turns[#turns + 1] = ch
    end
    return turns
  end
  local woke = redis.call('ZRANGEBYSCORE', MQ.wait, '-inf', now)
  if #woke > 0 then
    bulk('ZADD', MQ.ready, toBack(woke), 'NX') -- one already in READY keeps its turn
    redis.call('ZREMRANGEBYSCORE', MQ.wait, '-inf', now)
  end
  local chans = redis.call('ZRANGE', MQ.ready, 0, max - 1)
  local served, done = {}, {}
  local round, left = chans, max
  while left > 0 and #round > 0 do
    local share, extra = math.floor(left / #round), left % #round
    local less, more = {}, {}
    for k, ch in ipairs(round) do
      local want = share
      if k <= extra then want = want + 1 end
      if want == 0 then
        less[#less + 1] = ch -- no turn this round
      else
        -- One more than wanted: whether the channel stays ready.
        local d = redis.call('ZRANGEBYSCORE', mqkey(ch), '-inf', now, 'WITHSCORES', 'LIMIT', 0, want + 1)
        local n = math.min(want, #d / 2)
        if n > 0 then
          local zs, fs = {}, {}
          for j = 1, n do
            zs[2 * j - 1] = held
            zs[2 * j] = d[2 * j - 1]
            fs[j] = d[2 * j - 1]
          end
          bulk('ZADD', mqkey(ch), zs)
          local sts = bulk('HMGET', mskey(ch), fs)
          out[#out + 1] = ch
          local at = #out + 1
          out[at] = 0
          for j = 1, n do
            if sts[j] then
              out[#out + 1] = fs[j]
              out[#out + 1] = d[2 * j]
              out[#out + 1] = sts[j]
              out[at] = out[at] + 1
            else
              -- A state lost outside these scripts: the address is gone.
              redis.call('ZREM', mqkey(ch), fs[j])
              forget(ch .. ':' .. threadOf(fs[j]), 1)
            end
          end
          served[ch] = true
          left = left - n
        end
        if #d / 2 <= want then
          done[ch] = true
        elseif k <= extra then
          more[#more + 1] = ch
        else
          less[#less + 1] = ch
        end
      end
    end
    round = less
    for _, ch in ipairs(more) do round[#round + 1] = ch end
  end
  local back, ready = {}, false
  for _, ch in ipairs(chans) do
    if done[ch] then
      redis.call('ZREM', MQ.ready, ch)
      local f = redis.call('ZRANGE', mqkey(ch), 0, 0, 'WITHSCORES')
      if f[2] then redis.call('ZADD', MQ.wait, 'LT', f[2], ch) end
    else
      ready = true
      if served[ch] then back[#back + 1] = ch end
    end
  end
  if #back > 0 then bulk('ZADD', MQ.ready, toBack(back), 'XX') end
  if not ready and #chans == max then ready = nil end -- READY may hold more
  return tok, out, ready
end
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
-- mcomplete applies the outcomes in ARGV from i: the number of channels,
-- then for each its name, its count and per outcome member, token, next_ms,
-- state ("" when unchanged) and changes ("" for none). An outcome applies while its claim
-- holds, its address's score still the claim's; the changes of those
-- applied go to one intent per monitor, due at due_ms. It returns the
-- positions (counted from 1 in that order) of the outcomes whose lease was
-- lost.
local function mcomplete(i, due_ms)
  local lost, pos = {}, 0
  local parts, order = {}, {}
  local groups = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, groups do
    local ch, n = ARGV[i], tonumber(ARGV[i + 1])
    i = i + 2
    local members = {}
    for j = 1, n do members[j] = ARGV[i + 5 * (j - 1)] end
    local scores = bulk('ZMSCORE', mqkey(ch), members)
    local hs, zs, low = {}, {}, nil
    for j = 1, n do
      local tok, nx = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
      pos = pos + 1
      if scores[j] and tonumber(scores[j]) == tok - 0.5 then
        if ARGV[i + 3] ~= '' then
          hs[#hs + 1] = members[j]
          hs[#hs + 1] = ARGV[i + 3]
        end
        zs[#zs + 1] = nx
        zs[#zs + 1] = members[j]
        -- Coming before its lease's end (its score until now), the address
        -- may come before its channel's bound in WAIT.
        if nx < tok and (not low or nx < low) then low = nx end
        if ARGV[i + 4] ~= '' then
          local mid = ch .. ':' .. threadOf(members[j])
          if not parts[mid] then
            parts[mid] = {}
            order[#order + 1] = mid
          end
          table.insert(parts[mid], ARGV[i + 4])
        end
      else
        lost[#lost + 1] = pos
      end
      i = i + 5
    end
    if #hs > 0 then bulk('HSET', mskey(ch), hs) end
    if #zs > 0 then bulk('ZADD', mqkey(ch), zs) end
    if low then redis.call('ZADD', MQ.wait, 'LT', low, ch) end
  end
  for _, mid in ipairs(order) do intend(mid, parts[mid], due_ms) end
  return lost
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
// (0: none), n, then n (ip, due_ms, state) triples of distinct addresses.
// Returns how many addresses were new, or -1 (channel cap) or -2 (total
// cap): nothing changed.
var scriptMonitorAdd = redis.NewScript(luaMonitorPrelude + `
local mid, user = ARGV[2], ARGV[3]
local ch, th = split(mid)
local mk, sk = mkey(mid), mskey(ch)
local hs, zs, low = {}, {}, nil
for j = 9, 8 + 3 * tonumber(ARGV[8]), 3 do
  local member = th .. ' ' .. ARGV[j]
  if redis.call('HEXISTS', sk, member) == 0 then
    hs[#hs + 1] = member
    hs[#hs + 1] = ARGV[j + 2]
    zs[#zs + 1] = ARGV[j + 1]
    zs[#zs + 1] = member
    local d = tonumber(ARGV[j + 1])
    if not low or d < low then low = d end
  end
end
local new = #hs / 2
local lc, lt = tonumber(ARGV[6]), tonumber(ARGV[7])
if lc > 0 and redis.call('ZCARD', mqkey(ch)) + new > lc then return -1 end
if lt > 0 and tonumber(redis.call('GET', MN) or '0') + new > lt then return -2 end
redis.call('HSETNX', mk, '#', user .. '|' .. ARGV[4] .. '|0|')
local t = redis.call('HGET', mk, '#t')
if not t or t == '' then redis.call('HSET', mk, '#t', ARGV[5])
elseif #t + #ARGV[5] < 1024 and ARGV[5] ~= '' then redis.call('HSET', mk, '#t', t .. ',' .. ARGV[5]) end
redis.call('HINCRBY', mk, '#n', new)
if new > 0 then
  bulk('HSET', sk, hs)
  bulk('ZADD', mqkey(ch), zs)
  redis.call('ZADD', MQ.wait, 'LT', low, ch)
  redis.call('INCRBY', MN, new)
end
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
local members = {}
if n == 0 then
  local pre = th .. ' '
  for _, f in ipairs(redis.call('HKEYS', mskey(ch))) do
    if string.sub(f, 1, #pre) == pre then members[#members + 1] = f end
  end
else
  for j = 4, 3 + n do members[j - 3] = th .. ' ' .. ARGV[j] end
end
local _, gone = bulk('HDEL', mskey(ch), members)
bulk('ZREM', mqkey(ch), members)
if gone > 0 then unready(MQ, ch) end
forget(mid, gone)
return gone
`)

// ARGV: prefix, mode (u or c), id. Returns (mid, meta, targets, addresses,
// failing, propagating, next_ms) septuples. Each channel's states and queue
// are read once, however many of its monitors are listed.
var scriptMonitorList = redis.NewScript(luaMonitorPrelude + `
local mode, id = ARGV[2], ARGV[3]
local stats = {}
-- channelStats counts each thread's addresses, failing and propagating, and
-- finds its earliest unclaimed due time (a whole millisecond).
local function channelStats(ch)
  if stats[ch] then return stats[ch] end
  local st = {}
  local all = redis.call('HGETALL', mskey(ch))
  for i = 1, #all, 2 do
    local th = threadOf(all[i])
    local s = st[th]
    if not s then
      s = {n = 0, failing = 0, prop = 0}
      st[th] = s
    end
    local code, g = string.match(all[i + 1], '^(.)(.)')
    s.n = s.n + 1
    if code == 'f' or code == 'e' then s.failing = s.failing + 1 end
    if g == 'y' then s.prop = s.prop + 1 end
  end
  local q = redis.call('ZRANGE', mqkey(ch), 0, -1, 'WITHSCORES')
  for i = 1, #q, 2 do
    local s, d = st[threadOf(q[i])], tonumber(q[i + 1])
    if s and not s.nx and d % 1 == 0 then s.nx = d end
  end
  stats[ch] = st
  return st
end
local out = {}
for _, f in ipairs(redis.call('HKEYS', P .. ':m' .. mode .. ':' .. id)) do
  local mid = f
  if mode == 'c' then mid = id .. ':' .. f end
  local ch, th = split(mid)
  local mv = redis.call('HGET', mkey(mid), '#')
  if mv then
    local s = channelStats(ch)[th] or {n = 0, failing = 0, prop = 0}
    local targets = redis.call('HGET', mkey(mid), '#t') or ''
    for _, x in ipairs({mid, mv, targets, tostring(s.n), tostring(s.failing), tostring(s.prop), s.nx and string.format('%d', s.nx) or ''}) do out[#out + 1] = x end
  end
end
return out
`)

// ARGV: prefix, now_ms, max, check_lease_ms, announce_lease_ms, gather_ms,
// then the outcomes as mcomplete reads them. Returns {the positions of the
// outcomes whose lease was lost, claimMAnn's reply, {token, mclaim's
// claims}, nextDueOf's reply}: one monitor pass in one round trip. The
// changes recorded are due gather_ms from now.
var scriptMonitorCycle = redis.NewScript(luaMonitorPrelude + `
local now = ARGV[2]
local lost = mcomplete(7, tonumber(now) + tonumber(ARGV[6]))
local anns = claimMAnn(now, ARGV[3], ARGV[5])
local tok, claims, ready = mclaim(now, tonumber(ARGV[3]) - #anns / 5, ARGV[4])
local nx = nextDueOf(MQ, MANN, now, ready)
if nx[1] ~= '' then nx[1] = string.format('%d', math.ceil(tonumber(nx[1]))) end -- a held score: the lease's end
return {lost, anns, {tok, claims}, nx}
`)

// ARGV: prefix, mid, seq, created_ms. A monitor created again since (its
// sequence starts over) keeps its intents.
var scriptMonitorPosted = redis.NewScript(luaMonitorPrelude + `
local mv = redis.call('HGET', mkey(ARGV[2]), '#')
if not mv or mparse(mv).c ~= ARGV[4] then return 0 end
redis.call('HDEL', mikey(ARGV[2]), ARGV[3])
redis.call('ZREM', MANN, ARGV[2] .. ' ' .. ARGV[3])
return 1
`)
