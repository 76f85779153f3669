package transport

import "github.com/gobwas/ws"

// Once a connection's close began, what its client sends is not parsed:
// a command would be answered on a connection that takes no more frames,
// and a message still to inflate would cost work for nothing. Only the
// client's close frame matters, as the second half of the closing
// handshake (RFC 6455 section 5.5.1), so the frames are walked past by
// their headers alone, without unmasking a payload. The walk starts on a
// frame's first byte (what the reader kept, the rest of the read that
// closed the connection included) and takes only a close frame RFC 6455
// allows as the client's: inside a payload a byte such as "x" (0x78)
// reads as a close header (FIN unset, RSV bits set, unmasked), and the
// handshake would be taken as done before the client closed. A header
// the RFC forbids means the frames can no longer be told apart, so no
// close of the client's is waited for (peerUnframed): the connection is
// read no more until its own close is complete, and then only to drop
// what comes, as after a client's close (loop.readOver,
// portableConn.readOver).

// maxFrameHeader is the longest client frame header (RFC 6455 section
// 5.2): 2 bytes, 8 of extended length and 4 of mask.
const maxFrameHeader = 14

// skipToClose walks past the frames in data, those r held unparsed when
// the close began first, and reports whether a close frame came. After
// one, or after a header that is no frame's, nothing more is looked at.
func (r *frameReader) skipToClose(data []byte) bool {
	r.skipped += int64(len(data))
	if !r.skipping {
		// What the reader kept starts at a frame's first byte: an
		// incomplete frame, whole ones its budget held back, or the
		// rest of a read from the frame an error stopped at (feed).
		// Whether a message is open, and deflate, say which headers
		// may come next.
		pending := r.partial
		*r = frameReader{skipping: true, closed: r.closed, skipped: r.skipped, addressHeld: r.addressHeld,
			fragmented: r.fragmented, deflate: r.deflate}
		if r.walk(pending) {
			r.closedAt = r.skipped
			return true
		}
	}
	if r.walk(data) {
		r.closedAt = r.skipped // what came with it in this read is not counted as sent after it
		return true
	}
	return false
}

// walk is skipToClose's loop over one piece of the stream.
func (r *frameReader) walk(data []byte) bool {
	for len(data) > 0 && !r.closed && !r.misframed {
		if r.skip > 0 {
			n := min(int64(len(data)), r.skip)
			data, r.skip = data[n:], r.skip-n
			continue
		}
		head, kept := data, len(r.partial)
		if kept > 0 {
			head = append(r.partial, data[:min(len(data), maxFrameHeader-kept)]...)
		}
		h, n, err := parseHeader(head)
		if err == nil && n > 0 {
			h, _, err = r.framing(h)
		}
		switch {
		case err != nil:
			r.partial, r.misframed = nil, true // no frame: no close can be told apart
			return false
		case n == 0:
			// All of data is in head: a header's first bytes, kept
			// in an array of their own, never the caller's.
			r.partial = append([]byte(nil), head...)
			return false
		}
		data, r.partial = data[n-kept:], nil
		switch h.OpCode {
		case ws.OpClose:
			r.closed = true
			return true
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			r.fragmented = !h.Fin
		}
		r.skip = h.Length
	}
	return false
}

// closingReadBytes is how much a closing connection's client may send
// that is still read, walked past for its close frame (or, a stream's,
// dropped), what is read while its socket lingers included. Past it the
// connection is read no more: its client is sending, not closing. It is
// closed once its close is complete and its client has all it was sent,
// or at its close deadline (CloseTimeout). A client that sent its close
// frame is read on until it sent afterCloseBytes past that too, and then
// cut off at once, once the close is complete (loop.dropDone, take,
// portableConn.readOver): that client closed and sends on. All that came
// was read, so that closing over unread input would not reset the
// connection and lose it the close frame; but one client that kept
// sending after its stream's close event got 5 GB read in the 5 s, for
// 1.7 s of node CPU, and could open another each time.
const closingReadBytes = 1 << 20

// afterCloseBytes is how much a client may send after its close frame
// before it is taken for one that closed and sends on: far more than the
// pongs it may still owe (RFC 6455 section 5.5.2, one of 131 bytes at
// most for each ping it reads before the node's close frame). Counted
// from its close, not the node's: what it sent before it knew of the
// node's close, up to closingReadBytes, says nothing of it, and one cut
// off as its pongs took that past the bound lost the end of its stream
// to the reset its next byte made.
const afterCloseBytes = 64 << 10

// closingReadOver reports whether c, closing, was read as much as it
// may be (closingReadSpent), or sent what is no frame (misframed). Only
// the reading goroutine may ask.
func (c *conn) closingReadOver() bool {
	return c.closingReadSpent() || c.in != nil && c.in.skipping && c.in.misframed
}

// closingReadSpent reports whether c, closing, was read as much as it
// may be: closingReadBytes, and afterCloseBytes past its client's close
// frame once that came. Only the reading goroutine may ask.
func (c *conn) closingReadSpent() bool {
	if c.sse {
		return c.kindData >= streamReadMost
	}
	r := c.in
	if r == nil || !r.skipping || r.skipped < closingReadBytes {
		return false
	}
	return !r.closed || r.skipped-r.closedAt >= afterCloseBytes
}
