package broker

// EventReporter is told what the webhooks of docs/protocol.md section 11
// report; api/hooks implements it. Its methods must not block: they are
// called on session workers and on the transport's event loops, and
// ClientConnected with the session's lock held.
type EventReporter interface {
	// TopicHeld says this node's first exact subscription to topic
	// started, and TopicLeft that its last one ended. For one topic they
	// alternate, starting with TopicHeld, and come in order.
	TopicHeld(topic string)
	TopicLeft(topic string)
	// ClientConnected says a session opened (a WebSocket, or a stream
	// that started), and ClientDisconnected that it ended, with the close
	// code its connection ended with (1006: it just dropped): once each,
	// in that order, or neither for one closed as it opened. user is ""
	// for an anonymous session.
	ClientConnected(session, user string)
	ClientDisconnected(session, user string, code int)
}

// reportConnected tells the reporter a session opened; from then on
// transport tells it how the session ends (DisconnectedWith). Called by
// list, with s.mu held.
func (b *Broker) reportConnected(s *Session) {
	if b.cfg.Events != nil {
		b.cfg.Events.ClientConnected(s.ID(), s.subject())
	}
}

// reportHeld and reportLeft tell the reporter about exact topics only:
// occupancy counts exact subscriptions (docs/protocol.md section 11).
// reportHeld reports whether it told.
func (r *remoteSubs) reportHeld(pattern string) bool {
	if r.events != nil && !IsPattern(pattern) {
		r.events.TopicHeld(pattern)
		return true
	}
	return false
}

func (r *remoteSubs) reportLeft(pattern string) {
	if r.events != nil && !IsPattern(pattern) {
		r.events.TopicLeft(pattern)
	}
}

// DisconnectedWith is Disconnected for a transport that knows how the
// connection ended: code is the close code (1006 when no close frame went
// either way), which the webhooks report.
func (s *Session) DisconnectedWith(code int) { s.disconnectWith(code) }

// disconnectWith is DisconnectedWith, reporting whether this call ended
// the session. Of several at once (the transport's, and closeOverlapping's
// from fan-outs of different topics) one ends it and reports its end; a
// session closed before it was listed has no end to report.
func (s *Session) disconnectWith(code int) (ended bool) {
	ended, listed := s.disconnect()
	if ev := s.b.cfg.Events; listed && ev != nil {
		ev.ClientDisconnected(s.ID(), s.subject(), code)
	}
	return ended
}
