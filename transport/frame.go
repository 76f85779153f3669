package transport

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// Frames the server sends often, compiled once and shared by every
// connection (a queued frame is never modified).
var (
	framePing = ws.MustCompileFrame(ws.NewPingFrame(nil))
)

// Errors of the checks gobwas/ws does not make, each with the rule the
// client broke (closeOf maps them to their sentinel's close code).
var (
	errLengthMSB = &wireError{ErrProtocol, "64-bit length with its top bit set (RFC 6455 section 5.2)"}
	errCloseBody = &wireError{ErrProtocol, "close frame with a 1-byte body (RFC 6455 section 5.5.1)"}
	errCloseCode = &wireError{ErrProtocol, "close code above 4999 (RFC 6455 section 7.4.2)"}
	errBinary    = &wireError{ErrBinary, "binary messages are not supported (RFC 6455 section 5.6)"}
	errTextUTF8  = &wireError{ErrInvalidUTF8, "text is not valid UTF-8 (RFC 6455 section 8.1)"}
	errTooBig    = &wireError{ErrMessageTooBig, "message too big (RFC 6455 section 7.4.1)"}
)

// parseHeader reads one frame header (RFC 6455 section 5.2) from the front
// of b without copying or allocating. n is the header's length; n == 0
// means b does not yet hold the whole header.
func parseHeader(b []byte) (h ws.Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		n += 2
	case 127:
		n += 8
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		n += 4
	}
	if len(b) < n {
		return h, 0, nil
	}
	switch b[1] & 0x7f {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		if b[2]&0x80 != 0 {
			return h, 0, errLengthMSB
		}
		h.Length = int64(binary.BigEndian.Uint64(b[2:10]))
	}
	if h.Masked {
		copy(h.Mask[:], b[n-4:n])
	}
	return h, n, nil
}

// closeFrame compiles a close frame with code and reason (RFC 6455 section
// 5.5.1). code 0 makes a close frame without a body.
func closeFrame(code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return ws.MustCompileFrame(ws.NewCloseFrame(nil))
	}
	body := ws.NewCloseFrameBody(code, closeReason(reason))
	return ws.MustCompileFrame(ws.NewCloseFrame(body))
}

// pongFrame answers a ping with its payload (RFC 6455 section 5.5.3). The
// payload is copied: the queue outlives the read buffer it came from.
func pongFrame(payload []byte) []byte {
	return ws.MustCompileFrame(ws.NewPongFrame(append([]byte(nil), payload...)))
}
