package memory

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// benchInfo is a member's info as a token would carry it.
var benchInfo = []byte(`{"name":"Someone Example","avatar":"https://example.com/a/1234.png"}`)

// BenchmarkPresence reads a topic of 10,000 members, each with info, and
// reports what the topic's presence takes in the heap per member.
func BenchmarkPresence(b *testing.B) {
	const members = 10_000
	e := benchEngine(b, 0)
	ctx := context.Background()
	before := heapInUse()
	for i := range members {
		p := broker.PresenceEntry{Topic: "room.big", Session: fmt.Sprintf("5e55e55e-0000-4000-8000-%012d", i),
			User: fmt.Sprintf("user-%06d", i), Info: benchInfo}
		if err := e.AddPresence(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	heap := heapInUse() - before
	b.ReportAllocs()
	for b.Loop() {
		if st, err := e.Presence(ctx, "room.big", broker.PresencePage{MaxBytes: broker.DefaultMaxPresenceBytes}); err != nil || st.Users != members || len(st.Members) == 0 {
			b.Fatalf("Presence: %d users, %d members, %v", st.Users, len(st.Members), err)
		}
	}
	b.ReportMetric(float64(heap)/members, "heap-B/member")
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// BenchmarkAddPresence measures adds from concurrent callers, each a new
// session of its own user on one of 100 topics, with the join handed to
// a Handler that does nothing.
func BenchmarkAddPresence(b *testing.B) {
	e := benchEngine(b, 0)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			p := broker.PresenceEntry{Topic: fmt.Sprintf("room.%d", i%100), Session: fmt.Sprint("s", i), User: fmt.Sprint("u", i), Info: benchInfo}
			if err := e.AddPresence(ctx, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
