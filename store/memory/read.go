package memory

import (
	"context"

	"github.com/herald-broker/herald/broker"
)

// History returns the topic's position and the oldest limit messages after
// since (all when limit <= 0). A topic with no state gets one: a new epoch
// at seq 0, which its next publish continues. Reading does not extend the
// topic's life. It never waits for a delivery, so the Handler may call it.
func (e *Engine) History(ctx context.Context, topic string, since uint64, limit int) (broker.HistoryResult, error) {
	if err := e.usable(ctx); err != nil {
		return broker.HistoryResult{}, err
	}
	if err := checkTopic(topic); err != nil {
		return broker.HistoryResult{}, err
	}
	for {
		if res, ok := e.readHistory(e.topics.lookup(topic, e.clock()), since, limit); ok {
			return res, nil
		}
	}
}

func (e *Engine) readHistory(tp *topic, since uint64, limit int) (res broker.HistoryResult, ok bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	now := e.clock()
	if tp.dead {
		return res, false
	}
	tp.renewIfIdle(now, e.ttl())
	res.Position = tp.position()
	res.Messages = tp.history.after(tp.seq, since, limit)
	return res, true
}

// Position returns the topic's epoch and last seq, starting an epoch at
// seq 0 for a topic with no state, as History does.
func (e *Engine) Position(ctx context.Context, topic string) (broker.Position, error) {
	if err := e.usable(ctx); err != nil {
		return broker.Position{}, err
	}
	if err := checkTopic(topic); err != nil {
		return broker.Position{}, err
	}
	for {
		if p, ok := e.readPosition(e.topics.lookup(topic, e.clock())); ok {
			return p, nil
		}
	}
}

func (e *Engine) readPosition(tp *topic) (p broker.Position, ok bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	now := e.clock()
	if tp.dead {
		return p, false
	}
	tp.renewIfIdle(now, e.ttl())
	return tp.position(), true
}
