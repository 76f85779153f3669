package broker

import "context"

// Stream is an SSE stream being opened (docs/protocol.md section 10): its
// subscriptions are set up and hold live messages back until Start sends
// the subscribed event and lets them go. Call Start or Abort, once.
type Stream struct {
	s        *Session
	st       *stream
	prepared []prepared
	// sends bounds its resumes and holds their history in its address's
	// bound until Start queues it; nil: it resumes none.
	sends *resumeSends
}

// OpenStream checks an SSE request's topics (1 to MaxStreamTopics, topics
// or patterns, each allowed by info's permissions), then subscribes a new
// session to them, resuming each exact topic from lastEventID, an id an
// earlier stream was sent (empty, malformed or foreign: from now). Errors
// are *Error: bad_request, invalid_topic, forbidden,
// too_many_subscriptions (past the connection's bound, or past what its
// address's budget ever holds: checkStreamFits), rate_limited, or what
// the engine answered.
func (b *Broker) OpenStream(ctx context.Context, info ClientInfo, topics []string, lastEventID string) (*Stream, error) {
	asked, topics, paid, err := b.paceStreamRequest(info, topics)
	if err != nil {
		return nil, err
	}
	st := &stream{}
	info.Framing = FramingSSE
	s := b.newSession(st, info)
	b.stats.streams.Add(1)
	o := &Stream{s: s, st: st}
	s.mu.Lock()
	s.running = true // the setup below holds the queue as a worker: endSetUp
	s.mu.Unlock()
	defer s.endSetUp()
	if !info.Expires.IsZero() {
		s.mu.Lock()
		s.setExpiry(info.Expires)
		s.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
	defer cancel()
	// A stream refused is given back the work of its topics that did not
	// run, as a subscribe is (giveBackPrepaid): those not set up.
	giveBack := func(from int, joined bool) {
		for i := from; i < len(topics); i++ {
			s.giveBackWork(paid[i], topics[i], joined && i == from)
		}
	}
	if err := s.authorizeStream(ctx, asked); err != nil {
		giveBack(0, false)
		o.Abort()
		return nil, err
	}
	sinces := b.shareResume(resumeFromID(lastEventID, topics), s.replyCommandBytes())
	if o.sends = sharedSends(sinces); o.sends != nil {
		o.sends.hold = s.holdFor()
	}
	for i, since := range sinces {
		sub, _, serr := s.addSubscription(topics[i], since == nil)
		if serr == nil && sub != nil {
			sub.marks |= paid[i].settled()
		}
		var p prepared
		if serr == nil && sub == nil {
			// Closed meanwhile (closeOverlapping, by a fan-out that found
			// its patterns set up so far past MaxMatchingPatterns).
			serr = Errorf(CodeUnavailable, "the stream was closed while it opened")
		}
		if serr == nil {
			if p, serr = s.setUp(ctx, sub, since, true); p.sub != nil {
				o.prepared = append(o.prepared, p)
			} else if serr == nil { // the session was closed meanwhile
				serr = Errorf(CodeUnavailable, "the stream was closed while it opened")
			}
		}
		if serr != nil {
			giveBack(i, p.joined)
			o.Abort()
			return nil, serr
		}
	}
	o.sends.keepHeld()
	for _, p := range o.prepared {
		if p.sub.exact && len(st.slots) < maxStreamTopics {
			st.slots = append(st.slots, p.slot())
		}
	}
	return o, nil
}

// shareResume splits MaxResumeBytes among the topics a stream resumes, so
// that one request naming 32 of them reads no more than one resume, and
// bounds what they queue together by it (resumeSends), each perCommand
// bytes they send counting as a command.
func (b *Broker) shareResume(sinces []*since, perCommand int) []*since {
	n := 0
	for _, s := range sinces {
		if s != nil {
			n++
		}
	}
	if n == 0 || b.cfg.MaxResumeBytes <= 0 {
		return sinces
	}
	sends := newStreamSends(b.cfg.MaxResumeBytes, len(sinces), perCommand)
	for _, s := range sinces {
		if s != nil {
			s.budget = max(1, b.cfg.MaxResumeBytes/n)
			s.sends = sends
		}
	}
	return sinces
}

// sharedSends is the bound the resumes of sinces share, nil when none
// resumes.
func sharedSends(sinces []*since) *resumeSends {
	for _, s := range sinces {
		if s != nil && s.sends != nil {
			return s.sends
		}
	}
	return nil
}

// withServerTopics adds to a stream's topics those of its token's subs
// claim (docs/protocol.md section 9), whatever its permissions say: they
// are streamed, and announced in the subscribed event, as the ones asked
// for. Malformed ones are left out, as a WebSocket session leaves them.
func withServerTopics(topics, subs []string) []string {
	for _, t := range subs {
		if ValidPattern(t) && !contains(topics, t) {
			topics = append(topics, t)
		}
	}
	return topics
}

// slot is where the stream stands in p's topic before its history: the
// client has everything up to it.
func (p *prepared) slot() streamSlot {
	sl := streamSlot{topic: p.sub.pattern, topicHash: idHash(p.sub.pattern)}
	seq := p.pos.Seq
	switch {
	case len(p.history) > 0:
		seq = p.history[0].Seq - 1
	case p.cut: // and kept none
		seq = p.since
	}
	sl.moveTo(p.pos.Epoch, seq)
	return sl
}

// checkStreamTopics returns topics without repeats, or why they cannot be
// streamed.
func (b *Broker) checkStreamTopics(perms Permissions, topics []string) ([]string, *Error) {
	if len(topics) == 0 || len(topics) > maxStreamTopics {
		return nil, Errorf(CodeBadRequest, "give 1 to %d topic parameters, not %d", maxStreamTopics, len(topics))
	}
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if err := patternError(t); err != nil {
			return nil, err.aboutTopic(t)
		}
		if _, replaced := b.asksHook(t); perms != nil && !perms.CanSubscribe(t) && !replaced {
			return nil, Errorf(CodeForbidden, "not allowed to subscribe to %q", t).aboutTopic(t)
		}
		if !contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > b.cfg.MaxSubscriptions {
		return nil, Errorf(CodeTooManySubscriptions, "at most %d subscriptions per connection", b.cfg.MaxSubscriptions)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, have := range list {
		if have == s {
			return true
		}
	}
	return false
}

// Start hands the stream its connection, sends the subscribed event and
// then each topic's history and the messages held back, exact topics
// first, and returns the session that receives what the connection brings.
func (o *Stream) Start(c Conn) *Session {
	defer o.sends.letGo() // what its history did not use of what it held
	st := o.st
	st.mu.Lock()
	st.target = c
	if st.closeCode != 0 {
		c.Close(st.closeCode, st.closeReason)
	}
	c.Send(o.subscribedEvent())
	st.mu.Unlock()
	b := o.s.b
	for _, exact := range []bool{true, false} {
		// Exact topics go live first, so that a message of one of them
		// comes through it, and counts in the ids, never through a
		// pattern of the same stream.
		for _, p := range o.prepared {
			if p.sub.exact == exact {
				b.stats.messagesOut.Add(uint64(b.goLive(p.sub, p.subStart)))
			}
		}
	}
	o.prepared = nil
	b.list(o.s) // controls reach it from now on
	return o.s
}

// Abort ends a stream that will not start: its subscriptions are taken
// back.
func (o *Stream) Abort() {
	o.sends.letGo()
	o.prepared = nil
	o.s.Disconnected()
}

// subscribedEvent is the first event of the stream, with the id of where
// it starts; called with st.mu held.
func (o *Stream) subscribedEvent() []byte {
	b := make([]byte, 0, 64+len(o.prepared)*96)
	b = append(b, "event: subscribed\ndata: {\"topics\":["...)
	for i, p := range o.prepared {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"topic":`...)
		b = appendJSONString(b, p.sub.pattern)
		if p.sub.exact {
			b = appendField(b, "epoch", p.pos.Epoch)
			b = appendUintField(b, "seq", p.pos.Seq)
		}
		if p.recovered != nil {
			b = appendBoolField(b, "recovered", *p.recovered)
		}
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	return o.st.appendID(b)
}

// appendBoolField appends ,"key":true or false.
func appendBoolField(b []byte, key string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}
