package transport

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// Errors that end a connection. Each is answered with one close code of
// docs/protocol.md section 6 (closeCauses says which); ErrConfig, a second
// Shutdown's ErrServerClosed and ErrCloseUnanswered are returned to the
// caller instead.
var (
	ErrProtocol    = errors.New("herald/transport: protocol violation")
	ErrBinary      = errors.New("herald/transport: binary messages are not supported")
	ErrInvalidUTF8 = errors.New("herald/transport: text is not valid UTF-8")
	// ErrInvalidCompressed: a compressed message that does not inflate.
	ErrInvalidCompressed = errors.New("herald/transport: compressed message is not valid deflate")
	ErrMessageTooBig     = errors.New("herald/transport: message too big")
	ErrSlowConsumer      = errors.New("herald/transport: write queue overflowed")
	ErrHeartbeatTimeout  = errors.New("herald/transport: heartbeat timeout")
	// ErrFragmentTimeout: a message, fragmented or in one frame, was not
	// whole within FragmentTimeout of its first bytes.
	ErrFragmentTimeout = errors.New("herald/transport: message not completed in time")
	// ErrAddressReads: the connection's reader would take its client
	// address past its AddressReads bound.
	ErrAddressReads = errors.New("herald/transport: unfinished messages of the address past its bound")
	ErrStreamInput  = errors.New("herald/transport: an SSE client sent data")
	ErrServerClosed = errors.New("herald/transport: server closed")
	ErrConfig       = errors.New("herald/transport: bad config")
	// ErrCloseUnanswered: Shutdown's context ended before every client
	// had finished its close, and those connections were dropped.
	ErrCloseUnanswered = errors.New("herald/transport: clients did not finish the close in time")
)

// closeCauses gives each connection-ending error its close code and the
// reason the client reads in the close frame, in one table.
var closeCauses = [...]struct {
	err    error
	code   ws.StatusCode
	reason string
}{
	{ErrBinary, broker.CloseUnsupportedData, "binary messages are not supported"},
	{ErrInvalidUTF8, broker.CloseInvalidPayload, "text is not valid UTF-8"},
	{ErrInvalidCompressed, broker.CloseInvalidPayload, "compressed data is not valid deflate"},
	{ErrMessageTooBig, broker.CloseMessageTooBig, "message too big"},
	{ErrSlowConsumer, broker.CloseSlowConsumer, "slow consumer"},
	{ErrHeartbeatTimeout, broker.CloseHeartbeatTimeout, "heartbeat timeout"},
	{ErrFragmentTimeout, broker.ClosePolicyViolation, "message not completed in time"},
	{ErrAddressReads, broker.ClosePolicyViolation, "too many unfinished messages from this address"},
	{ErrStreamInput, broker.ClosePolicyViolation, "an SSE client sends nothing"},
	{ErrServerClosed, broker.CloseGoingAway, "server shutting down"},
	{ErrProtocol, broker.CloseProtocolError, "protocol violation"},
}

// wireError is a connection-ending error that tells the client more than
// its sentinel's reason: which rule of RFC 6455 the peer broke.
type wireError struct {
	sentinel error  // one of closeCauses: decides the close code
	reason   string // for the client
}

func (e *wireError) Error() string { return e.sentinel.Error() + ": " + e.reason }
func (e *wireError) Unwrap() error { return e.sentinel }

// protocolError makes a 1002 error of one of gobwas/ws's checks, whose
// ws.ProtocolError text says which rule of RFC 6455 the frame broke.
func protocolError(err error) error {
	var pe ws.ProtocolError
	if errors.As(err, &pe) {
		return &wireError{sentinel: ErrProtocol, reason: string(pe)}
	}
	return fmt.Errorf("%w: %w", ErrProtocol, err)
}

// closeOf says which close code, and which reason, a connection-ending
// error is answered with; an error of none of closeCauses is a protocol
// violation.
func closeOf(err error) (ws.StatusCode, string) {
	var we *wireError
	for _, c := range closeCauses {
		if errors.Is(err, c.err) {
			if errors.As(err, &we) {
				return c.code, we.reason
			}
			return c.code, c.reason
		}
	}
	return broker.CloseProtocolError, "protocol violation"
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
