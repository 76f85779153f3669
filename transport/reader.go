package transport

import (
	"math"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// frameSink takes what a frameReader finds. Every payload is valid only
// during the call: it lives in the reader's buffer.
type frameSink interface {
	onText(payload []byte)
	onPing(payload []byte)
	onPong(payload []byte)
	// onMessagePending says a fragmented text message began (true) or was
	// completed (false) (RFC 6455 section 5.4). A connection that ends
	// mid-message gets no false.
	onMessagePending(pending bool)
	// onClose takes the peer's close frame; code is 0 when it had no body.
	onClose(code ws.StatusCode)
}

// frameReader parses client frames incrementally from whatever bytes the
// socket had (RFC 6455 section 5). It holds memory only while a frame is
// incomplete (partial) or a text message is fragmented (message); an idle
// connection's reader holds none.
type frameReader struct {
	// partial is an incomplete frame, kept until the rest arrives; after
	// an error, what the read held from the frame that ended the parse
	// on, for the close scan to walk at once (conn.closeReading).
	partial    []byte
	message    []byte // the payload of a fragmented text message so far
	fragmented bool   // a text message was started and not finished
	closed     bool   // a close frame arrived; nothing after it is read
	compressed bool   // the fragmented message is compressed (RSV1 on its first frame)
	// held says partial begins with complete frames that feed's budget
	// left unparsed: the next feed parses them first, even with no data.
	held bool
	// deflate says permessage-deflate was negotiated, so that RSV1 marks a
	// compressed message (RFC 7692 section 6); without it RSV1 is a
	// protocol error. The connection's setting, not reader state.
	deflate bool
	// skipping says the connection is closing and frames are only walked
	// past, looking for the client's close frame (close_scan.go); skip
	// is how much of the current frame's payload is still to pass, and
	// partial then holds at most a header's first bytes.
	skipping bool
	skip     int64
	// skipped is how many bytes were walked past since the close began:
	// past closingReadBytes the connection is read no more
	// (closingReadOver).
	skipped int64
	// closedAt is skipped as of the read that brought the client's close
	// frame, 0 when it came before the close began: what came after it
	// is skipped less closedAt (afterCloseBytes).
	closedAt int64
	// misframed says the walk met a header RFC 6455 forbids: what
	// follows it cannot be told apart into frames, so the connection is
	// read no more until its close is complete (closingReadOver).
	misframed bool
	// quiet counts the frames read that ask for no answer (pongs, the
	// fragments before a message's last) since the last one paced:
	// one in quietPerPace is (paced).
	quiet uint8
	// addressHeld is what the connection's address's AddressReads holds for
	// this reader's buffers (conn.settleReads); the connection's, not
	// parse state: it outlives a reset.
	addressHeld int
}

// idle reports whether r holds nothing between two frames.
func (r *frameReader) idle() bool {
	return r.partial == nil && r.message == nil && !r.fragmented && !r.closed && r.skip == 0 && !r.skipping
}

// feed parses the complete frames in data and keeps what it did not
// parse for the next call: an incomplete tail, the frames past the
// budget, and after an error the rest from the frame it failed on (or
// the one after, when its payload was read), so that the close scan
// starts on a frame's first byte, never inside a payload. budget is how
// many paced frames (paced) may be parsed; the first one past it and
// everything after stay unparsed (held), so a caller may call feed again
// with no data once its budget allows more.
// Data must not come while frames are held. data is unmasked in place,
// so it must be the caller's to change. limit is the largest text message
// accepted. frames counts the complete frames found, spent the paced ones
// among them; err is a connection-ending error (see closeOf).
func (r *frameReader) feed(data []byte, limit int64, budget int, sink frameSink) (frames, spent int, err error) {
	if r.closed || len(data) == 0 && !r.held {
		return 0, 0, nil
	}
	if len(r.partial) == 0 {
		n, frames, spent, held, err := r.parse(data, limit, budget, sink)
		if n < len(data) && !r.closed {
			r.partial, r.held = append([]byte(nil), data[n:]...), held
		}
		return frames, spent, err
	}
	r.partial = append(r.partial, data...)
	n, frames, spent, held, err := r.parse(r.partial, limit, budget, sink)
	switch rest := len(r.partial) - n; {
	case rest == 0 || r.closed:
		r.partial, r.held = nil, false // an idle connection keeps no buffer
	case held:
		// Parsed from where they begin next time, not moved: a held
		// array is one read at most, and it is let go once drained.
		r.partial, r.held = r.partial[n:], true
	default:
		r.partial, r.held = keepTail(r.partial, n), false
	}
	return frames, spent, err
}

// anyFrames is a budget of feed's that holds nothing back.
const anyFrames = math.MaxInt

// quietPerPace is how many frames that ask for no answer (a pong, a
// fragment before a message's last) count as one paced frame. They cost
// the node only their parse, but that was unbounded: one anonymous
// connection sending nothing but empty pongs, 2.4 million a second, kept
// a core of the node busy. One in 16 is paced, so a connection brings at
// most 16 times its pace of them a second (3,200 by default), while the
// pongs that answer the server's pings (a heartbeat's, and a probe's once
// a lag tick at most, probe_linux.go) and the fragments of a large
// message spend a sixteenth of what a command does: a subscriber is not
// slowed for answering.
const quietPerPace = 16

// quietFrame says whether h asks the server for no answer: a pong, or a
// fragment before a message's last. A close ends the reading.
func quietFrame(h ws.Header) bool {
	switch h.OpCode {
	case ws.OpText, ws.OpContinuation:
		return !h.Fin
	case ws.OpPong:
		return true
	}
	return false
}

// paced says whether a frame spends feed's budget: one that completes a
// text message (a command) or a ping, what asks the server for work, and
// one in quietPerPace of the quiet frames (quietFrame), counted by
// counted once the frame is read.
func (r *frameReader) paced(h ws.Header) bool {
	switch {
	case quietFrame(h):
		return r.quiet+1 == quietPerPace
	case h.OpCode == ws.OpText, h.OpCode == ws.OpContinuation, h.OpCode == ws.OpPing:
		return true
	}
	return false
}

// counted notes that h was read, past feed's budget check.
func (r *frameReader) counted(h ws.Header) {
	if quietFrame(h) {
		r.quiet = (r.quiet + 1) % quietPerPace
	}
}

// keepTail moves the incomplete frame at b[n:] to the front for the next
// read. b's array is kept only while the tail fills half of it: a peer
// that sends a frame near the limit and then always stops a byte into the
// next header (a ping now and then keeps it from the heartbeat timeout)
// would otherwise pin that array for as long as the connection lives.
func keepTail(b []byte, n int) []byte {
	tail := b[n:]
	if 2*len(tail) < cap(b) {
		return append([]byte(nil), tail...)
	}
	return b[:copy(b, tail)]
}

// parse handles the complete frames at the front of b, up to budget
// paced ones, and says how many bytes they took; held says it stopped at a
// complete frame past the budget.
func (r *frameReader) parse(b []byte, limit int64, budget int, sink frameSink) (used, frames, spent int, held bool, err error) {
	for !r.closed {
		h, n, err := parseHeader(b[used:])
		if err != nil || n == 0 {
			return used, frames, spent, false, err
		}
		h, compressed, err := r.check(h, limit)
		if err != nil {
			return used, frames, spent, false, err
		}
		if int64(len(b)-used-n) < h.Length {
			return used, frames, spent, false, nil // the payload is still on its way
		}
		if r.paced(h) {
			if spent >= budget {
				return used, frames, spent, true, nil
			}
			spent++
		}
		r.counted(h)
		payload := b[used+n : used+n+int(h.Length)]
		ws.Cipher(payload, h.Mask, 0) // RFC 6455 section 5.3
		used += n + int(h.Length)
		frames++
		extra, err := r.handle(h, compressed, payload, limit, sink)
		spent += extra
		if err != nil {
			return used, frames, spent, false, err
		}
	}
	return used, frames, spent, false, nil
}

// check rejects a frame on its header alone, before its payload arrives,
// so an oversized message is refused without being buffered: by its
// framing, then by docs/protocol.md's rules (no binary, the size limit,
// compressed or not). It returns h without RSV1, and whether RSV1 marked
// it compressed.
func (r *frameReader) check(h ws.Header, limit int64) (_ ws.Header, compressed bool, err error) {
	if h, compressed, err = r.framing(h); err != nil {
		return h, false, err
	}
	switch {
	case h.OpCode == ws.OpBinary:
		return h, false, errBinary
	case h.OpCode == ws.OpText && h.Length > limit:
		return h, false, errTooBig
	case h.OpCode == ws.OpContinuation && int64(len(r.message))+h.Length > limit:
		return h, false, errTooBig
	}
	return h, compressed, nil
}

// framing checks h as a client frame's header: gobwas/ws what RFC 6455
// (sections 5.2 to 5.5) asks of every one (masked, no RSV bit, a known
// opcode, a control frame whole and of 125 bytes at most, continuations
// only within a message), and wsflate that RSV1 is only on the first
// frame of a data message (RFC 7692 section 6.1) once deflate was
// negotiated. It returns h without RSV1, and whether RSV1 marked it
// compressed.
func (r *frameReader) framing(h ws.Header) (_ ws.Header, compressed bool, err error) {
	if r.deflate {
		if h, compressed, err = wsflate.UnsetBit(h); err != nil {
			return h, false, protocolError(err)
		}
	}
	state := ws.StateServerSide
	if r.fragmented {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return h, false, protocolError(err)
	}
	return h, compressed, nil
}

// handle acts on one complete, unmasked frame that passed check;
// compressed is check's answer for it. extra is how many paced frames a
// compressed message counts for beyond its own (inflatedPerPace).
func (r *frameReader) handle(h ws.Header, compressed bool, payload []byte, limit int64, sink frameSink) (extra int, err error) {
	switch h.OpCode {
	case ws.OpText:
		if !h.Fin {
			r.message = append(r.message[:0], payload...)
			r.fragmented, r.compressed = true, compressed
			sink.onMessagePending(true)
			return 0, nil
		}
		return deliverText(payload, compressed, limit, sink)
	case ws.OpContinuation:
		r.message = append(r.message, payload...)
		if !h.Fin {
			return 0, nil
		}
		msg, compressed := r.message, r.compressed
		r.message, r.fragmented, r.compressed = nil, false, false
		sink.onMessagePending(false)
		return deliverText(msg, compressed, limit, sink) // RFC 6455 section 5.4: judged whole
	case ws.OpPing:
		sink.onPing(payload)
	case ws.OpPong:
		sink.onPong(payload)
	case ws.OpClose:
		r.closed = true
		code, err := parseCloseBody(payload)
		if err != nil {
			return 0, err
		}
		sink.onClose(code)
	}
	return 0, nil
}

// inflatedPerPace is how much text a message brings per paced frame it
// counts as (pace.go): one up to 16 KiB, as every command; one more for
// each 16 KiB past that, inflated or not. A compressed message's bytes do
// not come over the socket: 160 bytes inflated to a 120 KB ping, and one
// connection sending 200 a second for 30 KB/s of its bandwidth took a
// fifth of a core here to inflate and parse them. A plain one's do, but
// the client's bandwidth was a loose bound: one anonymous connection
// sending 130 KB pings as fast as loopback took them had 243 a second
// read (its pace), for 16 % of the node's two cores. So counted, messages
// bring at most 16 KiB times the pace a second (3.2 MB with the default
// rate), and a browser's commands, far smaller, count as before.
const inflatedPerPace = 16 << 10

// deliverText gives a whole text message to sink, inflated first when it
// is compressed (no larger than limit once inflated, as a plain one), and
// says how many paced frames past its own it counts for.
func deliverText(payload []byte, compressed bool, limit int64, sink frameSink) (extra int, err error) {
	if compressed {
		err := inflateMessage(payload, limit, func(text []byte) error {
			extra, err = deliverText(text, false, limit, sink)
			return err
		})
		return extra, err
	}
	if !utf8.Valid(payload) {
		return 0, errTextUTF8
	}
	sink.onText(payload)
	return max(len(payload)-1, 0) / inflatedPerPace, nil
}

// parseCloseBody checks a close frame's body (RFC 6455 section 5.5.1):
// empty, or a code a peer may send (section 7.4) and a UTF-8 reason.
// A reason that is not UTF-8 closes with 1002, as gobwas/ws's own close
// handler answers it: 1007 is for data within a message (section 7.4.1),
// and a close frame is a control frame, not a message. Section 8.1 asks
// only that the connection fail, and Autobahn's case 7.5.1 takes 1002 or
// 1007 alike.
func parseCloseBody(p []byte) (ws.StatusCode, error) {
	switch {
	case len(p) == 0:
		return 0, nil
	case len(p) == 1:
		return 0, errCloseBody
	}
	code, reason := ws.ParseCloseFrameDataUnsafe(p) // reason is only checked, never kept
	if err := ws.CheckCloseFrameData(code, reason); err != nil {
		return 0, protocolError(err)
	}
	if code > 4999 { // section 7.4.2 defines none; CheckCloseFrameData lets them pass
		return 0, errCloseCode
	}
	return code, nil
}
