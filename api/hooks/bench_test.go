package hooks_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/herald-broker/herald/api/hooks"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/store/memory"
)

// Connections opened by many clients at once, with no hook and with a
// connect hook that answers in 1 ms (the target: at least half the rate
// without a hook). Reported as connections/s.
func BenchmarkConnect(b *testing.B) {
	for _, bc := range []struct {
		name string
		hook bool
	}{{"no-hook", false}, {"hook-1ms", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var h node.Hooks
			if bc.hook {
				srv := newBenchBackend(b, func(w http.ResponseWriter) {
					time.Sleep(time.Millisecond)
					w.Write([]byte(`{"user":"u","allow":{"subscribe":[">"]}}`))
				})
				h.ConnectURL = srv
			}
			n := startBenchNode(b, h)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.SetParallelism(16) // many browsers at once: the hook's wait overlaps
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c, err := benchDial(n)
					if err != nil {
						b.Error(err) // not Fatal: this is not the benchmark's goroutine
						return
					}
					c.Close()
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
		})
	}
}

// Webhook events through the memory engine's queue to a backend that
// takes every batch at once (the target: 5,000 events/s
// batched). Reported as events/s.
func BenchmarkWebhookThroughput(b *testing.B) {
	srv := newBenchBackend(b, func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) })
	eng := memory.New(memory.Config{})
	b.Cleanup(func() { eng.Close(context.Background()) })
	client := hooks.NewClient(hooks.Config{Secret: []byte(secret)})
	defer client.Close()
	wh, err := client.Webhooks(hooks.WebhookConfig{URL: srv, Node: "bench", Store: eng, MaxQueued: b.N + 1})
	if err != nil {
		b.Fatal(err)
	}
	defer wh.Close(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Sessions spread over the recorders; a wait every 1,000 stays
		// within their buffers.
		wh.ClientDisconnected(strconv.Itoa(i), "u", 1000)
		if i%1000 == 999 {
			waitDelivered(b, client, float64(i+1))
		}
	}
	waitDelivered(b, client, float64(b.N))
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
