package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/memory"
)

// stuckReadyEngine is a memory engine whose readiness check hangs until
// its context ends.
type stuckReadyEngine struct {
	*memory.Engine
	started chan struct{} // closed when the check has begun
	ended   chan struct{} // closed when it has returned
}

func (e *stuckReadyEngine) Ready(ctx context.Context) error {
	close(e.started)
	defer close(e.ended)
	<-ctx.Done()
	return ctx.Err()
}

// A /readyz check outlives the request that started it, for the others
// that wait on it; Shutdown cancels it and waits for it, since the
// engine is closed right after the server and a check left running would
// call into it closed.
func TestShutdownEndsTheReadinessCheck(t *testing.T) {
	eng := &stuckReadyEngine{
		Engine:  memory.New(memory.Config{HistorySize: broker.DefaultHistorySize, HistoryTTL: broker.DefaultHistoryTTL}),
		started: make(chan struct{}), ended: make(chan struct{}),
	}
	n := startNode(t, api.Config{}, eng)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		if resp, err := client.Do(req); err == nil { // cancelled below: no answer expected
			resp.Body.Close()
		}
	}()
	<-eng.started
	cancel() // the request goes away; its check goes on for the others
	<-asked
	closeWithin(t, "server", n.srv.Shutdown)
	select {
	case <-eng.ended:
	default:
		t.Fatal("Shutdown returned while the readiness check it started still ran")
	}
}
