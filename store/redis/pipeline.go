package redis

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// Script calls of concurrent publishes share round trips. Measured on a
// two-core machine, two nodes on one Redis with 32 publishers that each
// waited for its own round trip took 16,900 publishes/s, while the same
// redis-server ran the publish script 86,000 times a second when the
// calls came 16 to a pipeline: a round trip, not Redis, was the cost.
//
// Calls go by connection group, and a group has at most one pipeline in
// flight: a call that finds its group idle is sent at once, alone, with
// no timer to wait for company; the calls that arrive while a pipeline is
// in flight go together in the next one, up to maxBatch. One round trip
// at a time per group is what lets a busy group fill its pipelines: while
// Redis runs one, the next gathers.
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
	wg     sync.WaitGroup // the senders

	roundTrips atomic.Uint64 // pipelines sent, a resend of NOSCRIPT calls included
	calls      atomic.Uint64 // calls sent in them
}

// maxBatch bounds the calls of one pipeline, so that one pipeline's reply
// (about 70 bytes a call) stays small and a call waits behind at most
// maxBatch-1 others. Pipelines of 16 already reach Redis's own rate.
const maxBatch = 64

// pipeliner is the client a group sends through.
type pipeliner interface {
	Pipeline() goredis.Pipeliner
}

// groupKey names a connection group.
type groupKey struct {
	client pipeliner
}

// errNoTurn is what a call whose context ended before it was sent wraps.
// Waiting for its turn in its group is this call's wait for a connection,
// so it wraps go-redis's pool timeout, which failPublish counts as a call
// that never reached Redis: nothing was published.
var errNoTurn = fmt.Errorf("herald/redis: ended before its turn in the pipeline: %w", goredis.ErrPoolTimeout)

// run sends the script call through c's group and returns its reply. When
// ctx ends first, run returns at once: an error wrapping ctx's and
// errNoTurn when the call had not been sent, ctx's alone when it had; the
// pipeline goes on without its caller, and the call may have run.
func (p *pipelines) run(ctx context.Context, c pipeliner, s *goredis.Script, keys []string, args ...any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %w", err, errNoTurn)
	}
	b := p.group(c)
	call := callPool.Get().(*scriptCall)
	call.script, call.keys, call.args = s, keys, args
	if b.enqueue(call) {
		p.startSender(b)
	}
	select {
	case <-call.done:
		reply, err := call.reply, call.err
		call.release()
		return reply, err
	case <-ctx.Done():
		if b.withdraw(call) {
			return "", fmt.Errorf("%w: %w", ctx.Err(), errNoTurn)
		}
		return "", ctx.Err() // call still belongs to the sender: not released
	}
}

// group returns c's batcher, made on first use.
func (p *pipelines) group(c pipeliner) *batcher {
	k := groupKey{client: c}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.groups[k]
	if b == nil {
		if p.groups == nil {
			p.groups = make(map[groupKey]*batcher)
		}
		b = &batcher{p: p, pipe: c.Pipeline()}
		p.groups[k] = b
	}
	return b
}

// startSender starts b's sender, which the caller was chosen to start; after
// close, it fails what waits instead.
func (p *pipelines) startSender(b *batcher) {
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if closed {
		b.failAll(goredis.ErrClosed)
		return
	}
	go func() {
		defer p.wg.Done()
		b.sendAll()
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

// A scriptCall is one call waiting for its reply. Its states move under its
// batcher's mu: queued, then sent by the sender or withdrawn by its caller.
type scriptCall struct {
	script *goredis.Script
	keys   []string
	args   []any
	state  callState
	cmd    *goredis.Cmd // while in a pipeline

	reply string
	err   error
	done  chan struct{} // one value once reply and err are set
}

type callState uint8

const (
	queued callState = iota
	sent
	withdrawn
)

// callPool keeps calls with their channels. A call goes back only from a
// caller that got its reply; one its caller left is the sender's still.
var callPool = sync.Pool{New: func() any { return &scriptCall{done: make(chan struct{}, 1)} }}

func (c *scriptCall) release() {
	*c = scriptCall{done: c.done}
	callPool.Put(c)
}

// finish hands the call its reply. The sender must not touch c after it.
func (c *scriptCall) finish() {
	c.reply, c.err = c.cmd.Text()
	c.cmd = nil
	c.done <- struct{}{}
}

// batcher is one connection group: the calls waiting for it, and whether
// its sender runs.
type batcher struct {
	p       *pipelines
	mu      sync.Mutex
	queue   []*scriptCall
	sending bool

	// The sender's own, reused from one pipeline to the next: one sender
	// runs at a time.
	pipe   goredis.Pipeliner
	batch  []*scriptCall
	resend []*scriptCall
}

// enqueue adds c to the queue and reports whether the caller must start
// the sender: none runs, so c goes at once.
func (b *batcher) enqueue(c *scriptCall) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queue = append(b.queue, c)
	if b.sending {
		return false
	}
	b.sending = true
	return true
}

// withdraw takes c out of the next pipeline, unless it was sent already.
func (b *batcher) withdraw(c *scriptCall) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.state != queued {
		return false
	}
	c.state = withdrawn
	return true
}

// sendAll sends pipelines while calls wait, then stops: a group costs no
// goroutine while idle.
func (b *batcher) sendAll() {
	for batch := b.take(); len(batch) > 0; batch = b.take() {
		b.send(batch)
		clear(batch)
	}
}

// take moves up to maxBatch waiting calls into the sender's batch and marks
// them sent. Finding none, it ends the sending, under the same lock that
// enqueue takes, so that a call never waits with no sender.
func (b *batcher) take() []*scriptCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	batch := b.batch[:0]
	i := 0
	for ; i < len(b.queue) && len(batch) < maxBatch; i++ {
		if c := b.queue[i]; c.state == queued {
			c.state = sent
			batch = append(batch, c)
		}
	}
	n := copy(b.queue, b.queue[i:])
	clear(b.queue[n:])
	b.queue = b.queue[:n]
	b.batch = batch
	if len(batch) == 0 {
		b.sending = false
	}
	return batch
}

// send runs batch as one pipeline and hands every call its reply. Each call
// gets its own: a refusal fails that call alone, and a failure of the
// pipeline (go-redis then sets its error on every call whose reply it had
// not read, and on those it had) fails them all as sent. A call Redis
// answered NOSCRIPT did not run: Redis lost its script cache, and such
// calls are sent again by EVAL, which loads the script, as Script.Run does.
//
// The context has no deadline: the client's read and write timeouts bound
// the round trip, and the pipeline must not end with the caller that
// started it.
func (b *batcher) send(batch []*scriptCall) {
	ctx := context.Background()
	for _, c := range batch {
		c.cmd = c.script.EvalSha(ctx, b.pipe, c.keys, c.args...)
	}
	b.exec(ctx, len(batch))
	resend := b.resend[:0]
	for _, c := range batch {
		if goredis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			c.cmd = c.script.Eval(ctx, b.pipe, c.keys, c.args...)
			resend = append(resend, c)
			continue
		}
		c.finish()
	}
	if len(resend) > 0 {
		b.exec(ctx, len(resend))
		for _, c := range resend {
			c.finish()
		}
	}
	clear(resend)
	b.resend = resend
}

// exec sends what b.pipe holds. Its error is on the calls' own commands.
func (b *batcher) exec(ctx context.Context, calls int) {
	b.p.roundTrips.Add(1)
	b.p.calls.Add(uint64(calls))
	_, _ = b.pipe.Exec(ctx)
}

// failAll hands every waiting call err, and ends the sending.
func (b *batcher) failAll(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.queue {
		if c.state == queued {
			c.state = sent
			c.err = err
			c.done <- struct{}{}
		}
	}
	clear(b.queue)
	b.queue = b.queue[:0]
	b.sending = false
}
