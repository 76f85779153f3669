//go:build linux

package transport

import (
	"sync"

	"github.com/herald-broker/herald/broker"
)

// A fan-out's writes to one loop's connections, handed over together.

// deferral returns l's part of b, which puts the batch's connections of l
// on the pending list together when the caller flushes b: no lock is
// taken per connection. A connection stays scheduled meanwhile, so it is
// handed over once.
func (l *loop) deferral(b *broker.Batch) deferral {
	for _, f := range b.Flushers() {
		if lb, ok := f.(*loopBatch); ok && lb.loop == l {
			return lb
		}
	}
	lb := loopBatches.Get().(*loopBatch)
	now := monoNow()
	lb.loop, lb.since, lb.now, lb.stamps = l, now, now, 0
	b.Add(lb)
	return lb
}

// stampEvery is how many stamps a loopBatch gives from one clock reading:
// a frame's stamp is then older than the frame by the time to queue as
// many frames, a few microseconds, which overstates its wait a little,
// never understates it.
const stampEvery = 64

// loopBatch is one loop's part of a broker.Batch: the connections of the
// batch that the loop is to write. Only the batch's goroutine touches it
// until Flush gives it back to loopBatches.
type loopBatch struct {
	loop   *loop
	conns  []*conn
	since  int64 // its first clock reading, before any of its frames was queued
	now    int64 // its last clock reading
	stamps int   // stamps given since
}

func (lb *loopBatch) stamp() int64 {
	if lb.stamps++; lb.stamps == stampEvery {
		lb.now, lb.stamps = monoNow(), 0
	}
	return lb.now
}

func (lb *loopBatch) take(c *conn) { lb.conns = append(lb.conns, c) }

// loopBatches keeps loopBatch values and their arrays between fan-outs,
// so that a fan-out allocates none.
var loopBatches = sync.Pool{New: func() any { return new(loopBatch) }}

// Flush puts the batch's connections on the pending list under one lock,
// stamped with the batch's start if that is older than the list's stamp,
// and wakes the loop when the list was empty: a list that was not has a
// wake on the way (broker.Flusher).
func (lb *loopBatch) Flush() {
	l := lb.loop
	l.mu.Lock()
	if !l.exited && len(lb.conns) > 0 {
		empty := len(l.pending) == 0
		l.pending = append(l.pending, lb.conns...)
		if t := l.lag.pending.Load(); t == 0 || lb.since < t {
			l.lag.pending.Store(lb.since)
		}
		if empty {
			l.wake() // under l.mu: the poller is closed only once exited is set
		}
	}
	l.mu.Unlock()
	clear(lb.conns)
	lb.conns, lb.loop = lb.conns[:0], nil
	loopBatches.Put(lb)
}
