package memory_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/enginetest"
	"github.com/herald-broker/herald/store/memory"
)

func TestEngineContract(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cfg enginetest.Config) broker.Engine {
		return newEngine(t, memory.Config{HistorySize: cfg.HistorySize, HistoryTTL: cfg.HistoryTTL})
	})
}

func TestWebhookContract(t *testing.T) {
	enginetest.RunWebhooks(t, func(t *testing.T) enginetest.WebhookStore {
		return newEngine(t, memory.Config{})
	})
}

// TestPresenceContract runs the presence contract on a cluster of one
// node, which is all a memory engine can be.
func TestPresenceContract(t *testing.T) {
	enginetest.RunPresence(t, 1, func(t *testing.T, n int) []broker.Engine {
		return []broker.Engine{newEngine(t, memory.Config{})}
	})
}

// newEngine builds an engine with cfg, logging to t, closed when t ends.
func newEngine(t testing.TB, cfg memory.Config) *memory.Engine {
	cfg.Logger = zaptest.NewLogger(t)
	e := memory.New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}
