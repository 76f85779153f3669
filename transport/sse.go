package transport

import (
	"bytes"
	"math"
	"net/http"
	"strconv"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// Server-Sent Events (docs/protocol.md section 10) ride the same
// connections, queues and loops as WebSockets: a stream is a conn whose
// frames are SSE events, written after an HTTP/1.1 response head with an
// identity body that ends when the connection closes (Connection: close).
// What differs is small and lives here: the heartbeat is a comment, a
// close is an "event: close", and the client sends nothing, so what it
// sends is counted and dropped, and its silence is no heartbeat timeout;
// a dead peer shows as a failed write or as the end of its input (EOF,
// or the keep-alive probes the listener enabled).

// maxStreamInput is how many bytes an SSE client may send after its
// request before the stream is closed with 1008: a client that sends
// anything is not an SSE client, and reading it must stay bounded.
const maxStreamInput = 4 << 10

// ssePing is the heartbeat comment.
var ssePing = []byte(": ping\n\n")

// sseCloseEvent is the last event of a stream: the close code a WebSocket
// would have been closed with.
func sseCloseEvent(code ws.StatusCode) []byte {
	b := make([]byte, 0, 40)
	b = append(b, "event: close\ndata: {\"code\":"...)
	b = strconv.AppendInt(b, int64(code), 10)
	return append(b, "}\n\n"...)
}

// endsEvent reports whether a frame of a stream ends an event: events are
// queued whole or in two parts whose second ends with a blank line.
func endsEvent(frame []byte) bool { return bytes.HasSuffix(frame, []byte("\n\n")) }

// closeMessage is what ends c with code: a close frame, or for a stream
// the close event.
func (c *conn) closeMessage(code ws.StatusCode, reason string) []byte {
	if c.sse {
		return sseCloseEvent(code)
	}
	return closeFrame(code, reason)
}

// readStream takes what an SSE client sent: nothing is parsed, and past
// maxStreamInput the stream is closed.
func (c *conn) readStream(n int) {
	c.kindData = uint16(min(int(c.kindData)+n, streamReadMost))
	if c.kindData > maxStreamInput {
		c.fail(ErrStreamInput)
	}
}

// streamReadMost is how much of what an SSE client sends is read in all,
// the bytes that closed it included (closingReadOver): about 64 KiB, what
// kindData counts to.
const streamReadMost = math.MaxUint16

// StreamAcceptor is what AttachStream needs from the layer above: it
// starts the stream on c, whose response head is queued already.
type StreamAcceptor interface {
	OpenStream(c broker.Conn, info broker.ClientInfo) Receiver
}

// AttachStream takes over the connection of the SSE request r behind w: it
// hijacks it, queues head (the HTTP response head, written before
// anything else), calls a's OpenStream on this goroutine and hands the
// connection to an event loop, as Upgrade does for a WebSocket. Bytes the
// client sent after its request count toward maxStreamInput.
//
// It reports whether the connection was handed over, as Upgrade does:
// on false OpenStream was not called, and an answer was written when one
// could be.
func (s *Server) AttachStream(w http.ResponseWriter, r *http.Request, head []byte, info broker.ClientInfo, a StreamAcceptor) bool {
	if s.stopping.Load() {
		http.Error(w, ErrServerClosed.Error(), http.StatusServiceUnavailable)
		return false
	}
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// net/http serves HTTP/1.x only here (api offers no HTTP/2), so
		// this is a ResponseWriter that cannot hand over its connection.
		s.log.Debug("sse: take over connection", zap.Error(err))
		http.Error(w, "the connection cannot carry a stream", http.StatusHTTPVersionNotSupported)
		return false
	}
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		early = make([]byte, n) // only counted: its content does not matter
	}
	return s.attach(nc, early, opening{info: info, stream: a, head: head, socketBuffersSet: socketBuffersSet(r.Context())})
}

// queueHead queues a stream's response head, which goes out before
// anything else. Until it is written the stream counts as inside an
// event, so that a slow reader's drop (unfinished) keeps the head and
// the event after it, the first, whose id resumes the stream: dropped
// whole when the queue overflowed while the stream opened (a resume, or
// the messages held meanwhile), the client read "event: close" where the
// status line should be.
func (c *conn) queueHead(head []byte) {
	c.mu.Lock()
	c.midEvent = true
	c.mu.Unlock()
	c.send(head, serverFrame)
}

// unfinished is how many frames at the head of the queue must still be
// written whole, whatever is dropped: a frame partly written (cutting it
// would corrupt the stream) and, on a stream, the rest of an event begun
// on the wire. Called with c.mu held.
func (c *conn) unfinished() int {
	q := c.out
	if q == nil || len(q.frames) == 0 || q.offset == 0 && !c.midEvent {
		return 0
	}
	if !c.sse {
		return 1
	}
	for i, f := range q.frames {
		if endsEvent(f) {
			return i + 1
		}
	}
	return len(q.frames)
}

// SendPair queues an event in two parts, both or neither, with nothing
// between them (broker.EventConn); like Send it never blocks or copies.
func (c *conn) SendPair(shared, own []byte) bool {
	res, wake := c.queuePair(shared, own, 0, false)
	c.wake(wake)
	return res == taken
}

// SendPairDeferred is SendPair with the start of the write left to b
// (broker.EventConn), as SendDeferred.
func (c *conn) SendPairDeferred(shared, own []byte, b *broker.Batch) bool {
	d, deferring := c.drv.(deferringDriver)
	if !deferring {
		res, wake := c.queuePair(shared, own, 0, true)
		c.wake(wake)
		return res == taken
	}
	part := d.deferral(b)
	res, wake := c.queuePair(shared, own, part.stamp(), true)
	if wake {
		part.take(c)
	}
	return res == taken
}

// queuePair queues an event's two parts at the monotonic time at (0:
// now); fanout says a fan-out queued it (fannedFrame), else both parts
// are the stream's own (ownFrame).
func (c *conn) queuePair(a, b []byte, at int64, fanout bool) (res pushed, wake bool) {
	c.mu.Lock()
	switch {
	case c.closing:
		res = refused
	case c.queuedBytes()+len(a)+len(b) > c.lim.maxQueue:
		res = c.overflow()
	case !fanout && !c.takeOwn(c.outLocked(), len(a)+len(b)):
		res = c.overflow()
	default:
		q := c.outLocked()
		q.add(a)
		q.add(b)
		q.queued += int32(len(a) + len(b))
		c.sentSince = true
		c.fanned = c.fanned || fanout
		res = taken
	}
	if res != refused {
		wake = c.markScheduledAt(at)
	}
	c.mu.Unlock()
	if res == overflowed {
		c.closedWith(false, broker.CloseSlowConsumer)
	}
	return res, wake
}

var _ broker.EventConn = (*conn)(nil)
