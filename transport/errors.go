package transport

import (
	"errors"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// Errors that end a connection. Each maps to one close code of PROTOCOL.md
// section 6; closeCodeOf does the mapping in one place.
var (
	ErrProtocol         = errors.New("transport: protocol violation")                       // 1002
	ErrBinary           = errors.New("transport: binary messages are not supported")        // 1003
	ErrInvalidUTF8      = errors.New("transport: text is not valid UTF-8")                  // 1007
	ErrMessageTooBig    = errors.New("transport: message too big")                          // 1009
	ErrSlowConsumer     = errors.New("transport: write queue overflowed")                   // 4000
	ErrHeartbeatTimeout = errors.New("transport: heartbeat timeout")                        // 4002
	ErrFragmentTimeout  = errors.New("transport: fragmented message not completed in time") // 1008
	ErrServerClosed     = errors.New("transport: server closed")                            // 1001
	ErrConfig           = errors.New("transport: bad config")
)

// closeCodeOf says which close code a connection-ending error is answered
// with.
func closeCodeOf(err error) ws.StatusCode {
	switch {
	case errors.Is(err, ErrBinary):
		return broker.CloseUnsupportedData
	case errors.Is(err, ErrInvalidUTF8):
		return broker.CloseInvalidPayload
	case errors.Is(err, ErrMessageTooBig):
		return broker.CloseMessageTooBig
	case errors.Is(err, ErrSlowConsumer):
		return broker.CloseSlowConsumer
	case errors.Is(err, ErrHeartbeatTimeout):
		return broker.CloseHeartbeatTimeout
	case errors.Is(err, ErrFragmentTimeout):
		return broker.ClosePolicyViolation
	case errors.Is(err, ErrServerClosed):
		return broker.CloseGoingAway
	default:
		return broker.CloseProtocolError
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
