package redis_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// roomsKeepPresence is a node's HERALD_PRESENCE_TOPICS=room.*.
func roomsKeepPresence(topic string) bool { return broker.Match("room.*", topic) }

// A node told which topics keep presence keeps a place in the change log
// of those alone: it reads no other topic's log after a reconnect, and
// hands over the joins and leaves of none.
func TestChangeMarksOnlyForPresenceTopics(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	prefix := uniquePrefix(t)
	other := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "other"})
	e := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "e", KeepsPresence: roomsKeepPresence,
		CheckInterval: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	for _, topic := range []string{"room.1", "news.1", "news.2", "room.*"} {
		mustSubscribe(t, e, topic)
	}
	if n := redis.ChangeMarks(e); n != 1 {
		t.Fatalf("%d change marks for one presence topic among three, and a pattern", n)
	}
	changer{t, other, "news.1"}.add("s1", "a")
	changer{t, other, "room.1"}.add("s1", "a")
	waitChanges(t, rec, "room.1", "+a")
	if got := rec.presenceChanges("news.1"); len(got) != 0 {
		t.Errorf("changes of a topic that keeps no presence handed over: %v", kinds(got))
	}

	before := redis.ChangeLogReads(e)
	if err := admin.ClientKillByFilter(ctxFor(t), "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	if !eventually(func() bool { return redis.ChangeLogReads(e) > before }) {
		t.Fatal("no change log read after a reconnect")
	}
	if n := redis.ChangeLogReads(e) - before; n != 1 {
		t.Errorf("the replay after a reconnect read %d change logs, want the presence topic's 1", n)
	}
	changer{t, other, "room.1"}.add("s2", "b")
	waitChanges(t, rec, "room.1", "+a", "+b")
}

// BenchmarkSubscriptionHeap reports what an exact subscription keeps in
// the engine's heap (heap-B/sub, after a GC), on a node not told which
// topics keep presence (a change mark for each) and on one told that
// none does.
func BenchmarkSubscriptionHeap(b *testing.B) {
	srv := redistest.Start(b)
	for _, tc := range []struct {
		name  string
		keeps func(string) bool
	}{
		{"presence=every", nil},
		{"presence=none", func(string) bool { return false }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEngine(b, srv.URL(), redis.Config{Prefix: uniquePrefix(b), KeepsPresence: tc.keeps})
			topics := make([]string, b.N)
			for i := range topics {
				topics[i] = fmt.Sprintf("room.%d", i)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for _, topic := range topics {
				if err := e.Subscribe(context.Background(), topic); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/sub")
			if n := redis.ChangeMarks(e); (tc.keeps == nil) != (n == b.N) {
				b.Fatalf("%d change marks for %d subscriptions", n, b.N)
			}
		})
	}
}
