package broker

import "context"

// resumeUnsent answers a resume (a subscribe with since) of an exact
// subscription the connection has that was made without since and has
// sent nothing yet: the token's subs, made again as a reconnecting
// client's connection opens, before its resumes are read, or a backend's.
// Answered as a subscription already had is answered, the client would
// be told recovered:false and never sent what it missed. When since is
// before where the subscription started, in its epoch, the subscription
// holds live messages back again, as a new one does while it is set up,
// and the resume is made as it is for a new one: the history after
// since, then what was published meanwhile, none missing and none twice.
// False when this is not such a resume: resubscribe answers it.
func (s *Session) resumeUnsent(ctx context.Context, c *command, sub *subscription) (bool, *Error) {
	if c.Since == nil || !sub.exact || !s.mayResumeUnsent(sub) || !s.b.holdUnsent(sub, c.Since) {
		return false, nil
	}
	since := c.Since
	since.sends = newResumeSends(s.b.cfg.MaxResumeBytes, s.conn, s.replyCommandBytes())
	since.sends.hold = s.holdFor()
	defer since.sends.letGo() // what its history did not use of what it held
	st, err := s.b.startPosition(ctx, c.Topic, since)
	if err != nil {
		// Live from its start, it would send what comes next ahead of
		// the history the client missed, which herald.js takes, moving
		// past that history: its retry would be told recovered. Closed,
		// it sends nothing more, and the client resumes from since again
		// as it reconnects; so whether the address's bound could not hold
		// the history or the engine could not read it.
		reason := "the history could not be read: resume again from the last message"
		if since.sends.hold.refused {
			reason = "too much history held for this address: resume again from the last message"
		}
		s.conn.Close(CloseSlowConsumer, reason)
		s.b.goLive(sub, subStart{pos: sub.start}) // ends with the session
		return true, s.b.replyError(err)
	}
	s.chargeResume(since)
	// From here on it is a resume's subscription, as setUp makes one
	// (written while it holds, as there, so fan-out reads them after),
	// which has sent every message after since when it recovered: a
	// resume from there again is recovered (resubscribe).
	sub.start, sub.plain = st.pos, false
	if *st.recovered {
		sub.start.Seq = since.Seq
	}
	s.send(subscribedFrame(c, &st.pos, st.recovered))
	if s.endedAhead(sub) { // a backend's unsubscribe waits to end it
		return true, nil
	}
	s.b.stats.messagesOut.Add(uint64(s.b.goLive(sub, st)))
	return true, nil
}

// holdUnsent holds back again the live messages of sub, which went live
// without since at its start, when it has sent none since and since is
// before its start in its epoch, and reports whether it did. Under its
// topic's index lock, as goLive takes it, so that no fan-out of the topic
// runs meanwhile: every message it sends after this is held.
func (b *Broker) holdUnsent(sub *subscription, since *since) bool {
	sh := b.idx.shard(sub.pattern)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	start := cursor{sub.start.Epoch, sub.start.Seq}
	if sub.entry == nil || sub.setup != nil || !sub.plain || sub.last != start ||
		since.Epoch != start.epoch || since.Seq >= start.seq {
		return false
	}
	sub.setup = &setup{}
	return true
}

// mayResumeUnsent reports whether the client may read sub's history
// through resumeUnsent: sub is its own, or its token's subs claim made
// it, as a stream resumes the claim's topics (docs/protocol.md section
// 10). A backend's order gives the topic's messages from then on, and
// its history only when the client could read that by subscribing itself:
// its token allows the topic and no subscribe hook decides it. Otherwise
// a subscribe with since of any topic a backend once granted the
// connection read the topic's whole history, which the token refuses.
func (s *Session) mayResumeUnsent(sub *subscription) bool {
	if !sub.marked(markServer) || sub.marked(markClaim) {
		return true
	}
	if ask, _ := s.b.asksHook(sub.pattern); ask {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	perms := s.permsLocked()
	return perms == nil || perms.CanSubscribe(sub.pattern)
}
