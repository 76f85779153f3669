package redis_test

import (
	"fmt"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A publisher that sends a new long idempotency key with every publish (a
// WebSocket client may send one of twice HERALD_MAX_MESSAGE_BYTES) costs
// Redis a short key per publish, not its key: kept raw, 100 such publishes
// to one topic, whose history is bounded, held 10 MB for five minutes.
func TestLongIdempotencyKeysCostRedisAShortKey(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	e := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 10})
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()

	const publishes, keyBytes = 100, 100_000
	pad := strings.Repeat("k", keyBytes)
	for i := range publishes {
		req := request("idem.flood")
		req.IdempotencyKey = fmt.Sprintf("%d-%s", i, pad)
		mustPublish(t, e, req)
	}
	names, err := admin.Keys(ctxFor(t), prefix+"{idem.flood}:idem:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != publishes {
		t.Fatalf("Redis holds %d idempotency keys after %d publishes with distinct keys, want %d", len(names), publishes, publishes)
	}
	var used int64
	for _, name := range names {
		if n := len(name) - len(prefix+"{idem.flood}:idem:"); n > 65 {
			t.Fatalf("an idempotency key is named with %d bytes of the client's key, want at most 65", n)
		}
		b, err := admin.MemoryUsage(ctxFor(t), name).Result()
		if err != nil {
			t.Fatal(err)
		}
		used += b
	}
	// Each holds a 65-byte name and a 54-byte result, with Redis's own
	// overhead: about 200 bytes (MEMORY USAGE on Redis 7.0).
	if per := used / publishes; per > 512 {
		t.Fatalf("an idempotency key costs Redis %d bytes, want at most 512 whatever the client's key", per)
	}
}
