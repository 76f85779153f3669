package redis

import (
	"slices"
	"sync"
	"time"

	"github.com/herald-broker/herald/broker"
)

// A pattern covers topics this node delivers nothing of yet: it tracks a
// topic only from its first message (see subscriptions.state). What a
// break of the classic connection lost of a tracked topic, the check
// after the reconnect finds; but that check knew nothing of a topic whose
// first messages since the pattern was subscribed were published while
// the connection was down. Its first message to arrive afterwards started
// delivery, and a topic published to only then was never delivered at
// all: a 200 that never reached a pattern subscriber connected all along,
// and no gap (docs/protocol.md sections 2 and 3). A Sentinel failover
// showed it: a node's pub/sub was back a second after another node's
// publishes to a new topic were.
//
// So each break owes such topics a catch-up (untrackedDebt) of the
// messages accepted since the last probe that came back through the
// connection before it. Until the debt is paid, the first message to
// arrive of a topic only patterns cover starts delivery from the first
// message in history accepted since then (or since the earliest of those
// patterns was subscribed, if later), the hole before it read from
// history; and once the connection is back, the node searches Redis for
// the topics its patterns cover and it does not track whose last message
// is owed, and checks them from their epoch's start (untracked_scan.go).
//
// Nothing records when a message was published but the time it was
// accepted, on the publishing node's clock. A publish runs in Redis at
// most Timeout after it was accepted, and the nodes' clocks are taken to
// agree within clockSlack: the debt starts that much before the last
// probe that came back. A pattern's own start is taken as it is: a
// message accepted before it is not the pattern's, and a client that
// publishes, then subscribes a pattern, must not get it; a publishing
// node whose clock is behind may so have a message accepted just after
// the pattern was subscribed go uncaught. The search costs a SCAN of the
// keyspace (every master's on Cluster) and a read of the last history
// entry of each topic found, once after every break of the classic
// connection while the node holds a pattern.

// clockSlack is how far apart the nodes' clocks are taken to be at most.
const clockSlack = time.Second

// untrackedDebt is what breaks of the classic connection owe the topics
// only patterns cover that the node does not track: their messages since
// since. gen counts the breaks, so that a catch-up that started before
// another break does not pay that one's debt.
type untrackedDebt struct {
	mu     sync.Mutex
	since  time.Time // zero: nothing owed
	gen    uint64
	warned bool // a search for the topics owed failed for a check interval
}

// owe adds a break whose losses may start at since.
func (d *untrackedDebt) owe(since time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.since.IsZero() || since.Before(d.since) {
		d.since = since
	}
	d.gen++
}

// owed returns the debt: since when messages are owed (zero: none) and
// the breaks it counts.
func (d *untrackedDebt) owed() (time.Time, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.since, d.gen
}

// paid clears the debt, unless another break added to it since owed
// returned gen.
func (d *untrackedDebt) paid(gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen == gen {
		d.since, d.warned = time.Time{}, false
	}
}

// failing reports whether a search for the topics owed has failed for
// long, the first time only, for a warning.
func (d *untrackedDebt) failing(long time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.warned || d.since.IsZero() || time.Since(d.since) < long {
		return false
	}
	d.warned = true
	return true
}

// noteSure records that a probe sent at sent came back through the
// classic connection: everything published before it has arrived.
func (e *Engine) noteSure(sent time.Time) { e.classicSure.Store(sent.UnixNano()) }

// oweUntracked records a break of the classic connection: the messages
// accepted since the last probe that came back (less the time a publish
// may take, and the clocks' slack) may be lost.
func (e *Engine) oweUntracked() {
	sure := time.Unix(0, e.classicSure.Load())
	e.untracked.owe(sure.Add(-e.cfg.Timeout - clockSlack))
}

// patternSince returns when the earliest pattern covering topic was
// subscribed, and false when no pattern covers it.
func (s *subscriptions) patternSince(topic string) (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var first time.Time
	for _, p := range s.trie.Matching(topic) { // not every pattern: a node may hold thousands
		if at := s.patterns[p]; first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// anyPattern reports whether a pattern is subscribed.
func (s *subscriptions) anyPattern() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.patterns) > 0
}

// untracked reports whether a pattern covers topic and the node tracks
// no state of it.
func (s *subscriptions) untracked(topic string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.topics[topic] == nil && !s.exact[topic] && s.trie.Matches(topic)
}

// catchUpFrom returns from when the messages of topic, which the node
// does not track, are owed to its patterns, and false when no break owes
// them anything.
func (e *Engine) catchUpFrom(topic string) (time.Time, bool) {
	since, _ := e.untracked.owed()
	if since.IsZero() || e.cfg.HistorySize == 0 {
		return time.Time{}, false
	}
	first, ok := e.subs.patternSince(topic)
	if !ok {
		return time.Time{}, false
	}
	if first.After(since) {
		since = first
	}
	return since, true
}

// owedOf returns the messages of ms (read from history after st.last, in
// seq order) that st's topic owes its subscriptions: all of them, but
// while its catch-up is pending those from the first accepted since
// st.catchUp, or past st.catchUpEnd, st.last moved past the ones before
// it. When none was accepted earlier, what history no longer holds before
// the first may have been owed: it goes as a gap. st.mu must be held.
func (st *topicState) owedOf(ms []*broker.Message) []*broker.Message {
	if st.catchUp == 0 {
		return ms
	}
	from, end := st.catchUp, st.catchUpEnd
	st.catchUp = 0
	i := slices.IndexFunc(ms, func(m *broker.Message) bool { return m.Time >= from || end > 0 && m.Seq > end })
	if i < 0 {
		i = len(ms)
	}
	if i > 0 {
		st.last, st.lastID = max(st.last, ms[i-1].Seq), ms[i-1].ID
	}
	return ms[i:]
}

// startLocked sets where delivery of st's topic, new to this node, starts
// at its first message m: just before m, or while a break owes the topic
// a catch-up, at the epoch's start, for the hole before m to be read from
// history through owedOf. st.mu must be held.
func (e *Engine) startLocked(st *topicState, m *broker.Message) {
	st.epoch, st.last = m.Epoch, m.Seq-1
	if since, ok := e.catchUpFrom(st.topic); ok && m.Seq > 1 {
		st.last, st.catchUp, st.catchUpEnd = 0, since.UnixMilli(), 0
	}
}

// startTopic starts delivery of topic, just subscribed exactly, at pos,
// its position in Redis, unless a message of it started delivery already.
// When a pattern of this node covers the topic, delivery starts at the
// epoch's start instead, with a catch-up from when the earliest such
// pattern was subscribed (no clock slack: see above), for history to give
// the pattern's subscribers (owedOf) what they were owed and never got;
// the new exact subscription skips what comes before its start (broker).
// The catch-up passes over nothing after pos, however early it was
// accepted: that is the exact subscription's, and a publish runs in
// Redis up to the timeout after it was accepted, on a node whose clock
// may be behind. Started at pos, the topic would count as delivered up to it, though the
// pattern's subscribers got none of it when the classic connection had
// broken without this node knowing yet, or on Cluster when the classic
// copy of a message published a moment before the subscribe came after
// it (exact topics use shard connections there). With no break, no
// message of it reached the node since the pattern was subscribed (else
// it would have a state), so the catch-up finds little or nothing.
func (e *Engine) startTopic(topic string, pos broker.Position) {
	var since time.Time
	if first, ok := e.subs.patternSince(topic); ok && e.cfg.HistorySize > 0 {
		since = first
	}
	e.subs.start(topic, pos, since)
}

// catchingUp returns the tracked states whose catch-up is pending.
func (s *subscriptions) catchingUp() []*topicState {
	s.mu.RLock()
	all := make([]*topicState, 0, len(s.topics))
	for _, st := range s.topics {
		all = append(all, st)
	}
	s.mu.RUnlock()
	return slices.DeleteFunc(all, func(st *topicState) bool { // st.mu is taken before s.mu, never inside it
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.catchUp == 0
	})
}
