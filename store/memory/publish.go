package memory

import (
	"context"

	"github.com/herald-broker/herald/broker"
)

// Publish gives req the next seq of its topic, keeps it in history, and
// hands it to the Handler before returning, while still holding the topic:
// deliveries of one topic follow seq order and never overlap, different
// topics run in parallel. A request whose IdempotencyKey was used on the
// same topic within the idempotency TTL returns the first result and
// publishes nothing.
//
// req.Data becomes the engine's: it is kept in history and handed to the
// Handler as it is, so the caller must not modify it afterwards (the broker
// gives every publish a buffer of its own).
func (e *Engine) Publish(ctx context.Context, req broker.PublishRequest) (broker.PublishResult, error) {
	if err := e.usable(ctx); err != nil {
		return broker.PublishResult{}, err
	}
	if err := checkTopic(req.Topic); err != nil {
		return broker.PublishResult{}, err
	}
	if req.ID == "" {
		return broker.PublishResult{}, broker.Errorf(broker.CodeInternal, "publish to %q without a message id", req.Topic)
	}
	for {
		if res, ok := e.publishTo(e.topics.lookup(req.Topic, e.lives, e.clock), req); ok {
			return res, nil
		}
	}
}

// publishTo publishes on tp and delivers; ok is false when tp was dropped
// meanwhile and the caller must look the topic up again.
func (e *Engine) publishTo(tp *topic, req broker.PublishRequest) (res broker.PublishResult, ok bool) {
	tp.publishMu.Lock()
	defer tp.publishMu.Unlock()
	res, m, dropped, ok := e.place(tp, req)
	e.topics.remove(dropped)
	if m != nil {
		if h := e.handler.Load(); h != nil {
			(*h).HandleMessage(m)
		}
	}
	return res, ok
}

// place takes the seq and stores the message, or finds the idempotency
// key's first result (m is then nil); dropped are the topics the budget
// took the state of to make room. Callers hold tp.publishMu, which makes
// the key's check and its recording one step for the topic. The clock is
// read once the topic is held, so a topic's publish times never go back.
func (e *Engine) place(tp *topic, req broker.PublishRequest) (res broker.PublishResult, m *broker.Message, dropped []*topic, ok bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	now := e.clock()
	if tp.dead.Load() {
		return res, nil, nil, false
	}
	if first, found := e.firstResult(tp, req, now); found {
		return first, nil, nil, true
	}
	tp.renewIfIdle(now, e.ttl(), e.lives)
	m = tp.append(req, now, e.cfg.HistorySize)
	res = broker.PublishResult{Topic: m.Topic, Epoch: m.Epoch, Seq: m.Seq, ID: m.ID}
	evicted := 0
	if req.IdempotencyKey != "" {
		first := idemEntry{epoch: m.Epoch, seq: m.Seq, id: m.ID, at: now}
		evicted = tp.keys.put(req.IdempotencyKey, first, e.cfg.IdempotencyKeysPerTopic)
	}
	return res, m, e.account(tp, evicted), true
}

// firstResult returns the result of the first publish with req's
// idempotency key on tp, if one is remembered. Callers hold tp.mu.
func (e *Engine) firstResult(tp *topic, req broker.PublishRequest, now int64) (broker.PublishResult, bool) {
	if req.IdempotencyKey == "" {
		return broker.PublishResult{}, false
	}
	if tp.keys.expire(now, int64(e.cfg.IdempotencyTTL)) > 0 {
		e.recharge(tp)
	}
	first, found := tp.keys.get(req.IdempotencyKey)
	if !found {
		return broker.PublishResult{}, false
	}
	return broker.PublishResult{Topic: tp.name, Epoch: first.epoch, Seq: first.seq, ID: first.id}, true
}
