package redis

import (
	"context"
	"time"

	"github.com/herald-broker/herald/broker"
)

// Publish runs the publish script: idempotency check, next seq, history,
// and delivery to every node, in one atomic step. A publish with an
// idempotency key may be retried by go-redis, since a second run answers
// the first one's result; one without is sent once. An error wraps
// broker.ErrOutcomeUnknown when the publish may have run (see failPublish).
func (e *Engine) Publish(ctx context.Context, req broker.PublishRequest) (broker.PublishResult, error) {
	if err := broker.CheckTopic(req.Topic); err != nil { // a brace would break the key layout
		return broker.PublishResult{}, err
	}
	deadline := time.Now().Add(e.cfg.Timeout)
	rdb := e.once
	if req.IdempotencyKey != "" {
		rdb = e.rdb
	}
	classic, sharded := e.channels()
	call := newCall()
	call.publishCommand(e.keys, req, classic, sharded, e.publishOpts)
	reply, err := e.pubs.runCall(ctx, deadline, rdb, call)
	if err != nil {
		return broker.PublishResult{}, e.failPublish(err)
	}
	e.refused.clear()
	return parseResult(req.Topic, reply)
}

// channels says where messages are published: on their classic channel,
// and on Cluster on their sharded one; there the classic channel, which
// only pattern subscriptions use, is left out while no node holds a
// pattern.
func (e *Engine) channels() (classic, sharded bool) {
	if !e.shards.on() {
		return true, false
	}
	return e.patterns.open(), true
}
