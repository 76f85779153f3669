package enginetest

import "testing"

// testSeqGrowsPerTopic: seq starts at 1 and grows by 1 per topic; topics
// interleaved do not share a counter.
func (s *suite) testSeqGrowsPerTopic(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	a, b := uniqueTopic("seq.a"), uniqueTopic("seq.b")
	var seqA, seqB uint64
	for i := range 6 {
		topic, seq := a, &seqA
		if i%3 == 2 {
			topic, seq = b, &seqB
		}
		req := request(topic)
		res := publish(t, ctx, e, req)
		*seq++
		if res.Seq != *seq {
			t.Fatalf("publish %d to %q: seq %d, want %d", i, topic, res.Seq, *seq)
		}
		if res.Topic != topic || res.ID != req.ID {
			t.Fatalf("publish %d: result names topic %q id %q, want %q %q", i, res.Topic, res.ID, topic, req.ID)
		}
		if res.Epoch == "" {
			t.Fatalf("publish %d: empty epoch", i)
		}
	}
	if p := position(t, ctx, e, a); p.Seq != seqA {
		t.Fatalf("Position(a).Seq = %d, want %d", p.Seq, seqA)
	}
	if p := position(t, ctx, e, b); p.Seq != seqB {
		t.Fatalf("Position(b).Seq = %d, want %d", p.Seq, seqB)
	}
}

// testEpochStable: while a topic's history lives, every publish, Position
// and History report the same epoch.
func (s *suite) testEpochStable(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("epoch")
	results := publishN(t, ctx, e, topic, 5)
	epoch := results[0].Epoch
	for i, r := range results {
		if r.Epoch != epoch {
			t.Fatalf("publish %d: epoch %q, want %q", i, r.Epoch, epoch)
		}
	}
	if p := position(t, ctx, e, topic); p.Epoch != epoch || p.Seq != 5 {
		t.Fatalf("Position = %+v, want epoch %q seq 5", p, epoch)
	}
	h := history(t, ctx, e, topic, 0, 0)
	if h.Epoch != epoch || h.Seq != 5 {
		t.Fatalf("History position = %+v, want epoch %q seq 5", h.Position, epoch)
	}
	for _, m := range h.Messages {
		if m.Epoch != epoch {
			t.Fatalf("history message %d: epoch %q, want %q", m.Seq, m.Epoch, epoch)
		}
	}
	other := publish(t, ctx, e, request(uniqueTopic("epoch.other")))
	if other.Seq != 1 {
		t.Fatalf("another topic's first publish: seq %d, want 1", other.Seq)
	}
}

// testFreshTopicPosition: Position of a topic with no state starts its
// epoch at seq 0, and a later publish continues that epoch at seq 1, so a
// subscriber that saw seq 0 can resume from it.
func (s *suite) testFreshTopicPosition(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("fresh")
	p := position(t, ctx, e, topic)
	if p.Seq != 0 || p.Epoch == "" {
		t.Fatalf("Position of a fresh topic = %+v, want a non-empty epoch at seq 0", p)
	}
	if again := position(t, ctx, e, topic); again != p {
		t.Fatalf("second Position = %+v, want %+v", again, p)
	}
	res := publish(t, ctx, e, request(topic))
	if res.Epoch != p.Epoch || res.Seq != 1 {
		t.Fatalf("first publish = epoch %q seq %d, want epoch %q seq 1", res.Epoch, res.Seq, p.Epoch)
	}
}

// testFreshTopicHistory: History of a topic with no state does the same as
// Position, and holds no messages.
func (s *suite) testFreshTopicHistory(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("fresh.history")
	h := history(t, ctx, e, topic, 0, 0)
	if h.Seq != 0 || h.Epoch == "" || len(h.Messages) != 0 {
		t.Fatalf("History of a fresh topic = %+v with %d messages, want a non-empty epoch at seq 0 and none",
			h.Position, len(h.Messages))
	}
	res := publish(t, ctx, e, request(topic))
	if res.Epoch != h.Epoch || res.Seq != 1 {
		t.Fatalf("first publish = epoch %q seq %d, want epoch %q seq 1", res.Epoch, res.Seq, h.Epoch)
	}
	after := history(t, ctx, e, topic, 0, 0)
	if after.Epoch != h.Epoch || len(after.Messages) != 1 || after.Messages[0].Seq != 1 {
		t.Fatalf("History after publish = %+v with %d messages, want epoch %q and message 1",
			after.Position, len(after.Messages), h.Epoch)
	}
}
