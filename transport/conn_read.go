package transport

import "github.com/gobwas/ws"

// This file is conn's reading side: what the driver feeds it (readData)
// and the frameSink callbacks the frame reader makes, all on the
// goroutine that reads c.

func (c *conn) onText(payload []byte) { c.recv.HandleText(payload) }

// onPong hands a pong to the driver that may have probed c with its ping
// (probe_linux.go); heartbeat pongs and unsolicited ones match no probe.
func (c *conn) onPong(payload []byte) {
	if p, ok := c.drv.(prober); ok {
		p.probeAnswered(c, payload, monoNow())
	}
}

// prober is a driver that measures how far behind its readers are with
// pings (the epoll loop, probe_linux.go).
type prober interface {
	probeAnswered(c *conn, payload []byte, now int64)
}

// onPing answers a ping (RFC 6455 section 5.5.2) if the receiver lets it
// spend the command rate; the pong then counts in the queue like any frame.
func (c *conn) onPing(payload []byte) {
	if c.recv.AllowPing() {
		c.Send(pongFrame(payload))
	}
}

// onMessagePending stamps the start of a fragmented message for the
// sweep, which may run on another goroutine (the portable path), and
// clears it when the message is whole.
func (c *conn) onMessagePending(pending bool) {
	if pending {
		c.msgSince.Store(max(monoNow(), 1)) // 0 means none
		return
	}
	c.msgSince.Store(0)
}

// onClose answers the peer's close frame with its code (RFC 6455 section
// 5.5.1); the socket is closed once that is written.
func (c *conn) onClose(code ws.StatusCode) {
	if c.closeWith(closeFrame(code, "")) {
		if code == 0 {
			code = ws.StatusNoStatusRcvd // RFC 6455 section 7.1.5
		}
		c.closedWith(true, code)
	}
}

// keepReader stores r's state when it has any, and drops it when not.
func (c *conn) keepReader(r *frameReader) {
	switch {
	case r.idle():
		c.in = nil
	case c.in != nil:
		*c.in = *r
	default:
		kept := *r
		c.in = &kept
	}
}

// readData feeds what the socket gave to the frame reader; data is the
// caller's buffer and is unmasked in place. budget is how many paced
// frames (commands and pings, pace.go) may be parsed: those past it stay
// in the reader, and the driver calls again with nil data once its pace
// allows more (holding says when), before reading the socket again. It
// returns how many paced frames were parsed. Once the connection is
// closing, what arrives is dropped unparsed.
func (c *conn) readData(data []byte, budget int) (spent int) {
	if c.sse {
		c.readStream(len(data))
		return 0
	}
	if c.isClosing() {
		c.in = nil // nothing more is parsed: free a half-read message now
		return 0
	}
	// Between frames a connection's reader holds nothing, so it lives on
	// the stack and only one mid-frame (or mid-message) is kept on the
	// heap: an idle connection carries a nil pointer, not a reader.
	var r frameReader
	if c.in != nil {
		r = *c.in
	}
	r.deflate = c.deflate
	frames, spent, err := r.feed(data, c.lim.maxText, budget, c)
	c.keepReader(&r)
	if frames > 0 {
		c.lastHeard.Store(monoNow())
	}
	if err != nil {
		c.fail(err)
	}
	return spent
}

// holding says whether the reader holds frames its budget left unparsed.
// Only the reading goroutine may ask.
func (c *conn) holding() bool { return c.in != nil && c.in.held }
