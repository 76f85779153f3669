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

// batcher is one connection group: the calls waiting for it, and its
// senders.
type batcher struct {
	p      *pipelines
	client scriptClient

	mu      sync.Mutex
	queue   []*scriptCall
	senders int       // pipelines in flight, up to maxSenders
	idle    []*sender // kept from one busy spell to the next
}

// sender is what a running sender reuses from one pipeline to the next.
type sender struct {
	pipe   goredis.Pipeliner
	batch  []*scriptCall
	resend []*scriptCall
}

// enqueue returns a sender for the caller to send c with when fewer than
// maxSenders run; otherwise it adds c to the queue and returns nil.
func (b *batcher) enqueue(c *scriptCall) *sender {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.senders == maxSenders {
		b.queue = append(b.queue, c)
		return nil
	}
	c.state = sent
	b.senders++
	if n := len(b.idle); n > 0 {
		s := b.idle[n-1]
		b.idle = b.idle[:n-1]
		return s
	}
	return &sender{pipe: b.client.Pipeline()}
}

// wait returns c's reply, or leaves when ctx ends or deadline passes (see
// pipelines.run).
func (b *batcher) wait(ctx context.Context, deadline time.Time, c *scriptCall) (string, error) {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		expired = c.startTimer(time.Until(deadline))
	}
	var err error
	select {
	case <-c.done:
		c.stopTimer()
		reply, err := c.reply, c.err
		c.release()
		return reply, err
	case <-ctx.Done():
		err = ctx.Err()
	case <-expired:
		err = context.DeadlineExceeded
	}
	c.stopTimer()
	if b.withdraw(c) {
		return "", fmt.Errorf("%w: %w", err, errNoTurn)
	}
	return "", err // c still belongs to its sender: not released
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

// sendAll sends pipelines while calls wait, then stops.
func (b *batcher) sendAll(s *sender) {
	for batch := b.take(s); len(batch) > 0; batch = b.take(s) {
		s.send(b.p, batch)
		clear(batch)
	}
}

// take moves up to maxBatch waiting calls into s's batch and marks them
// sent. Finding none, it stops s, under the lock enqueue takes, so that a
// call waits only while maxSenders run.
func (b *batcher) take(s *sender) []*scriptCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	batch := s.batch[:0]
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
	s.batch = batch
	if len(batch) == 0 {
		b.stopLocked(s)
	}
	return batch
}

func (b *batcher) stopLocked(s *sender) {
	b.senders--
	b.idle = append(b.idle, s)
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
func (s *sender) send(p *pipelines, batch []*scriptCall) {
	ctx := context.Background()
	for _, c := range batch {
		c.cmd = c.evalSha(ctx)
		_ = s.pipe.Process(ctx, c.cmd)
	}
	s.exec(ctx, p, len(batch))
	resend := s.resend[:0]
	for _, c := range batch {
		if noScript(c.cmd.Err()) {
			c.cmd = c.eval(ctx, s.pipe)
			resend = append(resend, c)
			continue
		}
		c.finish()
	}
	if len(resend) > 0 {
		s.exec(ctx, p, len(resend))
		for _, c := range resend {
			c.finish()
		}
	}
	clear(resend)
	s.resend = resend
}

// exec sends what s.pipe holds. Its error is on the calls' own commands.
func (s *sender) exec(ctx context.Context, p *pipelines, calls int) {
	p.count(calls)
	_, _ = s.pipe.Exec(ctx)
}

// failAll hands every waiting call err, and stops s.
func (b *batcher) failAll(s *sender, err error) {
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
	b.stopLocked(s)
}
