package broker

// EventReporter is told what the webhooks of docs/protocol.md section 11
// report; api/hooks implements it. Its methods must not block: they are
// called on session workers and on the transport's event loops.
type EventReporter interface {
	// TopicHeld says this node's first exact subscription to topic
	// started, and TopicLeft that its last one ended. For one topic they
	// alternate, starting with TopicHeld, and come in order.
	TopicHeld(topic string)
	TopicLeft(topic string)
	// ClientConnected says a session opened (a WebSocket, or a stream
	// that started), and ClientDisconnected that it ended, with the close
	// code its connection ended with (1006: it just dropped). user is ""
	// for an anonymous session.
	ClientConnected(session, user string)
	ClientDisconnected(session, user string, code int)
}

// reportConnected tells the reporter a session opened; from then on
// transport tells it how the session ends (DisconnectedWith).
func (b *Broker) reportConnected(s *Session) {
	if b.cfg.Events != nil {
		b.cfg.Events.ClientConnected(s.ID(), s.subject())
	}
}

// reportHeld and reportLeft tell the reporter about exact topics only:
// occupancy counts exact subscriptions (docs/protocol.md section 11).
func (r *remoteSubs) reportHeld(pattern string) {
	if r.events != nil && !IsPattern(pattern) {
		r.events.TopicHeld(pattern)
	}
}

func (r *remoteSubs) reportLeft(pattern string) {
	if r.events != nil && !IsPattern(pattern) {
		r.events.TopicLeft(pattern)
	}
}

// DisconnectedWith is Disconnected for a transport that knows how the
// connection ended: code is the close code (1006 when no close frame went
// either way), which the webhooks report.
func (s *Session) DisconnectedWith(code int) {
	first := !s.isClosed()
	s.Disconnected()
	if ev := s.b.cfg.Events; first && ev != nil {
		ev.ClientDisconnected(s.ID(), s.subject(), code)
	}
}
