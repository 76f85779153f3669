package redis

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
)

// A node whose Redis comes back replaces its pub/sub connection once
// Redis answers, not once its backoff ends, which here never comes: a
// Redis restarted, or a replica the sentinels now name, waited up to
// BackoffMax for nothing.
func TestRedisBackEndsTheBackoff(t *testing.T) {
	srv := redistest.Start(t)
	e := startEngine(t, Config{
		URL: srv.URL(), NodeID: "n1", HistorySize: 10,
		ProbeInterval: 100 * time.Millisecond, Timeout: time.Second,
		backoffEnd: func(time.Duration) <-chan time.Time { return nil },
	})
	got := make(messageSink, 16)
	e.Attach(got)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := e.Subscribe(ctx, "back"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for e.stats.reconnects.Load() < 1 { // the supervisor waits, for good but for Redis
		if ctx.Err() != nil {
			t.Fatal("the pub/sub connection was never replaced with Redis stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Restart()
	req := broker.PublishRequest{Topic: "back", Data: []byte(`1`), ID: "00000000-0000-4000-8000-000000000001"}
	for { // the first publishes may meet go-redis's dials still failing
		_, err := e.Publish(ctx, req)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no publish accepted once Redis was back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case m := <-got:
		if m.ID != req.ID {
			t.Fatalf("got %s, want %s", m.ID, req.ID)
		}
	case <-ctx.Done():
		t.Fatal("the node got nothing once Redis was back: its pub/sub connection was not replaced")
	}
}
