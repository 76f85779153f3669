package redis

import (
	"context"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The keys and Lua that order a lost join's leave against its user's
// return (presence_lost_queue.go says how): the key that makes its
// queueing once, the back key of a return and its terms, the topic's
// taken hash of marked users, the terms of the master a seq was given
// in, and the check of a leave queued late, which marks its user again.

// lostOnceKey is the key QueueMember holds while the member event of
// user's lost join's leave numbered seq on topic is queued. The user is
// part of it because a number may be given again: a failover that lost
// the writes of a report, the topic's count among them, has the count
// give its number to the next change, another lost join's leave maybe.
// Its length comes first, as a user may hold any byte.
func (k keys) lostOnceKey(topic string, seq uint64, user string) string {
	return k.webhooks("mlost:" + strconv.FormatUint(seq, 10) + ":" + strconv.Itoa(len(user)) + ":" + user + ":" + topic)
}

// lostBackKey is the key holding the seq of the last join of user on
// topic decided while a report of a lost join's leave of the user may
// be unqueued there (its user marked): the queue drops the member event
// of such a leave decided before it (memberScript). Its form is
// lostOnceKey's.
func (k keys) lostBackKey(topic, user string) string {
	return k.webhooks("mback:" + strconv.Itoa(len(user)) + ":" + user + ":" + topic)
}

// lostBackTermsKey is the key beside lostBackKey holding
// "<seq> <term> <before>": the join's seq again and the terms of
// masterTermsLua it was decided in, which stand for the back key's join
// only while the seqs agree (a node of the release before sets the back
// key alone).
func (k keys) lostBackTermsKey(topic, user string) string {
	return k.webhooks("mbackterms:" + strconv.Itoa(len(user)) + ":" + user + ":" + topic)
}

// lostTermLua: lostTerm(hash, seq, rec) returns the term kept beside
// the unqueued record rec ("<after>\n<end>\n<user>", its life left off)
// of seq in hash (under "t:<seq>", as "<term>\n<after>\n<end>\n<user>"),
// "" when none is kept for that record (one of the release before, or
// written again by a node of it).
const lostTermLua = `
local function lostTerm(hash, seq, rec)
  local v = redis.call('HGET', hash, 't:' .. seq)
  if not v then return '' end
  local term, kept = string.match(v, '^(%x*)\n(.*)$')
  if kept ~= rec then return '' end
  return term
end
`

// presLostTaken is the hash of the users of topic whose lost join's
// leave was reported, or taken over from a dead node, by a node that
// queues its member event, each with when the last of those reports ends
// (ms, Redis's clock); the hash lives as long as its last one.
func (k keys) presLostTaken(topic string) string {
	return k.prefix + "{" + topic + "}:lost:taken"
}

// presLostTakenEnds is the sorted set of the users of topic's taken
// hash (presLostTaken) scored by when their mark ends, which has those
// past it forgotten; it lives as long as the hash.
func (k keys) presLostTakenEnds(topic string) string {
	return k.prefix + "{" + topic + "}:lost:taken:ends"
}

// presLostTerms holds the terms (masterTermsLua) the data of topic's
// slot went through while users were marked there, space-separated,
// the last 8, the latest last: noted by each lost join's leave reported
// and each marked join, and kept as long as the taken hash
// (presLostTaken). A term it holds before a join's began before the
// join's, whatever the join's master names.
func (k keys) presLostTerms(topic string) string {
	return k.prefix + "{" + topic + "}:lost:terms"
}

// markTakenLua: markTaken(taken, byEnd, terms, user, ends, now) marks
// user in the taken hash (presLostTaken) until ends (ms, Redis's clock,
// past now), unless it is marked until later, and keeps the hash, and
// the slot's terms (presLostTerms), until its last mark ends. It
// forgets up to 16 marks past their end (byEnd, presLostTakenEnds, says
// which): each mark renews the hash, and a topic whose lost joins'
// leaves kept being reported, by a node whose connection flaps or for
// users who come and go, kept every user it ever marked. Forgetting more than it adds, a mark keeps the hash
// within 16 of the users marked now.
const markTakenLua = `
local function markTaken(taken, byEnd, terms, user, ends, now)
  if tonumber(redis.call('HGET', taken, user) or '0') < ends then
    redis.call('HSET', taken, user, string.format('%d', ends))
    redis.call('ZADD', byEnd, ends, user)
  end
  for _, key in ipairs({taken, byEnd, terms}) do
    if redis.call('PTTL', key) < ends - now then
      redis.call('PEXPIRE', key, string.format('%d', ends - now))
    end
  end
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', byEnd, '-inf', now, 'LIMIT', 0, 16)) do
    redis.call('ZREM', byEnd, old)
    if tonumber(redis.call('HGET', taken, old) or '0') <= now then
      redis.call('HDEL', taken, old)
    end
  end
end
`

// masterTermsLua: masterTerms() returns the term of the master the
// script runs on (INFO's master_replid, as presence_terms.go reads it)
// and the term it had before (master_replid2: the master it was a
// replica of when it was promoted, whose data it kept), "" for either
// it cannot tell (INFO refused, or no term before). A seq is given once
// within a term: a failover that loses the writes of the topic's last
// changes, its count among them, starts a new term, and the count gives
// their numbers again.
const masterTermsLua = `
local function masterTerms()
  local ok, info = pcall(redis.call, 'INFO', 'replication')
  if not ok then return '', '' end
  local term = string.match(info, 'master_replid:(%x+)') or ''
  local before = string.match(info, 'master_replid2:(%x+)') or ''
  if string.match(before, '^0*$') then before = '' end
  return term, before
end
`

// noteTermLua: noteTerm(key, term, keep) notes term last in the slot's
// terms (presLostTerms, key), unless it is last already, keeps them at
// least keep (ms) more, and returns those before it, space-separated
// (all of them when term is "": unknown).
const noteTermLua = `
local function noteTerm(key, term, keep)
  local terms = {}
  for w in string.gmatch(redis.call('GET', key) or '', '%x+') do terms[#terms + 1] = w end
  if term ~= '' and terms[#terms] ~= term then
    terms[#terms + 1] = term
    while #terms > 8 do table.remove(terms, 1) end
    local ttl = redis.call('PTTL', key)
    redis.call('SET', key, table.concat(terms, ' '))
    if ttl > keep then keep = ttl end
  end
  if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, string.format('%d', keep)) end
  if terms[#terms] == term then table.remove(terms) end
  return table.concat(terms, ' ')
end
`

// lostLate reports whether the member event of the lost join's leave
// p is queued so late that its user's mark, and with it the back key of
// a return, may be gone when it reaches the queue: past half its keep,
// well before its end.
func lostLate(p lostPending, now time.Time) bool { return now.Sub(p.at) >= p.keep/2 }

// lostLateScript is the step, in the topic's slot, before a late leave
// of a lost join is queued (lostLate): a user the topic lists came back
// after the leave, maybe while it was not marked, with no back key
// set, so its return's member_added may have gone, and the leave is
// dropped (returns 1), as a takeover drops it; else its user is marked
// again, so that a return from now on sets a back key, and the leave
// goes (returns 0).
//
// KEYS: users, taken, its marks by end, the slot's terms. ARGV: user,
// keep (ms).
var lostLateScript = goredis.NewScript(markTakenLua + `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
markTaken(KEYS[2], KEYS[3], KEYS[4], ARGV[1], now + tonumber(ARGV[2]), now)
return 0
`)

// markLateLost runs lostLateScript for the late leave p on topic, its
// user marked again for p's keep, and reports whether the user came
// back.
func (e *Engine) markLateLost(ctx context.Context, topic string, p lostPending) (back bool, err error) {
	k := e.keys
	n, err := lostLateScript.Run(ctx, e.rdb, []string{k.presUsers(topic), k.presLostTaken(topic), k.presLostTakenEnds(topic), k.presLostTerms(topic)},
		p.user, p.keep.Milliseconds()).Int()
	if err != nil {
		return false, e.fail("mark a late lost join's leave", err)
	}
	return n == 1, nil
}
