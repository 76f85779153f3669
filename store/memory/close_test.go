package memory_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/internal/leaktest"
	"github.com/herald-broker/herald/store/memory"
)

// Close leaves the janitor stopped, also when its context has already
// ended.
func TestCloseLeavesNothingRunning(t *testing.T) {
	for name, ended := range map[string]bool{"in time": false, "context ended": true} {
		t.Run(name, func(t *testing.T) {
			check := leaktest.Check(t, "github.com/herald-broker/herald/store/memory")
			e := memory.New(memory.Config{Logger: zaptest.NewLogger(t)})
			ctx, cancel := context.WithCancel(t.Context())
			if ended {
				cancel()
			}
			defer cancel()
			if err := e.Close(ctx); err != nil && !(ended && errors.Is(err, context.Canceled)) {
				t.Errorf("Close: %v", err)
			}
			check()
		})
	}
}
