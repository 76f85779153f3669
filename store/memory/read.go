package memory

import (
	"context"

	"github.com/herald-broker/herald/broker"
)

// History returns the topic's position and the oldest limit messages after
// since (all when limit <= 0). Reading creates nothing and does not extend
// the topic's life: a topic with no state (never published to, or dropped)
// reads as the epoch its next publish takes, at seq 0 (lives). It never
// waits for a delivery, so the Handler may call it.
func (e *Engine) History(ctx context.Context, topic string, since uint64, limit int) (broker.HistoryResult, error) {
	if err := e.usable(ctx); err != nil {
		return broker.HistoryResult{}, err
	}
	if err := checkTopic(topic); err != nil {
		return broker.HistoryResult{}, err
	}
	if tp := e.topics.get(topic); tp != nil {
		if res, ok := e.readHistory(tp, since, limit); ok {
			return res, nil
		}
	}
	return broker.HistoryResult{Position: e.freshPosition(topic)}, nil
}

var _ broker.ResumeReader = (*Engine)(nil)

// ResumeHistory is History for a resume (broker.ResumeReader). Reading
// costs this engine nothing, its messages being in memory already; it
// cuts a resume as store/redis does, so that a client sees the same.
func (e *Engine) ResumeHistory(ctx context.Context, topic string, since broker.Position, maxBytes int) (broker.HistoryResult, error) {
	res, err := e.History(ctx, topic, since.Seq, 0)
	if err != nil {
		return res, err
	}
	if since.Epoch != "" && since.Epoch != res.Epoch {
		res.Messages = nil
	}
	res.Messages = broker.WithinResumeBytes(res.Messages, max(maxBytes, 1))
	return res, nil
}

// readHistory reads tp; ok is false when tp was dropped.
func (e *Engine) readHistory(tp *topic, since uint64, limit int) (res broker.HistoryResult, ok bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.dead.Load() {
		return res, false
	}
	var current bool
	res.Position, current = tp.position(e.clock(), e.ttl(), e.lives)
	if current {
		res.Messages = tp.history.after(tp.seq, since, limit)
	}
	return res, true
}

// Position returns the topic's epoch and last seq, as History does.
func (e *Engine) Position(ctx context.Context, topic string) (broker.Position, error) {
	if err := e.usable(ctx); err != nil {
		return broker.Position{}, err
	}
	if err := checkTopic(topic); err != nil {
		return broker.Position{}, err
	}
	if tp := e.topics.get(topic); tp != nil {
		if p, ok := e.readPosition(tp); ok {
			return p, nil
		}
	}
	return e.freshPosition(topic), nil
}

// readPosition reads tp; ok is false when tp was dropped.
func (e *Engine) readPosition(tp *topic) (p broker.Position, ok bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.dead.Load() {
		return p, false
	}
	p, _ = tp.position(e.clock(), e.ttl(), e.lives)
	return p, true
}

// freshPosition is where a topic with no state stands.
func (e *Engine) freshPosition(topic string) broker.Position {
	_, epoch := e.lives.begin(topic)
	return broker.Position{Epoch: epoch}
}
