package redis

import (
	"context"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// A topic's joins and leaves are decided in the topic's slot, and the
// node that caused one queues its member event afterwards, in the
// {webhooks} slot: two nodes could queue a topic's events in the other
// order. The presence scripts number each topic's changes (seq, and the
// after of the change before: presence_scripts.go), and the queue puts
// the events back in that order: an event whose predecessor has not been
// queued yet is held until it is, or until it has waited hold (its node
// may have died between the two steps), whichever comes first.
//
//	{webhooks}:mseq:TOPIC   string: the seq of TOPIC's last member event queued, for two minutes
//	{webhooks}:mheld:TOPIC  sorted set: the events TOPIC holds, "<after>\n<event>" scored by seq
//	{webhooks}:mdue         sorted set: TOPIC scored by when its held events go (ms, Redis's clock)
//
// The last seq outlives the presence scripts' count (a minute past the
// topic's last change) so that no event is held for a predecessor that
// was queued already.
const (
	// maxHeldPerTopic bounds the events one topic holds: past it they
	// all go, in order, gaps and all.
	maxHeldPerTopic = 32
	// maxHeldTopics bounds the topics holding events: past it an event
	// that would start holding goes at once.
	maxHeldTopics = 1000
)

// memberLua is what the member scripts share.
//
// release(last, held, due, events, topic, max, all) queues topic's held
// events in seq order while each follows the last one queued (its after
// is at most that seq), or every one when all is true; it returns how
// many of them were dropped (the queue held max).
const memberLua = `
local function release(last, held, due, events, topic, max, all)
  local cur = tonumber(redis.call('GET', last) or '0')
  local dropped, moved = 0, false
  while true do
    local first = redis.call('ZRANGE', held, 0, 0, 'WITHSCORES')
    if #first == 0 then break end
    local nl = string.find(first[1], '\n', 1, true)
    if not all and tonumber(string.sub(first[1], 1, nl - 1)) > cur then break end
    redis.call('ZREM', held, first[1])
    if redis.call('XLEN', events) >= max then
      dropped = dropped + 1
    else
      redis.call('XADD', events, '*', 'e', string.sub(first[1], nl + 1))
    end
    cur, moved = math.max(cur, tonumber(first[2])), true
  end
  if moved then redis.call('SET', last, string.format('%d', cur), 'PX', 120000) end
  if redis.call('EXISTS', held) == 0 then redis.call('ZREM', due, topic) end
  return dropped
end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// memberScript: KEYS last, held, due, events, then for the leave of a
// lost join the key that makes its queueing once (lostOnceKey), its
// user's back key (lostBackKey) and the key of that key's terms
// (lostBackTermsKey), for the join of a user with such a leave maybe
// unqueued the back key and its terms' key; ARGV topic, after, seq, event, max,
// hold (ms), max held per topic, max held topics, then the once or back
// key's keep (ms), "lost" or "back", and the term of the topic's master
// the seq is of, and for a join the terms before it, space-separated
// (masterTermsLua).
// Holds the event and queues what follows on; returns how many were
// dropped. A lost join's leave whose once key is held was queued
// already, and one decided before the join its back key names would go
// after a return of its user, unless that return's event is still held
// (it then goes after the leave, in seq order): both are left out
// (presence_lost_queue.go). A join with a back key sets it to its own,
// unless a later join's is there.
//
// A change was decided before a join when it is numbered before it in
// the same term, or is of a term before the join's (its master was
// promoted, or restarted, after it). One of another term is not: the
// term may have begun after the join, with the join lost in the failover
// that began it and its seq given again, lower than the join's, to a
// change that came after it. With either term unknown (INFO refused, or
// a key or report of the release before) the seqs alone tell.
var memberScript = goredis.NewScript(memberLua + `
local function readBack(back, terms)
  local seq = redis.call('GET', back)
  if not tonumber(seq) then return nil, '', '' end
  local tseq, term, before = string.match(redis.call('GET', terms) or '', '^(%d+) (%x*) ?([%x ]*)$')
  if tseq ~= seq then return tonumber(seq), '', '' end
  return tonumber(seq), term, before
end
local function decidedBefore(seq, term, jseq, jterm, jbefore)
  if term == '' or jterm == '' or term == jterm then return seq < jseq end
  return string.find(' ' .. jbefore .. ' ', ' ' .. term .. ' ', 1, true) ~= nil
end
if ARGV[10] == 'lost' then
  local jseq, jterm, jbefore = readBack(KEYS[6], KEYS[7])
  if jseq and decidedBefore(tonumber(ARGV[3]), ARGV[11], jseq, jterm, jbefore) and
    redis.call('ZCOUNT', KEYS[2], jseq, jseq) == 0 then return 0 end
  if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[9]) then return 0 end
elseif ARGV[10] == 'back' then
  local jseq, jterm, jbefore = readBack(KEYS[5], KEYS[6])
  if not jseq or not decidedBefore(tonumber(ARGV[3]), ARGV[11], jseq, jterm, jbefore) then
    redis.call('SET', KEYS[5], ARGV[3], 'PX', ARGV[9])
    redis.call('SET', KEYS[6], ARGV[3] .. ' ' .. ARGV[11] .. ' ' .. ARGV[12], 'PX', ARGV[9])
  end
end
local n = redis.call('ZCARD', KEYS[2])
local all = n >= tonumber(ARGV[7]) or (n == 0 and redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[8]))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2] .. '\n' .. ARGV[4])
local dropped = release(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[5]), all)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('ZADD', KEYS[3], 'NX', now() + tonumber(ARGV[6]), ARGV[1])
end
return dropped
`)

// overdueMembersScript: KEYS due, events; ARGV last key prefix, held key
// prefix, max. Queues every held event of up to 100 topics whose wait
// ended; returns how many were dropped.
var overdueMembersScript = goredis.NewScript(memberLua + `
local topics = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now(), 'LIMIT', 0, 100)
local dropped = 0
for _, t in ipairs(topics) do
  dropped = dropped + release(ARGV[1] .. t, ARGV[2] .. t, KEYS[1], KEYS[2], t, tonumber(ARGV[3]), true)
end
return dropped
`)

// QueueMember queues a member event of topic in the order of seq, the
// number the presence scripts gave its change (after: the one before
// it): it is held, for hold at most, until the event before it is
// queued. It returns how many events were dropped, this one or held ones
// it let go.
func (e *Engine) QueueMember(ctx context.Context, topic string, after, seq uint64, event []byte, hold time.Duration, max int) (int, error) {
	if seq == 0 {
		dropped, err := e.QueueEvent(ctx, event, max)
		if dropped {
			return 1, err
		}
		return 0, err
	}
	k := e.keys
	keys := []string{k.webhooks("mseq:" + topic), k.webhooks("mheld:" + topic), k.webhooks("mdue"), k.webhooks("events")}
	args := []any{topic, strconv.FormatUint(after, 10), strconv.FormatUint(seq, 10), event, max, hold.Milliseconds(),
		maxHeldPerTopic, maxHeldTopics}
	// presence_lost_queue.go: a lost join's leave, or a join of a user
	// with one maybe unqueued.
	lost, isLost := e.pres.lostQueued.peek(topic, seq)
	join, isBack := e.pres.lostQueued.peekBack(topic, seq)
	if isLost && lostLate(lost, time.Now()) {
		back, err := e.markLateLost(ctx, topic, lost)
		if err != nil {
			return 0, err
		}
		if back {
			if _, ok := e.pres.lostQueued.take(topic, seq); ok {
				e.markLostQueued(ctx, topic, seq, lost)
			}
			return 0, nil
		}
	}
	if isLost {
		keys = append(keys, k.lostOnceKey(topic, seq, lost.user), k.lostBackKey(topic, lost.user), k.lostBackTermsKey(topic, lost.user))
		args = append(args, lost.keep.Milliseconds(), "lost", lost.term)
	} else if isBack {
		keys = append(keys, k.lostBackKey(topic, join.user), k.lostBackTermsKey(topic, join.user))
		args = append(args, join.keep.Milliseconds(), "back", join.term, join.before)
	}
	n, err := e.runWebhook(ctx, memberScript, keys, args...).Int()
	if err != nil {
		return 0, e.fail("queue member event", err)
	}
	if isBack {
		e.pres.lostQueued.forgetBack(topic, seq)
	}
	if isLost {
		if _, ok := e.pres.lostQueued.take(topic, seq); ok {
			e.markLostQueued(ctx, topic, seq, lost)
		}
	}
	return n, nil
}

// queueOverdueMembers queues the held member events whose wait ended.
func (e *Engine) queueOverdueMembers(ctx context.Context, max int) (int, error) {
	k := e.keys
	n, err := overdueMembersScript.Run(ctx, e.rdb, []string{k.webhooks("mdue"), k.webhooks("events")},
		k.webhooks("mseq:"), k.webhooks("mheld:"), max).Int()
	if err != nil {
		return 0, e.fail("queue held member events", err)
	}
	return n, nil
}
