package broker

import "sync"

// maxHeldMessages bounds the live messages kept for one subscription while
// the engine answers its setup. A connection that would need more is
// treated as a slow consumer: closed with 4000, to resume with since.
const maxHeldMessages = 4096

// subscription is one connection's subscription to a topic or pattern.
type subscription struct {
	session *Session
	pattern string
	exact   bool // a concrete topic: deliveries are filtered by seq
	plain   bool // subscribed without since: what came before is not its to send
	// The two flags below sit beside the two above, in one word, so that
	// an idle subscription stays in a smaller size class.
	acquired bool // holds a reference on the engine subscription; the worker's
	holding  bool // live messages are kept in held until release; guarded by mu

	// entry and pos place it in the index; guarded by the index lock.
	entry *entry
	pos   int

	start Position // where it went live; owned by the session's worker

	mu   sync.Mutex
	held []*Message // in seq order
	// For an exact subscription, the last message delivered: once live,
	// messages at or before it in the same epoch are skipped. While holding,
	// epoch, seenFrom and lastSeq are the range the connection got through
	// one of its patterns instead (seenFrom 0: none).
	epoch    string
	seenFrom uint64
	lastSeq  uint64
	// passed is the last message a plain subscription skipped as older than
	// its start; a pattern of the same connection delivers it instead.
	passed *Message
}

// offer hands a live message to the subscription: it is held back while the
// subscription is being set up, skipped when it was already sent, and
// otherwise queued as frame, its write started by fl.flush.
func (sub *subscription) offer(m *Message, frame []byte, fl *flushers) bool {
	sub.mu.Lock()
	if sub.holding {
		if len(sub.held) < maxHeldMessages {
			sub.held = append(sub.held, m)
		} else if len(sub.held) == maxHeldMessages {
			sub.held = append(sub.held, nil) // marks the overflow once
			sub.session.conn.Close(CloseSlowConsumer, "too many messages while subscribing")
		}
		sub.mu.Unlock()
		return false
	}
	prev, prevEpoch := sub.lastSeq, sub.epoch
	if !sub.advance(m) {
		if sub.plain {
			sub.passed = m
		}
		sub.mu.Unlock()
		return false
	}
	sub.mu.Unlock()
	if m.isGap() && sub.exact && prevEpoch == m.Epoch && prev >= m.gapFrom {
		frame = gapFrame(m, prev+1, "") // the start of the range was delivered
	}
	return fl.send(sub.session.conn, frame)
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

// carries reports, for an exact subscription, whether it is being set up
// and whether it took m (sent it, or skipped it as already sent).
func (sub *subscription) carries(m *Message) (holding, took bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.holding, !sub.holding && sub.passed != m
}

// sawElsewhere records that the connection got m through a pattern while
// this exact subscription was being set up, so release does not send it
// again. Messages of one topic come in seq order.
func (sub *subscription) sawElsewhere(m *Message) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.holding {
		return
	}
	if sub.seenFrom == 0 || m.Epoch != sub.epoch {
		sub.epoch, sub.seenFrom = m.Epoch, m.Seq
	}
	sub.lastSeq = m.Seq
}

// release sends history (for a resume), then the messages held back while
// the subscription was set up that come after last, and makes it live.
// Nothing the connection already got through a pattern is sent again. For
// an exact subscription the caller holds the topic's index lock, so no
// fan-out of the topic runs meanwhile.
func (sub *subscription) release(last Position, history []*Message) (sent int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	seenEpoch, seenFrom, seenTo := sub.epoch, sub.seenFrom, sub.lastSeq
	seen := func(m *Message) bool {
		return seenFrom != 0 && m.Epoch == seenEpoch && m.Seq >= seenFrom && m.Seq <= seenTo
	}
	for _, m := range history {
		if !seen(m) && sub.session.conn.Send(messageFrame(m, "")) {
			sent++
		}
	}
	sub.epoch, sub.lastSeq, sub.seenFrom = last.Epoch, last.Seq, 0
	if seenFrom != 0 && seenEpoch == last.Epoch && seenTo > last.Seq {
		sub.lastSeq = seenTo
	}
	for i, m := range sub.held {
		sub.held[i] = nil
		if m != nil && sub.sendHeld(m) {
			sent++
		}
	}
	sub.held = nil
	sub.holding = false
	sub.passed = nil
	return sent
}

// sendHeld sends a held message that is new to sub. Called with mu held.
func (sub *subscription) sendHeld(m *Message) bool {
	prev, prevEpoch := sub.lastSeq, sub.epoch
	if !sub.advance(m) {
		return false
	}
	if m.isGap() && sub.exact && prevEpoch == m.Epoch && prev >= m.gapFrom {
		return sub.session.conn.Send(gapFrame(m, prev+1, ""))
	}
	return sub.session.conn.Send(messageFrame(m, sub.tag()))
}

// tag is the "pattern" a message delivered through sub carries.
func (sub *subscription) tag() string {
	if sub.exact {
		return ""
	}
	return sub.pattern
}
