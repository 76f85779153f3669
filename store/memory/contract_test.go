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
		e := memory.New(memory.Config{
			HistorySize: cfg.HistorySize,
			HistoryTTL:  cfg.HistoryTTL,
			Logger:      zaptest.NewLogger(t),
		})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := e.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return e
	})
}
