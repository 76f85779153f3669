package redis_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// BenchmarkPublishParallel measures closed-loop publishers on two nodes
// sharing one Redis, each publisher waiting for its reply before its next
// publish, as HTTP publishers do. publishes/s is for the whole cluster.
func BenchmarkPublishParallel(b *testing.B) {
	srv := redistest.Start(b)
	prefix := uniquePrefix(b)
	nodes := []*redis.Engine{
		newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100}),
		newEngine(b, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100}),
	}
	for _, perProc := range []int{1, 2, 4, 16} {
		publishers := perProc * runtime.GOMAXPROCS(0)
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			var next atomic.Uint64
			trips0, calls0 := roundTrips(nodes)
			b.ReportAllocs()
			b.SetParallelism(perProc)
			b.RunParallel(func(pb *testing.PB) {
				n := next.Add(1)
				e := nodes[n%2]
				req := request(fmt.Sprintf("bench%d", n%8))
				for pb.Next() {
					if _, err := e.Publish(b.Context(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
			trips, calls := roundTrips(nodes)
			b.ReportMetric(float64(calls-calls0)/float64(trips-trips0), "calls/roundtrip")
		})
	}
}

// roundTrips sums the publish round trips of nodes and the calls in them.
func roundTrips(nodes []*redis.Engine) (trips, calls uint64) {
	for _, e := range nodes {
		t, c := redis.PublishRoundTrips(e)
		trips, calls = trips+t, calls+c
	}
	return trips, calls
}
