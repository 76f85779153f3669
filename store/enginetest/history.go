package enginetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

// wantSeqs fails unless msgs carry exactly seqs from..to in order.
func wantSeqs(t *testing.T, what string, got []uint64, from, to uint64) {
	t.Helper()
	var want []uint64
	for s := from; s <= to && to > 0; s++ {
		want = append(want, s)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: seqs %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: seqs %v, want %v", what, got, want)
		}
	}
}

// testHistorySinceLimit: History returns the oldest limit messages after
// since, in seq order; limit <= 0 means all; the position is the topic's
// whatever since and limit are.
func (s *suite) testHistorySinceLimit(t *testing.T) {
	e, _ := s.engine(t, Config{HistorySize: 10, HistoryTTL: defaultHistoryTTL})
	ctx := testContext(t)
	topic := uniqueTopic("history")
	results := publishN(t, ctx, e, topic, 7)
	cases := []struct {
		since    uint64
		limit    int
		from, to uint64 // to 0: none
	}{
		{0, 0, 1, 7},
		{0, -1, 1, 7},
		{3, 0, 4, 7},
		{3, 2, 4, 5},
		{0, 1, 1, 1},
		{6, 100, 7, 7},
		{7, 0, 0, 0},
		{100, 0, 0, 0},
	}
	for _, c := range cases {
		h := history(t, ctx, e, topic, c.since, c.limit)
		if h.Seq != 7 || h.Epoch != results[0].Epoch {
			t.Fatalf("History(since %d, limit %d) position = %+v, want epoch %q seq 7",
				c.since, c.limit, h.Position, results[0].Epoch)
		}
		wantSeqs(t, fmt.Sprintf("History(since %d, limit %d)", c.since, c.limit), seqsOf(h.Messages), c.from, c.to)
	}
}

// testHistoryRing: only the last HistorySize messages are kept.
func (s *suite) testHistoryRing(t *testing.T) {
	e, _ := s.engine(t, Config{HistorySize: 5, HistoryTTL: defaultHistoryTTL})
	ctx := testContext(t)
	topic := uniqueTopic("ring")
	publishN(t, ctx, e, topic, 12)
	h := history(t, ctx, e, topic, 0, 0)
	if h.Seq != 12 {
		t.Fatalf("position seq %d, want 12", h.Seq)
	}
	wantSeqs(t, "History(0, all)", seqsOf(h.Messages), 8, 12)
	wantSeqs(t, "History(9, all)", seqsOf(history(t, ctx, e, topic, 9, 0).Messages), 10, 12)
	wantSeqs(t, "History(2, limit 2)", seqsOf(history(t, ctx, e, topic, 2, 2).Messages), 8, 9)
}

// testHistoryOff: with HistorySize 0, seq still grows and history is empty.
func (s *suite) testHistoryOff(t *testing.T) {
	e, _ := s.engine(t, Config{HistorySize: 0, HistoryTTL: defaultHistoryTTL})
	ctx := testContext(t)
	topic := uniqueTopic("nohistory")
	results := publishN(t, ctx, e, topic, 3)
	for i, r := range results {
		if r.Seq != uint64(i+1) {
			t.Fatalf("publish %d: seq %d, want %d", i, r.Seq, i+1)
		}
	}
	h := history(t, ctx, e, topic, 0, 0)
	if h.Seq != 3 || h.Epoch != results[0].Epoch || len(h.Messages) != 0 {
		t.Fatalf("History = %+v with %d messages, want epoch %q seq 3 and none",
			h.Position, len(h.Messages), results[0].Epoch)
	}
}

// expiryTTL is short so the expiry subtest takes well under a second on a
// healthy engine; the subtest polls, so a slow machine only makes it slower.
const expiryTTL = 200 * time.Millisecond

// testTTLExpiry: after HistoryTTL without publishes the topic's state goes;
// the next publish starts a new epoch at seq 1 and the old history is gone.
// Reading the topic must not keep it alive.
func (s *suite) testTTLExpiry(t *testing.T) {
	e, _ := s.engine(t, Config{HistorySize: 10, HistoryTTL: expiryTTL})
	ctx := testContext(t)
	topic := uniqueTopic("ttl")
	first := publishN(t, ctx, e, topic, 3)
	// A slow machine may put more than the TTL between two of these
	// publishes, and the later one then starts an epoch of its own: the
	// state to see go is the one the last publish left, and none of their
	// epochs may come back.
	old := first[len(first)-1].Epoch
	isOld := func(epoch string) bool {
		return slices.ContainsFunc(first, func(r broker.PublishResult) bool { return r.Epoch == epoch })
	}

	deadline := time.Now().Add(waitTimeout)
	for {
		p := position(t, ctx, e, topic)
		if p.Epoch != old {
			if p.Seq != 0 || isOld(p.Epoch) {
				t.Fatalf("Position after expiry = %+v, want seq 0 in a new epoch (publishes: %+v)", p, first)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic still in epoch %q at seq %d after %v with TTL %v", old, p.Seq, waitTimeout, expiryTTL)
		}
		time.Sleep(expiryTTL / 4)
	}
	res := publish(t, ctx, e, request(topic))
	if res.Seq != 1 || isOld(res.Epoch) {
		t.Fatalf("publish after expiry = epoch %q seq %d, want a new epoch (not one of %+v) at seq 1", res.Epoch, res.Seq, first)
	}
	// A slow machine may let the new epoch expire too before History runs,
	// so only the old epochs' absence is certain here.
	h := history(t, ctx, e, topic, 0, 0)
	if isOld(h.Epoch) {
		t.Fatalf("History after expiry reports the old epoch %q", h.Epoch)
	}
	for _, m := range h.Messages {
		if isOld(m.Epoch) {
			t.Fatalf("History after expiry still holds message %d of the old epoch %q", m.Seq, m.Epoch)
		}
	}
}
