package redis

import (
	"context"
	"fmt"
	"sync"
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

// checkLostJoins makes the checks asked for until ctx ends. It runs
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
			e.sendLostLeaves(ctx, l, time.Now(), wait)
		}
	}
}

// sendLostLeaves has the Handler send the leaves of the joins Redis lost,
// once the reconnect is wait old: the live nodes have added back, with
// their joins, the entries they had lost by then (resyncAfterReconnect),
// so a user Redis does not list then was a dead node's, or has left. A
// check that fails is made again when next asked.
func (e *Engine) sendLostLeaves(ctx context.Context, l *lostJoins, now time.Time, wait time.Duration) {
	if d, ok := l.due(now, wait); !ok || d > 0 {
		return
	}
	l.mu.Lock()
	seen := l.seen
	l.mu.Unlock()
	box := e.handler.Load()
	if box == nil {
		return
	}
	sender, ok := box.h.(lostLeavesSender)
	if ok {
		if err := sender.SendLostLeaves(ctx); err != nil {
			e.log.Warn("cannot check the joins sent against Redis now", zap.Error(err))
			return
		}
	}
	l.mu.Lock()
	l.done = seen
	l.mu.Unlock()
}

// lostLeaveKeep is how long Redis keeps the session of a lost join whose
// leave a node reported (lostJoinsScript): long enough for the checks
// every node makes after one failover (5 s after its own reconnect, and
// at each heartbeat after while they fail), so that one node reports it;
// and no longer, as a second lost join of that same session within it
// would go unreported.
const lostLeaveKeep = 2 * time.Minute

// LostJoins returns the users of those of joins who are not members of
// topic in Redis now, reading them in batches; when a batch fails, those
// found before it, with the error. The member watcher hears
// the leave of each one whose lost join no node reported the leave of
// yet (lostJoinsScript): one node in the cluster, as for any leave. The
// leave is numbered in the topic's order, after every change decided
// before the check, the joins of users who came back included; a join
// decided after it is numbered after it.
func (e *Engine) LostJoins(ctx context.Context, topic string, joins []broker.SentJoin) ([]string, error) {
	var gone []string
	keys := []string{e.keys.presUsers(topic), e.keys.presSeq(topic), e.keys.presLost(topic)}
	for len(joins) > 0 {
		batch := joins[:min(len(joins), reapBatch)]
		joins = joins[len(batch):]
		args := e.lostJoinsArgs(batch)
		cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		reply, err := lostJoinsScript.Run(cctx, e.rdb, keys, args...).StringSlice()
		cancel()
		if err != nil {
			return gone, fmt.Errorf("herald/redis: check the joins sent on %s: %w", topic, err)
		}
		for i := 0; i+1 < len(reply); i += 2 {
			gone = append(gone, reply[i])
			if reply[i+1] != "" {
				e.lostJoinLeft(topic, reply[i], reply[i+1])
			}
		}
	}
	return gone, nil
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
