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

// markUnfinished stamps, for the sweep (conn.sweep), when the message c's
// reader is in the middle of began: a frame whose bytes came in part must
// be whole within FragmentTimeout of the read that brought its first,
// as a fragmented message must be of its first fragment (onMessagePending
// stamps that). Without it a frame's header and all but a few bytes held
// the reader's buffer until the heartbeat timeout. frames is how many
// whole frames the read brought: after one, the part at the end is a new
// frame's. Frames the pace holds back run no clock: the node holds them.
func (c *conn) markUnfinished(r *frameReader, frames int) {
	switch {
	case r.fragmented:
		// its first fragment's stamp runs until the message is whole
	case len(r.partial) > 0 && !r.held:
		if frames > 0 || c.msgSince.Load() == 0 {
			c.msgSince.Store(max(monoNow(), 1)) // 0 means none
		}
	case c.msgSince.Load() != 0:
		c.msgSince.Store(0)
	}
}

// onClose answers the peer's close frame with its code (RFC 6455 section
// 5.5.1); a close frame that comes after this side's close began is the
// answer to it. Either way the handshake is complete once this side's
// close frame is written, and the socket is closed once the client has
// it (loop.dropDone).
func (c *conn) onClose(code ws.StatusCode) {
	if c.closeWith(closeFrame(code, "")) {
		if code == 0 {
			code = ws.StatusNoStatusRcvd // RFC 6455 section 7.1.5
		}
		c.closedWith(true, code)
	}
	c.peerAnswered()
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
// closing, what arrives is dropped unparsed, but for the client's close
// frame (close_scan.go). answered says a WebSocket's close is complete
// (handshakeDone), at every read from then on: this side's close frame is
// out and the client's answer came (or none can), so the driver closes
// the socket once the client has all it was sent (RFC 6455 section
// 5.5.1) rather than wait for the client to drop its side, which a
// client library that answers the close may leave to its program for as
// long as it runs.
func (c *conn) readData(data []byte, budget int) (spent int, answered bool) {
	if c.sse {
		c.readStream(len(data))
		return 0, false
	}
	if c.isClosing() {
		var r frameReader // a half-read message is freed with the old one
		if c.in != nil {
			r = *c.in
		}
		r.deflate = c.deflate // RSV1 is a compressed message's (close_scan.go)
		r.skipToClose(data)
		c.settleReads(&r) // it keeps a header's first bytes at most: only gives back
		c.keepReader(&r)
		return 0, c.readerEnded(&r)
	}
	// Between frames a connection's reader holds nothing, so it lives on
	// the stack and only one mid-frame (or mid-message) is kept on the
	// heap: an idle connection carries a nil pointer, not a reader.
	var r frameReader
	wasHolding := c.in != nil
	if wasHolding {
		r = *c.in
	}
	r.deflate = c.deflate
	frames, spent, err := r.feed(data, c.lim.maxText, budget, c)
	if frames > 0 {
		c.lastHeard.Store(monoNow())
	}
	if err != nil {
		return spent, c.closeReading(&r, err)
	}
	if !c.settleReads(&r) {
		// Past its address's bound: c closes, and what its reader holds
		// goes now, not at its next read or its close deadline.
		return spent, c.closeReading(&r, ErrAddressReads)
	}
	if wasHolding || !r.idle() {
		c.markUnfinished(&r, frames)
	}
	c.keepReader(&r)
	return spent, r.closed && c.handshakeDone()
}

// closeReading closes c for err, met reading, and walks at once what r
// kept unparsed (close_scan.go): from a frame's first byte, what the read
// brought past where parsing stopped, which may hold the client's close
// frame already. It reports whether the closing handshake is complete.
// The walk keeps a header's first bytes at most, so settling r only gives
// back what it counted. A close frame whose body broke the rules (err is
// its 1002) is the client's close all the same: it has closed its side,
// and the 1002 answers it, so the socket is closed once that is written
// rather than after CloseTimeout. Its header was checked first (r.closed
// is set only past that): a close frame fragmented, with an RSV bit,
// too long or unmasked fails there and is no close, but what follows
// such a header can no longer be told apart into frames (r.misframed),
// so the connection is failed (RFC 6455 section 7.1.7) and its socket
// closed once the 1002 is out all the same, not after CloseTimeout.
func (c *conn) closeReading(r *frameReader, err error) (answered bool) {
	c.fail(err)
	r.skipToClose(nil) // r.closed: the frame that failed, or one after it
	c.settleReads(r)
	c.keepReader(r)
	return c.readerEnded(r)
}

// holding says whether the reader holds frames its budget left unparsed.
// Only the reading goroutine may ask.
func (c *conn) holding() bool { return c.in != nil && c.in.held }
