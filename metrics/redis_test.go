package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
	"go.uber.org/zap/zaptest"
)

func TestScrapeShowsRedisTrouble(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	eng, err := redis.New(ctx, redis.Config{
		URL: srv.URL(), NodeID: "n1", Prefix: "metrics-" + t.Name() + ":",
		Timeout: 500 * time.Millisecond, ProbeInterval: 50 * time.Millisecond,
		Logger: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Close(context.Background()); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	n := startNode(t, eng)
	if _, err := n.b.Publish(ctx, "orders", []byte(`1`), ""); err != nil {
		t.Fatalf("publish with Redis up: %v", err)
	}
	before := n.scrape(t)
	wantValues(t, before, map[string]float64{"herald_messages_published_total": 1})
	errs := value(t, before, "herald_redis_errors_total")
	reconnects := value(t, before, "herald_redis_reconnects_total")

	srv.Stop()
	if _, err := n.b.Publish(ctx, "orders", []byte(`2`), ""); err == nil {
		t.Fatal("publish with Redis down succeeded")
	}
	down := n.scrape(t)
	if got := value(t, down, "herald_redis_errors_total"); got <= errs {
		t.Fatalf("herald_redis_errors_total = %v after a failed publish, was %v", got, errs)
	}
	wantValues(t, down, map[string]float64{
		"herald_messages_published_total": 1, // a failed publish is not one
		"herald_publish_duration_seconds": 2, // but its wait is timed
	})

	// While Redis stays away the probe fails and the connection is replaced
	// (a restart quicker than a probe would be absorbed by the client's own
	// reconnect and count nothing, so Redis comes back only after).
	eventually(t, "the pub/sub connection replaced", func() bool {
		return value(t, n.scrape(t), "herald_redis_reconnects_total") > reconnects
	})
	srv.Restart()
	eventually(t, "publishes taken again", func() bool {
		_, err := n.b.Publish(ctx, "orders", []byte(`3`), "")
		return err == nil
	})
}
