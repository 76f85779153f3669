package redis_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

// waitTimeout bounds every wait for asynchronous delivery or recovery. It is
// a deadline, not a timing assertion.
const waitTimeout = 15 * time.Second

// recorder is a Handler that keeps what it was handed, per topic, and notes
// every breach of the Handler contract: a seq out of order within an epoch,
// or two calls at once for one topic.
type recorder struct {
	mu       sync.Mutex
	got      map[string][]*broker.Message
	inside   map[string]bool
	breaches []string
	gaps     []broker.Gap
}

func newRecorder() *recorder {
	return &recorder{got: make(map[string][]*broker.Message), inside: make(map[string]bool)}
}

// HandleGap records g; the engine's tests read them with the messages.
func (r *recorder) HandleGap(g broker.Gap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaps = append(r.gaps, g)
}

func (r *recorder) HandleMessage(m *broker.Message) {
	r.mu.Lock()
	if r.inside[m.Topic] {
		r.breaches = append(r.breaches, fmt.Sprintf("%s: two calls at once", m.Topic))
	}
	r.inside[m.Topic] = true
	msgs := r.got[m.Topic]
	if n := len(msgs); n > 0 && msgs[n-1].Epoch == m.Epoch && m.Seq != msgs[n-1].Seq+1 {
		r.breaches = append(r.breaches, fmt.Sprintf("%s: seq %d after %d", m.Topic, m.Seq, msgs[n-1].Seq))
	}
	r.got[m.Topic] = append(msgs, m)
	r.mu.Unlock()

	time.Sleep(time.Microsecond) // widen the window a concurrent call would hit
	r.mu.Lock()
	r.inside[m.Topic] = false
	r.mu.Unlock()
}

// messages returns a copy of what topic got so far.
func (r *recorder) messages(topic string) []*broker.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[topic])
}

// waitFor waits until topic got at least n messages and returns them.
func (r *recorder) waitFor(t testing.TB, topic string, n int) []*broker.Message {
	t.Helper()
	var got []*broker.Message
	if !eventually(func() bool { got = r.messages(topic); return len(got) >= n }) {
		t.Fatalf("topic %q got %d messages within %v, want %d", topic, len(got), waitTimeout, n)
	}
	return got
}

func (r *recorder) checkBreaches(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.breaches {
		t.Error("handler contract broken: " + b)
	}
}

// eventually polls cond until it holds or waitTimeout passes.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// wantSeqs fails unless msgs are exactly seqs from..to in order.
func wantSeqs(t testing.TB, what string, msgs []*broker.Message, from, to uint64) {
	t.Helper()
	var got []uint64
	for _, m := range msgs {
		got = append(got, m.Seq)
	}
	var want []uint64
	for s := from; s <= to; s++ {
		want = append(want, s)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: seqs %v, want %v", what, got, want)
	}
}
