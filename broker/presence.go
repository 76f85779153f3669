package broker

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// Presence (docs/protocol.md section 8): the engine keeps who is on a topic
// and decides joins and leaves; the broker decides who is present (every
// exact subscription to a topic under Config.PresenceTopics, anonymous
// ones included) and routes the joins and leaves to the presence:true
// subscriptions of this node.

// keepsPresence reports whether topic keeps presence here.
func (b *Broker) keepsPresence(topic string) bool {
	return TopicKeepsPresence(b.cfg.PresenceTopics, topic)
}

// TopicKeepsPresence reports whether topic keeps presence under patterns
// (Config.PresenceTopics): a concrete topic under one of them. The engine
// is told the same rule, so that it keeps presence state for those only.
func TopicKeepsPresence(patterns []string, topic string) bool {
	if IsPattern(topic) {
		return false
	}
	for _, p := range patterns {
		if Match(p, topic) {
			return true
		}
	}
	return false
}

// presenceOff is the answer to presence asked of a topic that keeps none.
func presenceOff(topic string) *Error {
	return Errorf(CodePresenceOff, "%q keeps no presence: only topics under HERALD_PRESENCE_TOPICS do, never a pattern", topic)
}

// checkPresenceAsked refuses a subscribe with presence:true that cannot
// have it, before anything is subscribed.
func (b *Broker) checkPresenceAsked(c *command) *Error {
	if c.Presence && !b.keepsPresence(c.Topic) {
		return presenceOff(c.Topic)
	}
	return nil
}

// askPresence turns joins and leaves on for a subscription the session
// already had; the topic's index lock orders it with HandlePresence.
func (b *Broker) askPresence(sub *subscription) {
	sh := b.idx.shard(sub.pattern)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sub.presence {
		return
	}
	sub.presence = true
	if sub.exact && sub.entry != nil { // still indexed
		sh.watch(sub)
	}
}

// startAndJoin reads where a new exact subscription starts
// (startPosition) and, on a presence topic, records its presence entry at
// the same time, so that presence adds no round trip to the engine to the
// subscribe's wait. Called on the session's worker, before the subscribed
// reply: when either fails, the caller undoes the subscription, and with
// it the entry if it was made. It reports whether the engine recorded the
// entry or may have (addMayHaveRun); one it did not is not counted
// (chargeSubscribeWork), as its join and leave did not run.
func (s *Session) startAndJoin(ctx context.Context, sub *subscription, since *since) (subStart, bool, error) {
	if !s.b.keepsPresence(sub.pattern) {
		st, err := s.b.startPosition(ctx, sub.pattern, since)
		return st, false, err
	}
	work := s.b.joinWork(sub.pattern, s.subject())
	charged := s.chargeSubscribeWork(sub, work, markPaidPresence)
	entry := s.presenceEntry(sub.pattern)
	added := make(chan error, 1)
	go func() { added <- s.b.engine.AddPresence(ctx, entry) }() // waited for below
	st, err := s.b.startPosition(ctx, sub.pattern, since)
	jerr := <-added
	// Even a failed add may have been recorded (a timeout), and removing
	// an entry that is not there does nothing: the undo removes it.
	sub.mark(markPresent, true)
	joined := jerr == nil || addMayHaveRun(jerr)
	if !joined && charged {
		s.giveBackAddress(work)
	}
	if err == nil {
		err = jerr
	}
	return st, joined, err
}

// addMayHaveRun reports whether a presence add that failed with err may
// have reached the engine and been recorded: its outcome is unknown, or
// it timed out (store/redis answers a command Redis took too long over
// with a timeout). Such an add is not given back what it was counted:
// the engine did its work, and the undo's removal after it, which the
// budget counts 3 commands for; given back, a client whose adds timed
// out while Redis was slow had each for the subscribe's one.
func addMayHaveRun(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &timeout) && timeout.Timeout()
}

// leave removes the presence entry of a subscription that ends, if it has
// one, unless another subscription of the session holds it now, or it is
// left to a subscribe to the topic that waits in the queue (deferLeave).
// Called on the session's worker. A failed removal is logged; the
// engine is the one to retry it (store/redis does) or to drop the entry
// when this node stops.
func (s *Session) leave(ctx context.Context, sub *subscription) {
	if !sub.marked(markPresent) || s.subscribeQueued(sub.pattern) && s.deferLeave(sub) {
		return
	}
	sub.mark(markPresent, false)
	if s.heldElsewhere(sub) {
		return
	}
	if err := s.b.engine.RemovePresence(ctx, s.presenceEntry(sub.pattern)); err != nil {
		s.b.log.Warn("presence entry not removed", zap.String("topic", sub.pattern),
			zap.String("session", s.ID()), zap.Error(err))
	}
}

// deferLeave moves sub's presence entry to a release queued on the
// session's worker, behind a subscribe to the topic that waits there:
// when a client unsubscribes and subscribes again at once (herald.js
// loads a backlog so), the new subscription takes the entry over, and
// others see neither a leave nor a join. It reports whether it did: not
// when the session is closed (Disconnected has taken the queue), when the
// caller removes the entry.
func (s *Session) deferLeave(sub *subscription) bool {
	entry := &subscription{session: s, pattern: sub.pattern, exact: true, marks: markPresent}
	s.mu.Lock()
	if s.phase == phaseClosed {
		s.mu.Unlock()
		return false
	}
	sub.mark(markPresent, false)
	s.enqueueLocked(job{release: []*subscription{entry}})
	return true
}

// subscribeQueued reports whether a subscribe to topic waits in the
// session's queue: the entry of topic is then left to it.
func (s *Session) subscribeQueued(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queue == nil {
		return false
	}
	for _, j := range s.queue.jobs {
		if j.err == nil && j.cmd.Type == cmdSubscribe && j.cmd.Topic == topic {
			return true
		}
	}
	return false
}

// heldElsewhere reports whether another subscription of the session holds
// sub's presence entry now.
func (s *Session) heldElsewhere(sub *subscription) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	other := s.findLocked(sub.pattern)
	return other != nil && other != sub && other.marked(markPresent)
}

// releasesIn returns the subscriptions queued for release in jobs, which
// a closing session must not drop with its commands.
func releasesIn(jobs []job) []*subscription {
	var out []*subscription
	for _, j := range jobs {
		out = append(out, j.release...)
	}
	return out
}

// presenceEntry is the session's entry on topic, with its identity now.
func (s *Session) presenceEntry(topic string) PresenceEntry {
	s.mu.Lock()
	info := s.infoLocked()
	s.mu.Unlock()
	e := PresenceEntry{Topic: topic, Session: s.ID(), User: s.subject()}
	if info != "" {
		e.Info = []byte(info)
	}
	return e
}

// HandlePresence routes a join or leave to the topic's presence:true
// subscriptions on this node, except the one of the session that caused
// it; one that repeats the last change of its user goes only to those
// that need it (presence_watchers.go). A subscription still being set up
// gets it after its subscribed reply. Joins and leaves of anonymous
// sessions are never sent. It takes the topic's index read lock, so it
// runs beside fan-out and never waits for a connection. Like a message's
// fan-out it queues the frame on every connection first and starts each
// writer once after (batch.go).
func (b *Broker) HandlePresence(c PresenceChange) {
	if c.User == "" {
		return
	}
	cause, _ := parseSessionID(c.Session) // none matches when it is no uuid
	frame := presenceChangeFrame(c)
	batch := batchPool.Get().(*Batch)
	sh := b.idx.shard(c.Topic)
	sh.mu.RLock()
	if w := sh.watched[c.Topic]; w != nil {
		w.send(c, cause, frame, batch)
	}
	sh.mu.RUnlock()
	batch.Flush()
	batchPool.Put(batch)
}

// offerChange queues a join or leave frame, its write started by
// batch.Flush, or holds it while the subscription is set up; past
// maxHeldMessages the connection is closed as a slow consumer, as for
// messages.
func (sub *subscription) offerChange(frame []byte, batch *Batch) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	st := sub.setup
	if st == nil {
		batch.send(sub.session.conn, frame)
		return
	}
	if len(st.changes) < maxHeldMessages {
		st.changes = append(st.changes, frame)
	} else if len(st.changes) == maxHeldMessages {
		st.changes = append(st.changes, nil) // marks the overflow once
		sub.session.conn.Close(CloseSlowConsumer, "too many presence changes while subscribing")
	}
}

// presenceChangeFrame is {"type":"join","topic","user","info"} or
// {"type":"leave","topic","user"}, encoded once for every subscription.
func presenceChangeFrame(c PresenceChange) []byte {
	b := newFrame(48 + len(c.Topic) + len(c.User) + len(c.Info))
	if c.Join {
		b = append(b, `{"type":"join"`...)
	} else {
		b = append(b, `{"type":"leave"`...)
	}
	b = appendField(b, "topic", c.Topic)
	b = appendField(b, "user", c.User)
	if c.Join && len(c.Info) > 0 {
		b = append(b, `,"info":`...)
		b = append(b, c.Info...)
	}
	return finishFrame(append(b, '}'))
}

// parseSessionID reads a session id as welcome writes it.
func parseSessionID(s string) ([16]byte, bool) {
	id, err := uuid.Parse(s)
	if err != nil {
		return [16]byte{}, false
	}
	return id, true
}
