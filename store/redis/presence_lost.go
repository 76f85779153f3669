package redis

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

var _ broker.MemberLister = (*Engine)(nil)

// lostLeavesSender is a Handler that sends the leaves of users whose
// joins it sent and Redis lost (broker.Broker.SendLostLeaves): a failover
// can lose a join that pub/sub carried, and when the node that made it
// died before adding it again, no node would send its leave
// (presence_lost.go in broker says more).
type lostLeavesSender interface {
	SendLostLeaves(ctx context.Context) error
}

// lostJoins is when the node last had its Handler check the joins it sent
// against Redis, counted in reconnects: a failover replaces the pub/sub
// connections. The heartbeat's loop notes the reconnects and asks for the
// check; checkLostJoins makes it.
type lostJoins struct {
	mu    sync.Mutex
	seen  uint64    // the reconnects counted when since was set
	since time.Time // when this node first saw them
	done  uint64    // the reconnects counted at the last check made
	asked chan struct{}
}

// lostCheck is the engine's check of the joins sent under way: what
// every live node tells (presence_terms.go), whether one of its topics
// waited for a node to tell its master's term, and which topics were
// checked since the reconnects it is for: a check made again while some
// wait reads only those.
type lostCheck struct {
	mu      sync.Mutex
	on      bool
	terms   string
	keep    time.Duration // of the records of leaves reported (lostLeaveKeep)
	waited  bool
	cycle   uint64 // the reconnects counted that checked is of
	checked map[string]bool
	runs    atomic.Uint64 // of lostJoinsScript, for tests
}

// begin starts a check for the reconnects counted at seen, every live
// node telling terms, the records of the leaves it reports kept for keep.
func (c *lostCheck) begin(seen uint64, terms string, keep time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cycle != seen || c.checked == nil {
		c.cycle, c.checked = seen, make(map[string]bool)
	}
	c.on, c.terms, c.keep, c.waited = true, terms, keep, false
}

// end ends the check, and reports whether a topic waited. The topics
// checked are forgotten once none waited and none failed (done).
func (c *lostCheck) end(done bool) (waited bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	if done && !c.waited {
		c.checked = nil
	}
	return c.waited
}

// termsFor returns the terms to check topic with ("*" outside a check),
// how long to keep the records of the leaves reported (keep outside a
// check), and false when topic was checked already.
func (c *lostCheck) termsFor(topic string, keep time.Duration) (string, time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return "*", keep, true
	}
	return c.terms, c.keep, !c.checked[topic]
}

// finished records that topic was checked, or waited.
func (c *lostCheck) finished(topic string, waited bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return
	}
	if waited {
		c.waited = true
	} else {
		c.checked[topic] = true
	}
}

func newLostJoins(reconnects uint64) *lostJoins {
	return &lostJoins{seen: reconnects, done: reconnects, asked: make(chan struct{}, 1)}
}

// note records the reconnects counted now.
func (l *lostJoins) note(reconnects uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if reconnects != l.seen {
		l.seen, l.since = reconnects, now
	}
}

// due reports how long until a check is due: 0 when it is, and false
// when none is to be made.
func (l *lostJoins) due(now time.Time, wait time.Duration) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == l.done {
		return 0, false
	}
	return max(0, l.since.Add(wait).Sub(now)), true
}

// ask has checkLostJoins make the check if it is due, unless it is asked
// already.
func (l *lostJoins) ask(now time.Time, wait time.Duration) {
	if d, ok := l.due(now, wait); ok && d == 0 {
		select {
		case l.asked <- struct{}{}:
		default:
		}
	}
}

// checkLostJoins makes the checks asked for until ctx ends, each again
// every retryBeat while it waits for a live node to add its entries back
// (presence_terms.go). It runs
// beside the heartbeat's loop, not in it: the check reads Redis once per
// topic with presence:true subscriptions here (and per 256 of its users),
// one after the other, so with tens of thousands of such topics, or a
// Redis slow to answer after a failover, it would hold the node's next
// heartbeat past the lapse, and the others would take the node for dead.
func (e *Engine) checkLostJoins(ctx context.Context, l *lostJoins, wait time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.asked:
			for e.sendLostLeaves(ctx, l, time.Now(), wait) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(retryBeat(e.cfg.PresenceLapse)):
				}
			}
		}
	}
}

// sendLostLeaves has the Handler send the leaves of the joins Redis lost,
// once the reconnect is wait old: the live nodes have added back, with
// their joins, the entries they had lost by then (resyncAfterReconnect),
// so a user Redis does not list then was a dead node's, or has left. The
// live nodes that have not (they tell no resync within the term of a
// topic's master, presence_terms.go) have that topic's check wait: it
// reports true, to be made again soon. A check that fails is made again
// when next asked.
func (e *Engine) sendLostLeaves(ctx context.Context, l *lostJoins, now time.Time, wait time.Duration) (again bool) {
	if d, ok := l.due(now, wait); !ok || d > 0 {
		return false
	}
	l.mu.Lock()
	seen, since := l.seen, l.since
	l.mu.Unlock()
	box := e.handler.Load()
	if box == nil {
		return false
	}
	sender, ok := box.h.(lostLeavesSender)
	if ok {
		terms, err := e.termsAllTell(ctx)
		if err != nil {
			e.log.Warn("cannot check the joins sent against Redis now", zap.Error(err))
			return false
		}
		if now.Sub(since) >= wait+lostJoinsPatience(e.cfg.PresenceLapse) {
			terms = "*" // waited for the live nodes long enough
		}
		e.lostCheck.begin(seen, terms, lostLeaveKeep(e.slowestLapse()))
		err = sender.SendLostLeaves(ctx)
		waited := e.lostCheck.end(err == nil)
		if err != nil {
			e.log.Warn("cannot check the joins sent against Redis now", zap.Error(err))
			return false
		}
		if waited {
			return true
		}
	}
	l.mu.Lock()
	l.done = seen
	l.mu.Unlock()
	return false
}

// lostJoinsPatience is how long past its due time a check of the joins
// sent waits for the live nodes to add their entries back on a master
// that failed over, ten lapses (2.5 min by default): a live node whose
// resync keeps failing, or that never learns of the failover (its
// pub/sub connection kept by an old master turned replica), would hold
// the check for as long as it beats, each waiting topic's script run
// again every retryBeat and a dead node's lost joins never left. Past it
// the check is made as if no node told terms: a live node that has not
// added its entries back by then has its users' joins taken for lost,
// and joined again once it does.
func lostJoinsPatience(lapse time.Duration) time.Duration { return 10 * lapse }

// lostLeaveKeep is how long Redis keeps the session of a lost join whose
// leave a node reported (lostJoinsScript): twelve lapses (3 min at the
// default lapse, up to 4.5 as the heartbeat reads the others' lapses),
// so that it outlasts the checks the nodes make after one
// failover. Each is due 5 s after its node's own reconnect and waits for
// the live nodes up to lostJoinsPatience past that, so the last comes up
// to the patience after the first, and two lapses more for a node whose
// reconnect came up to two lapses later. A check made once the record is
// gone (its node's reconnect came later still) reports the leave again,
// and the webhooks' sender leaves that second member_removed out only
// while it remembers the first (two minutes or so): kept 2 min, the
// record let a check made near the end of the patience have the backend
// told twice. A join of the same session lost again within the keep is
// told apart by the record's term, not by the record's end. The lapse is
// the longest the node knows of (slowestLapse: its own, or the other
// live nodes' as its heartbeat read them, maxCountedLapse at most): each
// node's check waits up to its own patience, and kept by the reporter's
// lapse, the record of a node of a short one was gone before the late
// check of a node of a long one, which reported the leave again. The
// heartbeat's reading holds through an outage of Redis, when the
// registry may lack a live node that has yet to beat again.
func lostLeaveKeep(lapse time.Duration) time.Duration {
	return lostJoinsPatience(lapse) + 2*lapse
}

// LostJoins returns the users of those of joins who are not members of
// topic in Redis now, reading them in batches; when a batch fails, those
// found before it, with the error. The member watcher hears
// the leave of each one whose lost join no node reported the leave of
// yet (lostJoinsScript): one node in the cluster, as for any leave. The
// leave is numbered in the topic's order, after every change decided
// before the check, the joins of users who came back included; a join
// decided after it is numbered after it. Within the engine's check after
// a reconnect, it finds none while a live node may have yet to add its
// entries again on the topic's master (presence_terms.go); called
// otherwise, it waits for none.
func (e *Engine) LostJoins(ctx context.Context, topic string, joins []broker.SentJoin) ([]string, error) {
	var gone []string
	terms, keep, unchecked := e.lostCheck.termsFor(topic, lostLeaveKeep(e.slowestLapse()))
	if !unchecked {
		return nil, nil
	}
	life := e.lostReporterLife()
	keys := e.lostJoinsKeys(topic)
	mark := e.handedOverUpTo(topic)
	for len(joins) > 0 {
		batch := joins[:min(len(joins), reapBatch)]
		reply, err := e.checkLostBatch(ctx, topic, life, keys, func(indexed bool) []any {
			return e.lostJoinsArgs(terms, keep, life, indexed, mark, batch)
		}, keep)
		e.lostCheck.runs.Add(1)
		if err != nil {
			return gone, fmt.Errorf("herald/redis: check the joins sent on %s: %w", topic, err)
		}
		joins = joins[len(batch):]
		if len(reply) == 1 { // "wait"
			e.lostCheck.finished(topic, true)
			return gone, nil
		}
		for i := 0; i+1 < len(reply); i += 2 {
			gone = append(gone, reply[i])
			if reply[i+1] != "" {
				e.lostJoinLeft(topic, reply[i], reply[i+1])
			}
		}
	}
	e.lostCheck.finished(topic, false)
	return gone, nil
}

// lostJoinsKeys is lostJoinsScript's KEYS for topic.
func (e *Engine) lostJoinsKeys(topic string) []string {
	k := e.keys
	return []string{k.presUsers(topic), k.presSeq(topic), k.presLost(topic), k.presLostUnqueued(topic),
		k.presChanges(topic), k.presLostTaken(topic), k.presLostTakenEnds(topic), k.presLostTerms(topic)}
}

// checkLostBatch runs lostJoinsScript on topic with the ARGV args
// returns, and, when it needs the topic in life's set of topics with
// reports unqueued, puts it there and runs it again. The reports it
// makes are noted pending (kept for keep) before the topic may leave the
// set again (presence_lost_queue.go).
func (e *Engine) checkLostBatch(ctx context.Context, topic, life string, keys []string, args func(indexed bool) []any,
	keep time.Duration) ([]string, error) {
	q := &e.pres.lostQueued
	q.index.Lock()
	defer q.index.Unlock()
	indexed := life != "" && q.indexed[lostTopic{life, topic}]
	for {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		reply, err := lostJoinsScript.Run(cctx, e.rdb, keys, args(indexed)...).StringSlice()
		cancel()
		if err != nil {
			return nil, err
		}
		if len(reply) == 1 && reply[0] == "index" && !indexed {
			if err := e.indexLostLocked(ctx, life, topic); err != nil {
				return nil, err
			}
			indexed = true
			continue
		}
		if life != "" {
			now := time.Now()
			for i := 0; i+1 < len(reply); i += 2 {
				if reply[i+1] == "" {
					continue
				}
				if _, seq, term, err := parseOrder(reply[i+1]); err == nil {
					q.add(lostReport{topic, seq}, lostPending{user: reply[i], life: life, keep: keep, at: now, term: term})
				}
			}
			e.unindexLostLocked(ctx, life, topic)
		}
		return reply, nil
	}
}

// handedOverUpTo returns the ID of the last change of topic handed over
// (or where its change log ended when the node subscribed it: noChange
// for none), "" when the node has no place in the log. Read before the
// check's script, it is at or before any change the Handler had not had
// when it listed the joins it sent.
func (e *Engine) handedOverUpTo(topic string) string {
	m := e.markOf(topic)
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// lostJoinLeft tells the member watcher of the leave of user on topic
// that ends a join Redis lost, numbered by order.
func (e *Engine) lostJoinLeft(topic, user, order string) {
	fn := e.members.Load()
	if fn == nil {
		return
	}
	after, seq, _, err := parseOrder(order)
	if err != nil {
		e.log.Error("the check of the joins sent returned a malformed order", zap.Error(err))
		return
	}
	(*fn)(broker.PresenceChange{Topic: topic, User: user, After: after, Seq: seq})
}
