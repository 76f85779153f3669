package redis

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/herald-broker/herald/broker"
)

// Publish runs the publish script: idempotency check, next seq, history,
// and delivery to every node, in one atomic step. A publish with an
// idempotency key may be retried by go-redis, since a second run answers
// the first one's result; go-redis sends one without once. An error wraps
// broker.ErrOutcomeUnknown when the publish may have run (see failPublish).
//
// On Cluster a publish that certainly did not run for want of its master
// (see neverRan) is sent again, after short pauses, until the timeout, as
// Subscribe is: right after a failover the slot map still names the dead
// master. Measured on a 3-master cluster on loopback, publishing every
// 20 ms through a node that held nothing on that master: in 4 failovers
// of 5, every publish failed so for 190 to 200 ms after the replica had
// taken over (go-redis reads the map again at most every 200 ms, and its
// first read came a moment too early); in the fifth, only the publish
// just before. A publish with a key fared no better: go-redis's own
// retries took 150 to 210 ms, then failed all the same.
//
// A try that finds its master due for the stamp of its run keys (the
// node's first script there after a failover, say) has the stamp done
// first (stampFirst), and its timeout moved on by the time that took:
// the stamps of one publish get stampWait timeouts in all, so a publish
// takes at most four timeouts. Inside the publish's own timeout, a stamp
// of 5,461 slots slowed by a busy machine failed the publish that found
// it due, and the publishes queued behind it in its pipelines. The
// script's hook still checks the master before the publish runs: no
// publish runs on a master whose run is not noted.
func (e *Engine) Publish(ctx context.Context, req broker.PublishRequest) (broker.PublishResult, error) {
	if err := broker.CheckTopic(req.Topic); err != nil { // a brace would break the key layout
		return broker.PublishResult{}, err
	}
	start := time.Now()
	deadline := start.Add(e.cfg.Timeout)
	rdb := e.once
	if req.IdempotencyKey != "" {
		rdb = e.rdb
	}
	var reply string
	try := func() (err error) {
		before := time.Now()
		if err = e.stampFirst(ctx, rdb, req.Topic, start.Add(stampWait*e.cfg.Timeout)); err != nil {
			return err
		}
		reply, err = e.publishOnce(ctx, deadline.Add(time.Since(before)), rdb, req)
		if stampOutran(ctx, err) {
			if err = e.stampFirst(ctx, rdb, req.Topic, start.Add(stampWait*e.cfg.Timeout)); err != nil {
				return err
			}
			reply, err = e.publishOnce(ctx, time.Now().Add(e.cfg.Timeout), rdb, req)
		}
		return err
	}
	err := try()
	if err != nil && e.shards.on() {
		// A new call each time, on this goroutine: no pipeline waits for it.
		err = e.againForMaster(ctx, deadline, err, neverRan, e.noteRefused, try)
	}
	if err != nil {
		return broker.PublishResult{}, e.failPublish(err)
	}
	e.refused.clear()
	return parseResult(req.Topic, reply)
}

// publishOnce sends req's publish call once, through rdb's pipelines.
func (e *Engine) publishOnce(ctx context.Context, deadline time.Time, rdb scriptClient, req broker.PublishRequest) (string, error) {
	classic, sharded := e.channels()
	call := newCall()
	call.publishCommand(e.keys, req, classic, sharded, e.publishOpts, e.runArg)
	return e.pubs.runCall(ctx, deadline, rdb, call)
}

// noteRefused counts a publish that did not run for want of its master,
// and has the slot map read again.
func (e *Engine) noteRefused(err error) {
	e.stats.failed(err)
	e.reloadOnTrouble()
}

// neverRan reports an error by which a call certainly did not run on
// Redis: no connection to the node the slot map named could be dialled,
// or the node refused it for its slot (see slotElsewhere). A connection
// that broke or timed out after the call was written is not one: the
// call may have run, and sent again it could publish twice.
func neverRan(err error) bool {
	var op *net.OpError
	return (errors.As(err, &op) && op.Op == "dial") || slotElsewhere(err)
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
