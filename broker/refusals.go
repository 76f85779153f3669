package broker

import (
	"fmt"
	"math"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// maxFailures is how many failed commands in a row close the connection.
const maxFailures = 10

// fail answers a failed command and closes the connection after
// maxFailures in a row; rate_limited and unavailable do not count. An
// internal error is logged here, as the client is told nothing of its
// cause.
func (s *Session) fail(id echoID, err *Error) {
	if err.Code == CodeInternal {
		s.b.log.Error("command failed", zap.String("session", s.ID()), zap.Error(err))
	}
	s.send(errorFrame(id, err))
	if err.Code == CodeRateLimited || err.Code == CodeUnavailable {
		return
	}
	if err.Code == CodeForbidden {
		s.refused(zap.DebugLevel, refusedForbidden, err.Message)
	}
	s.mu.Lock()
	if s.failures < math.MaxUint8 {
		s.failures++ // a uint8, saturating: a closing connection's queued commands fail on
	}
	tooMany := s.failures >= maxFailures
	first := s.failures == maxFailures // commands already queued fail on after the close
	s.mu.Unlock()
	if tooMany {
		s.conn.Close(CloseTooManyErrors, "too many failed commands")
	}
	if first {
		s.refused(zap.InfoLevel, closedTooManyErrors, err.Message)
	}
}

// RefusalLogger names the child logger that logs refusals, one line per
// refused request, connection or command, its message naming the kind:
// the broker's and the api's (api.refusals) alike. cmd/herald rate-limits
// the lines of loggers so named, per message.
const RefusalLogger = "refusals"

// The broker's refusals. A forbidden command is ordinary (a client tries
// what its token does not allow), so it is a debug line; a close is worth
// an info line.
const (
	refusedForbidden    = "refused: forbidden"
	refusedClaimTopic   = "refused: subs claim topic"                      // past its client's bounds (servercontrol.go)
	closedTooManyErrors = "closed: too many failed commands"               // 4003, CloseTooManyErrors
	closedOverlapping   = "closed: too many of its patterns match a topic" // 1008, ClosePolicyViolation
	closedWalked        = "closed: its patterns make a topic's match long" // 1008, ClosePolicyViolation
)

// overlappingReason is the close reason of a connection closed by
// closeOverlapping.
var overlappingReason = fmt.Sprintf("more than %d of its patterns match one topic", MaxMatchingPatterns)

// closeOverlapping closes the connections found holding more than
// MaxMatchingPatterns patterns that match one topic (or, walked.go,
// patterns that make its match go through more than MaxWalkedNodes
// trie nodes), logged as kind with reason, and takes their
// subscriptions out of the index at once: a client that does not read
// keeps its close frame unwritten, and its connection open, for seconds,
// and every message of the topic meanwhile would walk all its patterns
// again. Called with no index lock held.
func closeOverlapping(sessions []*Session, kind, reason string) {
	for _, s := range sessions {
		s.conn.Close(ClosePolicyViolation, reason)
		if s.disconnectWith(ClosePolicyViolation) { // once, whatever closes it too
			s.refused(zap.InfoLevel, kind, reason)
		}
	}
}

// refused logs one refusal of the session's client with the reason it was
// told (for a close, the last failure's). Nothing is built when the line
// would not be written.
func (s *Session) refused(level zapcore.Level, kind, reason string, more ...zap.Field) {
	ce := s.b.refusals.Check(level, kind)
	if ce == nil {
		return
	}
	fields := append([]zap.Field{zap.Stringer("client", s.remote), zap.String("reason", reason)}, more...)
	if subject := s.subject(); subject != "" {
		fields = append(fields, zap.String("subject", subject))
	}
	switch kind {
	case closedTooManyErrors:
		fields = append(fields, zap.Int("code", CloseTooManyErrors))
	case closedOverlapping, closedWalked:
		fields = append(fields, zap.Int("code", ClosePolicyViolation))
	}
	ce.Write(fields...)
}

func errorFrame(id echoID, err *Error) []byte {
	b := newFrame(64 + len(id.id) + len(err.Message))
	b = append(b, `{"type":"error"`...)
	b = appendID(b, id)
	b = appendField(b, "code", string(err.Code))
	b = appendField(b, "message", err.Message)
	return finishFrame(append(b, '}'))
}
