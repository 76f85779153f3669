package redis

import (
	"context"
	"fmt"
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
// connections.
type lostJoins struct {
	seen  uint64    // the reconnects counted when since was set
	since time.Time // when this node first saw them
	done  uint64    // the reconnects counted at the last check made
}

// note records the reconnects counted now.
func (l *lostJoins) note(reconnects uint64, now time.Time) {
	if reconnects != l.seen {
		l.seen, l.since = reconnects, now
	}
}

// due reports how long until a check is due: 0 when it is, and false
// when none is to be made.
func (l *lostJoins) due(now time.Time, wait time.Duration) (time.Duration, bool) {
	if l.seen == l.done {
		return 0, false
	}
	return max(0, l.since.Add(wait).Sub(now)), true
}

// sendLostLeaves has the Handler send the leaves of the joins Redis lost,
// once the reconnect is wait old: the live nodes have added back, with
// their joins, the entries they had lost by then (resyncAfterReconnect),
// so a user Redis does not list then was a dead node's, or has left. A
// check that fails is made again at the next round.
func (e *Engine) sendLostLeaves(ctx context.Context, l *lostJoins, now time.Time, wait time.Duration) {
	if d, ok := l.due(now, wait); !ok || d > 0 {
		return
	}
	box := e.handler.Load()
	if box == nil {
		return
	}
	sender, ok := box.h.(lostLeavesSender)
	if !ok {
		l.done = l.seen
		return
	}
	if err := sender.SendLostLeaves(ctx); err != nil {
		e.log.Warn("cannot check the joins sent against Redis now", zap.Error(err))
		return
	}
	l.done = l.seen
}

// Unlisted returns those of users who are not members of topic in Redis
// now, reading them in batches.
func (e *Engine) Unlisted(ctx context.Context, topic string, users []string) ([]string, error) {
	var gone []string
	for len(users) > 0 {
		batch := users[:min(len(users), reapBatch)]
		users = users[len(batch):]
		cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		listed, err := e.rdb.HMGet(cctx, e.keys.presUsers(topic), batch...).Result()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("herald/redis: read the members of %s: %w", topic, err)
		}
		for i, v := range listed {
			if v == nil {
				gone = append(gone, batch[i])
			}
		}
	}
	return gone, nil
}
