package broker

import (
	"context"
	"slices"
	"time"
)

// subscribe adds a subscription. The order makes a resume racing publishes
// exact: the subscription enters the index first, holding live messages
// back; then the engine is told and the position or history read; then the
// reply and history go out, and the held messages newer than what was sent
// follow before the subscription goes live. Since the engine keeps a
// message in history before delivering it, nothing is missed, and the seq
// filter sends nothing twice.
// What the subscribe was counted of its work as it came and did not
// cause is given back once it is answered (giveBackPrepaid).
func (s *Session) subscribe(ctx context.Context, c *command) *Error {
	done, err := s.subscribeNew(ctx, c)
	s.giveBackPrepaid(c, done.joined)
	return err
}

// subscribeDone is what a subscribe did.
type subscribeDone struct {
	joined bool // it joined the topic's presence (its entry recorded in the engine, or maybe)
	made   bool // the session holds the subscription: set up now, or found
}

// subscribeNew is subscribe, reporting what it did.
func (s *Session) subscribeNew(ctx context.Context, c *command) (subscribeDone, *Error) {
	if !c.permsWaived && !c.server && !s.mayHold(c.Topic) {
		return subscribeDone{}, Errorf(CodeForbidden, "not allowed to subscribe to %q", c.Topic)
	}
	if err := s.b.checkPresenceAsked(c); err != nil {
		return subscribeDone{}, err
	}
	sub, old, err := s.addSubscription(s.b.idx.shared(c.Topic), c.Since == nil)
	if err != nil || (sub == nil && old == nil) {
		return subscribeDone{}, err // nil when the connection is gone
	}
	if old != nil {
		return subscribeDone{made: true}, s.resubscribe(ctx, c, old)
	}
	sub.presence = c.Presence
	sub.mark(markServer, c.server)
	sub.mark(markClaim, c.claim)
	sub.marks |= c.paid.settled()
	// One a backend's unsubscribe waits to end never joins the topic's
	// presence, so that its members see no join and leave of it.
	p, err := s.setUp(ctx, sub, c.Since, !s.unsubscribeAhead(c.Topic))
	if c.Since != nil {
		defer c.Since.sends.letGo() // what its history did not use of what it held
	}
	if err != nil || p.sub == nil {
		return subscribeDone{joined: p.joined}, err
	}
	done := subscribeDone{joined: p.joined, made: true}
	s.send(subscribedFrame(c, p.position(), p.recovered))
	if s.endedAhead(sub) { // checked again: such an unsubscribe may come meanwhile
		return done, nil
	}
	s.b.stats.messagesOut.Add(uint64(s.b.goLive(sub, p.subStart)))
	return done, nil
}

// endedAhead reports whether a backend's unsubscribe that came after the
// subscribe that made sub waits to end it (docs/protocol.md section 9):
// then sub never goes live, so that the client gets no message of it, nor
// its history. It leaves the index at once, and stays the session's for
// that unsubscribe (or one of the client's before it) to end and tell.
func (s *Session) endedAhead(sub *subscription) bool {
	ended := s.unsubscribeAhead(sub.pattern)
	if ended {
		s.b.unindex(sub)
	}
	return ended
}

// unsubscribeAhead is unsubscribeAheadLocked, taking mu.
func (s *Session) unsubscribeAhead(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsubscribeAheadLocked(topic)
}

// prepared is a subscription set up and still holding live messages back,
// and where it starts.
type prepared struct {
	sub *subscription
	subStart
	// joined: its session's entry was recorded in the topic's presence,
	// even when the setup then failed (the entry is removed again).
	joined bool
}

// subStart is where a new exact subscription starts: its topic's position,
// and for a resume the history to send first and whether history holds
// everything after since.
type subStart struct {
	pos       Position
	history   []*Message
	recovered *bool
	// cut: the resume read its budget (Config.MaxResumeBytes) before the
	// position, or kept less than it read (resumeSends); the connection
	// is closed with 4000 after history. A cut with no history kept none
	// (a stream's other topics filled the bound): the stream's ids keep
	// the topic at since, where its next resume starts.
	cut   bool
	since uint64 // a resume's since seq
	// sends is the bound of the resume, which holds its history in its
	// address's bound until it is queued; nil: none.
	sends *resumeSends
}

// position is the reply's position: nil for a pattern.
func (p *prepared) position() *Position {
	if !p.sub.exact {
		return nil
	}
	return &p.pos
}

// setUp puts a new subscription in the index, holding live messages back,
// tells the engine, and reads where it starts, joining the topic's
// presence if join and the topic keeps one. On failure it is taken back;
// a zero prepared with no error means the connection went away.
func (s *Session) setUp(ctx context.Context, sub *subscription, since *since, join bool) (prepared, *Error) {
	s.b.index(sub)
	if s.isClosed() {
		s.undo(ctx, sub) // Disconnected may have run before it was indexed
		return prepared{}, nil
	}
	occupied, err := s.b.remote.acquire(ctx, sub.pattern)
	if err != nil {
		s.undo(ctx, sub)
		return prepared{}, s.b.replyError(err)
	}
	sub.mark(markAcquired, true)
	// A claim that stands was counted by the subscribe that made it, this
	// one or another that came before the node held the topic.
	if occupied && !s.b.remote.endClaim(sub.pattern, time.Now().UnixNano()) {
		s.chargeSubscribeWork(sub, OccupancyCommands, markPaidOccupancy)
	}
	if !sub.exact {
		return prepared{sub: sub}, nil
	}
	var st subStart
	if since != nil && since.sends == nil {
		since.sends = newResumeSends(s.b.cfg.MaxResumeBytes, s.conn, s.replyCommandBytes())
		since.sends.hold = s.holdFor()
	}
	joined := false
	if join {
		st, joined, err = s.startAndJoin(ctx, sub, since)
	} else {
		st, err = s.b.startPosition(ctx, sub.pattern, since)
	}
	if err != nil {
		s.undo(ctx, sub)
		return prepared{joined: joined}, s.b.replyError(err)
	}
	s.chargeResume(since)
	sub.start = st.pos
	return prepared{sub: sub, subStart: st, joined: joined}, nil
}

// goLive releases a new subscription. An exact one is released under its
// topic's index lock, so that a fan-out of the topic sees it either holding
// or live, never both: that keeps overlapping subscriptions exact. The
// frames of its history are built before that lock is taken: compressing
// a resume of up to HERALD_MAX_RESUME_BYTES for a connection that
// negotiated deflate takes milliseconds, which every fan-out of the
// topic's index shard would otherwise wait for.
func (b *Broker) goLive(sub *subscription, st subStart) int {
	pos := st.pos
	history := sub.historyFrames(st.history)
	history.sends = st.sends
	if sub.exact {
		sh := b.idx.shard(sub.pattern)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if e := sub.entry; e != nil { // still indexed
			pos.Epoch = e.sharedEpoch(pos.Epoch)
			sub.start.Epoch = pos.Epoch
		}
	}
	return sub.release(pos, history, st.cut)
}

// addSubscription records a new subscription of the session, or returns the
// one it already has to pattern.
func (s *Session) addSubscription(pattern string, plain bool) (sub, old *subscription, err *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == phaseClosed {
		return nil, nil, nil
	}
	if old := s.findLocked(pattern); old != nil {
		return nil, old, nil
	}
	if err := s.takeRoomLocked(int(s.nsubs)); err != nil {
		return nil, nil, err
	}
	sub = newSubscription(s, pattern, plain)
	s.addLocked(sub)
	return sub, nil, nil
}

// undo takes back a subscription whose setup failed. A close that came
// during the setup took sub with the session's others and counted its
// unsubscribe (chargeClose); when the engine never held sub (the setup
// saw the close before it asked, or the engine refused it), that
// unsubscribe never runs and is given back: kept, a client whose
// connection closed as its subs claim (or its subscribes) were set up
// paid one command for each subscription the node never made.
func (s *Session) undo(ctx context.Context, sub *subscription) {
	s.mu.Lock()
	closedFirst := !s.removeLocked(sub) && s.phase == phaseClosed
	s.mu.Unlock()
	if closedFirst && !sub.marked(markAcquired) {
		s.giveBackAddress(1)
	}
	s.b.unindex(sub)
	s.releaseEngine(ctx, sub)
}

// resubscribe answers a subscribe to a pattern the connection already has:
// nothing changes and nothing is sent twice. A since is recovered when the
// existing subscription has delivered everything after it.
func (s *Session) resubscribe(ctx context.Context, c *command, old *subscription) *Error {
	if c.Presence {
		s.b.askPresence(old)
	}
	if c.server {
		old.mark(markServer, true)
	}
	if c.claim {
		old.mark(markClaim, true)
	}
	if !old.exact {
		s.send(subscribedFrame(c, nil, nil))
		return nil
	}
	if resumed, err := s.resumeUnsent(ctx, c, old); resumed {
		return err
	}
	pos, err := s.b.engine.Position(ctx, c.Topic)
	if err != nil {
		return s.b.replyError(err)
	}
	var recovered *bool
	if c.Since != nil {
		ok := c.Since.Epoch == pos.Epoch && c.Since.Epoch == old.start.Epoch &&
			c.Since.Seq >= old.start.Seq && c.Since.Seq <= pos.Seq
		recovered = &ok
	}
	s.send(subscribedFrame(c, &pos, recovered))
	return nil
}

// startPosition reads where a new exact subscription starts: the topic's
// position, or for a resume the history after since and whether it holds
// every message the client missed.
func (b *Broker) startPosition(ctx context.Context, topic string, since *since) (subStart, error) {
	if since == nil {
		pos, err := b.engine.Position(ctx, topic)
		return subStart{pos: pos}, err
	}
	h, err := b.readResume(ctx, topic, since)
	if err != nil {
		return subStart{}, err
	}
	since.sends.noteRead(h)
	msgs, recovered, cut := resumeFrom(since, h)
	if kept := since.sends.keep(msgs); len(kept) < len(msgs) {
		// Recovered as read: the client resumes from the last one it got,
		// or from since when a stream's other topics used the bound up.
		// Copied, so that the messages dropped are not held until the
		// history is sent: beyond what its address holds for it.
		msgs, cut = slices.Clone(kept), true
	}
	return subStart{pos: h.Position, history: msgs, recovered: &recovered, cut: cut, since: since.Seq, sends: since.sends}, nil
}

// readResume reads the history a resume from since sends, within its
// budget, and what its connection can still take (resumeSends.room),
// when the engine can stop early (ResumeReader).
func (b *Broker) readResume(ctx context.Context, topic string, since *since) (HistoryResult, error) {
	r, ok := b.engine.(ResumeReader)
	budget := since.budget
	if budget == 0 {
		budget = b.cfg.MaxResumeBytes
	}
	if !since.sends.holdRead(b.cfg.MaxMessageBytes) {
		return HistoryResult{}, errResumeHeld()
	}
	if !ok || budget <= 0 {
		return b.engine.History(ctx, topic, since.Seq, 0)
	}
	budget = since.sends.room(budget)
	from := Position{Epoch: since.Epoch, Seq: since.Seq}
	if since.hashed { // an SSE id names a hash of the epoch, which only the broker compares
		from.Epoch = ""
	}
	return r.ResumeHistory(ctx, topic, from, budget)
}

// resumeFrom picks from h the messages to send after since: none when the
// epoch changed. Recovered means they are every message after since, or
// the first of them when the read was cut: messages that history holds
// but that were not read, which the client resumes from its last one;
// never when the engine is unsure that history holds all it acknowledged.
func resumeFrom(since *since, h HistoryResult) (msgs []*Message, recovered, cut bool) {
	if !since.inEpoch(h.Epoch) {
		return nil, false, false
	}
	msgs = h.Messages
	for len(msgs) > 0 && (msgs[0].Seq <= since.Seq || msgs[0].Epoch != h.Epoch) {
		msgs = msgs[1:]
	}
	cut = len(msgs) > 0 && msgs[len(msgs)-1].Seq < h.Seq
	recovered = !h.Unsure && (since.Seq == h.Seq ||
		(len(msgs) > 0 && msgs[0].Seq == since.Seq+1 && (cut || msgs[len(msgs)-1].Seq == h.Seq)))
	return msgs, recovered, cut
}

// subscribedFrame is the subscribed reply; pos is nil for a pattern and
// recovered nil when no since was asked.
func subscribedFrame(c *command, pos *Position, recovered *bool) []byte {
	b := newFrame(96 + len(c.ID) + len(c.Topic))
	b = append(b, `{"type":"subscribed"`...)
	b = appendID(b, c.echo())
	b = appendField(b, "topic", c.Topic)
	if pos != nil {
		b = appendField(b, "epoch", pos.Epoch)
		b = appendUintField(b, "seq", pos.Seq)
	}
	if c.server {
		b = append(b, `,"server":true`...)
	}
	if recovered != nil {
		if *recovered {
			b = append(b, `,"recovered":true`...)
		} else {
			b = append(b, `,"recovered":false`...)
		}
	}
	return finishFrame(append(b, '}'))
}
