package enginetest

import (
	"strings"
	"sync"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// testIdempotency: a publish repeated with the same key returns the first
// result (same epoch, seq and message id) and is neither stored nor
// delivered again; another key publishes anew.
func (s *suite) testIdempotency(t *testing.T) {
	e, r := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("idem")
	subscribe(t, ctx, e, topic)

	req := request(topic)
	req.IdempotencyKey = "order-1"
	first := publish(t, ctx, e, req)
	retry := request(topic) // a retry carries a new id and time from the broker
	retry.IdempotencyKey = "order-1"
	second := publish(t, ctx, e, retry)
	if second != first {
		t.Fatalf("retry with the same key = %+v, want the first result %+v", second, first)
	}
	other := request(topic)
	other.IdempotencyKey = "order-2"
	if res := publish(t, ctx, e, other); res.Seq != first.Seq+1 || res.ID != other.ID {
		t.Fatalf("publish with another key = %+v, want seq %d id %q", res, first.Seq+1, other.ID)
	}
	plain := publish(t, ctx, e, request(topic))

	// Delivery is in seq order, so once the last seq arrived any duplicate
	// would have arrived before it.
	got := r.waitFor(t, topic, int(plain.Seq))
	checkSeqs(t, got)
	if len(got) != 3 || got[0].ID != req.ID {
		t.Fatalf("handler saw %d messages (first id %q), want 3 with first id %q", len(got), got[0].ID, req.ID)
	}
	if h := history(t, ctx, e, topic, 0, 0); len(h.Messages) != 3 || h.Seq != 3 {
		t.Fatalf("history holds %d messages at seq %d, want 3 at seq 3", len(h.Messages), h.Seq)
	}
	r.checkBreaches(t)
}

// testIdempotencyPerTopic: an idempotency key belongs to its topic; the same
// key on another topic is another publish.
func (s *suite) testIdempotencyPerTopic(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	a, b := uniqueTopic("idem.a"), uniqueTopic("idem.b")
	reqA, reqB := request(a), request(b)
	reqA.IdempotencyKey, reqB.IdempotencyKey = "same", "same"
	resA := publish(t, ctx, e, reqA)
	resB := publish(t, ctx, e, reqB)
	if resB.Topic != b || resB.ID != reqB.ID || resB.Seq != 1 {
		t.Fatalf("same key on another topic = %+v, want topic %q id %q seq 1", resB, b, reqB.ID)
	}
	if p := position(t, ctx, e, a); p.Seq != resA.Seq {
		t.Fatalf("topic a moved to seq %d, want %d", p.Seq, resA.Seq)
	}
}

// testIdempotencyLongKeys: keys longer than broker.MaxRawIdempotencyKey,
// which engines remember by their hash, still return the first result on
// a retry, and two that differ in their last byte alone, or a long key and
// the very text of its hash, are different keys.
func (s *suite) testIdempotencyLongKeys(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("idem.long")
	long := strings.Repeat("k", 100_000)
	publishKeyed := func(key string) broker.PublishResult {
		req := request(topic)
		req.IdempotencyKey = key
		return publish(t, ctx, e, req)
	}
	first := publishKeyed(long)
	if again := publishKeyed(long); again != first {
		t.Fatalf("retry with a long key = %+v, want the first result %+v", again, first)
	}
	for i, key := range []string{long + "x", broker.StoredIdempotencyKey(long)} {
		if res := publishKeyed(key); res.Seq != first.Seq+1+uint64(i) {
			t.Fatalf("key %d (%d bytes) = %+v, want a new publish at seq %d", i, len(key), res, first.Seq+1+uint64(i))
		}
	}
}

// testIdempotencyConcurrent: retries racing each other all get one result
// and the topic takes one message.
func (s *suite) testIdempotencyConcurrent(t *testing.T) {
	e, _ := s.defaultEngine(t)
	ctx := testContext(t)
	topic := uniqueTopic("idem.race")
	const racers = 8
	results := make([]broker.PublishResult, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			req := request(topic)
			req.IdempotencyKey = "racing"
			results[i], errs[i] = e.Publish(ctx, req)
		})
	}
	wg.Wait()
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Fatalf("racer %d got %+v, racer 0 got %+v", i, results[i], results[0])
		}
	}
	if p := position(t, ctx, e, topic); p.Seq != 1 {
		t.Fatalf("topic at seq %d after %d racing retries, want 1", p.Seq, racers)
	}
}
