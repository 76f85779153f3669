package broker

import "sync"

// DeferredConn is a Conn that can queue a frame without starting its write
// at once. Fan-out queues a message on every subscriber first and then
// starts each writer once, so that one pass of a writer carries the whole
// fan-out (and the next ones, when they come close together) instead of
// racing it one connection at a time, a write per frame.
type DeferredConn interface {
	Conn
	// SendDeferred queues frame as Send does. When the write still has to
	// be started it leaves that to a Flusher of b, adding one to b when b
	// has none of its own yet; the caller calls b.Flush once it has queued
	// everything of its batch, at once: no timer does it instead.
	SendDeferred(frame []byte, b *Batch) bool
}

// Flusher starts the writes a batch left to it. A transport keeps one per
// writer (event loop) and batch, which gathers that writer's connections
// of the batch and hands them over together: a fan-out to thousands of
// connections costs each writer one hand-over, not one per connection.
type Flusher interface {
	Flush()
}

// Batch is the deferred writes of one fan-out: the Flushers its
// connections left their writes to. One goroutine uses a batch at a time.
// Its zero value is an empty batch.
type Batch struct {
	flushers []Flusher
}

// Flushers returns the batch's Flushers so far, for a DeferredConn to
// find its own among them; valid until the batch's next Add or Flush.
func (b *Batch) Flushers() []Flusher { return b.flushers }

// Add puts f in the batch, to be flushed once with it.
func (b *Batch) Add(f Flusher) {
	for _, have := range b.flushers {
		if have == f {
			return
		}
	}
	b.flushers = append(b.flushers, f)
}

// Flush starts every deferred write and empties the batch for reuse.
func (b *Batch) Flush() {
	for _, f := range b.flushers {
		f.Flush()
	}
	clear(b.flushers)
	b.flushers = b.flushers[:0]
}

// batchPool keeps Batches between the fan-outs that have no scratch of
// their own (presence changes), so that their arrays are reused.
var batchPool = sync.Pool{New: func() any { return new(Batch) }}

// send queues frame on c, deferring the start of its write when c allows.
func (b *Batch) send(c Conn, frame []byte) bool {
	if dc, ok := c.(DeferredConn); ok {
		return dc.SendDeferred(frame, b)
	}
	return c.Send(frame)
}
