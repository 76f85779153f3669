package broker

// A session's subscriptions form a list through their next field, in the
// order they were made, guarded by the session's mu: a session keeps no
// array of them (Session.subs).

// addLocked appends sub to the session's list; its address's bound
// counted it already (takeAddressSubscription), and each removal below
// gives it back.
func (s *Session) addLocked(sub *subscription) {
	sub.next = nil
	at := &s.subs
	for *at != nil {
		at = &(*at).next
	}
	*at = sub
	s.nsubs++
}

// findLocked returns the subscription to pattern, or nil.
func (s *Session) findLocked(pattern string) *subscription {
	for sub := s.subs; sub != nil; sub = sub.next {
		if sub.pattern == pattern {
			return sub
		}
	}
	return nil
}

// takeLocked removes and returns the subscription to pattern, if any.
func (s *Session) takeLocked(pattern string) *subscription {
	for at := &s.subs; *at != nil; at = &(*at).next {
		if sub := *at; sub.pattern == pattern {
			*at, sub.next = sub.next, nil
			s.nsubs--
			s.giveAddressSubscriptions(1)
			return sub
		}
	}
	return nil
}

// removeLocked takes sub out of the list, if it is there.
func (s *Session) removeLocked(sub *subscription) {
	for at := &s.subs; *at != nil; at = &(*at).next {
		if *at == sub {
			*at, sub.next = sub.next, nil
			s.nsubs--
			s.giveAddressSubscriptions(1)
			return
		}
	}
}

// takeAllLocked empties the list and returns what it held, for a
// session that closes.
func (s *Session) takeAllLocked() []*subscription {
	out := make([]*subscription, 0, s.nsubs)
	for sub := s.subs; sub != nil; {
		next := sub.next
		sub.next = nil
		out = append(out, sub)
		sub = next
	}
	s.giveAddressSubscriptions(int(s.nsubs))
	s.subs, s.nsubs = nil, 0
	return out
}
