package broker

import "sync"

// maxHeldMessages bounds the live messages kept for one subscription while
// the engine answers its setup. A connection that would need more is
// treated as a slow consumer: closed with 4000, to resume with since.
const maxHeldMessages = 4096

// subscription is one connection's subscription to a topic or pattern. It
// is set up (setup non-nil: live messages are held back) until release,
// and live after it.
type subscription struct {
	session *Session
	next    *subscription // the session's next one (sublist.go); guarded by the session's mu
	pattern string

	// entry and pos place it in the index; guarded by the index lock.
	entry *entry
	pos   int32
	// The flags share a word with pos: an idle subscription is 112
	// bytes, a size class.
	exact bool // a concrete topic: deliveries are filtered by seq
	plain bool // subscribed without since (and not resumed since: resumeUnsent): what came before is not its to send
	// presence: joins and leaves are delivered (subscribe's presence:true).
	// Set before the subscription is indexed, or under its topic's
	// index lock, which HandlePresence reads it under.
	presence bool
	marks    workerMarks // the worker's

	start Position // where it went live; set by the worker before release, read by fan-out after

	mu    sync.Mutex
	setup *setup // non-nil until release; guarded by mu
	// last is, for a live exact subscription, the last message delivered:
	// messages at or before it in the same epoch are skipped. Guarded by mu.
	last cursor
}

// workerMarks are what the session's worker records of a subscription,
// one bit each: only the worker reads or writes them.
type workerMarks uint8

const (
	markAcquired workerMarks = 1 << iota // holds a reference on the engine subscription
	markPresent                          // holds a presence entry in the engine
	// markServer: a backend or the token's subs made it, whatever the
	// permissions, so a refresh keeps it.
	markServer
	// markPaidPresence and markPaidOccupancy: its subscribe was counted
	// the work of joining the topic's presence, or of making the node hold
	// the topic, as it came (prepaySubscribeLocked).
	markPaidPresence
	markPaidOccupancy
	// markClaim: the token's subs claim made it (a subscribe of the claim
	// found it or made it), so its client may resume it (resumeUnsent).
	markClaim
)

func (sub *subscription) marked(m workerMarks) bool { return sub.marks&m != 0 }

func (sub *subscription) mark(m workerMarks, on bool) {
	if on {
		sub.marks |= m
	} else {
		sub.marks &^= m
	}
}

// setup is what a subscription keeps only while it is being set up.
type setup struct {
	held []*Message // live messages in seq order; a nil last one marks the overflow
	// seen is, for an exact subscription, the range the connection got
	// through one of its patterns meanwhile, not to be sent again.
	seen seqRange
	// changes are the join and leave frames held back, sent after the
	// messages (presence.go).
	changes [][]byte
}

// cursor is a position in a topic: a seq within an epoch.
type cursor struct {
	epoch string
	seq   uint64
}

// seqRange is an inclusive range of seqs in one epoch; from 0 is empty.
type seqRange struct {
	epoch    string
	from, to uint64
}

func (r seqRange) has(m *Message) bool {
	return r.from != 0 && m.Epoch == r.epoch && m.Seq >= r.from && m.Seq <= r.to
}

// newSubscription returns a subscription of s to pattern, being set up.
func newSubscription(s *Session, pattern string, plain bool) *subscription {
	return &subscription{session: s, pattern: pattern, exact: !IsPattern(pattern), plain: plain, setup: &setup{}}
}

// outcome is what offer did with a live message.
type outcome uint8

const (
	sent        outcome = iota // queued on the connection
	refused                    // the connection did not take it (closed or slow)
	held                       // kept back until release
	repeated                   // an exact subscription already delivered it
	beforeStart                // older than a plain exact subscription's start: not its to send
)

// offer hands a live message to the subscription: it is held back while the
// subscription is being set up, skipped when it was already sent or comes
// before a plain subscription's start, and otherwise queued in the
// session's framing of enc (the gap frame is narrowed here when the start
// of its range was delivered), its write started by batch.Flush.
func (sub *subscription) offer(enc *encoded, batch *Batch) outcome {
	m := enc.m
	sub.mu.Lock()
	if sub.setup != nil {
		sub.hold(m)
		sub.mu.Unlock()
		return held
	}
	prev := sub.last
	if !sub.advance(m) {
		sub.mu.Unlock()
		if sub.plain && m.Epoch == sub.start.Epoch && m.Seq <= sub.start.Seq {
			return beforeStart
		}
		return repeated
	}
	sub.mu.Unlock()
	var frame []byte
	if f := sub.narrowGap(m, prev); f != nil {
		frame = sub.framedMessage(m, f)
	} else {
		frame = enc.frame(sub.session.framing)
	}
	if !sub.session.deliver(m, frame, batch) {
		return refused
	}
	return sent
}

// hold keeps m until release; past maxHeldMessages the connection is
// closed as a slow consumer, once. Called with mu held.
func (sub *subscription) hold(m *Message) {
	st := sub.setup
	if len(st.held) < maxHeldMessages {
		st.held = append(st.held, m)
	} else if len(st.held) == maxHeldMessages {
		st.held = append(st.held, nil) // marks the overflow once
		sub.session.conn.Close(CloseSlowConsumer, "too many messages while subscribing")
	}
}

// advance reports whether m is new to a live subscription and records it
// as delivered. Called with mu held.
func (sub *subscription) advance(m *Message) bool {
	if !sub.exact {
		return true
	}
	if m.Epoch == sub.last.epoch && m.Seq <= sub.last.seq {
		return false
	}
	sub.last = cursor{m.Epoch, m.Seq}
	return true
}

// narrowGap returns the frame of gap marker m for an exact subscription
// that had already delivered up to prev inside its range: only the rest is
// reported. Nil when the shared frame fits.
func (sub *subscription) narrowGap(m *Message, prev cursor) []byte {
	if !m.isGap() || !sub.exact || prev.epoch != m.Epoch || prev.seq < m.gapFrom {
		return nil
	}
	return gapFrame(m, prev.seq+1, "")
}

// sawElsewhere records that the connection got m through a pattern while
// this exact subscription was being set up, so release does not send it
// again. Messages of one topic come in seq order.
func (sub *subscription) sawElsewhere(m *Message) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	st := sub.setup
	if st == nil {
		return
	}
	if st.seen.from == 0 || m.Epoch != st.seen.epoch {
		from := m.Seq
		if m.isGap() {
			from = m.gapFrom
		}
		st.seen = seqRange{epoch: m.Epoch, from: from}
	}
	st.seen.to = m.Seq
}

// framedHistory is a resume's history with each message's frame as the
// subscription's connection takes it (historyFrames).
type framedHistory struct {
	messages []*Message
	frames   [][]byte
	// sends holds the history in its address's bound until it is queued
	// (resume_hold.go); nil: nothing is held.
	sends *resumeSends
}

// historyFrames frames history for sub's connection. It takes no lock:
// the frames depend on the messages and the connection's framing alone.
func (sub *subscription) historyFrames(history []*Message) framedHistory {
	if len(history) == 0 {
		return framedHistory{}
	}
	frames := make([][]byte, len(history))
	for i, m := range history {
		frames[i] = sub.framedMessage(m, messageFrame(m, ""))
	}
	return framedHistory{messages: history, frames: frames}
}

// release sends history (for a resume), then the messages held back while
// the subscription was set up that come after last, and makes it live.
// Nothing the connection already got through a pattern is sent again. For
// an exact subscription the caller holds the topic's index lock, so no
// fan-out of the topic runs meanwhile. cut says history stops short of
// last (subStart.cut): the connection is closed with 4000 behind it.
func (sub *subscription) release(last Position, history framedHistory, cut bool) (n int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	st := sub.setup
	if st == nil {
		return 0
	}
	for i, m := range history.messages {
		// What the address held for the frame is given back as it is
		// queued, where the address counts it: given back all at once
		// before, it was taken by the reads of the address's other
		// resumes meanwhile, and the frames closed their connection.
		history.sends.letGoBytes(len(history.frames[i]))
		if !st.seen.has(m) && sub.session.deliver(m, history.frames[i], nil) {
			n++
		}
	}
	if cut {
		// History past what was read was not read: nothing after it may
		// go out, or the client would resume past what it never got. A
		// closing connection takes no more frames.
		sub.session.conn.Close(CloseSlowConsumer, "resume larger than the write queue: resume again from the last message")
	}
	sub.last = cursor{last.Epoch, last.Seq}
	if st.seen.from != 0 && st.seen.epoch == last.Epoch && st.seen.to > last.Seq {
		sub.last.seq = st.seen.to
	}
	sub.setup = nil
	for i, m := range st.held {
		st.held[i] = nil
		if m != nil && !sub.servedByTopic(m) && sub.sendHeld(m) {
			n++
		}
	}
	for _, frame := range st.changes {
		if frame != nil {
			sub.session.conn.Send(frame)
		}
	}
	return n
}

// servedByTopic reports whether a message a stream's pattern held while
// the stream opened went, or goes, to the connection through the stream's
// subscription to its topic, which held it too and went live first
// (Stream.Start): the pattern is not to send it again. A message before a
// plain subscription's start is not the topic's to send, so the pattern
// sends it, as fan-out does once both are live. A WebSocket session sets
// its subscriptions up one at a time, so that none of its patterns holds
// what one of its topics holds. Called with mu held.
func (sub *subscription) servedByTopic(m *Message) bool {
	s := sub.session
	if sub.exact || s.framing != FramingSSE {
		return false
	}
	s.mu.Lock()
	ex := s.findLocked(m.Topic)
	s.mu.Unlock()
	if ex == nil || ex == sub {
		return false
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.setup != nil || m.Epoch != ex.last.epoch || m.Seq > ex.last.seq {
		return false
	}
	return !ex.plain || m.Epoch != ex.start.Epoch || m.Seq > ex.start.Seq
}

// sendHeld sends a held message that is new to sub. Called with mu held.
func (sub *subscription) sendHeld(m *Message) bool {
	prev := sub.last
	if !sub.advance(m) {
		return false
	}
	plain := sub.narrowGap(m, prev)
	if plain == nil {
		plain = messageFrame(m, sub.tag())
	}
	return sub.session.deliver(m, sub.framedMessage(m, plain), nil)
}

// tag is the "pattern" a message delivered through sub carries.
func (sub *subscription) tag() string {
	if sub.exact {
		return ""
	}
	return sub.pattern
}
