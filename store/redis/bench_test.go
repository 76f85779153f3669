package redis_test

import (
	"fmt"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// BenchmarkPublish measures publishes through Redis: the script's round
// trip, history append and PUBLISH, with one subscribed node receiving.
func BenchmarkPublish(b *testing.B) {
	srv := redistest.Start(b)
	prefix := uniquePrefix(b)
	pub := newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100})
	sub := newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100})
	sub.Attach(handlerFunc(func(*broker.Message) {}))
	mustSubscribe(b, sub, "bench")
	req := request("bench")
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pub.Publish(b.Context(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := pub.Publish(b.Context(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("roundtrip", func(b *testing.B) { // publish, then wait for the other node
		got := make(chan struct{}, 1)
		rt := newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100})
		rt.Attach(handlerFunc(func(*broker.Message) { got <- struct{}{} }))
		mustSubscribe(b, rt, "roundtrip")
		r := request("roundtrip")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pub.Publish(b.Context(), r); err != nil {
				b.Fatal(err)
			}
			<-got
		}
	})
}

type handlerFunc func(*broker.Message)

func (f handlerFunc) HandleMessage(m *broker.Message)      { f(m) }
func (f handlerFunc) HandleGap(broker.Gap)                 {}
func (f handlerFunc) HandlePresence(broker.PresenceChange) {}
func (f handlerFunc) HandleControl(broker.Control)         {}

// BenchmarkPublishWhileAnotherNodeHoldsPatterns measures publishes while
// other nodes hold many distinct patterns: Redis matches every PUBLISH
// against every pattern subscription on the server, so what those nodes
// hold must not reach it one by one.
func BenchmarkPublishWhileAnotherNodeHoldsPatterns(b *testing.B) {
	srv := redistest.Start(b)
	prefix := uniquePrefix(b)
	pub := newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100})
	for n := range 4 {
		other := newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100})
		other.Attach(handlerFunc(func(*broker.Message) {}))
		for i := range 1000 {
			mustSubscribe(b, other, fmt.Sprintf("n%dp%d.*", n, i))
		}
	}
	req := request("bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pub.Publish(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
