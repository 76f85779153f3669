package redis

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// The leave of a lost join is numbered, and its report recorded, in the
// topic's slot (lostJoinsScript), and its member_removed queued
// afterwards, in the {webhooks} slot (QueueMember), by the node that
// reported it: on Cluster no script reaches both. A node that died
// between the two would take the event with it, and the others find the
// report made and report nothing. So the script also keeps the report in
// the topic's unqueued hash, by its seq, under the reporter's life, with
// the topic in that life's set of such topics; the reporter takes it out
// once its member event is queued (markLostQueued), and whoever cleans
// up after a life that lapsed queues the member events of those left
// there (queueLostOf), first taking them over under its own life, so
// that it is cleaned up after in turn should it die too.
//
// The event is queued once however many nodes queue it: QueueMember
// queues the member event of a lost join's leave under a key of its seq and user
// (lostOnceKey), kept as long as the report, in the same step, and leaves
// it out when that key is held. A reporter that queued it and died before
// taking the report out, or one that only paused past its lapse, so has
// no second event queued. A user Redis lists again when the report is
// taken over came back since: that join's member_added went (past the
// 2 s a member event waits for the one before it), so a member_removed
// queued now would come after it and tell the backend the user left
// while it is there; the report is dropped instead, and the backend,
// told of the user's joins and not of that leave, holds the user as a
// member, which it is.
//
// The user may come back before the leave's member_removed is queued,
// and the join's member_added go first: the reporter may queue the leave
// more than the 2 s the queue holds a join for its predecessor after its
// step (the {webhooks} slot slow or failing over itself), and a takeover
// reads that the user is not listed in the topic's slot and queues the
// leave in {webhooks}, long after; on Cluster no script reaches both
// slots. So the step that numbers the leave (lostJoinsScript) marks its
// user in the topic's taken hash (presLostTaken) until the report ends,
// and a takeover marks it again in the step that reads the users; a join
// of a marked user, decided in the topic's slot too, is returned with
// that mark (addPresenceScript). The joining node then queues its
// member_added with the user's back key (lostBackKey) set to the join's
// seq, in the same step, and the queue drops the member_removed of a
// lost join's leave of the user numbered before it, unless that
// member_added is still held (waiting for its predecessor, the leave
// maybe), when the two go in seq order. Whichever of the two comes to
// the queue first, the backend is told the leave before the return or
// not at all: queued first, the leave goes before the join; second, it
// goes before the join still held, and would otherwise go after a join
// decided after it, and is dropped. The leave is numbered before the
// join: the join saw a mark written in the leave's step or after it. A
// mark is kept as long as the reports it covers, not taken out when they
// are queued (several may be pending), so a join within that time may
// set a back key for nothing: a key that drops only leaves numbered
// before a join that went. Cheaper than the queue keeping every
// member_added's seq by user: a join pays one HGET of a hash that is
// almost always absent, a report a few writes in its hash, and the queue
// touches the back key only for a lost join's leave or a marked join.
//
// The mark, and a back key with it, lasts as long as the report: a
// leave queued later than that (the {webhooks} slot out of reach, the
// queueing tried again meanwhile) would find no back key and go after a
// return decided since. So a leave queued past half its keep (lostLate)
// is first looked at in the topic's slot (lostLateScript): a user
// listed again came back, and the leave is dropped, as a takeover drops
// it; else the user is marked again as the leave goes. A node forgets
// its reports past their keep (add says why), and one queued after
// that goes as any member event: lateness is known only while the
// report is, and keeping every report as long as the queue may be out
// of reach would keep those whose events were dropped for ever.
//
// A seq alone does not tell which came first: a failover that loses a
// return's writes and a change's before them has the topic's count give
// their seqs again, lower than the return's in its back key, and the
// leave of that return, reported once its node died too, would be
// dropped as if decided before it. So the leave and the back key carry
// the term of the master that numbered them (masterTermsLua), and the
// queue drops the leave only when it is of the join's term and numbered
// before it, or of a term the topic's data went through before the
// join's (the join's master was promoted from it, or restarted after
// it, so the leave came first); a leave of another term goes. A
// leave's term is kept beside its report (the unqueued record), for a
// takeover to queue it with. The terms before the join's are those its
// master names (master_replid2, of a promotion) and those the topic's
// slot noted (presLostTerms): Redis gives a master that restarts, even
// with all its data, a new term and names none before it, and does so
// again when a replica first attaches to a master with no backlog.
//
// Nodes of the release before read the records and back keys during a
// rolling update, and what they read is in their form: a record is
// "<life>\n<after>\n<end>\n<user>" and a back key the join's seq alone,
// and the terms are kept in fields and keys of their own (the record's
// under "t:<seq>" in the same hash, a back key's in lostBackTermsKey).
// That release's takeover dropped a record of another form as
// malformed, the leave's member_removed with it, and its queue failed
// on a back key holding more than a number, for as long as it lived.

// lostQueueds is what the node reported, or took over, and has not
// queued yet: the unqueued record to take out once it is, by topic and
// seq; and which topics it put in its lives' sets of topics with
// reports unqueued (presLostTopics).
//
// A topic stays in a life's set only while a report of it is pending
// here: the set has no expiry, and a node that lives on would otherwise
// keep in it every topic it ever reported a leave on. index orders the
// set's changes with the writes of the reports they cover, so that no
// report is written while its topic is out of the set; it is held
// across calls to Redis, never while the member watcher is told.
type lostQueueds struct {
	mu      sync.Mutex
	pending map[lostReport]lostPending
	onTopic map[lostTopic]int // how many are pending, by life and topic
	swept   time.Time         // when add last forgot those past their keep

	index   sync.Mutex
	indexed map[lostTopic]bool // under index

	// backs holds the joins of marked users (a lost join's leave
	// reported, maybe unqueued), by topic and seq, until their
	// member_added is queued: its queueing sets the user's back key, kept
	// for the time noted (the end of the last report). Each is forgotten
	// past that time, as its member event may have been dropped before
	// it reached Redis.
	backs      map[lostReport]lostPending // under mu; life unset
	backsSwept time.Time                  // when addBack last forgot those past their keep

	// takenOver, set by tests only, is called once a takeover took over
	// reports on topic, before their member events are told.
	takenOver atomic.Pointer[func(topic string)]
}

type lostTopic struct{ life, topic string }

type lostReport struct {
	topic string
	seq   uint64
}

type lostPending struct {
	user string        // whose leave it is
	life string        // the record names it
	keep time.Duration // of the record, and of the key that makes the queueing once
	at   time.Time     // when it was reported: forgotten after keep
	// term is the term of the topic's master the seq was given in, ""
	// when unknown; before, for a join only, the terms the topic's data
	// went through before it, space-separated (masterTermsLua).
	term, before string
}

// add notes a report to take out once it is queued. Reports kept past
// their keep are forgotten (their member event was dropped before it
// reached Redis, by the webhooks' bounded buffers): Redis no longer
// holds their record either. It looks for them once a keep at most, so
// up to two keeps after their report: looked for at every add, the
// 10,000 reports of one check took 773 ms to note and take, 3.9 ms so
// (BenchmarkLostQueuedReports).
func (q *lostQueueds) add(r lostReport, p lostPending) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		q.pending, q.onTopic = make(map[lostReport]lostPending), make(map[lostTopic]int)
	}
	if p.at.Sub(q.swept) > p.keep {
		for k, old := range q.pending {
			if p.at.Sub(old.at) > old.keep {
				q.forgetLocked(k, old)
			}
		}
		q.swept = p.at
	}
	if old, ok := q.pending[r]; ok {
		q.forgetLocked(r, old)
	}
	q.pending[r] = p
	q.onTopic[lostTopic{p.life, r.topic}]++
}

// forgetLocked forgets the report r, noted as p. The caller holds mu.
func (q *lostQueueds) forgetLocked(r lostReport, p lostPending) {
	delete(q.pending, r)
	t := lostTopic{p.life, r.topic}
	if q.onTopic[t]--; q.onTopic[t] <= 0 {
		delete(q.onTopic, t)
	}
}

// take returns the report of topic's seq and forgets it.
func (q *lostQueueds) take(topic string, seq uint64) (lostPending, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := lostReport{topic, seq}
	p, ok := q.pending[r]
	if ok {
		q.forgetLocked(r, p)
	}
	return p, ok
}

// addBack notes the join of topic numbered seq (r) of b's user, whose
// lost join's leave was reported and may be queued for up to b's keep
// from its at.
// Those past their keep are looked for once a second at most (a keep is
// what is left of a mark, down to a millisecond): the users of a
// failover's reports may come back by the thousand while the queue is
// out of reach, and looked for at each join, 10,000 such joins took
// 1.37 s to note (BenchmarkLostBacks), under the lock every join and
// queueing of a member event takes.
func (q *lostQueueds) addBack(r lostReport, b lostPending) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.backs == nil {
		q.backs = make(map[lostReport]lostPending)
	}
	if b.at.Sub(q.backsSwept) > time.Second {
		for k, old := range q.backs {
			if b.at.Sub(old.at) > old.keep {
				delete(q.backs, k)
			}
		}
		q.backsSwept = b.at
	}
	q.backs[r] = b
}

// peekBack returns the join of topic numbered seq, if it is noted.
func (q *lostQueueds) peekBack(topic string, seq uint64) (lostPending, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b, ok := q.backs[lostReport{topic, seq}]
	return b, ok
}

// forgetBack forgets the join of topic numbered seq, queued now.
func (q *lostQueueds) forgetBack(topic string, seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.backs, lostReport{topic, seq})
}

// pendingOn reports whether a report of life on topic is pending.
func (q *lostQueueds) pendingOn(life, topic string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.onTopic[lostTopic{life, topic}] > 0
}

// pendingOf reports whether a report of life is pending whose record
// Redis still keeps at now.
func (q *lostQueueds) pendingOf(life string, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.pending {
		if p.life == life && now.Sub(p.at) <= p.keep {
			return true
		}
	}
	return false
}

// peek returns the report of topic's seq, if it is pending.
func (q *lostQueueds) peek(topic string, seq uint64) (lostPending, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.pending[lostReport{topic, seq}]
	return p, ok
}

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

// lostReporterLife is the life the lost-joins script keeps the leaves it
// reports unqueued under, or "" when no member watcher would queue them.
func (e *Engine) lostReporterLife() string {
	if e.members.Load() == nil {
		return ""
	}
	return e.pres.currentLife()
}

// indexLostLocked puts topic in life's set of topics with reports
// unqueued, unless this node did already. The caller holds index.
func (e *Engine) indexLostLocked(ctx context.Context, life, topic string) error {
	q := &e.pres.lostQueued
	if q.indexed[lostTopic{life, topic}] {
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := e.rdb.SAdd(ictx, e.keys.presLostTopics(life), topic).Err(); err != nil {
		return fmt.Errorf("herald/redis: note the reports unqueued on %s: %w", topic, err)
	}
	if q.indexed == nil {
		q.indexed = make(map[lostTopic]bool)
	}
	q.indexed[lostTopic{life, topic}] = true
	return nil
}

// unindexLostLocked takes topic out of life's set of topics with
// reports unqueued once no report of life on it is pending here. One
// that fails leaves the topic in the set, where it does no harm but
// cost whoever cleans up after the life a read. The caller holds index.
func (e *Engine) unindexLostLocked(ctx context.Context, life, topic string) {
	q := &e.pres.lostQueued
	t := lostTopic{life, topic}
	if !q.indexed[t] || q.pendingOn(life, topic) {
		return
	}
	uctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := e.rdb.SRem(uctx, e.keys.presLostTopics(life), topic).Err(); err != nil {
		e.log.Debug("cannot forget a topic's reports unqueued", zap.String("topic", topic), zap.Error(err))
		return
	}
	delete(q.indexed, t)
}

// lostQueuedScript takes the report of a lost join's leave out of the
// unqueued hash once its member event is queued, unless another life
// took it over meanwhile.
//
// KEYS: unqueued. ARGV: seq, life.
var lostQueuedScript = goredis.NewScript(`
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and string.sub(rec, 1, #ARGV[2] + 1) == ARGV[2] .. '\n' then
  redis.call('HDEL', KEYS[1], ARGV[1], 't:' .. ARGV[1])
end
return 0
`)

// markLostQueued takes the report out of topic's unqueued hash now that
// QueueMember queued its member event, and the topic out of the life's
// set once no other report of it is pending. A failure leaves both to
// whoever cleans up after this life, which queues the event again, and
// QueueMember leaves that out.
func (e *Engine) markLostQueued(ctx context.Context, topic string, seq uint64, p lostPending) {
	err := lostQueuedScript.Run(ctx, e.rdb, []string{e.keys.presLostUnqueued(topic)},
		strconv.FormatUint(seq, 10), p.life).Err()
	if err != nil {
		e.log.Debug("cannot note a lost join's leave queued", zap.String("topic", topic), zap.Error(err))
		return
	}
	q := &e.pres.lostQueued
	q.index.Lock()
	defer q.index.Unlock()
	e.unindexLostLocked(ctx, p.life, topic)
}

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

// lostTakeOverScript takes over the reports of a dead life unqueued on a
// topic: those of users the topic lists again are dropped (the package
// comment above says why), and so are those past their end, when the
// key that makes their queueing once may be gone (their hash lives as
// long as its last report); the others are kept under the new life,
// with the same end, and their users marked in the taken hash until
// then, so that a join of one from now on is queued with its back key.
//
// KEYS: unqueued, users, taken, its marks by end, the slot's terms.
// ARGV: dead life, new life. Returns, for each report taken over, its
// seq, after, user, time left (ms) and the term its seq is of ("" when
// unknown: a report of the release before, which kept none).
var lostTakeOverScript = goredis.NewScript(markTakenLua + lostTermLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local seq, rec = all[i], all[i + 1]
  if string.sub(seq, 1, 2) ~= 't:' and string.sub(rec, 1, #ARGV[1] + 1) == ARGV[1] .. '\n' then
    rec = string.sub(rec, #ARGV[1] + 2)
    local after, ends, user = string.match(rec, '^(%d+)\n(%d+)\n(.*)$')
    if not after or tonumber(ends) <= now or redis.call('HEXISTS', KEYS[2], user) == 1 then
      redis.call('HDEL', KEYS[1], seq, 't:' .. seq)
    else
      redis.call('HSET', KEYS[1], seq, ARGV[2] .. '\n' .. rec)
      markTaken(KEYS[3], KEYS[4], KEYS[5], user, tonumber(ends), now)
      out[#out + 1] = seq
      out[#out + 1] = after
      out[#out + 1] = user
      out[#out + 1] = string.format('%d', tonumber(ends) - now)
      out[#out + 1] = lostTerm(KEYS[1], seq, rec)
    end
  end
end
return out
`)

// queueLostOf has the member watcher queue the member events of the
// lost joins' leaves that the dead life reported and did not queue, as
// it cleans up after it. A node without a watcher (started without
// webhooks, where the others have them) leaves them to lapse, and
// forgets the life's set all the same, which nobody would otherwise.
func (e *Engine) queueLostOf(ctx context.Context, dead string) error {
	set := e.keys.presLostTopics(dead)
	fn := e.members.Load()
	if fn == nil {
		return e.rdb.Del(ctx, set).Err()
	}
	for cursor := uint64(0); ; {
		topics, next, err := e.rdb.SScan(ctx, set, cursor, "", reapBatch).Result()
		if err != nil {
			return fmt.Errorf("herald/redis: read the topics of a dead node's lost joins: %w", err)
		}
		for _, topic := range topics {
			if broker.CheckTopic(topic) != nil {
				continue // not ours to touch
			}
			if err := e.takeOverLost(ctx, topic, dead, *fn); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return e.rdb.Del(ctx, set).Err()
}

// takeOverLost takes over dead's unqueued reports on topic and tells fn
// of each. The topic goes in this life's set first, as it does before
// the lost-joins script keeps a report, and out again when none was
// taken over.
func (e *Engine) takeOverLost(ctx context.Context, topic, dead string, fn func(broker.PresenceChange)) error {
	changes, err := e.takeOverLostIndexed(ctx, topic, dead)
	if hook := e.pres.lostQueued.takenOver.Load(); hook != nil && len(changes) > 0 {
		(*hook)(topic)
	}
	for _, c := range changes {
		fn(c)
	}
	return err
}

// takeOverLostIndexed takes over dead's unqueued reports on topic, notes
// them pending, and returns their changes.
func (e *Engine) takeOverLostIndexed(ctx context.Context, topic, dead string) ([]broker.PresenceChange, error) {
	q := &e.pres.lostQueued
	q.index.Lock()
	defer q.index.Unlock()
	life := e.pres.currentLife()
	defer e.unindexLostLocked(ctx, life, topic)
	if err := e.indexLostLocked(ctx, life, topic); err != nil {
		return nil, fmt.Errorf("herald/redis: take over a dead node's lost joins on %s: %w", topic, err)
	}
	keys := []string{e.keys.presLostUnqueued(topic), e.keys.presUsers(topic), e.keys.presLostTaken(topic),
		e.keys.presLostTakenEnds(topic), e.keys.presLostTerms(topic)}
	reply, err := lostTakeOverScript.Run(ctx, e.rdb, keys, dead, life).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("herald/redis: take over a dead node's lost joins on %s: %w", topic, err)
	}
	now := time.Now()
	var changes []broker.PresenceChange
	for i := 0; i+4 < len(reply); i += 5 {
		seq, err1 := strconv.ParseUint(reply[i], 10, 64)
		after, err2 := strconv.ParseUint(reply[i+1], 10, 64)
		left, err3 := strconv.ParseInt(reply[i+3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			e.log.Error("a dead node's lost join's leave has a malformed order", zap.String("topic", topic))
			continue
		}
		// The once key lasts at least as long as the report.
		q.add(lostReport{topic, seq}, lostPending{user: reply[i+2], life: life, keep: time.Duration(left) * time.Millisecond, at: now,
			term: reply[i+4]})
		changes = append(changes, broker.PresenceChange{Topic: topic, User: reply[i+2], After: after, Seq: seq})
	}
	return changes, nil
}
