package broker

import "time"

// AllowPing reports whether a WebSocket ping the client just sent may be
// answered. Pings count toward the session's command rate (docs/protocol.md
// section 6, since 1.1), from the same bucket as commands, and toward its
// address's budget, so a client cannot make the node answer faster by
// switching from commands to pings.
// A ping over the rate is dropped unanswered: it gets no error reply, so
// it adds nothing to the connection's queue, and it does not count as a
// failed command.
func (s *Session) AllowPing() bool {
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase != phaseClosed && s.paceLocked(now) == paceAllowed
}
