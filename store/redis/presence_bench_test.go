package redis_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// benchMembers is the size of the topic BenchmarkPresence reads.
const benchMembers = 10_000

// benchInfo is a member's info as a token would carry it.
var benchInfo = []byte(`{"name":"Someone Example","avatar":"https://example.com/a/1234.png"}`)

// benchPage is the page a presence command reads.
var benchPage = broker.PresencePage{MaxBytes: broker.DefaultMaxPresenceBytes}

// fillPresence adds members users with one session each to topic through
// e, 32 calls at a time, and returns the sessions.
func fillPresence(tb testing.TB, e broker.Engine, topic string, members int) []broker.PresenceEntry {
	tb.Helper()
	entries := make([]broker.PresenceEntry, members)
	for i := range entries {
		entries[i] = broker.PresenceEntry{Topic: topic, Session: fmt.Sprintf("5e55e55e-0000-4000-8000-%012d", i),
			User: fmt.Sprintf("user-%06d", i), Info: benchInfo}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(members); i = next.Add(1) - 1 {
				if err := e.AddPresence(context.Background(), entries[i]); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return entries
}

// BenchmarkPresence reads a topic of 10,000 members, each with info, from
// another node than the one that added them. It also reports what the
// topic's presence takes in Redis (MEMORY USAGE of its keys) and in the
// adding node's heap, per member: the figures to write down.
func BenchmarkPresence(b *testing.B) {
	srv := redistest.Start(b)
	prefix := uniquePrefix(b)
	adder := newEngine(b, srv.URL(), redis.Config{Prefix: prefix})
	reader := newEngine(b, srv.URL(), redis.Config{Prefix: prefix})
	const topic = "room.big"
	heap := heapInUse()
	fillPresence(b, adder, topic, benchMembers)
	heap = heapInUse() - heap
	if st, err := reader.Presence(context.Background(), topic, benchPage); err != nil || st.Users != benchMembers || len(st.Members) == 0 {
		b.Fatalf("Presence: %d users, %d members, %v", st.Users, len(st.Members), err)
	}
	redisMem := redisBytes(b, srv, adder, topic)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reader.Presence(context.Background(), topic, benchPage); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(redisMem)/benchMembers, "redis-B/member")
	b.ReportMetric(float64(heap)/benchMembers, "node-B/member")
}

// redisBytes sums MEMORY USAGE over the presence keys of topic added by
// e, every element sampled.
func redisBytes(tb testing.TB, srv *redistest.Server, e *redis.Engine, topic string) int64 {
	tb.Helper()
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	keys, _ := redis.PresenceKeys(e, topic, redis.PresenceLife(e))
	var total int64
	for _, k := range keys {
		n, err := admin.MemoryUsage(context.Background(), k, 0).Result()
		if err != nil && !errors.Is(err, goredis.Nil) { // a key the topic does not have now
			tb.Fatalf("MEMORY USAGE %s: %v", k, err)
		}
		total += n
	}
	return total
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// BenchmarkAddPresence measures presence adds from concurrent callers of
// one node, each a new session of its own user on one of 100 topics: the
// script's round trips shared through the pipelines, and the join
// published to a node that subscribed every topic.
func BenchmarkAddPresence(b *testing.B) {
	srv := redistest.Start(b)
	prefix := uniquePrefix(b)
	e := newEngine(b, srv.URL(), redis.Config{Prefix: prefix})
	sub := newEngine(b, srv.URL(), redis.Config{Prefix: prefix})
	sub.Attach(handlerFunc(func(*broker.Message) {}))
	for i := range 100 {
		mustSubscribe(b, sub, fmt.Sprintf("room.%d", i))
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			p := broker.PresenceEntry{Topic: fmt.Sprintf("room.%d", i%100), Session: fmt.Sprint("s", i), User: fmt.Sprint("u", i), Info: benchInfo}
			if err := e.AddPresence(context.Background(), p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSubscribeWithPresence compares what a node's engine does for a
// subscribe to a topic it has no subscriber of yet, alone and followed by
// the presence add of the subscribing session: the target is a rate with
// presence of at least half the rate without. A subscribe to a topic the
// node already has costs the engine nothing, and with presence one add.
func BenchmarkSubscribeWithPresence(b *testing.B) {
	srv := redistest.Start(b)
	e := newEngine(b, srv.URL(), redis.Config{Prefix: uniquePrefix(b)})
	var n atomic.Int64
	for _, presence := range []bool{false, true} {
		b.Run(fmt.Sprintf("presence=%v", presence), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					topic := fmt.Sprintf("room.%d", i)
					if err := e.Subscribe(context.Background(), topic); err != nil {
						b.Error(err)
						return
					}
					if !presence {
						continue
					}
					p := broker.PresenceEntry{Topic: topic, Session: fmt.Sprint("s", i), User: fmt.Sprint("u", i), Info: benchInfo}
					if err := e.AddPresence(context.Background(), p); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
