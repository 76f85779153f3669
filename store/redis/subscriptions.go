package redis

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/broker"
)

// subscriptions is what the broker subscribed on this node, and the delivery
// state of every topic being delivered.
type subscriptions struct {
	mu       sync.RWMutex
	exact    map[string]bool // topics
	patterns map[string]bool // wildcard patterns
	topics   map[string]*topicState
}

// topicState is where delivery of one topic stands. mu is held while a
// message of the topic is handed over, so the Handler never runs twice at
// once for one topic.
type topicState struct {
	topic string

	mu    sync.Mutex
	epoch string // "" until the first message or position is known
	last  uint64 // the last seq handed over in epoch

	// gone is set when no subscription covers the topic any more; a
	// delivery or check that picked the state up before stops handing over.
	gone atomic.Bool

	// touched is when a message was last handed over, in Unix nanoseconds;
	// atomic so that it is read without mu, which a Handler may hold long.
	touched atomic.Int64
}

func newSubscriptions() subscriptions {
	return subscriptions{
		exact:    make(map[string]bool),
		patterns: make(map[string]bool),
		topics:   make(map[string]*topicState),
	}
}

// has reports whether pattern is subscribed.
func (s *subscriptions) has(pattern string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.exact[pattern] || s.patterns[pattern]
}

// add subscribes a topic or pattern.
func (s *subscriptions) add(pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if broker.IsPattern(pattern) {
		s.patterns[pattern] = true
	} else {
		s.exact[pattern] = true
	}
}

// start sets where delivery of topic goes on from, unless a message of it
// was delivered already.
func (s *subscriptions) start(topic string, pos broker.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics[topic] == nil && s.exact[topic] {
		s.topics[topic] = newTopicState(topic, pos)
	}
}

// remove unsubscribes pattern and forgets the topics nothing covers now.
func (s *subscriptions) remove(pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.exact, pattern)
	delete(s.patterns, pattern)
	for t, st := range s.topics {
		if !s.coversLocked(t) {
			st.gone.Store(true)
			delete(s.topics, t)
		}
	}
}

// globUsed reports whether a subscribed pattern other than pattern maps to
// the same Redis glob.
func (s *subscriptions) globUsed(k keys, glob string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for p := range s.patterns {
		if k.glob(p) == glob {
			return true
		}
	}
	return false
}

// state returns the delivery state of topic, creating it when a
// subscription covers topic, or nil when none does.
func (s *subscriptions) state(topic string) *topicState {
	s.mu.RLock()
	st := s.topics[topic]
	s.mu.RUnlock()
	if st != nil {
		return st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st = s.topics[topic]; st != nil {
		return st
	}
	if !s.coversLocked(topic) {
		return nil
	}
	st = newTopicState(topic, broker.Position{})
	s.topics[topic] = st
	return st
}

func (s *subscriptions) coversLocked(topic string) bool {
	if s.exact[topic] {
		return true
	}
	for p := range s.patterns {
		if broker.Match(p, topic) {
			return true
		}
	}
	return false
}

// snapshot returns the subscribed topics and patterns.
func (s *subscriptions) snapshot() (exact, patterns []string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for t := range s.exact {
		exact = append(exact, t)
	}
	for p := range s.patterns {
		patterns = append(patterns, p)
	}
	return exact, patterns
}

// states returns the tracked topics, first forgetting those only a pattern
// covers that had nothing delivered for idle: their keys have expired.
func (s *subscriptions) states(idle time.Duration) []*topicState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*topicState, 0, len(s.topics))
	for t, st := range s.topics {
		if !s.exact[t] && st.idleFor() > idle {
			delete(s.topics, t) // still covered: a late message starts a new state
			continue
		}
		out = append(out, st)
	}
	return out
}

func newTopicState(topic string, pos broker.Position) *topicState {
	st := &topicState{topic: topic, epoch: pos.Epoch, last: pos.Seq}
	st.touch()
	return st
}

func (st *topicState) touch() { st.touched.Store(time.Now().UnixNano()) }

func (st *topicState) idleFor() time.Duration {
	return time.Since(time.Unix(0, st.touched.Load()))
}
