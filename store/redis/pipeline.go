package redis

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Script calls of concurrent publishes share round trips. Measured on a
// two-core machine, two nodes on one Redis with 32 publishers that each
// waited for its own round trip took 16,900 publishes/s, while the same
// redis-server ran the publish script 86,000 times a second when the
// calls came 16 to a pipeline: a round trip, not Redis, was the cost.
//
// Calls go by connection group, and a group has at most maxSenders
// pipelines in flight. A call that finds fewer is sent at once by its own
// caller, alone, as it would be without batching: no timer waits for
// company and no goroutine is woken for it. A call that finds them all in
// flight waits; the caller whose round trip ends first with calls waiting
// hands its place to a sender goroutine, which sends them, up to maxBatch
// a pipeline, until none wait. So an idle group costs no goroutine, and a
// busy one fills its pipelines while Redis runs the ones in flight.
//
// Today a group is one client. The engine's keyed and unkeyed publishes use
// different clients (Engine.once), so they never share a pipeline: the
// keyed client resends a whole pipeline whose connection broke, which is
// safe only for calls an idempotency key protects. A pipeline goes to one
// server, so a Cluster mode keys groups by the master of a call's slot too
// (groupKey).
type pipelines struct {
	mu     sync.Mutex
	groups map[groupKey]*batcher
	closed bool           // set by close: no sender starts after it
	wg     sync.WaitGroup // the sender goroutines

	roundTrips atomic.Uint64 // pipelines sent, a resend of NOSCRIPT calls included
	calls      atomic.Uint64 // calls sent in them
}

// maxBatch bounds the calls of one pipeline, so that one pipeline's reply
// (about 70 bytes a call) stays small and a call waits behind at most
// maxBatch-1 others. Pipelines of 16 already reach Redis's own rate.
const maxBatch = 64

// maxSenders bounds the pipelines of one group in flight at once: two, so
// that one can be on the wire or in the client while Redis runs the other,
// and two publishers on a node each send their own call at once as they
// did before batching. With one, two such publishers took turns, 11 to 14 %
// below the rate without batching; with 32 publishers, two places did as
// well as one or better.
const maxSenders = 2

// scriptClient is the client a group sends through: a call alone as a
// command, calls together as a pipeline.
type scriptClient interface {
	goredis.Scripter
	Process(ctx context.Context, cmd goredis.Cmder) error
	Pipeline() goredis.Pipeliner
}

// groupKey names a connection group.
type groupKey struct {
	client scriptClient
}

// errNoTurn is what a call whose context ended before it was sent wraps.
// Waiting for its turn in its group is this call's wait for a connection,
// so it wraps go-redis's pool timeout, which failPublish counts as a call
// that never reached Redis: nothing was published.
var errNoTurn = fmt.Errorf("herald/redis: ended before its turn in the pipeline: %w", goredis.ErrPoolTimeout)

// run sends the script call through c's group and returns its reply.
//
// A caller that sends its own call sends it as Script.Run does, as before
// batching, and so waits for its reply within the client's read timeout
// whatever ctx does. A caller whose call waits, or went in another's
// pipeline, returns when ctx ends: with an error wrapping ctx's and
// errNoTurn when the call was not sent, with ctx's alone when it was, and
// then the pipeline goes on without it and the call may run.
func (p *pipelines) run(ctx context.Context, c scriptClient, script *goredis.Script, keys []string, args ...any) (string, error) {
	call := newCall()
	call.setCommand(script, keys, args)
	return p.runCall(ctx, time.Time{}, c, call)
}

// runCall is run for a call whose command is set (newCall, then
// setCommand or publishCommand), and ends it at deadline as well (zero:
// at ctx's alone), as a context with that deadline would. A context is
// made for it only when the call is sent by its caller: one made for
// every publish took 5 of its 12 allocations in the engine, and most
// calls wait for a pipeline under load, where a timer kept with the call
// does. The call is the pipelines' from then on: the caller must not
// touch it again.
func (p *pipelines) runCall(ctx context.Context, deadline time.Time, c scriptClient, call *scriptCall) (string, error) {
	if err := ctx.Err(); err != nil {
		call.release()
		return "", fmt.Errorf("%w: %w", err, errNoTurn)
	}
	b := p.group(c)
	s := b.enqueue(call)
	if s == nil {
		return b.wait(ctx, deadline, call)
	}
	// A place in flight was free, so no call waits: this one goes now,
	// alone, on its caller's goroutine and with its context, as it did
	// before batching.
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	p.count(1)
	cmd := call.evalSha(ctx)
	_ = c.Process(ctx, cmd)
	if noScript(cmd.Err()) { // see sender.send
		p.count(1)
		cmd = call.eval(ctx, c)
	}
	p.handOff(b, s)
	reply, err := cmd.Text()
	call.release()
	return reply, err
}

// noScript reports whether err is Redis's answer to a script it does not
// have cached. goredis.HasErrorPrefix allocates even for a nil error, and
// nearly every call has none.
func noScript(err error) bool {
	return err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT")
}

// count counts a round trip of calls.
func (p *pipelines) count(calls int) {
	p.roundTrips.Add(1)
	p.calls.Add(uint64(calls))
}

// group returns c's batcher, made on first use.
func (p *pipelines) group(c scriptClient) *batcher {
	k := groupKey{client: c}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.groups[k]
	if b == nil {
		if p.groups == nil {
			p.groups = make(map[groupKey]*batcher)
		}
		b = &batcher{p: p, client: c}
		p.groups[k] = b
	}
	return b
}

// handOff gives s, whose round trip ended, to a sender goroutine when
// calls wait, and stops it otherwise.
func (p *pipelines) handOff(b *batcher, s *sender) {
	b.mu.Lock()
	waiting := len(b.queue) > 0
	if !waiting {
		b.stopLocked(s)
	}
	b.mu.Unlock()
	if waiting {
		p.startSender(b, s)
	}
}

// startSender starts s on b's queue; after close, it fails what waits
// instead.
func (p *pipelines) startSender(b *batcher, s *sender) {
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if closed {
		b.failAll(s, goredis.ErrClosed)
		return
	}
	go func() {
		defer p.wg.Done()
		b.sendAll(s)
	}()
}

// close starts no more senders and waits for those running. Close the
// clients first: that ends their round trips at once.
func (p *pipelines) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}
