package broker

import "sync"

// subscription is one connection's subscription to a topic or pattern.
type subscription struct {
	session *Session
	pattern string
	exact   bool // a concrete topic: deliveries are filtered by seq

	// entry and pos place it in the index; guarded by the index lock.
	entry *entry
	pos   int

	// Owned by the session's worker.
	acquired bool     // holds a reference on the engine subscription
	start    Position // where it went live

	mu      sync.Mutex
	holding bool       // live messages are kept in held until release
	held    []*Message // in seq order per topic
	epoch   string     // exact only: the last delivered message's epoch
	lastSeq uint64     // and seq; older ones are skipped
}

// offer hands a live message to the subscription: it is held back while the
// subscription is being set up, skipped when it was already sent, and
// otherwise sent as frame (built by encode on first use).
func (sub *subscription) offer(m *Message, frame []byte) bool {
	sub.mu.Lock()
	if sub.holding {
		sub.held = append(sub.held, m)
		sub.mu.Unlock()
		return false
	}
	if !sub.advance(m) {
		sub.mu.Unlock()
		return false
	}
	sub.mu.Unlock()
	return sub.session.conn.Send(frame)
}

// advance reports whether m is new to an exact subscription and records it
// as sent. Called with mu held.
func (sub *subscription) advance(m *Message) bool {
	if !sub.exact {
		return true
	}
	if m.Epoch == sub.epoch && m.Seq <= sub.lastSeq {
		return false
	}
	sub.epoch, sub.lastSeq = m.Epoch, m.Seq
	return true
}

// release sends the messages held back while the subscription was set up,
// skipping those at or before last, and makes it live.
func (sub *subscription) release(last Position) (sent int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.epoch, sub.lastSeq = last.Epoch, last.Seq
	for i, m := range sub.held {
		sub.held[i] = nil
		if sub.advance(m) && sub.session.conn.Send(messageFrame(m, sub.tag())) {
			sent++
		}
	}
	sub.held = nil
	sub.holding = false
	return sent
}

// tag is the "pattern" a message delivered through sub carries.
func (sub *subscription) tag() string {
	if sub.exact {
		return ""
	}
	return sub.pattern
}
