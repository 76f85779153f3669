package redis

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"go.uber.org/zap"
)

// BenchmarkResyncHeldTopics: one op is the check of n held topics against
// Redis that follows a reconnect or a failed webhook call, Redis right
// already (each topic's script finds it held). max-wait-ms is the longest
// a report of the webhooks (OccupyTopic, VacateTopic) would have waited
// for the gate meanwhile, probed every 200 µs: the recorder that made it
// holds up every report behind it, and its buffer fills.
func BenchmarkResyncHeldTopics(b *testing.B) {
	srv := redistest.Start(b)
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e := startEngine(b, Config{URL: srv.URL(), NodeID: "n1", Prefix: fmt.Sprintf("b%d:", time.Now().UnixNano()), PresenceLapse: time.Hour, Logger: zap.NewNop()})
			holdTopics(b, e, "n1", n)
			var longest atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				probeGate(e, stop, &longest)
			}()
			b.ResetTimer()
			for range b.N {
				e.held.troubles.Add(1)
				e.resyncHeldTopics(b.Context())
				if e.held.synced[1] != e.held.troubles.Load() {
					b.Fatal("the resync failed")
				}
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(longest.Load())/1e6, "max-wait-ms")
		})
	}
}

// holdTopics has node hold n topics of 40 bytes or so.
func holdTopics(tb testing.TB, e *Engine, node string, n int) []string {
	tb.Helper()
	topics := make([]string, n)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench.room.%06d.%s", i, "0123456789abcdef0123")
		occupied := fmt.Appendf(nil, `{"name":"topic_occupied","topic":%q}`, topics[i])
		vacated := fmt.Appendf(nil, `{"name":"topic_vacated","topic":%q}`, topics[i])
		if _, err := e.OccupyTopic(context.Background(), topics[i], node, occupied, vacated, 1_000_000, 1_000_000); err != nil {
			tb.Fatal(err)
		}
	}
	return topics
}

// probeGate takes the gate as a report does, every 200 µs until stop, and
// keeps in longest the longest it waited, in ns.
func probeGate(e *Engine, stop <-chan struct{}, longest *atomic.Int64) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Microsecond):
		}
		start := time.Now()
		e.held.gate.RLock()
		e.held.gate.RUnlock()
		if d := int64(time.Since(start)); d > longest.Load() {
			longest.Store(d)
		}
	}
}
