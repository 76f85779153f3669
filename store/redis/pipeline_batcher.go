package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

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
