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

// Past the bound the oldest keys go first, the newest stay, and the
// janitor says so.
func TestIdempotencyBound(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	const bound = 4 * idemShardCount
	e, _ := testEngine(t, Config{HistorySize: 10, IdempotencyKeys: bound, Logger: zap.New(core)})
	const published = 20 * bound
	for i := range published {
		mustPublish(t, e, keyed("idem", fmt.Sprint(i)))
	}
	if n := e.IdempotencyKeyCount(); n > bound {
		t.Fatalf("IdempotencyKeyCount = %d, want at most %d", n, bound)
	}
	last := fmt.Sprint(published - 1)
	if res := mustPublish(t, e, keyed("idem", last)); res.Seq != published {
		t.Fatalf("retry of the newest key = seq %d, want its first seq %d", res.Seq, published)
	}
	if res := mustPublish(t, e, keyed("idem", "0")); res.Seq != published+1 {
		t.Fatalf("retry of an evicted key = seq %d, want a new publish at %d", res.Seq, published+1)
	}
	e.sweep()
	if logs.FilterMessageSnippet("idempotency keys forgotten").Len() != 1 {
		t.Fatalf("want one warning about evicted keys, got %v", logs.All())
	}
}

func TestIdempotencyQueueCompacts(t *testing.T) {
	d := newIdempotency(int64(time.Minute), 4096*idemShardCount)
	now := time.Now().UnixNano()
	for i := range 40_000 {
		d.put("t", fmt.Sprint(i), brokerResult{Seq: uint64(i)}, now+int64(i))
	}
	d.expireAll(now + 38_999 + int64(time.Minute))
	for i := range d.shards {
		s := &d.shards[i]
		if live := len(s.order) - s.head; live != len(s.byKey) || s.head > max(1024, live) {
			t.Fatalf("shard %d: queue of %d from %d for %d keys", i, len(s.order), s.head, len(s.byKey))
		}
	}
	if n := d.len(); n != 1000 {
		t.Fatalf("%d keys remembered, want 1000", n)
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
	for _, k := range []string{idemMapKey("idem", long), idemMapKey("idem", long+"x")} {
		if len(k) > len("idem")+1+maxRawKey {
			t.Fatalf("a long key is remembered in %d bytes", len(k))
		}
	}
}
