package redis_test

import (
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A link lost without a word costs one reconnect: the probe that finds
// it lost does not also fail on the pooled connections the same loss left
// dead, and neither do the calls of the reconnect after it.
func TestLostLinkCostsOneReconnect(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	pub := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 10})
	sub := newEngine(t, "redis://"+px.Addr()+"/0", redis.Config{Prefix: prefix, HistorySize: 10, NodeID: "sub"})
	rec := newRecorder()
	sub.Attach(rec)
	mustSubscribe(t, sub, "lost")
	mustPublish(t, pub, request("lost"))
	rec.waitFor(t, "lost", 1)
	// Twelve reads held up at once leave up to twelve connections in the
	// pool (a read that starts late may take one another has given back),
	// or a few more with the engine's own calls: more than the six a fixed
	// three sends of a probe would try (two each).
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.Do(ctxFor(t), "CLIENT", "PAUSE", 600, "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	const reads = 12
	var wg sync.WaitGroup
	for range reads {
		wg.Go(func() {
			if _, err := sub.Position(ctxFor(t), "lost"); err != nil {
				t.Errorf("Position: %v", err)
			}
		})
	}
	wg.Wait()
	idle := redis.IdleConns(sub)
	if idle <= 6 {
		t.Fatalf("%d idle pooled connections after %d reads at once, want more than 6", idle, reads)
	}
	px.Lose()
	lost := mustPublish(t, pub, request("lost"))
	if got := rec.waitFor(t, "lost", 2); got[1].ID != lost.ID {
		t.Fatalf("after the loss: got %s, want %s", got[1].ID, lost.ID)
	}
	probes := redis.Probes(sub)
	if !eventually(func() bool { return redis.Probes(sub) >= probes+5 }) {
		t.Fatal("no probes after the reconnect")
	}
	if n := sub.Stats().Reconnects; n != 1 {
		t.Errorf("one lost link with %d idle pooled connections cost %d reconnects, want 1", idle, n)
	}
	rec.checkBreaches(t)
}
