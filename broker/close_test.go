package broker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/leaktest"
)

// slowEngine's Subscribe returns a moment after its context ends, so that
// a Close that does not wait for the worker returns before it.
type slowEngine struct {
	*fakeEngine
	returned atomic.Bool
}

func (e *slowEngine) Subscribe(ctx context.Context, pattern string) error {
	<-ctx.Done()
	time.Sleep(20 * time.Millisecond)
	e.returned.Store(true)
	return Unavailable(ctx.Err())
}

// TestCloseWaitsWhenItsContextHasEnded: Close with a context that has
// already ended cancels the workers' engine calls and still returns only
// once they have returned, leaving no goroutine of the broker running.
func TestCloseWaitsWhenItsContextHasEnded(t *testing.T) {
	check := leaktest.Check(t, "github.com/herald-broker/herald/broker")
	e := &slowEngine{fakeEngine: newFakeEngine()}
	b := New(Config{NodeID: "n"}, e)
	c := connect(t, b, ClientInfo{})
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"t"}`))
	for b.Stats().Subscriptions == 0 { // the worker is in Subscribe
		time.Sleep(time.Millisecond)
	}
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Close(ended); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want context.Canceled", err)
	}
	if !e.returned.Load() {
		t.Error("Close returned before the worker's engine call did")
	}
	check()
}

// TestCloseStopsExpiryTimers: a token that expires after Close closes
// nothing, and no timer of the broker is left.
func TestCloseStopsExpiryTimers(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := connect(t, b, ClientInfo{Subject: "u", Expires: time.Now().Add(30 * time.Millisecond)})
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if code := c.code(); code != 0 {
		t.Errorf("closed with %d after Broker.Close", code)
	}
	b.expiries.mu.Lock()
	pending := len(b.expiries.heap)
	b.expiries.mu.Unlock()
	b.workers.mu.Lock()
	running := b.workers.running
	b.workers.mu.Unlock()
	if pending != 0 || running != 0 {
		t.Errorf("%d deadlines pending, %d running after Close", pending, running)
	}
	// A session refreshed after Close gets no deadline either.
	c.s.mu.Lock()
	c.s.setExpiry(time.Now().Add(time.Millisecond))
	c.s.mu.Unlock()
	if b.expiries.pending(c.s) {
		t.Error("a deadline was set after Close")
	}
}
