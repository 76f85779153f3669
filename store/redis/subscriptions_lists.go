package redis

import "time"

// What the supervisor works through (subscriptions.go): the subscribed
// topics, and the tracked states, every one, those of some topics, those
// with recent messages, after dropping the states no subscription covers
// or that idled long enough to be forgotten.

// topicsSubscribed returns the subscribed topics.
func (s *subscriptions) topicsSubscribed() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.exact))
	for t := range s.exact {
		out = append(out, t)
	}
	return out
}

// statesOf returns the tracked states of topics.
func (s *subscriptions) statesOf(topics []string) []*topicState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*topicState, 0, len(topics))
	for _, t := range topics {
		if st := s.topics[t]; st != nil {
			out = append(out, st)
		}
	}
	return out
}

// all returns every tracked state, first dropping those no subscription
// covers.
func (s *subscriptions) all() []*topicState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	out := make([]*topicState, 0, len(s.topics))
	for _, st := range s.topics {
		out = append(out, st)
	}
	return out
}

// forgetIdle drops the states no subscription covers, and forgets those
// only a pattern covers that had no message for idle. Nothing is owed
// before a forgotten topic's next message when idle is HistoryTTL plus the
// longest a silent break goes unnoticed (a probe interval and timeout),
// and the topic was checked since the last reconnect (it is not owed): a
// message published before the break's start has arrived, and one
// published since comes more than HistoryTTL after the topic's last, when
// Redis had expired it, so it starts a new epoch. It costs a pass over
// the tracked topics without a Redis command, every HistoryTTL/2.
func (s *subscriptions) forgetIdle(idle time.Duration, owed []*topicState) {
	keep := make(map[*topicState]bool, len(owed))
	for _, st := range owed {
		keep[st] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	for t, st := range s.topics {
		if !s.exact[t] && !keep[st] && st.idleFor() > idle {
			s.dropLocked(st) // still covered: a late message starts a new state
		}
	}
}

// recent returns the states with a message within window, first dropping
// the states no subscription covers.
func (s *subscriptions) recent(window time.Duration) []*topicState {
	s.mu.Lock()
	s.sweepLocked()
	s.mu.Unlock()
	return s.active.recent(window)
}
