package transport

import (
	"time"

	"github.com/gobwas/ws"
)

// How a connection ends: a close started by either side or by a failure,
// the code it ended with, and the Receiver told once.

// CodeReceiver is a Receiver that wants to know how its connection ended:
// transport then calls DisconnectedWith in place of Disconnected, once,
// with the code of the close frame that started the close, whichever
// side sent it (1005 for a close frame without a code, 1006 when the
// connection just dropped without one). Webhooks report it
// (docs/protocol.md section 11, client_disconnected).
type CodeReceiver interface {
	Receiver
	DisconnectedWith(code int)
}

// closedWith records the code c's close started with and counts it.
func (c *conn) closedWith(byClient bool, code ws.StatusCode) {
	c.code.CompareAndSwap(0, int32(code))
	c.lim.stats.closed(byClient, code)
}

// closeCode is the code c ended with; abrupt: no close frame went
// either way.
func (c *conn) closeCode(abrupt bool) int {
	if code := c.code.Load(); code != 0 && !abrupt {
		return int(code)
	}
	return int(ws.StatusAbnormalClosure)
}

// disconnected tells r its connection is gone, with code when it wants it.
func disconnected(r Receiver, code int) {
	if cr, ok := r.(CodeReceiver); ok {
		cr.DisconnectedWith(code)
		return
	}
	r.Disconnected()
}

// Close queues a close frame after what is queued (broker.Conn); the
// socket is closed once it is written, or after CloseTimeout.
func (c *conn) Close(code int, reason string) {
	if !c.isClosing() { // spare compiling a frame that would be dropped
		if c.closeWith(c.closeMessage(ws.StatusCode(code), reason)) {
			c.closedWith(false, ws.StatusCode(code))
		}
	}
}

// fail closes the connection for err, with err's close code.
func (c *conn) fail(err error) {
	if !c.isClosing() {
		code, reason := closeOf(err)
		if c.closeWith(c.closeMessage(code, reason)) {
			c.closedWith(false, code)
		}
	}
}

// closeWith queues the close frame and reports whether this call started
// the close with it, so that the caller counts it; only the first close of
// a connection counts, and a close frame that overflows the queue was
// counted as 4000.
func (c *conn) closeWith(frame []byte) (started bool) {
	res, wake := c.queue(frame, true)
	c.wake(wake)
	return res == taken
}

// startClosing is called with c.mu held. The deadline leaves a quarter of
// CloseTimeout for the sweep that enforces it, which runs at least that
// often, so the socket is closed within CloseTimeout.
func (c *conn) startClosing() {
	c.closing = true
	c.outLocked().closeBy = monoNow() + int64(c.lim.closeTimeout)*3/4
}

// finish marks c gone and says whether this call did it; the caller then
// calls Disconnected. abrupt says no close frame was sent or received
// before. Safe from any goroutine.
func (c *conn) finish() (first, abrupt bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return false, false
	}
	c.finished = true
	abrupt = !c.closing
	c.closing = true
	if q := c.out; q != nil {
		clear(q.frames)
		q.frames, q.queued, q.offset = q.first[:0], 0, 0
		c.ownKept(q, 0)
	}
	c.since.Store(0)
	return true, abrupt
}

// peerState is what came of the client's half of the closing handshake.
type peerState uint8

const (
	peerOpen peerState = iota
	// peerClosed: its close frame came, the close begun by it or by this
	// side (RFC 6455 section 5.5.1).
	peerClosed
	// peerUnframed: it sent a frame header RFC 6455 forbids, so what
	// follows can no longer be told apart into frames and no close of
	// its can be seen: the connection is failed (section 7.1.7), and
	// once this side's close is out the socket is closed, as after a
	// close, not left until CloseTimeout.
	peerUnframed
)

// peerAnswered records that the client's close frame came, the close
// begun by it or by this side, and reports whether the closing handshake
// is then complete (handshakeDone).
func (c *conn) peerAnswered() bool { return c.peerEnded(peerClosed) }

// peerEnded records how the client's half ended, the first time, and
// reports whether the close is then complete (handshakeDone).
func (c *conn) peerEnded(how peerState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peer == peerOpen {
		c.peer = how
	}
	return c.handshakeDoneLocked()
}

// clientClosed reports whether the client's close frame came (peerClosed).
func (c *conn) clientClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer == peerClosed
}

// readerEnded is peerEnded for what r found: the client's close, a
// header that broke the framing, or neither (false).
func (c *conn) readerEnded(r *frameReader) bool {
	switch {
	case r.closed:
		return c.peerEnded(peerClosed)
	case r.misframed:
		return c.peerEnded(peerUnframed)
	}
	return false
}

// handshakeDone reports whether this side's close frame is written and
// the client's came, or none can (peerUnframed): the socket is then
// closed as soon as the client has all it was sent (RFC 6455 section
// 5.5.1; loop.dropDone, portableConn.linger). Whichever of the reader and the writer comes second
// sees both. A stream's close event asks for no answer (SSE has none):
// the stream is done once it is written.
func (c *conn) handshakeDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handshakeDoneLocked()
}

func (c *conn) handshakeDoneLocked() bool {
	return (c.peer != peerOpen || c.sse) && c.closeQueued && c.queuedBytes() == 0
}

// isClosing reports whether a close has started.
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// lingerFirstCheck is how soon the socket of a connection whose close is
// complete is looked at again when it still held what its client had not
// acknowledged (loop.dropDone, portableConn.linger); each later look
// waits twice as long, up to a sweep's interval. A client that reads at
// once acknowledges within a round trip, so its connection ends a few
// looks after its close, not at the next sweep.
const lingerFirstCheck = 10 * time.Millisecond
