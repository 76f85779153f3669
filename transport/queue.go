package transport

import "github.com/herald-broker/herald/broker"

// The write queue. Every frame the server sends a client passes through
// push and counts toward MaxQueueBytes: messages and replies, and since
// 1.1 pongs, heartbeat pings and close frames too (docs/protocol.md section 6),
// so that nothing a client provokes can grow the queue past the bound.
// Whatever overflows it gets the one answer of a slow reader: the queue is
// dropped and the connection closed with 4000.

// pushed is what became of a frame offered to the queue.
type pushed uint8

const (
	refused    pushed = iota // the connection is closing: the frame is dropped
	taken                    // the frame is queued
	overflowed               // it did not fit: the queue is dropped and 4000 follows
)

// frameKind says whose a queued frame is, for the AddressQueue.
type frameKind uint8

const (
	ownFrame    frameKind = iota // made for this connection alone: counted in its address's AddressQueue
	fannedFrame                  // a broker fan-out's, shared by the message's subscribers (conn.fanned)
	serverFrame                  // the transport's own: a shared ping, a close frame
)

// Send queues frame (broker.Conn), the connection's own. It never
// blocks and never copies.
func (c *conn) Send(frame []byte) bool {
	return c.send(frame, ownFrame)
}

// send queues frame of kind and tells the driver.
func (c *conn) send(frame []byte, kind frameKind) bool {
	res, wake := c.queueAt(frame, false, 0, kind)
	c.wake(wake)
	return res == taken
}

// QueuedBytes is what c has queued and not yet written
// (broker.QueueLengther).
func (c *conn) QueuedBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queuedBytes()
}

// SendDeferred queues frame like Send but leaves the start of the write
// to b (broker.DeferredConn).
func (c *conn) SendDeferred(frame []byte, b *broker.Batch) bool {
	d, deferring := c.drv.(deferringDriver)
	if !deferring {
		return c.send(frame, fannedFrame)
	}
	part := d.deferral(b)
	res, wake := c.queueAt(frame, false, part.stamp(), fannedFrame)
	if wake {
		part.take(c)
	}
	return res == taken
}

// deferral is a deferring driver's part of one broker.Batch: the
// connections of the batch it is to write, handed over when the batch is
// flushed. In a fan-out every connection's queue goes from empty to
// non-empty, and a clock read for each (conn.since) cost half of the
// transport's share of it: a deferral reads the clock once for many.
type deferral interface {
	// stamp is a time to stamp a frame queued now with: a clock reading
	// taken a few calls ago, never after the call.
	stamp() int64
	// take keeps c, whose queue went non-empty, for the batch's Flush.
	take(c *conn)
}

// queue offers frame, a close frame when isClose, and counts an overflow's
// close; wake says the driver must be told.
func (c *conn) queue(frame []byte, isClose bool) (res pushed, wake bool) {
	return c.queueAt(frame, isClose, 0, serverFrame)
}

// queueAt is queue for a frame of kind queued at the monotonic time at
// (0: now). A fan-out's frame (SendDeferred) marks c's next batch as one
// that carries fan-out (conn.fanned).
func (c *conn) queueAt(frame []byte, isClose bool, at int64, kind frameKind) (res pushed, wake bool) {
	c.mu.Lock()
	res = c.pushOwn(frame, isClose, kind == ownFrame)
	if res != refused {
		wake = c.markScheduledAt(at)
	}
	if res == taken && kind == fannedFrame {
		c.fanned = true
	}
	c.mu.Unlock()
	if res == overflowed {
		c.closedWith(false, broker.CloseSlowConsumer)
	}
	return res, wake
}

// queueProbe queues a probe ping behind frames that wait to be written
// (probe_linux.go), of which the caller's write batched the first
// batched. A probe is never worth a close: it is not queued when nothing
// waits, the connection closes, or it would cross the bound. next says
// the probe comes right after the batched frames, so that the caller may
// add it to its write.
func (c *conn) queueProbe(frame []byte, batched int) (queued, next bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queuedBytes()
	if c.closing || c.dropQueue || q == 0 || q+len(frame) > c.lim.maxQueue {
		return false, false
	}
	if c.push(frame, false) != taken {
		return false, false
	}
	return true, len(c.out.frames) == batched+1
}

// queueProbeIdle is queueProbe for a connection that may have nothing
// queued; wake says the caller must flush it.
func (c *conn) queueProbeIdle(frame []byte) (queued, wake bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.dropQueue || c.queuedBytes()+len(frame) > c.lim.maxQueue {
		return false, false
	}
	if c.push(frame, false) != taken {
		return false, false
	}
	return true, c.markScheduled()
}

// push queues frame under the bound. Called with c.mu held.
func (c *conn) push(frame []byte, isClose bool) pushed {
	return c.pushOwn(frame, isClose, false)
}

// pushOwn is push, counting frame toward c's address's AddressQueue when
// own: a frame past that bound overflows as one past c's own.
func (c *conn) pushOwn(frame []byte, isClose, own bool) pushed {
	if c.closing {
		return refused
	}
	if c.queuedBytes()+len(frame) > c.lim.maxQueue {
		return c.overflow()
	}
	q := c.outLocked()
	if own && !c.takeOwn(q, len(frame)) {
		return c.overflow()
	}
	q.add(frame)
	q.queued += int32(len(frame))
	c.sentSince = true
	if isClose {
		c.startClosing()
		c.closeQueued = true
	}
	return taken
}

// overflow starts the close of a slow reader. Called with c.mu held.
func (c *conn) overflow() pushed {
	c.startClosing()
	c.dropQueue = true // the writer's next batch drops it and sends 4000
	return overflowed
}

// markScheduled is called with c.mu held; it says whether the driver must
// be told.
func (c *conn) markScheduled() bool { return c.markScheduledAt(0) }

// markScheduledAt is markScheduled for a frame queued at the monotonic
// time at; 0: now, the clock is read only if the queue was empty.
func (c *conn) markScheduledAt(at int64) bool {
	if c.scheduled {
		return false
	}
	c.scheduled = true
	if at == 0 {
		at = monoNow()
	}
	c.since.Store(at) // the queue was empty: its oldest frame is this one
	return true
}

func (c *conn) wake(needed bool) {
	if needed {
		c.drv.schedule(c)
	}
}

// batch appends to dst the unwritten bytes of up to max queued frames, for
// one writev. The slices stay valid after the lock is released: frames
// only leave the queue through written, which the same writer calls.
func (c *conn) batch(dst [][]byte, max int) [][]byte {
	dst, _ = c.batchFanned(dst, max)
	return dst
}

// batchFanned is batch, and says whether a broker fan-out queued a frame
// since the last batch: the loop probes only writes that carry fan-out
// (probe_linux.go).
func (c *conn) batchFanned(dst [][]byte, max int) (_ [][]byte, fanned bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fanned, c.fanned = c.fanned, false
	if c.dropQueue {
		c.dropForSlowConsumer()
	}
	q := c.out
	if q == nil {
		return dst, fanned
	}
	for i, f := range q.frames {
		if i == max {
			break
		}
		if i == 0 {
			f = f[int(q.offset):]
		}
		dst = append(dst, f)
	}
	return dst, fanned
}

// dropForSlowConsumer keeps only a half-written head frame (cutting it would
// corrupt the stream) and queues the 4000 close frame after it: at most the
// bound and one close frame stay queued.
func (c *conn) dropForSlowConsumer() {
	keep := c.unfinished()
	q := c.outLocked() // closing made it
	c.lim.stats.droppedFrames(len(q.frames) - keep)
	clear(q.frames[keep:])
	q.frames = q.frames[:keep]
	q.queued = -q.offset
	for _, f := range q.frames {
		q.queued += int32(len(f))
	}
	c.ownKept(q, int(q.queued))
	frame := c.closeMessage(broker.CloseSlowConsumer, "slow consumer")
	q.add(frame)
	q.queued += int32(len(frame))
	c.closeQueued = true
	c.dropQueue = false
}

// written records that n more bytes went out. empty says the queue is
// drained (and c is no longer scheduled); closeSent that the close frame
// was among them.
func (c *conn) written(n int) (empty, closeSent bool) { return c.writtenOf(n, 0, 0) }

// writtenOf is written for a write of the batched frames that batch
// returned, taken at or after the monotonic time at: when all of them
// went out and batched was the whole queue, what is left was queued after
// at, which becomes c.since. at 0: not known.
func (c *conn) writtenOf(n, batched int, at int64) (empty, closeSent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.out
	if q == nil { // nothing was queued: a flush on a writable edge of an idle connection
		c.scheduled = false
		c.since.Store(0)
		return true, c.closeQueued
	}
	q.queued -= int32(n)
	c.ownWritten(q, n)
	done := 0
	for done < len(q.frames) && n > 0 {
		rest := len(q.frames[done]) - int(q.offset)
		if n < rest {
			q.offset += int32(n)
			n = 0
			break
		}
		n -= rest
		q.offset = 0
		done++
	}
	if done > 0 {
		if c.sse {
			c.midEvent = !endsEvent(q.frames[done-1])
		}
		left := copy(q.frames, q.frames[done:])
		clear(q.frames[left:]) // written frames are not retained
		q.frames = q.frames[:left]
	}
	if len(q.frames) > 0 || c.dropQueue {
		if at != 0 && done >= batched && batched < maxBatch {
			c.since.Store(at)
		}
		return false, false
	}
	c.scheduled = false
	c.since.Store(0)
	return true, c.closeQueued
}
