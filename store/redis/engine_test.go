package redis_test

import (
	"context"
	"fmt"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/enginetest"
	"github.com/herald-broker/herald/store/redis"
)

// testIntervals make probes and position checks frequent, so that outage
// and gap tests finish soon; they are not asserted.
const (
	testProbe   = 100 * time.Millisecond
	testCheck   = 300 * time.Millisecond
	testTimeout = time.Second
)

var prefixN atomic.Uint64

// uniquePrefix gives each test a key space of its own on a shared server.
func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("t%d-%d:", time.Now().UnixNano(), prefixN.Add(1))
}

// newEngine builds an engine on the Redis at url and closes it when the test ends.
func newEngine(t testing.TB, url string, cfg redis.Config) *redis.Engine {
	t.Helper()
	cfg.URL = url
	if cfg.Prefix == "" {
		cfg.Prefix = uniquePrefix(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = testProbe
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = testCheck
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = testTimeout
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 200 * time.Millisecond
	}
	e, err := redis.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			var stacks strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Errorf("Close: %v; goroutines:\n%s", err, stacks.String())
		}
	})
	return e
}

func TestContract(t *testing.T) {
	t.Parallel()
	runContract(t, redistest.Start(t).URL())
}

// runContract runs the engine contract against the Redis at url, each
// subtest with a key prefix of its own.
func runContract(t *testing.T, url string) {
	enginetest.Run(t, func(t *testing.T, cfg enginetest.Config) broker.Engine {
		e := newEngine(t, url, redis.Config{HistorySize: cfg.HistorySize, HistoryTTL: cfg.HistoryTTL})
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(redis.DeliveryState(e))
			}
		})
		return e
	})
	t.Run("Webhooks", func(t *testing.T) {
		enginetest.RunWebhooks(t, func(t *testing.T) enginetest.WebhookStore {
			return newEngine(t, url, redis.Config{NodeID: "a"})
		})
	})
	t.Run("Presence", func(t *testing.T) {
		enginetest.RunPresence(t, 3, func(t *testing.T, n int) []broker.Engine {
			cfg := redis.Config{Prefix: uniquePrefix(t)}
			out := make([]broker.Engine, n)
			for i := range out {
				cfg.NodeID = fmt.Sprintf("node%d", i)
				out[i] = newEngine(t, url, cfg)
			}
			return out
		})
	})
}
