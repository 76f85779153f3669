package memory

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func keyed(topic, key string) (r brokerRequest) {
	r = req(topic)
	r.IdempotencyKey = key
	return r
}

func TestIdempotencyKeyExpires(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, IdempotencyTTL: time.Minute, HistoryTTL: time.Hour})
	first := mustPublish(t, e, keyed("idem", "k"))
	clock.advance(time.Minute - time.Second)
	if again := mustPublish(t, e, keyed("idem", "k")); again != first {
		t.Fatalf("retry within the TTL = %+v, want %+v", again, first)
	}
	clock.advance(time.Second)
	later := mustPublish(t, e, keyed("idem", "k"))
	if later.Seq != 2 {
		t.Fatalf("publish after the key's TTL = %+v, want seq 2", later)
	}
}

// The first result stands even when the topic's epoch changed since.
func TestIdempotencyOutlivesEpoch(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, IdempotencyTTL: time.Minute, HistoryTTL: time.Second})
	first := mustPublish(t, e, keyed("idem", "k"))
	clock.advance(2 * time.Second)
	if again := mustPublish(t, e, keyed("idem", "k")); again != first {
		t.Fatalf("retry after the topic expired = %+v, want %+v", again, first)
	}
}

func TestIdempotencyKeysAreFreed(t *testing.T) {
	e, clock := testEngine(t, Config{HistorySize: 10, IdempotencyTTL: time.Minute})
	for i := range 300 {
		mustPublish(t, e, keyed("idem", fmt.Sprint(i)))
	}
	if n := e.IdempotencyKeyCount(); n != 300 {
		t.Fatalf("IdempotencyKeyCount = %d, want 300", n)
	}
	clock.advance(time.Minute)
	e.sweep()
	if n := e.IdempotencyKeyCount(); n != 0 {
		t.Fatalf("IdempotencyKeyCount after the TTL = %d, want 0", n)
	}
}

// Past a topic's bound its oldest keys go first, the newest stay, and the
// janitor says so.
func TestIdempotencyBound(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	const bound = 64
	e, _ := testEngine(t, Config{HistorySize: 10, IdempotencyKeysPerTopic: bound, Logger: zap.New(core)})
	const published = 20 * bound
	for i := range published {
		mustPublish(t, e, keyed("idem", fmt.Sprint(i)))
	}
	if n := e.IdempotencyKeyCount(); n != bound {
		t.Fatalf("IdempotencyKeyCount = %d, want %d", n, bound)
	}
	last := fmt.Sprint(published - 1)
	if res := mustPublish(t, e, keyed("idem", last)); res.Seq != published {
		t.Fatalf("retry of the newest key = seq %d, want its first seq %d", res.Seq, published)
	}
	if res := mustPublish(t, e, keyed("idem", "0")); res.Seq != published+1 {
		t.Fatalf("retry of an evicted key = seq %d, want a new publish at %d", res.Seq, published+1)
	}
	if n := e.Stats().IdempotencyEvictions; n != published-bound+1 {
		t.Fatalf("IdempotencyEvictions = %d, want %d", n, published-bound+1)
	}
	e.report(Stats{})
	if logs.FilterMessageSnippet("idempotency keys forgotten").Len() != 1 {
		t.Fatalf("want one warning about evicted keys, got %v", logs.All())
	}
}

// One publisher's flood of keys on its topic must not push out the keys of
// another topic: the attack report's 120,000 keyed publishes made every
// other caller's retry publish twice when the bound was global.
func TestIdempotencyFloodSparesOtherTopics(t *testing.T) {
	const bound = 100
	e, _ := testEngine(t, Config{HistorySize: 10, IdempotencyKeysPerTopic: bound})
	victim := mustPublish(t, e, keyed("victim", "retry-me"))
	for i := range 12 * bound {
		mustPublish(t, e, keyed(fmt.Sprintf("flood.%d", i%3), fmt.Sprint(i)))
	}
	if again := mustPublish(t, e, keyed("victim", "retry-me")); again != victim {
		t.Fatalf("the victim's retry after the flood = %+v, want its first result %+v", again, victim)
	}
	if n := e.IdempotencyKeyCount(); n != 3*bound+1 {
		t.Fatalf("IdempotencyKeyCount = %d, want %d: each flooded topic at its bound, plus the victim's", n, 3*bound+1)
	}
}

func TestIdempotencyQueueCompacts(t *testing.T) {
	var d idemKeys
	const n = 40_000
	for i := range n {
		d.put(fmt.Sprint(i), idemEntry{seq: uint64(i), at: int64(i)}, n)
	}
	d.expire(38_999+int64(time.Minute), int64(time.Minute))
	if live := len(d.order) - d.head; live != len(d.byKey) || d.head > max(16, live) || len(d.order) > 2*live {
		t.Fatalf("queue of %d from %d for %d keys", len(d.order), d.head, len(d.byKey))
	}
	if d.len() != 1000 {
		t.Fatalf("%d keys remembered, want 1000", d.len())
	}
	d.expire(n+int64(time.Minute), int64(time.Minute))
	if d.byKey != nil || d.order != nil || d.bytes != 0 {
		t.Fatalf("no key left, but the topic still holds %d bytes for them", d.bytes)
	}
}

func TestLongIdempotencyKeysAreHashed(t *testing.T) {
	e, _ := testEngine(t, Config{HistorySize: 10})
	long := strings.Repeat("k", 10_000)
	first := mustPublish(t, e, keyed("idem", long))
	if again := mustPublish(t, e, keyed("idem", long)); again != first {
		t.Fatalf("retry with a long key = %+v, want %+v", again, first)
	}
	if other := mustPublish(t, e, keyed("idem", long+"x")); other.Seq != 2 {
		t.Fatalf("another long key = %+v, want a new publish at seq 2", other)
	}
	for _, k := range []string{idemMapKey(long), idemMapKey(long + "x")} {
		if len(k) != maxRawKey+1 {
			t.Fatalf("a long key is remembered in %d bytes, want %d", len(k), maxRawKey+1)
		}
	}
}
