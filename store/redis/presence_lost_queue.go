package redis

import (
	"sync"
	"sync/atomic"
	"time"
)

// How the member events of lost joins' leaves are queued (below), and
// what the node keeps of the leaves it reported, or took over, and has
// not queued yet, and of the joins of their users (lostQueueds). The
// keys and Lua that order such a leave against its user's return are in
// presence_lost_marks.go; the records Redis keeps of the leaves, and
// their takeover, in presence_lost_unqueued.go.
//
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
