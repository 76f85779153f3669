package redis

import (
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
)

// presenceLua is what the presence scripts share. An entry is stored as
// "<owner life>\n<user>" under its session in the topic's pres hash; users
// holds "<sessions>\n<info>" under each named user: its sessions on the
// topic and the info its join carried, in one field so that a read of the
// topic is one HGETALL. A join or leave is published on the topic's
// channels as "\n" followed by 'j' or 'l', the netstrings "<len>:<bytes>"
// of topic, user, session and info, and the netstring of its link in the
// topic's change log, "<prev> <id>": a message payload starts with its
// topic, never empty, so a change is never taken for a message (see
// parseChange).
//
// Every presence script's KEYS[5] is the topic's names index: a user is
// added to it when it is added to users, and removed with it. KEYS[6] is
// the topic's change log (changes.go): each join or leave is added to it,
// as "p" (the ID of the entry before, "0-0" when there was none) and "c"
// (the change as published, without its link), in the step that decides
// it, and the published change carries its entry's ID and prev, so that a
// node can tell that it missed one and read it there. Each add trims the
// log to about LOG_CAP entries and to the changes of the last LOG_KEEP
// ms, the last ARGV of every presence script. The script that removes
// the topic's last entry deletes the log, and keeps the ID of its last
// change in KEYS[7] for LOG_KEEP: the next log's first change names it as
// the one before, and gets an ID past it, however far Redis's clock is
// from it.
//
// remove(pres, users, session, owner, classic, sharded, topic) removes
// session's entry when owner is "" or owns it, and publishes the leave of
// its user's last session; it returns that leave's payload, true when it
// removed an entry without a leave, false when there was none.
//
// The scripts return the payloads of the joins and leaves they published,
// so that the node that caused one can tell the webhooks, once for the
// cluster (Engine.WatchMembers). Each returned payload is followed by the
// netstring "<after> <seq>": the topic's changes are numbered in its seq
// key (KEYS[4]) in the order the scripts decide them, so that the webhook
// queue, in another slot, can put the nodes' reports back in that order
// (webhook_members.go). after is the number of the change before, 0 when
// the key had lapsed: it lives a minute past the topic's last change, and
// a new count starts from Redis's clock in ms, past the old one.
var presenceLua = `
local LOG_CAP, LOG_KEEP = ` + strconv.Itoa(changeLogCap) + `, tonumber(ARGV[#ARGV])
` + presenceOrderLua + `
local function logTail()
  local last = redis.call('XREVRANGE', KEYS[6], '+', '-', 'COUNT', 1)
  if last[1] then return last[1][1] end
end
local function keepLog()
  if redis.call('EXISTS', KEYS[1]) == 1 then return end
  local last = logTail()
  if last then
    redis.call('SET', KEYS[7], last, 'PX', LOG_KEEP)
    redis.call('DEL', KEYS[6])
  end
end
local function pastID(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if tonumber(ms) < now() then return '*' end
  return ms .. '-' .. string.format('%d', tonumber(seq) + 1)
end
local function announce(classic, sharded, kind, topic, user, session, info)
  local change = '\n' .. kind .. ns(topic) .. ns(user) .. ns(session) .. ns(info)
  local prev, id = logTail(), '*'
  if not prev then
    prev = redis.call('GET', KEYS[7]) or '0-0'
    if prev ~= '0-0' then
      redis.call('DEL', KEYS[7])
      id = pastID(prev)
    end
  end
  id = redis.call('XADD', KEYS[6], 'MAXLEN', '~', LOG_CAP, id, 'p', prev, 'c', change)
  redis.call('XTRIM', KEYS[6], 'MINID', '~', string.format('%d', now() - LOG_KEEP))
  local payload = change .. ns(prev .. ' ' .. id)
  if sharded ~= '' then redis.call('SPUBLISH', sharded, payload) end
  if classic ~= '' then redis.call('PUBLISH', classic, payload) end
  return payload .. order(KEYS[4])
end
local function remove(pres, users, session, owner, classic, sharded, topic)
  local cur = redis.call('HGET', pres, session)
  if not cur then return false end
  local nl = string.find(cur, '\n', 1, true)
  if owner ~= '' and string.sub(cur, 1, nl - 1) ~= owner then return false end
  local user = string.sub(cur, nl + 1)
  redis.call('HDEL', pres, session)
  if user == '' then return true end
  local member = redis.call('HGET', users, user)
  if not member then return true end
  nl = string.find(member, '\n', 1, true)
  local n = tonumber(string.sub(member, 1, nl - 1)) - 1
  if n > 0 then
    redis.call('HSET', users, user, n .. string.sub(member, nl))
  else
    redis.call('HDEL', users, user)
    redis.call('ZREM', KEYS[5], user)
    return announce(classic, sharded, 'l', topic, user, session, '')
  end
  return true
end
`

// presenceOrderLua numbers a topic's joins and leaves: order(seq) takes
// the next number in the topic's seq key and returns the netstring
// "<after> <seq>" (presenceLua says more).
const presenceOrderLua = `
local function ns(s) return #s .. ':' .. s end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function order(key)
  local after = tonumber(redis.call('GET', key) or '0')
  local seq = after + 1
  if after == 0 then seq = now() end
  redis.call('SET', key, string.format('%d', seq), 'PX', 60000)
  return ns(string.format('%d %d', after, seq))
end
`

// addPresenceScript records an entry unless its session has one on the
// topic; a session present under another life of a node is taken over by
// this one (see Engine.reclaim), and nothing else changes.
//
// A join made while the topic's taken hash holds its user (a report of
// a lost join's leave of the user was made or taken over, its
// member_removed maybe not queued yet: presence_lost_queue.go) has, when
// the node watches members (watch "1"), its payload followed by "b" and
// the netstring of how long that report may still be queued (ms), the
// master's term and the terms the topic's data went through before it
// (master_replid2 and presLostTerms), space-separated (masterTermsLua):
// the node's queueing of the join's member_added then
// has the queue drop that leave's member_removed should it come later.
//
// KEYS: pres, users, owned (this life's), seq, names, change log, its
// end, taken, the slot's terms, and, but on Cluster, the life's topic
// set, to which the
// script adds the topic. ARGV: session, life, user, info, classic
// channel, sharded channel, topic, watch, log keep (ms). Returns the
// join's payload when it published one, else "1" when it added the
// entry, "0" when the session had one.
var addPresenceScript = goredis.NewScript(presenceLua + masterTermsLua + noteTermLua + `
local function back(user)
  if ARGV[8] ~= '1' then return '' end
  local ends, t = tonumber(redis.call('HGET', KEYS[8], user) or ''), now()
  if not ends or ends <= t then return '' end
  local term, before = masterTerms()
  local earlier = noteTerm(KEYS[9], term, ends - t)
  if before ~= '' then earlier = string.gsub(earlier .. ' ' .. before, '^ ', '') end
  return 'b' .. ns(string.format('%d', ends - t) .. ' ' .. term .. ' ' .. earlier)
end
local function add()
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  if cur then
    local nl = string.find(cur, '\n', 1, true)
    if string.sub(cur, 1, nl - 1) ~= ARGV[2] then
      redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(cur, nl))
      redis.call('SADD', KEYS[3], ARGV[1])
      if KEYS[10] then redis.call('SADD', KEYS[10], ARGV[7]) end
    end
    return '0'
  end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '\n' .. ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[1])
  if KEYS[10] then redis.call('SADD', KEYS[10], ARGV[7]) end
  if ARGV[3] == '' then return '1' end
  local member = redis.call('HGET', KEYS[2], ARGV[3])
  if member then
    local nl = string.find(member, '\n', 1, true)
    redis.call('HSET', KEYS[2], ARGV[3], (tonumber(string.sub(member, 1, nl - 1)) + 1) .. string.sub(member, nl))
    return '1'
  end
  redis.call('HSET', KEYS[2], ARGV[3], '1\n' .. ARGV[4])
  redis.call('ZADD', KEYS[5], 0, ARGV[3])
  return announce(ARGV[5], ARGV[6], 'j', ARGV[7], ARGV[3], ARGV[1], ARGV[4]) .. back(ARGV[3])
end
return add()
`)

// removePresenceScript removes a session's entry, whoever owns it.
//
// KEYS: pres, users, owned (this life's), seq, names, change log, its
// end. ARGV: session, classic channel, sharded channel, topic, log keep
// (ms). Returns the leave's payload when it published one, else "1" when
// there was an entry, "0" when not.
var removePresenceScript = goredis.NewScript(presenceLua + `
redis.call('SREM', KEYS[3], ARGV[1])
local r = remove(KEYS[1], KEYS[2], ARGV[1], '', ARGV[2], ARGV[3], ARGV[4])
keepLog()
if type(r) == 'string' then return r end
if r then return '1' end
return '0'
`)

// reapPresenceScript removes up to a batch of the entries a dead node life
// owned on a topic, publishing the leaves. An entry another life took over
// since stays.
//
// KEYS: pres, users, owned (the dead life's), seq, names, change log,
// its end. ARGV: dead life, batch, classic channel, sharded channel,
// topic, log keep (ms). Returns how many of the dead life's sessions are
// left to look at, followed by the payloads of the leaves it published.
var reapPresenceScript = goredis.NewScript(presenceLua + `
local sessions = redis.call('SPOP', KEYS[3], tonumber(ARGV[2]))
local leaves = ''
for _, s in ipairs(sessions) do
  local r = remove(KEYS[1], KEYS[2], s, ARGV[1], ARGV[3], ARGV[4], ARGV[5])
  if type(r) == 'string' then leaves = leaves .. r end
end
keepLog()
return tostring(redis.call('SCARD', KEYS[3])) .. leaves
`)

// lostJoinsScript finds which joins a node sent are of users the topic
// no longer lists, and decides, for the cluster, which of those leaves
// reports its member_removed (presence_lost.go): the first node to find
// the join of a session lost. The lost hash keeps, by user, the session
// of the join whose leave was last so reported, the node that reported
// it and the term of the master it was found lost on
// ("<session>\n<node>\n<term>"), until it has gone keep without
// another. The node that reported it reports it again when it checks the
// join again: it does so only when it did not learn of its report (the
// call's reply was lost, a read timed out after Redis ran it), and
// without this the member_removed was queued by no node, for good. The
// sender of the webhooks leaves out the repeat of one that was queued
// (api/hooks, webhook_repeats.go). A record of another term does not
// stand for the join checked: the session may have joined again since
// the report (its node added it back late, its user came back), and
// that join been lost in the failover that began this term. Whatever
// the join's step wrote went with it, so nothing but the term tells it
// from the join reported, and the leave is reported again: once more
// at most for the same join, when a node's check of the first loss
// comes after a second failover, or after the master took a new term
// without one (Redis gives a master that has no replication backlog a
// new replication ID when a replica attaches). It finds none while its
// master's term (INFO's master_replid) is not one of the terms every
// live node tells its entries are in (presence_terms.go): a live node
// may have yet to add its entries again. When life is not "", each
// leave it reports is also kept in the unqueued hash, by its seq, as
// "<life>\n<after>\n<end>\n<user>" (end: when it lapses, ms of Redis's
// clock, keep from now), with the term of the master, which the seq is
// of, under "t:<seq>" (lostTermField), until the node queued its member
// event, and
// its user is marked in the taken hash until that end, so that a join of
// the user from now on is queued with its back key
// (presence_lost_queue.go). The topic must be in the life's set of such
// topics first, which the caller puts it in (another slot on Cluster):
// told it is not (indexed not "1"), the script returns "index" alone,
// having written nothing, when it would keep one, and is run again once
// it is. A check that finds nothing lost so adds no topic to the set.
//
// A user the topic does not list whose leave the change log holds after
// the change the node handed over last (mark) left in the ordinary way,
// and the node, milliseconds behind, has that leave on its way: it is
// not lost, and neither returned nor reported (read only once a user is
// found unlisted, the log's changes after the mark, 500 or so at most).
//
// KEYS: users, seq, lost, unqueued, change log, taken, its marks by
// end, the slot's terms (noted with each leave reported). ARGV: keep (ms), the node, the terms every live node tells,
// space-separated ("*": wait for none), the node's life ("": none is kept unqueued), whether the topic
// is in the life's set ("1"), the mark ("": unknown), then a user and
// the session of its join, for each join. Returns "wait" or "index"
// alone when it waits or needs the topic in the set; else,
// for each user not listed, the user and, when this call reports its
// leave, the leave's order "<after> <seq>" as a netstring followed by
// the master's term ("" when INFO is refused), else "".
var lostJoinsScript = goredis.NewScript(presenceOrderLua + markTakenLua + noteTermLua + `
local ok, info = pcall(redis.call, 'INFO', 'replication')
local term = ok and string.match(info, 'master_replid:(%x+)') or ''
if ARGV[3] ~= '*' and term ~= '' and not string.find(' ' .. ARGV[3] .. ' ', ' ' .. term .. ' ', 1, true) then
  return {'wait'}
end
-- reportedElsewhere: rec says another node reported the leave of this
-- session's join in this term (a record without one, written by a node
-- of an earlier version, is taken for this term's). The term follows
-- the last line break: a node's name may hold one, a term never does.
local function reportedElsewhere(rec, session)
  if not rec or string.sub(rec, 1, #session + 1) ~= session .. '\n' then return false end
  local rest = string.sub(rec, #session + 2)
  local node, told = string.match(rest, '^(.*)\n(%x*)$')
  if not node then node = rest end
  return node ~= ARGV[2] and (told == nil or told == term)
end
-- leftAfterMark: the log holds a leave of user after the mark.
local left
local function leftAfterMark(user)
  if ARGV[6] == '' then return false end
  if not left then
    left = {}
    for _, entry in ipairs(redis.call('XRANGE', KEYS[5], ARGV[6], '+')) do
      local f, c = entry[2], nil
      for j = 1, #f, 2 do
        if f[j] == 'c' then c = f[j + 1] end
      end
      if entry[1] ~= ARGV[6] and c and string.sub(c, 2, 2) == 'l' then
        local pos = 3
        local function field()
          local colon = string.find(c, ':', pos, true)
          local n = tonumber(string.sub(c, pos, colon - 1))
          local v = string.sub(c, colon + 1, colon + n)
          pos = colon + n + 1
          return v
        end
        field() -- the topic
        left[field()] = true
      end
    end
  end
  return left[user] == true
end
local out = {}
for i = 7, #ARGV, 2 do
  local user, session = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', KEYS[1], user) == 0 and not leftAfterMark(user) then
    local decided = ''
    if not reportedElsewhere(redis.call('HGET', KEYS[3], user), session) then
      if ARGV[4] ~= '' and ARGV[5] ~= '1' then return {'index'} end
      redis.call('HSET', KEYS[3], user, session .. '\n' .. ARGV[2] .. '\n' .. term)
      redis.call('PEXPIRE', KEYS[3], ARGV[1])
      decided = order(KEYS[2])
      if ARGV[4] ~= '' then
        local after, seq = string.match(decided, ':(%d+) (%d+)$')
        local t = now()
        local ends = t + tonumber(ARGV[1])
        local rec = after .. '\n' .. string.format('%d', ends) .. '\n' .. user
        redis.call('HSET', KEYS[4], seq, ARGV[4] .. '\n' .. rec, 't:' .. seq, term .. '\n' .. rec)
        redis.call('PEXPIRE', KEYS[4], ARGV[1])
        noteTerm(KEYS[8], term, ends - t)
        markTaken(KEYS[6], KEYS[7], KEYS[8], user, ends, t)
      end
      decided = decided .. term
    end
    out[#out + 1] = user
    out[#out + 1] = decided
  end
end
return out
`)

// lostJoinsArgs is lostJoinsScript's ARGV for joins checked by e, every
// live node telling terms ("*": wait for none), a record kept for keep,
// the leaves reported kept unqueued under life (when not ""), the topic
// in life's set of such topics or not (indexed), the node standing at
// mark in the topic's change log ("": unknown).
func (e *Engine) lostJoinsArgs(terms string, keep time.Duration, life string, indexed bool, mark string, joins []broker.SentJoin) []any {
	inSet := "0"
	if indexed {
		inSet = "1"
	}
	args := make([]any, 6, 6+2*len(joins))
	args[0], args[1], args[2], args[3], args[4], args[5] = keep.Milliseconds(), e.cfg.NodeID, terms, life, inSet, mark
	for _, j := range joins {
		args = append(args, j.User, j.Session)
	}
	return args
}

// heartbeatScript keeps a node life registered until Redis's clock passes
// now plus the lapse, and reports whether it was registered and not lapsed
// already ("1"), or is new or was lapsed ("0"), then the longest time in
// ms until the heartbeat of another live node lapses ("0": none is live),
// which tells the node the others' lapses (slowestLapse): two of the
// registry's top entries read, however many nodes. Redis's clock is the
// one every node reads, so nodes' clocks may disagree.
//
// KEYS: nodes. ARGV: life, lapse (ms).
var heartbeatScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local old = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local top, left = redis.call('ZREVRANGE', KEYS[1], 0, 1, 'WITHSCORES'), 0
for i = 1, #top, 2 do
  if top[i] ~= ARGV[1] then
    left = math.max(0, tonumber(top[i + 1]) - now)
    break
  end
end
local ok = '0'
if old >= now then ok = '1' end
return {ok, string.format('%d', left)}
`)

// liveLivesScript returns the node lives whose heartbeat has not lapsed.
//
// KEYS: nodes.
var liveLivesScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
`)

// lapsedScript returns up to ARGV[1] node lives whose heartbeat lapsed.
//
// KEYS: nodes.
var lapsedScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[1]))
`)
