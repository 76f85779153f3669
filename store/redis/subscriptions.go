package redis

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/broker"
)

// subscriptions is what the broker subscribed on this node, and the delivery
// state of every topic being delivered.
//
// Unsubscribing a pattern costs no pass over the tracked topics: it bumps
// gen, and a state is checked against the remaining subscriptions later,
// once: when a message of its topic arrives, or in one sweep of all states
// before the next pattern subscribe or position check, however many
// patterns went in between. Until then the pattern set only shrinks, so a
// state still covered when checked was covered all along and its position
// still holds; a subscribe that could cover a dropped topic again sweeps
// first, so a new subscription never inherits an old position.
type subscriptions struct {
	mu       sync.RWMutex
	exact    map[string]bool      // topics
	patterns map[string]time.Time // wildcard patterns, and when each was subscribed
	trie     broker.PatternSet    // the same patterns, for matching
	topics   map[string]*topicState
	gen      uint64 // bumped by every pattern unsubscribe
	swept    uint64 // gen when every state was last checked for coverage

	active activity // the states with recent traffic, which periodic checks read

	// globs are the Redis globs the patterns are subscribed with; the
	// Engine's psMu guards them, not mu.
	globs globs

	// coverEvals counts coverage evaluations (one topic against every
	// subscription), so that tests can bound the work of unsubscribing.
	coverEvals atomic.Uint64
}

// topicState is where delivery of one topic stands. mu is held while a
// message of the topic is handed over, so the Handler never runs twice at
// once for one topic.
type topicState struct {
	topic string

	mu     sync.Mutex
	epoch  string     // "" until the first message or position is known
	last   uint64     // the last seq handed over (or reported as a gap) in epoch
	lastID string     // the id of the message handed over at last; "" if unknown or a gap
	left   leftEpochs // the epochs delivery left: never gone back to (see failover.go)
	// held are messages of epoch after a hole past last that a read of
	// history failed to fill, in seq order, at most HistorySize (refill.go).
	held []*broker.Message
	// catchUp, while delivery of a topic a pattern covers has yet to
	// start after a break of the classic connection or an exact
	// subscribe, is from when its messages are owed, in Unix milliseconds
	// as a message's Time (untracked.go); 0 otherwise. catchUpEnd is the
	// last seq it may pass over (an exact subscription's start: what
	// follows is owed however early it was accepted); 0: any. A Unix time
	// and not a time.Time, so that the two take no more room than one.
	catchUp    int64
	catchUpEnd uint64

	// gen is the subscriptions' gen when the topic was last known covered;
	// guarded by the subscriptions' mu.
	gen uint64

	// gone is set when no subscription covers the topic any more; a
	// delivery or check that picked the state up before stops handing over.
	gone atomic.Bool

	// touched is when a message of the topic last arrived, in Unix
	// nanoseconds; atomic so that it is read without mu, which a Handler
	// may hold long.
	touched atomic.Int64

	// listed says the state is in the activity set; see activity.
	listed atomic.Bool

	// rebasing says that a rebase of epoch runs off mu, and that nothing
	// more of epoch is handed over (see beginRebaseLocked). refused says
	// Redis failed the last rebase tried in epoch, which the next check
	// tries again: told at Warn once (see finishRebase). Guarded by mu;
	// last, where they take no room of their own.
	rebasing, refused bool
}

func newSubscriptions() subscriptions {
	return subscriptions{
		exact:    make(map[string]bool),
		patterns: make(map[string]time.Time),
		topics:   make(map[string]*topicState),
		active:   activity{set: make(map[*topicState]struct{})},
	}
}

// has reports whether pattern is subscribed.
func (s *subscriptions) has(pattern string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, held := s.patterns[pattern]
	return s.exact[pattern] || held
}

// add subscribes a topic or pattern.
func (s *subscriptions) add(pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if broker.IsPattern(pattern) {
		s.sweepLocked() // no state uncovered since the last sweep may be covered again
		s.patterns[pattern] = time.Now()
		s.trie.Add(pattern)
		return
	}
	if st := s.topics[pattern]; st != nil {
		s.validLocked(st) // the only state this subscribe could cover again
	}
	s.exact[pattern] = true
}

// start sets where delivery of topic goes on from, unless a message of it
// was delivered already: pos, or with catchUp its epoch's start, for a
// catch-up from then (untracked.go).
func (s *subscriptions) start(topic string, pos broker.Position, catchUp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics[topic] == nil && s.exact[topic] {
		st := s.newStateLocked(topic, pos)
		if !catchUp.IsZero() && pos.Seq > 0 { // see Engine.startTopic
			st.last, st.catchUp, st.catchUpEnd = 0, catchUp.UnixMilli(), pos.Seq
			s.active.note(st)
		}
		s.topics[topic] = st
	}
}

// remove unsubscribes pattern. A topic's state goes at once; the states a
// wildcard pattern covered go lazily (see subscriptions).
func (s *subscriptions) remove(pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, held := s.patterns[pattern]; held {
		delete(s.patterns, pattern)
		s.trie.Remove(pattern)
		s.gen++
		return
	}
	delete(s.exact, pattern)
	if st := s.topics[pattern]; st != nil && !s.coversLocked(pattern) {
		s.dropLocked(st)
	}
}

// state returns the delivery state of topic, creating it when a
// subscription covers topic, or nil when none does.
//
// A topic without a state is one this node delivers nothing of yet: never
// covered before, dropped when no subscription covered it (a subscription
// since starts afresh), or forgotten after HistoryTTL without a message
// (Redis has expired it, so its next message starts a new epoch). Nothing
// published before its next message is owed to this node's subscriptions,
// but for what a break of the classic connection lost of a topic the
// node never delivered (untracked.go).
func (s *subscriptions) state(topic string) *topicState {
	st, _ := s.stateOrLongWalk(topic)
	return st
}

// stateOrLongWalk is state, and when it returns nil, whether the topic's
// match against the patterns went through more than
// broker.MaxWalkedNodes trie nodes (the Handler's CheckMatch is then to
// be told: dispatch).
func (s *subscriptions) stateOrLongWalk(topic string) (*topicState, bool) {
	s.mu.RLock()
	st := s.topics[topic]
	known := st != nil && st.gen == s.gen
	covered, walked := st != nil, 0
	if !covered {
		covered, walked = s.coversWalkedLocked(topic) // most messages a glob over-matches stop here
	}
	s.mu.RUnlock()
	if known {
		return st, false
	}
	if !covered {
		return nil, walked > broker.MaxWalkedNodes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st = s.topics[topic]; st != nil && s.validLocked(st) {
		return st, false
	}
	if !s.coversLocked(topic) {
		return nil, false
	}
	st = s.newStateLocked(topic, broker.Position{})
	s.topics[topic] = st
	return st, false
}

// validLocked reports whether st's topic is still covered, dropping st
// when it is not. s.mu must be held for writing.
func (s *subscriptions) validLocked(st *topicState) bool {
	if st.gen == s.gen {
		return true
	}
	if !s.coversLocked(st.topic) {
		s.dropLocked(st)
		return false
	}
	st.gen = s.gen
	return true
}

// covered reports whether a subscription still covers st's topic,
// dropping st when none does. A check picks its states up before it reads
// their positions, and a pattern that went meanwhile leaves them to be
// found uncovered lazily (see subscriptions): without this a check would
// hand over, from history, messages published after Unsubscribe returned.
func (s *subscriptions) covered(st *topicState) bool {
	if st.gone.Load() {
		return false
	}
	s.mu.RLock()
	known := st.gen == s.gen
	s.mu.RUnlock()
	if known {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !st.gone.Load() && s.validLocked(st)
}

// sweepLocked drops every state no subscription covers, once per gen.
// s.mu must be held for writing.
func (s *subscriptions) sweepLocked() {
	if s.swept == s.gen {
		return
	}
	for _, st := range s.topics {
		s.validLocked(st)
	}
	s.swept = s.gen
}

func (s *subscriptions) dropLocked(st *topicState) {
	st.gone.Store(true)
	delete(s.topics, st.topic)
	s.active.remove(st)
}

func (s *subscriptions) coversLocked(topic string) bool {
	covered, _ := s.coversWalkedLocked(topic)
	return covered
}

// coversWalkedLocked is coversLocked, and how many trie nodes the match
// against the patterns went through.
func (s *subscriptions) coversWalkedLocked(topic string) (bool, int) {
	s.coverEvals.Add(1)
	if s.exact[topic] {
		return true, 0
	}
	return s.trie.MatchesWalked(topic)
}

func (s *subscriptions) newStateLocked(topic string, pos broker.Position) *topicState {
	st := &topicState{topic: topic, epoch: pos.Epoch, last: pos.Seq, gen: s.gen}
	st.touch()
	return st
}

func (st *topicState) touch() { st.touched.Store(time.Now().UnixNano()) }

func (st *topicState) idleFor() time.Duration {
	return time.Since(time.Unix(0, st.touched.Load()))
}
