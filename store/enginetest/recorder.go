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

// recorder is the suite's Handler: it keeps every delivered message per
// topic and notes contract breaches seen inside HandleMessage (concurrent
// calls for one topic), which the test reports later from its own goroutine.
type recorder struct {
	mu       sync.Mutex
	byTopic  map[string][]*broker.Message
	gaps     map[string][]broker.Gap
	inFlight map[string]bool
	breaches []string
	changed  chan struct{} // closed and replaced on every delivery

	hook atomic.Pointer[func(*broker.Message)]
}

func newRecorder() *recorder {
	return &recorder{
		byTopic:  make(map[string][]*broker.Message),
		gaps:     make(map[string][]broker.Gap),
		inFlight: make(map[string]bool),
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
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight[m.Topic] = false
	r.byTopic[m.Topic] = append(r.byTopic[m.Topic], m)
	close(r.changed)
	r.changed = make(chan struct{})
}

// HandleGap records g among the topic's gaps.
func (r *recorder) HandleGap(g broker.Gap) {
	r.enter(g.Topic)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight[g.Topic] = false
	r.gaps[g.Topic] = append(r.gaps[g.Topic], g)
	close(r.changed)
	r.changed = make(chan struct{})
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

// checkSeqs fails unless msgs carry seqs 1..len(msgs) in order, once each.
func checkSeqs(t *testing.T, msgs []*broker.Message) {
	t.Helper()
	for i, m := range msgs {
		if want := uint64(i + 1); m.Seq != want {
			t.Fatalf("message %d of %q has seq %d, want %d", i, m.Topic, m.Seq, want)
		}
	}
}
