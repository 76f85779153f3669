package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/leaktest"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// Close leaves none of the engine's goroutines (nor go-redis's) running
// and its clients closed, also when its context has already ended.
func TestCloseLeavesNothingRunning(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name     string
		cancel   bool
		upBefore bool // Redis answers while the engine runs
	}{
		{"in time", false, true},
		{"context already ended", true, true},
		{"context already ended, Redis gone", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.upBefore {
				srv.Stop()
				defer srv.Restart()
			}
			check := leaktest.Check(t, "github.com/herald-broker/herald/store/redis", "github.com/redis/go-redis/v9")
			e := startBusyEngine(t, srv.URL(), tc.upBefore)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if tc.cancel {
				cancel()
			}
			defer cancel()
			err := e.Close(ctx)
			check()
			if err != nil && !(tc.cancel && errors.Is(err, context.Canceled)) {
				t.Errorf("Close: %v", err)
			}
			if !redis.ClientsClosed(e) {
				t.Error("a Redis client is still open after Close")
			}
		})
	}
}

// startBusyEngine starts an engine with a subscription, so that its
// supervisor and receive loop both run, and (up) a message delivered.
func startBusyEngine(t *testing.T, url string, up bool) *redis.Engine {
	t.Helper()
	e, err := redis.New(context.Background(), redis.Config{
		URL: url, Prefix: uniquePrefix(t), Logger: zaptest.NewLogger(t),
		ProbeInterval: testProbe, CheckInterval: testCheck, Timeout: testTimeout, BackoffMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := newRecorder()
	e.Attach(rec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	if err := e.Subscribe(ctx, "close.t"); err != nil {
		if up {
			t.Fatalf("Subscribe: %v", err)
		}
		return e // Redis is gone: the engine keeps trying, which is what Close must stop
	}
	res, err := e.Publish(ctx, broker.PublishRequest{Topic: "close.t", Data: []byte(`1`), ID: "m1", Time: 1})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	rec.waitCovered(t, "close.t", res.Epoch, 1)
	return e
}
