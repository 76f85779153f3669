package transport

import (
	"errors"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Errors that end a connection. Each maps to one close code of PROTOCOL.md
// section 6; closeCodeOf does the mapping in one place.
var (
	ErrProtocol         = errors.New("transport: protocol violation")                // 1002
	ErrBinary           = errors.New("transport: binary messages are not supported") // 1003
	ErrInvalidUTF8      = errors.New("transport: text is not valid UTF-8")           // 1007
	ErrMessageTooBig    = errors.New("transport: message too big")                   // 1009
	ErrSlowConsumer     = errors.New("transport: write queue overflowed")            // 4000
	ErrHeartbeatTimeout = errors.New("transport: heartbeat timeout")                 // 4002
	ErrServerClosed     = errors.New("transport: server closed")                     // 1001
	ErrConfig           = errors.New("transport: bad config")
)

// closeCodeOf says which close code a connection-ending error is answered
// with.
func closeCodeOf(err error) ws.StatusCode {
	switch {
	case errors.Is(err, ErrBinary):
		return ws.StatusUnsupportedData
	case errors.Is(err, ErrInvalidUTF8):
		return ws.StatusInvalidFramePayloadData
	case errors.Is(err, ErrMessageTooBig):
		return ws.StatusMessageTooBig
	case errors.Is(err, ErrSlowConsumer):
		return 4000
	case errors.Is(err, ErrHeartbeatTimeout):
		return 4002
	case errors.Is(err, ErrServerClosed):
		return ws.StatusGoingAway
	default:
		return ws.StatusProtocolError
	}
}

// closeReason fits s into a close frame's reason: at most 123 bytes (RFC
// 6455 section 5.5, 125 less the code), cut at a rune boundary.
func closeReason(s string) string {
	const max = 123
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
