package broker

// A session's subscriptions form a list through their next field, in the
// order they were made, guarded by the session's mu: a session keeps no
// array of them (Session.subs). One that holds subIndexFrom or more also
// keeps an index of them (subIndex), so that finding, adding or removing
// one costs the same however many it holds: searched from the start of
// the list, filling one connection with 50,000 took 189 s, 3.8 ms a
// subscribe (BenchmarkFillSession).

const (
	// subIndexFrom is how many subscriptions a session holds when it
	// indexes them. A search of a list of 64 took under 100 ns, against
	// some 10 µs for the whole of a subscribe; the index costs some 55
	// bytes a subscription, which the idle session with a few is spared.
	subIndexFrom = 64
	// subIndexUnder is how few it holds when it drops the index again:
	// apart from subIndexFrom, so that subscribes and unsubscribes
	// around one count do not make and drop it each time.
	subIndexUnder = subIndexFrom / 4
)

// subIndex finds a session's subscriptions by pattern without a walk of
// the list. It maps each one's pattern to the one before it in the list
// (nil: it is the first), which is what taking it out needs, and which
// keeps the list itself, and the walks of it, as they are.
type subIndex struct {
	before map[string]*subscription // nil while the session holds few
	last   *subscription            // the list's last one
	// most is the most the session held since before was made. A Go map
	// keeps the room of what was deleted from it, so one that holds under
	// half of that is made again: a connection that held 1,000 and kept
	// 20 kept the 55 KB of an index of 1,000.
	most int32
}

// indexLocked is s's index of its subscriptions, or nil: it has not held
// subIndexFrom since it last held fewer than subIndexUnder.
func (s *Session) indexLocked() *subIndex {
	if s.extra == nil || s.extra.subs.before == nil {
		return nil
	}
	return &s.extra.subs
}

// linkAfter is where the list points to the subscription after prev:
// s.subs for the first (prev nil).
func (s *Session) linkAfter(prev *subscription) **subscription {
	if prev == nil {
		return &s.subs
	}
	return &prev.next
}

// addLocked appends sub to the session's list; its address's bound
// counted it already (takeAddressSubscription), and each removal below
// gives it back.
func (s *Session) addLocked(sub *subscription) {
	sub.next = nil
	s.nsubs++
	if x := s.indexLocked(); x != nil {
		*s.linkAfter(x.last) = sub
		x.before[sub.pattern] = x.last
		x.last = sub
		x.most = max(x.most, s.nsubs)
		return
	}
	at := &s.subs
	for *at != nil {
		at = &(*at).next
	}
	*at = sub
	if s.nsubs >= subIndexFrom {
		s.buildIndexLocked()
	}
}

// buildIndexLocked indexes the session's list, in a map of its size.
func (s *Session) buildIndexLocked() {
	x := &s.extraLocked().subs
	x.before = make(map[string]*subscription, s.nsubs)
	var prev *subscription
	for sub := s.subs; sub != nil; sub = sub.next {
		x.before[sub.pattern] = prev
		prev = sub
	}
	x.last, x.most = prev, s.nsubs
}

// dropIndexLocked forgets the index, for a session that holds few again.
func (s *Session) dropIndexLocked() {
	if s.extra != nil {
		s.extra.subs = subIndex{}
		s.trimExtraLocked()
	}
}

// findLocked returns the subscription to pattern, or nil.
func (s *Session) findLocked(pattern string) *subscription {
	if x := s.indexLocked(); x != nil {
		prev, ok := x.before[pattern]
		if !ok {
			return nil
		}
		return *s.linkAfter(prev)
	}
	for sub := s.subs; sub != nil; sub = sub.next {
		if sub.pattern == pattern {
			return sub
		}
	}
	return nil
}

// takeLocked removes and returns the subscription to pattern, if any.
func (s *Session) takeLocked(pattern string) *subscription {
	sub := s.findLocked(pattern)
	if sub != nil {
		s.removeLocked(sub)
	}
	return sub
}

// removeLocked takes sub out of the list, if it is there, and reports
// whether it was.
func (s *Session) removeLocked(sub *subscription) bool {
	at := s.linkToLocked(sub)
	if at == nil {
		return false
	}
	*at = sub.next
	x := s.indexLocked()
	if x != nil {
		prev := x.before[sub.pattern]
		delete(x.before, sub.pattern)
		if sub.next != nil {
			x.before[sub.next.pattern] = prev
		} else {
			x.last = prev
		}
	}
	sub.next = nil
	s.nsubs--
	s.giveAddressSubscriptions(1)
	switch {
	case x == nil:
	case s.nsubs < subIndexUnder:
		s.dropIndexLocked()
	case s.nsubs < x.most/2: // once each halving: a walk of what is left
		s.buildIndexLocked()
	}
	return true
}

// linkToLocked is where the list points to sub (s.subs or the next of the
// one before it), or nil when sub is not in it.
func (s *Session) linkToLocked(sub *subscription) **subscription {
	if x := s.indexLocked(); x != nil {
		prev, ok := x.before[sub.pattern]
		if at := s.linkAfter(prev); ok && *at == sub {
			return at
		}
		return nil
	}
	for at := &s.subs; *at != nil; at = &(*at).next {
		if *at == sub {
			return at
		}
	}
	return nil
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
	s.dropIndexLocked()
	return out
}
