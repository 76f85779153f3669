package enginetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

var topicCounter atomic.Uint64

// uniqueTopic returns a topic no other subtest uses, so that engines sharing
// a backend (one Redis server) never see each other's messages even if
// their key spaces overlapped.
func uniqueTopic(base string) string {
	return fmt.Sprintf("%s.t%d-%d", base, time.Now().UnixNano(), topicCounter.Add(1))
}

// recorder is the suite's Handler: it keeps every delivered message and
// gap per topic and notes contract breaches seen inside the Handler
// (concurrent calls for one topic, a seq skipped or repeated without a
// gap in its place), which the test reports later from its own goroutine.
type recorder struct {
	mu       sync.Mutex
	byTopic  map[string][]*broker.Message
	gaps     map[string][]broker.Gap
	covered  map[string]broker.Position // the last seq a message or gap covered
	inFlight map[string]bool
	breaches []string
	changes  map[string][]broker.PresenceChange // joins and leaves by topic
	controls []broker.Control
	changed  chan struct{} // closed and replaced on every delivery

	hook atomic.Pointer[func(*broker.Message)]
}

func newRecorder() *recorder {
	return &recorder{
		byTopic:  make(map[string][]*broker.Message),
		gaps:     make(map[string][]broker.Gap),
		covered:  make(map[string]broker.Position),
		inFlight: make(map[string]bool),
		changes:  make(map[string][]broker.PresenceChange),
		changed:  make(chan struct{}),
	}
}

// onMessage sets a function run inside HandleMessage, before the message is
// recorded.
func (r *recorder) onMessage(fn func(*broker.Message)) { r.hook.Store(&fn) }

func (r *recorder) HandleMessage(m *broker.Message) {
	r.enter(m.Topic)
	if fn := r.hook.Load(); fn != nil {
		(*fn)(m)
	}
	r.leave(m.Topic, m.Epoch, m.Seq, m.Seq, func() { r.byTopic[m.Topic] = append(r.byTopic[m.Topic], m) })
}

// HandleGap records g among the topic's gaps.
func (r *recorder) HandleGap(g broker.Gap) {
	r.enter(g.Topic)
	r.leave(g.Topic, g.Epoch, g.From, g.To, func() { r.gaps[g.Topic] = append(r.gaps[g.Topic], g) })
}

// leave ends a Handler call that handed over seqs from..to of topic in
// epoch: it checks their order, records them with record (called under
// mu) and wakes the waiters.
func (r *recorder) leave(topic, epoch string, from, to uint64, record func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight[topic] = false
	r.coverLocked(topic, epoch, from, to)
	record()
	close(r.changed)
	r.changed = make(chan struct{})
}

// coverLocked notes that seqs from..to of topic in epoch were handed over
// (one message, or a gap), and a breach unless they follow the last ones
// of that epoch: within an epoch every seq is covered once, in order.
func (r *recorder) coverLocked(topic, epoch string, from, to uint64) {
	last, seen := r.covered[topic]
	if seen && last.Epoch == epoch && from != last.Seq+1 {
		r.breaches = append(r.breaches, fmt.Sprintf("topic %s: seqs %d-%d handed over after %d", topic, from, to, last.Seq))
	}
	if from > to {
		r.breaches = append(r.breaches, fmt.Sprintf("topic %s: empty gap %d-%d", topic, from, to))
	}
	r.covered[topic] = broker.Position{Epoch: epoch, Seq: to}
}

// enter notes that HandleMessage runs for topic, and a breach when it
// already ran for it: Handler calls of one topic must never overlap.
func (r *recorder) enter(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight[topic] {
		r.breaches = append(r.breaches, "HandleMessage called concurrently for topic "+topic)
	}
	r.inFlight[topic] = true
}

// messages returns a copy of what topic received so far.
func (r *recorder) messages(topic string) []*broker.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*broker.Message(nil), r.byTopic[topic]...)
}

// waitFor waits until topic received at least n messages and returns them,
// or fails the test at the deadline.
func (r *recorder) waitFor(t *testing.T, topic string, n int) []*broker.Message {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, changed := len(r.byTopic[topic]), r.changed
		r.mu.Unlock()
		if got >= n {
			return r.messages(topic)
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("topic %q: %d of %d messages delivered within %v", topic, got, n, waitTimeout)
		}
	}
}

// checkBreaches fails the test for every breach seen in HandleMessage.
func (r *recorder) checkBreaches(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.breaches {
		t.Error(b)
	}
}

// checkCovered fails unless topic's messages and gaps reached seq upto in
// one epoch, each seq covered once and in order, and fails for every gap
// when lossless is set: an engine that lost nothing reports none.
func (r *recorder) checkCovered(t *testing.T, topic string, upto uint64, lossless bool) {
	t.Helper()
	r.checkBreaches(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if got := r.covered[topic]; got.Seq != upto {
		t.Errorf("topic %q: messages and gaps cover seqs up to %d, want %d", topic, got.Seq, upto)
	}
	for _, g := range r.gaps[topic] {
		if lossless {
			t.Errorf("topic %q: gap %d-%d, though nothing was lost", topic, g.From, g.To)
		}
	}
}

// checkSeqs fails unless msgs carry seqs 1..len(msgs) in order, once each.
func checkSeqs(t *testing.T, msgs []*broker.Message) {
	t.Helper()
	for i, m := range msgs {
		if want := uint64(i + 1); m.Seq != want {
			t.Fatalf("message %d of %q has seq %d, want %d", i, m.Topic, m.Seq, want)
		}
	}
}

// HandlePresence records c among its topic's joins and leaves.
func (r *recorder) HandlePresence(c broker.PresenceChange) {
	r.record(func() { r.changes[c.Topic] = append(r.changes[c.Topic], c) })
}

// HandleControl records c.
func (r *recorder) HandleControl(c broker.Control) {
	r.record(func() { r.controls = append(r.controls, c) })
}

// record runs add under mu and wakes the waiters.
func (r *recorder) record(add func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	add()
	close(r.changed)
	r.changed = make(chan struct{})
}
