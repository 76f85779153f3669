package enginetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

// testConcurrentPublishers: publishers racing on one topic get distinct
// seqs 1..N, and the handler sees each once, in seq order, never two at a
// time for the topic.
func (s *suite) testConcurrentPublishers(t *testing.T) {
	e, r := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("race")
	// A handler that lingers gives overlapping or reordered deliveries a
	// chance to show.
	r.onMessage(func(*broker.Message) { time.Sleep(100 * time.Microsecond) })
	subscribe(t, ctx, e, topic)
	const publishers, each = 4, 50
	seqs := make(chan uint64, publishers*each)
	errs := make(chan error, publishers)
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for range each {
				res, err := e.Publish(ctx, request(topic))
				if err != nil {
					errs <- err
					return
				}
				seqs <- res.Seq
			}
		})
	}
	wg.Wait()
	close(errs)
	close(seqs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	var got []uint64
	for seq := range seqs {
		got = append(got, seq)
	}
	slices.Sort(got)
	wantSeqs(t, "publish results", got, 1, publishers*each)
	checkSeqs(t, r.waitFor(t, topic, publishers*each))
	r.checkCovered(t, topic, publishers*each, true)
}

// testInHistoryBeforeHandler: when the handler receives a message, History
// already holds it, so a resume racing delivery can merge the two by seq.
func (s *suite) testInHistoryBeforeHandler(t *testing.T) {
	e, r := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("order")
	var mu sync.Mutex
	var problems []string
	r.onMessage(func(m *broker.Message) {
		if m.Topic != topic {
			return
		}
		h, err := e.History(ctx, topic, m.Seq-1, 1)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("History inside the handler: %v", err))
		case len(h.Messages) != 1 || h.Messages[0].ID != m.ID || h.Seq < m.Seq:
			problems = append(problems, fmt.Sprintf("message %d not in history when delivered (history at seq %d with %d messages)",
				m.Seq, h.Seq, len(h.Messages)))
		}
	})
	subscribe(t, ctx, e, topic)
	publishN(t, ctx, e, topic, 5)
	r.waitFor(t, topic, 5)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

// testSubscribePatterns: Subscribe and Unsubscribe take topics and every
// kind of pattern.
func (s *suite) testSubscribePatterns(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	base := uniqueTopic("sub")
	patterns := []string{base, base + ".*", base + ".>", "*." + "x", ">"}
	for _, p := range patterns {
		if err := e.Subscribe(ctx, p); err != nil {
			t.Fatalf("Subscribe(%q): %v", p, err)
		}
	}
	for _, p := range patterns {
		if err := e.Unsubscribe(ctx, p); err != nil {
			t.Fatalf("Unsubscribe(%q): %v", p, err)
		}
	}
}

// testPatternDelivery: a subscription with a pattern brings the messages of
// every topic it matches to the handler.
func (s *suite) testPatternDelivery(t *testing.T) {
	e, r := s.defaultEngine(t)
	ctx := testContext(t)
	base := uniqueTopic("pat")
	subscribe(t, ctx, e, base+".*")
	subscribe(t, ctx, e, base+".deep.>")
	one, deep := base+".one", base+".deep.a.b"
	publishN(t, ctx, e, one, 2)
	publishN(t, ctx, e, deep, 3)
	checkSeqs(t, r.waitFor(t, one, 2))
	checkSeqs(t, r.waitFor(t, deep, 3))
	r.checkCovered(t, one, 2, true)
	r.checkCovered(t, deep, 3, true)
}
