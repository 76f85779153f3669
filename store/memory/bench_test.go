package memory

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/herald-broker/herald/broker"
)

type discard struct{}

func (discard) HandleMessage(*broker.Message)        {}
func (discard) HandleGap(broker.Gap)                 {}
func (discard) HandlePresence(broker.PresenceChange) {}
func (discard) HandleControl(broker.Control)         {}

func benchEngine(b *testing.B, historySize int) *Engine {
	e := New(Config{HistorySize: historySize})
	e.Attach(discard{})
	b.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

var benchData = []byte(`{"text":"a message of about a hundred bytes, as a chat line would be","user":"someone"}`)

// BenchmarkPublish is a history append: seq, ring, delivery to a Handler
// that does nothing.
func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{0, 100} {
		b.Run(fmt.Sprintf("history=%d/one-topic", size), func(b *testing.B) {
			e := benchEngine(b, size)
			ctx := context.Background()
			r := broker.PublishRequest{Topic: "bench", Data: benchData, ID: "id"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Publish(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("history=%d/parallel-1000-topics", size), func(b *testing.B) {
			e := benchEngine(b, size)
			topics := make([]string, 1000)
			for i := range topics {
				topics[i] = fmt.Sprintf("bench.%d", i)
			}
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					r := broker.PublishRequest{Topic: topics[next.Add(1)%1000], Data: benchData, ID: "id"}
					if _, err := e.Publish(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkPublishEvicting publishes to ever new topics with the budget
// full, so every publish also drops the least recently published topic's
// history or state: the cost of the bound itself.
func BenchmarkPublishEvicting(b *testing.B) {
	for _, size := range []int{0, 100} {
		b.Run(fmt.Sprintf("history=%d", size), func(b *testing.B) {
			e := New(Config{HistorySize: size, MaxHistoryBytes: 4 << 20})
			e.Attach(discard{})
			b.Cleanup(func() { _ = e.Close(context.Background()) })
			topics := make([]string, 1<<16)
			for i := range topics {
				topics[i] = fmt.Sprintf("bench.%d", i)
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := broker.PublishRequest{Topic: topics[i&(len(topics)-1)], Data: benchData, ID: "id"}
				if _, err := e.Publish(ctx, r); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if s := e.Stats(); s.HistoryBytes > s.MaxHistoryBytes {
				b.Fatalf("%d bytes counted, budget %d", s.HistoryBytes, s.MaxHistoryBytes)
			}
		})
	}
}

// BenchmarkHistory reads from a full ring of 100.
func BenchmarkHistory(b *testing.B) {
	e := benchEngine(b, 100)
	ctx := context.Background()
	for range 250 {
		if _, err := e.Publish(ctx, broker.PublishRequest{Topic: "bench", Data: benchData, ID: "id"}); err != nil {
			b.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		since uint64
		limit int
	}{
		{"all-100", 0, 0},
		{"last-10", 240, 0},
		{"limit-10", 0, 10},
		{"none-new", 250, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.History(ctx, "bench", c.since, c.limit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("position", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Position(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
