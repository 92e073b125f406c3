package store

import "github.com/redis/go-redis/v9"

// The Lua scripts below are the Redis store's atomic operations. Every script
// is called with KEYS[1] = "<prefix>:wait", which only routes the call, and
// ARGV[1] = the prefix ("{rd}" by default); the scripts build every other key
// name from ARGV[1]. All of those keys carry the same hash tag, so in a Redis
// Cluster they live in one slot, on the node KEYS[1] routes to.
// docs/ARCHITECTURE.md describes the keys.
//
// The schedule is one sorted set per channel, the channel's queue
// (<prefix>:q:<channel>: IP → due time), and two sorted sets of channels:
// READY (channel → its turn, above every turn before it), the channels that
// may have an IP due, in round-robin order; WAIT (channel → a lower bound of its
// queue's earliest due time), the others. Each scheduled IP is in exactly one
// queue, that of the watch that scheduled it.
//
// A watch record (a field of {rd}:w:<ip> named "<channel>:<thread>") is
// "user|source|created_ms|state|progress|attempts|helo" (records written
// before the HELO was kept end after attempts and read with none): state is a (active),
// p (active, progress announcement pending), f (fixed, announcement pending)
// or e (expired, announcement pending); progress is 1 once a progress
// announcement was recorded; attempts counts claims of the pending
// announcement. The field "#" holds the IP's
// "checks|status|checked_ms|token|queue|zone|asked": token is the current
// claim's, 0 when unclaimed; queue is the channel whose queue the IP is
// scheduled in; zone is the reverse zone of the last diagnosis, for pacing;
// asked is the earliest due time a watch added during the current claim
// asked for ("" for none), which the claim's outcome honours. Records
// written before queues existed have four fields and are read with those
// empty; their IPs were scheduled in <prefix>:due, which migrate moves into
// the queues.
const luaPrelude = `
local P = ARGV[1]
local ANN, READY, WAIT, N = P .. ':ann', P .. ':ready', P .. ':wait', P .. ':n'
local LEGACY = P .. ':due'
local KIND = {p = 'progress', f = 'fixed', e = 'expired'}
local function wkey(ip) return P .. ':w:' .. ip end
local function qkey(ch) return P .. ':q:' .. ch end
-- WQ is the watches' schedule: channel queues, READY, WAIT (see claimDue).
local WQ = {ready = READY, wait = WAIT, q = qkey}
local function parse(v)
  local u, s, c, st, pr, a, h = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|?([^|]*)$')
  return {u = u, s = s, c = c, st = st, pr = pr, a = tonumber(a), h = h or ''}
end
local function enc(w) return w.u .. '|' .. w.s .. '|' .. w.c .. '|' .. w.st .. '|' .. w.pr .. '|' .. w.a .. '|' .. w.h end
local function active(w) return w.st == 'a' or w.st == 'p' end
local function parsemeta(v)
  local n, st, ck, tok, q, z, e = string.match(v or '0|||0|||', '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|?([^|]*)|?([^|]*)|?([^|]*)$')
  return {n = tonumber(n), st = st, ck = ck, tok = tok, q = q or '', z = z or '', e = e or ''}
end
local function getmeta(ip) return parsemeta(redis.call('HGET', wkey(ip), '#') or nil) end
local function encmeta(m) return m.n .. '|' .. m.st .. '|' .. m.ck .. '|' .. m.tok .. '|' .. m.q .. '|' .. m.z .. '|' .. m.e end
local function setmeta(ip, m) redis.call('HSET', wkey(ip), '#', encmeta(m)) end
-- due is the IP's due time in its queue q, false when it is not scheduled.
local function due(ip, q)
  if q == '' then return false end
  return tonumber(redis.call('ZSCORE', qkey(q), ip) or nil) or false
end
-- sched sets an IP's due time in its queue q to score, or keeps old (its
-- due time now, false if none) when that is earlier and flag is LT. It
-- lowers the queue's bound in WAIT when the IP comes earlier: while an IP is
-- queued, its channel is in READY or has a bound in WAIT no later than the
-- IP's time, so a later time needs no bound. (A channel may be in READY and
-- WAIT at once: a wake keeps its READY turn.)
local function sched(ip, q, score, old, flag)
  if q == '' then return end -- not yet migrated (see migrate)
  score = tonumber(score)
  if old and flag == 'LT' and old <= score then return end
  redis.call('ZADD', qkey(q), score, ip)
  if not old or score < old then redis.call('ZADD', WAIT, 'LT', score, q) end
end
-- unready takes channel ch out of schedule Q's round robin once its queue
-- is empty.
local function unready(Q, ch)
  if redis.call('EXISTS', Q.q(ch)) == 0 then
    redis.call('ZREM', Q.wait, ch)
    redis.call('ZREM', Q.ready, ch)
  end
end
-- dequeue takes member out of channel ch's queue of schedule Q.
local function dequeue(Q, ch, member)
  redis.call('ZREM', Q.q(ch), member)
  unready(Q, ch)
end
local function unsched(ip, q)
  if q == '' then return end
  dequeue(WQ, q, ip)
end
local function unindex(ip, wid, w)
  local ch, th = string.match(wid, '^([^:]*):(.*)$')
  redis.call('HDEL', P .. ':u:' .. w.u, ip .. ' ' .. wid)
  redis.call('HDEL', P .. ':c:' .. ch, ip .. ' ' .. th)
  redis.call('ZREM', ANN, ip .. ' ' .. wid)
end
-- forget deletes a watch record for good: it no longer counts.
local function forget(ip, wid, w)
  redis.call('HDEL', wkey(ip), wid)
  unindex(ip, wid, w)
  redis.call('DECR', N)
end
-- settle unschedules an IP without active watches and forgets one without
-- any watch; it reports whether an active watch remains.
local function settle(ip)
  local all = redis.call('HGETALL', wkey(ip))
  local n, act = 0, false
  for i = 1, #all, 2 do
    if all[i] ~= '#' then
      n = n + 1
      if active(parse(all[i + 1])) then act = true end
    end
  end
  if not act then unsched(ip, getmeta(ip).q) end
  if n == 0 then redis.call('DEL', wkey(ip), P .. ':r:' .. ip) end
  return act
end
-- claimIP leases one IP of queue q due at due_ms until tok and appends ip,
-- due_ms and the IP's hash (field, value pairs, "#" included) to out. The
-- IP's record names q from now on, even if the record was lost, so the
-- queue entry is never left behind.
local function claimIP(out, ip, due_ms, tok, q)
  local e = redis.call('HGETALL', wkey(ip))
  local at = #e + 2 -- a record lost outside these scripts: "#" goes last
  for i = 1, #e, 2 do
    if e[i] == '#' then at = i + 1 end
  end
  local m = parsemeta(e[at])
  m.q, m.tok = q, tok
  redis.call('ZADD', qkey(q), tok, ip)
  e[at - 1], e[at] = '#', encmeta(m)
  redis.call('HSET', wkey(ip), '#', e[at])
  table.insert(e, 1, due_ms)
  table.insert(e, 1, ip)
  out[#out + 1] = e
end
-- zadds adds (score, member) pairs to a sorted set, a bounded number per call.
local function zadds(key, flag, pairs)
  for i = 1, #pairs, 200 do
    redis.call('ZADD', key, flag, unpack(pairs, i, math.min(i + 199, #pairs)))
  end
end
-- claimDue leases up to max IPs due at now_ms for lease_ms. It returns the
-- token, then one array per IP as claimIP builds it. Claiming moves the IP's
-- due time to the end of the lease: the lease and the retry after a crash
-- are one and the same. The token (the lease's end, which grows with every
-- claim) is kept in "#" to fence complete.
--
-- Fairness: the channels of WAIT whose bound is due join READY at the back
-- (a channel already in READY keeps its turn). Then, round robin over the
-- first max channels of READY, each gives its most overdue IP, until the
-- slots are used or none has one due. A channel served goes to the back of
-- READY; one found with nothing more due goes to WAIT, bounded by its
-- queue's earliest time. The second result says whether READY is left
-- non-empty (nil: unknown).
--
-- (Monitors deal the same round robin in bulk, a channel's share at once:
-- mclaim in monitor_scripts.go.)
local function claimDue(now, max, lease)
  local tok = tonumber(now) + tonumber(lease)
  local out = {tok}
  max = tonumber(max)
  if max <= 0 then return out, nil end
  -- Turns come after the last one in READY.
  local seq
  local function turn()
    if not seq then seq = tonumber(redis.call('ZRANGE', READY, -1, -1, 'WITHSCORES')[2] or '0') end
    seq = seq + 1
    return seq
  end
  local woke = redis.call('ZRANGEBYSCORE', WAIT, '-inf', now)
  if #woke > 0 then
    local turns = {}
    for _, ch in ipairs(woke) do
      turns[#turns + 1] = turn()
      turns[#turns + 1] = ch
    end
    zadds(READY, 'NX', turns)
    redis.call('ZREMRANGEBYSCORE', WAIT, '-inf', now)
  end
  local chans = redis.call('ZRANGE', READY, 0, max - 1)
  local live, served = {}, {}
  for _, ch in ipairs(chans) do live[ch] = true end
  local more = #chans > 0
  while more and #out <= max do
    more = false
    for _, ch in ipairs(chans) do
      if #out > max then break end
      if live[ch] then
        -- The next due IP too: whether the channel stays ready.
        local d = redis.call('ZRANGEBYSCORE', qkey(ch), '-inf', now, 'WITHSCORES', 'LIMIT', 0, 2)
        if d[1] then
          claimIP(out, d[1], d[2], tok, ch)
          served[ch], more = true, true
        end
        live[ch] = d[3] ~= nil
      end
    end
  end
  local turns, left = {}, false
  for _, ch in ipairs(chans) do
    if not live[ch] then
      redis.call('ZREM', READY, ch)
      local f = redis.call('ZRANGE', qkey(ch), 0, 0, 'WITHSCORES')
      if f[2] then redis.call('ZADD', WAIT, 'LT', f[2], ch) end
    else
      left = true
      if served[ch] then
        turns[#turns + 1] = turn()
        turns[#turns + 1] = ch
      end
    end
  end
  if #turns > 0 then zadds(READY, 'XX', turns) end
  if not left and #chans == max then left = nil end -- READY may hold more
  return out, left
end
-- migrate moves up to 100 IPs from the schedule of before channel queues
-- into the queue of their first watch's channel.
local function migrate()
  if redis.call('EXISTS', LEGACY) == 0 then return end
  local old = redis.call('ZRANGE', LEGACY, 0, 99, 'WITHSCORES')
  for i = 1, #old, 2 do
    local ip = old[i]
    local m = getmeta(ip)
    for _, f in ipairs(redis.call('HKEYS', wkey(ip))) do
      if m.q ~= '' then break end
      if f ~= '#' then m.q = string.match(f, '^([^:]*):') end
    end
    if m.q ~= '' then
      setmeta(ip, m)
      sched(ip, m.q, old[i + 1], due(ip, m.q), 'LT')
    end
    redis.call('ZREM', LEGACY, ip)
  end
end
-- complete applies one outcome read from ARGV[i]...: ip, token, next_ms,
-- status, checked_ms, result_json, now_ms, zone, deferred, n, then n (wid,
-- created_ms, kind) triples. It returns 1, or -1 when the lease was lost,
-- and the index of the next outcome's arguments. A deferred outcome (1)
-- only releases the claim and reschedules the IP.
local function complete(i)
  local ip, tok = ARGV[i], ARGV[i + 1]
  local after = i + 10 + 3 * tonumber(ARGV[i + 9])
  local m = getmeta(ip)
  if m.tok ~= tok then return -1, after end
  local wk = wkey(ip)
  -- A due time was asked for during the check (a new thread's watch): the
  -- next check comes no later.
  local nx = tonumber(ARGV[i + 2])
  if m.e ~= '' then nx = math.min(nx, tonumber(m.e)) end
  m.tok, m.e = '0', ''
  if ARGV[i + 8] ~= '1' then m.n, m.st, m.ck, m.z = m.n + 1, ARGV[i + 3], ARGV[i + 4], ARGV[i + 7] end
  setmeta(ip, m)
  local kinds, changed = {}, false
  for j = i + 10, after - 1, 3 do
    local wid, kind = ARGV[j], ARGV[j + 2]
    local cur = redis.call('HGET', wk, wid)
    local w = cur and parse(cur)
    if w and w.c == ARGV[j + 1] and active(w) and not (kind == 'progress' and w.pr == '1') then
      if kind == 'progress' then w.st, w.pr = 'p', '1'
      elseif kind == 'fixed' then w.st = 'f'
      else w.st = 'e' end
      w.a = 0
      redis.call('HSET', wk, wid, enc(w))
      redis.call('ZADD', ANN, ARGV[i + 6], ip .. ' ' .. wid)
      kinds[kind], changed = true, true
    end
  end
  for kind in pairs(kinds) do redis.call('HSET', P .. ':r:' .. ip, kind, ARGV[i + 5]) end
  -- An IP is in its queue exactly while it has an active watch, so without
  -- a transition (the common case) it is rescheduled only if it is still
  -- queued (XX), and settle's scan of every watch is not needed; unless no
  -- watch is left at all (a key lost outside these scripts), which settle
  -- cleans up. The queue's bound is lowered when the IP comes before its
  -- lease's end, its time until now.
  if (changed or redis.call('HLEN', wk) < 2) and not settle(ip) then return 1, after end
  if m.q ~= '' then
    redis.call('ZADD', qkey(m.q), 'XX', nx, ip)
    if nx < tonumber(tok) then redis.call('ZADD', WAIT, 'LT', nx, m.q) end
  end
  return 1, after
end
-- claimAnn leases up to max announcement intents due at now_ms for
-- lease_ms. It returns (member, record, meta, result_json) quadruples. No
-- fencing token: a post that reached Slack is recorded whoever made it, and
-- the idempotency key stops a second one.
local function claimAnn(now, max, lease)
  local tok = tonumber(now) + tonumber(lease)
  local out = {}
  if tonumber(max) <= 0 then return out end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', ANN, '-inf', now, 'LIMIT', 0, max)) do
    local ip, wid = string.match(m, '^(%S+) (.*)$')
    local cur = ip and redis.call('HGET', wkey(ip), wid)
    local w = cur and parse(cur)
    local kind = w and KIND[w.st]
    if kind then
      w.a = w.a + 1
      redis.call('HSET', wkey(ip), wid, enc(w))
      redis.call('ZADD', ANN, tok, m)
      out[#out + 1] = m
      out[#out + 1] = enc(w)
      out[#out + 1] = redis.call('HGET', wkey(ip), '#') or ''
      out[#out + 1] = redis.call('HGET', P .. ':r:' .. ip, kind) or ''
    else
      redis.call('ZREM', ANN, m) -- the watch was removed or restarted
    end
  end
  return out
end
-- nextDue returns the earliest check and announcement due times ('' for
-- none): now while a channel is ready (ready: known from claimDue, nil to
-- look), else the earliest bound in WAIT (which may be early: the pass then
-- finds nothing and moves the bound).
local function nextDueOf(Q, ann, now, ready)
  if ready == nil then ready = redis.call('ZCARD', Q.ready) > 0 end
  local d = {}
  if ready then d = {'', now} else d = redis.call('ZRANGE', Q.wait, 0, 0, 'WITHSCORES') end
  local a = redis.call('ZRANGE', ann, 0, 0, 'WITHSCORES')
  return {d[2] or '', a[2] or ''}
end
local function nextDue(now, ready) return nextDueOf(WQ, ANN, now, ready) end
`

// ARGV: prefix, ip, wid, user, source, created_ms, due_ms, status,
// checked_ms, zone, then the limits per channel, per user and in total (0:
// none), then the HELO ("" when unknown). Returns 1 (added), 0 (an active watch exists) or -1, -2, -3 (the
// channel, user or total limit was reached; nothing changed).
var scriptAdd = redis.NewScript(luaPrelude + `
local ip, wid, user = ARGV[2], ARGV[3], ARGV[4]
local ch, th = string.match(wid, '^([^:]*):(.*)$')
local wk = wkey(ip)
local cur = redis.call('HGET', wk, wid)
if cur then
  local w = parse(cur)
  if active(w) then return 0 end
  unindex(ip, wid, w) -- an ended watch starts again ("Keep watching"); it still counts
else
  local lc, lu, lt = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
  if lc > 0 and redis.call('HLEN', P .. ':c:' .. ch) >= lc then return -1 end
  if lu > 0 and redis.call('HLEN', P .. ':u:' .. user) >= lu then return -2 end
  if lt > 0 and tonumber(redis.call('GET', N) or '0') >= lt then return -3 end
  redis.call('INCR', N)
end
redis.call('HSET', wk, wid, user .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|a|0|0|' .. ARGV[14])
redis.call('HSETNX', wk, '#', '0|' .. ARGV[8] .. '|' .. ARGV[9] .. '|0||' .. ARGV[10])
local m = getmeta(ip)
local old = due(ip, m.q)
local at = tonumber(ARGV[7])
if not old then
  -- Not scheduled: the IP joins this channel's queue.
  m.q = ch
  setmeta(ip, m)
elseif m.tok ~= '0' and (m.e == '' or at < tonumber(m.e)) then
  -- Being checked: the check's outcome must not schedule it later.
  m.e = at
  setmeta(ip, m)
end
sched(ip, m.q, at, old, 'LT')
redis.call('HSET', P .. ':u:' .. user, ip .. ' ' .. wid, '')
redis.call('HSET', P .. ':c:' .. ch, ip .. ' ' .. th, '')
return 1
`)

// ARGV: prefix, ip, wid.
var scriptRemove = redis.NewScript(luaPrelude + `
local ip, wid = ARGV[2], ARGV[3]
local cur = redis.call('HGET', wkey(ip), wid)
if not cur then return 0 end
forget(ip, wid, parse(cur))
settle(ip)
return 1
`)

// ARGV: prefix, ip, wid, created_ms, kind.
var scriptMarkPosted = redis.NewScript(luaPrelude + `
local ip, wid = ARGV[2], ARGV[3]
local cur = redis.call('HGET', wkey(ip), wid)
if not cur then return 0 end
local w = parse(cur)
if w.c ~= ARGV[4] or KIND[w.st] ~= ARGV[5] then return 0 end
if w.st == 'p' then
  w.st, w.a = 'a', 0
  redis.call('HSET', wkey(ip), wid, enc(w))
  redis.call('ZREM', ANN, ip .. ' ' .. wid)
else
  forget(ip, wid, w)
  settle(ip)
end
return 1
`)

// ARGV: prefix, mode, id[, wid]. Mode i lists an IP's watches, k gets one
// (id is the IP), u and c read the user and channel indexes. Returns
// (ip, wid, record, meta, due_ms) quintuples.
var scriptList = redis.NewScript(luaPrelude + `
local mode, id = ARGV[2], ARGV[3]
local out = {}
local function emit(ip, wid, rec)
  if not rec then return end
  out[#out + 1] = ip
  out[#out + 1] = wid
  out[#out + 1] = rec
  local mv = redis.call('HGET', wkey(ip), '#') or ''
  out[#out + 1] = mv
  out[#out + 1] = tostring(due(ip, parsemeta(mv ~= '' and mv or nil).q) or '')
end
if mode == 'i' then
  local all = redis.call('HGETALL', wkey(id))
  for i = 1, #all, 2 do
    if all[i] ~= '#' then emit(id, all[i], all[i + 1]) end
  end
elseif mode == 'k' then
  emit(id, ARGV[4], redis.call('HGET', wkey(id), ARGV[4]))
else
  for _, f in ipairs(redis.call('HKEYS', P .. ':' .. mode .. ':' .. id)) do
    local ip, rest = string.match(f, '^(%S+) (.*)$')
    local wid = rest
    if mode == 'c' then wid = id .. ':' .. rest end
    emit(ip, wid, redis.call('HGET', wkey(ip), wid))
  end
end
return out
`)

// ARGV: prefix, now_ms, max, check_lease_ms, announce_lease_ms, n, then n
// outcomes as complete reads them. Returns {statuses, claimAnn's reply,
// claimDue's reply, nextDue's reply}: one scheduler pass in one round trip.
var scriptCycle = redis.NewScript(luaPrelude + `
migrate()
local st, i = {}, 7
for k = 1, tonumber(ARGV[6]) do st[k], i = complete(i) end
local anns = claimAnn(ARGV[2], ARGV[3], ARGV[5])
local claims, ready = claimDue(ARGV[2], tonumber(ARGV[3]) - #anns / 4, ARGV[4])
return {st, anns, claims, nextDue(ARGV[2], ready)}
`)
