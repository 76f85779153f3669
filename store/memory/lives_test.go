package memory

import (
	"fmt"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// The attack report's third finding: subscribing alone made a topic state
// that lived ten minutes. Reads of topics never published to now create
// nothing, and still answer an epoch that the first publish keeps, so a
// subscriber from before it resumes with recovered:true.
func TestReadingCreatesNoState(t *testing.T) {
	e, _ := testEngine(t, Config{HistorySize: 10})
	read := make(map[string]broker.Position)
	for i := range 1000 {
		topic := fmt.Sprintf("never.%d", i)
		read[topic] = mustPosition(t, e, topic)
		if h := mustHistory(t, e, topic, 0); h.Position != read[topic] || h.Messages != nil {
			t.Fatalf("History of %s = %+v, %d messages; want Position's %+v and none", topic, h.Position, len(h.Messages), read[topic])
		}
	}
	if n, s := e.TopicCount(), e.Stats(); n != 0 || s.HistoryBytes != 0 {
		t.Fatalf("after reading 1000 topics: %d states, %d bytes; want none", n, s.HistoryBytes)
	}
	topic := "never.7"
	res := mustPublish(t, e, req(topic))
	if res.Epoch != read[topic].Epoch || res.Seq != 1 {
		t.Fatalf("first publish = %+v, want the epoch read before, %q, at seq 1", res, read[topic].Epoch)
	}
	h := mustHistory(t, e, topic, read[topic].Seq)
	if h.Epoch != read[topic].Epoch || len(h.Messages) != 1 || h.Messages[0].Seq != 1 {
		t.Fatalf("resume from the subscribe's position = %+v with %d messages; want message 1 in the same epoch",
			h.Position, len(h.Messages))
	}
	if other := mustPosition(t, e, "never.8"); other.Epoch == read[topic].Epoch {
		t.Fatalf("two topics share the epoch %q", other.Epoch)
	}
}

// A topic's lives never share an epoch, whether its state went by TTL or
// by the budget: a client holding an old epoch must find it changed.
func TestDroppedTopicNeverReusesEpoch(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, HistoryTTL: testTTL})
	seen := map[string]bool{}
	for life := range 5 {
		p := mustPosition(t, e, "x")
		if seen[p.Epoch] || p.Seq != 0 {
			t.Fatalf("life %d reads as %+v: an epoch seen before, or not at seq 0", life, p)
		}
		seen[p.Epoch] = true
		for seq := uint64(1); seq <= 3; seq++ {
			if res := mustPublish(t, e, req("x")); res.Epoch != p.Epoch || res.Seq != seq {
				t.Fatalf("life %d: publish = %+v, want epoch %q seq %d", life, res, p.Epoch, seq)
			}
		}
		clock.advance(testTTL)
		if life%2 == 0 {
			e.sweep() // freed; odd lives are renewed in place by the next publish
		}
	}
}

// When the record of dropped topics is full it starts over with a new
// seed, which changes every derived epoch: still no epoch comes back.
func TestLivesRecordStartsOverSafely(t *testing.T) {
	l := newLives(64)
	seen := map[string]bool{}
	for round := range 300 {
		for i := range 4 {
			name := fmt.Sprint("t.", i)
			gen, epoch := l.begin(name)
			if seen[name+epoch] {
				t.Fatalf("round %d: %s got epoch %q again", round, name, epoch)
			}
			seen[name+epoch] = true
			l.ended(name, gen)
		}
		for i := range 30 { // fill the record
			l.ended(fmt.Sprint("filler.", round, ".", i), 0)
		}
		if len(l.next) > l.max {
			t.Fatalf("record holds %d entries, bound %d", len(l.next), l.max)
		}
	}
}
