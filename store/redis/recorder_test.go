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
// every breach of the Handler contract: a seq skipped or repeated within an
// epoch without a gap in its place, or two calls at once for one topic.
type recorder struct {
	mu       sync.Mutex
	got      map[string][]*broker.Message
	spans    map[string][]span // messages and gaps, in the order handed over
	inside   map[string]bool
	breaches []string
	changes  []broker.PresenceChange

	controlsGot []broker.Control
}

// span is what one Handler call covered of a topic: one message, or a gap.
type span struct {
	epoch    string
	from, to uint64
	gap      bool
}

func newRecorder() *recorder {
	return &recorder{
		got:    make(map[string][]*broker.Message),
		spans:  make(map[string][]span),
		inside: make(map[string]bool),
	}
}

// HandleGap records g in the place of its messages.
func (r *recorder) HandleGap(g broker.Gap) {
	r.enter(g.Topic, span{epoch: g.Epoch, from: g.From, to: g.To, gap: true})
	r.leave(g.Topic)
}

func (r *recorder) HandleMessage(m *broker.Message) {
	r.enter(m.Topic, span{epoch: m.Epoch, from: m.Seq, to: m.Seq})
	r.mu.Lock()
	r.got[m.Topic] = append(r.got[m.Topic], m)
	r.mu.Unlock()
	time.Sleep(time.Microsecond) // widen the window a concurrent call would hit
	r.leave(m.Topic)
}

// enter records sp and notes a breach when it does not follow the topic's
// last span in its epoch, or another call for topic is running.
func (r *recorder) enter(topic string, sp span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inside[topic] {
		r.breaches = append(r.breaches, fmt.Sprintf("%s: two calls at once", topic))
	}
	r.inside[topic] = true
	spans := r.spans[topic]
	if n := len(spans); n > 0 && spans[n-1].epoch == sp.epoch && sp.from != spans[n-1].to+1 {
		r.breaches = append(r.breaches, fmt.Sprintf("%s: %+v after %+v", topic, sp, spans[n-1]))
	}
	if sp.from > sp.to {
		r.breaches = append(r.breaches, fmt.Sprintf("%s: empty gap %+v", topic, sp))
	}
	r.spans[topic] = append(spans, sp)
}

func (r *recorder) leave(topic string) {
	r.mu.Lock()
	r.inside[topic] = false
	r.mu.Unlock()
}

// covered returns a copy of topic's spans.
func (r *recorder) covered(topic string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans[topic])
}

// gaps returns the gaps topic got so far.
func (r *recorder) gaps(topic string) []span {
	var out []span
	for _, sp := range r.covered(topic) {
		if sp.gap {
			out = append(out, sp)
		}
	}
	return out
}

// waitCovered waits until messages and gaps of topic reach seq upto in
// epoch, and returns the spans.
func (r *recorder) waitCovered(t testing.TB, topic, epoch string, upto uint64) []span {
	t.Helper()
	var spans []span
	if !eventually(func() bool {
		spans = r.covered(topic)
		n := len(spans)
		return n > 0 && spans[n-1].epoch == epoch && spans[n-1].to >= upto
	}) {
		t.Fatalf("topic %q covered %s within %v, want up to seq %d of %s", topic, summary(spans), waitTimeout, upto, epoch)
	}
	return spans
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

// HandlePresence records c.
func (r *recorder) HandlePresence(c broker.PresenceChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

// HandleControl records c.
func (r *recorder) HandleControl(c broker.Control) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.controlsGot = append(r.controlsGot, c)
}

// controls returns the controls handed over so far.
func (r *recorder) controls() []broker.Control {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.controlsGot)
}

// presenceChanges returns the joins and leaves of topic handed over so far.
func (r *recorder) presenceChanges(topic string) []broker.PresenceChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []broker.PresenceChange
	for _, c := range r.changes {
		if c.Topic == topic {
			out = append(out, c)
		}
	}
	return out
}
