package transport

// outQueue is a connection's write queue. A connection holds one only
// while it has something to write or was written to since the last sweep
// (conn.expired), so that an idle connection pays 8 bytes for it, not 48;
// a connection that gets a frame after an idle sweep allocates one again,
// as it allocated its array before. Guarded by the connection's mu.
type outQueue struct {
	frames [][]byte // queued frames, shared and immutable; first's until it outgrows it
	queued int32    // unwritten bytes in frames (under MaxQueueBytes and a close frame)
	offset int32    // bytes of frames[0] already written (a frame is under MaxQueueBytes)
	// own is where the connection's own bytes lie in frames, those it
	// counted in its address's AddressQueue and has not given back
	// (ownbytes.go); nil until its first.
	own     *ownBytes
	closeBy int64 // monotonic deadline of a closing connection (conn.startClosing)
	// first is frames' array while it holds at most two frames: the
	// queue and its usual array are one allocation (96 bytes, a size
	// class).
	first [2][]byte
}

func newOutQueue() *outQueue {
	q := new(outQueue)
	q.frames = q.first[:0]
	return q
}

// add appends frame. When frames outgrows first, first is cleared, so
// that it keeps no written frame alive.
func (q *outQueue) add(frame []byte) {
	if len(q.frames) == cap(q.frames) && q.inFirst() {
		grown := make([][]byte, len(q.frames), 2*cap(q.frames)+2)
		copy(grown, q.frames)
		clear(q.first[:])
		q.frames = grown
	}
	q.frames = append(q.frames, frame)
}

// pushFront puts frame before the queued frames, none of which was
// written yet.
func (q *outQueue) pushFront(frame []byte) {
	q.add(nil)
	copy(q.frames[1:], q.frames[:len(q.frames)-1])
	q.frames[0] = frame
}

// inFirst reports whether frames lives in first.
func (q *outQueue) inFirst() bool {
	return cap(q.frames) == len(q.first) && &q.frames[:1][0] == &q.first[0]
}

// shrink gives back a grown array once the queue is empty.
func (q *outQueue) shrink() {
	if len(q.frames) == 0 && !q.inFirst() {
		q.frames = q.first[:0]
	}
}

// outLocked returns c's queue, making one if c has none. Called with c.mu held.
func (c *conn) outLocked() *outQueue {
	if c.out == nil {
		c.out = newOutQueue()
	}
	return c.out
}

// queuedBytes is what c has queued and not written. Called with c.mu held.
func (c *conn) queuedBytes() int {
	if c.out == nil {
		return 0
	}
	return int(c.out.queued)
}
