package broker

import "context"

// reasonForbidden is the reason of an unsubscribed sent when a refresh
// took away the right to a subscription (docs/protocol.md section 5).
const reasonForbidden = "forbidden"

// refresh replaces the connection's token with a valid one for the same
// subject; a bad one leaves the old in force. Every subscription the new
// token does not allow ends, each announced before the refreshed reply,
// so that a client that reads the reply knows what it still holds.
func (s *Session) refresh(ctx context.Context, c *command) *Error {
	if v := s.b.cfg.Tokens; v != nil {
		info, err := v.Verify(c.Token)
		if err != nil {
			return &Error{Code: CodeUnauthorized, Message: "the token is not valid", Err: err}
		}
		s.mu.Lock()
		if info.Subject != s.subject() {
			s.mu.Unlock()
			return Errorf(CodeUnauthorized, "the token is for another subject")
		}
		var forbidden []*subscription
		if !sameSubscribe(s.who.perms, info.Perms) {
			forbidden = s.takeForbiddenLocked(info.Perms)
		}
		s.who.perms = info.Perms       // who is set: the node takes refreshes (newIdentity)
		s.who.info = string(info.Info) // for presence entries made from now on
		if s.phase != phaseClosed {
			s.setExpiry(info.Expires)
		}
		s.mu.Unlock()
		for _, sub := range forbidden {
			s.endSubscription(ctx, sub)
			s.send(unsubscribedFrame(echoID{}, sub.pattern, reasonForbidden))
		}
	}
	s.send(simpleReply("refreshed", c.echo()))
	return nil
}

// sameSubscribe reports whether next allows exactly the subscriptions old
// allows, so that none needs checking again: every subscription a session
// holds was checked against the permissions in force when its worker set
// it up, or by the refresh that brought them, or needs no check (made by
// the server, or accepted by the subscribe hook in their place).
func sameSubscribe(old, next Permissions) bool {
	c, ok := old.(SubscribeComparer)
	return ok && next != nil && c.SameSubscribe(next)
}

// takeForbiddenLocked removes and returns the subscriptions perms does not
// allow; nil perms allow all. Called with mu held. Subscriptions are set
// up on the session's worker, which runs this too, so none is half made.
func (s *Session) takeForbiddenLocked(perms Permissions) []*subscription {
	if perms == nil {
		return nil
	}
	var out []*subscription
	for sub := s.subs; sub != nil; {
		next := sub.next
		if !sub.marked(markServer) && !perms.CanSubscribe(sub.pattern) && !s.hookWaives(sub.pattern) {
			s.removeLocked(sub)
			out = append(out, sub)
		}
		sub = next
	}
	return out
}

// endSubscription takes a subscription the session no longer holds out of
// the index, so fan-out stops at once, then out of the engine: the path of
// an unsubscribe. Called on the session's worker, without mu.
func (s *Session) endSubscription(ctx context.Context, sub *subscription) {
	s.b.unindex(sub)
	s.releaseEngine(ctx, sub)
}

// unsubscribedFrame is the unsubscribed reply (id set, reason empty) or
// notice (no id; reason says why the server ended it).
func unsubscribedFrame(id echoID, topic, reason string) []byte {
	b := newFrame(64 + len(id.id) + len(topic) + len(reason))
	b = append(b, `{"type":"unsubscribed"`...)
	b = appendID(b, id)
	b = appendField(b, "topic", topic)
	if reason != "" {
		b = appendField(b, "reason", reason)
	}
	return finishFrame(append(b, '}'))
}
