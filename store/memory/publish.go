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
		if res, ok := e.publishTo(e.topics.lookup(req.Topic, e.clock()), req); ok {
			return res, nil
		}
	}
}

// publishTo publishes on tp and delivers; ok is false when tp was freed
// meanwhile and the caller must look the topic up again.
func (e *Engine) publishTo(tp *topic, req broker.PublishRequest) (res broker.PublishResult, ok bool) {
	tp.publishMu.Lock()
	defer tp.publishMu.Unlock()
	res, m, ok := e.place(tp, req)
	if m != nil {
		if h := e.handler.Load(); h != nil {
			(*h).HandleMessage(m)
		}
	}
	return res, ok
}

// place takes the seq and stores the message, or finds the idempotency
// key's first result (m is then nil). Callers hold tp.publishMu, which makes
// the key's check and its recording one step for the topic. The clock is
// read once the topic is held, so a topic's publish times never go back.
func (e *Engine) place(tp *topic, req broker.PublishRequest) (res broker.PublishResult, m *broker.Message, ok bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	now := e.clock()
	if tp.dead {
		return res, nil, false
	}
	if req.IdempotencyKey != "" {
		if first, found := e.idem.get(req.Topic, req.IdempotencyKey, now); found {
			return first, nil, true
		}
	}
	tp.renewIfIdle(now, e.ttl())
	m = tp.append(req, now, e.cfg.HistorySize)
	res = broker.PublishResult{Topic: m.Topic, Epoch: m.Epoch, Seq: m.Seq, ID: m.ID}
	if req.IdempotencyKey != "" {
		e.idem.put(req.Topic, req.IdempotencyKey, res, now)
	}
	return res, m, true
}
