package redis

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/internal/redistest"
)

// A receive loop waiting after a failed receive ends when it is stopped,
// not when its wait would: while Redis is away the supervisor replaces
// the connection again and again, each time stopping the old loop and
// waiting for it, which had it wait out that loop's pause (up to
// BackoffMax) before every try. Here the pauses never end of their own.
func TestStoppingAReceiveLoopEndsItsWait(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	e, err := New(t.Context(), Config{
		URL: srv.URL(), NodeID: "n1", HistorySize: 10, Logger: zaptest.NewLogger(t),
		pause: func(time.Duration) <-chan time.Time { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	const replaced = 3
	for give := time.Now().Add(10 * time.Second); e.stats.reconnects.Load() < replaced; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(give) {
			t.Fatalf("the connection was replaced %d times with Redis away, then no more: want %d and on",
				e.stats.reconnects.Load(), replaced)
		}
	}
}
